#define _GNU_SOURCE
/*
 * The instrument sees exactly the stalls that are there. The registry's
 * "stall" engine is a correct map that busy-waits 1 ms on every 1000th
 * operation. Run through the lab's own harness:
 *
 *   open loop    p99.9 >= 0.9 ms: the stalled operation itself, and those
 *                scheduled during the stall, which queue behind it, count it
 *   closed loop  max >= 0.9 ms (the stall is there), but p99 stays far below
 *                the open loop's: the operations that would have arrived
 *                during the stall were never issued (coordinated omission).
 *                Exactly 1 in 1000 closed-loop samples is a stall, so the
 *                closed p99.9 sits on that boundary; p99 is where the
 *                under-report is unambiguous.
 *
 * With the stall engine's own test (lab_engines_model) and the peer time
 * limit (lab_external), these are the only wall-clock assertions of the
 * lab's tests (docs/LAB.md says why each is safe); the bounds are generous
 * (90 % of the injected 1 ms, a factor of 4 between models) so a loaded
 * machine does not fail them, and a broken load model does.
 * The test also checks that the timer overhead is measured and reported.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "harness/clock.h"
#include "harness/report.h"
#include "harness/run.h"

#define INJECTED_NS 1000000u

/* One thread reading a pre-filled map at 50 000 ops/s (open loop): a 1 ms
 * stall then holds up about 50 scheduled operations. */
static const lab_scenario stall_check = {
    .name = "stall-check",
    .description = "1 thread, 100% get on a pre-filled map (instrument validation)",
    .reproduces = "the stall engine's injected 1 ms",
    .workload = LAB_WORKLOAD_MIXED,
    .threads = 1,
    .fixed_threads = 1,
    .mix = { .get = 100 },
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 10000,
    .presized = 1,
    .duration_ms = 1000,
    .open_rate = 50000,
};

static const lab_settings settings = { .seed = 5 };

static lab_result *run_stall(lab_load_model model)
{
    const lab_engine *e = lab_engine_find("stall");
    assert_non_null(e);
    lab_result *r = lab_run(&stall_check, e, model, &settings);
    assert_non_null(r);
    assert_false(r->skipped);
    assert_int_equal(r->err_value + r->err_missing + r->err_engine, 0);
    /* enough operations that several hundred stalls happened */
    assert_true(r->ops >= 20000);
    return r;
}

static void open_loop_counts_the_stall(void **state)
{
    (void)state;
    lab_result *open = run_stall(LAB_OPEN_LOOP);
    uint64_t p999 = lab_hist_percentile(&open->hist, 99.9);
    print_message("open loop:   p99 %llu ns, p99.9 %llu ns, max %llu ns, %llu ops\n",
                  (unsigned long long)lab_hist_percentile(&open->hist, 99),
                  (unsigned long long)p999, (unsigned long long)open->hist.max,
                  (unsigned long long)open->ops);
    assert_true(p999 >= INJECTED_NS * 9 / 10);
    assert_true(open->hist.max >= INJECTED_NS * 9 / 10);
    lab_result_free(open);
}

static void closed_loop_under_reports_the_stall(void **state)
{
    (void)state;
    lab_result *open = run_stall(LAB_OPEN_LOOP);
    lab_result *closed = run_stall(LAB_CLOSED_LOOP);
    uint64_t open_p99 = lab_hist_percentile(&open->hist, 99);
    uint64_t closed_p99 = lab_hist_percentile(&closed->hist, 99);
    print_message("closed loop: p99 %llu ns, p99.9 %llu ns, max %llu ns, %llu ops\n",
                  (unsigned long long)closed_p99,
                  (unsigned long long)lab_hist_percentile(&closed->hist, 99.9),
                  (unsigned long long)closed->hist.max, (unsigned long long)closed->ops);
    /* the stall is in the closed-loop data ... */
    assert_true(closed->hist.max >= INJECTED_NS * 9 / 10);
    /* ... but 99 % of its samples never saw it, while the open loop's p99
     * is an operation that queued behind one */
    assert_true(open_p99 >= INJECTED_NS / 2);
    assert_true(closed_p99 * 4 < open_p99);
    /* Exactly 1 in 1000 closed-loop samples is a stall, so its p99.9 lands on
     * the stalls themselves (~1 ms), as does the open loop's: the two differ
     * by the jitter of a 1 ms spin. The claim is only that the closed loop
     * never reports worse, so allow that jitter (10%). */
    uint64_t open_p999 = lab_hist_percentile(&open->hist, 99.9);
    assert_true(lab_hist_percentile(&closed->hist, 99.9) <= open_p999 + open_p999 / 10);
    lab_result_free(open);
    lab_result_free(closed);
}

/* The timeline puts the stalls where they happened: with a stall every
 * ~20 ms of open-loop time, most 10 ms windows that hold operations have
 * a max of at least 1 ms or are next to one that has. */
static void timeline_shows_the_stalls(void **state)
{
    (void)state;
    lab_result *open = run_stall(LAB_OPEN_LOOP);
    size_t with_ops = 0, stalled = 0;
    for (size_t i = 0; i < open->nwindows; i++) {
        if (!open->windows[i].count)
            continue;
        with_ops++;
        if (open->windows[i].max >= INJECTED_NS * 9 / 10)
            stalled++;
    }
    print_message("timeline: %zu of %zu windows hold a stalled operation\n", stalled, with_ops);
    assert_true(with_ops >= 50);
    assert_true(stalled * 4 >= with_ops);
    lab_result_free(open);
}

static void timer_overhead_is_measured_and_reported(void **state)
{
    (void)state;
    const lab_clock_info *c = lab_clock();
    assert_true(c->overhead_ns > 0);
    assert_true(c->overhead_ns < 10000);
    assert_true(c->overhead_min_ns <= c->overhead_ns);
    assert_true(c->source[0] != '\0');
    /* a 20 ms sleep measures as 20 ms (generous upper bound: a loaded box) */
    uint64_t a = lab_ticks();
    usleep(20000);
    uint64_t ns = lab_ticks_to_ns(lab_ticks() - a);
    assert_true(ns >= 19000000u && ns < 500000000u);

    char dir[] = "/tmp/lab-instrument-XXXXXX";
    assert_non_null(mkdtemp(dir));
    lab_report rep;
    char *argv[] = { "test" };
    assert_int_equal(lab_report_open(&rep, dir, 1, argv, "test"), 0);
    assert_non_null(strstr(rep.stamp, "timer overhead: "));
    assert_non_null(strstr(rep.stamp, "not subtracted"));
    assert_non_null(strstr(rep.stamp, "clock: "));
    lab_report_close(&rep);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/*
 * Growth's open-loop reader stops with the writers, but only after the gets
 * that were due before they finished. The engine here is a map behind one
 * mutex whose last put of a fill holds the lock for 5 ms: the reader waits
 * in one get, and about 250 more fall due meanwhile. They must be issued and
 * counted from their intended start; the harness once stopped at the end of
 * the blocked get and dropped them (found by review).
 */
#define LAST_PUT_STALL_NS 5000000u
#define LAST_PUT_KEYS 2000u

typedef struct last_put_map {
    pthread_mutex_t lock;
    void *inner;
    uint64_t puts;
} last_put_map;

static const lab_engine *inner_engine(void)
{
    const lab_engine *e = lab_engine_find("steady");
    assert_non_null(e);
    return e;
}

static void *lp_create(uint64_t hint)
{
    last_put_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->inner = inner_engine()->create(hint);
    return m;
}

static void lp_destroy(void *map)
{
    last_put_map *m = map;
    inner_engine()->destroy(m->inner);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int lp_get(void *map, uint64_t key, uint64_t *value)
{
    last_put_map *m = map;
    pthread_mutex_lock(&m->lock);
    int rc = inner_engine()->get(m->inner, key, value);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int lp_put(void *map, uint64_t key, uint64_t value)
{
    last_put_map *m = map;
    pthread_mutex_lock(&m->lock);
    int rc = inner_engine()->put(m->inner, key, value);
    if (++m->puts == LAST_PUT_KEYS) {
        uint64_t until = lab_ticks() + lab_ns_to_ticks(LAST_PUT_STALL_NS);
        while (lab_ticks() < until)
            ;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int lp_del(void *map, uint64_t key)
{
    last_put_map *m = map;
    pthread_mutex_lock(&m->lock);
    int rc = inner_engine()->del(m->inner, key);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static const lab_engine last_put_engine = {
    .name = "last-put-stall",
    .description = "steady behind one mutex; the last put of a fill holds it 5 ms",
    .create = lp_create,
    .destroy = lp_destroy,
    .get = lp_get,
    .put = lp_put,
    .del = lp_del,
};

static const lab_scenario last_put_growth = {
    .name = "growth-last-put",
    .description = "growth of 2000 keys, one writer, one open-loop reader (instrument validation)",
    .reproduces = "a stall in the writers' last put",
    .workload = LAB_WORKLOAD_GROWTH,
    .threads = 2,
    .fixed_threads = 1,
    .writers = 1,
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = LAST_PUT_KEYS,
    .duration_ms = 200,
    .open_rate = 50000,
};

static void growth_reader_counts_the_backlog_of_a_last_put(void **state)
{
    (void)state;
    lab_result *r = lab_run(&last_put_growth, &last_put_engine, LAB_OPEN_LOOP, &settings);
    assert_non_null(r);
    assert_false(r->skipped);
    assert_int_equal(r->err_value + r->err_missing + r->err_engine, 0);
    /* At 50 000 gets/s a 5 ms stall makes about 250 gets due; the ones due
     * in its first 4 ms wait at least 1 ms. Without the backlog a fill
     * counts one such get. */
    uint64_t slow_floor = LAST_PUT_STALL_NS / 5;
    uint64_t p50 = lab_hist_percentile(&r->get_hist, 50);
    print_message("growth, last put stalled: %u fills, %llu gets, get p50 %llu ns, max %llu ns\n",
                  r->runs, (unsigned long long)r->get_hist.count, (unsigned long long)p50,
                  (unsigned long long)r->get_hist.max);
    assert_true(r->get_hist.max >= LAST_PUT_STALL_NS * 9 / 10);
    assert_true(r->get_hist.count >= 100u * r->runs);
    assert_true(p50 >= slow_floor);
    lab_result_free(r);
}

static int setup(void **state)
{
    (void)state;
    lab_clock_init();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timer_overhead_is_measured_and_reported),
        cmocka_unit_test(open_loop_counts_the_stall),
        cmocka_unit_test(closed_loop_under_reports_the_stall),
        cmocka_unit_test(timeline_shows_the_stalls),
        cmocka_unit_test(growth_reader_counts_the_backlog_of_a_last_put),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
