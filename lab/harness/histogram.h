/*
 * histogram.h — log-linear latency histograms (the HdrHistogram layout).
 *
 * Values are nanoseconds. Below 2^(b+1) every value has its own bucket; each
 * power of two above is split into 2^b equal sub-buckets, so a bucket is at
 * most 1/2^b of the values it holds wide. Two resolutions are used:
 *
 *   lab_hist   b = 7: 128 sub-buckets, relative error <= 1/128 = 0.78 %
 *              (the brief asks for <= 1 %), 4480 buckets, values up to
 *              2^41 ns (36 min). One per thread, merged at the end.
 *   lab_window b = 4: 16 sub-buckets, <= 6.25 %, 608 buckets. One per 10 ms
 *              of timeline per thread, where only p99 and max are plotted,
 *              and memory (2.4 KB a window) matters more than precision.
 *
 * A percentile is reported as the highest value its bucket can hold, clipped
 * to the exact maximum — HdrHistogram's choice: it never under-reports.
 * Count, sum, min and max are kept exactly.
 */
#ifndef LAB_HISTOGRAM_H
#define LAB_HISTOGRAM_H

#include <stdint.h>
#include <stdio.h>

#define LAB_HIST_SUB_BITS 7
#define LAB_WINDOW_SUB_BITS 4
/* Largest power of two tracked: values >= 2^(LAB_HIST_TOP_EXP+1) are clamped
 * into the last bucket (and counted in .clamped). */
#define LAB_HIST_TOP_EXP 40
#define LAB_BUCKETS(b) ((2u << (b)) + (LAB_HIST_TOP_EXP - (b)) * (1u << (b)))
#define LAB_HIST_BUCKETS LAB_BUCKETS(LAB_HIST_SUB_BITS)
#define LAB_WINDOW_BUCKETS LAB_BUCKETS(LAB_WINDOW_SUB_BITS)

typedef struct lab_hist {
    uint64_t count;
    uint64_t sum;      /* exact, for the mean */
    uint64_t min, max; /* exact */
    uint64_t clamped;  /* values above the top bucket */
    uint64_t counts[LAB_HIST_BUCKETS];
} lab_hist;

/* One 10 ms slice of one thread's timeline. */
typedef struct lab_window {
    uint32_t count;
    uint32_t hist[LAB_WINDOW_BUCKETS];
    uint64_t max;
} lab_window;

static inline unsigned lab_bucket_index(uint64_t v, unsigned b)
{
    if (v < (2u << b))
        return (unsigned)v;
    if (v >> (LAB_HIST_TOP_EXP + 1))
        v = ((uint64_t)1 << (LAB_HIST_TOP_EXP + 1)) - 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(v);
    return (2u << b) + (k - b - 1) * (1u << b) + (unsigned)((v >> (k - b)) - (1u << b));
}

/* The smallest and largest value bucket idx holds. */
uint64_t lab_bucket_low(unsigned idx, unsigned b);
uint64_t lab_bucket_high(unsigned idx, unsigned b);

void lab_hist_init(lab_hist *h);

static inline void lab_hist_record(lab_hist *h, uint64_t ns)
{
    h->count++;
    h->sum += ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
    if (ns >> (LAB_HIST_TOP_EXP + 1))
        h->clamped++;
    h->counts[lab_bucket_index(ns, LAB_HIST_SUB_BITS)]++;
}

static inline void lab_window_record(lab_window *w, uint64_t ns)
{
    w->count++;
    if (ns > w->max)
        w->max = ns;
    w->hist[lab_bucket_index(ns, LAB_WINDOW_SUB_BITS)]++;
}

void lab_hist_merge(lab_hist *dst, const lab_hist *src);
void lab_window_merge(lab_window *dst, const lab_window *src);

/* p in [0, 100]; 0 for an empty histogram. The value v such that at least
 * p % of the recorded values are <= v (up to the bucket's width). */
uint64_t lab_hist_percentile(const lab_hist *h, double p);
uint64_t lab_window_percentile(const lab_window *w, double p);
double lab_hist_mean(const lab_hist *h);
/* From bucket midpoints, as HdrHistogram computes it. */
double lab_hist_stddev(const lab_hist *h);

/*
 * Writes the percentile distribution in HdrHistogram's text format (.hgrm):
 * "Value Percentile TotalCount 1/(1-Percentile)" rows, five per halving of
 * the distance to 100 %, then the #[Mean/StdDeviation], #[Max/Total count]
 * and #[Buckets/SubBuckets] footer. Values are divided by unit_ns (1000 =
 * microseconds), as HdrHistogram's outputValueUnitScalingRatio does.
 * Returns 0, or -1 on a write error.
 */
int lab_hist_write_hgrm(const lab_hist *h, FILE *out, double unit_ns);

#endif
