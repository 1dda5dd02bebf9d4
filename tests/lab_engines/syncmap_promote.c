/*
 * syncmap_promote.c — sync.Map's life cycle in syncmap.c, step by step:
 * new keys go to dirty, misses promote dirty to read, the next new key
 * rebuilds dirty by copying read (expunging deleted entries), a stored
 * expunged key comes back through dirty, Range promotes, and retired values
 * are really freed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "engine.h"
#include "engine_test.h"
#include "syncmap.h"

static int count_visit(uint64_t key, uint64_t value, void *arg)
{
    long *bad = arg;
    if (value != key + 1)
        ++*bad;
    return 0;
}

static void test_promotion_and_rebuild(void **state)
{
    (void)state;
    const lab_engine *e = lab_engine_find("syncmap");
    assert_non_null(e);
    void *m = e->create(0);
    assert_non_null(m);
    e->thread_attach(m);
    const uint64_t n = 1000;
    syncmap_debug_info d;
    uint64_t v;

    /* New keys: the first builds an (empty) dirty map and marks read
     * amended; all of them live in dirty only. */
    for (uint64_t k = 0; k < n; k++)
        assert_int_equal(e->put(m, k, k + 1), 0);
    syncmap_debug(m, &d);
    assert_int_equal(d.promotions, 0);
    assert_int_equal(d.dirty_rebuilds, 1);
    assert_int_equal(d.read_len, 0);
    assert_int_equal(d.dirty_len, n);
    assert_true(d.amended);

    /* Each load misses read; the n-th miss (misses == len(dirty)) promotes. */
    for (uint64_t k = 0; k < n - 1; k++) {
        assert_int_equal(e->get(m, k, &v), 1);
        assert_true(v == k + 1);
    }
    syncmap_debug(m, &d);
    assert_int_equal(d.promotions, 0);
    assert_int_equal(d.misses, n - 1);
    assert_int_equal(e->get(m, n - 1, &v), 1);
    syncmap_debug(m, &d);
    assert_int_equal(d.promotions, 1);
    assert_int_equal(d.read_len, n);
    assert_false(d.has_dirty);
    assert_false(d.amended);

    /* Now loads hit read without the lock: no misses are counted. */
    for (uint64_t k = 0; k < n; k++)
        assert_int_equal(e->get(m, k, &v), 1);
    assert_int_equal(e->get(m, n + 5, &v), 0);
    syncmap_debug(m, &d);
    assert_int_equal(d.misses, 0);

    /* Overwrites and deletes of read keys stay on the lock-free path. */
    assert_int_equal(e->put(m, 3, 4), 0);
    assert_int_equal(e->del(m, 0), 1);
    assert_int_equal(e->del(m, 0), 0);
    syncmap_debug(m, &d);
    assert_false(d.has_dirty);

    /* The next new key pays the O(n) copy; the deleted key is expunged and
     * left out. */
    assert_int_equal(e->put(m, n, n + 1), 0);
    syncmap_debug(m, &d);
    assert_int_equal(d.dirty_rebuilds, 2);
    assert_true(d.amended);
    assert_int_equal(d.dirty_len, n);  /* n - 1 kept + 1 new */
    assert_int_equal(d.read_len, n);

    /* Storing the expunged key revives its entry through dirty. */
    assert_int_equal(e->put(m, 0, 1), 0);
    syncmap_debug(m, &d);
    assert_int_equal(d.dirty_len, n + 1);
    assert_int_equal(e->get(m, 0, &v), 1);
    assert_true(v == 1);

    /* A key only in dirty is deleted from dirty. */
    assert_int_equal(e->put(m, n + 1, n + 2), 0);
    assert_int_equal(e->del(m, n + 1), 1);
    assert_int_equal(e->get(m, n + 1, &v), 0);

    /* Range promotes first, so it sees every key. */
    long bad = 0;
    syncmap_debug(m, &d);
    uint64_t promotions = d.promotions;
    assert_int_equal(e->iterate(m, count_visit, &bad), (long)n + 1);
    assert_int_equal(bad, 0);
    syncmap_debug(m, &d);
    assert_int_equal(d.promotions, promotions + 1);
    assert_false(d.amended);
    assert_false(d.has_dirty);
    for (uint64_t k = 0; k <= n; k++) {
        assert_int_equal(e->get(m, k, &v), 1);
        assert_true(v == (k == 3 ? 4 : k + 1));
    }
    e->thread_detach(m);
    e->destroy(m);
}

/* Overwriting the same keys over and over allocates a box per store; with
 * reclamation working the memory held stays flat instead of growing by a
 * box per store. */
static void test_retired_values_are_freed(void **state)
{
    (void)state;
    const lab_engine *e = lab_engine_find("syncmap");
    void *m = e->create(0);
    e->thread_attach(m);
    const uint64_t n = 256, rounds = ET_SCALE(400, 100);
    for (uint64_t k = 0; k < n; k++)
        e->put(m, k, k + 1);
    uint64_t v;
    for (uint64_t k = 0; k < n; k++)
        e->get(m, k, &v);
    uint64_t before = e->bytes(m);
    for (uint64_t r = 0; r < rounds; r++)
        for (uint64_t k = 0; k < n; k++)
            e->put(m, k, k + 1);
    uint64_t after = e->bytes(m);
    printf("bytes held before %llu, after %llu overwrites %llu\n", (unsigned long long)before,
           (unsigned long long)(rounds * n), (unsigned long long)after);
    assert_true(after < before + 16 * 1024);
    long bad = 0;
    assert_int_equal(e->iterate(m, count_visit, &bad), (long)n);
    assert_int_equal(bad, 0);
    e->thread_detach(m);
    e->destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promotion_and_rebuild),
        cmocka_unit_test(test_retired_values_are_freed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
