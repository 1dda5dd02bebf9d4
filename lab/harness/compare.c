/*
 * compare.c — the comparison run: a plan of every scenario x load model x
 * engine, micro a second time at 64M keys for the single-thread check, the
 * memory measurement at two sizes, then the report, memory.csv, compare.md
 * and the verdict.
 *
 * Why micro runs at 1M keys here (512 Ki in `run`): the acceptance criterion
 * names 1M and 64M; the large run is made only by steady and boost_flat,
 * because it takes gigabytes and a long pre-fill per engine and only that
 * comparison needs it.
 *
 * A single-threaded engine (boost_flat) is a baseline, not a contender: the
 * harness skips it in every scenario with more than one thread, and the
 * verdict leaves it out of "concurrent engines".
 */
#define _GNU_SOURCE
#include "harness/compare.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#include "harness/memory.h"
#include "harness/report.h"
#include "harness/verdict.h"

/* Rounds of the throughput scenario (mixed, closed loop): (b) compares one
 * number per engine, and single runs of it differ by up to 1.3x between
 * minutes on this machine (libcuckoo 5.6M and 7.5M ops/s). Each engine runs
 * this often, the rounds interleaved so a slow stretch of the machine hits
 * every engine alike, and the run with the median ops/s is kept, with the
 * errors of every round. */
#define THROUGHPUT_ROUNDS 3
#define MAX_THROUGHPUT_ENGINES 64
#define TEXT_OF(x) #x
#define NUMBER_TEXT(x) TEXT_OF(x)

/* The packages of the peers (scripts/peers.sh installs them); compare.md
 * records their versions so a table can be traced to what was measured. */
static const char *const peer_packages[] = {
    "liburcu-dev", "libck-dev", "libcuckoo-dev", "libtbb-dev",
    "libboost1.81-dev", "libglib2.0-dev", "golang-go", "openjdk-17-jdk-headless",
};

/* ---- progress --------------------------------------------------------------- */

typedef struct progress {
    size_t done, total;
    struct timespec t0;
    int on;
} progress;

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* One line per step, above the harness's own line for the run: where the
 * comparison is, and a rough time left (runs differ, so it is an average). */
static void step(progress *p, const char *fmt, ...)
{
    p->done++;
    if (!p->on)
        return;
    double el = seconds_since(&p->t0);
    fprintf(stderr, "[%zu/%zu, %.0f s", p->done, p->total, el);
    if (p->done > 1)
        fprintf(stderr, ", ~%.0f s left",
                el / (double)(p->done - 1) * (double)(p->total - p->done + 1));
    fprintf(stderr, "] ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- memory table, CSV, markdown ---------------------------------------------- */

/* The engine's own bytes() per entry, "n/a" when it cannot say. */
static const char *own_per_entry(const lab_memory_result *m, char *buf, size_t n)
{
    if (m->engine_bytes_full && m->keys)
        snprintf(buf, n, "%.1f", (double)m->engine_bytes_full / (double)m->keys);
    else
        snprintf(buf, n, "n/a");
    return buf;
}

static double after_over_full(const lab_memory_result *m)
{
    return m->rss_full ? (double)m->rss_after_delete / (double)m->rss_full : 0;
}

static double mib(uint64_t b)
{
    return (double)b / 1048576.0;
}

static void print_memory_table(const lab_memory_result *m, size_t n, FILE *out)
{
    fprintf(out, "\n== memory: bytes per entry in a fresh process, then 90%% of the entries deleted\n"
                 "   B/entry RSS = resident set growth / entries; B/entry own = the engine's bytes()"
                 " / entries; kept = of the RSS the map took, what it still holds after the deletes\n");
    fprintf(out, "%-18s %10s %12s %12s %10s %13s %10s %6s  %s\n", "engine", "keys", "B/entry RSS",
            "B/entry own", "RSS MiB", "after del MiB", "after/full", "kept", "note");
    for (size_t i = 0; i < n; i++) {
        if (m[i].skipped) {
            fprintf(out, "%-18s %10llu %s\n", m[i].engine, (unsigned long long)m[i].keys, m[i].note);
            continue;
        }
        char own[32];
        fprintf(out, "%-18s %10llu %12.1f %12s %10.1f %13.1f %9.0f%% %5.0f%%  %s\n", m[i].engine,
                (unsigned long long)m[i].keys, lab_memory_per_entry(&m[i]),
                own_per_entry(&m[i], own, sizeof own), mib(m[i].rss_full),
                mib(m[i].rss_after_delete), 100.0 * after_over_full(&m[i]),
                100.0 * lab_memory_kept(&m[i]), m[i].note);
    }
}

static int write_memory_csv(const char *dir, const lab_memory_result *m, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/memory.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "steadymap-lab: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f, "engine,keys,status,rss_base_bytes,rss_full_bytes,rss_after_delete_bytes,"
               "bytes_per_entry_rss,engine_bytes_full,bytes_per_entry_engine,"
               "engine_bytes_after_delete,rss_after_over_full,map_memory_kept,note\n");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s,%llu,%s,", m[i].engine, (unsigned long long)m[i].keys,
                m[i].skipped ? "skipped" : "ok");
        if (m[i].skipped) {
            fprintf(f, ",,,,,,,,,\"%s\"\n", m[i].note);
            continue;
        }
        char own[32];
        own_per_entry(&m[i], own, sizeof own);
        fprintf(f, "%llu,%llu,%llu,%.2f,%llu,%s,%llu,%.4f,%.4f,\"%s\"\n",
                (unsigned long long)m[i].rss_base, (unsigned long long)m[i].rss_full,
                (unsigned long long)m[i].rss_after_delete, lab_memory_per_entry(&m[i]),
                (unsigned long long)m[i].engine_bytes_full, strcmp(own, "n/a") ? own : "",
                (unsigned long long)m[i].engine_bytes_after_delete, after_over_full(&m[i]),
                lab_memory_kept(&m[i]), m[i].note);
    }
    int bad = ferror(f) | fclose(f);
    if (bad)
        fprintf(stderr, "steadymap-lab: error writing %s\n", path);
    return bad ? 1 : 0;
}

static void write_memory_markdown(const lab_memory_result *m, size_t n, FILE *out)
{
    fprintf(out, "\n## Memory\n\nEach engine in a freshly started process: keys inserted into a "
                 "map created without a size hint, then 90%% of them deleted. *B/entry RSS* is the "
                 "growth of the resident set per entry (allocator slack included), *B/entry own* "
                 "what the engine's `bytes()` reports, *kept* the share of the memory the map took "
                 "that it still holds after the deletes.\n\n"
                 "| engine | keys | B/entry RSS | B/entry own | RSS MiB | after delete MiB | "
                 "after / full | kept | note |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < n; i++) {
        if (m[i].skipped) {
            fprintf(out, "| %s | %llu | | | | | | | %s |\n", m[i].engine,
                    (unsigned long long)m[i].keys, m[i].note);
            continue;
        }
        char own[32];
        fprintf(out, "| %s | %llu | %.1f | %s | %.1f | %.1f | %.0f%% | %.0f%% | %s |\n", m[i].engine,
                (unsigned long long)m[i].keys, lab_memory_per_entry(&m[i]),
                own_per_entry(&m[i], own, sizeof own), mib(m[i].rss_full),
                mib(m[i].rss_after_delete), 100.0 * after_over_full(&m[i]),
                100.0 * lab_memory_kept(&m[i]), m[i].note);
    }
}

static size_t memory_sizes(const lab_compare_options *o, uint64_t *out)
{
    if (o->nmemory_keys) {
        memcpy(out, o->memory_keys, o->nmemory_keys * sizeof *out);
        return o->nmemory_keys;
    }
    if (o->smoke) {
        out[0] = LAB_SMOKE_MEMORY_KEYS_SMALL;
        out[1] = LAB_SMOKE_MEMORY_KEYS_LARGE;
        return 2;
    }
    unsigned div = o->s.quick ? 4 : 1;
    out[0] = LAB_COMPARE_MEMORY_KEYS_SMALL / div;
    out[1] = LAB_COMPARE_MEMORY_KEYS_LARGE / div;
    return 2;
}

/* Measures every engine at every size; *m is allocated and holds *n. */
static int measure_memory(const lab_compare_options *o, const lab_settings *s, progress *p,
                          lab_memory_result **m, size_t *n)
{
    uint64_t sizes[LAB_MEMORY_SIZES_MAX];
    size_t ns = memory_sizes(o, sizes);
    *n = 0;
    *m = calloc(o->nengines * ns + 1, sizeof **m);
    if (!*m)
        return -1;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < o->nengines; i++) {
            step(p, "memory %-18s %llu keys", o->engines[i]->name, (unsigned long long)sizes[k]);
            lab_memory_measure(o->engines[i], sizes[k], s, &(*m)[(*n)++]);
        }
    return 0;
}

int lab_memory_command(const lab_compare_options *o)
{
    lab_settings s = o->s;
    uint64_t sizes[LAB_MEMORY_SIZES_MAX];
    progress p = { .total = o->nengines * memory_sizes(o, sizes), .on = s.progress };
    clock_gettime(CLOCK_MONOTONIC, &p.t0);
    lab_memory_result *m;
    size_t n;
    if (measure_memory(o, &s, &p, &m, &n) != 0) {
        fprintf(stderr, "steadymap-lab: out of memory\n");
        return 1;
    }
    print_memory_table(m, n, stdout);
    int failed = 0;
    if (mkdir(o->output, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "steadymap-lab: cannot create %s: %s\n", o->output, strerror(errno));
        failed = 1;
    } else {
        failed = write_memory_csv(o->output, m, n);
        if (!failed)
            printf("memory: %s/memory.csv\n", o->output);
    }
    free(m);
    return failed;
}

/* ---- compare.md --------------------------------------------------------------- */

/* The value of a "key: value" line of the report's stamp. */
static void stamp_value(const lab_report *rep, const char *key, char *out, size_t n)
{
    snprintf(out, n, "unknown");
    size_t klen = strlen(key);
    for (const char *l = rep->stamp; *l;) {
        size_t len = strcspn(l, "\n");
        if (len > klen + 2 && strncmp(l, key, klen) == 0 && l[klen] == ':') {
            snprintf(out, n, "%.*s", (int)(len - klen - 2), l + klen + 2);
            return;
        }
        l += len + (l[len] == '\n');
    }
}

static void package_version(const char *pkg, char *out, size_t n)
{
    char cmd[256], line[256] = "";
    snprintf(cmd, sizeof cmd, "dpkg-query -W -f='${db:Status-Status} ${Version}' %s 2>/dev/null", pkg);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(line, sizeof line, p))
            line[0] = '\0';
        pclose(p);
    }
    line[strcspn(line, "\n")] = '\0';
    /* "installed 0.13.2-1"; anything else (absent, config-files) is not */
    if (strncmp(line, "installed ", 10) == 0)
        snprintf(out, n, "%s", line + 10);
    else
        snprintf(out, n, "not installed");
}

static int write_compare_md(const lab_compare_options *o, const lab_report *rep,
                            const lab_scenario *const *scenarios, size_t nsc,
                            const lab_memory_result *m, size_t nm, const lab_check *checks)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/compare.md", o->output);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "steadymap-lab: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    char date[128], cpu[256], commit[128], load[128];
    stamp_value(rep, "date", date, sizeof date);
    stamp_value(rep, "cpu", cpu, sizeof cpu);
    stamp_value(rep, "commit", commit, sizeof commit);
    stamp_value(rep, "load average at start", load, sizeof load);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    fprintf(f, "# steadymap-lab compare%s\n\n", o->smoke ? " (smoke run: the numbers mean nothing)" : "");
    fprintf(f, "- date: %s\n- command: `%s`\n- commit: %s\n", date, rep->command_line, commit);
    /* the stamp's cpu line is "<model name>, <nproc> online cores" */
    fprintf(f, "- machine: %s; kernel %s %s\n- load average at start: %s\n", cpu, u.sysname,
            u.release, load);
    fprintf(f, "- engines:");
    for (size_t i = 0; i < o->nengines; i++)
        fprintf(f, "%s %s%s", i ? "," : "", o->engines[i]->name,
                o->engines[i]->single_thread_only ? " (single-threaded)" : "");
    fprintf(f, "\n- options: %s\n", rep->options);
    fprintf(f, "\n| peer package | version |\n|---|---|\n");
    for (size_t i = 0; i < sizeof peer_packages / sizeof peer_packages[0]; i++) {
        char v[256];
        package_version(peer_packages[i], v, sizeof v);
        fprintf(f, "| %s | %s |\n", peer_packages[i], v);
    }
    fprintf(f, "\n## Verdict\n\nComputed from the tables below. \"Concurrent engines\" are all but "
               "the single-threaded ones and the floor reading; (a) compares the gets alone (the "
               "`get p99.9` and `get max` columns), the other latency columns are over every "
               "measured operation (90%% gets in range and oversub; growth's readers and its "
               "loading writer). Mixed in the closed loop ran " NUMBER_TEXT(THROUGHPUT_ROUNDS) " times per "
               "engine, the rounds interleaved; its table keeps each engine's run with the median "
               "ops/s, and its errors column counts every round's errors.\n\n");
    lab_verdict_write(checks, f);
    fprintf(f, "\nLatency columns: p50 ... max of one operation; \\* = fewer than 10 samples above "
               "that percentile. Open loop measures from each operation's intended start "
               "(coordinated omission corrected), closed loop from its actual start. Plots and "
               "every number: `index.html`, `results.csv` in this folder.\n");
    for (size_t s = 0; s < nsc; s++) {
        fprintf(f, "\n## %s\n\n%s\n", scenarios[s]->name, scenarios[s]->description);
        for (int mo = 0; mo < 2; mo++)
            lab_report_write_markdown(rep, scenarios[s], (lab_load_model)mo, f);
    }
    write_memory_markdown(m, nm, f);
    int bad = ferror(f) | fclose(f);
    if (bad)
        fprintf(stderr, "steadymap-lab: error writing %s\n", path);
    return bad ? 1 : 0;
}

/* ---- the comparison -------------------------------------------------------------- */

static const lab_engine *selected(const lab_compare_options *o, const char *name)
{
    for (size_t i = 0; i < o->nengines; i++)
        if (strcmp(o->engines[i]->name, name) == 0)
            return o->engines[i];
    return NULL;
}

/* A skipped run that did not skip by design (no iterate, single-threaded)
 * but because something broke: the smoke run fails on it. */
static int failed_skip(const char *why)
{
    return strstr(why, "failed") != NULL;
}

static int add_run(lab_report *rep, progress *p, const lab_scenario *sc, const lab_engine *e,
                   lab_load_model m, const lab_settings *s)
{
    step(p, "%s %s %s loop", sc->name, e->name, lab_load_model_name(m));
    lab_result *r = lab_run(sc, e, m, s);
    if (!r || lab_report_add(rep, r) != 0) {
        lab_result_free(r);
        fprintf(stderr, "steadymap-lab: out of memory\n");
        return -1;
    }
    return 0;
}


static double run_ops_per_s(const lab_result *r)
{
    return r && !r->skipped && r->seconds > 0 ? (double)r->ops / r->seconds : -1;
}

lab_result *lab_keep_median_run(lab_result **runs, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && run_ops_per_s(runs[j]) < run_ops_per_s(runs[j - 1]); j--) {
            lab_result *t = runs[j];
            runs[j] = runs[j - 1];
            runs[j - 1] = t;
        }
    lab_result *median = runs[n / 2];
    for (size_t i = 0; i < n; i++)
        if (runs[i] != median) {
            median->err_value += runs[i]->err_value;
            median->err_missing += runs[i]->err_missing;
            median->err_engine += runs[i]->err_engine;
            lab_result_free(runs[i]);
        }
    return median;
}

static int add_median_runs(lab_report *rep, progress *p, const lab_scenario *sc,
                           const lab_engine *const *engines, size_t n, const lab_settings *s)
{
    static lab_result *runs[MAX_THROUGHPUT_ENGINES][THROUGHPUT_ROUNDS];
    int failed = 0;
    for (int k = 0; k < THROUGHPUT_ROUNDS && !failed; k++)
        for (size_t e = 0; e < n && !failed; e++) {
            step(p, "%s %s closed loop, round %d of %d", sc->name, engines[e]->name, k + 1,
                 THROUGHPUT_ROUNDS);
            runs[e][k] = lab_run(sc, engines[e], LAB_CLOSED_LOOP, s);
            failed = runs[e][k] == NULL;
        }
    for (size_t e = 0; e < n; e++) {
        if (failed) {
            for (int k = 0; k < THROUGHPUT_ROUNDS; k++)
                lab_result_free(runs[e][k]);
            continue;
        }
        lab_result *kept = lab_keep_median_run(runs[e], THROUGHPUT_ROUNDS);
        if (lab_report_add(rep, kept) != 0) {
            lab_result_free(kept);
            failed = 1;
        }
    }
    memset(runs, 0, sizeof runs);
    if (failed)
        fprintf(stderr, "steadymap-lab: out of memory\n");
    return failed ? -1 : 0;
}

static void options_line(const lab_compare_options *o, const lab_settings *s, char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "compare%s load-model=%s seed=%llu threads=%u "
                                          "duration-ms=%u keys=%llu rate=%.0f quick=%d "
                                          "(0 = each scenario's own); micro at %u and %u keys",
                                  o->smoke ? " --smoke" : "",
                                  o->models == 3 ? "both" : o->models == 2 ? "open" : "closed",
                                  (unsigned long long)s->seed, s->threads, s->duration_ms,
                                  (unsigned long long)s->keys, s->rate, s->quick,
                                  LAB_COMPARE_MICRO_KEYS, LAB_COMPARE_MICRO_LARGE_KEYS);
    if (len < n)
        snprintf(out + len, n - len, "%s", s->quick ? " (/4 with quick)" : "");
}

int lab_compare(const lab_compare_options *o, int argc, char **argv)
{
    lab_settings s = o->s;
    if (!s.duration_ms)
        s.duration_ms = o->smoke ? LAB_SMOKE_DURATION_MS
                        : s.quick ? LAB_COMPARE_DURATION_MS / 5
                                  : LAB_COMPARE_DURATION_MS;
    if (o->smoke && !s.keys)
        s.keys = LAB_SMOKE_KEYS;
    size_t nall;
    const lab_scenario *const *all = lab_scenarios_all(&nall);
    lab_scenario micro = lab_scenario_micro, large = lab_scenario_micro;
    micro.keys = LAB_COMPARE_MICRO_KEYS;
    large.name = LAB_MICRO_LARGE;
    large.keys = LAB_COMPARE_MICRO_LARGE_KEYS;
    large.description = "micro at 64M keys, steady and " LAB_FLAT_BASELINE
                        " only: single-thread lookups far beyond the caches";
    const lab_engine *steady = selected(o, "steady"), *flat = selected(o, LAB_FLAT_BASELINE);
    int run_large = steady && flat && (o->models & 1);
    /* The floor reading for (b): mixed, closed loop, beside the engines;
     * named in --engines, it runs with them instead. */
    const lab_engine *floor = (o->models & 1) && !selected(o, LAB_FLOOR_ENGINE)
                                  ? lab_engine_find(LAB_FLOOR_ENGINE)
                                  : NULL;

    const lab_scenario *scenarios[64];
    size_t nsc = 0;
    for (size_t i = 0; i < nall && nsc < 63; i++)
        scenarios[nsc++] = all[i] == &lab_scenario_micro ? &micro : all[i];
    uint64_t sizes[LAB_MEMORY_SIZES_MAX];
    size_t nsizes = memory_sizes(o, sizes);
    int nmodels = (o->models & 1) + ((o->models >> 1) & 1);
    int mixed_closed = (o->models & 1) != 0;
    progress p = { .total = nsc * (size_t)nmodels * o->nengines + (run_large ? 2 : 0) +
                            (size_t)mixed_closed * ((THROUGHPUT_ROUNDS - 1) * o->nengines +
                                                    (floor ? THROUGHPUT_ROUNDS : 0)) +
                            nsizes * o->nengines,
                   .on = s.progress };
    clock_gettime(CLOCK_MONOTONIC, &p.t0);

    char options[1024];
    options_line(o, &s, options, sizeof options);
    lab_report rep;
    if (lab_report_open(&rep, o->output, argc, argv, options) != 0)
        return 1;
    if (run_large)
        lab_report_add_scenario(&rep, &large);
    fprintf(stderr, "%s", rep.stamp);
    fprintf(stderr, "compare: %zu engines, %zu steps\n", o->nengines, p.total);
    if (!run_large)
        fprintf(stderr, "compare: no micro at %u keys (needs steady, " LAB_FLAT_BASELINE
                        " and the closed loop)\n",
                LAB_COMPARE_MICRO_LARGE_KEYS);

    for (size_t i = 0; i < nsc; i++) {
        for (int m = 0; m < 2; m++) {
            if (!(o->models & (1 << m)))
                continue;
            if (scenarios[i] == &lab_scenario_mixed && m == LAB_CLOSED_LOOP) {
                const lab_engine *with_floor[MAX_THROUGHPUT_ENGINES];
                size_t n = 0;
                for (size_t e = 0; e < o->nengines && n < MAX_THROUGHPUT_ENGINES; e++)
                    with_floor[n++] = o->engines[e];
                if (floor && n < MAX_THROUGHPUT_ENGINES)
                    with_floor[n++] = floor;
                if (add_median_runs(&rep, &p, scenarios[i], with_floor, n, &s) != 0)
                    return 1;
            } else {
                for (size_t e = 0; e < o->nengines; e++)
                    if (add_run(&rep, &p, scenarios[i], o->engines[e], (lab_load_model)m, &s) != 0)
                        return 1;
            }
            lab_report_print_table(&rep, scenarios[i], (lab_load_model)m, stdout);
            fflush(stdout);
        }
        if (scenarios[i] == &micro && run_large) {
            if (add_run(&rep, &p, &large, steady, LAB_CLOSED_LOOP, &s) != 0 ||
                add_run(&rep, &p, &large, flat, LAB_CLOSED_LOOP, &s) != 0)
                return 1;
            lab_report_print_table(&rep, &large, LAB_CLOSED_LOOP, stdout);
            fflush(stdout);
        }
    }

    lab_memory_result *mem;
    size_t nmem;
    if (measure_memory(o, &s, &p, &mem, &nmem) != 0) {
        fprintf(stderr, "steadymap-lab: out of memory\n");
        return 1;
    }
    print_memory_table(mem, nmem, stdout);
    printf("\n* fewer than 10 samples lie above this percentile: one or two operations, not a distribution\n");

    fprintf(stderr, "writing the report and rendering plots ...\n");
    int failures = lab_report_finish(&rep);
    failures += write_memory_csv(o->output, mem, nmem);

    lab_check checks[LAB_VERDICT_CHECKS];
    lab_verdict_input in = {
        .results = (const lab_result *const *)rep.results,
        .nresults = rep.n,
        .memory = mem,
        .nmemory = nmem,
        .single_threaded = lab_single_threaded,
    };
    lab_verdict(&in, checks);
    const lab_scenario *md_scenarios[65];
    size_t nmd = 0;
    for (size_t i = 0; i < nsc; i++) {
        md_scenarios[nmd++] = scenarios[i];
        if (scenarios[i] == &micro && run_large)
            md_scenarios[nmd++] = &large;
    }
    failures += write_compare_md(o, &rep, md_scenarios, nmd, mem, nmem, checks);

    printf("\n== verdict%s\n", o->smoke ? " (smoke run: the numbers mean nothing)" : "");
    lab_verdict_write(checks, stdout);

    /* Errors, engines that ran, and (smoke) runs that failed to run. */
    uint64_t errors = 0;
    size_t broken = 0;
    for (size_t i = 0; i < rep.n; i++) {
        const lab_result *r = rep.results[i];
        errors += r->err_value + r->err_missing + r->err_engine;
        if (r->skipped && failed_skip(r->skip_reason)) {
            broken++;
            if (o->smoke)
                printf("FAILED: %s %s %s loop: %s\n", r->scenario, r->engine,
                       lab_load_model_name(r->model), r->skip_reason);
        }
    }
    for (size_t i = 0; i < nmem; i++)
        if (mem[i].skipped && failed_skip(mem[i].note)) {
            broken++;
            if (o->smoke)
                printf("FAILED: memory %s %llu keys: %s\n", mem[i].engine,
                       (unsigned long long)mem[i].keys, mem[i].note);
        }
    printf("\nengines that ran:");
    for (size_t e = 0; e < o->nengines; e++) {
        size_t ran = 0, runs = 0;
        for (size_t i = 0; i < rep.n; i++)
            if (strcmp(rep.results[i]->engine, o->engines[e]->name) == 0) {
                runs++;
                ran += !rep.results[i]->skipped;
            }
        printf(" %s (%zu/%zu runs)", o->engines[e]->name, ran, runs);
    }
    printf("\n%s: %s/compare.md, %s/index.html (%s); %.1f s in total\n",
           o->smoke ? "smoke" : "compare", o->output, o->output,
           failures ? "some files failed, see above" : "complete", seconds_since(&p.t0));
    int status = failures ? 1 : 0;
    if (errors) {
        printf("ERRORS: %llu wrong values, lost keys or engine failures; see the errors column\n",
               (unsigned long long)errors);
        status = 3;
    }
    if (o->smoke && broken) {
        printf("SMOKE FAILED: %zu runs or measurements failed to run\n", broken);
        status = 3;
    } else if (o->smoke && !errors) {
        printf("smoke passed: no errors in %zu runs and %zu memory measurements\n", rep.n, nmem);
    }
    free(mem);
    lab_report_close(&rep);
    return status;
}
