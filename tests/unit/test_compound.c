/*
 * test_compound.c — the calls beyond the single-key basics, one thread:
 * sm_get_or_insert, sm_compute, sm_clear, sm_get_many and the on_resize
 * observer of sm_options. Bad arguments (B1), every status each can return
 * without memory failure, and their effect seen through sm_get and sm_size.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../model/support.h"
#include "steadymap.h"
#include "testing.h"

/* Unit tests are deterministic: one hash seed, so one table layout, every run. */
#define SEED 0x00c0ffee00c0ffeeu

/* A value no call of these tests stores: seeing it means "not written". */
#define UNTOUCHED 0x5afe5afe5afe5afeu

static uint64_t spread_key(uint64_t i)
{
    return i * 0x9e3779b97f4a7c15u;
}

static void assert_holds(sm_map *m, uint64_t key, uint64_t value)
{
    uint64_t got = UNTOUCHED;
    assert_int_equal(sm_get(m, key, &got), SM_OK);
    assert_int_equal(got, value);
}

/* What the compute function is told to decide, and what it was shown. */
struct compute_ctx {
    sm_compute_action action;
    uint64_t set_to;
    unsigned calls;
    uint64_t seen_key;
    int seen_present;
    uint64_t seen_value;
};

static sm_compute_action decide(uint64_t key, int present, uint64_t *value, void *arg)
{
    struct compute_ctx *c = arg;
    c->calls++;
    c->seen_key = key;
    c->seen_present = present;
    c->seen_value = *value;
    if (c->action == SM_COMPUTE_SET) {
        *value = c->set_to;
    }
    return c->action;
}

static void null_arguments_are_einval(void **state)
{
    (void)state;
    uint64_t out = UNTOUCHED;
    struct compute_ctx ctx = { SM_COMPUTE_SET, 1, 0, 0, 0, 0 };
    uint64_t keys[2] = { 1, 2 };
    assert_int_equal(sm_get_or_insert(NULL, 1, 2, &out), SM_EINVAL);
    assert_int_equal(sm_compute(NULL, 1, decide, &ctx, &out), SM_EINVAL);
    assert_int_equal(sm_clear(NULL), SM_EINVAL);
    assert_int_equal(sm_get_many(NULL, keys, 2, NULL, NULL), SM_EINVAL);
    assert_null(sm_iter_new(NULL));
    assert_int_equal(sm_iter_next(NULL, &out, &out), SM_EINVAL);
    sm_iter_free(NULL);
    assert_int_equal(out, UNTOUCHED);
    assert_int_equal(ctx.calls, 0);

    sm_map *m = new_seeded_map(SEED);
    assert_int_equal(sm_compute(m, 1, NULL, &ctx, &out), SM_EINVAL);
    assert_int_equal(sm_get_many(m, NULL, 3, NULL, NULL), SM_EINVAL);
    /* No keys and no key array is an empty batch, not an error. */
    assert_int_equal(sm_get_many(m, NULL, 0, NULL, NULL), 0);
    assert_int_equal(sm_size(m), 0);
    assert_int_equal(out, UNTOUCHED);
    sm_destroy(m);
}

static void get_or_insert_inserts_once(void **state)
{
    (void)state;
    sm_map *m = new_seeded_map(SEED);
    uint64_t actual = UNTOUCHED;
    assert_int_equal(sm_get_or_insert(m, 5, 50, &actual), SM_OK);
    assert_int_equal(actual, 50);
    assert_holds(m, 5, 50);
    assert_int_equal(sm_size(m), 1);

    actual = UNTOUCHED;
    assert_int_equal(sm_get_or_insert(m, 5, 51, &actual), SM_EXISTS);
    assert_int_equal(actual, 50);
    assert_holds(m, 5, 50);
    assert_int_equal(sm_size(m), 1);

    assert_int_equal(sm_get_or_insert(m, UINT64_MAX, 0, NULL), SM_OK);
    assert_int_equal(sm_get_or_insert(m, UINT64_MAX, 1, NULL), SM_EXISTS);
    assert_holds(m, UINT64_MAX, 0);
    assert_int_equal(sm_delete(m, 5, NULL), SM_OK);
    assert_int_equal(sm_get_or_insert(m, 5, 52, &actual), SM_OK);
    assert_int_equal(actual, 52);
    assert_int_equal(sm_size(m), 2);
    assert_invariants(m, "get_or_insert");
    sm_destroy(m);
}

/* Every action on a present and on an absent key, and what fn was shown. */
static void compute_applies_each_action(void **state)
{
    (void)state;
    sm_map *m = new_seeded_map(SEED);
    uint64_t result = UNTOUCHED;
    struct compute_ctx ctx = { SM_COMPUTE_KEEP, 0, 0, 0, -1, UNTOUCHED };

    /* Absent: fn sees present 0 and *value 0. KEEP leaves it absent. */
    assert_int_equal(sm_compute(m, 9, decide, &ctx, &result), SM_NOT_FOUND);
    assert_true(ctx.calls >= 1);
    assert_int_equal(ctx.seen_key, 9);
    assert_int_equal(ctx.seen_present, 0);
    assert_int_equal(ctx.seen_value, 0);
    assert_int_equal(sm_get(m, 9, NULL), SM_NOT_FOUND);

    ctx.action = SM_COMPUTE_DELETE;
    assert_int_equal(sm_compute(m, 9, decide, &ctx, &result), SM_NOT_FOUND);
    assert_int_equal(sm_size(m), 0);

    /* SET on absent inserts. */
    ctx = (struct compute_ctx){ SM_COMPUTE_SET, 90, 0, 0, -1, UNTOUCHED };
    assert_int_equal(sm_compute(m, 9, decide, &ctx, &result), SM_OK);
    assert_int_equal(result, 90);
    assert_int_equal(ctx.seen_present, 0);
    assert_holds(m, 9, 90);
    assert_int_equal(sm_size(m), 1);

    /* Present: fn sees the value. SET updates, KEEP keeps, DELETE removes. */
    ctx = (struct compute_ctx){ SM_COMPUTE_SET, 91, 0, 0, -1, UNTOUCHED };
    result = UNTOUCHED;
    assert_int_equal(sm_compute(m, 9, decide, &ctx, &result), SM_OK);
    assert_int_equal(ctx.seen_present, 1);
    assert_int_equal(ctx.seen_value, 90);
    assert_int_equal(result, 91);
    assert_holds(m, 9, 91);
    assert_int_equal(sm_size(m), 1);

    ctx = (struct compute_ctx){ SM_COMPUTE_KEEP, 0, 0, 0, -1, UNTOUCHED };
    result = UNTOUCHED;
    assert_int_equal(sm_compute(m, 9, decide, &ctx, &result), SM_OK);
    assert_int_equal(ctx.seen_present, 1);
    assert_int_equal(ctx.seen_value, 91);
    assert_int_equal(result, 91);
    assert_holds(m, 9, 91);

    ctx = (struct compute_ctx){ SM_COMPUTE_DELETE, 0, 0, 0, -1, UNTOUCHED };
    assert_int_equal(sm_compute(m, 9, decide, &ctx, NULL), SM_NOT_FOUND);
    assert_int_equal(ctx.seen_present, 1);
    assert_int_equal(sm_get(m, 9, NULL), SM_NOT_FOUND);
    assert_int_equal(sm_size(m), 0);
    assert_invariants(m, "compute");

    /* A counter built from compute alone, across several grows. */
    ctx = (struct compute_ctx){ SM_COMPUTE_SET, 0, 0, 0, -1, UNTOUCHED };
    for (uint64_t round = 0; round < 3; round++) {
        for (uint64_t i = 0; i < 2000; i++) {
            ctx.set_to = round + 1;
            assert_int_equal(sm_compute(m, spread_key(i), decide, &ctx, &result), SM_OK);
            assert_int_equal(ctx.seen_present, round > 0);
            assert_int_equal(ctx.seen_value, round);
            assert_int_equal(result, round + 1);
        }
    }
    assert_int_equal(sm_size(m), 2000);
    assert_invariants(m, "compute counters");
    sm_destroy(m);
}

static void clear_removes_everything_and_shrinks(void **state)
{
    (void)state;
    sm_map *m = new_seeded_map(SEED);
    assert_int_equal(sm_clear(m), 0);

    const uint64_t n = 100000 / SM_TEST_SCALE;
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(sm_put(m, spread_key(i), i, NULL), SM_OK);
    }
    assert_int_equal(sm_reserve(m, 0), SM_OK);
    smi_reclaim(m);
    sm_stats_info full = stats_of(m);

    assert_int_equal(sm_clear(m), (int)n);
    assert_int_equal(sm_size(m), 0);
    for (uint64_t i = 0; i < n; i += 7) {
        assert_int_equal(sm_get(m, spread_key(i), NULL), SM_NOT_FOUND);
    }
    assert_invariants(m, "cleared");
    assert_int_equal(sm_reserve(m, 0), SM_OK);
    smi_reclaim(m);
    sm_stats_info empty = stats_of(m);
    printf("clear: capacity %" PRIu64 " -> %" PRIu64 ", bytes_held %" PRIu64 " -> %" PRIu64 "\n",
           full.capacity, empty.capacity, full.bytes_held, empty.bytes_held);
    /* "The map shrinks as it empties." */
    assert_true(empty.shrinks > full.shrinks);
    assert_true(empty.capacity < full.capacity / 4);
    assert_true(empty.bytes_held < full.bytes_held / 4);

    /* The cleared map is an ordinary map again. */
    assert_int_equal(sm_clear(m), 0);
    assert_int_equal(sm_insert(m, spread_key(1), 1, NULL), SM_OK);
    assert_int_equal(sm_insert(m, 0, 0, NULL), SM_OK);
    assert_int_equal(sm_clear(m), 2);
    assert_int_equal(sm_get(m, 0, NULL), SM_NOT_FOUND);
    assert_invariants(m, "cleared twice");
    sm_destroy(m);
}

/*
 * A batch mixing present, absent and repeated keys: the count, found[] and
 * values[] must match lookups one by one, and a missing key's value slot must
 * be left as it was.
 */
static void get_many_matches_single_lookups(void **state)
{
    (void)state;
    sm_map *m = new_seeded_map(SEED);
    enum { N = 1000 };
    static uint64_t keys[N];
    static uint64_t values[N];
    static uint8_t found[N];

    struct ref ref;
    ref_init(&ref);
    /* Even indexes present (spread_key(0) is key 0, put below); the batch also repeats keys. */
    for (uint64_t i = 2; i < 400; i += 2) {
        assert_int_equal(sm_put(m, spread_key(i), ~i, NULL), SM_OK);
        ref_set(&ref, spread_key(i), ~i);
    }
    assert_int_equal(sm_put(m, 0, 0, NULL), SM_OK);
    ref_set(&ref, 0, 0);
    for (size_t i = 0; i < N; i++) {
        keys[i] = i % 10 == 9 ? (i % 20 == 9 ? 0 : UINT64_MAX) : spread_key(i % 400);
    }
    for (int shape = 0; shape < 2; shape++) {
        int want = 0;
        memset(found, 0xee, sizeof found);
        for (size_t i = 0; i < N; i++) {
            values[i] = UNTOUCHED;
        }
        int rc = sm_get_many(m, keys, N, values, found);
        for (size_t i = 0; i < N; i++) {
            uint64_t v;
            bool present = ref_get(&ref, keys[i], &v);
            want += present;
            if (found[i] != present || values[i] != (present ? v : UNTOUCHED)) {
                fail_msg("shape %d, key %zu (0x%" PRIx64 "): found %u, value 0x%" PRIx64
                         "; the reference says %d, 0x%" PRIx64,
                         shape, i, found[i], keys[i], values[i], present, present ? v : UNTOUCHED);
            }
        }
        assert_int_equal(rc, want);
        /* The same batch again, in the middle of a grow this time. */
        uint64_t next = 1000;
        while (!stats_of(m).migrating && next < 1000000) {
            assert_int_equal(sm_put(m, spread_key(next), ~next, NULL), SM_OK);
            ref_set(&ref, spread_key(next), ~next);
            next++;
        }
        assert_true(stats_of(m).migrating);
    }
    /* Out-pointers may be NULL; the count alone still comes back. */
    int counted = sm_get_many(m, keys, N, NULL, NULL);
    memset(found, 0, sizeof found);
    assert_int_equal(sm_get_many(m, keys, N, NULL, found), counted);
    assert_int_equal(sm_get_many(m, keys, N, values, NULL), counted);
    assert_int_equal(sm_get_many(m, keys, 1, values, found), 1);
    assert_int_equal(values[0], 0);
    assert_invariants(m, "get_many");
    ref_free(&ref);
    sm_destroy(m);
}

/* What the resize observer saw. */
struct observed {
    sm_map *m;
    unsigned starts;
    unsigned finishes;
    unsigned larger;           /* starts towards more buckets */
    unsigned smaller;          /* starts towards fewer buckets */
    unsigned bad;              /* events that broke a rule below */
    unsigned lookups_failed;   /* sm_get from inside the observer that did not find key 0 */
    sm_resize_event last_start;
};

static void observe(const sm_resize_event *ev, void *ctx)
{
    struct observed *o = ctx;
    if (ev->old_buckets == 0 || ev->new_buckets == 0) {
        o->bad++;
    }
    if (ev->kind == SM_RESIZE_START) {
        o->starts++;
        o->larger += ev->new_buckets > ev->old_buckets;
        o->smaller += ev->new_buckets < ev->old_buckets;
        o->last_start = *ev;
    } else if (ev->kind == SM_RESIZE_FINISH) {
        o->finishes++;
        /* A finish reports the resize that started last and has not finished. */
        if (o->finishes != o->starts || ev->old_buckets != o->last_start.old_buckets ||
            ev->new_buckets != o->last_start.new_buckets) {
            o->bad++;
        }
    } else {
        o->bad++;
    }
    /* "It may call sm_get/sm_put/... on this map." */
    if (sm_get(o->m, 0, NULL) != SM_OK) {
        o->lookups_failed++;
    }
}

static void resize_observer_sees_every_resize(void **state)
{
    (void)state;
    struct observed seen = { 0 };
    sm_options opts = SM_OPTIONS_INIT;
    opts.seed = SEED;
    opts.on_resize = observe;
    opts.on_resize_ctx = &seen;
    sm_map *m = sm_new(&opts);
    assert_non_null(m);
    seen.m = m;
    assert_int_equal(sm_put(m, 0, 0, NULL), SM_OK);

    const uint64_t n = 50000 / SM_TEST_SCALE;
    for (uint64_t i = 1; i <= n; i++) {
        assert_int_equal(sm_put(m, spread_key(i), i, NULL), SM_OK);
    }
    assert_int_equal(sm_reserve(m, 0), SM_OK);
    sm_stats_info st = stats_of(m);
    assert_true(st.grows > 0);
    assert_int_equal(seen.starts, st.grows + st.shrinks + st.rehashes);
    assert_int_equal(seen.finishes, seen.starts);
    assert_int_equal(seen.larger, st.grows);
    assert_int_equal(seen.smaller, 0);
    struct observed grown = seen;
    uint64_t grows = st.grows;

    /* Deletes alone empty the map: they may shrink it or clean it, never enlarge it. */
    for (uint64_t i = 1; i <= n; i++) {
        assert_int_equal(sm_delete(m, spread_key(i), NULL), SM_OK);
    }
    assert_int_equal(sm_reserve(m, 0), SM_OK);
    st = stats_of(m);
    printf("observer: %u resizes while growing, %u larger and %u smaller while deleting "
           "(stats: %" PRIu64 " grows, %" PRIu64 " shrinks, %" PRIu64 " rehashes)\n",
           grown.starts, seen.larger - grown.larger, seen.smaller - grown.smaller, st.grows,
           st.shrinks, st.rehashes);
    assert_true(st.shrinks > 0);
    assert_int_equal(seen.smaller, st.shrinks);
    assert_int_equal(seen.starts, st.grows + st.shrinks + st.rehashes);
    assert_int_equal(seen.finishes, seen.starts);
    assert_int_equal(seen.bad, 0);
    if (st.grows != grows || seen.larger != grown.larger) {
        sm_destroy(m);
        fail_msg("deleting every entry grew the table: %" PRIu64 " grows counted, last resize "
                 "%" PRIu64 " -> %" PRIu64 " buckets", st.grows - grows,
                 seen.last_start.old_buckets, seen.last_start.new_buckets);
    }
    assert_int_equal(seen.lookups_failed, 0);
    assert_invariants(m, "observed");
    sm_destroy(m);
}

/*
 * An older caller's options end before on_resize: whatever lies past .size
 * (here a pointer that would crash if called) must not be used.
 */
static void observer_past_size_is_ignored(void **state)
{
    (void)state;
    sm_options opts;
    memset(&opts, 0xff, sizeof opts);
    opts.size = offsetof(sm_options, on_resize);
    opts.capacity = 0;
    opts.seed = SEED;
    opts.flags = 0;
    sm_map *m = sm_new(&opts);
    assert_non_null(m);
    for (uint64_t i = 0; i < 5000; i++) {
        assert_int_equal(sm_put(m, spread_key(i), i, NULL), SM_OK);
    }
    assert_true(stats_of(m).grows > 0);
    sm_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_arguments_are_einval),
        cmocka_unit_test(get_or_insert_inserts_once),
        cmocka_unit_test(compute_applies_each_action),
        cmocka_unit_test(clear_removes_everything_and_shrinks),
        cmocka_unit_test(get_many_matches_single_lookups),
        cmocka_unit_test(resize_observer_sees_every_resize),
        cmocka_unit_test(observer_past_size_is_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
