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
        cmocka_unit_test(hung_child_is_killed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
