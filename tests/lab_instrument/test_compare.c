/*
 * The comparison's judge can say both PASS and MISS: the verdict is fed
 * made-up results where the answer is known (steady best; steady beaten on
 * each criterion; an input missing), and the memory measurement on the
 * steady engine at a small size gives numbers a map could have. A verdict
 * that only ever passes cannot be told from one that reads nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "harness/clock.h"
#include "harness/compare.h"
#include "harness/memory.h"
#include "harness/run.h"
#include "harness/verdict.h"

extern const lab_engine lab_engine_steady;

#define MAX_RESULTS 64

typedef struct fixture {
    lab_result *r[MAX_RESULTS];
    size_t n;
    lab_memory_result mem[8];
    size_t nmem;
} fixture;

/* The one single-threaded engine of these made-up results. */
static int flat_is_single(const char *engine)
{
    return strcmp(engine, "boost_flat") == 0;
}

/* 10 000 gets: 9 980 at `typical`, 20 at `tail` (so p99.9 = tail), one at
 * `max`; throughput ops_per_s. */
static lab_result *made_up(const char *scenario, const char *engine, lab_load_model m,
                           uint64_t typical, uint64_t tail, uint64_t max, double ops_per_s)
{
    lab_result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    snprintf(r->scenario, sizeof r->scenario, "%s", scenario);
    snprintf(r->engine, sizeof r->engine, "%s", engine);
    r->model = m;
    r->keys = 1000000;
    lab_hist_init(&r->get_hist);
    for (int i = 0; i < 9980; i++)
        lab_hist_record(&r->get_hist, typical);
    for (int i = 0; i < 20; i++)
        lab_hist_record(&r->get_hist, tail);
    lab_hist_record(&r->get_hist, max);
    r->hist = r->get_hist;
    r->ops = r->hist.count;
    r->seconds = (double)r->ops / ops_per_s;
    return r;
}

static void add(fixture *f, const char *scenario, const char *engine, lab_load_model m,
                uint64_t typical, uint64_t tail, uint64_t max, double ops_per_s)
{
    assert_true(f->n < MAX_RESULTS);
    f->r[f->n++] = made_up(scenario, engine, m, typical, tail, max, ops_per_s);
}

/* Every operation of r takes ns, and all of them are gets. */
static void all_gets_at(lab_result *r, uint64_t ns)
{
    lab_hist_init(&r->get_hist);
    for (int i = 0; i < 10000; i++)
        lab_hist_record(&r->get_hist, ns);
    r->hist = r->get_hist;
}

/* Adds n writes of ns each to r's all-operations histogram only. */
static void add_writes(lab_result *r, int n, uint64_t ns)
{
    for (int i = 0; i < n; i++)
        lab_hist_record(&r->hist, ns);
    r->ops = r->hist.count;
}

static void add_memory(fixture *f, const char *engine, double per_entry, double kept)
{
    lab_memory_result *m = &f->mem[f->nmem++];
    memset(m, 0, sizeof *m);
    snprintf(m->engine, sizeof m->engine, "%s", engine);
    m->keys = 16000000;
    m->rss_base = 10u << 20;
    m->rss_full = m->rss_base + (uint64_t)(per_entry * (double)m->keys);
    m->rss_after_delete = m->rss_base + (uint64_t)(kept * (double)(m->rss_full - m->rss_base));
}

/* steady best everywhere; gomap and sharded behind; boost_flat faster still
 * where it runs, but single-threaded, so never a peer. */
static void steady_wins(fixture *f)
{
    static const char *const tails[] = { "growth", "range", "oversub" };
    for (size_t s = 0; s < 3; s++)
        for (int m = 0; m < 2; m++) {
            add(f, tails[s], "steady", (lab_load_model)m, 100, 2000, 50000, 1e6);
            add(f, tails[s], "gomap", (lab_load_model)m, 100, 900000, 9000000, 1e6);
            add(f, tails[s], "sharded", (lab_load_model)m, 100, 40000, 3000000, 1e6);
            add(f, tails[s], "boost_flat", (lab_load_model)m, 10, 20, 30, 1e7);
        }
    add(f, "mixed", "steady", LAB_CLOSED_LOOP, 100, 200, 300, 9e6);
    add(f, "mixed", "gomap", LAB_CLOSED_LOOP, 100, 200, 300, 3e6);
    add(f, "mixed", "sharded", LAB_CLOSED_LOOP, 100, 200, 300, 5e6);
    add(f, "mixed", "boost_flat", LAB_CLOSED_LOOP, 100, 200, 300, 5e7);
    add(f, "micro", "steady", LAB_CLOSED_LOOP, 55, 55, 55, 1e7);
    add(f, "micro", "boost_flat", LAB_CLOSED_LOOP, 50, 50, 50, 1e7);
    add(f, LAB_MICRO_LARGE, "steady", LAB_CLOSED_LOOP, 120, 120, 120, 1e7);
    add(f, LAB_MICRO_LARGE, "boost_flat", LAB_CLOSED_LOOP, 100, 100, 100, 1e7);
    add_memory(f, "steady", 30, 0.2);
    add_memory(f, "gomap", 45, 1.0);
    add_memory(f, "sharded", 35, 1.0);
    add_memory(f, "syncmap", 90, 1.0);
    add_memory(f, "boost_flat", 10, 1.0);
}

static void judge(const fixture *f, lab_check out[LAB_VERDICT_CHECKS])
{
    lab_verdict_input in = {
        .results = (const lab_result *const *)f->r,
        .nresults = f->n,
        .memory = f->mem,
        .nmemory = f->nmem,
        .single_threaded = flat_is_single,
    };
    lab_verdict(&in, out);
}

static void release(fixture *f)
{
    for (size_t i = 0; i < f->n; i++)
        lab_result_free(f->r[i]);
}

static lab_result *find(fixture *f, const char *scenario, const char *engine, lab_load_model m)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->r[i]->scenario, scenario) == 0 && strcmp(f->r[i]->engine, engine) == 0 &&
            f->r[i]->model == m)
            return f->r[i];
    fail_msg("no result %s %s", scenario, engine);
    return NULL;
}

static void all_pass_when_steady_is_best(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    for (int i = 0; i < LAB_VERDICT_CHECKS; i++) {
        if (c[i].status != LAB_CHECK_PASS)
            fail_msg("(%c) %s:\n%s", c[i].id, lab_check_status_name(c[i].status), c[i].detail);
    }
    /* the numbers are in the detail: 9M / 5M = 1.80x, 55 / 50 = 1.10x,
     * median of 35, 45, 90 = 45 */
    assert_non_null(strstr(c[1].detail, "1.80x"));
    assert_non_null(strstr(c[2].detail, "1.10x"));
    assert_non_null(strstr(c[3].detail, "median of 3 concurrent peers 45.0"));
    release(&f);
}

static void each_check_can_miss(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    /* (a) a peer's max below steady's in one scenario and model */
    lab_result *r = find(&f, "oversub", "sharded", LAB_OPEN_LOOP);
    all_gets_at(r, 100);
    /* (b) the best peer at 7.5M: steady's 9M is only 1.2x */
    r = find(&f, "mixed", "sharded", LAB_CLOSED_LOOP);
    r->seconds = (double)r->ops / 7.5e6;
    /* (c) steady 1.3x boost_flat at 64M */
    r = find(&f, LAB_MICRO_LARGE, "boost_flat", LAB_CLOSED_LOOP);
    all_gets_at(r, 92);
    /* (d) steady keeps 90% after the deletes */
    f.mem[0].rss_after_delete = f.mem[0].rss_base + (f.mem[0].rss_full - f.mem[0].rss_base) * 9 / 10;
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    for (int i = 0; i < LAB_VERDICT_CHECKS; i++)
        if (c[i].status != LAB_CHECK_MISS)
            fail_msg("(%c) %s:\n%s", c[i].id, lab_check_status_name(c[i].status), c[i].detail);
    assert_non_null(strstr(c[0].detail, "oversub, open loop"));
    assert_non_null(strstr(c[1].detail, "1.20x"));
    assert_non_null(strstr(c[3].detail, "keeps 90%"));
    release(&f);
}

/* (a) is about reads: steady's slow writes (its migration steps) do not
 * fail it, and a peer's fast writes do not rescue the peer's slow gets. */
static void tails_judge_the_gets(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    add_writes(find(&f, "growth", "steady", LAB_CLOSED_LOOP), 1000, 30000000);
    lab_result *r = find(&f, "growth", "sharded", LAB_CLOSED_LOOP);
    add_writes(r, 100000, 50);
    assert_true(lab_hist_percentile(&r->hist, 99.9) <
                lab_hist_percentile(&find(&f, "growth", "steady", LAB_CLOSED_LOOP)->hist, 99.9));
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    assert_int_equal(c[0].status, LAB_CHECK_PASS);
    /* and the other way round: a peer's gets faster than steady's */
    all_gets_at(find(&f, "growth", "gomap", LAB_CLOSED_LOOP), 100);
    judge(&f, c);
    assert_int_equal(c[0].status, LAB_CHECK_MISS);
    assert_non_null(strstr(c[0].detail, "growth, closed loop: steady get p99.9"));
    release(&f);
}

/* The floor reading is never a peer, and (b) says whether 1.5x was within
 * its reach. */
static void throughput_is_weighed_against_the_floor(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    add(&f, "mixed", LAB_FLOOR_ENGINE, LAB_CLOSED_LOOP, 50, 60, 70, 1e7);
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    /* 9M against sharded's 5M, not against the floor's 10M */
    assert_int_equal(c[1].status, LAB_CHECK_PASS);
    assert_non_null(strstr(c[1].detail, "2.00x the best peer: the factor needed is within"));
    assert_non_null(strstr(c[1].detail, "steady is at 90% of the floor"));
    /* a floor below 1.5x the best peer: out of reach */
    lab_result *st = find(&f, "mixed", "steady", LAB_CLOSED_LOOP);
    st->seconds = (double)st->ops / 6e6;
    find(&f, "mixed", LAB_FLOOR_ENGINE, LAB_CLOSED_LOOP)->seconds = 10000 / 7e6;
    judge(&f, c);
    assert_int_equal(c[1].status, LAB_CHECK_MISS);
    assert_non_null(strstr(c[1].detail, "1.40x the best peer: the factor needed is out of"));
    /* a map faster than the floor: the floor bounds nothing in that run */
    st->seconds = (double)st->ops / 8e6;
    judge(&f, c);
    assert_non_null(strstr(c[1].detail, "this run's floor is noise, not a ceiling"));
    release(&f);
}

static void bytes_per_entry_above_the_median_misses(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    f.mem[0].rss_full = f.mem[0].rss_base + 50u * f.mem[0].keys; /* median is 45 */
    f.mem[0].rss_after_delete = f.mem[0].rss_base;
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    assert_int_equal(c[3].status, LAB_CHECK_MISS);
    assert_int_equal(c[0].status, LAB_CHECK_PASS);
    release(&f);
}

static void missing_inputs_are_not_checked(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    add(&f, "micro", "steady", LAB_CLOSED_LOOP, 55, 55, 55, 1e7);
    add(&f, "mixed", "steady", LAB_CLOSED_LOOP, 100, 200, 300, 9e6);
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    for (int i = 0; i < LAB_VERDICT_CHECKS; i++)
        assert_int_equal(c[i].status, LAB_CHECK_NOT_CHECKED);
    assert_non_null(strstr(c[2].detail, "boost_flat was not run"));
    release(&f);
}

/* With --threads=1 growth is its writer alone: steady has no gets, and
 * (a) has nothing to compare rather than an empty histogram's zeros. */
static void tails_without_steadys_gets_are_not_checked(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    lab_result *st = find(&f, "growth", "steady", LAB_OPEN_LOOP);
    lab_hist_init(&st->get_hist);
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    assert_int_equal(c[0].status, LAB_CHECK_NOT_CHECKED);
    assert_non_null(strstr(c[0].detail, "growth, open loop: steady's run measured no gets"));
    release(&f);
}

static void mark_skipped(lab_result *r, const char *why)
{
    r->skipped = 1;
    snprintf(r->skip_reason, sizeof r->skip_reason, "%s", why);
}

/* A peer that could not be measured is named in the comparison it is
 * missing from, so "best of N peers" says who is not among the N. */
static void peers_not_measured_are_named(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    add(&f, "range", "syncmap", LAB_CLOSED_LOOP, 100, 900000, 9000000, 1e6);
    mark_skipped(f.r[f.n - 1], "failed: the engine crashed");
    /* a peer with no gets has no p99.9 to compare, not one of 0 ns */
    lab_hist_init(&find(&f, "range", "gomap", LAB_CLOSED_LOOP)->get_hist);
    add(&f, "mixed", "syncmap", LAB_CLOSED_LOOP, 100, 200, 300, 1e6);
    mark_skipped(f.r[f.n - 1], "failed: killed at its time limit");
    f.mem[1].skipped = 1; /* gomap */
    snprintf(f.mem[1].note, sizeof f.mem[1].note, "failed: out of memory");
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    assert_int_equal(c[0].status, LAB_CHECK_PASS);
    assert_non_null(strstr(c[0].detail, "range, closed loop: steady get p99.9 2.01 us, max 50 us; "
                                        "best of 1 peers: p99.9 40.2 us (sharded), max 3 ms "
                                        "(sharded); 2 peers not measured (see the tables): "
                                        "gomap, syncmap -> PASS"));
    assert_int_equal(c[1].status, LAB_CHECK_PASS);
    assert_non_null(strstr(c[1].detail, "best of 2 peers: sharded 5.00M ops/s: 1.80x (needs >= "
                                        "1.50x); 1 peer not measured (see the tables): syncmap"));
    assert_int_equal(c[3].status, LAB_CHECK_PASS);
    assert_non_null(strstr(c[3].detail, "median of 2 concurrent peers 62.5; 1 peer not measured "
                                        "(see the tables): gomap"));
    release(&f);
}

/* (d) is about the largest size: when steady's measurement there failed, a
 * smaller one does not stand in for it. */
static void memory_without_steadys_largest_size_is_not_checked(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    /* at 1M keys steady would pass */
    add_memory(&f, "steady", 30, 0.2);
    f.mem[f.nmem - 1].keys = 1000000;
    add_memory(&f, "gomap", 45, 1.0);
    f.mem[f.nmem - 1].keys = 1000000;
    f.mem[0].skipped = 1;
    snprintf(f.mem[0].note, sizeof f.mem[0].note, "failed: killed at its time limit");
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    assert_int_equal(c[3].status, LAB_CHECK_NOT_CHECKED);
    assert_non_null(strstr(c[3].detail, "memory at 16000000 keys: steady's measurement failed: "
                                        "failed: killed at its time limit"));
    release(&f);
}

static void errors_in_steady_are_a_miss(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    find(&f, "growth", "steady", LAB_CLOSED_LOOP)->err_missing = 3;
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    assert_int_equal(c[0].status, LAB_CHECK_MISS);
    assert_non_null(strstr(c[0].detail, "steady returned 3 errors"));
    release(&f);
}

/* Replaces steady's mixed run with the one kept of three rounds at 6M, 9M
 * and 12M ops/s, the slowest and the fastest carrying `errors` each. */
static lab_result *steady_mixed_from_rounds(fixture *f, uint64_t errors)
{
    lab_result *rounds[3] = {
        made_up("mixed", "steady", LAB_CLOSED_LOOP, 100, 200, 300, 12e6),
        made_up("mixed", "steady", LAB_CLOSED_LOOP, 100, 200, 300, 6e6),
        made_up("mixed", "steady", LAB_CLOSED_LOOP, 100, 200, 300, 9e6),
    };
    rounds[0]->err_value = errors;
    rounds[1]->err_missing = errors;
    rounds[1]->err_engine = errors;
    lab_result *median = rounds[2];
    lab_result *kept = lab_keep_median_run(rounds, 3);
    assert_ptr_equal(kept, median);
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->r[i]->scenario, "mixed") == 0 && strcmp(f->r[i]->engine, "steady") == 0) {
            lab_result_free(f->r[i]);
            f->r[i] = kept;
        }
    return kept;
}

/* Mixed keeps one of its three rounds for the tables; an error in a round it
 * did not keep must still count, and keep (b) from passing. */
static void rounds_not_kept_keep_their_errors(void **state)
{
    (void)state;
    fixture f = { .n = 0 };
    steady_wins(&f);
    steady_mixed_from_rounds(&f, 0);
    lab_check c[LAB_VERDICT_CHECKS];
    judge(&f, c);
    assert_int_equal(c[1].status, LAB_CHECK_PASS);
    assert_non_null(strstr(c[1].detail, "1.80x"));

    lab_result *kept = steady_mixed_from_rounds(&f, 2);
    assert_int_equal(kept->err_value, 2);
    assert_int_equal(kept->err_missing, 2);
    assert_int_equal(kept->err_engine, 2);
    judge(&f, c);
    assert_int_equal(c[1].status, LAB_CHECK_MISS);
    assert_non_null(strstr(c[1].detail, "steady returned 6 errors"));
    release(&f);
}

static void memory_of_steady_is_plausible(void **state)
{
    (void)state;
    /* self_exe NULL: measured in this process, which is what the child does */
    lab_settings s = { .seed = 5 };
    lab_memory_result m;
    const uint64_t keys = 200000;
    assert_int_equal(lab_memory_measure(&lab_engine_steady, keys, &s, &m), 0);
    assert_false(m.skipped);
    assert_string_equal(m.engine, "steady");
    assert_int_equal(m.keys, keys);
    assert_true(m.rss_base > 0);
    assert_true(m.rss_full > m.rss_base);
    /* at least the 16 bytes of key and value per entry are resident */
    assert_true(m.rss_full - m.rss_base >= 16 * keys);
    assert_true(m.engine_bytes_full >= 16 * keys);
    /* deleting 90% shrinks the table (the library's bytes, not RSS, which
     * also depends on the allocator) */
    assert_true(m.engine_bytes_after_delete > 0);
    assert_true(m.engine_bytes_after_delete < m.engine_bytes_full);
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
        cmocka_unit_test(all_pass_when_steady_is_best),
        cmocka_unit_test(each_check_can_miss),
        cmocka_unit_test(tails_judge_the_gets),
        cmocka_unit_test(throughput_is_weighed_against_the_floor),
        cmocka_unit_test(bytes_per_entry_above_the_median_misses),
        cmocka_unit_test(missing_inputs_are_not_checked),
        cmocka_unit_test(tails_without_steadys_gets_are_not_checked),
        cmocka_unit_test(peers_not_measured_are_named),
        cmocka_unit_test(memory_without_steadys_largest_size_is_not_checked),
        cmocka_unit_test(errors_in_steady_are_a_miss),
        cmocka_unit_test(rounds_not_kept_keep_their_errors),
        cmocka_unit_test(memory_of_steady_is_plausible),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
