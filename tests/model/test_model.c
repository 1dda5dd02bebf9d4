/*
 * test_model.c — long random operation sequences checked against a reference
 * map (support.h), one thread, every return code and out-value compared:
 * put, insert, replace, cas, delete, get, get_or_insert and compute on single
 * keys, now and then sm_get_many on a batch and sm_reserve, once sm_clear.
 *
 * The sequence drives the size up to TARGET and back to nearly empty several
 * times with random 64-bit keys (so the map grows and shrinks through many
 * migrations, each spread over many calls), then runs in small key spaces,
 * which include the edge keys 0, 1, ... and UINT64_MAX, ... so that hits,
 * EXISTS and MISMATCH are frequent. The map's hash seed is drawn from the test
 * seed, so SM_TEST_SEED replays a run exactly.
 *
 * When the invariants are checked: smi_check_invariants looks at every entry
 * (about 0.6 us each, measured at 100k entries), so after every step the run
 * would be quadratic in the size and take minutes. It runs every N steps
 * while the map holds N entries (every step while it holds at most one),
 * which keeps its cost per step about constant; after every step that starts
 * or ends a resize (seen through sm_stats) while the map holds at most
 * EDGE_CHECK_MAX entries (above that the edges alone, two per resize, cost
 * more than all other checks together; big tables in mid-resize are checked
 * when a periodic check falls inside a resize, and by unit_resize); and at
 * each phase end, together with a full content comparison by lookups and by
 * an iterator walk. sm_size() is compared after every step.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"
#include "steadymap.h"

#define TARGET (100000u / SM_TEST_SCALE)
#define CYCLES 3
#define SMALL_SPACE_STEPS (200000u / SM_TEST_SCALE)
/* Resize edges are checked up to this size; above it they cost more than all other checks. */
#define EDGE_CHECK_MAX 8192u

/* Per phase: how often each operation runs, and how often it aims at a present key. */
struct mix {
    unsigned weight[N_OP_KINDS];
    unsigned hit_percent;
    uint64_t key_space; /* 0: any 64-bit key; else a small set, see small_key() */
};

/* Weights in enum op_kind order: put, insert, replace, cas, delete, get, get_or_insert, compute. */
static const struct mix growing = { { 25, 25, 5, 10, 10, 10, 10, 5 }, 30, 0 };
static const struct mix shrinking = { { 5, 5, 10, 10, 50, 10, 2, 8 }, 90, 0 };
static const struct mix balanced = { { 12, 12, 12, 12, 20, 12, 10, 10 }, 50, 0 };

struct model {
    sm_map *m;
    struct ref ref;
    struct rng rng;
    uint64_t step;
    sm_stats_info last; /* to notice a resize starting or ending */
    uint64_t results[N_OP_KINDS][SM_MISMATCH + 1]; /* how often each op returned each rc >= 0 */
    uint64_t reserves;
    uint64_t batches;
};

/* Half the small space counts up from 0, half down from UINT64_MAX. */
static uint64_t small_key(struct rng *rng, uint64_t space)
{
    uint64_t i = rng_below(rng, space);
    return i < space / 2 ? i : UINT64_MAX - (i - space / 2);
}

static uint64_t pick_key(struct model *t, const struct mix *mix)
{
    if (mix->key_space != 0) {
        return small_key(&t->rng, mix->key_space);
    }
    if (t->ref.count > 0 && rng_percent(&t->rng, mix->hit_percent)) {
        return t->ref.keys[rng_below(&t->rng, t->ref.count)];
    }
    if (rng_percent(&t->rng, 1)) {
        return small_key(&t->rng, 16);
    }
    return rng_next(&t->rng);
}

static uint64_t pick_value(struct rng *rng)
{
    switch (rng_below(rng, 20)) {
    case 0:
        return 0;
    case 1:
        return UINT64_MAX;
    default:
        return rng_next(rng);
    }
}

static enum op_kind pick_kind(struct rng *rng, const struct mix *mix)
{
    unsigned total = 0;
    for (int kind = 0; kind < N_OP_KINDS; kind++) {
        total += mix->weight[kind];
    }
    unsigned r = (unsigned)rng_below(rng, total);
    int kind = 0;
    while (r >= mix->weight[kind]) {
        r -= mix->weight[kind];
        kind++;
    }
    return (enum op_kind)kind;
}

/* One operation on map and reference, then sm_size() against the reference count. */
static void run_op(struct model *t, const struct op *op)
{
    bool differs = false;
    char why[256];
    int rc = apply_op(t->m, &t->ref, op, &differs, why, sizeof why);
    if (differs || rc < 0) {
        fail_msg("step %" PRIu64 ": %s", t->step, differs ? why : sm_status_str(rc));
    }
    t->results[op->kind][rc]++;

    size_t size = sm_size(t->m);
    if (size != t->ref.count) {
        fail_msg("step %" PRIu64 ": after %s(0x%" PRIx64 ") sm_size() is %zu, the reference holds %"
                 PRIu64, t->step, op_names[op->kind], op->key, size, t->ref.count);
    }
    t->step++;
}

static void step(struct model *t, const struct mix *mix)
{
    struct op op = { .kind = pick_kind(&t->rng, mix), .key = pick_key(t, mix),
                     .value = pick_value(&t->rng) };
    if (op.kind == OP_CAS) {
        /* Half the time expect the right value, so both outcomes are common. */
        uint64_t had;
        bool present = ref_get(&t->ref, op.key, &had);
        op.expected = present && rng_percent(&t->rng, 50) ? had : pick_value(&t->rng);
    } else if (op.kind == OP_COMPUTE) {
        static const sm_compute_action actions[4] = {
            SM_COMPUTE_SET, SM_COMPUTE_SET, SM_COMPUTE_KEEP, SM_COMPUTE_DELETE,
        };
        op.action = actions[rng_below(&t->rng, 4)];
    }
    run_op(t, &op);
}

static void check_after_step(struct model *t)
{
    sm_stats_info st = { .size = sizeof st };
    assert_int_equal(sm_stats(t->m, &st), SM_OK);
    bool resize_edge = st.migrating != t->last.migrating || st.grows != t->last.grows ||
                       st.shrinks != t->last.shrinks || st.rehashes != t->last.rehashes;
    uint64_t interval = t->ref.count > 0 ? t->ref.count : 1;
    if ((resize_edge && t->ref.count <= EDGE_CHECK_MAX) || t->step % interval == 0) {
        char where[64];
        snprintf(where, sizeof where, "step %" PRIu64, t->step);
        assert_invariants(t->m, where);
    }
    t->last = st;
}

/* Rarely, sm_reserve: it must leave the map settled, big enough, and unchanged in content. */
static void maybe_reserve(struct model *t)
{
    if (rng_below(&t->rng, 20000) != 0) {
        return;
    }
    uint64_t n = t->ref.count + rng_below(&t->rng, t->ref.count + 1000);
    int rc = sm_reserve(t->m, n);
    if (rc != SM_OK) {
        fail_msg("step %" PRIu64 ": sm_reserve(%" PRIu64 ") returned %s", t->step, n,
                 sm_status_str(rc));
    }
    sm_stats_info st = { .size = sizeof st };
    assert_int_equal(sm_stats(t->m, &st), SM_OK);
    assert_int_equal(st.migrating, 0);
    assert_true(st.capacity >= n);
    assert_int_equal(sm_size(t->m), t->ref.count);
    assert_invariants(t->m, "after sm_reserve");
    t->reserves++;
}

/*
 * Now and then a batch lookup of the keys the phase would pick (present,
 * absent and repeated): each answer must be the reference's, and the value
 * slot of a missing key must be left alone.
 */
static void maybe_get_many(struct model *t, const struct mix *mix)
{
    enum { BATCH = 64 };
    const uint64_t untouched = 0x5afe5afe5afe5afeu;
    if (rng_below(&t->rng, 500) != 0) {
        return;
    }
    uint64_t keys[BATCH];
    uint64_t values[BATCH];
    uint8_t found[BATCH];
    for (int i = 0; i < BATCH; i++) {
        keys[i] = pick_key(t, mix);
        values[i] = untouched;
    }
    int rc = map_get_many(t->m, keys, BATCH, values, found);
    int want = 0;
    for (int i = 0; i < BATCH; i++) {
        uint64_t v = untouched;
        bool present = ref_get(&t->ref, keys[i], &v);
        want += present;
        if (found[i] != present || values[i] != v) {
            fail_msg("step %" PRIu64 ": get_many key %d (0x%" PRIx64 "): found %u, 0x%" PRIx64
                     "; the reference says %d, 0x%" PRIx64,
                     t->step, i, keys[i], found[i], values[i], present, v);
        }
    }
    if (rc != want) {
        fail_msg("step %" PRIu64 ": get_many returned %d, %d keys were found", t->step, rc, want);
    }
    t->batches++;
}

/*
 * A full walk with an iterator must return exactly the reference's entries:
 * each key once, with its value (G1, G2, G3 for a map nobody changes).
 */
static void assert_walk_matches(struct model *t, const char *where)
{
    struct ref seen;
    ref_init(&seen);
    sm_iter *it = sm_iter_new(t->m);
    assert_non_null(it);
    uint64_t key;
    uint64_t value;
    int rc;
    while ((rc = map_iter_next(it, &key, &value)) == SM_OK) {
        uint64_t want;
        uint64_t again;
        if (!ref_get(&t->ref, key, &want) || want != value || ref_get(&seen, key, &again)) {
            fail_msg("%s: the walk returned 0x%" PRIx64 " = 0x%" PRIx64 ", which is %s", where,
                     key, value, ref_get(&seen, key, &again) ? "a repeat" : "not the reference's");
        }
        ref_set(&seen, key, value);
    }
    sm_iter_free(it);
    if (rc != SM_NOT_FOUND || seen.count != t->ref.count) {
        fail_msg("%s: the walk ended with %s after %" PRIu64 " of %" PRIu64 " entries", where,
                 sm_status_str(rc), seen.count, t->ref.count);
    }
    ref_free(&seen);
}

static void phase_end(struct model *t, const char *name)
{
    char where[96];
    snprintf(where, sizeof where, "%s, step %" PRIu64, name, t->step);
    assert_invariants(t->m, where);
    assert_same_contents(t->m, &t->ref, where);
    assert_walk_matches(t, where);
    /* Keys never inserted must be absent (a miss the lookups above cannot see). */
    for (int i = 0; i < 1000; i++) {
        uint64_t key = rng_next(&t->rng);
        uint64_t v;
        if (!ref_get(&t->ref, key, &v)) {
            assert_int_equal(map_get(t->m, key, NULL), SM_NOT_FOUND);
        }
    }
    printf("%-24s step %9" PRIu64 "  entries %7" PRIu64 "  grows %3" PRIu64
           "  shrinks %3" PRIu64 "  rehashes %3" PRIu64 "  capacity %8" PRIu64 "\n",
           name, t->step, t->ref.count, t->last.grows, t->last.shrinks, t->last.rehashes,
           t->last.capacity);
}

static void run_until(struct model *t, const struct mix *mix, bool up, uint64_t bound)
{
    while (up ? t->ref.count < bound : t->ref.count > bound) {
        step(t, mix);
        check_after_step(t);
        maybe_reserve(t);
        maybe_get_many(t, mix);
    }
}

static void run_steps(struct model *t, const struct mix *mix, uint64_t steps)
{
    for (uint64_t i = 0; i < steps; i++) {
        step(t, mix);
        check_after_step(t);
        maybe_reserve(t);
        maybe_get_many(t, mix);
    }
}

static void run_model(void)
{
    struct model t;
    memset(&t, 0, sizeof t);
    t.rng.state = test_seed(string_keys_in_use() ? "model (string keys)" : "model");
    t.last.size = sizeof t.last;
    ref_init(&t.ref);
    /* The hash seed comes from the test seed, so SM_TEST_SEED replays the layout too. */
    t.m = new_seeded_map(rng_next(&t.rng));

    for (int cycle = 0; cycle < CYCLES; cycle++) {
        run_until(&t, &growing, true, TARGET);
        phase_end(&t, "grown");
        run_steps(&t, &balanced, TARGET / 2);
        phase_end(&t, "balanced at the top");
        if (cycle == 1) {
            /* Once, empty the full map in one call instead of key by key. */
            int removed = sm_clear(t.m);
            if (removed < 0 || (uint64_t)removed != t.ref.count) {
                fail_msg("sm_clear returned %d, the map held %" PRIu64, removed, t.ref.count);
            }
            ref_clear(&t.ref);
            check_after_step(&t);
            phase_end(&t, "cleared");
        }
        run_until(&t, &shrinking, false, 16);
        phase_end(&t, "shrunk");
    }

    const uint64_t spaces[] = { 2, 64, 1024 };
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++) {
        struct mix mix = balanced;
        mix.key_space = spaces[i];
        run_steps(&t, &mix, SMALL_SPACE_STEPS / 3);
        phase_end(&t, "small key space");
    }

    /* Empty it completely, through the map's own deletes. */
    while (t.ref.count > 0) {
        struct op op = { .kind = OP_DELETE, .key = t.ref.keys[t.ref.count - 1] };
        run_op(&t, &op);
        check_after_step(&t);
    }
    phase_end(&t, "emptied");
    assert_int_equal(sm_size(t.m), 0);

    /* The run must have reached every outcome, or it proved less than it claims. */
    const struct {
        enum op_kind op;
        int rc;
    } outcomes[] = {
        { OP_PUT, SM_OK },        { OP_PUT, SM_REPLACED },   { OP_INSERT, SM_OK },
        { OP_INSERT, SM_EXISTS }, { OP_REPLACE, SM_OK },     { OP_REPLACE, SM_NOT_FOUND },
        { OP_CAS, SM_OK },        { OP_CAS, SM_MISMATCH },   { OP_CAS, SM_NOT_FOUND },
        { OP_DELETE, SM_OK },     { OP_DELETE, SM_NOT_FOUND }, { OP_GET, SM_OK },
        { OP_GET, SM_NOT_FOUND },
        { OP_GET_OR_INSERT, SM_OK }, { OP_GET_OR_INSERT, SM_EXISTS }, { OP_COMPUTE, SM_OK },
        { OP_COMPUTE, SM_NOT_FOUND },
    };
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
        if (t.results[outcomes[i].op][outcomes[i].rc] == 0) {
            fail_msg("%s never returned %s", op_names[outcomes[i].op],
                     sm_status_str(outcomes[i].rc));
        }
    }
    assert_true(t.last.grows >= CYCLES);
    assert_true(t.last.shrinks >= CYCLES);
    assert_true(t.reserves > 0);
    assert_true(t.batches > 0);
    sm_destroy(t.m);
    ref_free(&t.ref);
}

static void random_operations_match_the_reference(void **state)
{
    (void)state;
    use_string_keys(false);
    run_model();
}

/* The same run on a string-keyed map: each key k is key_string(k). */
static void random_string_key_operations_match_the_reference(void **state)
{
    (void)state;
    use_string_keys(true);
    run_model();
    use_string_keys(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_operations_match_the_reference),
        cmocka_unit_test(random_string_key_operations_match_the_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
