/*
 * test_iter.c — sm_iter_new / sm_iter_next / sm_iter_free seen from one
 * thread: bad arguments, every entry exactly once in maps of many sizes and
 * shapes, walks over half-migrated tables, walks during which the test itself
 * grows and shrinks the map between two calls, interleaved iterators, the end
 * of a walk, and allocation failures in the middle of one. G1..G4 are the
 * guarantees of steadymap.h.
 *
 * Everything here is single-threaded, so every walk has an exact expected
 * result: the reference map (../model/support.h) for a map that does not
 * change, and G1..G4 checked key by key for one that does.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../model/support.h"
#include "steadymap.h"
#include "testing.h"

/* An odd multiplier makes this a bijection: distinct, well-spread keys. */
static uint64_t spread_key(uint64_t i)
{
    return i * 0x9e3779b97f4a7c15u;
}

/*
 * The i-th key of the maps below: the two edge keys first, so that every map
 * of two or more entries holds both 0 and UINT64_MAX.
 */
static uint64_t key_at(uint64_t i)
{
    if (i == 0) {
        return 0;
    }
    if (i == 1) {
        return UINT64_MAX;
    }
    uint64_t k = spread_key(i);
    assert_true(k != 0 && k != UINT64_MAX);
    return k;
}

/* Distinct per key, and the edge values go with the edge keys. */
static uint64_t value_for(uint64_t key)
{
    return ~key;
}

static sm_map *new_map(uint64_t capacity, uint64_t seed)
{
    sm_options o = SM_OPTIONS_INIT;
    o.capacity = capacity;
    o.seed = seed;
    sm_map *m = sm_new(&o);
    assert_non_null(m);
    return m;
}

/* Inserts keys key_at(0 .. n) into both the map and the reference. */
static void fill(sm_map *m, struct ref *r, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = key_at(i);
        assert_int_equal(sm_insert(m, k, value_for(k), NULL), SM_OK);
        ref_set(r, k, value_for(k));
    }
}

/* ------------------------------------------------------------------------ */
/* What a walk returned, and checks of it                                    */

typedef struct pair {
    uint64_t key;
    uint64_t value;
} pair;

typedef struct walk {
    pair *pairs;
    size_t n;
    size_t cap;
} walk;

static void walk_add(walk *w, uint64_t key, uint64_t value)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 256;
        w->pairs = realloc(w->pairs, w->cap * sizeof *w->pairs);
        assert_non_null(w->pairs);
    }
    w->pairs[w->n].key = key;
    w->pairs[w->n].value = value;
    w->n++;
}

static void walk_free(walk *w)
{
    free(w->pairs);
    *w = (walk){ 0 };
}

/*
 * Walks the whole map with a new iterator. A walk of a map that does not
 * change can return at most `most` entries; more means it never ends.
 */
static walk walk_whole(sm_map *m, size_t most, const char *where)
{
    walk w = { 0 };
    sm_iter *it = sm_iter_new(m);
    assert_non_null(it);
    for (;;) {
        uint64_t k = 0, v = 0;
        int rc = sm_iter_next(it, &k, &v);
        if (rc == SM_NOT_FOUND) {
            break;
        }
        if (rc != SM_OK) {
            fail_msg("%s: sm_iter_next returned %s after %zu entries", where, sm_status_str(rc),
                     w.n);
        }
        if (w.n == most) {
            fail_msg("%s: the walk returned more than the %zu entries the map holds", where, most);
        }
        walk_add(&w, k, v);
    }
    sm_iter_free(it);
    return w;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The returned keys, sorted. */
static uint64_t *sorted_keys(const walk *w)
{
    uint64_t *keys = malloc((w->n + 1) * sizeof *keys);
    assert_non_null(keys);
    for (size_t i = 0; i < w->n; i++) {
        keys[i] = w->pairs[i].key;
    }
    qsort(keys, w->n, sizeof *keys, cmp_u64);
    return keys;
}

/* G2: fails if any key came twice. */
static void assert_no_key_twice(const walk *w, const char *where)
{
    uint64_t *keys = sorted_keys(w);
    for (size_t i = 1; i < w->n; i++) {
        if (keys[i] == keys[i - 1]) {
            uint64_t k = keys[i];
            free(keys);
            fail_msg("%s: key 0x%016" PRIx64 " was returned twice", where, k);
        }
    }
    free(keys);
}

/*
 * For a map that did not change during the walk: the walk returned exactly
 * the reference's entries. Every returned pair is in the reference, no key
 * came twice, and the counts agree, so nothing is missing either; a missing
 * key is looked for only to name it.
 */
static void assert_walk_is(const walk *w, const struct ref *r, const char *where)
{
    for (size_t i = 0; i < w->n; i++) {
        uint64_t want = 0;
        if (!ref_get(r, w->pairs[i].key, &want)) {
            fail_msg("%s: returned key 0x%016" PRIx64 ", which is not in the map", where,
                     w->pairs[i].key);
        }
        if (w->pairs[i].value != want) {
            fail_msg("%s: key 0x%016" PRIx64 " came with value 0x%016" PRIx64
                     ", the map holds 0x%016" PRIx64, where, w->pairs[i].key, w->pairs[i].value,
                     want);
        }
    }
    assert_no_key_twice(w, where);
    if (w->n != r->count) {
        uint64_t *keys = sorted_keys(w);
        uint64_t missing = 0;
        for (uint64_t pos = 0; pos < r->count; pos++) {
            if (!bsearch(&r->keys[pos], keys, w->n, sizeof *keys, cmp_u64)) {
                missing = r->keys[pos];
                break;
            }
        }
        free(keys);
        fail_msg("%s: the walk returned %zu of %" PRIu64 " entries; missing e.g. 0x%016" PRIx64,
                 where, w->n, r->count, missing);
    }
}

static void assert_whole_walk_is(sm_map *m, const struct ref *r, const char *where)
{
    walk w = walk_whole(m, r->count, where);
    assert_walk_is(&w, r, where);
    walk_free(&w);
}

/* ------------------------------------------------------------------------ */
/* Arguments and the ends of a walk                                          */

static void null_arguments(void **state)
{
    (void)state;
    assert_null(sm_iter_new(NULL));
    uint64_t k = 7, v = 9;
    assert_int_equal(sm_iter_next(NULL, &k, &v), SM_EINVAL);
    assert_int_equal(sm_iter_next(NULL, NULL, NULL), SM_EINVAL);
    /* M2: an error changed nothing, the caller's words included. */
    assert_int_equal(k, 7);
    assert_int_equal(v, 9);
    sm_iter_free(NULL);
}

/* An empty map ends the walk at the first call, whatever its table looks like. */
static void empty_maps_end_at_once(void **state)
{
    (void)state;
    struct ref r;
    ref_init(&r);

    sm_map *fresh = new_map(0, 0);
    assert_whole_walk_is(fresh, &r, "new map");
    sm_destroy(fresh);

    /* Thousands of empty buckets to pass over. */
    sm_map *reserved = new_map(100000 / SM_TEST_SCALE, 0);
    assert_whole_walk_is(reserved, &r, "new map with a large capacity");
    sm_destroy(reserved);

    /* Emptied by deletes: tombstones, and a shrink under way or done. */
    sm_map *emptied = new_map(0, 0);
    fill(emptied, &r, 5000);
    for (uint64_t i = 0; i < 5000; i++) {
        assert_int_equal(sm_delete(emptied, key_at(i), NULL), SM_OK);
        ref_delete(&r, key_at(i));
    }
    assert_whole_walk_is(emptied, &r, "map emptied by deletes");
    assert_int_equal(sm_reserve(emptied, 0), SM_OK);
    assert_whole_walk_is(emptied, &r, "map emptied by deletes, resizes finished");
    sm_destroy(emptied);
    ref_free(&r);
}

/* B1: NULL out-pointers are not written, and the walk goes on as usual. */
static void out_pointers_may_be_null(void **state)
{
    (void)state;
    const uint64_t n = 100;
    sm_map *m = new_map(0, 0);
    struct ref r;
    ref_init(&r);
    fill(m, &r, n);

    sm_iter *it = sm_iter_new(m);
    assert_non_null(it);
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(sm_iter_next(it, NULL, NULL), SM_OK);
    }
    assert_int_equal(sm_iter_next(it, NULL, NULL), SM_NOT_FOUND);
    sm_iter_free(it);

    /* Keys only: the key set is the map's. */
    walk keys = { 0 };
    it = sm_iter_new(m);
    assert_non_null(it);
    uint64_t k;
    while (sm_iter_next(it, &k, NULL) == SM_OK) {
        walk_add(&keys, k, value_for(k));
        assert_true(keys.n <= n);
    }
    sm_iter_free(it);
    assert_walk_is(&keys, &r, "walk with value == NULL");
    walk_free(&keys);

    /* Values only: the values are distinct, so their multiset says it all. */
    uint64_t *want = malloc(n * sizeof *want);
    uint64_t *got = malloc(n * sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    for (uint64_t i = 0; i < n; i++) {
        want[i] = value_for(key_at(i));
    }
    size_t ngot = 0;
    it = sm_iter_new(m);
    assert_non_null(it);
    uint64_t v;
    while (sm_iter_next(it, NULL, &v) == SM_OK) {
        assert_true(ngot < n);
        got[ngot++] = v;
    }
    sm_iter_free(it);
    assert_int_equal(ngot, n);
    qsort(want, n, sizeof *want, cmp_u64);
    qsort(got, n, sizeof *got, cmp_u64);
    assert_memory_equal(want, got, n * sizeof *want);
    free(want);
    free(got);
    ref_free(&r);
    sm_destroy(m);
}

/* The end is sticky: not even entries inserted afterwards reopen a walk. */
static void after_the_end_stays_not_found(void **state)
{
    (void)state;
    const uint64_t sizes[] = { 0, 10 };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        sm_map *m = new_map(0, 0);
        struct ref r;
        ref_init(&r);
        fill(m, &r, sizes[s]);
        sm_iter *it = sm_iter_new(m);
        assert_non_null(it);
        uint64_t n = 0, k, v;
        while (sm_iter_next(it, &k, &v) == SM_OK) {
            assert_true(++n <= sizes[s]);
        }
        assert_int_equal(n, sizes[s]);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(sm_iter_next(it, &k, &v), SM_NOT_FOUND);
        }
        /* Enough new keys to grow the table a few times. */
        for (uint64_t i = 1000; i < 1100; i++) {
            assert_int_equal(sm_insert(m, spread_key(i), i, NULL), SM_OK);
        }
        assert_true(stats_of(m).grows > 0);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(sm_iter_next(it, &k, &v), SM_NOT_FOUND);
        }
        sm_iter_free(it);
        ref_free(&r);
        sm_destroy(m);
    }
}

/* ------------------------------------------------------------------------ */
/* Maps that do not change during the walk                                   */

static void every_entry_once_at_every_size(void **state)
{
    (void)state;
    const uint64_t sizes[] = { 0, 1, 2, 3, 100, 10000, 200000 / SM_TEST_SCALE };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const uint64_t n = sizes[s];
        /* Grown one insert at a time, and created four times too large. */
        for (int sparse = 0; sparse < 2; sparse++) {
            char where[96];
            snprintf(where, sizeof where, "%s map of %" PRIu64 " entries",
                     sparse ? "sparse" : "grown", n);
            sm_map *m = new_map(sparse ? 4 * n : 0, 0);
            struct ref r;
            ref_init(&r);
            fill(m, &r, n);
            assert_whole_walk_is(m, &r, where);
            ref_free(&r);
            sm_destroy(m);
        }
    }
    /* Each edge key alone. */
    const uint64_t edges[] = { 0, UINT64_MAX };
    for (size_t e = 0; e < 2; e++) {
        sm_map *m = new_map(0, 0);
        struct ref r;
        ref_init(&r);
        assert_int_equal(sm_insert(m, edges[e], value_for(edges[e]), NULL), SM_OK);
        ref_set(&r, edges[e], value_for(edges[e]));
        assert_whole_walk_is(m, &r, edges[e] ? "only key UINT64_MAX" : "only key 0");
        ref_free(&r);
        sm_destroy(m);
    }
}

/* Tombstones left by deletes, and the rehashes that clean them, hide nothing
 * and bring nothing back. */
static void walks_after_deletes(void **state)
{
    (void)state;
    const uint64_t n = 20000 / SM_TEST_SCALE;
    sm_map *m = new_map(0, 0);
    struct ref r;
    ref_init(&r);
    fill(m, &r, n);
    /* Every third key goes: tombstones in every part of the table. */
    for (uint64_t i = 0; i < n; i += 3) {
        assert_int_equal(sm_delete(m, key_at(i), NULL), SM_OK);
        ref_delete(&r, key_at(i));
    }
    assert_whole_walk_is(m, &r, "after deleting every third key");

    /* Churn at a constant size: delete the oldest key, insert a new one. */
    const sm_stats_info before = stats_of(m);
    uint64_t oldest = 1, next = n;
    for (int checkpoint = 0; checkpoint < 8; checkpoint++) {
        for (uint64_t i = 0; i < n / 2; i++, next++) {
            uint64_t ignored;
            while (!ref_get(&r, key_at(oldest), &ignored)) {
                oldest++;
            }
            assert_int_equal(sm_delete(m, key_at(oldest), NULL), SM_OK);
            ref_delete(&r, key_at(oldest));
            uint64_t k = key_at(next);
            assert_int_equal(sm_insert(m, k, value_for(k), NULL), SM_OK);
            ref_set(&r, k, value_for(k));
        }
        assert_whole_walk_is(m, &r, "during churn at a constant size");
    }
    /* The churn filled the table with tombstones often enough to clean it. */
    const sm_stats_info after = stats_of(m);
    assert_true(after.rehashes + after.grows + after.shrinks >
                before.rehashes + before.grows + before.shrinks);
    assert_invariants(m, "after churn");
    ref_free(&r);
    sm_destroy(m);
}

/*
 * A walk over a table caught half-way through a grow, then through a shrink
 * (each resize stopped where the last write left it: the walk itself writes
 * nothing, so the table stays half-migrated during it), then after the
 * shrinks finished.
 */
static void walks_over_half_migrated_tables(void **state)
{
    (void)state;
    const uint64_t n = 100000 / SM_TEST_SCALE;
    sm_map *m = new_map(0, 0);
    struct ref r;
    ref_init(&r);
    uint64_t i = 0;
    bool seen = false;
    while (i < n && !seen) {
        uint64_t k = key_at(i++);
        assert_int_equal(sm_insert(m, k, value_for(k), NULL), SM_OK);
        ref_set(&r, k, value_for(k));
        sm_stats_info st = stats_of(m);
        seen = st.migrating && st.buckets_total >= 1024 && st.buckets_migrated < st.buckets_total;
    }
    if (!seen) {
        fail_msg("no grow of a table of 1024 or more buckets was caught in progress");
    }
    assert_whole_walk_is(m, &r, "half-way through a grow");
    while (i < n) {
        uint64_t k = key_at(i++);
        assert_int_equal(sm_insert(m, k, value_for(k), NULL), SM_OK);
        ref_set(&r, k, value_for(k));
    }

    /* Deletes down to a few hundred keys start shrinks. */
    const uint64_t keep = 300;
    uint64_t shrinks_seen = 0;
    const uint64_t shrinks_before = stats_of(m).shrinks;
    for (uint64_t j = 0; j + keep < n; j++) {
        assert_int_equal(sm_delete(m, key_at(j), NULL), SM_OK);
        ref_delete(&r, key_at(j));
        sm_stats_info st = stats_of(m);
        if (st.migrating && st.shrinks > shrinks_before + shrinks_seen &&
            st.buckets_migrated < st.buckets_total) {
            /* The first moment of each new shrink. */
            shrinks_seen = st.shrinks - shrinks_before;
            assert_whole_walk_is(m, &r, "half-way through a shrink");
        }
    }
    if (shrinks_seen == 0) {
        fail_msg("deleting %" PRIu64 " of %" PRIu64 " keys caught no shrink in progress",
                 n - keep, n);
    }
    assert_int_equal(sm_reserve(m, 0), SM_OK);
    assert_int_equal(stats_of(m).migrating, 0);
    assert_whole_walk_is(m, &r, "after the shrinks finished");
    assert_invariants(m, "after the shrinks finished");
    ref_free(&r);
    sm_destroy(m);
}

/* Any number of iterators may walk one map; each sees all of it once. */
static void interleaved_iterators(void **state)
{
    (void)state;
    struct rng rng = { test_seed("interleaved_iterators") };
    const uint64_t n = 5000;
    sm_map *m = new_map(0, rng_next(&rng) | 1);
    struct ref r;
    ref_init(&r);
    fill(m, &r, n);

    enum { ITERS = 3 };
    sm_iter *its[ITERS];
    walk got[ITERS] = { { 0 } };
    bool done[ITERS] = { false };
    for (int j = 0; j < ITERS; j++) {
        its[j] = sm_iter_new(m);
        assert_non_null(its[j]);
    }
    /* The third iterator starts only when the first has ended. */
    while (!done[0] || !done[1] || !done[2]) {
        int j = (int)rng_below(&rng, ITERS);
        if (done[j] || (j == 2 && !done[0])) {
            continue;
        }
        uint64_t k, v;
        int rc = sm_iter_next(its[j], &k, &v);
        if (rc == SM_NOT_FOUND) {
            done[j] = true;
            continue;
        }
        assert_int_equal(rc, SM_OK);
        assert_true(got[j].n < n);
        walk_add(&got[j], k, v);
    }
    for (int j = 0; j < ITERS; j++) {
        char where[48];
        snprintf(where, sizeof where, "interleaved iterator %d", j);
        assert_walk_is(&got[j], &r, where);
        sm_iter_free(its[j]);
        walk_free(&got[j]);
    }
    ref_free(&r);
    sm_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* Resizes between two calls of one walk                                     */

/*
 * Three kinds of keys, told apart by their top byte:
 *   stable    0, UINT64_MAX and 0x01.. : present with a fixed value throughout
 *   changing  0x02.. : present throughout, value replaced between calls
 *   churn     0x03.. : inserted in a batch, then deleted, over and over, so
 *             that the table grows and shrinks while the walk goes on; G4
 *             lets a walk return one inserted or deleted during it, but one
 *             absent since before the walk began has no value during it (G3)
 * A changing key's value is (version << 32 | check(key)), so a value can be
 * traced to the one write that stored it.
 */
#define STABLE_CLASS UINT64_C(0x01)
#define CHANGING_CLASS UINT64_C(0x02)
#define CHURN_CLASS UINT64_C(0x03)
#define CLASS_OF(key) ((key) >> 56)
#define INDEX_OF(key) ((key) & ((UINT64_C(1) << 56) - 1))

static uint64_t stable_key(uint64_t i, uint64_t n)
{
    return i == 0 ? 0 : i == n - 1 ? UINT64_MAX : STABLE_CLASS << 56 | i;
}

/* For keys 0 and UINT64_MAX the index of stable_key, else -1. */
static int64_t stable_index(uint64_t key, uint64_t n)
{
    if (key == 0) {
        return 0;
    }
    if (key == UINT64_MAX) {
        return (int64_t)n - 1;
    }
    if (CLASS_OF(key) == STABLE_CLASS && INDEX_OF(key) > 0 && INDEX_OF(key) < n - 1) {
        return (int64_t)INDEX_OF(key);
    }
    return -1;
}

static uint32_t check_of(uint64_t key)
{
    return (uint32_t)((key * 0xd6e8feb86659fd93u) >> 32);
}

static uint64_t versioned(uint64_t key, uint64_t version)
{
    return version << 32 | check_of(key);
}

typedef struct walker {
    sm_iter *it;
    walk got;
    uint64_t *start_version;  /* per changing key, when the walk began */
    uint64_t start_write;     /* churn writes made before the walk began */
    sm_stats_info start;
    bool done;
} walker;

/*
 * G3 for a churn key the walk has just returned: it must have been present at
 * some moment since the walk began. Churn writes are numbered from 1; per key,
 * inserted and deleted are the numbers of its last insert and delete (0:
 * none). It is absent since the walk began if it was never inserted, or its
 * last delete followed its last insert and came before the walk.
 */
static void check_churn_returned(const walker *w, int walk, int round, uint64_t key,
                                 uint64_t inserted, uint64_t deleted)
{
    if (inserted == 0 || (inserted < deleted && deleted <= w->start_write)) {
        fail_msg("walk %d of round %d: churn key 0x%016" PRIx64 " returned, but it was absent "
                 "since churn write %" PRIu64 ", before the walk began after write %" PRIu64
                 " (last insert: write %" PRIu64 ") (G3)",
                 walk, round, key, deleted, w->start_write, inserted);
    }
}

static void resizes_between_calls(void **state)
{
    (void)state;
    struct rng rng = { test_seed("resizes_between_calls") };
    const uint64_t n_stable = 1000 / SM_TEST_SCALE + 2;
    const uint64_t n_changing = 64;
    /* A batch eight times the steady contents: three or more grows each
     * cycle, and the shrinks back. */
    const uint64_t batch = 8 * (n_stable + n_changing);
    sm_map *m = new_map(0, rng_next(&rng) | 1);
    for (uint64_t i = 0; i < n_stable; i++) {
        uint64_t k = stable_key(i, n_stable);
        assert_int_equal(sm_insert(m, k, value_for(k), NULL), SM_OK);
    }
    uint64_t *version = calloc(n_changing, sizeof *version);
    assert_non_null(version);
    for (uint64_t c = 0; c < n_changing; c++) {
        uint64_t k = CHANGING_CLASS << 56 | c;
        assert_int_equal(sm_insert(m, k, versioned(k, 0), NULL), SM_OK);
    }
    uint64_t churn_live = 0;   /* churn keys 0 .. churn_live are present */
    bool churn_growing = true;
    uint64_t churn_writes = 0;
    /* Per churn key, the number of its last insert and delete (see
     * check_churn_returned). */
    uint64_t *inserted = calloc(batch, sizeof *inserted);
    uint64_t *deleted = calloc(batch, sizeof *deleted);
    assert_non_null(inserted);
    assert_non_null(deleted);

    enum { WALKS = 4, WALKERS = 2 };
    for (int round = 0; round < WALKS; round++) {
        /* Two walks at once: the second calls half as often, so it spans
         * more resizes and sees the table in other states. */
        walker w[WALKERS];
        for (int j = 0; j < WALKERS; j++) {
            w[j] = (walker){ .it = sm_iter_new(m), .start_write = churn_writes,
                             .start = stats_of(m) };
            assert_non_null(w[j].it);
            w[j].start_version = malloc(n_changing * sizeof *version);
            assert_non_null(w[j].start_version);
            memcpy(w[j].start_version, version, n_changing * sizeof *version);
        }
        uint64_t calls = 0;
        while (!w[0].done || !w[1].done) {
            for (int j = 0; j < WALKERS; j++) {
                if (w[j].done || (j == 1 && rng_percent(&rng, 50))) {
                    continue;
                }
                uint64_t k, v;
                int rc = sm_iter_next(w[j].it, &k, &v);
                if (rc == SM_NOT_FOUND) {
                    w[j].done = true;
                    continue;
                }
                assert_int_equal(rc, SM_OK);
                walk_add(&w[j].got, k, v);
                if (CLASS_OF(k) == CHURN_CLASS && INDEX_OF(k) < batch) {
                    check_churn_returned(&w[j], j, round, k, inserted[INDEX_OF(k)],
                                         deleted[INDEX_OF(k)]);
                }
                /* Every present key at most once, every churn key at most
                 * once more than that (G2 and G4). */
                assert_true(w[j].got.n <= n_stable + n_changing + batch);
            }
            calls++;
            /* Between calls: 16-64 churn writes and one replace. */
            for (uint64_t op = 16 + rng_below(&rng, 49); op > 0; op--) {
                uint64_t k;
                churn_writes++;
                if (churn_growing) {
                    inserted[churn_live] = churn_writes;
                    k = CHURN_CLASS << 56 | churn_live++;
                    assert_int_equal(sm_insert(m, k, value_for(k), NULL), SM_OK);
                    churn_growing = churn_live < batch;
                } else {
                    deleted[--churn_live] = churn_writes;
                    k = CHURN_CLASS << 56 | churn_live;
                    assert_int_equal(sm_delete(m, k, NULL), SM_OK);
                    churn_growing = churn_live == 0;
                }
            }
            uint64_t c = rng_below(&rng, n_changing);
            uint64_t k = CHANGING_CLASS << 56 | c;
            uint64_t old = 0;
            assert_int_equal(sm_put(m, k, versioned(k, version[c] + 1), &old), SM_REPLACED);
            assert_int_equal(old, versioned(k, version[c]));
            version[c]++;
        }
        for (int j = 0; j < WALKERS; j++) {
            char where[64];
            snprintf(where, sizeof where, "walk %d of round %d", j, round);
            const walk *g = &w[j].got;
            assert_no_key_twice(g, where);
            uint64_t stable_seen = 0, changing_seen = 0;
            for (size_t p = 0; p < g->n; p++) {
                uint64_t k = g->pairs[p].key, v = g->pairs[p].value;
                int64_t s = stable_index(k, n_stable);
                if (s >= 0) {
                    stable_seen++;
                    if (v != value_for(k)) {
                        fail_msg("%s: stable key 0x%016" PRIx64 " came with 0x%016" PRIx64,
                                 where, k, v);
                    }
                } else if (CLASS_OF(k) == CHANGING_CLASS && INDEX_OF(k) < n_changing) {
                    changing_seen++;
                    /* G3: a value the key had during the walk. */
                    uint64_t c = INDEX_OF(k), ver = v >> 32;
                    if ((uint32_t)v != check_of(k) || ver < w[j].start_version[c] ||
                        ver > version[c]) {
                        fail_msg("%s: changing key 0x%016" PRIx64 " came with 0x%016" PRIx64
                                 "; during the walk it held versions %" PRIu64 "..%" PRIu64,
                                 where, k, v, w[j].start_version[c], version[c]);
                    }
                } else if (CLASS_OF(k) == CHURN_CLASS && INDEX_OF(k) < batch) {
                    if (v != value_for(k)) {
                        fail_msg("%s: churn key 0x%016" PRIx64 " came with 0x%016" PRIx64,
                                 where, k, v);
                    }
                } else {
                    fail_msg("%s: key 0x%016" PRIx64 " was never inserted", where, k);
                }
            }
            /* G1: no key twice (above) and all of them there means each once. */
            assert_int_equal(stable_seen, n_stable);
            assert_int_equal(changing_seen, n_changing);
            /* The walk must have overlapped both kinds of resize, or it
             * tested nothing beyond the static walks above. */
            sm_stats_info end = stats_of(m);
            if (end.grows == w[j].start.grows || end.shrinks == w[j].start.shrinks) {
                fail_msg("%s: %" PRIu64 " grows and %" PRIu64 " shrinks during %" PRIu64
                         " calls: the walk did not overlap both kinds of resize",
                         where, end.grows - w[j].start.grows, end.shrinks - w[j].start.shrinks,
                         calls);
            }
            sm_iter_free(w[j].it);
            walk_free(&w[j].got);
            free(w[j].start_version);
        }
        assert_invariants(m, "between walks");
    }
    free(inserted);
    free(deleted);
    free(version);
    sm_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* Allocation failures                                                       */

/*
 * A map in which one part of a walk holds a few hundred entries while others
 * hold a few, so the iterator needs memory in the middle of a walk and not
 * only before its first entry. Black-box: walks come in hash order (the
 * header says so), and two maps with the same seed hash alike, so a run of
 * consecutive keys in the walk of a large map lies in a narrow hash range;
 * in a small map with the same seed those keys crowd one or two home
 * buckets. The caller checks that the walk did allocate mid-way.
 */
static sm_map *clustered_map(struct ref *r, uint64_t seed)
{
    /* A run of 300 of 100000 keys spans about 1/333 of the hashes; the small
     * map of some 340 keys has at most 300 homes, each wider than that. */
    const uint64_t big = 100000;
    const uint64_t run = 300;
    const uint64_t spacing = big / 40;  /* one background key per this many */
    sm_map *large = new_map(big, seed);
    for (uint64_t i = 0; i < big; i++) {
        assert_int_equal(sm_insert(large, spread_key(i + 1), 0, NULL), SM_OK);
    }
    sm_map *m = new_map(0, seed);
    sm_iter *it = sm_iter_new(large);
    assert_non_null(it);
    uint64_t k;
    for (uint64_t pos = 0; sm_iter_next(it, &k, NULL) == SM_OK; pos++) {
        if ((pos >= big / 2 && pos < big / 2 + run) || pos % spacing == 0) {
            assert_int_equal(sm_insert(m, k, value_for(k), NULL), SM_OK);
            ref_set(r, k, value_for(k));
        }
    }
    sm_iter_free(it);
    sm_destroy(large);
    return m;
}

/*
 * SM_ENOMEM from sm_iter_next leaves the walk where it was: repeating the call
 * goes on without losing or repeating an entry. Every allocation a clean walk
 * makes is failed once, in turn.
 */
static void allocation_failure_mid_walk(void **state)
{
    (void)state;
    struct ref r;
    ref_init(&r);
    sm_map *m = clustered_map(&r, test_seed("allocation_failure_mid_walk") | 1);

    /* A clean walk: how many allocations, and did one come mid-way? */
    const uint64_t at_start = smi_allocations();
    sm_iter *it = sm_iter_new(m);
    assert_non_null(it);
    uint64_t returned = 0, allocated_mid_walk = 0, k, v;
    for (;;) {
        uint64_t before = smi_allocations();
        int rc = sm_iter_next(it, &k, &v);
        if (smi_allocations() != before && returned > 0) {
            allocated_mid_walk++;
        }
        if (rc == SM_NOT_FOUND) {
            break;
        }
        assert_int_equal(rc, SM_OK);
        returned++;
    }
    sm_iter_free(it);
    const uint64_t allocations = smi_allocations() - at_start;
    assert_int_equal(returned, r.count);
    if (allocated_mid_walk == 0) {
        fail_msg("a walk of %" PRIu64 " entries allocated only before its first entry: "
                 "the failures below would not interrupt a walk in the middle", r.count);
    }

    uint64_t failed_mid_walk = 0;
    for (uint64_t nth = 1; nth <= allocations; nth++) {
        char where[64];
        snprintf(where, sizeof where, "allocation %" PRIu64 " of the walk failed", nth);
        unsigned failures = 0;
        smi_fail_allocation_at(nth);
        it = sm_iter_new(m);
        if (it == NULL) {
            failures++;
            it = sm_iter_new(m);
            assert_non_null(it);
        }
        walk w = { 0 };
        for (;;) {
            int rc = sm_iter_next(it, &k, &v);
            if (rc == SM_ENOMEM) {
                failures++;
                failed_mid_walk += w.n > 0;
                assert_true(failures <= 1);
                continue;  /* the walk did not advance: repeat the call */
            }
            if (rc == SM_NOT_FOUND) {
                break;
            }
            assert_int_equal(rc, SM_OK);
            assert_true(w.n < r.count);
            walk_add(&w, k, v);
        }
        smi_fail_allocation_at(0);
        sm_iter_free(it);
        if (failures != 1) {
            fail_msg("%s, but the walk reported %u failures", where, failures);
        }
        assert_walk_is(&w, &r, where);
        walk_free(&w);
    }
    assert_true(failed_mid_walk > 0);
    ref_free(&r);
    sm_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_arguments),
        cmocka_unit_test(empty_maps_end_at_once),
        cmocka_unit_test(out_pointers_may_be_null),
        cmocka_unit_test(after_the_end_stays_not_found),
        cmocka_unit_test(every_entry_once_at_every_size),
        cmocka_unit_test(walks_after_deletes),
        cmocka_unit_test(walks_over_half_migrated_tables),
        cmocka_unit_test(interleaved_iterators),
        cmocka_unit_test(resizes_between_calls),
        cmocka_unit_test(allocation_failure_mid_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
