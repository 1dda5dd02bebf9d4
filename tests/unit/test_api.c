/*
 * test_api.c — every public function and every status code of steadymap.h,
 * one thread, small maps: options and their .size, bad arguments (B1),
 * optional out-pointers, edge keys and values, the result of each operation in
 * each case, sm_size, sm_stats and sm_status_str.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../model/support.h"
#include "steadymap.h"
#include "table.h"
#include "testing.h"

/* A value no operation of these tests stores: seeing it means "not written". */
#define UNTOUCHED 0x5afe5afe5afe5afeu

/* Keys a sentinel-based table would most likely get wrong. */
static const uint64_t edge_keys[] = {
    0, 1, 2, UINT64_MAX, UINT64_MAX - 1, UINT64_C(1) << 63, (UINT64_C(1) << 63) - 1,
};
#define N_EDGE_KEYS (sizeof edge_keys / sizeof edge_keys[0])

/* Unit tests are deterministic: one hash seed, so one table layout, every run. */
#define SEED 0x0123456789abcdefu

static sm_map *new_map(void)
{
    return new_seeded_map(SEED);
}

static void assert_holds(sm_map *m, uint64_t key, uint64_t value)
{
    uint64_t got = UNTOUCHED;
    assert_int_equal(sm_get(m, key, &got), SM_OK);
    assert_int_equal(got, value);
}

static void assert_absent(sm_map *m, uint64_t key)
{
    uint64_t got = UNTOUCHED;
    assert_int_equal(sm_get(m, key, &got), SM_NOT_FOUND);
    assert_int_equal(got, UNTOUCHED);
}

static void new_with_null_options(void **state)
{
    (void)state;
    sm_map *m = sm_new(NULL);
    assert_non_null(m);
    assert_int_equal(sm_size(m), 0);
    assert_absent(m, 0);
    assert_invariants(m, "new map");
    sm_destroy(m);
}

static void new_with_options_init(void **state)
{
    (void)state;
    sm_options opts = SM_OPTIONS_INIT;
    assert_int_equal(opts.size, sizeof(sm_options));
    sm_map *m = sm_new(&opts);
    assert_non_null(m);
    assert_int_equal(sm_size(m), 0);
    assert_invariants(m, "SM_OPTIONS_INIT");
    sm_destroy(m);

    opts.capacity = 1000;
    opts.seed = 0x1234567;
    m = sm_new(&opts);
    assert_non_null(m);
    sm_stats_info st = { .size = sizeof st };
    assert_int_equal(sm_stats(m, &st), SM_OK);
    assert_true(st.capacity >= 1000);
    assert_int_equal(st.grows, 0);
    sm_destroy(m);
}

/*
 * A caller built against an older header passes a smaller .size; the fields
 * past it must be read as zero, so garbage there must not matter. A huge
 * capacity is the one garbage value with a visible effect (the allocation it
 * asks for cannot succeed), so it proves the field was really ignored.
 */
static void new_reads_fields_past_size_as_zero(void **state)
{
    (void)state;
    sm_options opts;
    memset(&opts, 0xff, sizeof opts);

    opts.size = offsetof(sm_options, flags);
    opts.capacity = 16;
    sm_map *m = sm_new(&opts);
    assert_non_null(m);
    assert_int_equal(sm_insert(m, 7, 70, NULL), SM_OK);
    assert_holds(m, 7, 70);
    sm_destroy(m);

    opts.size = offsetof(sm_options, seed);
    m = sm_new(&opts);
    assert_non_null(m);
    assert_int_equal(sm_insert(m, 7, 70, NULL), SM_OK);
    sm_destroy(m);

    opts.size = offsetof(sm_options, capacity);
    opts.capacity = UINT64_MAX;
    m = sm_new(&opts);
    assert_non_null(m);
    assert_int_equal(sm_insert(m, 7, 70, NULL), SM_OK);
    assert_holds(m, 7, 70);
    sm_destroy(m);
}

static void new_with_unsatisfiable_capacity_fails_with_enomem(void **state)
{
    (void)state;
    const uint64_t capacities[] = { UINT64_MAX, UINT64_MAX / 2 + 1, UINT64_C(1) << 62 };
    for (size_t i = 0; i < sizeof capacities / sizeof capacities[0]; i++) {
        sm_options opts = SM_OPTIONS_INIT;
        opts.capacity = capacities[i];
        errno = 0;
        sm_map *m = sm_new(&opts);
        if (m != NULL) {
            sm_destroy(m);
            fail_msg("sm_new with capacity 0x%llx returned a map",
                     (unsigned long long)capacities[i]);
        }
        assert_int_equal(errno, ENOMEM);
    }
}

static void new_with_unknown_flags_fails_with_einval(void **state)
{
    (void)state;
    const uint32_t flags[] = { SM_FLAGS_KNOWN + 1u, 0x80000000u, UINT32_MAX, ~SM_FLAGS_KNOWN };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        sm_options opts = SM_OPTIONS_INIT;
        opts.flags = flags[i];
        errno = 0;
        sm_map *m = sm_new(&opts);
        if (m != NULL) {
            sm_destroy(m);
            fail_msg("sm_new accepted unknown flags 0x%x", (unsigned)flags[i]);
        }
        assert_int_equal(errno, EINVAL);
    }
}

/* B1: a NULL map or NULL required pointer is SM_EINVAL, and nothing is written. */
static void null_map_is_einval_everywhere(void **state)
{
    (void)state;
    uint64_t out = UNTOUCHED;
    assert_int_equal(sm_get(NULL, 1, &out), SM_EINVAL);
    assert_int_equal(sm_put(NULL, 1, 2, &out), SM_EINVAL);
    assert_int_equal(sm_insert(NULL, 1, 2, &out), SM_EINVAL);
    assert_int_equal(sm_replace(NULL, 1, 2, &out), SM_EINVAL);
    assert_int_equal(sm_cas(NULL, 1, 2, 3, &out), SM_EINVAL);
    assert_int_equal(sm_delete(NULL, 1, &out), SM_EINVAL);
    assert_int_equal(sm_reserve(NULL, 10), SM_EINVAL);
    assert_int_equal(out, UNTOUCHED);

    assert_int_equal(sm_get(NULL, 1, NULL), SM_EINVAL);
    assert_int_equal(sm_put(NULL, 1, 2, NULL), SM_EINVAL);
    assert_int_equal(sm_insert(NULL, 1, 2, NULL), SM_EINVAL);
    assert_int_equal(sm_replace(NULL, 1, 2, NULL), SM_EINVAL);
    assert_int_equal(sm_cas(NULL, 1, 2, 3, NULL), SM_EINVAL);
    assert_int_equal(sm_delete(NULL, 1, NULL), SM_EINVAL);

    assert_int_equal(sm_size(NULL), 0);
    sm_destroy(NULL);

    sm_stats_info st;
    memset(&st, 0xa5, sizeof st);
    st.size = sizeof st;
    assert_int_equal(sm_stats(NULL, &st), SM_EINVAL);
    assert_int_equal(sm_stats(NULL, NULL), SM_EINVAL);
}

static void stats_rejects_null_and_too_small_size(void **state)
{
    (void)state;
    sm_map *m = new_map();
    assert_int_equal(sm_stats(m, NULL), SM_EINVAL);

    const size_t too_small[] = {
        0, sizeof(size_t), offsetof(sm_stats_info, entries),
        offsetof(sm_stats_info, entries) + sizeof(uint64_t) - 1,
    };
    for (size_t i = 0; i < sizeof too_small / sizeof too_small[0]; i++) {
        sm_stats_info st;
        memset(&st, 0xa5, sizeof st);
        st.size = too_small[i];
        assert_int_equal(sm_stats(m, &st), SM_EINVAL);
        /* No byte past .size may be written (nor .size itself, which is the caller's). */
        size_t from = too_small[i] > sizeof st.size ? too_small[i] : sizeof st.size;
        unsigned char guard[sizeof st];
        memset(guard, 0xa5, sizeof guard);
        assert_int_equal(st.size, too_small[i]);
        assert_memory_equal((unsigned char *)&st + from, guard + from, sizeof st - from);
    }
    sm_destroy(m);
}

static void put_inserts_then_replaces(void **state)
{
    (void)state;
    sm_map *m = new_map();
    uint64_t old = UNTOUCHED;
    assert_int_equal(sm_put(m, 10, 100, &old), SM_OK);
    assert_int_equal(sm_size(m), 1);
    assert_holds(m, 10, 100);

    assert_int_equal(sm_put(m, 10, 101, &old), SM_REPLACED);
    assert_int_equal(old, 100);
    assert_int_equal(sm_size(m), 1);
    assert_holds(m, 10, 101);

    /* The same value again is still a replacement. */
    old = UNTOUCHED;
    assert_int_equal(sm_put(m, 10, 101, &old), SM_REPLACED);
    assert_int_equal(old, 101);
    assert_invariants(m, "put");
    sm_destroy(m);
}

static void insert_reports_existing_and_changes_nothing(void **state)
{
    (void)state;
    sm_map *m = new_map();
    uint64_t existing = UNTOUCHED;
    assert_int_equal(sm_insert(m, 20, 200, &existing), SM_OK);
    assert_holds(m, 20, 200);

    assert_int_equal(sm_insert(m, 20, 201, &existing), SM_EXISTS);
    assert_int_equal(existing, 200);
    assert_holds(m, 20, 200);
    assert_int_equal(sm_size(m), 1);
    assert_invariants(m, "insert");
    sm_destroy(m);
}

static void replace_only_when_present(void **state)
{
    (void)state;
    sm_map *m = new_map();
    uint64_t old = UNTOUCHED;
    assert_int_equal(sm_replace(m, 30, 300, &old), SM_NOT_FOUND);
    assert_absent(m, 30);
    assert_int_equal(sm_size(m), 0);

    assert_int_equal(sm_put(m, 30, 300, NULL), SM_OK);
    assert_int_equal(sm_replace(m, 30, 301, &old), SM_OK);
    assert_int_equal(old, 300);
    assert_holds(m, 30, 301);
    assert_int_equal(sm_size(m), 1);
    assert_invariants(m, "replace");
    sm_destroy(m);
}

static void cas_swaps_mismatches_and_misses(void **state)
{
    (void)state;
    sm_map *m = new_map();
    uint64_t actual = UNTOUCHED;
    assert_int_equal(sm_cas(m, 40, 0, 1, &actual), SM_NOT_FOUND);
    assert_absent(m, 40);

    assert_int_equal(sm_put(m, 40, 400, NULL), SM_OK);
    assert_int_equal(sm_cas(m, 40, 400, 401, &actual), SM_OK);
    assert_int_equal(actual, 400);
    assert_holds(m, 40, 401);

    actual = UNTOUCHED;
    assert_int_equal(sm_cas(m, 40, 400, 402, &actual), SM_MISMATCH);
    assert_int_equal(actual, 401);
    assert_holds(m, 40, 401);

    /* Swapping a value for itself succeeds and keeps it. */
    assert_int_equal(sm_cas(m, 40, 401, 401, &actual), SM_OK);
    assert_int_equal(actual, 401);
    assert_holds(m, 40, 401);
    assert_int_equal(sm_size(m), 1);
    assert_invariants(m, "cas");
    sm_destroy(m);
}

static void delete_then_reinsert(void **state)
{
    (void)state;
    sm_map *m = new_map();
    uint64_t old = UNTOUCHED;
    assert_int_equal(sm_delete(m, 50, &old), SM_NOT_FOUND);
    assert_int_equal(sm_put(m, 50, 500, NULL), SM_OK);
    assert_int_equal(sm_put(m, 51, 510, NULL), SM_OK);

    assert_int_equal(sm_delete(m, 50, &old), SM_OK);
    assert_int_equal(old, 500);
    assert_int_equal(sm_size(m), 1);
    assert_absent(m, 50);
    assert_holds(m, 51, 510);
    assert_int_equal(sm_delete(m, 50, &old), SM_NOT_FOUND);
    assert_int_equal(sm_replace(m, 50, 1, NULL), SM_NOT_FOUND);
    assert_int_equal(sm_cas(m, 50, 500, 1, NULL), SM_NOT_FOUND);
    assert_invariants(m, "after delete");

    /* A deleted key comes back as a fresh insert, with the new value only. */
    uint64_t existing = UNTOUCHED;
    assert_int_equal(sm_insert(m, 50, 502, &existing), SM_OK);
    assert_holds(m, 50, 502);
    assert_int_equal(sm_delete(m, 50, NULL), SM_OK);
    assert_int_equal(sm_put(m, 50, 503, NULL), SM_OK);
    assert_holds(m, 50, 503);
    assert_int_equal(sm_size(m), 2);
    assert_invariants(m, "after re-insert");
    sm_destroy(m);
}

/* Out-pointers "may be NULL": every result path, with the effect checked separately. */
static void null_out_pointers_are_allowed(void **state)
{
    (void)state;
    sm_map *m = new_map();
    assert_int_equal(sm_get(m, 1, NULL), SM_NOT_FOUND);
    assert_int_equal(sm_put(m, 1, 10, NULL), SM_OK);
    assert_int_equal(sm_get(m, 1, NULL), SM_OK);
    assert_int_equal(sm_put(m, 1, 11, NULL), SM_REPLACED);
    assert_int_equal(sm_insert(m, 1, 12, NULL), SM_EXISTS);
    assert_int_equal(sm_insert(m, 2, 20, NULL), SM_OK);
    assert_int_equal(sm_replace(m, 1, 13, NULL), SM_OK);
    assert_int_equal(sm_replace(m, 3, 30, NULL), SM_NOT_FOUND);
    assert_int_equal(sm_cas(m, 1, 13, 14, NULL), SM_OK);
    assert_int_equal(sm_cas(m, 1, 13, 15, NULL), SM_MISMATCH);
    assert_int_equal(sm_cas(m, 3, 0, 1, NULL), SM_NOT_FOUND);
    assert_holds(m, 1, 14);
    assert_holds(m, 2, 20);
    assert_absent(m, 3);
    assert_int_equal(sm_delete(m, 2, NULL), SM_OK);
    assert_int_equal(sm_delete(m, 2, NULL), SM_NOT_FOUND);
    assert_int_equal(sm_size(m), 1);
    assert_invariants(m, "NULL out-pointers");
    sm_destroy(m);
}

/*
 * Every key is allowed and every value storable: each edge key with each edge
 * value, through every operation, and none shadows another (a sentinel key
 * would make one of them vanish or appear early).
 */
static void edge_keys_and_values(void **state)
{
    (void)state;
    const uint64_t values[] = { 0, UINT64_MAX, 1, UINT64_MAX - 1 };
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
        sm_map *m = new_map();
        uint64_t value = values[v];
        uint64_t other = ~value;
        for (size_t i = 0; i < N_EDGE_KEYS; i++) {
            for (size_t j = i; j < N_EDGE_KEYS; j++) {
                assert_absent(m, edge_keys[j]);
            }
            assert_int_equal(sm_insert(m, edge_keys[i], value, NULL), SM_OK);
            assert_holds(m, edge_keys[i], value);
            assert_int_equal(sm_size(m), i + 1);
        }
        for (size_t i = 0; i < N_EDGE_KEYS; i++) {
            uint64_t out = UNTOUCHED;
            assert_int_equal(sm_insert(m, edge_keys[i], other, &out), SM_EXISTS);
            assert_int_equal(out, value);
            assert_int_equal(sm_put(m, edge_keys[i], other, &out), SM_REPLACED);
            assert_int_equal(out, value);
            assert_int_equal(sm_cas(m, edge_keys[i], value, value, &out), SM_MISMATCH);
            assert_int_equal(out, other);
            assert_int_equal(sm_cas(m, edge_keys[i], other, value, &out), SM_OK);
            assert_int_equal(out, other);
            assert_int_equal(sm_replace(m, edge_keys[i], value, &out), SM_OK);
            assert_int_equal(out, value);
        }
        assert_invariants(m, "edge keys inserted");
        for (size_t i = 0; i < N_EDGE_KEYS; i++) {
            uint64_t old = UNTOUCHED;
            assert_int_equal(sm_delete(m, edge_keys[i], &old), SM_OK);
            assert_int_equal(old, value);
            assert_absent(m, edge_keys[i]);
            for (size_t j = i + 1; j < N_EDGE_KEYS; j++) {
                assert_holds(m, edge_keys[j], value);
            }
        }
        assert_int_equal(sm_size(m), 0);
        assert_invariants(m, "edge keys deleted");
        sm_destroy(m);
    }
}

/* The edge keys must survive being moved by several grows. */
static void edge_keys_survive_growth(void **state)
{
    (void)state;
    sm_map *m = new_map();
    for (size_t i = 0; i < N_EDGE_KEYS; i++) {
        assert_int_equal(sm_put(m, edge_keys[i], edge_keys[i] ^ 0xff, NULL), SM_OK);
    }
    sm_stats_info st = { .size = sizeof st };
    assert_int_equal(sm_stats(m, &st), SM_OK);
    /* Enough to grow several times, wherever the first table starts. */
    const uint64_t n = 8 * st.capacity;
    for (uint64_t k = 1000; k < 1000 + n; k++) {
        assert_int_equal(sm_insert(m, k, k, NULL), SM_OK);
    }
    assert_int_equal(sm_stats(m, &st), SM_OK);
    assert_true(st.grows > 0);
    for (size_t i = 0; i < N_EDGE_KEYS; i++) {
        assert_holds(m, edge_keys[i], edge_keys[i] ^ 0xff);
    }
    assert_int_equal(sm_size(m), n + N_EDGE_KEYS);
    assert_invariants(m, "edge keys after growth");
    sm_destroy(m);
}

/* sm_size is exact with no writer running: it follows every kind of call. */
static void size_is_exact(void **state)
{
    (void)state;
    sm_map *m = new_map();
    size_t expected = 0;
    for (uint64_t k = 0; k < 300; k++) {
        assert_int_equal(sm_put(m, k * 7919, k, NULL), SM_OK);
        assert_int_equal(sm_size(m), ++expected);
    }
    for (uint64_t k = 0; k < 300; k++) {
        assert_int_equal(sm_put(m, k * 7919, k + 1, NULL), SM_REPLACED);
        assert_int_equal(sm_insert(m, k * 7919, 0, NULL), SM_EXISTS);
        assert_int_equal(sm_replace(m, k * 7919, k + 2, NULL), SM_OK);
        assert_int_equal(sm_cas(m, k * 7919, k + 2, k + 3, NULL), SM_OK);
        assert_int_equal(sm_replace(m, k * 7919 + 1, 0, NULL), SM_NOT_FOUND);
        assert_int_equal(sm_delete(m, k * 7919 + 1, NULL), SM_NOT_FOUND);
        assert_int_equal(sm_size(m), expected);
    }
    for (uint64_t k = 0; k < 300; k += 2) {
        assert_int_equal(sm_delete(m, k * 7919, NULL), SM_OK);
        assert_int_equal(sm_size(m), --expected);
    }
    assert_invariants(m, "size");
    sm_destroy(m);
}

static void status_str_names_every_code(void **state)
{
    (void)state;
    const int codes[] = { SM_OK, SM_NOT_FOUND, SM_EXISTS, SM_REPLACED, SM_MISMATCH,
                          SM_ENOMEM, SM_EINVAL };
    const size_t n = sizeof codes / sizeof codes[0];
    const char *unknown = sm_status_str(12345);
    assert_non_null(unknown);
    assert_string_equal(unknown, "unknown status");
    for (size_t i = 0; i < n; i++) {
        const char *s = sm_status_str(codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, unknown);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(s, sm_status_str(codes[j]));
        }
    }
    const int not_codes[] = { 5, 6, -3, INT_MAX, INT_MIN };
    for (size_t i = 0; i < sizeof not_codes / sizeof not_codes[0]; i++) {
        assert_string_equal(sm_status_str(not_codes[i]), "unknown status");
    }
}

static void stats_are_sane(void **state)
{
    (void)state;
    sm_map *m = new_map();
    sm_stats_info st;
    memset(&st, 0xa5, sizeof st);
    st.size = sizeof st;
    assert_int_equal(sm_stats(m, &st), SM_OK);
    assert_int_equal(st.size, sizeof st);
    assert_int_equal(st.entries, 0);
    assert_true(st.capacity > 0);
    assert_true(st.slots >= st.capacity);
    assert_true(st.bytes_held >= st.slots * 2 * sizeof(uint64_t));
    assert_int_equal(st.grows, 0);
    assert_int_equal(st.shrinks, 0);
    assert_int_equal(st.rehashes, 0);
    assert_int_equal(st.migrating, 0);
    assert_int_equal(st.buckets_total, 0);
    assert_int_equal(st.buckets_migrated, 0);
    assert_int_equal(st.retired_tables, 0);

    const uint64_t n = 8 * st.capacity;
    for (uint64_t k = 0; k < n; k++) {
        assert_int_equal(sm_put(m, k, k, NULL), SM_OK);
        assert_int_equal(sm_stats(m, &st), SM_OK);
        assert_int_equal(st.entries, k + 1);
        assert_true(st.slots >= st.capacity);
        assert_true(st.bytes_held >= st.slots * 2 * sizeof(uint64_t));
        assert_true(st.migrating <= 1);
        assert_true(st.buckets_migrated <= st.buckets_total);
        /*
         * While a grow runs, capacity and slots may still describe the table
         * being left (the header does not say which table is "current"), so
         * only a settled map must fit its entries.
         */
        if (!st.migrating) {
            assert_true(st.capacity >= st.entries);
            assert_int_equal(st.buckets_total, 0);
        }
    }
    /* Eight times the first table's capacity cannot fit without growing. */
    assert_true(st.grows > 0);
    assert_int_equal(st.shrinks, 0);
    sm_destroy(m);
}

/*
 * .size is honoured for every value from the smallest valid one up: the
 * fields that fit are filled, and no byte at or past .size is written.
 */
static void stats_writes_nothing_past_size(void **state)
{
    (void)state;
    sm_map *m = new_map();
    for (uint64_t k = 0; k < 100; k++) {
        assert_int_equal(sm_put(m, k, k, NULL), SM_OK);
    }
    sm_stats_info full = { .size = sizeof full };
    assert_int_equal(sm_stats(m, &full), SM_OK);

    unsigned char guard[sizeof(sm_stats_info)];
    memset(guard, 0xa5, sizeof guard);
    for (size_t size = offsetof(sm_stats_info, entries) + sizeof(uint64_t);
         size <= sizeof(sm_stats_info); size++) {
        sm_stats_info st;
        memset(&st, 0xa5, sizeof st);
        st.size = size;
        assert_int_equal(sm_stats(m, &st), SM_OK);
        assert_int_equal(st.size, size);
        assert_int_equal(st.entries, 100);
        if (size >= offsetof(sm_stats_info, slots) + sizeof(uint64_t)) {
            assert_int_equal(st.capacity, full.capacity);
            assert_int_equal(st.slots, full.slots);
        }
        if (size < sizeof st) {
            assert_memory_equal((unsigned char *)&st + size, guard + size, sizeof st - size);
        }
    }
    sm_destroy(m);
}

/* T1 allows calls from any thread at any time, also from a thread-exit
 * destructor that runs after the library's own (one whose key was created
 * later): such a call must run on a record the thread holds, not on the one
 * it has just handed back for another thread to claim. */
static sm_map *late_map;
static pthread_key_t late_key;
static int late_rc = -100, late_state = -100;

static void late_destructor(void *arg)
{
    (void)arg;
    uint64_t v = 0;
    late_rc = sm_get(late_map, 7, &v);
    late_state = smi_thread_record_state();
}

static void *register_then_exit(void *arg)
{
    (void)arg;
    sm_put(late_map, 7, 70, NULL);
    pthread_setspecific(late_key, (void *)1);
    return NULL;
}

static void calls_from_a_late_thread_exit_destructor(void **state)
{
    (void)state;
    late_map = sm_new(NULL);
    assert_non_null(late_map);
    uint64_t v;
    /* The library's thread key exists before ours, so ours runs after it. */
    assert_int_equal(sm_get(late_map, 0, &v), SM_NOT_FOUND);
    assert_int_equal(pthread_key_create(&late_key, late_destructor), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, register_then_exit, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(late_rc, SM_OK);
    assert_int_equal(late_state, 1);
    pthread_key_delete(late_key);
    sm_destroy(late_map);
}

/* R1 past thread exit: a thread that exits holding a guard keeps it while a
 * destructor of a later key still uses a value obtained under it. The
 * library's destructor runs first; it used to drop the guard (epoch 0), so
 * the value was freed under the late destructor and its sm_unpin returned
 * SM_EINVAL (found by review). */
#define PINNED_OLD 0xAu
#define PINNED_NEW 0xBu
static sm_map *pinned_map;
static pthread_key_t pinned_key;
static sem_t pinned_in_destructor, pinned_replaced;
static int pinned_old_freed, pinned_freed_before_unpin = -1, pinned_unpin_rc = -100;
static uint64_t pinned_seen;

static void note_pinned_free(uint64_t value, void *ctx)
{
    (void)ctx;
    if (value == PINNED_OLD)
        pinned_old_freed = 1;
}

static void pinned_destructor(void *arg)
{
    (void)arg;
    sem_post(&pinned_in_destructor);
    /* The main thread replaces the value and reclaims meanwhile. */
    sem_wait(&pinned_replaced);
    pinned_freed_before_unpin = pinned_old_freed;
    pinned_unpin_rc = sm_unpin();
}

static void *pin_get_then_exit(void *arg)
{
    (void)arg;
    if (sm_pin() == SM_OK)
        sm_get(pinned_map, 1, &pinned_seen);
    /* Set even if the pin failed (the checks report it): the main thread
     * waits for this destructor. */
    pthread_setspecific(pinned_key, (void *)1);
    return NULL;    /* still pinned: the late destructor unpins */
}

static void guard_survives_into_a_late_thread_exit_destructor(void **state)
{
    (void)state;
    sm_options o = SM_OPTIONS_INIT;
    o.free_value = note_pinned_free;
    pinned_map = sm_new(&o);
    assert_non_null(pinned_map);
    /* The library's thread key exists before ours, so ours runs after it. */
    assert_int_equal(sm_put(pinned_map, 1, PINNED_OLD, NULL), SM_OK);
    assert_int_equal(pthread_key_create(&pinned_key, pinned_destructor), 0);
    assert_int_equal(sem_init(&pinned_in_destructor, 0, 0), 0);
    assert_int_equal(sem_init(&pinned_replaced, 0, 0), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, pin_get_then_exit, NULL), 0);
    sem_wait(&pinned_in_destructor);
    assert_int_equal(sm_put(pinned_map, 1, PINNED_NEW, NULL), SM_REPLACED);
    smi_reclaim(pinned_map);
    sem_post(&pinned_replaced);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(pinned_seen, PINNED_OLD);
    assert_int_equal(pinned_freed_before_unpin, 0);
    assert_int_equal(pinned_unpin_rc, SM_OK);
    /* Once unpinned, the exiting thread let go of its record: the value is
     * freed and no guard is left behind. */
    assert_true(smi_reclaim(pinned_map) >= 1);
    assert_int_equal(pinned_old_freed, 1);
    sm_stats_info st = {.size = sizeof st};
    assert_int_equal(sm_stats(pinned_map, &st), SM_OK);
    assert_int_equal(st.guards_active, 0);
    assert_int_equal(st.retired_values, 0);
    pthread_key_delete(pinned_key);
    sem_destroy(&pinned_in_destructor);
    sem_destroy(&pinned_replaced);
    sm_destroy(pinned_map);
}

/* A capacity whose table would take almost all of a 64-bit address space is
 * out of memory, not a crash: sizes near SIZE_MAX once wrapped when rounded
 * up to pages, and a tiny mapping was used as the table. n is chosen so the
 * table's size lands in that window (found by review). */
static void near_size_max_capacity_is_enomem(void **state)
{
    (void)state;
    uint64_t nb = (UINT64_MAX - 8191 - sizeof(sm_table)) / sizeof(sm_bucket) / 4 * 4;
    uint64_t n = nb / 4 * 9 - 1;
    sm_map *m = sm_new(NULL);
    assert_non_null(m);
    assert_int_equal(sm_reserve(m, n), SM_ENOMEM);
    assert_int_equal(sm_put(m, 1, 2, NULL), SM_OK);
    sm_destroy(m);
    sm_options o = SM_OPTIONS_INIT;
    o.capacity = n;
    errno = 0;
    assert_null(sm_new(&o));
    assert_int_equal(errno, ENOMEM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_with_null_options),
        cmocka_unit_test(new_with_options_init),
        cmocka_unit_test(new_reads_fields_past_size_as_zero),
        cmocka_unit_test(new_with_unsatisfiable_capacity_fails_with_enomem),
        cmocka_unit_test(new_with_unknown_flags_fails_with_einval),
        cmocka_unit_test(null_map_is_einval_everywhere),
        cmocka_unit_test(stats_rejects_null_and_too_small_size),
        cmocka_unit_test(put_inserts_then_replaces),
        cmocka_unit_test(insert_reports_existing_and_changes_nothing),
        cmocka_unit_test(replace_only_when_present),
        cmocka_unit_test(cas_swaps_mismatches_and_misses),
        cmocka_unit_test(delete_then_reinsert),
        cmocka_unit_test(null_out_pointers_are_allowed),
        cmocka_unit_test(edge_keys_and_values),
        cmocka_unit_test(edge_keys_survive_growth),
        cmocka_unit_test(size_is_exact),
        cmocka_unit_test(status_str_names_every_code),
        cmocka_unit_test(stats_are_sane),
        cmocka_unit_test(stats_writes_nothing_past_size),
        cmocka_unit_test(calls_from_a_late_thread_exit_destructor),
        cmocka_unit_test(guard_survives_into_a_late_thread_exit_destructor),
        cmocka_unit_test(near_size_max_capacity_is_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
