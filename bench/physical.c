/*
 * physical.c — section 1: what the memory itself costs, over a buffer as
 * large as the map's table, so section 2 can say how close a get comes to
 * the one cache miss it cannot avoid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hash.h"
#include "pages.h"

#define LINE 64u

typedef struct line {
    struct line *next;
    uint64_t pad[LINE / 8 - 1];
} line;

_Static_assert(sizeof(line) == LINE, "one chase step must be one cache line");

/*
 * Sattolo's shuffle: a uniformly random permutation with one cycle, so the
 * chase visits every line once per lap and the hardware prefetchers cannot
 * guess the next address.
 */
static uint32_t *cyclic_permutation(uint64_t n, uint64_t seed)
{
    uint32_t *succ = malloc(n * sizeof *succ);
    if (!succ)
        return NULL;
    for (uint64_t i = 0; i < n; i++)
        succ[i] = (uint32_t)i;
    uint64_t s = seed | 1;
    for (uint64_t i = n - 1; i > 0; i--) {
        uint64_t j = bench_below(bench_xorshift(&s), i);
        uint32_t t = succ[i];
        succ[i] = succ[j];
        succ[j] = t;
    }
    return succ;
}

/* Writes the chase into the buffer, which also faults every page in. */
static void link_lines(line *l, const uint32_t *succ, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        l[i].next = &l[succ[i]];
        l[i].pad[0] = i;
    }
}

/*
 * Each round first runs min(lines, loads / 4) untimed steps: the map's rounds
 * run in between and evict a cache-sized buffer, and a table that fits in the
 * cache is measured warm, as a program that uses it keeps it.
 */
static uint64_t warm_steps(uint64_t n, uint64_t loads)
{
    return n < loads / 4 ? n : loads / 4;
}

/* One timed round of the chase from *pos, which it advances. */
static double chase_round(line **pos, uint64_t n, uint64_t loads)
{
    line *p = *pos;
    for (uint64_t i = warm_steps(n, loads); i > 0; i--)
        p = p->next;
    uint64_t t0 = bench_cpu_ns();
    for (uint64_t i = 0; i < loads; i++)
        p = p->next;
    uint64_t t1 = bench_cpu_ns();
    *pos = p;
    return (double)(t1 - t0) / (double)loads;
}

/* One timed round of independent loads; *rng carries on between rounds. */
static double independent_round(const line *l, uint64_t n, uint64_t loads,
                                uint64_t *rng, uint64_t *sum)
{
    uint64_t s = *rng, acc = 0;
    for (uint64_t i = warm_steps(n, loads); i > 0; i--)
        acc += l[bench_below(bench_xorshift(&s), n)].pad[0];
    uint64_t t0 = bench_cpu_ns();
    for (uint64_t i = 0; i < loads; i++)
        acc += l[bench_below(bench_xorshift(&s), n)].pad[0];
    uint64_t t1 = bench_cpu_ns();
    *rng = s;
    *sum += acc;
    return (double)(t1 - t0) / (double)loads;
}

/* The least any hash lookup does: hash the key and load its home line, behind
 * a call with sm_get's signature. Nothing compares a key, so nothing here is
 * a map; the line's first word stands in for the value. */
__attribute__((noinline)) static int hashed_load(const line *l, uint64_t n,
                                                  const sm_hash_key *hk,
                                                  uint64_t key, uint64_t *value)
{
    uint64_t h = hash_u64(hk, key);
    *value = l[bench_below(h, n)].pad[0];
    return 0;
}

/* One timed round of hashed loads over keys[0..loads), streamed in order as
 * section 2 streams the map's keys: every key a different random line. */
static double hashed_round(const line *l, uint64_t n, uint64_t loads,
                           const sm_hash_key *hk, const uint64_t *keys, uint64_t *sum)
{
    uint64_t acc = 0, v;
    for (uint64_t j = warm_steps(n, loads); j > 0; j--)
        acc += (uint64_t)hashed_load(l, n, hk, keys[j], &v) + v;
    uint64_t t0 = bench_cpu_ns();
    for (uint64_t j = 0; j < loads; j++)
        acc += (uint64_t)hashed_load(l, n, hk, keys[j], &v) + v;
    uint64_t t1 = bench_cpu_ns();
    *sum += acc;
    return (double)(t1 - t0) / (double)loads;
}

static double min2(double a, double b) { return a < b ? a : b; }

/* Keeps the loops' results alive so the compiler cannot drop the loads. */
static volatile uintptr_t sink;

void physical_measure(const char *label, uint64_t bytes, uint64_t loads,
                      uint64_t seed, physical_result *out,
                      void (*between)(void *), void *ctx)
{
    /* As many lines as the table has; the mapping is rounded up to whole
     * huge pages as the library's is, but the loops touch only the lines. */
    uint64_t n = (bytes + LINE - 1) / LINE;
    bytes = n * LINE;
    uint64_t per = loads / BENCH_ROUNDS ? loads / BENCH_ROUNDS : 1;
    memset(out, 0, sizeof *out);
    out->bytes = bytes;

    progress("physical %s: %.1f MiB buffer, %llu loads per loop", label,
             (double)bytes / 1048576.0, (unsigned long long)loads);
    uint32_t *succ = cyclic_permutation(n, seed);
    line *lines = succ ? bench_pages_map(bytes, 1) : NULL;
    if (!lines) {
        report_note("%s: cannot allocate %.1f MiB; physical reference skipped",
                    label, (double)bytes / 1048576.0);
        free(succ);
        for (int r = 0; between && r < BENCH_ROUNDS; r++)
            between(ctx);
        return;
    }
    uint64_t huge0 = bench_anon_huge_bytes();
    link_lines(lines, succ, n);
    uint64_t huge1 = bench_anon_huge_bytes();
    out->huge_fraction = huge1 > huge0 ? (double)(huge1 - huge0) / (double)bytes : 0.0;
    if (out->huge_fraction > 1.0)
        out->huge_fraction = 1.0;   /* the last huge page is partly used */

    line *pos = lines;
    uint64_t rng = seed | 1, sum = 0;
    sm_hash_key hk = hash_key_from_seed(seed);
    uint64_t *keys = bench_keys_new(seed, per);
    out->dependent_ns = out->independent_ns = out->hashed_ns = 1e300;
    /* Rounds of the map's loops run in between, so that each ratio of
     * section 2 compares loops that ran under the same conditions. */
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        out->dependent_ns = min2(out->dependent_ns, chase_round(&pos, n, per));
        out->independent_ns = min2(out->independent_ns,
                                   independent_round(lines, n, per, &rng, &sum));
        out->hashed_ns = min2(out->hashed_ns,
                              hashed_round(lines, n, per, &hk, keys, &sum));
        if (between)
            between(ctx);
    }
    sink = (uintptr_t)pos + sum;
    free(keys);
    bench_pages_unmap(lines, bytes);

    lines = bench_pages_map(bytes, 0);
    if (!lines) {
        report_note("%s: cannot allocate the 4 KiB-page buffer; skipped", label);
        free(succ);
        return;
    }
    link_lines(lines, succ, n);
    pos = lines;
    out->dependent_4k_ns = 1e300;
    for (int r = 0; r < BENCH_ROUNDS; r++)
        out->dependent_4k_ns = min2(out->dependent_4k_ns, chase_round(&pos, n, per));
    sink = (uintptr_t)pos;
    bench_pages_unmap(lines, bytes);
    free(succ);
}

void physical_report(const char *label, const physical_result *r)
{
    if (r->bytes == 0 || r->dependent_ns <= 0)
        return;
    report_note("%s: buffer %.1f MiB (%llu cache lines)", label,
                (double)r->bytes / 1048576.0, (unsigned long long)(r->bytes / LINE));
    report_labeled("physical", label, "huge_page_share", r->huge_fraction * 100.0,
                   "%", "share of buffer on 2 MiB pages");
    report_labeled("physical", label, "dependent_load", r->dependent_ns,
                   "ns/load", "dependent random load (chase), 2 MiB pages");
    report_labeled("physical", label, "independent_load", r->independent_ns,
                   "ns/load", "independent random loads, 2 MiB pages");
    report_labeled("physical", label, "hashed_load", r->hashed_ns, "ns/load",
                   "keyed hash + home line load behind a call, 2 MiB pages");
    report_labeled("physical", label, "dependent_load_4k", r->dependent_4k_ns,
                   "ns/load", "dependent random load (chase), 4 KiB pages");
}
