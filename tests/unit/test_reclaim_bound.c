/*
 * test_reclaim_bound.c — one write frees a bounded number of retired values
 * and key copies, however many a guard held back (T3 with free_value).
 *
 * A guard held across many replaces leaves a backlog of retired values. Once
 * it is released, no single write may hand more than SM_LIMBO_RELEASE_MAX of
 * them to free_value (4 x SM_RECLAIM_EVERY, config.h): before that bound, the
 * first write that reclaimed freed the whole backlog in one call (found by
 * review: 399,616 free_value calls in one sm_put). The backlog must still
 * drain as writes go on, the memory that held it must be given back, every
 * value must be freed exactly once, and sm_destroy must free what is left.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "steadymap.h"
#include "testing.h"

/* Retired values the guard holds back: many times the bound. */
#define BACKLOG 20000u
#define KEYS 512u

struct counter {
    uint8_t *freed;     /* freed[v]: times value v was freed */
    uint64_t values;    /* values 1..values-1 were stored */
    uint64_t calls;     /* free_value calls so far */
    uint64_t bad;       /* calls for a value never stored, or freed twice */
};

static void count_free(uint64_t value, void *ctx)
{
    struct counter *c = ctx;
    c->calls++;
    if (value == 0 || value >= c->values || c->freed[value]++ != 0)
        c->bad++;
}

static uint64_t retired(sm_map *m)
{
    sm_stats_info s = { .size = sizeof s };
    assert_int_equal(sm_stats(m, &s), SM_OK);
    return s.retired_values + s.retired_keys;
}

static void backlog_drains_a_bounded_amount_per_write(void **state)
{
    (void)state;
    /* Values: BACKLOG stored under the guard, then at most this many more. */
    const uint64_t max_values = 1 + BACKLOG + 64u * BACKLOG;
    struct counter c = { .freed = calloc(max_values, 1), .values = 1 };
    assert_non_null(c.freed);
    sm_options o = SM_OPTIONS_INIT;
    o.free_value = count_free;
    o.free_value_ctx = &c;
    sm_map *m = sm_new(&o);
    assert_non_null(m);

    assert_int_equal(sm_pin(), SM_OK);
    for (uint64_t i = 0; i < BACKLOG; i++) {
        int rc = sm_put(m, i % KEYS, c.values++, NULL);
        assert_true(rc == SM_OK || rc == SM_REPLACED);
    }
    assert_int_equal(c.calls, 0);  /* R3: nothing retired under the guard is freed */
    assert_int_equal(retired(m), BACKLOG - KEYS);
    uint64_t bytes_pinned = smi_bytes_live();
    assert_int_equal(sm_unpin(), SM_OK);

    /* Each write now may free part of the backlog, never all of it. */
    uint64_t writes = 0;
    uint64_t most = 0;
    while (c.calls < BACKLOG - KEYS) {
        assert_true(c.values < max_values);  /* the backlog must drain */
        uint64_t before = c.calls;
        assert_int_equal(sm_put(m, 7, c.values++, NULL), SM_REPLACED);
        writes++;
        uint64_t made = c.calls - before;
        if (made > most)
            most = made;
        assert_true(made <= SM_LIMBO_RELEASE_MAX);
    }
    /* The old code freed the backlog in one write; the bound spreads it. */
    assert_true(most > 0);
    assert_true(writes > SM_RECLAIM_EVERY);
    /* Every value retired before the unpin was freed, each once. */
    assert_int_equal(c.bad, 0);
    /* The memory that remembered the backlog (at least two words an item)
     * is given back as it drains, within a few more reclaims. */
    for (uint64_t i = 0; i < 4 * SM_RECLAIM_EVERY; i++)
        assert_int_equal(sm_put(m, 7, c.values++, NULL), SM_REPLACED);
    uint64_t bytes_drained = smi_bytes_live();
    assert_true(bytes_drained + (BACKLOG - KEYS) * 2 * sizeof(uint64_t) <= bytes_pinned);

    sm_destroy(m);
    assert_int_equal(c.bad, 0);
    /* Every value that entered was freed exactly once. */
    assert_int_equal(c.calls, c.values - 1);
    for (uint64_t v = 1; v < c.values; v++)
        assert_int_equal(c.freed[v], 1);
    free(c.freed);
}

/* The same with string keys: deletes retire key copies as well as values,
 * and one write releases at most the bound of both together. */
static void string_backlog_drains_a_bounded_amount_per_write(void **state)
{
    (void)state;
    const uint64_t max_values = 1 + 2 * BACKLOG + 64u * BACKLOG;
    struct counter c = { .freed = calloc(max_values, 1), .values = 1 };
    assert_non_null(c.freed);
    smi_fail_allocation_at(0);  /* count key copies in smi_bytes_live */
    uint64_t bytes_before = smi_bytes_live();
    sm_options o = SM_OPTIONS_INIT;
    o.flags = SM_STRING_KEYS;
    o.free_value = count_free;
    o.free_value_ctx = &c;
    sm_map *m = sm_new(&o);
    assert_non_null(m);
    assert_int_equal(sm_reserve(m, 4 * KEYS), SM_OK);  /* no migration: copies wait for none */

    char key[32];
    assert_int_equal(sm_pin(), SM_OK);
    for (uint64_t i = 0; i < BACKLOG; i++) {
        int n = snprintf(key, sizeof key, "key-%" PRIu64, i % KEYS);
        assert_int_equal(sm_put_str(m, key, (size_t)n, c.values++, NULL), SM_OK);
        assert_int_equal(sm_delete_str(m, key, (size_t)n, NULL), SM_OK);
    }
    assert_int_equal(c.calls, 0);
    assert_int_equal(retired(m), 2 * BACKLOG);
    assert_int_equal(sm_unpin(), SM_OK);

    /* A replace retires one value; what else leaves the limbo was released
     * by the write's reclaim. */
    int n = snprintf(key, sizeof key, "resident");
    assert_int_equal(sm_put_str(m, key, (size_t)n, c.values++, NULL), SM_OK);
    uint64_t writes = 0;
    for (uint64_t left = retired(m); left > SM_RECLAIM_EVERY; writes++) {
        assert_true(c.values < max_values);
        assert_int_equal(sm_put_str(m, key, (size_t)n, c.values++, NULL), SM_REPLACED);
        uint64_t now = retired(m);
        /* left + 1 (this write's value) - now items were released. */
        assert_true(left + 1 >= now);
        assert_true(left + 1 - now <= SM_LIMBO_RELEASE_MAX);
        left = now;
    }
    assert_true(writes > SM_RECLAIM_EVERY);
    assert_int_equal(c.bad, 0);

    sm_destroy(m);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.calls, c.values - 1);
    for (uint64_t v = 1; v < c.values; v++)
        assert_int_equal(c.freed[v], 1);
    assert_int_equal(smi_bytes_live(), bytes_before);  /* every key copy freed */
    free(c.freed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backlog_drains_a_bounded_amount_per_write),
        cmocka_unit_test(string_backlog_drains_a_bounded_amount_per_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
