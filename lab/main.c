/*
 * steadymap-lab — the latency lab's command line.
 *
 *   steadymap-lab list                 engines and scenarios, one line each
 *   steadymap-lab run [options]        run scenarios x engines x load models
 *   steadymap-lab demo [options]       the four headline scenarios, < 2 min
 *   steadymap-lab compare [options]    every engine, every scenario, memory,
 *                                      compare.md with the verdict
 *   steadymap-lab memory [options]     bytes per entry, memory given back
 *   steadymap-lab --help
 *
 * The work is in harness/ (clock, histograms, load models, report, memory,
 * compare and its verdict) and the
 * scenario definitions in scenarios/; this file only parses options and
 * decides what runs in which order.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "harness/clock.h"
#include "harness/compare.h"
#include "harness/memory.h"
#include "harness/report.h"
#include "harness/run.h"
#include "scenarios/scenario.h"

#define MAX_SELECTED 32

/* The validation engine stalls on purpose and the floor is no map at all
 * (engines/floor.c); they run only when named. */
static const char *const validation_only[] = { "stall", "floor" };
static const char *const demo_engines[] = { "steady", "gomap", "sharded", "syncmap" };
static const char *const demo_scenarios[] = { "micro", "growth", "range", "oversub" };

static const char usage[] =
    "usage: steadymap-lab [list | run | demo | compare | memory] [options]\n"
    "\n"
    "Measures concurrent maps as latency distributions (p50 ... p99.99, max) under\n"
    "scenarios that reproduce production stalls. Every get is checked for the right\n"
    "value; results go to the --output folder (tables, CSV, .hgrm, plots, index.html).\n"
    "\n"
    "commands:\n"
    "  list                 list engines and scenarios with one-line descriptions\n"
    "  run                  run --scenarios x --engines x --load-model (the default)\n"
    "  demo                 micro, growth, range and oversub for steady, gomap, sharded\n"
    "                       and syncmap, both load models; under 2 minutes on 2 cores\n"
    "  compare              every engine (but 'stall' and 'floor') through every scenario,\n"
    "                       both load models, micro at 1M and (steady, boost_flat) 64M\n"
    "                       keys, the floor reading on mixed, and memory; writes the\n"
    "                       report plus compare.md with the verdict\n"
    "                       into --output (default lab-compare); 16-25 min for 16\n"
    "                       engines on 2 cores\n"
    "  memory               bytes per entry at 1M and 16M keys and the memory kept after\n"
    "                       deleting 90%, each in a fresh process; memory.csv into\n"
    "                       --output (default lab-memory)\n"
    "\n"
    "options (--name=value and --name value both work):\n"
    "  --engines=a,b        engines to measure (default: all but the validation engine\n"
    "                       'stall' and the 'floor' reading, which run only when named)\n"
    "  --scenarios=x,y      scenarios to run (default: all); micro always runs too, in\n"
    "                       closed loop, because it is the tail-amplification baseline\n"
    "  --threads=N          worker threads, instead of each scenario's own count\n"
    "                       (micro stays at 1)\n"
    "  --duration-ms=N      measured time per run, instead of each scenario's own\n"
    "  --keys=N             key space / target size, instead of each scenario's own;\n"
    "                       for memory: the sizes, e.g. --keys=1000000,16000000\n"
    "  --rate=OPS           open loop: operations per second per thread, instead of\n"
    "                       each scenario's own (see `list`)\n"
    "  --load-model=M       closed, open or both (default both)\n"
    "  --seed=N             seed for keys and operation streams (default 1)\n"
    "  --output=DIR         report folder (default lab-report; compare: lab-compare,\n"
    "                       memory: lab-memory)\n"
    "  --quick              durations / 5 and keys / 4: a smoke run, not a result\n"
    "  --smoke              compare only: 100 ms runs on 20000 keys, memory at 10000 and\n"
    "                       50000; exits 3 on any error or run that failed (CI)\n"
    "  --no-progress        no progress line on stderr\n"
    "  --help               this text\n"
    "\n"
    "internal: `run-child ... --result-fd=N [--progress]` and `memory-child ...` are how\n"
    "the lab starts itself in a fresh process for the coldstart scenarios and the memory\n"
    "measurement; they are not meant to be typed.\n";

typedef struct cli {
    const char *command;
    char engines[512], scenarios[512];
    int have_engines, have_scenarios, have_output;
    int models; /* bit 0 closed, bit 1 open */
    int smoke;
    uint64_t keys[LAB_MEMORY_SIZES_MAX]; /* --keys, which memory takes as a list */
    size_t nkeys;
    const char *output;
    lab_settings s;
    int result_fd;
} cli;

static int parse_u64(const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-')
        return -1;
    *out = x;
    return 0;
}

/* "--name=value", or "--name value" (then *i moves past the value). */
static const char *value_of_option(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] == '\0' && *i + 1 < argc) {
        ++*i;
        return argv[*i];
    }
    return NULL;
}

/* "N" or "N,M,...": every size nonzero. */
static int parse_keys(cli *c, const char *v)
{
    char list[256];
    snprintf(list, sizeof list, "%s", v);
    c->nkeys = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        uint64_t u;
        if (c->nkeys == LAB_MEMORY_SIZES_MAX || parse_u64(t, &u) || u == 0)
            return -1;
        c->keys[c->nkeys++] = u;
    }
    if (c->nkeys == 0)
        return -1;
    c->s.keys = c->keys[0];
    return 0;
}

static int bad(const char *arg)
{
    fprintf(stderr, "steadymap-lab: bad option '%s' (see --help)\n", arg);
    return -1;
}

static int parse(cli *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->command = "run";
    c->models = 3;
    c->output = "lab-report";
    c->s.seed = 1;
    c->s.progress = 1;
    c->result_fd = -1;
    int i = 1;
    if (i < argc && argv[i][0] != '-')
        c->command = argv[i++];
    for (; i < argc; i++) {
        const char *a = argv[i], *v;
        uint64_t u;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            c->command = "help";
        else if (strcmp(a, "--quick") == 0)
            c->s.quick = 1;
        else if (strcmp(a, "--smoke") == 0)
            c->smoke = 1;
        else if (strcmp(a, "--no-progress") == 0)
            c->s.progress = 0;
        else if (strcmp(a, "--progress") == 0)
            c->s.progress = 1;
        else if ((v = value_of_option(argc, argv, &i, "--engines"))) {
            snprintf(c->engines, sizeof c->engines, "%s", v);
            c->have_engines = 1;
        } else if ((v = value_of_option(argc, argv, &i, "--scenarios"))) {
            snprintf(c->scenarios, sizeof c->scenarios, "%s", v);
            c->have_scenarios = 1;
        } else if ((v = value_of_option(argc, argv, &i, "--threads"))) {
            if (parse_u64(v, &u) || u > 1024)
                return bad(a);
            c->s.threads = (unsigned)u;
        } else if ((v = value_of_option(argc, argv, &i, "--duration-ms"))) {
            if (parse_u64(v, &u) || u == 0 || u > 3600000)
                return bad(a);
            c->s.duration_ms = (unsigned)u;
        } else if ((v = value_of_option(argc, argv, &i, "--keys"))) {
            if (parse_keys(c, v) != 0)
                return bad(a);
        } else if ((v = value_of_option(argc, argv, &i, "--rate"))) {
            if (parse_u64(v, &u) || u == 0)
                return bad(a);
            c->s.rate = (double)u;
        } else if ((v = value_of_option(argc, argv, &i, "--seed"))) {
            if (parse_u64(v, &u))
                return bad(a);
            c->s.seed = u;
        } else if ((v = value_of_option(argc, argv, &i, "--output"))) {
            c->output = v;
            c->have_output = 1;
        } else if ((v = value_of_option(argc, argv, &i, "--load-model"))) {
            if (strcmp(v, "closed") == 0)
                c->models = 1;
            else if (strcmp(v, "open") == 0)
                c->models = 2;
            else if (strcmp(v, "both") == 0)
                c->models = 3;
            else
                return bad(a);
        } else if ((v = value_of_option(argc, argv, &i, "--result-fd"))) {
            if (parse_u64(v, &u) || u > 65535)
                return bad(a);
            c->result_fd = (int)u;
        } else {
            return bad(a);
        }
    }
    if (c->nkeys > 1 && strcmp(c->command, "memory") != 0) {
        fprintf(stderr, "steadymap-lab: several --keys sizes only work with `memory`\n");
        return -1;
    }
    return 0;
}

/* Appends to a string buffer, truncating instead of overflowing. */
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

static int is_validation_only(const char *name)
{
    for (size_t i = 0; i < sizeof validation_only / sizeof validation_only[0]; i++)
        if (strcmp(name, validation_only[i]) == 0)
            return 1;
    return 0;
}

/* Splits a comma list in place; returns the count or -1 if too long. */
static int split(char *list, char **out, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max)
            return -1;
        out[n++] = t;
    }
    return n;
}

static int select_engines(cli *c, const lab_engine **out)
{
    int n = 0;
    if (!c->have_engines) {
        size_t count;
        const lab_engine *const *all = lab_engines_all(&count);
        for (size_t i = 0; i < count && n < MAX_SELECTED; i++)
            if (!is_validation_only(all[i]->name))
                out[n++] = all[i];
        return n;
    }
    char *names[MAX_SELECTED];
    int k = split(c->engines, names, MAX_SELECTED);
    for (int i = 0; i < k; i++) {
        const lab_engine *e = lab_engine_find(names[i]);
        if (!e) {
            fprintf(stderr, "steadymap-lab: no engine '%s' (see `steadymap-lab list`)\n", names[i]);
            return -1;
        }
        out[n++] = e;
    }
    return k < 0 ? -1 : n;
}

static int select_scenarios(cli *c, const lab_scenario **out)
{
    if (!c->have_scenarios) {
        size_t count;
        const lab_scenario *const *all = lab_scenarios_all(&count);
        for (size_t i = 0; i < count; i++)
            out[i] = all[i];
        return (int)count;
    }
    char *names[MAX_SELECTED];
    int k = split(c->scenarios, names, MAX_SELECTED);
    for (int i = 0; i < k; i++) {
        out[i] = lab_scenario_find(names[i]);
        if (!out[i]) {
            fprintf(stderr, "steadymap-lab: no scenario '%s' (see `steadymap-lab list`)\n",
                    names[i]);
            return -1;
        }
    }
    return k;
}

static int list(void)
{
    size_t n;
    const lab_engine *const *e = lab_engines_all(&n);
    printf("engines:\n");
    for (size_t i = 0; i < n; i++)
        printf("  %-20s %s%s\n", e[i]->name, e[i]->description,
               is_validation_only(e[i]->name) ? " [runs only when named]" : "");
    const lab_scenario *const *s = lab_scenarios_all(&n);
    printf("\nscenarios:\n");
    lab_settings defaults = { .seed = 1 };
    for (size_t i = 0; i < n; i++) {
        printf("  %-20s %s\n", s[i]->name, s[i]->description);
        printf("  %-20s reproduces: %s\n", "", s[i]->reproduces);
        printf("  %-20s %u threads, %llu keys, %u ms, open loop %.0f ops/s per thread\n", "",
               lab_effective_threads(s[i], &defaults),
               (unsigned long long)lab_effective_keys(s[i], &defaults),
               lab_effective_duration_ms(s[i], &defaults), s[i]->open_rate);
    }
    return 0;
}

static char self_exe[4096];

static int run_child(cli *c)
{
    const lab_engine *e[MAX_SELECTED];
    const lab_scenario *sc[MAX_SELECTED];
    if (c->result_fd < 0 || select_engines(c, e) != 1 || select_scenarios(c, sc) != 1 ||
        c->models == 3) {
        fprintf(stderr, "steadymap-lab run-child: internal command, started by the lab itself\n");
        return 2;
    }
    c->s.self_exe = NULL;
    lab_load_model m = c->models == 2 ? LAB_OPEN_LOOP : LAB_CLOSED_LOOP;
    return lab_run_child(sc[0], e[0], m, &c->s, c->result_fd) == 0 ? 0 : 1;
}

static int run(cli *c, int argc, char **argv)
{
    const lab_engine *engines[MAX_SELECTED];
    const lab_scenario *scenarios[MAX_SELECTED];
    int ne = select_engines(c, engines);
    int ns = select_scenarios(c, scenarios);
    if (ne < 0 || ns < 0)
        return 2;
    if (ne == 0) {
        fprintf(stderr, "steadymap-lab: no engines compiled in\n");
        return 2;
    }
    int have_micro = 0;
    for (int i = 0; i < ns; i++)
        have_micro |= scenarios[i] == &lab_scenario_micro;

    char options[1024] = "engines=";
    for (int i = 0; i < ne; i++)
        append(options, sizeof options, "%s%s", i ? "," : "", engines[i]->name);
    append(options, sizeof options, " scenarios=%s", have_micro ? "" : "micro(closed, baseline),");
    for (int i = 0; i < ns; i++)
        append(options, sizeof options, "%s%s", i ? "," : "", scenarios[i]->name);
    append(options, sizeof options,
           " load-model=%s seed=%llu threads=%u duration-ms=%u keys=%llu rate=%.0f quick=%d "
           "(0 = each scenario's own)",
           c->models == 3 ? "both" : c->models == 2 ? "open" : "closed",
           (unsigned long long)c->s.seed, c->s.threads, c->s.duration_ms,
           (unsigned long long)c->s.keys, c->s.rate, c->s.quick);

    lab_report rep;
    if (lab_report_open(&rep, c->output, argc, argv, options) != 0)
        return 1;
    fprintf(stderr, "%s", rep.stamp);
    c->s.self_exe = self_exe[0] ? self_exe : NULL;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status = 0;
    if (!have_micro) {
        /* The tail-amplification denominator: micro, closed loop. */
        for (int i = 0; i < ne; i++) {
            lab_result *r = lab_run(&lab_scenario_micro, engines[i], LAB_CLOSED_LOOP, &c->s);
            if (!r || lab_report_add(&rep, r) != 0)
                return 1;
        }
        lab_report_print_table(&rep, &lab_scenario_micro, LAB_CLOSED_LOOP, stdout);
    }
    for (int s = 0; s < ns; s++) {
        for (int m = 0; m < 2; m++) {
            if (!(c->models & (1 << m)))
                continue;
            for (int i = 0; i < ne; i++) {
                lab_result *r = lab_run(scenarios[s], engines[i], (lab_load_model)m, &c->s);
                if (!r || lab_report_add(&rep, r) != 0) {
                    fprintf(stderr, "steadymap-lab: out of memory\n");
                    return 1;
                }
                if (!r->skipped && (r->err_value || r->err_missing || r->err_engine))
                    status = 3;
            }
            lab_report_print_table(&rep, scenarios[s], (lab_load_model)m, stdout);
            fflush(stdout);
        }
    }
    printf("\n* fewer than 10 samples lie above this percentile: one or two operations, not a distribution\n");
    fprintf(stderr, "writing the report and rendering plots ...\n");
    int failures = lab_report_finish(&rep);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("report: %s/index.html (%s); %.1f s in total\n", c->output,
           failures ? "some files failed, see above" : "complete",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (status)
        printf("ERRORS: some engine returned wrong values or lost keys; see the errors column\n");
    lab_report_close(&rep);
    return status ? status : failures ? 1 : 0;
}

/* What compare and memory share: the engines and the settings. */
static int compare_options(cli *c, lab_compare_options *o, const lab_engine **engines,
                           const char *default_output)
{
    int ne = select_engines(c, engines);
    if (ne < 0)
        return -1;
    if (ne == 0) {
        fprintf(stderr, "steadymap-lab: no engines compiled in\n");
        return -1;
    }
    memset(o, 0, sizeof *o);
    o->engines = engines;
    o->nengines = (size_t)ne;
    o->models = c->models;
    o->smoke = c->smoke;
    o->output = c->have_output ? c->output : default_output;
    o->s = c->s;
    o->s.self_exe = self_exe[0] ? self_exe : NULL;
    return 0;
}

static int compare(cli *c, int argc, char **argv)
{
    const lab_engine *engines[MAX_SELECTED];
    lab_compare_options o;
    if (c->have_scenarios) {
        fprintf(stderr, "steadymap-lab: compare runs every scenario; use `run` for a few\n");
        return 2;
    }
    if (compare_options(c, &o, engines, "lab-compare") != 0)
        return 2;
    return lab_compare(&o, argc, argv);
}

static int memory(cli *c)
{
    const lab_engine *engines[MAX_SELECTED];
    lab_compare_options o;
    if (compare_options(c, &o, engines, "lab-memory") != 0)
        return 2;
    memcpy(o.memory_keys, c->keys, c->nkeys * sizeof c->keys[0]);
    o.nmemory_keys = c->nkeys;
    return lab_memory_command(&o);
}

/* The child's half of lab_memory_measure: measure here, in this new
 * process, and hand the result back through the inherited file. */
static int memory_child(cli *c)
{
    const lab_engine *e[MAX_SELECTED];
    if (c->result_fd < 0 || select_engines(c, e) != 1 || c->nkeys != 1) {
        fprintf(stderr, "steadymap-lab memory-child: internal command, started by the lab itself\n");
        return 2;
    }
    c->s.self_exe = NULL;
    lab_memory_result m;
    int rc = lab_memory_measure(e[0], c->keys[0], &c->s, &m);
    if (lab_write_all(c->result_fd, &m, sizeof m) != 0)
        return 2;
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    cli c;
    if (parse(&c, argc, argv) != 0)
        return 2;
    if (strcmp(c.command, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(c.command, "list") == 0)
        return list();
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[n > 0 ? n : 0] = '\0';
    lab_clock_init();
    if (strcmp(c.command, "run-child") == 0)
        return run_child(&c);
    if (strcmp(c.command, "memory-child") == 0)
        return memory_child(&c);
    if (strcmp(c.command, "compare") == 0)
        return compare(&c, argc, argv);
    if (strcmp(c.command, "memory") == 0)
        return memory(&c);
    if (c.smoke) {
        fprintf(stderr, "steadymap-lab: --smoke belongs to `compare`\n");
        return 2;
    }
    if (strcmp(c.command, "demo") == 0) {
        if (!c.have_engines) {
            for (size_t i = 0; i < sizeof demo_engines / sizeof demo_engines[0]; i++)
                if (lab_engine_find(demo_engines[i]))
                    append(c.engines, sizeof c.engines, "%s%s", c.engines[0] ? "," : "",
                           demo_engines[i]);
                else
                    fprintf(stderr, "steadymap-lab: demo engine '%s' is not compiled in\n",
                            demo_engines[i]);
            c.have_engines = 1;
        }
        if (!c.have_scenarios) {
            for (size_t i = 0; i < sizeof demo_scenarios / sizeof demo_scenarios[0]; i++)
                append(c.scenarios, sizeof c.scenarios, "%s%s", i ? "," : "", demo_scenarios[i]);
            c.have_scenarios = 1;
        }
        return run(&c, argc, argv);
    }
    if (strcmp(c.command, "run") == 0)
        return run(&c, argc, argv);
    fprintf(stderr, "steadymap-lab: unknown command '%s' (see --help)\n", c.command);
    return 2;
}
