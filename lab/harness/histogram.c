#include "harness/histogram.h"

#include <math.h>
#include <string.h>

uint64_t lab_bucket_low(unsigned idx, unsigned b)
{
    if (idx < (2u << b))
        return idx;
    unsigned j = idx - (2u << b);
    unsigned k = (j >> b) + b + 1;
    uint64_t sub = j & ((1u << b) - 1);
    return (((uint64_t)1 << b) + sub) << (k - b);
}

uint64_t lab_bucket_high(unsigned idx, unsigned b)
{
    if (idx < (2u << b))
        return idx;
    unsigned k = ((idx - (2u << b)) >> b) + b + 1;
    return lab_bucket_low(idx, b) + ((uint64_t)1 << (k - b)) - 1;
}

void lab_hist_init(lab_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void lab_hist_merge(lab_hist *dst, const lab_hist *src)
{
    dst->count += src->count;
    dst->sum += src->sum;
    dst->clamped += src->clamped;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    for (unsigned i = 0; i < LAB_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
}

void lab_window_merge(lab_window *dst, const lab_window *src)
{
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
    for (unsigned i = 0; i < LAB_WINDOW_BUCKETS; i++)
        dst->hist[i] += src->hist[i];
}

/* Percentiles are asked for in decimal, which a double holds only nearly:
 * 99.9 / 100 * 1000 computes to 999.0000000000001, and its ceiling would
 * ask for rank 1000 of 1000. So p is first rounded to whole billionths,
 * far finer than the percentiles the lab asks for (99.99 is its finest),
 * and the rank is computed from those in integers. */
#define RANK_PARTS 1000000000u

/* The rank a percentile asks for: the smallest count c with c >= p% of
 * total, and at least 1 so that p0 is the minimum. */
static uint64_t rank_for(uint64_t total, double p)
{
    if (p >= 100.0)
        return total;
    uint64_t parts = p > 0 ? (uint64_t)llround(p / 100.0 * RANK_PARTS) : 0;
    /* ceil(parts * total / RANK_PARTS) in two halves, so that no product
     * exceeds RANK_PARTS^2 < 2^64 */
    uint64_t whole = total / RANK_PARTS, rest = total % RANK_PARTS;
    uint64_t r = parts * whole + (parts * rest + RANK_PARTS - 1) / RANK_PARTS;
    return r < 1 ? 1 : r;
}

uint64_t lab_hist_percentile(const lab_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    uint64_t want = rank_for(h->count, p), seen = 0;
    for (unsigned i = 0; i < LAB_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t v = lab_bucket_high(i, LAB_HIST_SUB_BITS);
            return v > h->max ? h->max : v < h->min ? h->min : v;
        }
    }
    return h->max;
}

uint64_t lab_window_percentile(const lab_window *w, double p)
{
    if (w->count == 0)
        return 0;
    uint64_t want = rank_for(w->count, p), seen = 0;
    for (unsigned i = 0; i < LAB_WINDOW_BUCKETS; i++) {
        seen += w->hist[i];
        if (seen >= want) {
            uint64_t v = lab_bucket_high(i, LAB_WINDOW_SUB_BITS);
            return v > w->max ? w->max : v;
        }
    }
    return w->max;
}

double lab_hist_mean(const lab_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

static double bucket_mid(unsigned i)
{
    return ((double)lab_bucket_low(i, LAB_HIST_SUB_BITS) +
            (double)lab_bucket_high(i, LAB_HIST_SUB_BITS)) / 2.0;
}

double lab_hist_stddev(const lab_hist *h)
{
    if (h->count == 0)
        return 0.0;
    double mean = lab_hist_mean(h), acc = 0.0;
    for (unsigned i = 0; i < LAB_HIST_BUCKETS; i++) {
        if (h->counts[i]) {
            double d = bucket_mid(i) - mean;
            acc += d * d * (double)h->counts[i];
        }
    }
    return sqrt(acc / (double)h->count);
}

int lab_hist_write_hgrm(const lab_hist *h, FILE *out, double unit_ns)
{
    const double ticks_per_half_distance = 5;
    fprintf(out, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
            "1/(1-Percentile)");
    /* HdrHistogram's percentile iterator: after each row, the next level is
     * 1/(ticks * 2^(halvings+1)) further, so rows get denser towards 100 %. */
    double level = 0.0;
    uint64_t seen = 0;
    for (unsigned i = 0; h->count && i < LAB_HIST_BUCKETS; i++) {
        if (!h->counts[i])
            continue;
        seen += h->counts[i];
        uint64_t v = lab_bucket_high(i, LAB_HIST_SUB_BITS);
        if (v > h->max)
            v = h->max;
        double reached = 100.0 * (double)seen / (double)h->count;
        /* Like HdrHistogram, the bucket that completes the count gives one
         * row; the 100 % row below then closes the table. */
        int last = seen == h->count;
        while (level <= reached) {
            double q = level / 100.0;
            fprintf(out, "%12.3f %2.12f %10llu %14.2f\n", (double)v / unit_ns, q,
                    (unsigned long long)seen, 1.0 / (1.0 - q));
            double halvings = floor(log2(100.0 / (100.0 - level)));
            double ticks = ticks_per_half_distance * pow(2.0, halvings + 1);
            level += 100.0 / ticks;
            if (last)
                break;
        }
    }
    if (h->count)
        fprintf(out, "%12.3f %2.12f %10llu %14s\n", (double)h->max / unit_ns, 1.0,
                (unsigned long long)h->count, "inf");
    fprintf(out, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n",
            lab_hist_mean(h) / unit_ns, lab_hist_stddev(h) / unit_ns);
    fprintf(out, "#[Max     = %12.3f, Total count    = %12llu]\n",
            (double)h->max / unit_ns, (unsigned long long)h->count);
    fprintf(out, "#[Buckets = %12u, SubBuckets     = %12u]\n",
            LAB_HIST_TOP_EXP - LAB_HIST_SUB_BITS + 1, 2u << LAB_HIST_SUB_BITS);
    return ferror(out) ? -1 : 0;
}
