package org.internlmj.tensor;

/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based
 * generator, so element {@code i} of a random tensor is a pure function of (key, counter) and every
 * thread count and device produce the same numbers. The CUDA kernels implement the same function.
 *
 * <p>Counter for element i: {@code (lo32(offset+i), hi32(offset+i), 0, 0)}; key {@code (lo32(seed),
 * hi32(seed))}. Uniform floats take the top 24 bits of word 0; normals use Box-Muller on words 0, 1.
 */
public final class Philox {
    private static final int M0 = 0xD2511F53;
    private static final int M1 = 0xCD9E8D57;
    private static final int W0 = 0x9E3779B9;
    private static final int W1 = 0xBB67AE85;
    private static final double TWO_POW_M24 = 1.0 / (1 << 24);

    private Philox() {
    }

    /** Word 0 and word 1 of the Philox output for this counter, packed as (w1 << 32) | w0. */
    public static long words01(long seed, long counter) {
        int c0 = (int) counter;
        int c1 = (int) (counter >>> 32);
        int c2 = 0;
        int c3 = 0;
        int k0 = (int) seed;
        int k1 = (int) (seed >>> 32);
        for (int round = 0; round < 10; round++) {
            long p0 = (M0 & 0xffffffffL) * (c0 & 0xffffffffL);
            long p1 = (M1 & 0xffffffffL) * (c2 & 0xffffffffL);
            int hi0 = (int) (p0 >>> 32);
            int lo0 = (int) p0;
            int hi1 = (int) (p1 >>> 32);
            int lo1 = (int) p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += W0;
            k1 += W1;
        }
        return ((long) c1 << 32) | (c0 & 0xffffffffL);
    }

    /** Uniform in [0, 1) with 24 random bits. */
    public static double uniform(long seed, long counter) {
        int w0 = (int) words01(seed, counter);
        return (w0 >>> 8) * TWO_POW_M24;
    }

    /** Standard normal by Box-Muller (cosine branch). */
    public static double normal(long seed, long counter) {
        long w = words01(seed, counter);
        double u1 = (((int) w >>> 8) + 1) * TWO_POW_M24; // (0, 1]: log is finite
        double u2 = ((int) (w >>> 32) >>> 8) * TWO_POW_M24;
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }
}
