/*
 * The errors column fires: an engine that invents values and loses keys,
 * run through the lab's harness, must show wrong values and missing keys,
 * and an engine that fails must show engine errors. (A checker that never
 * fires cannot be told from one that is not there.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "harness/clock.h"
#include "harness/keys.h"
#include "harness/run.h"

extern char **environ;

static int dummy_map;

static void *liar_create(uint64_t capacity_hint)
{
    (void)capacity_hint;
    return &dummy_map;
}

static void liar_destroy(void *map)
{
    (void)map;
}

/* Odd keys: "found" with the key as value (wrong); even keys: absent. */
static int liar_get(void *map, uint64_t key, uint64_t *value)
{
    (void)map;
    if (key & 1) {
        *value = key;
        return 1;
    }
    return 0;
}

static int liar_put(void *map, uint64_t key, uint64_t value)
{
    (void)map;
    (void)key;
    (void)value;
    return 0;
}

static int liar_del(void *map, uint64_t key)
{
    (void)map;
    (void)key;
    return 0;
}

static const lab_engine liar = {
    .name = "liar",
    .description = "invents values and loses keys (test only)",
    .create = liar_create,
    .destroy = liar_destroy,
    .get = liar_get,
    .put = liar_put,
    .del = liar_del,
};

/* Fails every get after pre-filling fine. */
static int failing_get(void *map, uint64_t key, uint64_t *value)
{
    (void)map;
    (void)key;
    (void)value;
    return -1;
}

static const lab_engine failing = {
    .name = "failing",
    .description = "every get fails (test only)",
    .create = liar_create,
    .destroy = liar_destroy,
    .get = failing_get,
    .put = liar_put,
    .del = liar_del,
};

static const lab_scenario check = {
    .name = "errors-check",
    .description = "1 thread, 100% get on a pre-filled map (instrument validation)",
    .reproduces = "nothing: checks the checker",
    .workload = LAB_WORKLOAD_MIXED,
    .threads = 1,
    .fixed_threads = 1,
    .mix = { .get = 100 },
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1000,
    .presized = 1,
    .duration_ms = 100,
    .open_rate = 10000,
};

static const lab_settings settings = { .seed = 9 };

static void wrong_values_and_lost_keys_are_counted(void **state)
{
    (void)state;
    lab_result *r = lab_run(&check, &liar, LAB_CLOSED_LOOP, &settings);
    assert_non_null(r);
    assert_false(r->skipped);
    assert_true(r->ops > 100);
    /* about half the keys are odd, half even: every get is one or the other */
    assert_int_equal(r->err_value + r->err_missing, r->ops);
    assert_true(r->err_value > r->ops / 4);
    assert_true(r->err_missing > r->ops / 4);
    lab_result_free(r);
}

static void engine_failures_are_counted(void **state)
{
    (void)state;
    lab_result *r = lab_run(&check, &failing, LAB_CLOSED_LOOP, &settings);
    assert_non_null(r);
    assert_int_equal(r->err_engine, r->ops);
    lab_result_free(r);
}

static void range_without_iterate_is_not_applicable(void **state)
{
    (void)state;
    lab_result *r = lab_run(&lab_scenario_range, &liar, LAB_CLOSED_LOOP, &settings);
    assert_non_null(r);
    assert_true(r->skipped);
    assert_string_equal(r->skip_reason, "n/a: engine cannot iterate");
    lab_result_free(r);
}

/*
 * The range scenario's iterator check: every pre-filled key must be visited
 * in each full pass. A map that answers every get right but whose iteration
 * hands out key 0 twice in place of key 1 visits as many entries as there
 * are keys, which the check once counted as complete (found by review).
 */
static const lab_settings range_settings = { .seed = 9, .keys = 1000, .duration_ms = 100 };

static int truthful_get(void *map, uint64_t key, uint64_t *value)
{
    (void)map;
    *value = lab_value_of(key);
    return 1;
}

static long iterate_all_but(void *map, lab_visit_fn visit, void *ctx, uint64_t skipped)
{
    (void)map;
    uint64_t salt = lab_run_salt(range_settings.seed);
    for (uint64_t i = 0; i < range_settings.keys; i++) {
        uint64_t k = lab_key_of(i == skipped ? 0 : i, salt);
        visit(k, lab_value_of(k), ctx);
    }
    return (long)range_settings.keys;
}

static long iterate_every_key(void *map, lab_visit_fn visit, void *ctx)
{
    return iterate_all_but(map, visit, ctx, UINT64_MAX);
}

static long iterate_key_0_twice(void *map, lab_visit_fn visit, void *ctx)
{
    return iterate_all_but(map, visit, ctx, 1);
}

static const lab_engine complete_iterator = {
    .name = "complete-iterator",
    .description = "every get right, every key once per pass (test only)",
    .create = liar_create,
    .destroy = liar_destroy,
    .get = truthful_get,
    .put = liar_put,
    .del = liar_del,
    .iterate = iterate_every_key,
};

static const lab_engine skipping_iterator = {
    .name = "skipping-iterator",
    .description = "every get right, key 1 replaced by key 0 in each pass (test only)",
    .create = liar_create,
    .destroy = liar_destroy,
    .get = truthful_get,
    .put = liar_put,
    .del = liar_del,
    .iterate = iterate_key_0_twice,
};

static void a_pass_that_skips_a_key_is_counted(void **state)
{
    (void)state;
    lab_result *ok = lab_run(&lab_scenario_range, &complete_iterator, LAB_CLOSED_LOOP,
                             &range_settings);
    assert_non_null(ok);
    assert_false(ok->skipped);
    assert_true(ok->iterations > 0);
    assert_int_equal(ok->err_value + ok->err_missing + ok->err_engine, 0);
    lab_result_free(ok);

    lab_result *bad = lab_run(&lab_scenario_range, &skipping_iterator, LAB_CLOSED_LOOP,
                              &range_settings);
    assert_non_null(bad);
    assert_false(bad->skipped);
    assert_true(bad->iterations > 0);
    assert_int_equal(bad->err_value, 0);
    assert_int_equal(bad->err_missing, bad->iterations);
    lab_result_free(bad);
}

static pid_t spawn(char *const argv[])
{
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], NULL, NULL, argv, environ), 0);
    return pid;
}

/* A child that never ends (a peer library that hangs) is killed at its limit
 * and reaped, and one that ends in time reports its own exit status. */
static void hung_child_is_killed(void **state)
{
    (void)state;
    char *const hang[] = { "/bin/sleep", "600", NULL };
    int status = 0;
    pid_t pid = spawn(hang);
    assert_int_equal(lab_wait_child(pid, 50, &status), 1);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    /* reaped: nothing is left to wait for */
    assert_int_equal(lab_wait_child(pid, 0, &status), -1);
    errno = 0;
    assert_int_equal(waitpid(pid, &status, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);

    char *const fails[] = { "/bin/sh", "-c", "exit 3", NULL };
    pid = spawn(fails);
    assert_int_equal(lab_wait_child(pid, 60000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
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
        cmocka_unit_test(wrong_values_and_lost_keys_are_counted),
        cmocka_unit_test(engine_failures_are_counted),
        cmocka_unit_test(range_without_iterate_is_not_applicable),
        cmocka_unit_test(a_pass_that_skips_a_key_is_counted),
        cmocka_unit_test(hung_child_is_killed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
