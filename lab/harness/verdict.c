/*
 * verdict.c — the four acceptance checks (see verdict.h), each a plain
 * function of the results, so that tests can feed them made-up numbers and
 * see both answers.
 *
 * Every check writes the numbers it compared into its detail, one line per
 * comparison, so a PASS or MISS can be verified by reading the tables.
 */
#include "harness/verdict.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness/report.h"

#define STEADY "steady"

const char *lab_check_status_name(lab_check_status s)
{
    return s == LAB_CHECK_PASS ? "PASS" : s == LAB_CHECK_MISS ? "MISS" : "NOT CHECKED";
}

int lab_single_threaded(const char *engine)
{
    const lab_engine *e = lab_engine_find(engine);
    return e ? e->single_thread_only : 0;
}

static void add_line(lab_check *c, const char *fmt, ...)
{
    size_t len = strlen(c->detail);
    if (len + 1 >= sizeof c->detail)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail + len, sizeof c->detail - len, fmt, ap);
    va_end(ap);
}

/* A check is missed if any comparison missed; otherwise not checked if any
 * comparison lacked its inputs; otherwise passed. */
static void combine(lab_check *c, lab_check_status part)
{
    if (part == LAB_CHECK_MISS || c->status == LAB_CHECK_MISS)
        c->status = LAB_CHECK_MISS;
    else if (part == LAB_CHECK_NOT_CHECKED || c->status == LAB_CHECK_NOT_CHECKED)
        c->status = LAB_CHECK_NOT_CHECKED;
}

static const lab_result *find(const lab_verdict_input *in, const char *scenario, const char *engine,
                              lab_load_model model)
{
    for (size_t i = 0; i < in->nresults; i++) {
        const lab_result *r = in->results[i];
        if (!r->skipped && r->model == model && strcmp(r->scenario, scenario) == 0 &&
            strcmp(r->engine, engine) == 0)
            return r;
    }
    return NULL;
}

static int is_peer(const lab_verdict_input *in, const char *engine)
{
    return strcmp(engine, STEADY) != 0 && strcmp(engine, LAB_FLOOR_ENGINE) != 0 &&
           !(in->single_threaded && in->single_threaded(engine));
}

static uint64_t errors_of(const lab_result *r)
{
    return r->err_value + r->err_missing + r->err_engine;
}

static double ops_per_s(const lab_result *r)
{
    return r->seconds > 0 ? (double)r->ops / r->seconds : 0;
}

/* The peers a comparison could not measure (a run skipped or failed, a run
 * without gets where (a) compares gets, a memory measurement that failed):
 * a "best of N peers" must not pass over them in silence, so each
 * comparison's line names them. */
typedef struct unmeasured {
    size_t n;
    char names[512];
    char text[576];
} unmeasured;

static void unmeasured_add(unmeasured *u, const char *engine)
{
    size_t len = strlen(u->names);
    if (len + 1 < sizeof u->names)
        snprintf(u->names + len, sizeof u->names - len, "%s%s", u->n ? ", " : "", engine);
    u->n++;
}

/* "" or "; 2 peers not measured (see the tables): a, b", to end a
 * comparison's line. */
static const char *unmeasured_text(unmeasured *u)
{
    u->text[0] = '\0';
    if (u->n)
        snprintf(u->text, sizeof u->text, "; %zu %s not measured (see the tables): %s", u->n,
                 u->n == 1 ? "peer" : "peers", u->names);
    return u->text;
}

/* The result of steady for one comparison, or NULL with the line that
 * explains why the comparison cannot be made (part set accordingly). */
static const lab_result *steady_for(const lab_verdict_input *in, lab_check *c, const char *label,
                                    const char *scenario, lab_load_model model,
                                    lab_check_status *part)
{
    const lab_result *s = find(in, scenario, STEADY, model);
    if (!s) {
        add_line(c, "%s: steady was not run\n", label);
        *part = LAB_CHECK_NOT_CHECKED;
    } else if (errors_of(s)) {
        add_line(c, "%s: steady returned %llu errors -> MISS\n", label,
                 (unsigned long long)errors_of(s));
        *part = LAB_CHECK_MISS;
        s = NULL;
    }
    return s;
}

static void check_tails(const lab_verdict_input *in, lab_check *c)
{
    static const char *const scenarios[] = { "growth", "range", "oversub" };
    c->claim = "steady's gets have the lowest p99.9 and the lowest max of all concurrent engines "
               "in growth, range and oversub, under each load model";
    for (size_t s = 0; s < sizeof scenarios / sizeof scenarios[0]; s++) {
        for (int m = 0; m < 2; m++) {
            char label[64];
            snprintf(label, sizeof label, "%s, %s loop", scenarios[s],
                     lab_load_model_name((lab_load_model)m));
            lab_check_status part = LAB_CHECK_PASS;
            const lab_result *st = steady_for(in, c, label, scenarios[s], (lab_load_model)m, &part);
            if (!st) {
                combine(c, part);
                continue;
            }
            if (st->get_hist.count == 0) {
                add_line(c, "%s: steady's run measured no gets (growth with one thread is its "
                            "writer alone)\n", label);
                combine(c, LAB_CHECK_NOT_CHECKED);
                continue;
            }
            const lab_result *best999 = NULL, *bestmax = NULL;
            uint64_t p999_best = 0;
            size_t peers = 0;
            unmeasured missing = { 0 };
            for (size_t i = 0; i < in->nresults; i++) {
                const lab_result *r = in->results[i];
                if (r->model != (lab_load_model)m || strcmp(r->scenario, scenarios[s]) != 0 ||
                    !is_peer(in, r->engine))
                    continue;
                if (r->skipped || r->get_hist.count == 0) {
                    unmeasured_add(&missing, r->engine);
                    continue;
                }
                uint64_t p = lab_hist_percentile(&r->get_hist, 99.9);
                if (!best999 || p < p999_best) {
                    best999 = r;
                    p999_best = p;
                }
                if (!bestmax || r->get_hist.max < bestmax->get_hist.max)
                    bestmax = r;
                peers++;
            }
            if (!peers) {
                add_line(c, "%s: no concurrent peer was measured%s\n", label,
                         unmeasured_text(&missing));
                combine(c, LAB_CHECK_NOT_CHECKED);
                continue;
            }
            uint64_t p999 = lab_hist_percentile(&st->get_hist, 99.9);
            part = p999 <= p999_best && st->get_hist.max <= bestmax->get_hist.max
                       ? LAB_CHECK_PASS
                       : LAB_CHECK_MISS;
            char a[32], b[32], x[32], y[32];
            add_line(c, "%s: steady get p99.9 %s, max %s; "
                        "best of %zu peers: p99.9 %s (%s), max %s (%s)%s -> %s\n",
                     label, lab_format_ns(a, sizeof a, (double)p999),
                     lab_format_ns(b, sizeof b, (double)st->get_hist.max), peers,
                     lab_format_ns(x, sizeof x, (double)p999_best), best999->engine,
                     lab_format_ns(y, sizeof y, (double)bestmax->get_hist.max), bestmax->engine,
                     unmeasured_text(&missing), lab_check_status_name(part));
            if (st->stall_max_ns && bestmax->stall_max_ns)
                add_line(c, "  longest stall of the harness's own loop between two operations (no "
                            "engine code): steady's run %s, %s's run %s\n",
                         lab_format_ns(a, sizeof a, (double)st->stall_max_ns), bestmax->engine,
                         lab_format_ns(b, sizeof b, (double)bestmax->stall_max_ns));
            combine(c, part);
        }
    }
}

static void check_throughput(const lab_verdict_input *in, lab_check *c)
{
    c->claim = "steady's throughput is at least 1.5x the best concurrent peer's in mixed "
               "(2 threads, 90% get / 10% put, closed loop)";
    const char *label = "mixed, closed loop";
    lab_check_status part = LAB_CHECK_PASS;
    const lab_result *st = steady_for(in, c, label, "mixed", LAB_CLOSED_LOOP, &part);
    if (!st) {
        combine(c, part);
        return;
    }
    const lab_result *best = NULL;
    size_t peers = 0;
    unmeasured missing = { 0 };
    for (size_t i = 0; i < in->nresults; i++) {
        const lab_result *r = in->results[i];
        if (r->model != LAB_CLOSED_LOOP || strcmp(r->scenario, "mixed") != 0 ||
            !is_peer(in, r->engine))
            continue;
        if (r->skipped || ops_per_s(r) <= 0) {
            unmeasured_add(&missing, r->engine);
            continue;
        }
        peers++;
        if (!best || ops_per_s(r) > ops_per_s(best))
            best = r;
    }
    if (!best) {
        add_line(c, "%s: no concurrent peer was measured%s\n", label,
                 unmeasured_text(&missing));
        combine(c, LAB_CHECK_NOT_CHECKED);
        return;
    }
    double ratio = ops_per_s(st) / ops_per_s(best);
    part = ratio >= LAB_THROUGHPUT_FACTOR ? LAB_CHECK_PASS : LAB_CHECK_MISS;
    char a[32], b[32];
    add_line(c, "%s: steady %s ops/s, best of %zu peers: %s %s ops/s: %.2fx (needs >= %.2fx)%s "
                "-> %s\n",
             label, lab_format_rate(a, sizeof a, ops_per_s(st)), peers, best->engine,
             lab_format_rate(b, sizeof b, ops_per_s(best)), ratio, LAB_THROUGHPUT_FACTOR,
             unmeasured_text(&missing), lab_check_status_name(part));
    const lab_result *floor = find(in, "mixed", LAB_FLOOR_ENGINE, LAB_CLOSED_LOOP);
    if (floor && !floor->skipped && ops_per_s(floor) > 0) {
        double reach = ops_per_s(floor) / ops_per_s(best);
        /* The floor is one run like the others: if a map outran it, the
         * machine changed between the runs and it bounds nothing. */
        int bounds = ops_per_s(floor) >= ops_per_s(st) && reach >= 1;
        add_line(c, "%s: floor (one load per operation, no map) %s ops/s = %.2fx the best peer: %s; "
                    "steady is at %.0f%% of the floor\n",
                 label, lab_format_rate(a, sizeof a, ops_per_s(floor)), reach,
                 !bounds ? "a map outran it, so this run's floor is noise, not a ceiling"
                 : reach >= LAB_THROUGHPUT_FACTOR ? "the factor needed is within the machine's reach"
                                                  : "the factor needed is out of the machine's reach",
                 100.0 * ops_per_s(st) / ops_per_s(floor));
    }
    combine(c, part);
}

static void check_single_thread(const lab_verdict_input *in, lab_check *c)
{
    static const char *const scenarios[] = { "micro", LAB_MICRO_LARGE };
    c->claim = "steady's single-thread get (micro mean, closed loop) at 1M and 64M keys is "
               "at most 1.25x boost_flat's";
    for (size_t s = 0; s < 2; s++) {
        lab_check_status part = LAB_CHECK_PASS;
        char label[64];
        snprintf(label, sizeof label, "%s, closed loop", scenarios[s]);
        const lab_result *st = steady_for(in, c, label, scenarios[s], LAB_CLOSED_LOOP, &part);
        if (!st) {
            combine(c, part);
            continue;
        }
        const lab_result *flat = find(in, scenarios[s], LAB_FLAT_BASELINE, LAB_CLOSED_LOOP);
        if (!flat || flat->hist.count == 0) {
            add_line(c, "%s: " LAB_FLAT_BASELINE " was not run (not compiled in, or not selected)\n",
                     label);
            combine(c, LAB_CHECK_NOT_CHECKED);
            continue;
        }
        double ms = lab_hist_mean(&st->hist), mf = lab_hist_mean(&flat->hist);
        double ratio = mf > 0 ? ms / mf : 0;
        part = mf > 0 && ratio <= LAB_FLAT_FACTOR ? LAB_CHECK_PASS : LAB_CHECK_MISS;
        add_line(c, "%s, %llu keys: steady %.1f ns/op, " LAB_FLAT_BASELINE " %.1f ns/op: %.2fx "
                    "(needs <= %.2fx) -> %s\n",
                 label, (unsigned long long)st->keys, ms, mf, ratio, LAB_FLAT_FACTOR,
                 lab_check_status_name(part));
        combine(c, part);
    }
}

double lab_memory_per_entry(const lab_memory_result *m)
{
    return m->keys ? ((double)m->rss_full - (double)m->rss_base) / (double)m->keys : 0;
}

/* A map whose RSS did not grow at all has nothing to give back: 1. */
double lab_memory_kept(const lab_memory_result *m)
{
    double took = (double)m->rss_full - (double)m->rss_base;
    return took > 0 ? ((double)m->rss_after_delete - (double)m->rss_base) / took : 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void check_memory(const lab_verdict_input *in, lab_check *c)
{
    c->claim = "steady's bytes per entry at 16M keys are at most the median concurrent peer's, "
               "and steady gives memory back after 90% of the entries are deleted";
    /* The largest size measured, whatever came of it: a smaller size would
     * answer another question than the claim's. */
    uint64_t keys = 0;
    for (size_t i = 0; i < in->nmemory; i++)
        if (in->memory[i].keys > keys)
            keys = in->memory[i].keys;
    const lab_memory_result *st = NULL;
    for (size_t i = 0; i < in->nmemory; i++)
        if (in->memory[i].keys == keys && strcmp(in->memory[i].engine, STEADY) == 0)
            st = &in->memory[i];
    if (!st) {
        add_line(c, "memory: steady was not measured\n");
        combine(c, LAB_CHECK_NOT_CHECKED);
        return;
    }
    if (st->skipped) {
        add_line(c, "memory at %llu keys: steady's measurement failed: %s\n",
                 (unsigned long long)keys, st->note);
        combine(c, LAB_CHECK_NOT_CHECKED);
        return;
    }
    double *peers = calloc(in->nmemory + 1, sizeof *peers);
    size_t n = 0;
    unmeasured missing = { 0 };
    for (size_t i = 0; peers && i < in->nmemory; i++) {
        const lab_memory_result *m = &in->memory[i];
        if (m->keys != keys || !is_peer(in, m->engine))
            continue;
        if (m->skipped)
            unmeasured_add(&missing, m->engine);
        else
            peers[n++] = lab_memory_per_entry(m);
    }
    if (n == 0) {
        add_line(c, "memory at %llu keys: no concurrent peer was measured%s\n",
                 (unsigned long long)keys, unmeasured_text(&missing));
        combine(c, LAB_CHECK_NOT_CHECKED);
    } else {
        qsort(peers, n, sizeof *peers, cmp_double);
        double median = n % 2 ? peers[n / 2] : (peers[n / 2 - 1] + peers[n / 2]) / 2;
        lab_check_status part = lab_memory_per_entry(st) <= median ? LAB_CHECK_PASS : LAB_CHECK_MISS;
        add_line(c, "bytes per entry at %llu keys (RSS): steady %.1f, median of %zu concurrent "
                    "peers %.1f%s -> %s\n",
                 (unsigned long long)keys, lab_memory_per_entry(st), n, median,
                 unmeasured_text(&missing), lab_check_status_name(part));
        combine(c, part);
    }
    free(peers);
    lab_check_status part = lab_memory_kept(st) <= LAB_RETAINED_MAX ? LAB_CHECK_PASS : LAB_CHECK_MISS;
    add_line(c, "after deleting 90%%: steady keeps %.0f%% of the memory the map had taken "
                "(RSS %.1f -> %.1f MiB; needs <= %.0f%%) -> %s\n",
             lab_memory_kept(st) * 100, (double)st->rss_full / 1048576.0,
             (double)st->rss_after_delete / 1048576.0, LAB_RETAINED_MAX * 100,
             lab_check_status_name(part));
    combine(c, part);
}

void lab_verdict(const lab_verdict_input *in, lab_check out[LAB_VERDICT_CHECKS])
{
    static void (*const checks[LAB_VERDICT_CHECKS])(const lab_verdict_input *, lab_check *) = {
        check_tails, check_throughput, check_single_thread, check_memory,
    };
    for (int i = 0; i < LAB_VERDICT_CHECKS; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].id = (char)('a' + i);
        out[i].status = LAB_CHECK_PASS;
        checks[i](in, &out[i]);
    }
}

void lab_verdict_write(const lab_check checks[LAB_VERDICT_CHECKS], FILE *out)
{
    for (int i = 0; i < LAB_VERDICT_CHECKS; i++) {
        const lab_check *c = &checks[i];
        fprintf(out, "- **(%c) %s**: %s\n", c->id, lab_check_status_name(c->status), c->claim);
        for (const char *p = c->detail; *p;) {
            size_t len = strcspn(p, "\n");
            fprintf(out, "  - %.*s\n", (int)len, p);
            p += len + (p[len] == '\n');
        }
    }
}
