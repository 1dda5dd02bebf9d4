/*
 * Peer.java — steadymap-peer-java: the Java half of the lab's out-of-process
 * peers (engine java_chm, ConcurrentHashMap<Long, Long>). steadymap-lab
 * starts it once per measured run (or memory measurement) with every
 * parameter on the command line and reads the result from its standard
 * output; lab/external/PROTOCOL.md is the contract between the two.
 *
 * Modes:
 *   run      one scenario, one load model: prints a result
 *   memory   RSS before create, after filling, after deleting 90 %
 *   streams  a digest of the key streams, for the lab_external test
 *
 * JIT warm-up. A JVM interprets a method first and compiles it (C1, then C2)
 * only once it is hot, so the first second of any Java run measures the
 * compiler, not the map. Unless the scenario is a fresh-process one, the run
 * is preceded by warm-up rounds: the scenario's own workload (same threads,
 * same roles, same operation loop, closed loop) on a separate map, 200 ms a
 * round (growth: one whole fill into a new map), repeated until the JIT
 * spends less than 1 ms of a round compiling (CompilationMXBean's total
 * compilation time, which has millisecond resolution), at least 2 and at
 * most 15 rounds: C2 compiling a hot loop takes tens of milliseconds here,
 * what remains below 1 ms is small library methods reaching their next
 * tier. The warm-up map is then dropped. Fresh-process scenarios (coldstart) skip the warm-up
 * on purpose: a cold JVM compiling its hot paths is part of a new process's
 * first requests.
 *
 * Pre-filled maps. Right after the pre-fill, every entry is a young object,
 * and the measured run's first young collections would copy the whole map
 * — a one-off cost of having just built it. A map a service has held for a
 * while lives in the old generation, so after a pre-fill (and after the
 * warm-up) System.gc() moves everything there before the measurement
 * starts. The run's own garbage (boxed keys and values) is collected during
 * the measurement as in production.
 *
 * GC. -XX:+UseG1GC, set explicitly by the lab: G1 is Java 17's default on a
 * "server-class" machine (2 or more CPUs and 2 GiB), what production
 * services run, and saying it keeps a small CI container from silently
 * getting the serial collector. The heap is left at the JVM's defaults.
 */
package steadymap.peer;

import java.io.BufferedWriter;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

public final class Peer {
    private Peer() {
    }

    static final String ENGINE = "java_chm";
    static final long WARMUP_ROUND_MS = 200;
    static final int WARMUP_MIN_ROUNDS = 2, WARMUP_MAX_ROUNDS = 15;

    static void usage(String msg) {
        System.err.println("steadymap-peer-java: " + msg
                           + " (started by steadymap-lab; see lab/external/PROTOCOL.md)");
        System.exit(2);
    }

    /* --name=value options; each getter removes what it reads, so leftovers
     * are reported as unknown. */
    static final class Args {
        final Map<String, String> m = new HashMap<>();

        Args(String[] argv) {
            for (int i = 1; i < argv.length; i++) {
                String s = argv[i];
                int eq = s.indexOf('=');
                if (!s.startsWith("--") || eq < 0)
                    usage("bad argument " + s);
                m.put(s.substring(2, eq), s.substring(eq + 1));
            }
        }

        String str(String name) {
            String v = m.remove(name);
            if (v == null)
                usage("missing --" + name);
            return v;
        }

        long num(String name) {
            try {
                return Long.parseUnsignedLong(str(name));
            } catch (NumberFormatException e) {
                usage("bad --" + name);
                return 0;
            }
        }

        double real(String name) {
            try {
                return Double.parseDouble(str(name));
            } catch (NumberFormatException e) {
                usage("bad --" + name);
                return 0;
            }
        }

        boolean flag(String name) {
            return num(name) != 0;
        }

        /* n,theta,alpha,zetan,eta,half_pow_theta, the floats in C's %a form */
        Keys.Zipf zipf() {
            String v = m.remove("zipf");
            if (v == null)
                return null;
            String[] f = v.split(",");
            try {
                if (f.length == 6)
                    return new Keys.Zipf(Long.parseLong(f[0]), Double.parseDouble(f[1]),
                                         Double.parseDouble(f[2]), Double.parseDouble(f[3]),
                                         Double.parseDouble(f[4]), Double.parseDouble(f[5]));
            } catch (NumberFormatException e) {
                usage("bad --zipf");
            }
            usage("bad --zipf");
            return null;
        }

        void done() {
            for (String k : m.keySet())
                usage("unknown option --" + k);
        }
    }

    static void engine(Args a) {
        String e = a.str("engine");
        if (!e.equals(ENGINE))
            usage("unknown engine " + e);
    }

    public static void main(String[] argv) throws Exception {
        if (argv.length < 1)
            usage("no mode");
        Args a = new Args(argv);
        switch (argv[0]) {
        case "run":
            runMode(a);
            break;
        case "memory":
            memoryMode(a);
            break;
        case "streams": {
            long seed = a.num("seed"), keys = a.num("keys");
            Keys.Zipf z = a.zipf();
            a.done();
            System.out.printf(Locale.ROOT, "streams %016x%n", Keys.streamsDigest(seed, keys, z));
            break;
        }
        default:
            usage("unknown mode " + argv[0]);
        }
    }

    static void runMode(Args a) throws InterruptedException {
        engine(a);
        Run.Params p = new Run.Params();
        p.workload = a.str("workload");
        if (!p.workload.equals("mixed") && !p.workload.equals("growth") && !p.workload.equals("churn"))
            usage("bad --workload");
        String model = a.str("model");
        if (!model.equals("open") && !model.equals("closed"))
            usage("bad --model");
        p.open = model.equals("open");
        p.threads = (int) a.num("threads");
        p.writers = (int) a.num("writers");
        p.keys = a.num("keys");
        p.seed = a.num("seed");
        p.durationMs = a.num("duration-ms");
        p.capMs = a.num("cap-ms");
        p.rate = a.real("rate");
        String[] mix = a.str("mix").split(",");
        if (mix.length != 3)
            usage("bad --mix");
        try {
            p.mixGet = Long.parseLong(mix[0]);
            p.mixPut = Long.parseLong(mix[1]);
            p.mixDel = Long.parseLong(mix[2]);
        } catch (NumberFormatException e) {
            usage("bad --mix");
        }
        p.zipf = a.zipf();
        p.presized = a.flag("presized");
        p.iterator = a.flag("iterator");
        p.spin = a.flag("spin");
        boolean fresh = a.flag("fresh");
        a.done();
        if (p.threads < 1 || p.keys < 1 || (p.workload.equals("growth") && p.writers < 1)
            || (p.open && !(p.rate > 0)))
            usage("bad thread, key or rate count");
        Run.measureSleepMargin();
        if (!fresh)
            warmUp(p);
        Run r = new Run(p);
        if (r.prefill() || !fresh)
            System.gc();
        r.execute();
        write(r);
    }

    static void warmUp(Run.Params measured) throws InterruptedException {
        Run.Params p = new Run.Params();
        p.workload = measured.workload;
        p.open = false;
        p.threads = measured.threads;
        p.writers = measured.writers;
        p.keys = measured.keys;
        p.seed = measured.seed;
        p.durationMs = Math.min(measured.durationMs, WARMUP_ROUND_MS);
        p.capMs = Math.max(measured.capMs, p.durationMs);
        p.rate = measured.rate;
        p.mixGet = measured.mixGet;
        p.mixPut = measured.mixPut;
        p.mixDel = measured.mixDel;
        p.zipf = measured.zipf;
        p.presized = measured.presized;
        p.iterator = measured.iterator;
        p.spin = measured.spin;
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        long compiled = jit.getTotalCompilationTime();
        Run r = null;
        for (int round = 1; round <= WARMUP_MAX_ROUNDS; round++) {
            /* A pre-filled map keeps serving round after round; growth
             * needs an empty map each time. */
            if (r == null || p.workload.equals("growth")) {
                r = new Run(p);
                r.prefill();
            }
            r.execute();
            long now = jit.getTotalCompilationTime();
            if (round >= WARMUP_MIN_ROUNDS && now - compiled < 1)
                break;
            compiled = now;
        }
    }

    static void write(Run r) {
        Hist total = new Hist(), gets = new Hist(), late = new Hist();
        long errValue = 0, errMissing = 0, notIssued = 0, passes = 0, passNs = 0, preempted = 0;
        boolean hitCap = false;
        int used = 0;
        long lastEnd = r.t0;
        for (Run.Worker w : r.workers) {
            errValue += w.errValue;
            errMissing += w.errMissing;
            hitCap |= w.hitCap;
            if (w.role == Run.ITERATOR) {
                passes += w.passes;
                passNs += w.passNs;
                continue;
            }
            notIssued += w.notIssued;
            preempted += w.preempted;
            total.merge(w.getHist);
            total.merge(w.writeHist);
            gets.merge(w.getHist);
            late.merge(w.late);
            used = Math.max(used, w.windowsUsed);
            lastEnd = Math.max(lastEnd, w.lastEnd);
        }
        PrintWriter out = new PrintWriter(new BufferedWriter(
            new OutputStreamWriter(System.out, StandardCharsets.US_ASCII), 1 << 16));
        out.print("steadymap-peer-result 2\n");
        /* Locale.ROOT in every printf: the lab reads a point as the decimal
         * separator, and the JVM's default locale may write a comma (de_DE
         * prints "seconds 0,100000000"). */
        out.printf(Locale.ROOT, "seconds %.9f\n", (lastEnd - r.t0) / 1e9);
        out.print("errors " + errValue + " " + errMissing + " 0\n");
        out.print("not_issued " + notIssued + "\n");
        out.print("hit_cap " + (hitCap ? 1 : 0) + "\n");
        out.print("preemptions " + preempted + "\n");
        out.printf(Locale.ROOT, "iterations %d %.1f\n", passes,
                   passes > 0 ? (double) passNs / passes : 0.0);
        total.write(out, "hist");
        gets.write(out, "gethist");
        late.write(out, "late");
        for (int j = 0; j < used; j++) {
            Hist.Windows acc = new Hist.Windows(1);
            for (Run.Worker w : r.workers)
                if (w.role != Run.ITERATOR && j < w.windowsUsed)
                    w.windows.mergeInto(j, acc);
            acc.writeFirst(out, j);
        }
        for (long[] s : r.rss)
            out.print("rss " + s[0] + " " + s[1] + "\n");
        out.print("end\n");
        out.flush();
        if (out.checkError())
            System.exit(1);
    }

    static void memoryMode(Args a) {
        engine(a);
        long keys = a.num("keys"), seed = a.num("seed");
        a.done();
        long salt = Keys.runSalt(seed);
        long base = Run.rssBytes();
        ConcurrentHashMap<Long, Long> map = new ConcurrentHashMap<>();
        for (long i = 0; i < keys; i++) {
            long k = Keys.keyOf(i, salt);
            map.put(k, Keys.valueOf(k));
        }
        long full = Run.rssBytes();
        MemoryMXBean heap = ManagementFactory.getMemoryMXBean();
        long committedFull = heap.getHeapMemoryUsage().getCommitted();
        /* every tenth key stays, as lab/harness/memory.c deletes them */
        for (long i = 0; i < keys; i++)
            if (i % 10 != 0)
                map.remove(Keys.keyOf(i, salt));
        System.gc();
        /* Java 17's G1 uncommits in the background after the collection:
         * read RSS once it has stopped falling (at most 2 s). */
        long after = Run.rssBytes();
        for (int i = 0; i < 20; i++) {
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            long now = Run.rssBytes();
            if (now > after - (1 << 20)) {
                after = Math.min(after, now);
                break;
            }
            after = now;
        }
        long committedAfter = heap.getHeapMemoryUsage().getCommitted();
        Runtime.Version v = Runtime.version();
        String gc = ManagementFactory.getGarbageCollectorMXBeans().get(0).getName().split(" ")[0];
        System.out.print("steadymap-peer-memory 1\nrss_base " + base + "\nrss_full " + full
                         + "\nrss_after_delete " + after + "\n");
        /* at most 159 characters: lab_memory_result.note */
        System.out.print("note Java " + v.feature() + "." + v.interim() + "." + v.update() + ", " + gc
                         + ": System.gc() after the deletes (full GC; uncommits only above -Xms); heap"
                         + " committed " + (committedFull >> 20) + " -> " + (committedAfter >> 20)
                         + " MiB; the table never shrinks\n");
        System.out.print("end\n");
    }
}
