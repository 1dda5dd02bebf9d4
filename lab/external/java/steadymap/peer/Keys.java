/*
 * Keys.java — the lab's key streams, ported bit for bit from
 * lab/harness/keys.h and the seeding in lab/harness/run.c, so that a Java run
 * issues exactly the operations, on exactly the keys, that an in-process C
 * run with the same --seed issues. Java has no unsigned 64-bit type: a long
 * holds the same bits, and only the multiply-shift needs unsigned care. The
 * `streams` mode prints a digest that the lab_external test recomputes in C.
 */
package steadymap.peer;

final class Keys {
    private Keys() {
    }

    static long mix(long x) {
        x ^= x >>> 30;
        x *= 0xbf58476d1ce4e5b9L;
        x ^= x >>> 27;
        x *= 0x94d049bb133111ebL;
        x ^= x >>> 31;
        return x;
    }

    static long keyOf(long index, long salt) {
        return mix(index + salt);
    }

    /* mix backwards, as lab_unmix in keys.h: the iterator check turns a key
     * back into the index it was made from. */
    static long unmix(long x) {
        x ^= (x >>> 31) ^ (x >>> 62);
        x *= 0x319642b2d24d8ec3L;
        x ^= (x >>> 27) ^ (x >>> 54);
        x *= 0x96de1b173f119089L;
        x ^= (x >>> 30) ^ (x >>> 60);
        return x;
    }

    static long indexOf(long key, long salt) {
        return unmix(key) - salt;
    }

    static long valueOf(long key) {
        return mix(key ^ 0x5851f42d4c957f2dL);
    }

    /* As lab_run_salt and lab_worker_seed in run.c. */
    static long runSalt(long seed) {
        return mix(seed ^ 0x6a09e667f3bcc909L);
    }

    static long workerSeed(long seed, int i) {
        return seed * 0x100000001b3L + i;
    }

    /* xoshiro256**, seeded through splitmix64 as lab_rng_seed does. */
    static final class Rng {
        private long s0, s1, s2, s3;

        Rng(long seed) {
            long[] s = new long[4];
            for (int i = 0; i < 4; i++) {
                seed += 0x9e3779b97f4a7c15L;
                s[i] = mix(seed);
            }
            s0 = s[0];
            s1 = s[1];
            s2 = s[2];
            s3 = s[3];
        }

        long next() {
            long result = Long.rotateLeft(s1 * 5, 7) * 9;
            long t = s1 << 17;
            s2 ^= s0;
            s3 ^= s1;
            s1 ^= s2;
            s0 ^= s3;
            s2 ^= t;
            s3 = Long.rotateLeft(s3, 45);
            return result;
        }

        /* Lemire's multiply-shift: the high word of the unsigned 128-bit
         * product, from the signed one Java 17 offers. */
        long below(long n) {
            long a = next();
            return Math.multiplyHigh(a, n) + ((a >> 63) & n) + ((n >> 63) & a);
        }

        double unit() {
            return (double) (next() >>> 11) * 0x1.0p-53;
        }
    }

    /*
     * Zipf ranks as lab_zipf_next draws them. The constants come from the lab
     * on the command line (the C lab_zipf_init computed them) rather than
     * being recomputed: an O(n) zeta sum in another libm would differ in its
     * last bits. The per-draw power uses StrictMath (fdlibm): glibc's pow can
     * differ from it by an ulp, which changes a rank only when n times the
     * power lands within an ulp of an integer.
     */
    static final class Zipf {
        final long n;
        final double theta, alpha, zetan, eta, halfPowTheta;

        Zipf(long n, double theta, double alpha, double zetan, double eta, double halfPowTheta) {
            this.n = n;
            this.theta = theta;
            this.alpha = alpha;
            this.zetan = zetan;
            this.eta = eta;
            this.halfPowTheta = halfPowTheta;
        }

        long next(Rng r) {
            double u = r.unit();
            double uz = u * zetan;
            if (uz < 1.0)
                return 0;
            if (uz < 1.0 + halfPowTheta)
                return 1;
            long rank = (long) ((double) n * StrictMath.pow(eta * u - eta + 1.0, alpha));
            return rank < n ? rank : n - 1;
        }
    }

    /* Workers 0..3's first draws folded into one word, in the order
     * lab/external/PROTOCOL.md gives. */
    static long streamsDigest(long seed, long keys, Zipf z) {
        long h = 0;
        long salt = runSalt(seed);
        for (int i = 0; i < 4; i++) {
            Rng r = new Rng(workerSeed(seed, i));
            for (long j = 0; j < 1000; j++) {
                h = mix(h ^ r.next());
                h = mix(h ^ r.below(keys));
                h = mix(h ^ r.below(100));
                if (z != null)
                    h = mix(h ^ z.next(r));
                h = mix(h ^ Double.doubleToRawLongBits(r.unit()));
                h = mix(h ^ keyOf(j, salt));
                h = mix(h ^ valueOf(keyOf(j, salt)));
            }
        }
        return h;
    }
}
