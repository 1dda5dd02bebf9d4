/*
 * test_interleavings.c — races replayed one step at a time.
 *
 * Some races need a second thread to act inside a window a few instructions
 * wide; a stress test meets them by luck. This test links the library built
 * with SM_TEST_HOOKS (tests/unit/CMakeLists.txt), whose hook lets it run the
 * second thread's operation at exactly that point, on the same thread, so the
 * interleaving happens every time.
 */
#define _GNU_SOURCE /* usleep, alarm under -std=c11 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/*
 * The next table of a shrink must never fill, or the copy that finds it full
 * spins for ever holding an old home's lock: that home's writes and the
 * resize hang. Two ways it did, both found by review:
 *   - the room check estimated the entries still to copy from the chunks not
 *     yet migrated, as if entries were spread evenly over homes; after
 *     deletes in iteration order (hash order, which is chunk order) the last
 *     chunk held most survivors, and writers filled the table meanwhile;
 *   - a shrink sized from counts read just before the table was published
 *     let writers add entries to the old table in between, without limit.
 * Both are replayed here with a second thread stopped at the wrong point by
 * a hook; if either comes back, the test hangs and the alarm fails it.
 *
 * The stopped thread stays stopped until this thread has done all its
 * inserts, or until it cannot go on without the stopped one (the fixed
 * library makes such an insert wait: for the resize being sized, or for the
 * stopped chunk when the next table is short of room). A sleep instead let
 * a slow main thread (load, a sanitizer) start its inserts after the stopped
 * thread had already resumed, and the test passed without the race.
 */
static sm_map *shrink_map;
static _Thread_local int is_stalled_thread;
static atomic_int stalled;
static uint64_t stall_home = UINT64_MAX, stall_nbuckets;

/* Set by this (main) thread: its inserts are done (main_done), or one of
 * them is waiting for another thread (main_waiting). */
static _Thread_local int watch_main_waits;
static atomic_int main_done, main_waiting;

/*
 * The library waits for another thread only in smi_backoff, which spins a
 * little and then yields through this hook: it tells the stopped thread that
 * the main thread can go no further without it.
 */
static void note_main_waits(void)
{
    if (watch_main_waits)
        atomic_store(&main_waiting, 1);
}

static void pause_here(void)
{
    atomic_store(&stalled, 1);
    while (!atomic_load(&main_done) && !atomic_load(&main_waiting))
        usleep(1000);
}

/* The main thread's side: from the moment the other thread is stopped
 * until its own inserts are done (then the stopped thread goes on). */
static void main_inserts_begin(void)
{
    while (!atomic_load(&stalled))
        usleep(1000);
    watch_main_waits = 1;
}

static void main_inserts_end(void)
{
    watch_main_waits = 0;
    atomic_store(&main_done, 1);
}

static void reset_stall(void)
{
    atomic_store(&stalled, 0);
    atomic_store(&main_done, 0);
    atomic_store(&main_waiting, 0);
}

static void stall_in_migration(uint64_t b, uint64_t nbuckets)
{
    if (is_stalled_thread && nbuckets == stall_nbuckets && b == stall_home)
        pause_here();
}

static void stall_before_publish(void)
{
    if (is_stalled_thread)
        pause_here();
}

static uint64_t victim;

static void *delete_victim(void *arg)
{
    (void)arg;
    is_stalled_thread = 1;
    sm_delete(shrink_map, victim, NULL);
    return NULL;
}

static void *put_one(void *arg)
{
    (void)arg;
    is_stalled_thread = 1;
    sm_put(shrink_map, UINT64_MAX - 1, 1, NULL);
    return NULL;
}

static uint64_t home_u64(uint64_t key, uint64_t nbuckets)
{
    return (uint64_t)(((unsigned __int128)hash_u64(&shrink_map->hash_key, key) * nbuckets) >> 64);
}

static void check_all(uint64_t from, uint64_t to, const char *what)
{
    for (uint64_t k = from; k < to; k++) {
        uint64_t v = 0;
        if (sm_get(shrink_map, k, &v) != SM_OK || v != k)
            fail_msg("%s: key %llu lost", what, (unsigned long long)k);
    }
}

/* A small pre-sized map for the shrink tests (384 slots), with an alarm as
 * the hang detector: a replayed hang ends the test instead of the run. */
static void start_small_map(uint64_t seed)
{
    alarm(60);
    sm_options o = SM_OPTIONS_INIT;
    o.seed = seed;
    o.capacity = 287;
    shrink_map = sm_new(&o);
    assert_non_null(shrink_map);
}

static void end_small_map(void)
{
    char why[256];
    if (smi_check_invariants(shrink_map, why, sizeof why) != 0)
        fail_msg("invariants: %s", why);
    sm_destroy(shrink_map);
    alarm(0);
}

static void shrink_after_deletes_in_hash_order(void **state)
{
    (void)state;
    start_small_map(12345);
    const uint64_t nb = atomic_load(&shrink_map->root)->nbuckets;
    for (uint64_t k = 1; k <= 280; k++)
        assert_int_equal(sm_put(shrink_map, k, k, NULL), SM_OK);
    uint64_t order[280];
    size_t n = 0;
    sm_iter *it = sm_iter_new(shrink_map);
    while (n < 280 && sm_iter_next(it, &order[n], NULL) == SM_OK)
        n++;
    sm_iter_free(it);
    assert_int_equal(n, 280);
    /* Evict in iteration order until a delete starts the shrink. */
    sm_stats_info st = { .size = sizeof st };
    size_t d = 0;
    for (; d < n; d++) {
        assert_int_equal(sm_delete(shrink_map, order[d], NULL), SM_OK);
        sm_stats(shrink_map, &st);
        if (st.migrating)
            break;
    }
    assert_true(st.migrating);
    /* The second thread will claim the chunk that holds the survivors and
     * stop in it; this one claims the chunks before it, then inserts. */
    stall_nbuckets = nb;
    stall_home = home_u64(order[n - 1], nb) / SM_MIGRATE_CHUNK * SM_MIGRATE_CHUNK;
    smi_hook_migrate_home = stall_in_migration;
    uint64_t next = 1000000, first_new = next;
    while (atomic_load(&shrink_map->root)->claim < stall_home) {
        while (home_u64(next, nb) / SM_MIGRATE_CHUNK == stall_home / SM_MIGRATE_CHUNK)
            next++;
        assert_int_equal(sm_put(shrink_map, next, next, NULL), SM_OK);
        next++;
    }
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, put_one, NULL), 0);
    main_inserts_begin();
    for (int i = 0; i < 400; i++) {
        while (home_u64(next, nb) / SM_MIGRATE_CHUNK == stall_home / SM_MIGRATE_CHUNK)
            next++;
        assert_int_equal(sm_put(shrink_map, next, next, NULL), SM_OK);
        next++;
    }
    main_inserts_end();
    assert_int_equal(pthread_join(t, NULL), 0);
    smi_hook_migrate_home = NULL;
    reset_stall();
    for (size_t i = d + 1; i < n; i++) {
        uint64_t v = 0;
        assert_int_equal(sm_get(shrink_map, order[i], &v), SM_OK);
        assert_int_equal(v, order[i]);
    }
    for (uint64_t k = first_new; k < next; k++) {
        uint64_t v = 0;
        if (home_u64(k, nb) / SM_MIGRATE_CHUNK == stall_home / SM_MIGRATE_CHUNK)
            continue;
        assert_int_equal(sm_get(shrink_map, k, &v), SM_OK);
    }
    end_small_map();
}

static void inserts_while_a_shrink_is_sized(void **state)
{
    (void)state;
    start_small_map(7);
    /* 96 entries in 384 slots: the next delete falls under a quarter. */
    for (uint64_t k = 1; k <= 96; k++)
        assert_int_equal(sm_put(shrink_map, k, k, NULL), SM_OK);
    victim = 96;
    smi_hook_before_publish = stall_before_publish;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, delete_victim, NULL), 0);
    main_inserts_begin();
    for (uint64_t k = 1000; k < 1200; k++)
        assert_int_equal(sm_put(shrink_map, k, k, NULL), SM_OK);
    main_inserts_end();
    assert_int_equal(pthread_join(t, NULL), 0);
    smi_hook_before_publish = NULL;
    reset_stall();
    for (uint64_t k = 5000; k < 5100; k++)
        assert_int_equal(sm_put(shrink_map, k, k, NULL), SM_OK);
    check_all(1, 96, "before");
    check_all(1000, 1200, "during");
    check_all(5000, 5100, "after");
    assert_int_equal(sm_size(shrink_map), 95 + 200 + 100);
    end_small_map();
}

/*
 * sm_reserve's migration must leave room for other writers' inserts: the
 * new table is larger, so the copies still to come cannot fill it. A first
 * version of I9 counted every old slot as still to copy for a reserve, and
 * the room check then sent every concurrent insert to finish the migration,
 * behind the reserving thread (found by review). Here the reserving thread
 * stops inside its migration until this thread's insert is done: an insert
 * that waits for it hangs, and the alarm fails the test. The insert goes to
 * the table the reserve migrates into, and must be there afterwards: such an
 * insert once could report SM_OK and store nothing.
 */
static void hold_until_insert_done(uint64_t b, uint64_t nbuckets)
{
    if (!is_stalled_thread || nbuckets != stall_nbuckets || b != stall_home)
        return;
    atomic_store(&stalled, 1);
    /* Not pause_here: this hold must not end when the insert waits. */
    while (!atomic_load(&main_done))
        usleep(1000);
}

static void *reserve_more(void *arg)
{
    (void)arg;
    is_stalled_thread = 1;
    assert_int_equal(sm_reserve(shrink_map, 300), SM_OK);
    return NULL;
}

static void insert_during_a_reserve(void **state)
{
    (void)state;
    start_small_map(3);
    stall_nbuckets = atomic_load(&shrink_map->root)->nbuckets;
    for (uint64_t k = 1; k <= 200; k++)
        assert_int_equal(sm_put(shrink_map, k, k, NULL), SM_OK);
    /* The reserving thread migrates chunk 0, then stops in chunk 1. */
    stall_home = SM_MIGRATE_CHUNK;
    smi_hook_migrate_home = hold_until_insert_done;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reserve_more, NULL), 0);
    while (!atomic_load(&stalled))
        usleep(1000);
    /* A key whose old home is in chunk 0 goes to the new table. */
    uint64_t key = 1000;
    while (home_u64(key, stall_nbuckets) >= SM_MIGRATE_CHUNK)
        key++;
    assert_int_equal(sm_put(shrink_map, key, key, NULL), SM_OK);
    /* Found while the reserve is still stopped, and after it. */
    uint64_t v = 0;
    assert_int_equal(sm_get(shrink_map, key, &v), SM_OK);
    assert_int_equal(v, key);
    atomic_store(&main_done, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    smi_hook_migrate_home = NULL;
    reset_stall();
    check_all(1, 201, "before");
    v = 0;
    assert_int_equal(sm_get(shrink_map, key, &v), SM_OK);
    assert_int_equal(v, key);
    assert_int_equal(sm_size(shrink_map), 201);
    end_small_map();
}

int main(void)
{
    /* Set once, before any thread: it acts only on the thread that watches. */
    smi_hook_backoff_yield = note_main_waits;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delete_past_home_then_slot_reused),
        cmocka_unit_test(shrink_after_deletes_in_hash_order),
        cmocka_unit_test(inserts_while_a_shrink_is_sized),
        cmocka_unit_test(insert_during_a_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
