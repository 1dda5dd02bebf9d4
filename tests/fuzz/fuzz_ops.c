/*
 * fuzz_ops.c — libFuzzer target: bytes decode into a sequence of map
 * operations, each checked against a reference model after every step.
 *
 * The first byte picks the map: its low bit the key kind (even: uint64_t
 * keys, odd: SM_STRING_KEYS), the whole byte the hash seed. Fixed seeds keep
 * layouts reproducible, and one bit for the kind lets the fuzzer cross from
 * one kind to the other with a single mutation.
 *
 * uint64_t maps: every operation of the public API is reachable: put,
 * insert, replace, cas, delete, get, get_many, get_or_insert, compute,
 * clear, reserve, a full iteration, sm_size, sm_stats. Keys come from a small
 * space (so hits, deletes of present keys and re-inserts are frequent) with
 * the edge keys 0 and UINT64_MAX in it.
 *
 * String maps: the same operations through their *_str twins. A key is
 * either a present one (hits), a recent one that may have been deleted since
 * (re-inserts), a recent one cut short, extended or with one byte changed
 * (keys that share all but their last bytes, or differ only in length), or a
 * fresh one: mostly 0..40 bytes from a four-letter alphabet holding NUL and
 * 0xff, sometimes up to 4 KiB. The empty key is often passed as NULL. The
 * reference is a sorted array compared by length then bytes: nothing like
 * the map, so a shared bug would be a coincidence.
 *
 * Both kinds also call the other kind's functions (B2) and pass bad
 * arguments (B1), which must answer SM_EINVAL and change nothing. Tiny
 * initial tables make grows, shrinks and rehashes happen within a few hundred
 * operations; every so often the structural invariants are recounted
 * (smi_check_invariants), and after each input the library must hold exactly
 * the bytes it held before (string key copies included: the byte count
 * covers them once a test has called a testing.h hook).
 *
 * Built two ways (tests/fuzz/CMakeLists.txt): with clang's -fsanitize=fuzzer
 * as a real fuzzer, and with any compiler as a replayer (replay_main.c) that
 * runs the checked-in corpus, so `make test` exercises the corpus everywhere.
 * In corpus/, seed-* start uint64_t sequences and str-* string ones: str-00
 * grows to about 200 keys, walks, shrinks and clears; str-01 puts keys of up
 * to 4 KiB and probes their near misses; str-02 near misses of short keys,
 * the bad calls and the empty key as NULL; str-03 is random bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steadymap.h"
#include "testing.h"

#define KEY_SPACE 96

typedef struct model {
    uint8_t present[KEY_SPACE];
    uint64_t value[KEY_SPACE];
} model;

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t next_byte(reader *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

static uint64_t next_value(reader *r)
{
    /* Small values mostly, so cas "expected" often matches; sometimes wide. */
    uint8_t b = next_byte(r);
    if (b < 200)
        return b;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | next_byte(r);
    return v;
}

static uint64_t key_of(unsigned index)
{
    if (index == 0)
        return 0;
    if (index == 1)
        return UINT64_MAX;
    return (uint64_t)index * 0x9e3779b97f4a7c15u;
}

static unsigned index_of(uint64_t key)
{
    for (unsigned i = 0; i < KEY_SPACE; i++)
        if (key_of(i) == key)
            return i;
    return KEY_SPACE;
}

static size_t model_size(const model *md)
{
    size_t n = 0;
    for (unsigned i = 0; i < KEY_SPACE; i++)
        n += md->present[i];
    return n;
}

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_ops: check failed at step %zu: %s\n", step, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

static void check_invariants(sm_map *m, size_t step, const char *when)
{
    char why[256];
    if (smi_check_invariants(m, why, sizeof why) != 0) {
        fprintf(stderr, "fuzz_ops: invariant broken %s step %zu: %s\n", when, step, why);
        abort();
    }
}

typedef struct compute_ctx {
    uint8_t action;
    uint64_t set_to;
} compute_ctx;

/* What both compute functions decide: keep, add set_to (or set it), delete. */
static sm_compute_action decide(uint8_t action, uint64_t set_to, int present, uint64_t *value)
{
    switch (action % 3) {
    case 0:
        return SM_COMPUTE_KEEP;
    case 1:
        *value = present ? *value + set_to : set_to;
        return SM_COMPUTE_SET;
    default:
        return SM_COMPUTE_DELETE;
    }
}

static sm_compute_action compute_fn(uint64_t key, int present, uint64_t *value, void *ctx)
{
    (void)key;
    const compute_ctx *c = ctx;
    return decide(c->action, c->set_to, present, value);
}

/* The function of a compute that must be refused before it runs. */
static sm_compute_action must_not_run(const void *key, size_t len, int present, uint64_t *value,
                                      void *ctx)
{
    (void)key, (void)len, (void)present, (void)value, (void)ctx;
    fprintf(stderr, "fuzz_ops: sm_compute_str ran its function on a uint64_t map\n");
    abort();
}

/*
 * A *_str function on a uint64_t map (B2): SM_EINVAL, out-values untouched.
 * The key bytes are valid, so only the kind can be what is refused.
 */
static int string_call_on_u64_map(sm_map *m, uint64_t v, uint64_t *out)
{
    const uint64_t k = v;
    switch (v % 10) {
    case 0:
        return sm_get_str(m, &k, sizeof k, out);
    case 1:
        return sm_put_str(m, &k, sizeof k, v, out);
    case 2:
        return sm_insert_str(m, &k, sizeof k, v, out);
    case 3:
        return sm_replace_str(m, &k, sizeof k, v, out);
    case 4:
        return sm_cas_str(m, &k, sizeof k, 0, v, out);
    case 5:
        return sm_delete_str(m, &k, sizeof k, out);
    case 6:
        return sm_get_or_insert_str(m, &k, sizeof k, v, out);
    case 7: {
        const void *keys[1] = {&k};
        size_t lens[1] = {sizeof k};
        return sm_get_many_str(m, keys, lens, 1, out, NULL);
    }
    case 8: {
        sm_iter *it = sm_iter_new(m);
        if (!it)
            return SM_ENOMEM;
        int rc = sm_iter_next_str(it, NULL, NULL, out);
        sm_iter_free(it);
        return rc;
    }
    default:
        return sm_compute_str(m, &k, sizeof k, must_not_run, NULL, out);
    }
}

static void run_u64(reader *r, uint64_t seed)
{
    sm_options o = SM_OPTIONS_INIT;
    o.seed = seed;
    sm_map *m = sm_new(&o);
    if (!m)
        return;
    model md;
    memset(&md, 0, sizeof md);
    size_t step = 0;
    while (r->n > 0) {
        step++;
        uint8_t op = next_byte(r);
        unsigned ki = next_byte(r) % KEY_SPACE;
        uint64_t k = key_of(ki);
        uint64_t v = next_value(r);
        uint64_t out = 0xabababab;
        int rc;
        switch (op % 14) {
        case 0:
        case 1:
            rc = sm_put(m, k, v, &out);
            CHECK(rc == (md.present[ki] ? SM_REPLACED : SM_OK));
            if (md.present[ki])
                CHECK(out == md.value[ki]);
            md.present[ki] = 1;
            md.value[ki] = v;
            break;
        case 2:
            rc = sm_insert(m, k, v, &out);
            CHECK(rc == (md.present[ki] ? SM_EXISTS : SM_OK));
            if (md.present[ki]) {
                CHECK(out == md.value[ki]);
            } else {
                md.present[ki] = 1;
                md.value[ki] = v;
            }
            break;
        case 3:
            rc = sm_replace(m, k, v, &out);
            CHECK(rc == (md.present[ki] ? SM_OK : SM_NOT_FOUND));
            if (md.present[ki]) {
                CHECK(out == md.value[ki]);
                md.value[ki] = v;
            }
            break;
        case 4: {
            uint64_t expected = (next_byte(r) & 1) && md.present[ki] ? md.value[ki] : v;
            rc = sm_cas(m, k, expected, v + 1, &out);
            if (!md.present[ki]) {
                CHECK(rc == SM_NOT_FOUND);
            } else if (md.value[ki] == expected) {
                CHECK(rc == SM_OK && out == expected);
                md.value[ki] = v + 1;
            } else {
                CHECK(rc == SM_MISMATCH && out == md.value[ki]);
            }
            break;
        }
        case 5:
        case 6:
            rc = sm_delete(m, k, &out);
            CHECK(rc == (md.present[ki] ? SM_OK : SM_NOT_FOUND));
            if (md.present[ki])
                CHECK(out == md.value[ki]);
            md.present[ki] = 0;
            break;
        case 7:
            rc = sm_get(m, k, &out);
            CHECK(rc == (md.present[ki] ? SM_OK : SM_NOT_FOUND));
            if (md.present[ki])
                CHECK(out == md.value[ki]);
            break;
        case 8: {
            uint64_t keys[24], vals[24];
            uint8_t found[24];
            unsigned n = next_byte(r) % 24;
            for (unsigned i = 0; i < n; i++)
                keys[i] = key_of(next_byte(r) % KEY_SPACE);
            rc = sm_get_many(m, keys, n, vals, found);
            int hits = 0;
            for (unsigned i = 0; i < n; i++) {
                unsigned j = index_of(keys[i]);
                CHECK(found[i] == md.present[j]);
                if (found[i])
                    CHECK(vals[i] == md.value[j]);
                hits += found[i];
            }
            CHECK(rc == hits);
            break;
        }
        case 9:
            rc = sm_get_or_insert(m, k, v, &out);
            CHECK(rc == (md.present[ki] ? SM_EXISTS : SM_OK));
            if (!md.present[ki]) {
                md.present[ki] = 1;
                md.value[ki] = v;
            }
            CHECK(out == md.value[ki]);
            break;
        case 10: {
            compute_ctx c = {next_byte(r), v};
            rc = sm_compute(m, k, compute_fn, &c, &out);
            switch (c.action % 3) {
            case 1:
                md.value[ki] = md.present[ki] ? md.value[ki] + v : v;
                md.present[ki] = 1;
                break;
            case 2:
                md.present[ki] = 0;
                break;
            default:
                break;
            }
            CHECK(rc == (md.present[ki] ? SM_OK : SM_NOT_FOUND));
            if (md.present[ki])
                CHECK(out == md.value[ki]);
            break;
        }
        case 11: {
            uint8_t seen[KEY_SPACE] = {0};
            sm_iter *it = sm_iter_new(m);
            CHECK(it != NULL);
            /* B2: the string walk is refused and leaves the walk untouched. */
            CHECK(sm_iter_next_str(it, NULL, NULL, NULL) == SM_EINVAL);
            uint64_t ik, iv;
            while ((rc = sm_iter_next(it, &ik, &iv)) == SM_OK) {
                unsigned j = index_of(ik);
                CHECK(j < KEY_SPACE && md.present[j] && !seen[j] && iv == md.value[j]);
                seen[j] = 1;
            }
            CHECK(rc == SM_NOT_FOUND);
            sm_iter_free(it);
            for (unsigned j = 0; j < KEY_SPACE; j++)
                CHECK(seen[j] == md.present[j]);
            break;
        }
        case 12:
            if (v % 16 == 0) {
                rc = sm_clear(m);
                CHECK(rc == (int)model_size(&md));
                memset(&md, 0, sizeof md);
            } else {
                CHECK(sm_reserve(m, v % 512) == SM_OK);
            }
            break;
        default: {
            CHECK(string_call_on_u64_map(m, v, &out) == SM_EINVAL && out == 0xabababab);
            CHECK(sm_size(m) == model_size(&md));
            sm_stats_info st = {.size = sizeof st};
            CHECK(sm_stats(m, &st) == SM_OK && st.entries == model_size(&md));
            break;
        }
        }
        if (step % 16 == 0)
            check_invariants(m, step, "at");
    }
    check_invariants(m, step, "after the last");
    sm_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* String keys                                                              */

#define SKEY_SHORT_MAX 40
#define SKEY_MAX (SKEY_SHORT_MAX + 1 + 255 * 16)  /* longest decoded key: 4121 bytes */
#define HISTORY 8
#define MANY_MAX 12

/* The reference: entries sorted by (length, bytes), each owning its bytes. */
typedef struct sentry {
    unsigned char *bytes;
    size_t len;
    uint64_t value;
} sentry;

typedef struct smodel {
    sentry *e;
    size_t n;
    size_t cap;
} smodel;

typedef struct strfuzz {
    smodel md;
    unsigned char hist[HISTORY][SKEY_MAX];  /* the last keys decoded, present or not */
    size_t hist_len[HISTORY];
    unsigned hist_count;
    unsigned char keys[MANY_MAX][SKEY_MAX]; /* [0]: the step's key; all: sm_get_many_str */
} strfuzz;

static void out_of_memory(void)
{
    fprintf(stderr, "fuzz_ops: the reference ran out of memory\n");
    abort();
}

static int key_cmp(const unsigned char *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return alen ? memcmp(a, b, alen) : 0;
}

/* The position of key in the reference, or where it would go. */
static size_t smodel_find(const smodel *md, const void *key, size_t len, int *hit)
{
    size_t lo = 0, hi = md->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(md->e[mid].bytes, md->e[mid].len, key, len);
        if (c == 0) {
            *hit = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *hit = 0;
    return lo;
}

static void smodel_set(smodel *md, const void *key, size_t len, uint64_t value)
{
    int hit;
    size_t at = smodel_find(md, key, len, &hit);
    if (hit) {
        md->e[at].value = value;
        return;
    }
    if (md->n == md->cap) {
        size_t cap = md->cap ? md->cap * 2 : 64;
        sentry *e = realloc(md->e, cap * sizeof *e);
        if (!e)
            out_of_memory();
        md->e = e;
        md->cap = cap;
    }
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        out_of_memory();
    if (len)
        memcpy(copy, key, len);
    memmove(&md->e[at + 1], &md->e[at], (md->n - at) * sizeof *md->e);
    md->e[at] = (sentry){copy, len, value};
    md->n++;
}

static void smodel_delete(smodel *md, const void *key, size_t len)
{
    int hit;
    size_t at = smodel_find(md, key, len, &hit);
    if (!hit)
        return;
    free(md->e[at].bytes);
    memmove(&md->e[at], &md->e[at + 1], (md->n - at - 1) * sizeof *md->e);
    md->n--;
}

static void smodel_clear(smodel *md)
{
    for (size_t i = 0; i < md->n; i++)
        free(md->e[i].bytes);
    md->n = 0;
}

/* NUL and 0xff among the letters: no code path may treat keys as C strings
 * or compare bytes as signed. */
static const unsigned char alphabet[4] = {'a', 'b', 0x00, 0xff};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Turn a recent key into a near miss of it: a prefix, an extension, or the
 * same length with its first or last byte changed. */
static size_t mutate(unsigned char *key, size_t len, uint8_t how)
{
    size_t by = 1 + (size_t)(how >> 2) % 3;
    unsigned char letter = alphabet[(how >> 4) & 3];
    switch (how & 3) {
    case 0:
        return len > by ? len - by : 0;
    case 1:
        for (size_t i = 0; i < by && len < SKEY_MAX; i++)
            key[len++] = letter;
        return len;
    case 2:
        if (len)
            key[len - 1] ^= (unsigned char)(1 + (how >> 4));
        return len;
    default:
        if (len)
            key[0] = letter;
        return len;
    }
}

/* Decode one key into out (SKEY_MAX bytes); returns its length. */
static size_t decode_key(reader *r, strfuzz *s, unsigned char *out)
{
    uint8_t mode = next_byte(r);
    size_t len;
    if (mode < 96 && s->md.n > 0) {
        /* A present key: hits, replaces, deletes of live entries. */
        const sentry *e = &s->md.e[(size_t)next_byte(r) * s->md.n / 256];
        len = e->len;
        memcpy(out, e->bytes, len);
    } else if (mode < 160 && s->hist_count > 0) {
        /* A recent key, perhaps deleted since (re-inserts), or a near miss. */
        unsigned h = mode % (s->hist_count < HISTORY ? s->hist_count : HISTORY);
        len = s->hist_len[h];
        memcpy(out, s->hist[h], len);
        if (mode >= 128)
            len = mutate(out, len, next_byte(r));
    } else {
        /* A fresh key: mostly short, so equal lengths and shared prefixes are
         * common; now and then long, to cross XXH3's length classes. */
        uint8_t l = next_byte(r);
        len = l < 96    ? l % 5
              : l < 248 ? l % (SKEY_SHORT_MAX + 1)
                        : SKEY_SHORT_MAX + 1 + (size_t)next_byte(r) * 16;
        uint64_t state = (uint64_t)next_byte(r) << 8 | next_byte(r);
        uint64_t bits = 0;
        for (size_t i = 0; i < len; i++) {
            if (i % 32 == 0)
                bits = splitmix(&state);
            out[i] = alphabet[(bits >> (2 * (i % 32))) & 3];
        }
    }
    unsigned slot = s->hist_count++ % HISTORY;
    memcpy(s->hist[slot], out, len);
    s->hist_len[slot] = len;
    return len;
}

/* The empty key may be passed as NULL (steadymap.h, "String keys"). */
static const void *key_arg(const unsigned char *buf, size_t len, int null_if_empty)
{
    return len == 0 && null_if_empty ? NULL : buf;
}

/* What compute's function must be shown, what it decides, and whether it
 * was shown anything else. */
typedef struct str_compute_ctx {
    uint8_t action;
    uint64_t set_to;
    const unsigned char *key;
    size_t len;
    int present;
    uint64_t value;
    int wrong;
} str_compute_ctx;

static sm_compute_action compute_str_fn(const void *key, size_t len, int present, uint64_t *value,
                                        void *ctx)
{
    str_compute_ctx *c = ctx;
    if (key_cmp(c->key, c->len, key, len) != 0 || present != c->present ||
        *value != (present ? c->value : 0))
        c->wrong = 1;
    return decide(c->action, c->set_to, present, value);
}

/*
 * A uint64_t function on a string map (B2), or a *_str call with a bad
 * argument (B1): SM_EINVAL, out-values untouched. key is a valid buffer of
 * SKEY_MAX bytes; the over-long length must be refused before it is read.
 */
static int bad_call_on_string_map(sm_map *m, uint64_t v, const unsigned char *key, uint64_t *out)
{
    compute_ctx c = {1, v};
    switch (v % 14) {
    case 0:
        return sm_get(m, v, out);
    case 1:
        return sm_put(m, v, v, out);
    case 2:
        return sm_insert(m, v, v, out);
    case 3:
        return sm_replace(m, v, v, out);
    case 4:
        return sm_cas(m, v, v, v + 1, out);
    case 5:
        return sm_delete(m, v, out);
    case 6:
        return sm_get_or_insert(m, v, v, out);
    case 7:
        return sm_compute(m, v, compute_fn, &c, out);
    case 8:
        return sm_get_many(m, &v, 1, out, NULL);
    case 9: {
        sm_iter *it = sm_iter_new(m);
        if (!it)
            return SM_ENOMEM;
        int rc = sm_iter_next(it, NULL, out);
        sm_iter_free(it);
        return rc;
    }
    case 10:
        return sm_put_str(m, NULL, 1 + v % SKEY_MAX, v, out);
    case 11:
        return sm_insert_str(m, key, SM_STR_KEY_MAX + 1 + v % 2, v, out);
    case 12:
        return sm_compute_str(m, key, v % SKEY_MAX, NULL, NULL, out);
    default: {
        const void *keys[2] = {key, NULL};
        size_t lens[2] = {0, 1 + v % SKEY_MAX};
        return sm_get_many_str(m, keys, lens, 2, out, NULL);
    }
    }
}

static void run_str(reader *r, uint64_t seed)
{
    sm_options o = SM_OPTIONS_INIT;
    o.seed = seed;
    o.flags = SM_STRING_KEYS;
    sm_map *m = sm_new(&o);
    if (!m)
        return;
    strfuzz *s = calloc(1, sizeof *s);
    if (!s)
        out_of_memory();
    smodel *md = &s->md;
    size_t step = 0;
    while (r->n > 0) {
        step++;
        uint8_t op = next_byte(r);
        unsigned char *kb = s->keys[0];
        size_t kl = decode_key(r, s, kb);
        const void *k = key_arg(kb, kl, op & 0x80);
        uint64_t v = next_value(r);
        int hit;
        size_t at = smodel_find(md, kb, kl, &hit);
        uint64_t had = hit ? md->e[at].value : 0;
        uint64_t out = 0xabababab;
        int rc;
        switch (op % 16) {
        case 0:
        case 1:
            rc = sm_put_str(m, k, kl, v, &out);
            CHECK(rc == (hit ? SM_REPLACED : SM_OK));
            if (hit)
                CHECK(out == had);
            smodel_set(md, kb, kl, v);
            break;
        case 2:
            rc = sm_insert_str(m, k, kl, v, &out);
            CHECK(rc == (hit ? SM_EXISTS : SM_OK));
            if (hit)
                CHECK(out == had);
            else
                smodel_set(md, kb, kl, v);
            break;
        case 3:
            rc = sm_replace_str(m, k, kl, v, &out);
            CHECK(rc == (hit ? SM_OK : SM_NOT_FOUND));
            if (hit) {
                CHECK(out == had);
                smodel_set(md, kb, kl, v);
            }
            break;
        case 4: {
            uint64_t expected = (next_byte(r) & 1) && hit ? had : v;
            rc = sm_cas_str(m, k, kl, expected, v + 1, &out);
            if (!hit) {
                CHECK(rc == SM_NOT_FOUND);
            } else if (had == expected) {
                CHECK(rc == SM_OK && out == expected);
                smodel_set(md, kb, kl, v + 1);
            } else {
                CHECK(rc == SM_MISMATCH && out == had);
            }
            break;
        }
        case 5:
        case 6:
            rc = sm_delete_str(m, k, kl, &out);
            CHECK(rc == (hit ? SM_OK : SM_NOT_FOUND));
            if (hit)
                CHECK(out == had);
            smodel_delete(md, kb, kl);
            break;
        case 7:
            rc = sm_get_str(m, k, kl, &out);
            CHECK(rc == (hit ? SM_OK : SM_NOT_FOUND));
            if (hit)
                CHECK(out == had);
            break;
        case 8: {
            /* The step's key first, then up to MANY_MAX - 1 more. */
            const void *keys[MANY_MAX];
            size_t lens[MANY_MAX];
            uint64_t vals[MANY_MAX];
            uint8_t found[MANY_MAX];
            unsigned n = 1 + next_byte(r) % MANY_MAX;
            keys[0] = k;
            lens[0] = kl;
            for (unsigned i = 1; i < n; i++) {
                lens[i] = decode_key(r, s, s->keys[i]);
                keys[i] = key_arg(s->keys[i], lens[i], i & 1);
            }
            for (unsigned i = 0; i < n; i++)
                vals[i] = 0xabababab;
            rc = sm_get_many_str(m, keys, lens, n, vals, found);
            int hits = 0;
            for (unsigned i = 0; i < n; i++) {
                int h;
                size_t j = smodel_find(md, s->keys[i], lens[i], &h);
                CHECK(found[i] == h);
                /* "untouched otherwise" */
                CHECK(vals[i] == (h ? md->e[j].value : 0xabababab));
                hits += h;
            }
            CHECK(rc == hits);
            break;
        }
        case 9:
            rc = sm_get_or_insert_str(m, k, kl, v, &out);
            CHECK(rc == (hit ? SM_EXISTS : SM_OK));
            CHECK(out == (hit ? had : v));
            if (!hit)
                smodel_set(md, kb, kl, v);
            break;
        case 10: {
            str_compute_ctx c = {next_byte(r), v, kb, kl, hit, had, 0};
            rc = sm_compute_str(m, k, kl, compute_str_fn, &c, &out);
            CHECK(!c.wrong);
            switch (c.action % 3) {
            case 1:
                smodel_set(md, kb, kl, hit ? had + v : v);
                break;
            case 2:
                smodel_delete(md, kb, kl);
                break;
            default:
                break;
            }
            int after;
            size_t j = smodel_find(md, kb, kl, &after);
            CHECK(rc == (after ? SM_OK : SM_NOT_FOUND));
            if (after)
                CHECK(out == md->e[j].value);
            break;
        }
        case 11: {
            /* Every key exactly once, with its bytes and value (G1, G2). */
            uint8_t *seen = calloc(md->n + 1, 1);
            if (!seen)
                out_of_memory();
            sm_iter *it = sm_iter_new(m);
            CHECK(it != NULL);
            const void *ik;
            size_t il;
            uint64_t iv;
            size_t count = 0;
            while ((rc = sm_iter_next_str(it, &ik, &il, &iv)) == SM_OK) {
                int h;
                size_t j = smodel_find(md, ik, il, &h);
                CHECK(h && !seen[j] && iv == md->e[j].value);
                seen[j] = 1;
                count++;
            }
            CHECK(rc == SM_NOT_FOUND && count == md->n);
            sm_iter_free(it);
            free(seen);
            break;
        }
        case 12:
            if (v % 16 == 0) {
                rc = sm_clear(m);
                CHECK(rc == (int)md->n);
                smodel_clear(md);
            } else {
                CHECK(sm_reserve(m, v % 512) == SM_OK);
            }
            break;
        case 13:
            CHECK(bad_call_on_string_map(m, v, kb, &out) == SM_EINVAL && out == 0xabababab);
            CHECK(sm_size(m) == md->n);
            break;
        default: {
            CHECK(sm_size(m) == md->n);
            sm_stats_info st = {.size = sizeof st};
            CHECK(sm_stats(m, &st) == SM_OK && st.entries == md->n);
            break;
        }
        }
        /* O2: the caller may reuse its buffer as soon as the call returns. */
        memset(kb, 0x5a, kl);
        if (step % 16 == 0)
            check_invariants(m, step, "at");
    }
    check_invariants(m, step, "after the last");
    sm_destroy(m);
    smodel_clear(md);
    free(md->e);
    free(s);
}

/* The calling thread's per-thread record lives as long as the thread; make
 * it before the first byte count, so that every input starts from the same
 * count. */
static void warm_up(void)
{
    sm_map *m = sm_new(NULL);
    if (m)
        sm_get(m, 0, NULL);
    sm_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int warm;
    if (!warm) {
        warm_up();
        warm = 1;
    }
    uint64_t bytes_before = smi_bytes_live();
    reader r = {data, size};
    uint8_t first = next_byte(&r);
    uint64_t seed = (uint64_t)first + 1;
    if (first & 1)
        run_str(&r, seed);
    else
        run_u64(&r, seed);
    uint64_t bytes_after = smi_bytes_live();
    if (bytes_after != bytes_before) {
        fprintf(stderr, "fuzz_ops: the library holds %lld bytes more after sm_destroy\n",
                (long long)(bytes_after - bytes_before));
        abort();
    }
    return 0;
}
