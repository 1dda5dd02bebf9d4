/*
 * engines_model.c — every engine in the registry against a reference on one
 * random sequence of puts, gets, deletes and walks, long enough for several
 * grows: each result is compared as it happens, the walk must visit each
 * present key once with its value, and resize events must pair up.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "engine.h"
#include "engine_test.h"
#include "harness/keys.h"
#include "harness/run.h"

struct reference {
    uint64_t n;             /* key indexes */
    uint8_t *present;
    uint64_t *value;
    uint64_t count;
};

struct walk {
    const struct reference *ref;
    uint8_t *seen;
    long stop_after;        /* 0 = never stop */
    long calls;
    int bad;
};

static int check_visit(uint64_t key, uint64_t value, void *arg)
{
    struct walk *w = arg;
    uint64_t i = et_index(key, w->ref->n);
    w->calls++;
    if (i >= w->ref->n || !w->ref->present[i] || w->ref->value[i] != value || w->seen[i])
        w->bad = 1;
    else
        w->seen[i] = 1;
    return w->stop_after && w->calls >= w->stop_after;
}

static void check_walk(const lab_engine *e, void *map, const struct reference *ref)
{
    if (!e->iterate)
        return;
    struct walk w = { ref, calloc(ref->n, 1), 0, 0, 0 };
    assert_non_null(w.seen);
    long n = e->iterate(map, check_visit, &w);
    assert_false(w.bad);
    assert_int_equal(n, (long)ref->count);
    assert_int_equal(w.calls, (long)ref->count);

    if (ref->count >= 10) {
        memset(w.seen, 0, ref->n);
        w.stop_after = 10;
        w.calls = 0;
        n = e->iterate(map, check_visit, &w);
        assert_false(w.bad);
        assert_int_equal(w.calls, 10);
        assert_int_equal(n, 10);
    }
    free(w.seen);
}

struct events {
    long starts, finishes;
    int bad;
};

static void count_event(lab_event_kind kind, uint64_t old_buckets, uint64_t new_buckets,
                        void *arg)
{
    struct events *ev = arg;
    if (kind == LAB_EVENT_RESIZE_START)
        ev->starts++;
    else if (kind == LAB_EVENT_RESIZE_FINISH)
        ev->finishes++;
    /* Sizes must be real; a smaller new table is fine (steady shrinks). */
    if (old_buckets == 0 || new_buckets == 0)
        ev->bad = 1;
}

/* Put-heavy, then delete-heavy, then even: the map grows through several
 * sizes, empties out most of the way and refills. */
static unsigned pick_op(uint64_t step, uint64_t steps, uint64_t r)
{
    unsigned pct = (unsigned)(r % 100);
    unsigned put = step < steps / 2 ? 65 : step < steps * 3 / 4 ? 20 : 40;
    unsigned del = step < steps / 2 ? 10 : step < steps * 3 / 4 ? 55 : 30;
    return pct < put ? 0 : pct < put + del ? 1 : 2;
}

static void run_engine(const lab_engine *e, uint64_t seed)
{
    const uint64_t n = ET_SCALE(40000, 8000);
    const uint64_t steps = ET_SCALE(400000, 80000);
    struct reference ref = { n, calloc(n, 1), calloc(n, sizeof(uint64_t)), 0 };
    assert_non_null(ref.present);
    assert_non_null(ref.value);
    uint64_t rng = seed;

    void *map = e->create(0);
    assert_non_null(map);
    struct events ev = { 0, 0, 0 };
    if (e->set_event_hook)
        e->set_event_hook(map, count_event, &ev);
    if (e->thread_attach)
        e->thread_attach(map);

    for (uint64_t step = 0; step < steps; step++) {
        uint64_t r = et_next(&rng);
        uint64_t i = et_next(&rng) % n;
        uint64_t key = et_key(i, n);
        uint64_t v = 0;
        switch (pick_op(step, steps, r)) {
        case 0:
            v = et_next(&rng);
            assert_int_equal(e->put(map, key, v), 0);
            ref.count += !ref.present[i];
            ref.present[i] = 1;
            ref.value[i] = v;
            break;
        case 1:
            assert_int_equal(e->del(map, key), ref.present[i]);
            ref.count -= ref.present[i];
            ref.present[i] = 0;
            break;
        default:
            assert_int_equal(e->get(map, key, &v), ref.present[i]);
            if (ref.present[i])
                assert_true(v == ref.value[i]);
            break;
        }
        if (step % (steps / 8) == steps / 8 - 1) {
            check_walk(e, map, &ref);
            if (e->size)
                assert_int_equal(e->size(map), ref.count);
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = 0;
        assert_int_equal(e->get(map, et_key(i, n), &v), ref.present[i]);
        if (ref.present[i])
            assert_true(v == ref.value[i]);
    }
    check_walk(e, map, &ref);
    if (e->bytes)
        assert_true(e->bytes(map) >= ref.count * 16);
    if (e->set_event_hook) {
        /* Go maps start at one bucket, so a map of this size has grown
         * several times; each grow that started has finished or is the
         * last one still running (sharded: one per shard at most). */
        assert_false(ev.bad);
        assert_true(ev.starts >= 3);
        assert_true(ev.finishes <= ev.starts);
        assert_true(ev.starts - ev.finishes <= 32);
    }
    if (e->thread_detach)
        e->thread_detach(map);
    e->destroy(map);
    free(ref.present);
    free(ref.value);
}

static void test_every_engine_matches_reference(void **state)
{
    (void)state;
    uint64_t seed = et_seed("engines_model");
    size_t count, tested = 0;
    const lab_engine *const *all = lab_engines_all(&count);
    for (size_t k = 0; k < count; k++) {
        if (!et_wanted(all[k]->name) || all[k]->out_of_process || all[k]->reading_only)
            continue;
        printf("engine %s\n", all[k]->name);
        fflush(stdout);
        assert_ptr_equal(lab_engine_find(all[k]->name), all[k]);
        run_engine(all[k], seed + k);
        tested++;
    }
    /* An ET_ENGINE that names no engine must not pass as a test of it. */
    assert_true(tested > 0);
    assert_null(lab_engine_find("no-such-engine"));
}

/* The library first, its Go models next, the validation engine last; the
 * peers found at build time in between. Names are unique. */
static void test_registry_order(void **state)
{
    (void)state;
    static const char *const first[] = { "steady", "gomap", "sharded", "syncmap" };
    size_t count;
    const lab_engine *const *all = lab_engines_all(&count);
    assert_true(count >= 5);
    for (size_t k = 0; k < 4; k++)
        assert_string_equal(all[k]->name, first[k]);
    assert_string_equal(all[count - 1]->name, "stall");
    for (size_t k = 0; k < count; k++) {
        assert_non_null(all[k]->description);
        for (size_t j = 0; j < k; j++)
            assert_string_not_equal(all[j]->name, all[k]->name);
        if (all[k]->out_of_process)
            continue;
        assert_non_null(all[k]->create);
        assert_non_null(all[k]->get);
        assert_non_null(all[k]->put);
        assert_non_null(all[k]->del);
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The floor reading refuses a map it cannot pre-size, answers the lab's
 * value for every key, and only runs where every get hits. */
static void test_floor_is_a_reading(void **state)
{
    (void)state;
    const lab_engine *e = lab_engine_find("floor");
    assert_non_null(e);
    assert_true(e->reading_only);
    assert_null(e->create(0));
    void *map = e->create(1000);
    assert_non_null(map);
    assert_true(e->bytes(map) >= 1000 * 16);
    for (uint64_t i = 0; i < 5000; i++) {
        uint64_t k = lab_key_of(i, 99), v = 0;
        assert_int_equal(e->put(map, k, lab_value_of(k)), 0);
        assert_int_equal(e->get(map, k, &v), 1);
        assert_int_equal(v, lab_value_of(k));
    }
    e->destroy(map);
    /* pre-sized, so create() would succeed: only the reading_only gate
     * keeps the floor out of a scenario whose gets may miss */
    lab_settings s = { .seed = 1, .duration_ms = 20, .keys = 1000 };
    lab_result *r = lab_run(&lab_scenario_coldstart_presized, e, LAB_CLOSED_LOOP, &s);
    assert_non_null(r);
    assert_true(r->skipped);
    assert_non_null(strstr(r->skip_reason, "a reading, not a map"));
    lab_result_free(r);
    r = lab_run(&lab_scenario_mixed, e, LAB_CLOSED_LOOP, &s);
    assert_non_null(r);
    assert_false(r->skipped);
    assert_true(r->ops > 0);
    assert_int_equal(r->err_value + r->err_missing + r->err_engine, 0);
    lab_result_free(r);
}

/* The validation engine stalls where it says: the 1000th, 2000th and 3000th
 * operations (whatever they are) each take at least 1 ms. */
static void test_stall_engine_stalls_every_1000th_op(void **state)
{
    (void)state;
    const lab_engine *e = lab_engine_find("stall");
    assert_non_null(e);
    void *map = e->create(0);
    assert_non_null(map);
    for (uint64_t op = 1; op <= 3000; op++) {
        uint64_t v, t0 = now_ns();
        if (op % 3 == 0)
            assert_int_equal(e->put(map, op, op), 0);
        else
            assert_true(e->get(map, op - 1, &v) >= 0);
        uint64_t took = now_ns() - t0;
        if (op % 1000 == 0)
            assert_true(took >= 1000000);
    }
    e->destroy(map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_order),
        cmocka_unit_test(test_stall_engine_stalls_every_1000th_op),
        cmocka_unit_test(test_floor_is_a_reading),
        cmocka_unit_test(test_every_engine_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
