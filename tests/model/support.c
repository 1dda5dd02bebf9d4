/* support.c — see support.h. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "support.h"
#include "testing.h"

uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
    return rng_next(r) % n;
}

bool rng_percent(struct rng *r, unsigned percent)
{
    return rng_below(r, 100) < percent;
}

uint64_t test_seed(const char *test_name)
{
    const char *env = getenv("SM_TEST_SEED");
    uint64_t seed;
    if (env != NULL && *env != '\0') {
        char *end;
        seed = strtoull(env, &end, 0);
        if (*end != '\0') {
            fail_msg("SM_TEST_SEED=\"%s\" is not a number", env);
        }
    } else {
        /* Mixed through splitmix so that runs started in the same second differ. */
        struct timespec ts;
        timespec_get(&ts, TIME_UTC);
        struct rng mix = { (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec };
        seed = rng_next(&mix);
    }
    printf("%s: seed 0x%016" PRIx64 " (reproduce with SM_TEST_SEED=0x%016" PRIx64 ")\n",
           test_name, seed, seed);
    fflush(stdout);
    return seed;
}

/* A different mixer from steadymap's own hashing is not required, only a good one. */
static uint64_t ref_hash(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdu;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53u;
    return key ^ (key >> 33);
}

/* The reference is used off cmocka's thread too, where fail_msg cannot jump. */
static void out_of_memory(void)
{
    fprintf(stderr, "the reference map ran out of memory\n");
    abort();
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        out_of_memory();
    }
    return p;
}

/* The index slot holding key, or the empty slot where it would go. */
static uint64_t ref_slot(const struct ref *r, uint64_t key)
{
    uint64_t mask = r->index_slots - 1;
    uint64_t i = ref_hash(key) & mask;
    while (r->index[i] != 0 && r->keys[r->index[i] - 1] != key) {
        i = (i + 1) & mask;
    }
    return i;
}

static void ref_rebuild_index(struct ref *r, uint64_t slots)
{
    free(r->index);
    r->index = xcalloc(slots, sizeof *r->index);
    r->index_slots = slots;
    for (uint64_t pos = 0; pos < r->count; pos++) {
        r->index[ref_slot(r, r->keys[pos])] = pos + 1;
    }
}

void ref_init(struct ref *r)
{
    memset(r, 0, sizeof *r);
    r->dense_cap = 64;
    r->keys = xcalloc(r->dense_cap, sizeof *r->keys);
    r->values = xcalloc(r->dense_cap, sizeof *r->values);
    ref_rebuild_index(r, 128);
}

void ref_free(struct ref *r)
{
    free(r->keys);
    free(r->values);
    free(r->index);
    memset(r, 0, sizeof *r);
}

bool ref_get(const struct ref *r, uint64_t key, uint64_t *value)
{
    uint64_t pos = r->index[ref_slot(r, key)];
    if (pos == 0) {
        return false;
    }
    *value = r->values[pos - 1];
    return true;
}

void ref_set(struct ref *r, uint64_t key, uint64_t value)
{
    uint64_t slot = ref_slot(r, key);
    if (r->index[slot] != 0) {
        r->values[r->index[slot] - 1] = value;
        return;
    }
    if (r->count == r->dense_cap) {
        r->dense_cap *= 2;
        r->keys = realloc(r->keys, r->dense_cap * sizeof *r->keys);
        r->values = realloc(r->values, r->dense_cap * sizeof *r->values);
        if (r->keys == NULL || r->values == NULL) {
            out_of_memory();
        }
    }
    r->keys[r->count] = key;
    r->values[r->count] = value;
    r->count++;
    r->index[slot] = r->count;
    /* At most half full keeps linear probing short. */
    if (r->count * 2 > r->index_slots) {
        ref_rebuild_index(r, r->index_slots * 2);
    }
}

bool ref_delete(struct ref *r, uint64_t key)
{
    uint64_t mask = r->index_slots - 1;
    uint64_t hole = ref_slot(r, key);
    uint64_t pos = r->index[hole];
    if (pos == 0) {
        return false;
    }
    /* Move the last entry into the freed position, and repoint its slot. */
    uint64_t last = r->count - 1;
    if (pos - 1 != last) {
        r->index[ref_slot(r, r->keys[last])] = pos;
        r->keys[pos - 1] = r->keys[last];
        r->values[pos - 1] = r->values[last];
    }
    r->count--;
    /* Backward-shift deletion: pull later members of the probe run into the hole. */
    r->index[hole] = 0;
    for (uint64_t i = (hole + 1) & mask; r->index[i] != 0; i = (i + 1) & mask) {
        uint64_t home = ref_hash(r->keys[r->index[i] - 1]) & mask;
        /* The entry may move to the hole unless its home lies cyclically in (hole, i]. */
        bool home_after_hole = ((i - home) & mask) < ((i - hole) & mask);
        if (!home_after_hole) {
            r->index[hole] = r->index[i];
            r->index[i] = 0;
            hole = i;
        }
    }
    return true;
}

void ref_clear(struct ref *r)
{
    r->count = 0;
    memset(r->index, 0, r->index_slots * sizeof *r->index);
}

static bool string_mode;

void use_string_keys(bool on)
{
    string_mode = on;
}

bool string_keys_in_use(void)
{
    return string_mode;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185u;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44du;
    return x ^ (x >> 33);
}

size_t key_string(uint64_t key, unsigned char buf[KEY_STRING_MAX])
{
    size_t n = 0;
    uint64_t k = key;
    do {
        buf[n++] = (unsigned char)((k & 0x7f) | (k > 0x7f ? 0x80 : 0));
        k >>= 7;
    } while (k);
    uint64_t h = mix64(key);
    size_t pad = (size_t)(h % 48);
    for (size_t i = 0; i < pad; i++)
        buf[n++] = (unsigned char)(h >> (8 * (i % 8)));
    return n;
}

bool string_key(const void *bytes, size_t len, uint64_t *key)
{
    const unsigned char *b = bytes;
    uint64_t k = 0;
    size_t n = 0;
    for (unsigned shift = 0; n < len && shift < 64; shift += 7) {
        k |= (uint64_t)(b[n] & 0x7f) << shift;
        if (!(b[n++] & 0x80))
            break;
    }
    unsigned char again[KEY_STRING_MAX];
    if (len > KEY_STRING_MAX || key_string(k, again) != len || memcmp(again, b, len) != 0)
        return false;
    *key = k;
    return true;
}

int map_get(sm_map *m, uint64_t key, uint64_t *value)
{
    if (!string_mode)
        return sm_get(m, key, value);
    unsigned char s[KEY_STRING_MAX];
    return sm_get_str(m, s, key_string(key, s), value);
}

int map_get_many(sm_map *m, const uint64_t *keys, size_t n, uint64_t *values, uint8_t *found)
{
    if (!string_mode)
        return sm_get_many(m, keys, n, values, found);
    unsigned char (*bufs)[KEY_STRING_MAX] = malloc((n ? n : 1) * sizeof *bufs);
    const void **ptrs = malloc((n ? n : 1) * sizeof *ptrs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    int rc = SM_ENOMEM;
    if (bufs && ptrs && lens) {
        for (size_t i = 0; i < n; i++) {
            lens[i] = key_string(keys[i], bufs[i]);
            ptrs[i] = bufs[i];
        }
        rc = sm_get_many_str(m, ptrs, lens, n, values, found);
    }
    free(bufs);
    free(ptrs);
    free(lens);
    return rc;
}

int map_iter_next(sm_iter *it, uint64_t *key, uint64_t *value)
{
    if (!string_mode)
        return sm_iter_next(it, key, value);
    const void *bytes;
    size_t len;
    int rc = sm_iter_next_str(it, &bytes, &len, value);
    if (rc == SM_OK && !string_key(bytes, len, key))
        return SM_EINVAL;
    return rc;
}

sm_stats_info stats_of(sm_map *m)
{
    sm_stats_info st = { .size = sizeof st };
    int rc = sm_stats(m, &st);
    if (rc != SM_OK) {
        fprintf(stderr, "sm_stats returned %s\n", sm_status_str(rc));
        abort();
    }
    return st;
}

sm_map *new_seeded_map(uint64_t seed)
{
    sm_options opts = SM_OPTIONS_INIT;
    opts.seed = seed;
    opts.flags = string_mode ? SM_STRING_KEYS : 0;
    sm_map *m = sm_new(&opts);
    assert_non_null(m);
    /* 24 hash bits: in a model run's 100K keys a few hundred pairs share a
     * full hash, so the byte comparisons are exercised by random sequences
     * too; 16 high bits still spread the keys over the table. */
    if (string_mode)
        assert_int_equal(smi_weaken_string_hash(m, 0xffff0000000000ffu), 0);
    return m;
}

void assert_invariants(sm_map *m, const char *where)
{
    char why[256] = "";
    if (smi_check_invariants(m, why, sizeof why) != 0) {
        fail_msg("%s: smi_check_invariants failed: %s", where, why);
    }
}

const char *const op_names[N_OP_KINDS] = {
    "put", "insert", "replace", "cas", "delete", "get", "get_or_insert", "compute",
};

sm_compute_action compute_decide(struct compute_call *c, int present, uint64_t *value)
{
    c->calls++;
    c->present = present;
    c->value = *value;
    if (c->op->action == SM_COMPUTE_SET) {
        *value = c->op->value;
    }
    return c->op->action;
}

static sm_compute_action compute_as_told(uint64_t key, int present, uint64_t *value, void *arg)
{
    (void)key;
    return compute_decide(arg, present, value);
}

static sm_compute_action compute_str_as_told(const void *key, size_t len, int present,
                                             uint64_t *value, void *arg)
{
    struct compute_call *c = arg;
    uint64_t decoded;
    /* The function must be shown the key it was called for. */
    if (!string_key(key, len, &decoded) || decoded != c->op->key)
        c->wrong_key = true;
    return compute_decide(c, present, value);
}

struct outcome expected_outcome(const struct op *op, bool present, uint64_t had)
{
    /* By default the status defines the out-value only when the key was
     * there, and then it is the value the key held. */
    struct outcome o = { SM_NOT_FOUND, present, had, false };
    switch (op->kind) {
    case OP_PUT:
        o.rc = present ? SM_REPLACED : SM_OK;
        o.stores = true;
        break;
    case OP_INSERT:
        o.rc = present ? SM_EXISTS : SM_OK;
        o.stores = !present;
        break;
    case OP_REPLACE:
        o.rc = present ? SM_OK : SM_NOT_FOUND;
        o.stores = present;
        break;
    case OP_CAS:
        o.rc = !present ? SM_NOT_FOUND : had == op->expected ? SM_OK : SM_MISMATCH;
        o.stores = o.rc == SM_OK;
        break;
    case OP_GET_OR_INSERT:
        o.rc = present ? SM_EXISTS : SM_OK;
        o.out_defined = true;
        o.out = present ? had : op->value;
        o.stores = !present;
        break;
    case OP_COMPUTE:
        o.stores = op->action == SM_COMPUTE_SET;
        o.rc = o.stores || (present && op->action == SM_COMPUTE_KEEP) ? SM_OK : SM_NOT_FOUND;
        o.out_defined = o.rc == SM_OK;
        o.out = o.stores ? op->value : had;
        break;
    case OP_DELETE:
    case OP_GET:
    default:
        o.rc = present ? SM_OK : SM_NOT_FOUND;
        break;
    }
    return o;
}

int judge_op(struct ref *r, const struct op *op, bool present, uint64_t had,
             const struct outcome *want, int rc, uint64_t out, const struct compute_call *call,
             const char *key_text, bool *differs, char *why, size_t why_len)
{
    if (rc == SM_ENOMEM) {
        return rc;
    }
    if (rc != want->rc || (want->out_defined && out != want->out)) {
        *differs = true;
        snprintf(why, why_len,
                 "%s(%s) returned %s with 0x%" PRIx64 "; the reference says %s%s0x%" PRIx64,
                 op_names[op->kind], key_text, sm_status_str(rc), out, sm_status_str(want->rc),
                 want->out_defined ? " with " : ", no value, key held ",
                 want->out_defined ? want->out : had);
    } else if (op->kind == OP_COMPUTE &&
               (call->calls == 0 || call->wrong_key || call->present != present ||
                call->value != (present ? had : 0))) {
        *differs = true;
        snprintf(why, why_len,
                 "compute(%s) showed its function %s, present %d, 0x%" PRIx64
                 " (%u calls); the reference says %d, 0x%" PRIx64,
                 key_text, call->wrong_key ? "another key" : "the key", call->present,
                 call->value, call->calls, present, present ? had : 0);
    }
    if (want->stores) {
        ref_set(r, op->key, op->value);
    } else if (op->kind == OP_DELETE || (op->kind == OP_COMPUTE && op->action == SM_COMPUTE_DELETE)) {
        ref_delete(r, op->key);
    }
    return rc;
}

int apply_op(sm_map *m, struct ref *r, const struct op *op, bool *differs, char *why,
             size_t why_len)
{
    uint64_t had = 0;
    bool present = ref_get(r, op->key, &had);
    struct outcome want = expected_outcome(op, present, had);
    uint64_t out = 0;
    int rc;
    struct compute_call call = { op, 0, -1, 0, false };
    unsigned char ks[KEY_STRING_MAX];
    size_t kl = key_string(op->key, ks);
    const bool str = string_mode;
    switch (op->kind) {
    case OP_PUT:
        rc = str ? sm_put_str(m, ks, kl, op->value, &out) : sm_put(m, op->key, op->value, &out);
        break;
    case OP_INSERT:
        rc = str ? sm_insert_str(m, ks, kl, op->value, &out)
                 : sm_insert(m, op->key, op->value, &out);
        break;
    case OP_REPLACE:
        rc = str ? sm_replace_str(m, ks, kl, op->value, &out)
                 : sm_replace(m, op->key, op->value, &out);
        break;
    case OP_CAS:
        rc = str ? sm_cas_str(m, ks, kl, op->expected, op->value, &out)
                 : sm_cas(m, op->key, op->expected, op->value, &out);
        break;
    case OP_DELETE:
        rc = str ? sm_delete_str(m, ks, kl, &out) : sm_delete(m, op->key, &out);
        break;
    case OP_GET_OR_INSERT:
        rc = str ? sm_get_or_insert_str(m, ks, kl, op->value, &out)
                 : sm_get_or_insert(m, op->key, op->value, &out);
        break;
    case OP_COMPUTE:
        rc = str ? sm_compute_str(m, ks, kl, compute_str_as_told, &call, &out)
                 : sm_compute(m, op->key, compute_as_told, &call, &out);
        break;
    case OP_GET:
    default:
        rc = map_get(m, op->key, &out);
        break;
    }
    char key_text[24];
    snprintf(key_text, sizeof key_text, "0x%" PRIx64, op->key);
    return judge_op(r, op, present, had, &want, rc, out, &call, key_text, differs, why, why_len);
}

bool same_contents(sm_map *m, const struct ref *r, char *why, size_t why_len)
{
    size_t size = sm_size(m);
    if (size != r->count) {
        snprintf(why, why_len, "sm_size() is %zu, the reference holds %" PRIu64, size, r->count);
        return false;
    }
    for (uint64_t pos = 0; pos < r->count; pos++) {
        uint64_t got = 0;
        int rc = map_get(m, r->keys[pos], &got);
        if (rc != SM_OK || got != r->values[pos]) {
            snprintf(why, why_len,
                     "key 0x%" PRIx64 " should hold 0x%" PRIx64 ", sm_get gave %s, 0x%" PRIx64,
                     r->keys[pos], r->values[pos], sm_status_str(rc), got);
            return false;
        }
    }
    return true;
}

void assert_same_contents(sm_map *m, const struct ref *r, const char *where)
{
    char why[256];
    if (!same_contents(m, r, why, sizeof why)) {
        fail_msg("%s: %s", where, why);
    }
}
