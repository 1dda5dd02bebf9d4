/*
 * util.c — clocks, the histogram, key arrays, page mappings and /proc
 * readings for steadymap-bench.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "pages.h"

void bench_size_label(char *buf, size_t len, uint64_t n)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(buf, len, "%lluM", (unsigned long long)(n >> 20));
    else if (n >= (1u << 10) && n % (1u << 10) == 0)
        snprintf(buf, len, "%lluK", (unsigned long long)(n >> 10));
    else
        snprintf(buf, len, "%llu", (unsigned long long)n);
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bench_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ticks_per_ns = 1.0;

/*
 * Per-operation timing reads the TSC: a clock_gettime costs ~25 ns under
 * kvm-clock, as much as a cached get, while rdtsc costs a few. The TSC rate is
 * taken from 50 ms against CLOCK_MONOTONIC; the flags constant_tsc and
 * nonstop_tsc (present on every x86 host we run on) make it one rate for all
 * cores and all of the run.
 */
void bench_ticks_calibrate(void)
{
    uint64_t n0 = bench_now_ns(), t0 = bench_ticks();
    while (bench_now_ns() - n0 < 50000000ull)
        ;
    uint64_t n1 = bench_now_ns(), t1 = bench_ticks();
    ticks_per_ns = (double)(t1 - t0) / (double)(n1 - n0);
}

double bench_ticks_per_ns(void) { return ticks_per_ns; }

uint64_t bench_hist_quantile(const bench_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen > rank) {
            if (i < (1u << BENCH_HIST_SUB_BITS))
                return i;
            unsigned e = (i >> BENCH_HIST_SUB_BITS) + BENCH_HIST_SUB_BITS - 1;
            uint64_t sub = i & ((1u << BENCH_HIST_SUB_BITS) - 1);
            uint64_t width = 1ull << (e - BENCH_HIST_SUB_BITS);
            uint64_t lo = (1ull << e) + sub * width;
            uint64_t mid = lo + width / 2;
            /* The middle of the top bucket may lie above the true maximum. */
            return mid < h->max ? mid : h->max;
        }
    }
    return h->max;
}

uint64_t *bench_keys_new(uint64_t seed, uint64_t n)
{
    uint64_t *k = malloc((n + 1) * sizeof *k);
    if (!k) {
        fprintf(stderr, "steadymap-bench: cannot allocate %llu keys\n",
                (unsigned long long)n);
        exit(2);
    }
    for (uint64_t i = 0; i < n; i++)
        k[i] = bench_key(seed, i);
    k[n] = k[0];
    return k;
}

void bench_stats(sm_map *m, sm_stats_info *st)
{
    memset(st, 0, sizeof *st);
    st->size = sizeof *st;
    sm_stats(m, st);
}

uint64_t bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t bench_anon_huge_bytes(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    unsigned long long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

static uint64_t start_ns;

void progress(const char *fmt, ...)
{
    if (start_ns == 0)
        start_ns = bench_now_ns();
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%6.1fs] ", (double)(bench_now_ns() - start_ns) / 1e9);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

size_t bench_pages_bytes(size_t bytes)
{
    return (bytes + BENCH_HUGE_PAGE - 1) / BENCH_HUGE_PAGE * BENCH_HUGE_PAGE;
}

void *bench_pages_map(size_t bytes, int huge)
{
    size_t len = bench_pages_bytes(bytes);
    /* Over-map by one huge page, then trim the unaligned head and the tail. */
    char *raw = mmap(NULL, len + BENCH_HUGE_PAGE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + BENCH_HUGE_PAGE - 1) & ~(uintptr_t)(BENCH_HUGE_PAGE - 1);
    size_t head = start - (uintptr_t)raw, tail = BENCH_HUGE_PAGE - head;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + len, tail);
    madvise((void *)start, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    return (void *)start;
}

void bench_pages_unmap(void *p, size_t bytes)
{
    if (p)
        munmap(p, bench_pages_bytes(bytes));
}
