/*
 * main.c — steadymap-bench: one program, one run, every number the design
 * promises, printed with its target and written to bench-results/ stamped
 * with commit, compiler, CPU, date and options. See --help and
 * docs/BENCHMARKS.md, "How `make bench` measures".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifndef SM_BENCH_SOURCE_DIR
#define SM_BENCH_SOURCE_DIR "."
#endif

static const char usage[] =
"usage: steadymap-bench [options]\n"
"\n"
"Measures steadymap and prints each result, each target with PASS or MISS and\n"
"its ratio, and writes the same to a JSON file. Exits 0 unless the map gave a\n"
"wrong answer (every get and put result is checked); a missed target is\n"
"reported, never an error. Counts take a K, M or G suffix (powers of 1024).\n"
"\n"
"Sections (all by default):\n"
"  physical  dependent and independent random loads over buffers as large as\n"
"            the small and big maps' tables, 2 MiB and 4 KiB pages\n"
"  get       single-thread sm_get: throughput and latency chain, bytes/entry\n"
"  put       single-thread sm_put: fresh keys into a growing map, replace\n"
"  growth    one writer inserts while one reader gets; latency percentiles\n"
"  memory    insert, delete most, shrink, reclaim: RSS vs a fresh small map\n"
"  strings   string keys of 16 and 64 bytes, in and out of cache: put, get,\n"
"            get of absent keys, sm_get_many_str\n"
"\n"
"Options:\n"
"  --big-keys=N      keys in the big map of get/put (default 64M)\n"
"  --small-keys=N    keys in the small map of get/put (default 1M)\n"
"  --growth-keys=N   keys the growth writer inserts; a second run uses N/4\n"
"                    (default 16M)\n"
"  --memory-keys=N   keys inserted before deleting (default 16M)\n"
"  --memory-keep=N   keys left after deleting (default 1M)\n"
"  --string-keys=N   keys of the out-of-cache string maps (default 4M; the\n"
"                    in-cache ones hold 16K)\n"
"  --ops=N           operations per timed loop in physical/get/put\n"
"                    (default 16M)\n"
"  --seed=N          key stream seed (default 1); the same seed, the same keys\n"
"  --quick           every count above divided by 16: a run of ~20 s\n"
"  --smoke           tiny counts, a second or two: checks the map's answers and\n"
"                    that the program runs; its timings mean nothing\n"
"  --only=LIST       comma-separated sections to run (physical,get,put,growth,\n"
"                    memory,strings); physical alone sizes its buffers from an\n"
"                    estimate of 32 bytes per big-map key\n"
"  --output=FILE     write the JSON result here\n"
"  --output-dir=DIR  write it as DIR/steadymap-bench-<time>-<commit>.json\n"
"                    (default " SM_BENCH_SOURCE_DIR "/bench-results)\n"
"  --no-output       write no file\n"
"  --help            this text\n";

static int parse_count(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    switch (*end) {
    case 'K': case 'k': v <<= 10; end++; break;
    case 'M': case 'm': v <<= 20; end++; break;
    case 'G': case 'g': v <<= 30; end++; break;
    default: break;
    }
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_sections(const char *s, unsigned *out)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        { "physical", BENCH_SECTION_PHYSICAL }, { "get", BENCH_SECTION_GET },
        { "put", BENCH_SECTION_PUT }, { "growth", BENCH_SECTION_GROWTH },
        { "memory", BENCH_SECTION_MEMORY },
        { "strings", BENCH_SECTION_STRINGS },
    };
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    *out = 0;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(t, names[i].name) == 0)
                bit = names[i].bit;
        if (!bit)
            return -1;
        *out |= bit;
    }
    return *out ? 0 : -1;
}

/* Returns the value of "--name=value" when arg is that option, else NULL. */
static const char *option_value(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

static void parse_options(int argc, char **argv, bench_options *o)
{
    /* Counts given on the command line win over --quick and --smoke. */
    static const char *count_names[] = { "--big-keys", "--small-keys",
        "--growth-keys", "--memory-keys", "--memory-keep", "--ops", "--string-keys" };
    uint64_t *counts[] = { &o->big_keys, &o->small_keys, &o->growth_keys,
                           &o->memory_keys, &o->memory_keep, &o->ops, &o->string_keys };
    enum { NCOUNTS = sizeof counts / sizeof counts[0] };
    uint64_t given[NCOUNTS];
    int is_given[NCOUNTS] = { 0 };

    memset(o, 0, sizeof *o);
    o->big_keys = 64u << 20;
    o->small_keys = 1u << 20;
    o->growth_keys = 16u << 20;
    o->memory_keys = 16u << 20;
    o->memory_keep = 1u << 20;
    o->string_keys = 4u << 20;
    o->ops = 16u << 20;
    o->seed = 1;
    o->sections = BENCH_SECTION_ALL;
    o->output_dir = SM_BENCH_SOURCE_DIR "/bench-results";
    o->write_output = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int matched = 0;
        for (int c = 0; c < NCOUNTS; c++) {
            if ((v = option_value(a, count_names[c]))) {
                if (parse_count(v, &given[c]) != 0 || given[c] == 0) {
                    fprintf(stderr, "steadymap-bench: bad count in %s\n", a);
                    exit(2);
                }
                is_given[c] = matched = 1;
            }
        }
        if (matched)
            continue;
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(a, "--smoke") == 0) {
            o->smoke = 1;
        } else if (strcmp(a, "--no-output") == 0) {
            o->write_output = 0;
        } else if ((v = option_value(a, "--seed"))) {
            if (parse_count(v, &o->seed) != 0) {
                fprintf(stderr, "steadymap-bench: bad seed in %s\n", a);
                exit(2);
            }
        } else if ((v = option_value(a, "--only"))) {
            if (parse_sections(v, &o->sections) != 0) {
                fprintf(stderr, "steadymap-bench: unknown section in %s\n", a);
                exit(2);
            }
        } else if ((v = option_value(a, "--output"))) {
            o->output = v;
        } else if ((v = option_value(a, "--output-dir"))) {
            o->output_dir = v;
        } else {
            fprintf(stderr, "steadymap-bench: unknown option %s (see --help)\n", a);
            exit(2);
        }
    }
    if (o->smoke) {
        o->big_keys = 256u << 10;
        o->small_keys = 16u << 10;
        o->growth_keys = 256u << 10;
        o->memory_keys = 256u << 10;
        o->memory_keep = 16u << 10;
        o->string_keys = 16u << 10;
        o->ops = 256u << 10;
    } else if (o->quick) {
        for (int c = 0; c < NCOUNTS; c++)
            *counts[c] /= 16;
    }
    for (int c = 0; c < NCOUNTS; c++)
        if (is_given[c])
            *counts[c] = given[c];
    if (o->memory_keep > o->memory_keys) {
        fprintf(stderr, "steadymap-bench: --memory-keep exceeds --memory-keys\n");
        exit(2);
    }
}

/* Sections 1-3 share two maps: built once, measured by all three. */
static void run_single_thread(const bench_options *o)
{
    int want_maps = (o->sections & (BENCH_SECTION_GET | BENCH_SECTION_PUT)) != 0;
    built_map maps[2];
    char labels[2][24];
    uint64_t sizes[2] = { o->small_keys, o->big_keys };
    physical_result ref[2];
    int built[2] = { 0, 0 };

    memset(maps, 0, sizeof maps);
    memset(ref, 0, sizeof ref);
    for (int i = 0; i < 2; i++)
        bench_size_label(labels[i], sizeof labels[i], sizes[i]);
    if (want_maps)
        for (int i = 0; i < 2; i++)
            built[i] = map_build(&maps[i], labels[i], sizes[i],
                                 o->seed + (uint64_t)i) == 0;

    int physical = (o->sections & BENCH_SECTION_PHYSICAL) != 0;
    int get = (o->sections & BENCH_SECTION_GET) != 0;
    for (int i = 0; i < 2; i++) {
        int gets = get && built[i];
        if (gets)
            get_prepare(&maps[i], o->ops);
        if (physical)
            physical_measure(labels[i],
                             built[i] ? maps[i].bytes_held : sizes[i] * 32,
                             o->ops, o->seed, &ref[i], gets ? get_round : NULL,
                             &maps[i]);
        else
            for (int r = 0; gets && r < BENCH_ROUNDS; r++)
                get_round(&maps[i]);
        if (gets)
            get_finish(&maps[i]);
    }

    if (physical) {
        report_section("physical",
                       "1. physical references: random loads over a table-sized buffer");
        for (int i = 0; i < 2; i++) {
            report_note("%s: buffer sized as %s", labels[i],
                        built[i] ? "the map's bytes_held"
                                 : "an estimate of 32 bytes per key");
            physical_report(labels[i], &ref[i]);
        }
    }
    if (get) {
        report_section("get", "2. single-thread sm_get of present keys");
        for (int i = 0; i < 2; i++) {
            if (!built[i])
                continue;
            map_report_shape(&maps[i], labels[i]);
            section_get_report(&maps[i], labels[i], physical ? &ref[i] : NULL);
        }
    }
    if (o->sections & BENCH_SECTION_PUT) {
        report_section("put", "3. single-thread sm_put");
        for (int i = 0; i < 2; i++)
            if (built[i])
                section_put(&maps[i], labels[i], o->ops);
    }
    for (int i = 0; i < 2; i++)
        if (built[i])
            map_free(&maps[i]);
}

int main(int argc, char **argv)
{
    bench_options o;
    parse_options(argc, argv, &o);
    uint64_t t0 = bench_now_ns();
    progress("steadymap-bench starting");
    bench_ticks_calibrate();
    report_print_stamp();
    report_section("run", "run");
    report_note("options: big %llu, small %llu, growth %llu, memory %llu -> %llu "
                "keys, %llu ops per loop, seed %llu%s%s",
                (unsigned long long)o.big_keys, (unsigned long long)o.small_keys,
                (unsigned long long)o.growth_keys, (unsigned long long)o.memory_keys,
                (unsigned long long)o.memory_keep, (unsigned long long)o.ops,
                (unsigned long long)o.seed, o.quick ? ", quick" : "",
                o.smoke ? ", smoke" : "");
    if (o.smoke)
        report_note("smoke run: the answers are checked, the timings mean nothing");
    report_note("sections 1-3 time single-thread loops with the thread's CPU time "
                "(time spent waiting for a core is not counted), best of %d "
                "rounds for each loop of 1-2; section 4 times each operation "
                "with the TSC (%.3f ticks/ns), as wall time",
                BENCH_ROUNDS, bench_ticks_per_ns());

    if (o.sections & (BENCH_SECTION_PHYSICAL | BENCH_SECTION_GET | BENCH_SECTION_PUT))
        run_single_thread(&o);
    if (o.sections & BENCH_SECTION_GROWTH)
        section_growth(&o);
    if (o.sections & BENCH_SECTION_MEMORY)
        section_memory(&o);
    if (o.sections & BENCH_SECTION_STRINGS)
        section_strings(&o);

    report_section("end", "end");
    report_value("run.seconds", (double)(bench_now_ns() - t0) / 1e9, "s",
                 "total run time");
    report_print_summary();
    if (o.write_output) {
        char path[1024];
        if (o.output)
            snprintf(path, sizeof path, "%s", o.output);
        else
            report_default_path(path, sizeof path, o.output_dir);
        if (report_write_file(path, &o, argc, argv) == 0)
            printf("  results written to %s\n", path);
        else
            fprintf(stderr, "steadymap-bench: cannot write %s: %s\n", path,
                    strerror(errno));
    }
    return report_wrong_count() ? 1 : 0;
}
