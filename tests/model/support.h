/*
 * support.h — pieces the unit, model and allocation-failure tests share: a
 * seeded PRNG whose seed is printed and can be forced, a plain single-threaded
 * reference map to check steadymap against, and cmocka assertions over a map's
 * invariants and contents.
 *
 * The reference map is deliberately unlike steadymap (an index table over two
 * dense arrays), so a bug the two had in common would be a coincidence rather
 * than a copy.
 */
#ifndef SM_TEST_SUPPORT_H
#define SM_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "steadymap.h"

/* Tests shrink their workloads under a sanitizer's slowdown. */
#ifdef SM_SANITIZED
#define SM_TEST_SCALE 10u
#else
#define SM_TEST_SCALE 1u
#endif

/* splitmix64: tiny, and every 64-bit seed gives a full-period stream. */
struct rng {
    uint64_t state;
};

uint64_t rng_next(struct rng *r);
/* Uniform in [0, n) for n > 0 (the modulo bias is irrelevant here). */
uint64_t rng_below(struct rng *r, uint64_t n);
/* True with probability percent / 100. */
bool rng_percent(struct rng *r, unsigned percent);

/*
 * The seed for one test: SM_TEST_SEED from the environment when set (decimal
 * or 0x-prefixed hex), otherwise fresh from the clock. Printed either way with
 * the line that reproduces the run.
 */
uint64_t test_seed(const char *test_name);

/* A reference map: insertion order is not kept, deletes swap with the last. */
struct ref {
    uint64_t *keys;    /* dense: keys[0..count) */
    uint64_t *values;  /* values[i] belongs to keys[i] */
    uint64_t count;
    uint64_t dense_cap;
    uint64_t *index;   /* open addressing, 0 = empty, else position + 1 */
    uint64_t index_slots;
};

void ref_init(struct ref *r);
void ref_free(struct ref *r);
bool ref_get(const struct ref *r, uint64_t key, uint64_t *value);
/* Inserts or overwrites. */
void ref_set(struct ref *r, uint64_t key, uint64_t value);
/* Returns false when the key was absent. */
bool ref_delete(struct ref *r, uint64_t key);
void ref_clear(struct ref *r);

/*
 * String keys. While use_string_keys(true) is in force, new_seeded_map makes
 * SM_STRING_KEYS maps, and apply_op, same_contents and the map_* calls below
 * run the *_str functions on key_string(key) instead of the uint64 ones, so
 * one reference (keyed by uint64) checks both kinds. String-keyed maps made
 * here keep only 24 bits of their hash (smi_weaken_string_hash), so distinct
 * keys often share a full hash.
 *
 * key_string is injective: a LEB128 varint of the key (self-delimiting),
 * then 0..47 padding bytes derived from the key, so lengths vary from 1 to 57
 * bytes and keys share prefixes. string_key decodes one back, or returns
 * false when the bytes are not exactly key_string of any key.
 */
#define KEY_STRING_MAX 64
void use_string_keys(bool on);
bool string_keys_in_use(void);
size_t key_string(uint64_t key, unsigned char buf[KEY_STRING_MAX]);
bool string_key(const void *bytes, size_t len, uint64_t *key);

/* sm_get / sm_get_many / sm_iter_next for the key kind in use. For strings,
 * map_iter_next fails the walk with SM_EINVAL if a returned key does not
 * decode. */
int map_get(sm_map *m, uint64_t key, uint64_t *value);
int map_get_many(sm_map *m, const uint64_t *keys, size_t n, uint64_t *values, uint8_t *found);
int map_iter_next(sm_iter *it, uint64_t *key, uint64_t *value);

/* The map operations a test can run against the reference. */
enum op_kind {
    OP_PUT, OP_INSERT, OP_REPLACE, OP_CAS, OP_DELETE, OP_GET, OP_GET_OR_INSERT, OP_COMPUTE,
    N_OP_KINDS
};

extern const char *const op_names[N_OP_KINDS];

struct op {
    enum op_kind kind;
    uint64_t key;
    uint64_t value;    /* put, insert, replace, get_or_insert; cas's desired; what compute sets */
    uint64_t expected; /* cas only */
    sm_compute_action action; /* compute only: what its function decides */
};

/* What the reference says op must do to a map in which the key is present
 * (with value had) or not: the status, whether that status defines the
 * out-value and which, and whether the op stores op->value. */
struct outcome {
    int rc;
    bool out_defined;
    uint64_t out;
    bool stores;
};
struct outcome expected_outcome(const struct op *op, bool present, uint64_t had);

/* What a compute function was shown, and the op that tells it what to decide.
 * compute_decide records one call and decides as op->action says; a caller
 * that checks the key it was shown sets wrong_key itself. */
struct compute_call {
    const struct op *op;
    unsigned calls;
    int present;
    uint64_t value;
    bool wrong_key;
};
sm_compute_action compute_decide(struct compute_call *c, int present, uint64_t *value);

/*
 * The second half of apply_op, for callers that make the map call
 * themselves: rc and out are what the map answered, call what a compute
 * function saw (NULL for other ops), key_text names the key in a reason.
 * Unless rc is SM_ENOMEM, compares them with want (from expected_outcome)
 * and applies op to the reference. Returns rc; on a difference writes why
 * and sets *differs.
 */
int judge_op(struct ref *r, const struct op *op, bool present, uint64_t had,
             const struct outcome *want, int rc, uint64_t out, const struct compute_call *call,
             const char *key_text, bool *differs, char *why, size_t why_len);

/*
 * Runs op on the map and, unless the map answers SM_ENOMEM, on the reference,
 * and compares the status and every out-value the status defines. Returns the
 * map's status; on a difference also writes a one-line reason to why and sets
 * *differs (both untouched otherwise). SM_ENOMEM is left for the caller to
 * judge, since only it knows whether the call could allocate.
 */
int apply_op(sm_map *m, struct ref *r, const struct op *op, bool *differs, char *why,
             size_t why_len);

/*
 * Returns false, with a reason in why, unless the map holds exactly the
 * reference's entries: the same count and every reference key found with its
 * value. With the counts equal, an extra key in the map would need a missing
 * one, which the lookups catch. Uses no cmocka, so any thread may call it.
 */
bool same_contents(sm_map *m, const struct ref *r, char *why, size_t why_len);

/*
 * A new map with a fixed hash seed, so that a run replays with the same table
 * layout (and so the same resizes and chains) every time. Fails the running
 * cmocka test if sm_new fails.
 */
sm_map *new_seeded_map(uint64_t seed);

/* sm_stats of m, which must succeed: it fails only on bad arguments or a
 * thread's first call out of memory (T1). On failure it says so and aborts,
 * not a cmocka assertion, so worker threads may call it too. */
sm_stats_info stats_of(sm_map *m);

/* Fails the running cmocka test, with the map's reason, unless it holds. */
void assert_invariants(sm_map *m, const char *where);

/* Fails the running cmocka test unless same_contents() holds. */
void assert_same_contents(sm_map *m, const struct ref *r, const char *where);

#endif /* SM_TEST_SUPPORT_H */
