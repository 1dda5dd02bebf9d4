#define _GNU_SOURCE
#include "harness/report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/clock.h"

extern char **environ;

#ifndef LAB_SOURCE_DIR
#define LAB_SOURCE_DIR "."
#endif
#ifndef LAB_BUILD_TYPE
#define LAB_BUILD_TYPE "unknown"
#endif

/* Engines get these colours in this order in every plot, so one engine has
 * one colour throughout the report. Sixteen, because a comparison runs about
 * fifteen engines: a repeated colour would make two engines one line. The
 * second eight are also drawn dashed wherever the dash does not already
 * mean the load model, so neighbours in the key differ in two ways. */
static const char *const palette[] = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                       "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
                                       "#17becf", "#bcbd22", "#000080", "#800000",
                                       "#008080", "#ff00ff", "#6b8e23", "#b8860b" };
#define PALETTE_SIZE (sizeof palette / sizeof palette[0])
#define SOLID_COLOURS 8

/* Up to this many engines, one spectrum per scenario shows both load models
 * (solid = open, dashed = closed); with more, 2 x that many lines would be
 * unreadable, so each load model gets its own spectrum. */
#define SPECTRUM_COMBINED_MAX 8
/* A timeline has one panel per engine; with more engines than this it shows
 * the report's first engine (steady, by the registry's order) and the
 * engines with the largest max, where there are stalls to see. Every
 * engine's windows stay in data/. */
#define TIMELINE_PANELS 5
#define MAX_PLOTTED 64

/* The engine name column: wide enough for the peers' names. */
#define NAME_WIDTH 18

/* ---- stamp ----------------------------------------------------------------- */

static void read_command(const char *cmd, char *out, size_t n)
{
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (fgets(out, (int)n, p))
        out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

static void cpu_model(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c += c[1] == ' ' ? 2 : 1;
                c[strcspn(c, "\n")] = '\0';
                snprintf(out, n, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

static void make_stamp(lab_report *rep)
{
    char commit[128], cpu[256], date[64];
    read_command("git -C '" LAB_SOURCE_DIR "' describe --always --dirty 2>/dev/null", commit,
                 sizeof commit);
    if (!commit[0])
        snprintf(commit, sizeof commit, "unknown (no git, or no commit yet)");
    cpu_model(cpu, sizeof cpu);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    char loadavg[64] = "unknown";
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fgets(loadavg, sizeof loadavg, la))
            loadavg[strcspn(loadavg, "\n")] = '\0';
        fclose(la);
        /* keep the 1, 5 and 15 minute figures only */
        char *cut = loadavg;
        for (int i = 0; i < 3 && cut; i++)
            cut = strchr(cut + 1, ' ');
        if (cut)
            *cut = '\0';
    }
    const lab_clock_info *c = lab_clock();
    snprintf(rep->stamp, sizeof rep->stamp,
             "date: %s\n"
             "commit: %s\n"
             "compiler: " __VERSION__ " (" LAB_BUILD_TYPE " build)\n"
             "cpu: %s, %ld online cores\n"
             "kernel: %s %s\n"
             "load average at start: %s (other processes share these cores)\n"
             "clock: %s\n"
             "timer overhead: %.1f ns per timestamp pair (median; min %.1f ns), included in every latency, not subtracted\n"
             "sleep wake-up lateness: %.1f us (90th percentile of a 50 us sleep)\n"
             "command: %s\n"
             "options: %s\n",
             date, commit, cpu, sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, loadavg, c->source,
             c->overhead_ns, c->overhead_min_ns, c->wake_late_ns / 1000.0, rep->command_line, rep->options);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "steadymap-lab: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

int lab_report_open(lab_report *rep, const char *dir, int argc, char **argv, const char *options)
{
    memset(rep, 0, sizeof *rep);
    snprintf(rep->dir, sizeof rep->dir, "%s", dir);
    size_t len = 0;
    for (int i = 0; i < argc && len < sizeof rep->command_line; i++)
        len += (size_t)snprintf(rep->command_line + len, sizeof rep->command_line - len, "%s%s",
                                i ? " " : "", argv[i]);
    snprintf(rep->options, sizeof rep->options, "%s", options);
    make_stamp(rep);
    char sub[600];
    if (make_dir(dir) != 0)
        return -1;
    const char *subs[] = { "hgrm", "data", "plots" };
    for (size_t i = 0; i < 3; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, subs[i]);
        if (make_dir(sub) != 0)
            return -1;
    }
    return 0;
}

int lab_report_add(lab_report *rep, lab_result *res)
{
    if (rep->n == rep->cap) {
        size_t cap = rep->cap ? rep->cap * 2 : 16;
        lab_result **p = realloc(rep->results, cap * sizeof *p);
        if (!p)
            return -1;
        rep->results = p;
        rep->cap = cap;
    }
    rep->results[rep->n++] = res;
    return 0;
}

void lab_report_close(lab_report *rep)
{
    for (size_t i = 0; i < rep->n; i++)
        lab_result_free(rep->results[i]);
    free(rep->results);
    rep->results = NULL;
    rep->n = rep->cap = 0;
}

/* The mean of the engine's micro run (closed loop preferred), 0 if none:
 * the denominator of tail amplification. */
static double baseline_ns(const lab_report *rep, const char *engine)
{
    double open = 0;
    for (size_t i = 0; i < rep->n; i++) {
        const lab_result *r = rep->results[i];
        if (r->skipped || strcmp(r->scenario, "micro") != 0 || strcmp(r->engine, engine) != 0)
            continue;
        if (r->model == LAB_CLOSED_LOOP)
            return lab_hist_mean(&r->hist);
        open = lab_hist_mean(&r->hist);
    }
    return open;
}

/* ---- formatting ------------------------------------------------------------ */

const char *lab_format_ns(char *buf, size_t n, double ns)
{
    if (ns < 1e3)
        snprintf(buf, n, "%.0f ns", ns);
    else if (ns < 1e6)
        snprintf(buf, n, "%.3g us", ns / 1e3);
    else if (ns < 1e9)
        snprintf(buf, n, "%.3g ms", ns / 1e6);
    else
        snprintf(buf, n, "%.3g s", ns / 1e9);
    return buf;
}

const char *lab_format_rate(char *buf, size_t n, double r)
{
    if (r >= 1e6)
        snprintf(buf, n, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, n, "%.1fk", r / 1e3);
    else
        snprintf(buf, n, "%.0f", r);
    return buf;
}

static uint64_t errors_of(const lab_result *r)
{
    return r->err_value + r->err_missing + r->err_engine;
}

/* A percentile with fewer than ten samples above it is one or two unlucky
 * operations, not a distribution: the table marks it. */
static int thin(const lab_hist *h, double p)
{
    return (double)h->count * (1.0 - p / 100.0) < 10.0;
}

static void notes_of(const lab_result *r, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
#define NOTE(...) \
    (len < n ? (void)(len += (size_t)snprintf(out + len, n - len, __VA_ARGS__)) : (void)0)
    if (r->model == LAB_OPEN_LOOP && r->seconds > 0) {
        double want = r->rate_per_thread * r->threads;
        double got = (double)r->ops / r->seconds;
        const lab_scenario *sc = lab_scenario_find(r->scenario);
        /* growth's writers are not paced, so its rate has no target */
        int paced = sc && sc->workload != LAB_WORKLOAD_GROWTH;
        if (paced && (r->not_issued || got < want * 0.9))
            NOTE("FELL BEHIND: %.0f of %.0f ops/s, %llu never issued; ", got, want,
                 (unsigned long long)r->not_issued);
        NOTE("%s-paced, wake-up lateness p99 %.1f us; ", r->spin_pacing ? "spin" : "sleep",
             (double)r->pacing_late_p99_ns / 1e3);
    }
    if (r->hit_cap)
        NOTE("STOPPED AT TIME CAP; ");
    if (r->preemptions)
        NOTE("preempted %llu times; ", (unsigned long long)r->preemptions);
    if (r->stall_max_ns) {
        char st[32];
        NOTE("longest stall between operations %s; ",
             lab_format_ns(st, sizeof st, (double)r->stall_max_ns));
    }
    if (r->iterations)
        NOTE("%llu full iterations, %.1f ms each; ", (unsigned long long)r->iterations,
             r->iteration_mean_ns / 1e6);
    if (r->runs > 1)
        NOTE("%u fills of a fresh map; ", r->runs);
    if (r->nevents)
        NOTE("%zu resize events; ", r->nevents);
    if (len >= 2 && len < n)
        out[len - 2] = '\0';
#undef NOTE
}

/* Open-loop latency cannot be smaller than how late the harness wakes up
 * for a scheduled start; when that is large the machine, not the engine,
 * dominates the table, and the reader must be told. */
#define BUSY_MACHINE_NS 500000u
/* Threads that each have a core are rarely preempted on an idle machine;
 * more than this many times per thread-second means other processes took
 * the CPU (oversubscribed scenarios are preempted by design, and exempt). */
#define BUSY_PREEMPTIONS_PER_S 10.0

/* Fills why and returns 1 when the machine disturbed this run. */
static int machine_busy(const lab_result *r, char *why, size_t n)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (r->pacing_late_p99_ns > BUSY_MACHINE_NS) {
        snprintf(why, n, "the harness itself woke up %.1f ms late (p99) for scheduled starts",
                 (double)r->pacing_late_p99_ns / 1e6);
        return 1;
    }
    if (cores > 0 && r->threads <= (unsigned)cores && r->seconds > 0 &&
        (double)r->preemptions > BUSY_PREEMPTIONS_PER_S * r->seconds * r->threads) {
        snprintf(why, n, "threads with a core each were preempted %llu times in %.1f s",
                 (unsigned long long)r->preemptions, r->seconds);
        return 1;
    }
    return 0;
}

#define BUSY_WARNING "the machine is busy, and latencies up to a few time slices (ms) measure it, not the engines"

/* One table row as text, shared by the terminal, markdown and HTML tables. */
typedef struct row_cells {
    char ops[32], mean[32], p50[32], p99[32], p999[32], p9999[32], max[32], amp[32];
    char get_p999[32], get_max[32];
    char notes[512];
    uint64_t errors;
} row_cells;

/* A percentile cell, marked when too few samples lie above it. */
static void percentile_cell(char *out, size_t n, const lab_hist *h, double p)
{
    if (h->count == 0) {
        snprintf(out, n, "-");
        return;
    }
    lab_format_ns(out, n, (double)lab_hist_percentile(h, p));
    if (thin(h, p))
        strncat(out, "*", n - strlen(out) - 1);
}

static void cells_of(const lab_report *rep, const lab_result *r, row_cells *c)
{
    const lab_hist *h = &r->hist;
    uint64_t p999 = lab_hist_percentile(h, 99.9);
    double base = baseline_ns(rep, r->engine);
    lab_format_rate(c->ops, sizeof c->ops, r->seconds > 0 ? (double)r->ops / r->seconds : 0);
    lab_format_ns(c->mean, sizeof c->mean, lab_hist_mean(h));
    lab_format_ns(c->p50, sizeof c->p50, (double)lab_hist_percentile(h, 50));
    lab_format_ns(c->p99, sizeof c->p99, (double)lab_hist_percentile(h, 99));
    percentile_cell(c->p999, sizeof c->p999, h, 99.9);
    percentile_cell(c->p9999, sizeof c->p9999, h, 99.99);
    lab_format_ns(c->max, sizeof c->max, (double)h->max);
    percentile_cell(c->get_p999, sizeof c->get_p999, &r->get_hist, 99.9);
    if (r->get_hist.count)
        lab_format_ns(c->get_max, sizeof c->get_max, (double)r->get_hist.max);
    else
        snprintf(c->get_max, sizeof c->get_max, "-");
    if (base > 0)
        snprintf(c->amp, sizeof c->amp, "%.0fx", (double)p999 / base);
    else
        snprintf(c->amp, sizeof c->amp, "n/a");
    notes_of(r, c->notes, sizeof c->notes);
    c->errors = errors_of(r);
}

/* How one output format draws a table; walk_table() does the walking. */
typedef struct table_format {
    void (*head)(FILE *out, const lab_result *first, const lab_scenario *sc, lab_load_model model);
    void (*skipped)(FILE *out, const lab_result *r);
    void (*row)(FILE *out, const lab_result *r, const row_cells *c);
    void (*end)(FILE *out, const char *busy_why); /* busy_why NULL: the machine was quiet */
} table_format;

static void walk_table(const lab_report *rep, const lab_scenario *sc, lab_load_model model,
                       FILE *out, const table_format *fmt)
{
    int header = 0, busy = 0;
    char why[160];
    for (size_t i = 0; i < rep->n; i++) {
        const lab_result *r = rep->results[i];
        if (strcmp(r->scenario, sc->name) != 0 || r->model != model)
            continue;
        if (!header) {
            fmt->head(out, r, sc, model);
            header = 1;
        }
        if (r->skipped) {
            fmt->skipped(out, r);
            continue;
        }
        row_cells c;
        cells_of(rep, r, &c);
        fmt->row(out, r, &c);
        if (!busy)
            busy = machine_busy(r, why, sizeof why);
    }
    if (header)
        fmt->end(out, busy ? why : NULL);
}

/* "8 threads, 524288 keys, 1500 ms": what the table's runs did. */
static void run_shape(const lab_result *r, const lab_scenario *sc, char *out, size_t n)
{
    if (sc->workload == LAB_WORKLOAD_GROWTH)
        snprintf(out, n,
                 "%u threads (%u writing), from empty to %llu keys, until the last key is in; "
                 "fresh maps filled again until %u ms add up",
                 r->threads, sc->writers, (unsigned long long)r->keys, r->duration_ms);
    else
        snprintf(out, n, "%u thread%s%s, %llu keys, %u ms", r->threads, r->threads == 1 ? "" : "s",
                 sc->iterator ? " + 1 iterator" : "", (unsigned long long)r->keys, r->duration_ms);
}

/* A table's caption: the runs' shape and, in the open loop, their schedule. */
static void caption(const lab_result *first, const lab_scenario *sc, lab_load_model model,
                    char *out, size_t n)
{
    run_shape(first, sc, out, n);
    size_t len = strlen(out);
    if (model == LAB_OPEN_LOOP && len < n)
        snprintf(out + len, n - len,
                 ", %.0f ops/s per thread scheduled, latency from the intended start",
                 first->rate_per_thread);
}

static void text_head(FILE *out, const lab_result *first, const lab_scenario *sc,
                      lab_load_model model)
{
    fprintf(out, "\n== %s, %s loop: %s\n", sc->name, lab_load_model_name(model), sc->description);
    char cap[384];
    caption(first, sc, model, cap, sizeof cap);
    fprintf(out, "   %s\n%-*s %9s %9s %9s %9s %9s %9s %9s %9s %9s %7s %9s  %s\n", cap, NAME_WIDTH,
            "engine", "ops/s", "mean", "p50", "p99", "p99.9", "p99.99", "max", "get p99.9", "get max",
            "errors", "tail-amp", "notes");
}

static void text_skipped(FILE *out, const lab_result *r)
{
    fprintf(out, "%-*s %s\n", NAME_WIDTH, r->engine, r->skip_reason);
}

static void text_row(FILE *out, const lab_result *r, const row_cells *c)
{
    fprintf(out, "%-*s %9s %9s %9s %9s %9s %9s %9s %9s %9s %7llu %9s  %s\n", NAME_WIDTH, r->engine,
            c->ops, c->mean, c->p50, c->p99, c->p999, c->p9999, c->max, c->get_p999, c->get_max,
            (unsigned long long)c->errors, c->amp, c->notes);
}

static void text_end(FILE *out, const char *busy_why)
{
    if (busy_why)
        fprintf(out, "WARNING: %s: " BUSY_WARNING "\n", busy_why);
}

void lab_report_print_table(const lab_report *rep, const lab_scenario *sc, lab_load_model model,
                            FILE *out)
{
    static const table_format text = { text_head, text_skipped, text_row, text_end };
    walk_table(rep, sc, model, out, &text);
}

int lab_report_add_scenario(lab_report *rep, const lab_scenario *sc)
{
    if (rep->nextra == sizeof rep->extra / sizeof rep->extra[0])
        return -1;
    rep->extra[rep->nextra++] = sc;
    return 0;
}

/* The listed scenarios, then the report's extra ones. */
static const lab_scenario *scenario_at(const lab_report *rep, size_t i)
{
    size_t n;
    const lab_scenario *const *all = lab_scenarios_all(&n);
    return i < n ? all[i] : i - n < rep->nextra ? rep->extra[i - n] : NULL;
}

/* Markdown cells must not contain a bare '|', and the thin-percentile '*'
 * must not start emphasis. */
static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '*')
            fputc('\\', f);
        fputc(*s == '|' ? '/' : *s, f);
    }
}

static void md_head(FILE *out, const lab_result *first, const lab_scenario *sc,
                    lab_load_model model)
{
    char cap[384];
    caption(first, sc, model, cap, sizeof cap);
    fprintf(out, "\n%s loop: %s\n\n| engine | ops/s | mean | p50 | p99 | p99.9 | p99.99 | max | "
                 "get p99.9 | get max | errors | notes |\n"
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
            lab_load_model_name(model), cap);
}

static void md_skipped(FILE *out, const lab_result *r)
{
    fprintf(out, "| %s | | | | | | | | | | | ", r->engine);
    md_text(out, r->skip_reason);
    fprintf(out, " |\n");
}

static void md_row(FILE *out, const lab_result *r, const row_cells *c)
{
    const char *const cells[] = { c->ops, c->mean, c->p50, c->p99, c->p999, c->p9999, c->max,
                                  c->get_p999, c->get_max };
    fprintf(out, "| %s |", r->engine);
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
        fputc(' ', out);
        md_text(out, cells[i]);
        fputs(" |", out);
    }
    fprintf(out, " %llu | ", (unsigned long long)c->errors);
    md_text(out, c->notes);
    fprintf(out, " |\n");
}

static void md_end(FILE *out, const char *busy_why)
{
    if (busy_why)
        fprintf(out, "\n**Warning**: %s: " BUSY_WARNING ".\n", busy_why);
}

void lab_report_write_markdown(const lab_report *rep, const lab_scenario *sc, lab_load_model model,
                               FILE *out)
{
    static const table_format markdown = { md_head, md_skipped, md_row, md_end };
    walk_table(rep, sc, model, out, &markdown);
}

/* ---- data files ------------------------------------------------------------ */

static FILE *open_file(const lab_report *rep, const char *name, int *failures)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", rep->dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "steadymap-lab: cannot write %s: %s\n", path, strerror(errno));
        ++*failures;
    }
    return f;
}

static void close_file(FILE *f, const char *name, int *failures)
{
    if (!f)
        return;
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "steadymap-lab: error writing %s\n", name);
        ++*failures;
    }
}

static void result_stem(const lab_result *r, char *out, size_t n)
{
    snprintf(out, n, "%s-%s-%s", r->scenario, lab_load_model_name(r->model), r->engine);
}

static uint64_t peak_rss(const lab_result *r)
{
    uint64_t m = 0;
    for (size_t i = 0; i < r->nrss; i++)
        if (r->rss[i].rss_bytes > m)
            m = r->rss[i].rss_bytes;
    return m;
}

static void write_csv(const lab_report *rep, int *failures)
{
    FILE *f = open_file(rep, "results.csv", failures);
    if (!f)
        return;
    /* The stamp rides along as comment lines, so a copied CSV keeps it. */
    const char *s = rep->stamp;
    while (*s) {
        size_t len = strcspn(s, "\n");
        fprintf(f, "# %.*s\n", (int)len, s);
        s += len + (s[len] == '\n');
    }
    fprintf(f, "scenario,load_model,engine,status,threads,keys,duration_ms,rate_per_thread,"
               "ops,seconds,ops_per_s,mean_ns,p50_ns,p90_ns,p99_ns,p99_9_ns,p99_99_ns,max_ns,"
               "errors,err_wrong_value,err_missing_key,err_engine,tail_amplification,"
               "not_issued,stopped_at_cap,iterations,iteration_mean_ns,pacing_late_p99_ns,"
               "resize_events,engine_bytes,peak_rss_bytes,preemptions,timer_overhead_ns,gets,"
               "get_p99_ns,get_p99_9_ns,get_max_ns\n");
    for (size_t i = 0; i < rep->n; i++) {
        const lab_result *r = rep->results[i];
        fprintf(f, "%s,%s,%s,", r->scenario, lab_load_model_name(r->model), r->engine);
        if (r->skipped) {
            fprintf(f, "\"%s\",%u,%llu,%u,%.0f", r->skip_reason, r->threads,
                    (unsigned long long)r->keys, r->duration_ms, r->rate_per_thread);
            fprintf(f, ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n");
            continue;
        }
        const lab_hist *h = &r->hist;
        double base = baseline_ns(rep, r->engine);
        uint64_t p999 = lab_hist_percentile(h, 99.9);
        fprintf(f, "ok,%u,%llu,%u,%.0f,%llu,%.4f,%.0f,%.1f,%llu,%llu,%llu,%llu,%llu,%llu,",
                r->threads, (unsigned long long)r->keys, r->duration_ms, r->rate_per_thread,
                (unsigned long long)r->ops, r->seconds,
                r->seconds > 0 ? (double)r->ops / r->seconds : 0, lab_hist_mean(h),
                (unsigned long long)lab_hist_percentile(h, 50),
                (unsigned long long)lab_hist_percentile(h, 90),
                (unsigned long long)lab_hist_percentile(h, 99), (unsigned long long)p999,
                (unsigned long long)lab_hist_percentile(h, 99.99), (unsigned long long)h->max);
        fprintf(f, "%llu,%llu,%llu,%llu,", (unsigned long long)errors_of(r),
                (unsigned long long)r->err_value, (unsigned long long)r->err_missing,
                (unsigned long long)r->err_engine);
        if (base > 0)
            fprintf(f, "%.2f,", (double)p999 / base);
        else
            fprintf(f, ",");
        fprintf(f, "%llu,%d,%llu,%.0f,%llu,%zu,%llu,%llu,%llu,%.1f,",
                (unsigned long long)r->not_issued, r->hit_cap, (unsigned long long)r->iterations,
                r->iteration_mean_ns, (unsigned long long)r->pacing_late_p99_ns, r->nevents,
                (unsigned long long)r->engine_bytes, (unsigned long long)peak_rss(r),
                (unsigned long long)r->preemptions, lab_clock()->overhead_ns);
        const lab_hist *g = &r->get_hist;
        if (g->count)
            fprintf(f, "%llu,%llu,%llu,%llu\n", (unsigned long long)g->count,
                    (unsigned long long)lab_hist_percentile(g, 99),
                    (unsigned long long)lab_hist_percentile(g, 99.9), (unsigned long long)g->max);
        else
            fprintf(f, "0,,,\n");
    }
    close_file(f, "results.csv", failures);
}

static void write_result_files(const lab_report *rep, const lab_result *r, int *failures)
{
    char stem[160], name[256];
    result_stem(r, stem, sizeof stem);

    snprintf(name, sizeof name, "hgrm/%s.hgrm", stem);
    FILE *f = open_file(rep, name, failures);
    if (f && lab_hist_write_hgrm(&r->hist, f, 1000.0) != 0)
        ++*failures;
    close_file(f, name, failures);

    if (r->get_hist.count) {
        snprintf(name, sizeof name, "hgrm/%s.get.hgrm", stem);
        f = open_file(rep, name, failures);
        if (f && lab_hist_write_hgrm(&r->get_hist, f, 1000.0) != 0)
            ++*failures;
        close_file(f, name, failures);
    }

    snprintf(name, sizeof name, "data/%s.timeline.tsv", stem);
    f = open_file(rep, name, failures);
    if (f) {
        fprintf(f, "# t_ms\tops_per_s\tp99_us\tmax_us   (10 ms windows by completion time)\n");
        for (size_t i = 0; i < r->nwindows; i++) {
            const lab_window *w = &r->windows[i];
            if (w->count == 0) {
                fprintf(f, "%.0f\t0\tNaN\tNaN\n", (double)i * 10 + 5);
                continue;
            }
            fprintf(f, "%.0f\t%.0f\t%.3f\t%.3f\n", (double)i * 10 + 5, (double)w->count * 100.0,
                    (double)lab_window_percentile(w, 99) / 1e3, (double)w->max / 1e3);
        }
    }
    close_file(f, name, failures);

    snprintf(name, sizeof name, "data/%s.events.tsv", stem);
    f = open_file(rep, name, failures);
    if (f) {
        fprintf(f, "# t_ms\tkind\told_buckets\tnew_buckets\n");
        for (size_t i = 0; i < r->nevents; i++)
            fprintf(f, "%.3f\t%s\t%llu\t%llu\n", (double)r->events[i].t_ns / 1e6,
                    r->events[i].kind == LAB_EVENT_RESIZE_START ? "resize-start" : "resize-finish",
                    (unsigned long long)r->events[i].old_buckets,
                    (unsigned long long)r->events[i].new_buckets);
    }
    close_file(f, name, failures);

    snprintf(name, sizeof name, "data/%s.rss.tsv", stem);
    f = open_file(rep, name, failures);
    if (f) {
        fprintf(f, "# t_ms\trss_mib   (whole process, sampled every 10 ms)\n");
        for (size_t i = 0; i < r->nrss; i++)
            fprintf(f, "%.1f\t%.2f\n", (double)r->rss[i].t_ns / 1e6,
                    (double)r->rss[i].rss_bytes / 1048576.0);
    }
    close_file(f, name, failures);
}

/* ---- plots ----------------------------------------------------------------- */

/* An engine's place in the first-seen order of engines across the report:
 * its colour, and in plots of one load model its dash. */
static int engine_index(const lab_report *rep, const char *engine)
{
    int idx = 0;
    for (size_t i = 0; i < rep->n; i++) {
        const char *e = rep->results[i]->engine;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(rep->results[j]->engine, e) == 0;
        if (seen)
            continue;
        if (strcmp(e, engine) == 0)
            return idx;
        idx++;
    }
    return 0;
}

static const char *colour_of(const lab_report *rep, const char *engine)
{
    return palette[(size_t)engine_index(rep, engine) % PALETTE_SIZE];
}

static int dash_of(const lab_report *rep, const char *engine)
{
    return (size_t)engine_index(rep, engine) % PALETTE_SIZE >= SOLID_COLOURS ? 2 : 1;
}

static int engine_count(const lab_report *rep)
{
    int n = 0;
    for (size_t i = 0; i < rep->n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(rep->results[j]->engine, rep->results[i]->engine) == 0;
        n += !seen;
    }
    return n;
}

/* noenhanced: engine names such as ck_ht would otherwise print with
 * subscripts. */
static void terminals(FILE *gp, const char *stem, int height, int which)
{
    if (which == 0)
        fprintf(gp, "set terminal svg size 1000,%d dynamic noenhanced font 'sans,12' background '#ffffff'\n"
                    "set output '%s.svg'\n",
                height, stem);
    else
        fprintf(gp, "set terminal pngcairo size 1000,%d noenhanced font 'sans,10' background '#ffffff'\n"
                    "set output '%s.png'\n",
                height, stem);
}

/* Writes plots/<stem>.gp whose body is drawn twice (SVG, then PNG) by the
 * body callback; returns 0 if the script was written. */
typedef void (*plot_body)(const lab_report *rep, const void *arg, FILE *gp);

static int write_plot(const lab_report *rep, const char *stem, int height, plot_body body,
                      const void *arg, int *failures)
{
    char name[256];
    snprintf(name, sizeof name, "plots/%s.gp", stem);
    FILE *gp = open_file(rep, name, failures);
    if (!gp)
        return -1;
    fprintf(gp, "# rendered by steadymap-lab: cd %s/plots && gnuplot %s.gp\n", rep->dir, stem);
    for (int which = 0; which < 2; which++) {
        terminals(gp, stem, height, which);
        body(rep, arg, gp);
        fprintf(gp, "unset multiplot\nunset output\nreset\n");
    }
    close_file(gp, name, failures);
    return 0;
}

typedef struct scenario_arg {
    const lab_scenario *sc;
    lab_load_model model;
    int both_models;           /* spectrum: one plot for both load models */
} scenario_arg;

static void spectrum_body(const lab_report *rep, const void *arg, FILE *gp)
{
    const scenario_arg *a = arg;
    if (a->both_models)
        fprintf(gp, "set title \"%s: latency by percentile (solid = open loop, dashed = closed loop)\"\n"
                    "set key left top\n",
                a->sc->name);
    else
        fprintf(gp, "set title \"%s, %s loop: latency by percentile\"\nset key outside right top\n",
                a->sc->name, lab_load_model_name(a->model));
    fprintf(gp, "set logscale xy\nset format y '%%g'\nset grid xtics ytics mytics\n"
                "set xlabel 'percentile'\nset ylabel 'latency (us)'\n"
                /* tic labels are gnuplot format strings: %%%% prints one %% */
                "set xtics ('0%%%%' 1, '90%%%%' 10, '99%%%%' 100, '99.9%%%%' 1000, "
                "'99.99%%%%' 10000, '99.999%%%%' 100000, '99.9999%%%%' 1000000)\n");
    fprintf(gp, "plot ");
    int first = 1;
    for (size_t i = 0; i < rep->n; i++) {
        const lab_result *r = rep->results[i];
        if (strcmp(r->scenario, a->sc->name) != 0)
            continue;
        if (!a->both_models && r->model != a->model)
            continue;
        if (r->skipped) {
            /* not hidden: the key says why the engine has no line */
            if (!a->both_models || r->model == LAB_CLOSED_LOOP) {
                fprintf(gp, "%sNaN lc rgb '%s' title '%s %s'", first ? "" : ", \\\n     ",
                        colour_of(rep, r->engine), r->engine, r->skip_reason);
                first = 0;
            }
            continue;
        }
        if (r->hist.count == 0)
            continue;
        char stem[160];
        result_stem(r, stem, sizeof stem);
        int dash = a->both_models ? (r->model == LAB_OPEN_LOOP ? 1 : 2) : dash_of(rep, r->engine);
        /* column 4 is 1/(1-percentile); the last row ("inf") is skipped by gnuplot */
        fprintf(gp, "%s'../hgrm/%s.hgrm' using 4:1 with lines lw 2 dt %d lc rgb '%s' title '%s%s%s'",
                first ? "" : ", \\\n     ", stem, dash, colour_of(rep, r->engine), r->engine,
                a->both_models ? " " : "", a->both_models ? lab_load_model_name(r->model) : "");
        first = 0;
    }
    if (first)
        fprintf(gp, "NaN notitle");
    fprintf(gp, "\n");
}

static size_t results_for(const lab_report *rep, const scenario_arg *a, const lab_result **out,
                          size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < rep->n && n < max; i++) {
        const lab_result *r = rep->results[i];
        if (!r->skipped && strcmp(r->scenario, a->sc->name) == 0 && r->model == a->model &&
            r->hist.count)
            out[n++] = r;
    }
    return n;
}

/* The timeline's panels, in report order: all engines when they fit,
 * otherwise the first engine and the ones with the largest max. */
static size_t timeline_selection(const lab_report *rep, const scenario_arg *a,
                                 const lab_result **out, size_t *total)
{
    const lab_result *all[MAX_PLOTTED];
    size_t n = results_for(rep, a, all, MAX_PLOTTED);
    *total = n;
    if (n <= TIMELINE_PANELS) {
        memcpy(out, all, n * sizeof *out);
        return n;
    }
    int keep[MAX_PLOTTED] = { 1 };
    for (size_t k = 1; k < TIMELINE_PANELS; k++) {
        size_t worst = 0;
        for (size_t i = 1; i < n; i++)
            if (!keep[i] && (!worst || all[i]->hist.max > all[worst]->hist.max))
                worst = i;
        keep[worst] = 1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i])
            out[m++] = all[i];
    return m;
}

/* Resize events: a red line where one starts, the time until it finishes
 * shaded. Past this many, lines would only paint the panel red. */
#define MAX_MARKED_EVENTS 400

static void mark_events(FILE *gp, const lab_result *r)
{
    size_t marked = 0;
    for (size_t i = 0; i < r->nevents && marked < MAX_MARKED_EVENTS; i++) {
        const lab_event_record *ev = &r->events[i];
        if (ev->kind != LAB_EVENT_RESIZE_START)
            continue;
        double start = (double)ev->t_ns / 1e6, end = start;
        /* A sharded engine resizes several tables at once: a finish belongs
         * to the start with the same sizes. */
        for (size_t j = i + 1; j < r->nevents; j++)
            if (r->events[j].kind == LAB_EVENT_RESIZE_FINISH &&
                r->events[j].old_buckets == ev->old_buckets &&
                r->events[j].new_buckets == ev->new_buckets) {
                end = (double)r->events[j].t_ns / 1e6;
                break;
            }
        if (end > start)
            fprintf(gp, "set object rect from %.3f, graph 0 to %.3f, graph 1 behind "
                        "fillcolor rgb '#fcd5d5' fillstyle solid 1.0 noborder\n",
                    start, end);
        fprintf(gp, "set arrow from %.3f, graph 0 to %.3f, graph 1 nohead lc rgb '#d62728' lw 1 dt 3\n",
                start, start);
        marked++;
    }
}

static void timeline_body(const lab_report *rep, const void *arg, FILE *gp)
{
    const scenario_arg *a = arg;
    const lab_result *rs[TIMELINE_PANELS];
    size_t total, n = timeline_selection(rep, a, rs, &total);
    char which[160] = "";
    if (n < total)
        snprintf(which, sizeof which, "\\n%zu of %zu engines: the first and those with the largest max",
                 n, total);
    fprintf(gp, "set multiplot layout %zu,1 title \"%s, %s loop: p99 and max latency per 10 ms "
                "window (left, log); ops/s (right, grey); red = resize%s\"\n",
            n ? n : 1, a->sc->name, lab_load_model_name(a->model), which);
    for (size_t i = 0; i < n; i++) {
        const lab_result *r = rs[i];
        char stem[160];
        result_stem(r, stem, sizeof stem);
        fprintf(gp, "set title '%s' offset 0,-0.8\nset logscale y\nset format y '%%g'\nset grid ytics\n"
                    "set ylabel 'us'\nset y2label 'ops/s'\nset y2tics\nset ytics nomirror\n"
                    "set format y2 '%%.1s%%c'\nset yrange [*:*]\nset key right top horizontal\n",
                r->engine);
        fprintf(gp, "%s\n", i + 1 == n ? "set xlabel 'time since start (ms)'" : "unset xlabel");
        fprintf(gp, "unset arrow\nunset object\n");
        mark_events(gp, r);
        fprintf(gp, "plot '../data/%s.timeline.tsv' using 1:2 axes x1y2 with lines lc rgb '#bbbbbb' title 'ops/s', \\\n"
                    "     '' using 1:3 with lines lw 2 lc rgb '#000000' title 'p99', \\\n"
                    "     '' using 1:4 with lines lw 1 lc rgb '%s' title 'max'\n",
                stem, colour_of(rep, r->engine));
    }
    if (n == 0)
        fprintf(gp, "plot NaN notitle\n");
}

static void rss_body(const lab_report *rep, const void *arg, FILE *gp)
{
    const scenario_arg *a = arg;
    const lab_result *rs[MAX_PLOTTED];
    size_t n = results_for(rep, a, rs, MAX_PLOTTED);
    fprintf(gp, "set title \"%s, %s loop: resident memory of the whole lab process (10 ms samples)\"\n"
                "set grid\nset xlabel 'time since start (ms)'\nset ylabel 'RSS (MiB)'\n"
                "set key %s top\n",
            a->sc->name, lab_load_model_name(a->model),
            engine_count(rep) > SPECTRUM_COMBINED_MAX ? "outside right" : "left");
    fprintf(gp, "plot ");
    for (size_t i = 0; i < n; i++) {
        char stem[160];
        result_stem(rs[i], stem, sizeof stem);
        fprintf(gp, "%s'../data/%s.rss.tsv' using 1:2 with lines lw 2 dt %d lc rgb '%s' title '%s'",
                i ? ", \\\n     " : "", stem, dash_of(rep, rs[i]->engine),
                colour_of(rep, rs[i]->engine), rs[i]->engine);
    }
    fprintf(gp, "%s\n", n ? "" : "NaN notitle");
}

static int render(const lab_report *rep, const char *stem)
{
    char dir[600], script[300];
    snprintf(dir, sizeof dir, "%s/plots", rep->dir);
    snprintf(script, sizeof script, "%s.gp", stem);
    char *argv[] = { "gnuplot", script, NULL };
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    char log[700];
    snprintf(log, sizeof log, "%s/%s.log", dir, stem);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* gnuplot resolves the data paths relative to its working directory */
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    pid_t pid;
    int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    unlink(log);
    return 0;
}

/* ---- index.html ------------------------------------------------------------ */

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

static void html_table_head(FILE *f, const lab_result *first, const lab_scenario *sc,
                            lab_load_model model)
{
    char cap[384];
    caption(first, sc, model, cap, sizeof cap);
    fprintf(f, "<h3>%s loop</h3>\n<p class=small>%s</p>\n<table><tr><th>engine</th><th>ops/s</th>"
               "<th>mean</th><th>p50</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th>"
               "<th>get p99.9</th><th>get max</th><th>errors</th><th>tail amplification</th>"
               "<th>notes</th><th>.hgrm</th></tr>\n",
            lab_load_model_name(model), cap);
}

static void html_skipped(FILE *f, const lab_result *r)
{
    fprintf(f, "<tr><td>%s</td><td colspan=13 class=na>", r->engine);
    html_text(f, r->skip_reason);
    fprintf(f, "</td></tr>\n");
}

static void html_row(FILE *f, const lab_result *r, const row_cells *c)
{
    char stem[160];
    result_stem(r, stem, sizeof stem);
    fprintf(f, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
               "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td%s>%llu</td><td>%s</td>"
               "<td class=small>",
            r->engine, c->ops, c->mean, c->p50, c->p99, c->p999, c->p9999, c->max, c->get_p999,
            c->get_max, c->errors ? " class=bad" : "", (unsigned long long)c->errors, c->amp);
    html_text(f, c->notes);
    fprintf(f, "</td><td><a href='hgrm/%s.hgrm'>hgrm</a>", stem);
    if (r->get_hist.count)
        fprintf(f, " <a href='hgrm/%s.get.hgrm'>gets</a>", stem);
    fprintf(f, "</td></tr>\n");
}

static void html_end(FILE *f, const char *busy_why)
{
    fprintf(f, "</table>\n");
    if (busy_why)
        fprintf(f, "<p class=bad>Warning: %s: " BUSY_WARNING ".</p>\n", busy_why);
}

static void html_table(const lab_report *rep, const lab_scenario *sc, lab_load_model model, FILE *f)
{
    static const table_format html = { html_table_head, html_skipped, html_row, html_end };
    walk_table(rep, sc, model, f, &html);
}

static int has_results(const lab_report *rep, const lab_scenario *sc, int model)
{
    for (size_t i = 0; i < rep->n; i++)
        if (strcmp(rep->results[i]->scenario, sc->name) == 0 &&
            (model < 0 || rep->results[i]->model == (lab_load_model)model))
            return 1;
    return 0;
}

static void img(FILE *f, const char *stem, int ok)
{
    if (ok)
        fprintf(f, "<p><a href='plots/%s.png'><img src='plots/%s.svg' alt='%s'></a></p>\n", stem,
                stem, stem);
    else
        fprintf(f, "<p class=bad>plot %s was not rendered (is gnuplot installed? see plots/%s.log)</p>\n",
                stem, stem);
}

static const char html_head[] =
    "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>steadymap latency lab</title>\n"
    "<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;"
    "text-align:right}td:first-child,th:first-child{text-align:left}.small{font-size:85%}"
    ".na{text-align:left;color:#777}.bad{color:#b00;font-weight:bold}img{max-width:100%}"
    "pre{background:#f6f6f6;padding:0.5em;white-space:pre-wrap}</style></head><body>\n";

int lab_report_finish(lab_report *rep)
{
    int failures = 0;
    write_csv(rep, &failures);
    for (size_t i = 0; i < rep->n; i++)
        if (!rep->results[i]->skipped)
            write_result_files(rep, rep->results[i], &failures);

    FILE *stamp = open_file(rep, "stamp.txt", &failures);
    if (stamp)
        fputs(rep->stamp, stamp);
    close_file(stamp, "stamp.txt", &failures);

    FILE *tables = open_file(rep, "tables.txt", &failures);
    if (tables) {
        fputs(rep->stamp, tables);
        for (size_t s = 0; scenario_at(rep, s); s++)
            for (int m = 0; m < 2; m++)
                lab_report_print_table(rep, scenario_at(rep, s), (lab_load_model)m, tables);
        fputs("\n* fewer than 10 samples lie above this percentile: one or two operations, not a distribution\n",
              tables);
    }
    close_file(tables, "tables.txt", &failures);

    FILE *f = open_file(rep, "index.html", &failures);
    if (!f)
        return failures;
    fputs(html_head, f);
    fputs("<h1>steadymap latency lab</h1>\n<pre>", f);
    html_text(f, rep->stamp);
    fputs("</pre>\n<p>Every latency is one operation's, from a per-thread log-linear histogram "
          "(relative error &le; 0.78%); <b>tail amplification</b> = the scenario's p99.9 &divide; "
          "the engine's mean in <i>micro</i> (closed loop). <b>Open loop</b> measures from each "
          "operation's intended start, so operations queued behind a stall count it; "
          "<b>closed loop</b> does not (coordinated omission). * = fewer than 10 samples above "
          "that percentile. Errors are wrong values, missing keys and engine failures: every get "
          "is checked. All numbers: <a href='results.csv'>results.csv</a>; distributions: "
          "<code>hgrm/</code> (HdrHistogram text format, microseconds).</p>\n",
          f);
    int combined = engine_count(rep) <= SPECTRUM_COMBINED_MAX;
    for (size_t s = 0; scenario_at(rep, s); s++) {
        const lab_scenario *sc = scenario_at(rep, s);
        if (!has_results(rep, sc, -1))
            continue;
        fprintf(f, "<h2 id='%s'>%s</h2>\n<p>", sc->name, sc->name);
        html_text(f, sc->description);
        fprintf(f, "<br><i>Reproduces:</i> ");
        html_text(f, sc->reproduces);
        fprintf(f, "</p>\n");
        for (int m = 0; m < 2; m++)
            html_table(rep, sc, (lab_load_model)m, f);
        char stem[200];
        scenario_arg arg = { sc, LAB_CLOSED_LOOP, 1 };
        int ok;
        if (combined) {
            snprintf(stem, sizeof stem, "spectrum-%s", sc->name);
            ok = write_plot(rep, stem, 600, spectrum_body, &arg, &failures) == 0 &&
                 render(rep, stem) == 0;
            failures += !ok;
            img(f, stem, ok);
        } else {
            arg.both_models = 0;
            for (int m = 0; m < 2; m++) {
                arg.model = (lab_load_model)m;
                if (!has_results(rep, sc, m))
                    continue;
                snprintf(stem, sizeof stem, "spectrum-%s-%s", sc->name, lab_load_model_name(arg.model));
                ok = write_plot(rep, stem, 600, spectrum_body, &arg, &failures) == 0 &&
                     render(rep, stem) == 0;
                failures += !ok;
                img(f, stem, ok);
            }
        }
        for (int m = 0; m < 2; m++) {
            arg.model = (lab_load_model)m;
            const lab_result *rs[TIMELINE_PANELS];
            size_t total, n = timeline_selection(rep, &arg, rs, &total);
            if (n == 0)
                continue;
            snprintf(stem, sizeof stem, "timeline-%s-%s", sc->name, lab_load_model_name(arg.model));
            ok = write_plot(rep, stem, 240 * (int)n + 60, timeline_body, &arg, &failures) == 0 &&
                 render(rep, stem) == 0;
            failures += !ok;
            if (n < total)
                fprintf(f, "<p class=small>Timeline: %zu of %zu engines, the first and those with "
                           "the largest max; every engine's windows are in "
                           "<code>data/%s-%s-*.timeline.tsv</code>.</p>\n",
                        n, total, sc->name, lab_load_model_name(arg.model));
            img(f, stem, ok);
            if (sc->workload == LAB_WORKLOAD_CHURN || sc->fresh_process) {
                snprintf(stem, sizeof stem, "rss-%s-%s", sc->name, lab_load_model_name(arg.model));
                ok = write_plot(rep, stem, 500, rss_body, &arg, &failures) == 0 &&
                     render(rep, stem) == 0;
                failures += !ok;
                img(f, stem, ok);
            }
        }
    }
    fputs("</body></html>\n", f);
    close_file(f, "index.html", &failures);
    return failures;
}
