/*
 * The out-of-process peers, checked through the same entry points the lab
 * uses. Two things can go wrong with a peer that the lab could not notice
 * by itself:
 *   - its port of the key streams drifts from keys.h, and it silently
 *     measures other keys and other operation mixes than the C engines: the
 *     streams test recomputes the peer's digest (PROTOCOL.md) in C;
 *   - its worker loops or result are wrong: every engine runs micro, growth
 *     and range under both load models, and churn, and must come back
 *     measured (not n/a), with operations, timeline windows, no errors, and
 *     for growth every key inserted.
 * A peer that wrote its numbers in its runtime's locale would have every run
 * come back n/a (malformed) on a machine set to German: the Java peer runs
 * once with a decimal comma as its default.
 * And one the lab must handle: a peer that hangs is killed at its limit.
 * Latencies are not asserted: on a shared two-core machine they say more
 * about the machine than about the peer.
 */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv, strdup under -std=c11 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "external/external.h"
#include "harness/keys.h"
#include "harness/memory.h"
#include "harness/run.h"
#include "scenarios/scenario.h"

#define MAX_PEERS 16
#define SEED 20261126u

static const lab_engine *peers[MAX_PEERS];
static size_t npeers;

static uint64_t fold(uint64_t h, uint64_t x)
{
    return lab_mix(h ^ x);
}

/* The digest of PROTOCOL.md ("streams"), from keys.h and run.c's seeding. */
static uint64_t c_digest(uint64_t seed, uint64_t keys, const lab_zipf *z)
{
    uint64_t h = 0, salt = lab_run_salt(seed);
    for (unsigned i = 0; i < 4; i++) {
        lab_rng r;
        lab_rng_seed(&r, lab_worker_seed(seed, i));
        for (uint64_t j = 0; j < 1000; j++) {
            h = fold(h, lab_rng_next(&r));
            h = fold(h, lab_rng_below(&r, keys));
            h = fold(h, lab_rng_below(&r, 100));
            if (z)
                h = fold(h, lab_zipf_next(z, &r));
            double u = lab_rng_unit(&r);
            uint64_t bits;
            memcpy(&bits, &u, sizeof bits);
            h = fold(h, bits);
            h = fold(h, lab_key_of(j, salt));
            h = fold(h, lab_value_of(lab_key_of(j, salt)));
        }
    }
    return h;
}

static void check_streams(const lab_engine *e, uint64_t keys, const lab_zipf *z)
{
    char a_seed[48], a_keys[48], a_zipf[256];
    snprintf(a_seed, sizeof a_seed, "--seed=%u", SEED);
    snprintf(a_keys, sizeof a_keys, "--keys=%llu", (unsigned long long)keys);
    const char *args[] = { "streams", a_seed, a_keys, NULL, NULL };
    if (z) {
        snprintf(a_zipf, sizeof a_zipf, "--zipf=%llu,%a,%a,%a,%a,%a", (unsigned long long)z->n,
                 z->theta, z->alpha, z->zetan, z->eta, z->half_pow_theta);
        args[3] = a_zipf;
    }
    char *out;
    int rc = lab_external_exec(e, args, 60000, &out);
    assert_int_equal(rc, 0);
    assert_non_null(out);
    char want[64];
    snprintf(want, sizeof want, "streams %016llx\n", (unsigned long long)c_digest(SEED, keys, z));
    if (strcmp(out, want) != 0)
        fail_msg("%s: the peer's key streams differ from keys.h: peer \"%s\", C \"%s\"", e->name,
                 out, want);
    free(out);
}

static void test_streams_match_c(void **state)
{
    (void)state;
    const char *const *done[MAX_PEERS];
    size_t ndone = 0;
    lab_zipf z;
    lab_zipf_init(&z, 1u << 16, 0.99);
    for (size_t i = 0; i < npeers; i++) {
        /* once per peer program, not per engine */
        const char *const *cmd = lab_external_command(peers[i]);
        int seen = 0;
        for (size_t j = 0; j < ndone; j++)
            seen |= done[j] == cmd;
        if (seen)
            continue;
        done[ndone++] = cmd;
        check_streams(peers[i], 1u << 19, NULL);
        check_streams(peers[i], 1u << 16, &z);
    }
}

static void check_run(const lab_scenario *sc, const lab_engine *e, lab_load_model model)
{
    /* Small and short: 29 runs, most of them a process start-up, must
     * stay within half a minute on two shared cores. */
    lab_settings s = { .seed = SEED, .keys = 1u << 15, .duration_ms = 100 };
    lab_result *r = lab_run(sc, e, model, &s);
    assert_non_null(r);
    const char *what = lab_load_model_name(model);
    if (r->skipped)
        fail_msg("%s %s %s: not run: %s", sc->name, what, e->name, r->skip_reason);
    if (r->err_value || r->err_missing || r->err_engine)
        fail_msg("%s %s %s: errors: %llu wrong values, %llu missing, %llu engine", sc->name, what,
                 e->name, (unsigned long long)r->err_value, (unsigned long long)r->err_missing,
                 (unsigned long long)r->err_engine);
    if (r->ops == 0 || r->nwindows == 0 || r->seconds <= 0)
        fail_msg("%s %s %s: nothing measured (%llu ops, %zu windows)", sc->name, what, e->name,
                 (unsigned long long)r->ops, r->nwindows);
    uint64_t in_windows = 0;
    for (size_t i = 0; i < r->nwindows; i++)
        in_windows += r->windows[i].count;
    assert_int_equal(in_windows, r->ops);
    assert_true(r->hist.min <= r->hist.max);
    if (sc->workload == LAB_WORKLOAD_GROWTH && r->ops < r->keys * r->runs)
        fail_msg("%s %s %s: %llu operations for %llu keys: the fill did not finish", sc->name,
                 what, e->name, (unsigned long long)r->ops, (unsigned long long)r->keys);
    /* the peer counts its gets apart: growth's writer puts each key once */
    if (sc->workload == LAB_WORKLOAD_GROWTH)
        assert_int_equal(r->get_hist.count, r->ops - r->keys * r->runs);
    else if (sc->mix.get > 0 && sc->mix.get < 100)
        assert_true(r->get_hist.count > 0 && r->get_hist.count < r->ops);
    if (sc->iterator && r->iterations == 0)
        fail_msg("%s %s %s: the iterator finished no pass", sc->name, what, e->name);
    printf("  %-8s %-6s %-12s %9llu ops  mean %8.0f ns  p99 %9llu ns  %zu windows  %zu rss\n",
           sc->name, what, e->name, (unsigned long long)r->ops, lab_hist_mean(&r->hist),
           (unsigned long long)lab_hist_percentile(&r->hist, 99), r->nwindows, r->nrss);
    lab_result_free(r);
}

static void test_runs_without_errors(void **state)
{
    (void)state;
    const lab_scenario *both[] = { &lab_scenario_micro, &lab_scenario_growth, &lab_scenario_range };
    for (size_t i = 0; i < npeers; i++) {
        for (size_t j = 0; j < sizeof both / sizeof both[0]; j++) {
            check_run(both[j], peers[i], LAB_CLOSED_LOOP);
            check_run(both[j], peers[i], LAB_OPEN_LOOP);
        }
        check_run(&lab_scenario_churn, peers[i], LAB_CLOSED_LOOP);
    }
}

/* JAVA_TOOL_OPTIONS as it was before the German run, to put back. */
static char *saved_java_options;

static int german_jvm(void **state)
{
    (void)state;
    const char *was = getenv("JAVA_TOOL_OPTIONS");
    saved_java_options = was ? strdup(was) : NULL;
    return setenv("JAVA_TOOL_OPTIONS", "-Duser.language=de -Duser.country=DE", 1);
}

static int default_jvm(void **state)
{
    (void)state;
    int rc = saved_java_options ? setenv("JAVA_TOOL_OPTIONS", saved_java_options, 1)
                                : unsetenv("JAVA_TOOL_OPTIONS");
    free(saved_java_options);
    saved_java_options = NULL;
    return rc;
}

/* The lab reads a peer's numbers with a point for the decimal separator; a
 * JVM formats numbers in its default locale, which in Germany writes a
 * comma. Range's result has both of its fractional numbers (seconds and the
 * mean iterator pass). */
static void test_java_in_a_comma_locale(void **state)
{
    (void)state;
    const lab_engine *java = NULL;
    for (size_t i = 0; i < npeers; i++)
        if (strcmp(peers[i]->name, "java_chm") == 0)
            java = peers[i];
    if (!java)
        skip();
    check_run(&lab_scenario_range, java, LAB_CLOSED_LOOP);
}

static void test_memory(void **state)
{
    (void)state;
    lab_settings s = { .seed = SEED };
    for (size_t i = 0; i < npeers; i++) {
        lab_memory_result m;
        int rc = lab_external_memory(peers[i], 100000, &s, &m);
        if (rc != 0)
            fail_msg("%s: memory not measured: %s", peers[i]->name, m.note);
        assert_false(m.skipped);
        assert_true(m.rss_base > 0);
        assert_true(m.rss_full > m.rss_base);
        assert_true(m.rss_after_delete > 0);
        assert_true(m.note[0] != '\0');
        printf("  memory %-12s base %llu  full %llu  after delete %llu  (%s)\n", peers[i]->name,
               (unsigned long long)m.rss_base, (unsigned long long)m.rss_full,
               (unsigned long long)m.rss_after_delete, m.note);
    }
}

/* A peer program that outlives its limit is killed and reported as such: a
 * millisecond is less than any runtime here needs to start. */
static void test_late_peer_is_killed(void **state)
{
    (void)state;
    const char *args[] = { "streams", "--seed=1", "--keys=1000000", NULL };
    for (size_t i = 0; i < npeers; i++) {
        char *out;
        assert_int_equal(lab_external_exec(peers[i], args, 1, &out), LAB_EXTERNAL_KILLED);
        free(out);
    }
}

/* The Java test is skipped where only Go was found, and cmocka's exit status
 * cannot say "skipped" for one test of several; CTest runs it alone
 * (lab_external_java, which reports such a skip) and the rest without it. */
#define JAVA_TEST "test_java_in_a_comma_locale"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--java-only") == 0)
        cmocka_set_test_filter(JAVA_TEST);
    else
        cmocka_set_skip_filter(JAVA_TEST);
    size_t n;
    const lab_engine *const *all = lab_engines_all(&n);
    for (size_t i = 0; i < n && npeers < MAX_PEERS; i++)
        if (all[i]->out_of_process)
            peers[npeers++] = all[i];
    if (npeers == 0) {
        printf("no out-of-process peer was built (neither Go 1.19+ nor a Java 17 JDK found)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams_match_c),
        cmocka_unit_test(test_runs_without_errors),
        cmocka_unit_test_setup_teardown(test_java_in_a_comma_locale, german_jvm, default_jvm),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_late_peer_is_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
