/*
 * Hist.java — the lab's log-linear histograms (lab/harness/histogram.h) with
 * the same bucketing, so the buckets this program sends back are added into a
 * lab_hist or lab_window index for index by the C side. A worker's 10 ms
 * windows are flat arrays (Windows) rather than one object each: thousands of
 * small objects would be thousands of things for the GC to trace.
 */
package steadymap.peer;

import java.io.PrintWriter;

final class Hist {
    static final int SUB_BITS = 7;
    static final int WINDOW_SUB_BITS = 4;
    static final int TOP_EXP = 40;
    static final int BUCKETS = buckets(SUB_BITS);
    static final int WINDOW_BUCKETS = buckets(WINDOW_SUB_BITS);

    static int buckets(int b) {
        return (2 << b) + (TOP_EXP - b) * (1 << b);
    }

    /* v is a duration, never negative. */
    static int bucketIndex(long v, int b) {
        if (v < (2L << b))
            return (int) v;
        if ((v >>> (TOP_EXP + 1)) != 0)
            v = (1L << (TOP_EXP + 1)) - 1;
        int k = 63 - Long.numberOfLeadingZeros(v);
        return (2 << b) + (k - b - 1) * (1 << b) + (int) ((v >>> (k - b)) - (1L << b));
    }

    long count, sum, max, clamped;
    long min = -1; /* all ones, as UINT64_MAX: the C side reads it unsigned */
    final long[] counts = new long[BUCKETS];

    void record(long ns) {
        count++;
        sum += ns;
        if (Long.compareUnsigned(ns, min) < 0)
            min = ns;
        if (ns > max)
            max = ns;
        if ((ns >>> (TOP_EXP + 1)) != 0)
            clamped++;
        counts[bucketIndex(ns, SUB_BITS)]++;
    }

    void merge(Hist o) {
        count += o.count;
        sum += o.sum;
        clamped += o.clamped;
        if (Long.compareUnsigned(o.min, min) < 0)
            min = o.min;
        if (o.max > max)
            max = o.max;
        for (int i = 0; i < BUCKETS; i++)
            counts[i] += o.counts[i];
    }

    void write(PrintWriter out, String tag) {
        out.print(tag + " " + count + " " + sum + " " + Long.toUnsignedString(min) + " " + max + " " + clamped);
        for (int i = 0; i < BUCKETS; i++)
            if (counts[i] != 0)
                out.print(" " + i + ":" + counts[i]);
        out.print('\n');
    }

    /* One worker's timeline: window i's buckets at hist[i * WINDOW_BUCKETS]. */
    static final class Windows {
        final int[] count;
        final long[] max;
        final int[] hist;

        Windows(int capacity) {
            count = new int[capacity];
            max = new long[capacity];
            hist = new int[capacity * WINDOW_BUCKETS];
        }

        void record(int i, long ns) {
            count[i]++;
            if (ns > max[i])
                max[i] = ns;
            hist[i * WINDOW_BUCKETS + bucketIndex(ns, WINDOW_SUB_BITS)]++;
        }

        void mergeInto(int i, Windows dst) {
            dst.count[0] += count[i];
            if (max[i] > dst.max[0])
                dst.max[0] = max[i];
            for (int b = 0; b < WINDOW_BUCKETS; b++)
                dst.hist[b] += hist[i * WINDOW_BUCKETS + b];
        }

        /* Writes slot 0 (a one-window accumulator) as window idx. */
        void writeFirst(PrintWriter out, int idx) {
            out.print("window " + idx + " " + count[0] + " " + max[0]);
            for (int b = 0; b < WINDOW_BUCKETS; b++)
                if (hist[b] != 0)
                    out.print(" " + b + ":" + hist[b]);
            out.print('\n');
        }
    }
}
