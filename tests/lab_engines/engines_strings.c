/*
 * engines_strings.c — every engine with byte-string keys (create_str), the
 * way engines_model and engines_concurrent test the u64 keys: first against
 * a reference on one random sequence of puts, gets and deletes, then, unless
 * the engine is single-threaded, under four writer threads and two readers.
 *
 * The keys are what string maps get wrong: the empty key, keys of one to
 * seven bytes that differ only in length ("\0" and "\0\0" are two keys),
 * binary keys of 8 to 200 bytes with NULs anywhere, the harness's own
 * lab_key_string keys (a long shared prefix, a distinct tail) and a few keys
 * of several KiB. Every call gets its key in one scratch buffer that is
 * overwritten as soon as the call returns, as the harness reuses its own,
 * so an engine that keeps the caller's pointer instead of a copy fails.
 * Lookups of keys one byte longer than a stored key must miss.
 *
 * Under threads each writer owns a range of keys, so it knows what its own
 * gets must return (a lost insert or a stale value fails at once), and
 * every value carries its key's tag and a per-key write number that the
 * owner publishes before the put: a reader that finds a value of another
 * key, or one with a number no put has yet written, has seen something
 * never written.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "engine_test.h"
#include "harness/keys.h"

/* ---- the keys -------------------------------------------------------------- */

enum {
    SHORT_LENGTHS = 7,  /* keys of 1..7 bytes */
    SHORT_PER_LENGTH = 8,
    FIRST_LONG = 1 + SHORT_LENGTHS * SHORT_PER_LENGTH,
    LONG_KEYS = 6,
    FIRST_MIXED = FIRST_LONG + LONG_KEYS,
    MAX_KEY = 4096,
    NEAR_MISS_BYTE = 0xa5,
};

static const unsigned long_lengths[LONG_KEYS] = { 256, 511, 1024, 2048, 3001, MAX_KEY };
static const unsigned lab_lengths[] = { 16, 24, 48, 64, 100, 200 };

typedef struct keyset {
    size_t n;
    unsigned char **bytes;
    size_t *len;
} keyset;

static void put_le(unsigned char *out, uint64_t x, unsigned bytes)
{
    for (unsigned b = 0; b < bytes; b++)
        out[b] = (unsigned char)(x >> (8 * b));
}

/*
 * Key i, distinct from every other one: 0 is empty; then 8 keys of each
 * length 1..7 whose bytes are a counter 0..7 (all-NUL keys of every length
 * among them); then the long keys; then, for the rest, every third a
 * lab_key_string key (never a NUL byte) and the others binary keys of 8..200
 * bytes, about one byte in four NUL, ending in i as 8 little-endian bytes.
 * Long and binary keys end in i, so they differ from each other and, since
 * i < 2^56 leaves their last byte NUL, from every lab_key_string key.
 */
static size_t make_key(uint64_t i, uint64_t seed, unsigned char *out)
{
    uint64_t rng = seed ^ (i * 0x2545f4914f6cdd1du);
    if (i == 0)
        return 0;
    if (i < FIRST_LONG) {
        unsigned len = 1 + (unsigned)(i - 1) / SHORT_PER_LENGTH;
        put_le(out, (i - 1) % SHORT_PER_LENGTH, len);
        return len;
    }
    size_t len;
    if (i < FIRST_MIXED) {
        len = long_lengths[i - FIRST_LONG];
    } else if (i % 3 == 0) {
        len = lab_lengths[et_next(&rng) % (sizeof lab_lengths / sizeof lab_lengths[0])];
        lab_key_string(lab_key_of(i, seed), (char *)out, (unsigned)len);
        return len;
    } else {
        len = 8 + et_next(&rng) % 193;
    }
    for (size_t b = 0; b + 8 < len; b++) {
        uint64_t r = et_next(&rng);
        out[b] = r % 4 == 0 ? 0 : (unsigned char)(r >> 8);
    }
    put_le(out + len - 8, i, 8);
    return len;
}

static keyset keys_make(size_t n, uint64_t seed)
{
    keyset ks = { n, calloc(n, sizeof(unsigned char *)), calloc(n, sizeof(size_t)) };
    assert_non_null(ks.bytes);
    assert_non_null(ks.len);
    unsigned char buf[MAX_KEY];
    for (size_t i = 0; i < n; i++) {
        ks.len[i] = make_key(i, seed, buf);
        ks.bytes[i] = malloc(ks.len[i] + 1);
        assert_non_null(ks.bytes[i]);
        memcpy(ks.bytes[i], buf, ks.len[i]);
    }
    return ks;
}

static void keys_free(keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        free(ks->bytes[i]);
    free(ks->bytes);
    free(ks->len);
}

/* A caller's reusable key buffer: loaded before each call, spoiled after. */
typedef struct scratch {
    unsigned char bytes[MAX_KEY + 1];
} scratch;

static const void *load(scratch *s, const keyset *ks, uint64_t i)
{
    memcpy(s->bytes, ks->bytes[i], ks->len[i]);
    return s->bytes;
}

static void spoil(scratch *s, size_t len)
{
    memset(s->bytes, 0x5a, len + 1);
}

static int get_key(const lab_engine *e, void *map, scratch *s, const keyset *ks, uint64_t i,
                   uint64_t *value)
{
    int rc = e->get_str(map, load(s, ks, i), ks->len[i], value);
    spoil(s, ks->len[i]);
    return rc;
}

static int put_key(const lab_engine *e, void *map, scratch *s, const keyset *ks, uint64_t i,
                   uint64_t value)
{
    int rc = e->put_str(map, load(s, ks, i), ks->len[i], value);
    spoil(s, ks->len[i]);
    return rc;
}

static int del_key(const lab_engine *e, void *map, scratch *s, const keyset *ks, uint64_t i)
{
    int rc = e->del_str(map, load(s, ks, i), ks->len[i]);
    spoil(s, ks->len[i]);
    return rc;
}

/* Key i and one more byte: never a key of the set (make_key's endings). */
static int get_near_miss(const lab_engine *e, void *map, scratch *s, const keyset *ks, uint64_t i)
{
    uint64_t v;
    load(s, ks, i);
    s->bytes[ks->len[i]] = NEAR_MISS_BYTE;
    int rc = e->get_str(map, s->bytes, ks->len[i] + 1, &v);
    spoil(s, ks->len[i]);
    return rc;
}

static int has_strings(const lab_engine *e)
{
    return !e->out_of_process && e->create_str != NULL;
}

/* ---- against a reference ----------------------------------------------------- */

/* Put-heavy, then delete-heavy, then even, as engines_model does. */
static unsigned pick_op(uint64_t step, uint64_t steps, uint64_t r)
{
    unsigned pct = (unsigned)(r % 100);
    unsigned put = step < steps / 2 ? 65 : step < steps * 3 / 4 ? 20 : 40;
    unsigned del = step < steps / 2 ? 10 : step < steps * 3 / 4 ? 55 : 30;
    return pct < put ? 0 : pct < put + del ? 1 : 2;
}

static void check_all(const lab_engine *e, void *map, scratch *s, const keyset *ks,
                      const uint8_t *present, const uint64_t *value)
{
    for (uint64_t i = 0; i < ks->n; i++) {
        uint64_t v = 0;
        assert_int_equal(get_key(e, map, s, ks, i, &v), present[i]);
        if (present[i])
            assert_true(v == value[i]);
        assert_int_equal(get_near_miss(e, map, s, ks, i), 0);
    }
}

static void run_model(const lab_engine *e, uint64_t seed)
{
    const uint64_t n = ET_SCALE(8000, 1500);
    const uint64_t steps = ET_SCALE(200000, 30000);
    keyset ks = keys_make(n, seed);
    uint8_t *present = calloc(n, 1);
    uint64_t *value = calloc(n, sizeof(uint64_t));
    scratch *s = malloc(sizeof *s);
    assert_non_null(present);
    assert_non_null(value);
    assert_non_null(s);
    uint64_t count = 0, rng = seed;

    void *map = e->create_str(0);
    assert_non_null(map);
    if (e->thread_attach)
        e->thread_attach(map);
    check_all(e, map, s, &ks, present, value);

    for (uint64_t step = 0; step < steps; step++) {
        uint64_t r = et_next(&rng);
        uint64_t i = et_next(&rng) % n;
        uint64_t v = 0;
        switch (pick_op(step, steps, r)) {
        case 0:
            v = et_next(&rng);
            assert_int_equal(put_key(e, map, s, &ks, i, v), 0);
            count += !present[i];
            present[i] = 1;
            value[i] = v;
            break;
        case 1:
            assert_int_equal(del_key(e, map, s, &ks, i), present[i]);
            count -= present[i];
            present[i] = 0;
            break;
        default:
            assert_int_equal(get_key(e, map, s, &ks, i, &v), present[i]);
            if (present[i])
                assert_true(v == value[i]);
            break;
        }
        if (e->size && step % (steps / 8) == steps / 8 - 1)
            assert_int_equal(e->size(map), count);
    }
    check_all(e, map, s, &ks, present, value);

    if (e->size)
        assert_int_equal(e->size(map), count);
    /* As engines_model asks: at least a key's reference and a value per
     * entry. Not the key bytes too: steadymap's bytes_held counts its
     * tables only. */
    if (e->bytes)
        assert_true(e->bytes(map) >= count * 16);

    if (e->thread_detach)
        e->thread_detach(map);
    e->destroy(map);
    keys_free(&ks);
    free(present);
    free(value);
    free(s);
}

static void test_every_string_engine_matches_reference(void **state)
{
    (void)state;
    uint64_t seed = et_seed("engines_strings model");
    size_t count, tested = 0;
    const lab_engine *const *all = lab_engines_all(&count);
    for (size_t k = 0; k < count; k++) {
        if (!et_wanted(all[k]->name) || !has_strings(all[k]))
            continue;
        assert_non_null(all[k]->get_str);
        assert_non_null(all[k]->put_str);
        assert_non_null(all[k]->del_str);
        printf("engine %s\n", all[k]->name);
        fflush(stdout);
        run_model(all[k], seed + k);
        tested++;
    }
    printf("%zu engines with string keys\n", tested);
    /* An ET_ENGINE that names no engine must not pass as a test of it. */
    assert_true(tested > 0);
}

/* ---- under threads ------------------------------------------------------------ */

enum { WRITERS = 4, READERS = 2 };

/* A value: the key's tag in the upper 40 bits, the owner's write number for
 * that key in the lower 24 (numbers stay below 2^24: fewer puts than that). */
#define SEQ_BITS 24
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)

static uint64_t tag_of(uint64_t i)
{
    uint64_t s = i ^ 0x6a09e667f3bcc909u;
    return et_next(&s) & ~SEQ_MASK;
}

struct shared {
    const lab_engine *e;
    void *map;
    const keyset *ks;
    uint64_t per_writer;
    uint64_t steps;
    uint64_t seed;
    /* Per key, the newest write number its owner has put or is putting. */
    _Atomic uint32_t *written;
    atomic_int writers_left;
    atomic_int failures;
};

struct writer {
    struct shared *sh;
    int id;
    uint8_t *present;
    uint64_t *value;
    uint32_t *seq;
};

static void record_failure(struct shared *sh)
{
    atomic_fetch_add(&sh->failures, 1);
}

/* A value found for key i, by a thread that does not own it: it must be
 * i's, with a write number its owner had published before the put. */
static void check_foreign(struct shared *sh, uint64_t i, int rc, uint64_t v)
{
    if (rc < 0)
        record_failure(sh);
    if (rc == 1) {
        uint32_t newest = atomic_load_explicit(&sh->written[i], memory_order_acquire);
        if ((v & ~SEQ_MASK) != tag_of(i) || (v & SEQ_MASK) == 0 || (v & SEQ_MASK) > newest)
            record_failure(sh);
    }
}

static void *write_loop(void *arg)
{
    struct writer *w = arg;
    struct shared *sh = w->sh;
    const lab_engine *e = sh->e;
    const keyset *ks = sh->ks;
    scratch *s = malloc(sizeof *s);
    if (!s) {
        record_failure(sh);
        atomic_fetch_sub(&sh->writers_left, 1);
        return NULL;
    }
    uint64_t rng = sh->seed * 31 + (uint64_t)w->id;
    uint64_t base = (uint64_t)w->id * sh->per_writer;
    uint64_t total = sh->per_writer * WRITERS;
    if (e->thread_attach)
        e->thread_attach(sh->map);
    for (uint64_t step = 0; step < sh->steps; step++) {
        uint64_t r = et_next(&rng);
        uint64_t j = et_next(&rng) % sh->per_writer;
        uint64_t i = base + j;
        uint64_t v = 0;
        unsigned op = (unsigned)(r % 100);
        if (op < 45) {
            v = tag_of(i) | ++w->seq[j];
            atomic_store_explicit(&sh->written[i], w->seq[j], memory_order_release);
            if (put_key(e, sh->map, s, ks, i, v) != 0)
                record_failure(sh);
            w->present[j] = 1;
            w->value[j] = v;
        } else if (op < 60) {
            if (del_key(e, sh->map, s, ks, i) != w->present[j])
                record_failure(sh);
            w->present[j] = 0;
        } else if (op < 85) {
            int rc = get_key(e, sh->map, s, ks, i, &v);
            if (rc != w->present[j] || (rc == 1 && v != w->value[j]))
                record_failure(sh);
        } else {
            uint64_t other = et_next(&rng) % total;
            int rc = get_key(e, sh->map, s, ks, other, &v);
            if (other - base < sh->per_writer) {
                if (rc != w->present[other - base] || (rc == 1 && v != w->value[other - base]))
                    record_failure(sh);
            } else {
                check_foreign(sh, other, rc, v);
            }
        }
    }
    if (e->thread_detach)
        e->thread_detach(sh->map);
    free(s);
    atomic_fetch_sub(&sh->writers_left, 1);
    return NULL;
}

static void *read_loop(void *arg)
{
    struct shared *sh = arg;
    const lab_engine *e = sh->e;
    scratch *s = malloc(sizeof *s);
    if (!s) {
        record_failure(sh);
        return NULL;
    }
    uint64_t rng = sh->seed * 37 + 1000;
    uint64_t total = sh->per_writer * WRITERS;
    if (e->thread_attach)
        e->thread_attach(sh->map);
    while (atomic_load(&sh->writers_left) > 0) {
        uint64_t i = et_next(&rng) % total;
        uint64_t v = 0;
        int rc = get_key(e, sh->map, s, sh->ks, i, &v);
        check_foreign(sh, i, rc, v);
        if (get_near_miss(e, sh->map, s, sh->ks, i) != 0)
            record_failure(sh);
    }
    if (e->thread_detach)
        e->thread_detach(sh->map);
    free(s);
    return NULL;
}

static void run_threads(const lab_engine *e, uint64_t seed)
{
    struct shared sh = {
        .e = e,
        .per_writer = ET_SCALE(5000, 1000),
        .steps = ET_SCALE(150000, 15000),
        .seed = seed,
    };
    uint64_t total = sh.per_writer * WRITERS;
    keyset ks = keys_make(total, seed);
    sh.ks = &ks;
    sh.written = calloc(total, sizeof *sh.written);
    assert_non_null(sh.written);
    atomic_init(&sh.writers_left, WRITERS);
    atomic_init(&sh.failures, 0);
    sh.map = e->create_str(0);
    assert_non_null(sh.map);

    struct writer w[WRITERS];
    pthread_t wt[WRITERS], rt[READERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){ &sh, i, calloc(sh.per_writer, 1),
                                calloc(sh.per_writer, sizeof(uint64_t)),
                                calloc(sh.per_writer, sizeof(uint32_t)) };
        assert_non_null(w[i].present);
        assert_non_null(w[i].value);
        assert_non_null(w[i].seq);
    }
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&rt[i], NULL, read_loop, &sh), 0);
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&wt[i], NULL, write_loop, &w[i]), 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(wt[i], NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(rt[i], NULL);
    assert_int_equal(atomic_load(&sh.failures), 0);

    scratch *s = malloc(sizeof *s);
    assert_non_null(s);
    if (e->thread_attach)
        e->thread_attach(sh.map);
    uint64_t live = 0;
    for (int t = 0; t < WRITERS; t++) {
        for (uint64_t j = 0; j < sh.per_writer; j++) {
            uint64_t v = 0;
            uint64_t i = (uint64_t)t * sh.per_writer + j;
            assert_int_equal(get_key(e, sh.map, s, &ks, i, &v), w[t].present[j]);
            if (w[t].present[j])
                assert_true(v == w[t].value[j]);
            live += w[t].present[j];
        }
        free(w[t].present);
        free(w[t].value);
        free(w[t].seq);
    }
    if (e->size)
        assert_int_equal(e->size(sh.map), live);
    if (e->thread_detach)
        e->thread_detach(sh.map);
    e->destroy(sh.map);
    free(s);
    free(sh.written);
    keys_free(&ks);
}

static void test_every_string_engine_under_threads(void **state)
{
    (void)state;
    uint64_t seed = et_seed("engines_strings threads");
    size_t count, tested = 0;
    const lab_engine *const *all = lab_engines_all(&count);
    for (size_t k = 0; k < count; k++) {
        /* A single-threaded baseline has no concurrency to test. */
        if (!et_wanted(all[k]->name) || !has_strings(all[k]) || all[k]->single_thread_only)
            continue;
        printf("engine %s\n", all[k]->name);
        fflush(stdout);
        run_threads(all[k], seed + k);
        tested++;
    }
    assert_true(tested > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_string_engine_matches_reference),
        cmocka_unit_test(test_every_string_engine_under_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
