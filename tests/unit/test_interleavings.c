/*
 * test_interleavings.c — races replayed one step at a time.
 *
 * Some races need a second thread to act inside a window a few instructions
 * wide; a stress test meets them by luck. This test links the library built
 * with SM_TEST_HOOKS (tests/unit/CMakeLists.txt), whose hook lets it run the
 * second thread's operation at exactly that point, on the same thread, so the
 * interleaving happens every time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "map_internal.h"
#include "steadymap.h"
#include "testing.h"

static sm_map *map;
static char late_key[32];
static int late_rc = -100;

static uint64_t home_of(const char *key)
{
    sm_table *t = atomic_load_explicit(&map->root, memory_order_acquire);
    return home_of_hash(t, smi_hash_str(map, key, strlen(key)));
}

static void insert_late_key(void)
{
    smi_hook_after_apply = NULL;
    late_rc = sm_put_str(map, late_key, strlen(late_key), 99, NULL);
}

/*
 * A string key deleted from a slot past its home: the delete unlocks that
 * slot's bucket as soon as the tombstone is in, while it still holds the home.
 * Another writer whose key lives in that bucket may reuse the slot at once.
 * The delete must retire the copy of the key it removed, not whatever copy
 * the slot holds by then: retiring the newcomer's copy freed a key still in
 * the map (and leaked the removed one), found by review.
 */
static void delete_past_home_then_slot_reused(void **state)
{
    (void)state;
    smi_bytes_live();  /* count every allocation from here on */
    /* This thread's epoch record is allocated once and kept: before the
     * baseline. */
    sm_map *warm = sm_new(NULL);
    assert_non_null(warm);
    assert_int_equal(sm_put(warm, 1, 1, NULL), SM_OK);
    sm_destroy(warm);
    const uint64_t baseline = smi_bytes_live();
    sm_options o = SM_OPTIONS_INIT;
    o.flags = SM_STRING_KEYS;
    o.seed = 7;
    map = sm_new(&o);
    assert_non_null(map);
    sm_table *t = atomic_load_explicit(&map->root, memory_order_acquire);

    /* SM_SLOTS + 1 keys of one home: the last one lands in the next bucket. */
    char keys[SM_SLOTS + 1][32];
    unsigned n = 0;
    uint64_t home = 0;
    for (unsigned i = 0; n < SM_SLOTS + 1 && i < 1000000; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%u", i);
        if (n == 0)
            home = home_of(k);
        if (home_of(k) == home)
            memcpy(keys[n++], k, sizeof k);
    }
    assert_int_equal(n, SM_SLOTS + 1);
    const uint64_t next = next_bucket(t, home);
    late_key[0] = '\0';
    for (unsigned i = 0; i < 1000000 && !late_key[0]; i++) {
        char k[32];
        snprintf(k, sizeof k, "x%u", i);
        if (home_of(k) == next)
            memcpy(late_key, k, sizeof k);
    }
    assert_true(late_key[0] != '\0');
    for (unsigned i = 0; i <= SM_SLOTS; i++)
        assert_int_equal(sm_put_str(map, keys[i], strlen(keys[i]), i, NULL), SM_OK);
    /* The test is only a test if the last key really lives past its home. */
    assert_int_equal(atomic_load_explicit(&map->root, memory_order_acquire), t);

    smi_hook_after_apply = insert_late_key;
    const char *gone = keys[SM_SLOTS];
    assert_int_equal(sm_delete_str(map, gone, strlen(gone), NULL), SM_OK);
    assert_int_equal(late_rc, SM_OK);
    smi_reclaim(map);

    uint64_t v = 0;
    assert_int_equal(sm_get_str(map, late_key, strlen(late_key), &v), SM_OK);
    assert_int_equal(v, 99);
    assert_int_equal(sm_get_str(map, gone, strlen(gone), NULL), SM_NOT_FOUND);
    for (unsigned i = 0; i < SM_SLOTS; i++) {
        assert_int_equal(sm_get_str(map, keys[i], strlen(keys[i]), &v), SM_OK);
        assert_int_equal(v, i);
    }
    char why[256];
    if (smi_check_invariants(map, why, sizeof why) != 0)
        fail_msg("invariants: %s", why);
    sm_destroy(map);
    /* The removed key's copy was freed, and no copy twice (ASan says so too). */
    assert_int_equal(smi_bytes_live(), baseline);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delete_past_home_then_slot_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
