/*
 * Run.java — one measured run, the worker loops of lab/harness/run.c in Java:
 * the same roles (mixed, growth writer and reader, churn, iterator), the same
 * operation choice from the same streams, the same checks of every get, the
 * same closed and open loops and the same 10 ms timeline windows, against a
 * ConcurrentHashMap<Long, Long> used as a Java service would use it (boxed
 * keys and values). Comments here explain where Java makes this differ; the
 * reasons for the loops themselves are in run.c.
 *
 * The clock is System.nanoTime() (clock_gettime(CLOCK_MONOTONIC), ~30 ns a
 * read on the development VM): Java cannot read the TSC, so a Java latency
 * carries a larger instrument cost than a C or Go one.
 */
package steadymap.peer;

import java.io.FileInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

final class Run {
    static final long WINDOW_NS = 10_000_000L;

    static final int MIXED = 0, WRITER = 1, READER = 2, CHURN = 3, ITERATOR = 4;
    static final int GET = 0, PUT = 1, DEL = 2;

    /* What the lab put on the command line. */
    static final class Params {
        String workload;
        boolean open;
        int threads, writers;
        long keys, seed, durationMs, capMs;
        double rate;
        long mixGet, mixPut, mixDel;
        Keys.Zipf zipf;
        boolean presized, iterator, spin;
    }

    /* Monotonic nanoseconds since start-up: never negative, unlike nanoTime. */
    private static final long BASE = System.nanoTime();

    static long now() {
        return System.nanoTime() - BASE;
    }

    /* Waits longer than this park; the rest is spun (spin mode). */
    static long sleepMarginNs;

    /* The 90th percentile lateness of a 50 us park, plus 10 us, as the C
     * harness measures its own. */
    static void measureSleepMargin() {
        long[] late = new long[21];
        for (int i = 0; i < late.length; i++) {
            long a = now();
            LockSupport.parkNanos(50_000);
            late[i] = Math.max(0, now() - a - 50_000);
        }
        java.util.Arrays.sort(late);
        sleepMarginNs = late[late.length * 9 / 10] + 10_000;
    }

    /* As lab_wait_until: park while the target is further than the margin
     * (0 without spin), then spin. parkNanos may return early, hence the
     * loop. */
    static void waitUntil(long target, boolean spin) {
        long margin = spin ? sleepMarginNs : 0;
        for (long t = now(); t < target; t = now()) {
            if (target - t > margin)
                LockSupport.parkNanos(target - t - margin);
            else
                Thread.onSpinWait();
        }
    }

    final Params p;
    final ConcurrentHashMap<Long, Long> map;
    final long salt;
    final int windowCapacity;
    volatile long t0, endNs, capNs;
    final AtomicInteger writersRunning = new AtomicInteger();
    /* growth: when the last writer returned */
    final AtomicLong writersEnd = new AtomicLong();
    final AtomicInteger measuredRunning = new AtomicInteger();
    final List<Worker> workers = new ArrayList<>();

    Run(Params p) {
        this.p = p;
        this.salt = Keys.runSalt(p.seed);
        this.windowCapacity = (int) (p.capMs * 1_000_000L / WINDOW_NS) + 2;
        this.map = p.presized ? new ConcurrentHashMap<>((int) Math.min(p.keys, 1 << 30))
                              : new ConcurrentHashMap<>();
        int n = p.threads + (p.iterator ? 1 : 0);
        for (int i = 0; i < n; i++) {
            int role = i >= p.threads ? ITERATOR
                       : p.workload.equals("growth") ? (i < p.writers ? WRITER : READER)
                       : p.workload.equals("churn") ? CHURN
                                                    : MIXED;
            workers.add(new Worker(i, role));
        }
    }

    final class Worker implements Runnable {
        final int id, role;
        final Keys.Rng rng;
        /* gets apart from writes, as run.c keeps them */
        final Hist getHist = new Hist(), writeHist = new Hist(), late = new Hist();
        final Hist.Windows windows;
        int windowIndex, windowsUsed;
        long windowEnd, lastEnd;
        long errValue, errMissing, notIssued;
        boolean hitCap;
        long next, lo, hi;
        long passes, passNs;
        long preempted;
        /* growth writer: keys in so far (a reader that sees n knows the
         * first n puts returned) */
        final AtomicLong inserted = new AtomicLong();
        /* the operation nextOp chose, in fields: no allocation per op */
        int kind;
        long key;
        boolean mustExist;

        Worker(int id, int role) {
            this.id = id;
            this.role = role;
            this.rng = new Keys.Rng(Keys.workerSeed(p.seed, id));
            this.windows = new Hist.Windows(windowCapacity);
        }

        boolean nextOp() {
            switch (role) {
            case MIXED: {
                long idx = p.zipf != null ? p.zipf.next(rng) : rng.below(p.keys);
                long pick = rng.below(100);
                kind = pick < p.mixGet ? GET : pick < p.mixGet + p.mixPut ? PUT : DEL;
                key = Keys.keyOf(idx, salt);
                mustExist = p.mixDel == 0;
                return true;
            }
            case WRITER: {
                long idx = id + next * p.writers;
                if (idx >= p.keys)
                    return false;
                kind = PUT;
                key = Keys.keyOf(idx, salt);
                mustExist = false;
                return true;
            }
            case READER: {
                int wr = (int) rng.below(p.writers);
                long n = workers.get(wr).inserted.get();
                kind = GET;
                if (n == 0) {
                    key = Keys.keyOf(rng.below(p.keys), salt);
                    mustExist = false;
                } else {
                    key = Keys.keyOf(wr + rng.below(n) * p.writers, salt);
                    mustExist = true;
                }
                return true;
            }
            case CHURN: {
                long t = p.threads;
                long live = p.keys / t;
                long pick = rng.below(100);
                if (hi == lo) {
                    kind = PUT;
                    key = Keys.keyOf(id + hi++ * t, salt);
                } else if (pick < p.mixGet) {
                    kind = GET;
                    key = Keys.keyOf(id + (lo + rng.below(hi - lo)) * t, salt);
                } else if (hi - lo <= live) {
                    kind = PUT;
                    key = Keys.keyOf(id + hi++ * t, salt);
                } else {
                    kind = DEL;
                    key = Keys.keyOf(id + lo++ * t, salt);
                }
                mustExist = kind != PUT;
                return true;
            }
            default:
                return false;
            }
        }

        void record(Hist h, long start, long end) {
            long ns = end - start;
            h.record(ns);
            if (end >= windowEnd) {
                long idx = end > t0 ? (end - t0) / WINDOW_NS : 0;
                if (idx >= windowCapacity)
                    idx = windowCapacity - 1;
                windowIndex = (int) idx;
                windowEnd = t0 + (idx + 1) * WINDOW_NS;
                if (windowIndex + 1 > windowsUsed)
                    windowsUsed = windowIndex + 1;
            }
            windows.record(windowIndex, ns);
            lastEnd = end;
        }

        void execute(long start) {
            switch (kind) {
            case GET: {
                Long v = map.get(key);
                record(getHist, start, now());
                if (v == null) {
                    if (mustExist)
                        errMissing++;
                } else if (v != Keys.valueOf(key)) {
                    errValue++;
                }
                break;
            }
            case PUT:
                map.put(key, Keys.valueOf(key));
                record(writeHist, start, now());
                if (role == WRITER)
                    inserted.set(++next);
                break;
            default: {
                boolean removed = map.remove(key) != null;
                record(writeHist, start, now());
                if (!removed && mustExist)
                    errMissing++;
            }
            }
        }

        boolean othersDone() {
            return role == READER && writersRunning.get() == 0;
        }

        /* As the C harness's reader_done_at: an open-loop reader of growth
         * issues every get that was due before the writers finished, so the
         * backlog a stall built is counted, not dropped. */
        boolean readerDoneAt(long intended) {
            return role == READER && writersRunning.get() == 0 && intended >= writersEnd.get();
        }

        void closedLoop() {
            boolean timed = role != WRITER && role != READER;
            for (long i = 0;; i++) {
                if ((i & 15) == 0) {
                    long t = now();
                    if (t >= capNs) {
                        hitCap = true;
                        break;
                    }
                    if ((timed && t >= endNs) || othersDone())
                        break;
                }
                if (!nextOp())
                    break;
                execute(now());
            }
        }

        void openLoop() {
            boolean timed = role != WRITER && role != READER;
            double interval = 1e9 / p.rate;
            long phase = t0 + (long) (interval * id / p.threads);
            for (long i = 0;; i++) {
                long intended = phase + (long) (interval * (double) i);
                if ((timed && intended >= endNs) || readerDoneAt(intended))
                    break;
                long t = now();
                if (t >= capNs) {
                    hitCap = true;
                    if (timed)
                        notIssued = (long) ((double) (endNs - intended) / interval) + 1;
                    break;
                }
                if (!nextOp())
                    break;
                if (t < intended) {
                    waitUntil(intended, p.spin);
                    late.record(now() - intended);
                }
                execute(intended);
            }
        }

        void iterateLoop() {
            long[] seenBits = new long[(int) ((p.keys + 63) / 64)];
            long[] st = new long[2]; /* distinct pre-filled keys seen, wrong values */
            while (measuredRunning.get() > 0) {
                java.util.Arrays.fill(seenBits, 0L);
                st[0] = 0;
                st[1] = 0;
                long a = now();
                map.forEach((k, v) -> {
                    long i = Keys.indexOf(k, salt);
                    if (Long.compareUnsigned(i, p.keys) >= 0 || v != Keys.valueOf(k)) {
                        st[1]++;
                        return;
                    }
                    long bit = 1L << (i % 64);
                    if ((seenBits[(int) (i / 64)] & bit) == 0) {
                        seenBits[(int) (i / 64)] |= bit;
                        st[0]++;
                    }
                });
                passes++;
                passNs += now() - a;
                errValue += st[1];
                /* every key was pre-filled and none is deleted: each must be seen */
                if (st[0] < p.keys)
                    errMissing++;
            }
        }

        @Override
        public void run() {
            try {
                ready.countDown();
                start.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            waitUntil(t0, true);
            if (role == ITERATOR) {
                iterateLoop();
                return;
            }
            long before = involuntarySwitches();
            if (p.open && role != WRITER)
                openLoop();
            else
                closedLoop();
            if (role == WRITER) {
                writersEnd.accumulateAndGet(now(), Math::max);
                writersRunning.decrementAndGet();
            }
            long after = involuntarySwitches();
            if (before >= 0 && after >= before)
                preempted = after - before;
            measuredRunning.decrementAndGet();
        }
    }

    /* New for every execute(): the warm-up runs one Run several times. */
    private CountDownLatch ready, start;

    /* Returns whether there was anything to fill. */
    boolean prefill() {
        if (p.workload.equals("mixed")) {
            for (long i = 0; i < p.keys; i++) {
                long k = Keys.keyOf(i, salt);
                map.put(k, Keys.valueOf(k));
            }
        } else if (p.workload.equals("churn")) {
            long t = p.threads;
            long live = p.keys / t;
            for (int i = 0; i < p.threads; i++) {
                for (long j = 0; j < live; j++) {
                    long k = Keys.keyOf(i + j * t, salt);
                    map.put(k, Keys.valueOf(k));
                }
                workers.get(i).lo = 0;
                workers.get(i).hi = live;
            }
        }
        return !p.workload.equals("growth");
    }

    /* This thread's involuntary context switches (Java threads are kernel
     * threads, so /proc/thread-self is the worker's own), -1 if unknown. */
    static long involuntarySwitches() {
        return statusField("/proc/thread-self/status", "nonvoluntary_ctxt_switches:");
    }

    static long rssBytes() {
        long kb = statusField("/proc/self/status", "VmRSS:");
        return kb < 0 ? 0 : kb * 1024;
    }

    /* The number after name in a /proc status file, -1 if absent. Parsed
     * from the bytes, without strings or regular expressions: the sampler
     * runs every 10 ms, and library code it made hot would keep the JIT
     * compiling through the warm-up rounds. */
    private static long statusField(String file, String name) {
        byte[] buf = new byte[8192];
        int n;
        try (FileInputStream in = new FileInputStream(file)) {
            n = in.readNBytes(buf, 0, buf.length);
        } catch (IOException e) {
            return -1;
        }
        int len = name.length();
        for (int line = 0; line + len <= n;) {
            boolean match = true;
            for (int i = 0; i < len && match; i++)
                match = buf[line + i] == name.charAt(i);
            int i = line + len;
            if (match) {
                while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
                    i++;
                long v = 0;
                int start = i;
                for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
                    v = v * 10 + (buf[i] - '0');
                return i > start ? v : -1;
            }
            while (i < n && buf[i] != '\n')
                i++;
            line = i + 1;
        }
        return -1;
    }

    final List<long[]> rss = new ArrayList<>();

    /* Starts the workers, samples RSS every 10 ms until the measured ones
     * are done, and joins them all. */
    void execute() throws InterruptedException {
        ready = new CountDownLatch(workers.size());
        start = new CountDownLatch(1);
        rss.clear();
        writersRunning.set(p.workload.equals("growth") ? p.writers : 0);
        measuredRunning.set(p.threads);
        List<Thread> threads = new ArrayList<>();
        for (Worker w : workers) {
            Thread t = new Thread(w, "worker-" + w.id);
            threads.add(t);
            t.start();
        }
        ready.await();
        t0 = now() + 1_000_000L;
        endNs = t0 + p.durationMs * 1_000_000L;
        capNs = t0 + p.capMs * 1_000_000L;
        start.countDown();
        int rssCap = windowCapacity + 16;
        while (measuredRunning.get() > 0) {
            long t = now();
            if (t >= t0 && rss.size() < rssCap)
                rss.add(new long[] { t - t0, rssBytes() });
            LockSupport.parkNanos(WINDOW_NS);
        }
        for (Thread t : threads)
            t.join();
    }
}
