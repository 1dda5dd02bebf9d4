/*
 * bench.h — shared pieces of steadymap-bench, the program behind `make bench`.
 *
 * The benchmark is a measuring instrument, not a test: it prints each target
 * with PASS or MISS and the measured ratio, and only a wrong answer from the
 * map (a get that misses a present key or returns the wrong value, a put that
 * reports the wrong old value) makes it exit non-zero.
 */
#ifndef SM_BENCH_H
#define SM_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "steadymap.h"

/* Everything the command line can set; main.c documents each in --help. */
typedef struct bench_options {
    uint64_t big_keys;        /* section 2/3: the large map */
    uint64_t small_keys;      /* section 2/3: the small map */
    uint64_t growth_keys;     /* section 4: N; the second run uses N / 4 */
    uint64_t memory_keys;     /* section 5: keys inserted before deleting */
    uint64_t memory_keep;     /* section 5: keys left after deleting */
    uint64_t string_keys;     /* section 6: keys of the out-of-cache string maps */
    uint64_t ops;             /* operations per timed loop in sections 1-3 */
    uint64_t seed;
    unsigned sections;        /* bit set of BENCH_SECTION_* */
    int quick;
    int smoke;
    const char *output;       /* result file, or NULL for the default name */
    const char *output_dir;
    int write_output;
} bench_options;

enum {
    BENCH_SECTION_PHYSICAL = 1u << 0,
    BENCH_SECTION_GET = 1u << 1,
    BENCH_SECTION_PUT = 1u << 2,
    BENCH_SECTION_GROWTH = 1u << 3,
    BENCH_SECTION_MEMORY = 1u << 4,
    BENCH_SECTION_STRINGS = 1u << 5,
    BENCH_SECTION_ALL = (1u << 6) - 1
};

/*
 * Each timed loop of sections 1 and 2 runs as this many equal rounds and
 * reports the fastest: on a shared machine a round during which another
 * process ran on the same core (and evicted our lines and TLB entries) is
 * slower, never faster. The map and its physical reference get the same
 * treatment, so their ratio stays fair.
 */
#define BENCH_ROUNDS 4

/* The fastest of BENCH_ROUNDS rounds, in ns per operation. */
static inline double bench_best(double best, uint64_t t0, uint64_t t1,
                                uint64_t ops)
{
    double per = (double)(t1 - t0) / (double)ops;
    return per < best ? per : best;
}

/* ---- keys ------------------------------------------------------------- */

/*
 * The i-th key of a stream. splitmix64's finaliser is a bijection on 64-bit
 * words and seed + i * odd is distinct for every i, so the keys of one stream
 * are distinct without a duplicate check, and look random to any hash.
 */
static inline uint64_t bench_key(uint64_t seed, uint64_t i)
{
    uint64_t z = seed + i * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* xorshift64: three cheap operations, so it adds no latency worth counting
 * to a loop whose loads it feeds. The state must not be 0. */
static inline uint64_t bench_xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* A uniform index below n without a division (Lemire's multiply-shift). */
static inline uint64_t bench_below(uint64_t r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

/* keys[0..n) of stream seed, and keys[n] = keys[0]; exits if out of memory. */
uint64_t *bench_keys_new(uint64_t seed, uint64_t n);

/* ---- clocks ----------------------------------------------------------- */

/* "64M", "1536K", "1000": a count as the options write it. */
void bench_size_label(char *buf, size_t len, uint64_t n);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * The calling thread's CPU time in nanoseconds. Single-thread loops are
 * timed with it: on a shared two-core machine a wall clock also counts the
 * time the thread waited for a core, which says nothing about the map. Page
 * faults the loop takes are still counted (the kernel runs them on the
 * thread's time).
 */
uint64_t bench_cpu_ns(void);

/* A cheap tick counter for per-operation timing (the TSC on x86-64, the
 * monotonic clock elsewhere) and its calibrated length. */
void bench_ticks_calibrate(void);
double bench_ticks_per_ns(void);
static inline uint64_t bench_ticks(void);
static inline uint64_t bench_ticks_end(void);

/* ---- log-linear histogram ------------------------------------------------ */

/*
 * Values below 2^BENCH_HIST_SUB_BITS are counted exactly; above, each power of
 * two is split into 2^BENCH_HIST_SUB_BITS equal buckets, so a bucket is at most
 * 1/128 of its value wide and a reported percentile (the bucket's middle) is
 * within 0.4 % of a recorded value. The maximum is kept exactly.
 */
#define BENCH_HIST_SUB_BITS 7
#define BENCH_HIST_BUCKETS ((64 - BENCH_HIST_SUB_BITS + 1) << BENCH_HIST_SUB_BITS)

typedef struct bench_hist {
    uint64_t count;
    uint64_t max;
    uint64_t sum;
    uint64_t bucket[BENCH_HIST_BUCKETS];
} bench_hist;

static inline unsigned bench_hist_index(uint64_t v)
{
    if (v < (1u << BENCH_HIST_SUB_BITS))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned sub = (unsigned)(v >> (e - BENCH_HIST_SUB_BITS)) &
                   ((1u << BENCH_HIST_SUB_BITS) - 1);
    return ((e - BENCH_HIST_SUB_BITS + 1) << BENCH_HIST_SUB_BITS) + sub;
}

static inline void bench_hist_add(bench_hist *h, uint64_t v)
{
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
    h->bucket[bench_hist_index(v)]++;
}

/* The value at quantile q in [0, 1] (q = 1 gives the exact maximum). */
uint64_t bench_hist_quantile(const bench_hist *h, double q);

/* ---- report --------------------------------------------------------------- */

/* Opens a section: a heading on stdout and a group in the result file. */
void report_section(const char *id, const char *title);
/* A free-text line under the current section (also kept in the file). */
void report_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A number kept in the result file only; the caller prints it its own way
 * (a table). */
void report_record(const char *name, double value, const char *unit);
/* One measured number: name is a stable machine-readable id. */
void report_value(const char *name, double value, const char *unit,
                  const char *label);
/* report_value named "group.label.id" and labelled "label: what". */
void report_labeled(const char *group, const char *label, const char *id,
                    double value, const char *unit, const char *what);
/*
 * A target: met when measured <= limit. Prints PASS or MISS with the ratio
 * measured / limit and how the limit was formed; never fails the program.
 */
void report_check(const char *name, double measured, double limit,
                  const char *unit, const char *how);
/*
 * A wrong result from the map. Counted, the first few printed to stderr; any
 * one makes the exit status non-zero.
 */
void report_wrong(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t report_wrong_count(void);

/* A progress line on stderr, stamped with the seconds since start. */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes the collected results with the stamp; returns 0 or -1. */
int report_write_file(const char *path, const bench_options *o, int argc,
                      char **argv);
/* The default result path: dir/steadymap-bench-<UTC time>-<commit>.json. */
void report_default_path(char *buf, size_t len, const char *dir);
/* Prints the stamp (commit, compiler, CPU, ...) to stdout. */
void report_print_stamp(void);
void report_print_summary(void);

/* ---- process and memory facts -------------------------------------------- */

/* sm_stats into a zeroed *st of this header's size. */
void bench_stats(sm_map *m, sm_stats_info *st);

uint64_t bench_rss_bytes(void);
/* AnonHugePages of the whole process, from /proc/self/smaps_rollup. */
uint64_t bench_anon_huge_bytes(void);

/* ---- sections -------------------------------------------------------------- */

/* Results section 2 compares against, measured by section 1. */
typedef struct physical_result {
    uint64_t bytes;           /* buffer size */
    double dependent_ns;      /* pointer chase, 2 MiB pages asked for */
    double independent_ns;    /* independent random loads, same buffer */
    double hashed_ns;         /* hash a key, load its home line: no compare */
    double dependent_4k_ns;   /* pointer chase, 4 KiB pages */
    double huge_fraction;     /* share of the buffer THP actually backed */
} physical_result;

/*
 * Measures the buffer with 2 MiB pages, calling between(ctx) after each of
 * its BENCH_ROUNDS rounds (NULL: nothing; called BENCH_ROUNDS times even when
 * the buffer cannot be allocated), then with 4 KiB pages.
 */
void physical_measure(const char *label, uint64_t bytes, uint64_t loads,
                      uint64_t seed, physical_result *out,
                      void (*between)(void *), void *ctx);
void physical_report(const char *label, const physical_result *r);

/* A map built for sections 2 and 3, with its keys. */
typedef struct built_map {
    sm_map *map;
    uint64_t *keys;           /* keys[0..n]: keys[n] is keys[0] again */
    uint64_t n;
    uint64_t seed;            /* the key stream: keys past n are absent */
    double build_ns_per_put;  /* inserting into a default-sized map */
    int was_migrating;        /* a resize was running when the inserts ended */
    uint64_t bytes_held;
    double bytes_per_entry;
    uint64_t huge_bytes;      /* AnonHugePages the build added */

    /* Section 2's loops, run a round at a time between the physical ones. */
    uint64_t per_round;
    uint64_t next_i;          /* throughput loop: next key index */
    uint64_t chain_key, chain_i;
    uint64_t many_i;          /* sm_get_many loop: next batch's first key */
    uint64_t bare_i;          /* unsynchronised loop: next key index */
    double throughput_ns, chain_ns, absent_ns, many_ns, bare_ns;

    /* The same keys in boost::unordered_flat_map (bench_flat.h), present
     * from get_prepare to get_finish when the bench was built with Boost. */
    struct bench_flat *flat;
    uint64_t flat_i;          /* its throughput loop: next key index */
    uint64_t flat_chain_key, flat_chain_i;
    double flat_ns, flat_chain_ns;
    double flat_bytes_per_entry;
} built_map;

int map_build(built_map *b, const char *label, uint64_t n, uint64_t seed);
void map_free(built_map *b);
void map_report_shape(const built_map *b, const char *label);
/* Section 2: get_prepare, then get_round BENCH_ROUNDS times (directly or
 * from physical_measure), then get_finish and the report. */
void get_prepare(built_map *b, uint64_t ops);
void get_round(void *b);
void get_finish(built_map *b);
void section_get_report(const built_map *b, const char *label,
                        const physical_result *ref);
void section_put(built_map *b, const char *label, uint64_t ops);

void section_growth(const bench_options *o);
void section_memory(const bench_options *o);
/* Section 6: string keys (strings.c). */
void section_strings(const bench_options *o);

/* ---- the tick counter, inline because per-op timing calls it twice ------- */

/*
 * rdtsc alone may execute before the operation it should follow has finished
 * (it waits for nothing), which reads a cache-missing get as ~10 ns. So the
 * start is lfence; rdtsc (nothing after starts before it) and the end is
 * rdtscp; lfence (rdtscp waits for everything before it).
 */
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
static inline uint64_t bench_ticks(void)
{
    _mm_lfence();
    return __rdtsc();
}
static inline uint64_t bench_ticks_end(void)
{
    unsigned aux;
    uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
}
#else
static inline uint64_t bench_ticks(void) { return bench_now_ns(); }
static inline uint64_t bench_ticks_end(void) { return bench_now_ns(); }
#endif

#endif
