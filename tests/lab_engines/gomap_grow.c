/*
 * gomap_grow.c — the Go mechanisms of gomap.c seen from inside: a doubling
 * grow allocates at once and then evacuates a few buckets per write, with
 * both arrays live in between; a same-size grow fires when overflow buckets
 * pile up under key churn; contents stay right throughout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine_test.h"
#include "gomap.h"

struct events {
    long starts, finishes;
    uint64_t old_n, new_n;
};

static void on_event(lab_event_kind kind, uint64_t old_buckets, uint64_t new_buckets, void *arg)
{
    struct events *ev = arg;
    if (kind == LAB_EVENT_RESIZE_START)
        ev->starts++;
    else
        ev->finishes++;
    ev->old_n = old_buckets;
    ev->new_n = new_buckets;
}

static int count_visit(uint64_t key, uint64_t value, void *arg)
{
    long *bad = arg;
    if (value != ~key)
        ++*bad;
    return 0;
}

static void check_all(const gomap *m, uint64_t first, uint64_t end)
{
    for (uint64_t k = first; k < end; k++) {
        uint64_t v = 0;
        assert_int_equal(gomap_get(m, k * ET_MUL, &v), 1);
        assert_true(v == ~(k * ET_MUL));
    }
    assert_int_equal(gomap_len(m), end - first);
    long bad = 0;
    int stopped;
    assert_int_equal(gomap_iterate(m, count_visit, &bad, &stopped), (long)(end - first));
    assert_int_equal(bad, 0);
    assert_int_equal(stopped, 0);
}

/* Insert until a grow starts, then watch it proceed write by write. */
static void test_doubling_grow_is_incremental(void **state)
{
    (void)state;
    gomap *m = gomap_new(0, 12345);
    struct events ev = { 0, 0, 0, 0 };
    gomap_set_event_hook(m, on_event, &ev);
    uint64_t next = 0;
    gomap_debug_info d;

    /* Grows up to 2^9 buckets pass by; the one that starts at 2^9 is watched. */
    for (;;) {
        gomap_put(m, next * ET_MUL, ~(next * ET_MUL));
        next++;
        gomap_debug(m, &d);
        if (d.growing && d.B == 10)
            break;
        assert_true(next < 100000);
    }
    assert_int_equal(ev.starts, 10);
    assert_int_equal(ev.finishes, 9);
    assert_int_equal(ev.old_n, 512);
    assert_int_equal(ev.new_n, 1024);
    /* Go's threshold: more than 6.5 entries per bucket on average. */
    assert_int_equal(next, 13 * 512 / 2 + 1);
    assert_non_null(d.oldbuckets);
    assert_int_equal(d.noldbuckets, 512);
    assert_int_equal(d.same_size, 0);
    /* The write that started the grow evacuated its own bucket and one more. */
    assert_true(d.nevacuate <= 2);
    check_all(m, 0, next);

    /* Every write moves at most two old buckets, so the grow spans at least
     * 256 writes; deletes do evacuation work too. */
    uint64_t writes = 0, first_live = 0;
    const void *old = d.oldbuckets;
    while (d.growing) {
        if (writes % 3 == 2) {
            assert_int_equal(gomap_del(m, first_live * ET_MUL), 1);
            first_live++;
        } else {
            gomap_put(m, next * ET_MUL, ~(next * ET_MUL));
            next++;
        }
        writes++;
        gomap_debug(m, &d);
        if (d.growing) {
            assert_ptr_equal(d.oldbuckets, old);
            assert_true(d.nevacuate < 512);
        }
        if (writes % 16 == 0)
            check_all(m, first_live, next);
    }
    assert_true(writes >= 256);
    assert_int_equal(ev.finishes, 10);
    assert_int_equal(d.B, 10);
    assert_null(d.oldbuckets);
    check_all(m, first_live, next);
    gomap_free(m);
}

/* Keys whose hash falls in one bucket of a 2^B map seeded with seed. */
static uint64_t key_for_bucket(uint64_t *counter, uint64_t seed, unsigned B, uint64_t bucket)
{
    for (;;) {
        uint64_t k = et_next(counter);
        if ((gomap_hash(k, seed) & (((uint64_t)1 << B) - 1)) == bucket)
            return k;
    }
}

/* A queue-like workload whose keys cluster: each round fills one bucket far
 * past 8 entries and deletes them again. Nothing is ever near the load
 * factor, yet the overflow buckets left behind reach 2^B and Go's
 * tooManyOverflowBuckets rule rebuilds the table at the same size. */
static void test_churn_triggers_same_size_grow(void **state)
{
    (void)state;
    uint64_t rng = et_seed("gomap same-size grow");
    gomap *m = gomap_new(1000, et_next(&rng));
    struct events ev = { 0, 0, 0, 0 };
    gomap_set_event_hook(m, on_event, &ev);
    gomap_debug_info d;
    gomap_debug(m, &d);
    const unsigned B = d.B;
    assert_int_equal(B, 8);

    /* Keys that stay, so the map never empties (which would re-seed it). */
    enum { BASE = 200, ROUND = 64 };
    uint64_t base[BASE], round_keys[ROUND];
    for (int i = 0; i < BASE; i++) {
        base[i] = et_next(&rng);
        gomap_put(m, base[i], ~base[i]);
    }
    uint64_t counter = et_next(&rng);
    int saw_grow = 0;
    for (uint64_t round = 0; round < 4 * ((uint64_t)1 << B) / ROUND * 8 && !saw_grow; round++) {
        gomap_debug(m, &d);
        for (int i = 0; i < ROUND; i++) {
            round_keys[i] = key_for_bucket(&counter, d.seed, B, round % ((uint64_t)1 << B));
            gomap_put(m, round_keys[i], round);
        }
        gomap_debug(m, &d);
        saw_grow = d.same_size_grows > 0;
        for (int i = 0; i < ROUND; i++) {
            uint64_t v = 0;
            assert_int_equal(gomap_get(m, round_keys[i], &v), 1);
            assert_true(v == round);
        }
        for (int i = 0; i < ROUND; i++)
            assert_int_equal(gomap_del(m, round_keys[i]), 1);
        for (int i = 0; i < BASE; i++) {
            uint64_t v = 0;
            assert_int_equal(gomap_get(m, base[i], &v), 1);
            assert_true(v == ~base[i]);
        }
        assert_int_equal(gomap_len(m), BASE);
    }
    assert_true(saw_grow);
    gomap_debug(m, &d);
    assert_int_equal(d.B, B);
    assert_int_equal(d.grows, 0);
    assert_int_equal(d.same_size_grows, 1);
    assert_int_equal(ev.starts, 1);
    assert_int_equal(ev.old_n, (uint64_t)1 << B);
    assert_int_equal(ev.new_n, (uint64_t)1 << B);

    /* Finish the grow with writes that keep the map's contents. */
    while (d.growing) {
        gomap_put(m, base[0], ~base[0]);
        gomap_debug(m, &d);
    }
    assert_int_equal(ev.finishes, 1);
    assert_true(d.noverflow < ((uint64_t)1 << B) / 4);
    for (int i = 0; i < BASE; i++) {
        uint64_t v = 0;
        assert_int_equal(gomap_get(m, base[i], &v), 1);
        assert_true(v == ~base[i]);
    }
    gomap_free(m);
}

/* Go's makemap sizes for the hint; a zero hint allocates on first write. */
static void test_hint_and_empty_map(void **state)
{
    (void)state;
    gomap_debug_info d;
    gomap *m = gomap_new(0, 1);
    uint64_t v;
    assert_int_equal(gomap_get(m, 0, &v), 0);
    assert_int_equal(gomap_del(m, 0), 0);
    int stopped;
    assert_int_equal(gomap_iterate(m, count_visit, NULL, &stopped), 0);
    gomap_debug(m, &d);
    assert_int_equal(d.B, 0);
    assert_int_equal(gomap_put(m, 0, 7), 1);
    assert_int_equal(gomap_put(m, 0, 8), 0);
    assert_int_equal(gomap_get(m, 0, &v), 1);
    assert_true(v == 8);
    /* Emptying the map re-draws its seed, as Go does. */
    gomap_debug(m, &d);
    uint64_t seed = d.seed;
    assert_int_equal(gomap_del(m, 0), 1);
    gomap_debug(m, &d);
    assert_true(d.seed != seed);
    gomap_free(m);

    m = gomap_new(100000, 1);
    gomap_debug(m, &d);
    /* 6.5 * 2^14 = 106496 >= 100000 > 6.5 * 2^13 */
    assert_int_equal(d.B, 14);
    gomap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hint_and_empty_map),
        cmocka_unit_test(test_doubling_grow_is_incremental),
        cmocka_unit_test(test_churn_triggers_same_size_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
