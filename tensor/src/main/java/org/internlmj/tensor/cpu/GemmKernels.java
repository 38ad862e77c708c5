package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The GEMM's register-blocked micro-kernels: {@code t[r][j] = sum_k a[k][r] * b[k][j]} for a packed
 * A micro-panel of {@code R} rows ({@code a[ao + k*R + r]}) and a packed B micro-panel of {@link #NR}
 * columns ({@code b[bo + k*NR + j]}), with R in {12, 8, 6, 4, 1}. Each keeps its 2R accumulators in
 * vector registers (per k step: two loads of B, R broadcasts of A, 2R FMAs) and writes the tile to
 * {@code t} ({@code t[r*NR + j]}) for the caller's epilogue. Two k steps per loop iteration halve the
 * address arithmetic (~8% faster here), except in the 6-row kernel, the main one where the JIT has
 * only 16 vector registers (AVX2): there C2 schedules the second step's loads early and spills
 * (~25% slower).
 *
 * <p>Every kernel computes every element as the same chain of fused multiply-adds in k order, so an
 * element's value does not depend on which kernel, tile or thread computed it. The kernels differ only
 * in R and are written out in full on purpose: C2 keeps named locals in registers, not arrays.
 *
 * <p>The species is 512-bit where the JVM runs AVX-512 (HotSpot needs {@code -XX:UseAVX=3} for that on
 * Skylake-SP, whose default is AVX2; the whole GEMM runs ~2x faster with it here, docs/PERFORMANCE.md),
 * else the preferred one. {@code -Dinternlmj.gemm.bits=256|512} overrides it for measurements.
 */
final class GemmKernels {
    /** The float species of the micro-kernels. */
    static final VectorSpecies<Float> S = species();

    /** Float lanes per vector. */
    static final int L = S.length();

    /** Columns of a B micro-panel: two vectors. */
    static final int NR = 2 * L;

    /** Row counts of the micro-kernels, widest first. */
    static final int[] ROWS = {12, 8, 6, 4, 1};

    private GemmKernels() {
    }

    private static VectorSpecies<Float> species() {
        String bits = System.getProperty("internlmj.gemm.bits");
        if (bits != null && !bits.isBlank()) {
            return switch (bits.trim()) {
                case "256" -> FloatVector.SPECIES_256;
                case "512" -> FloatVector.SPECIES_512;
                default -> throw new IllegalArgumentException("internlmj.gemm.bits must be 256 or 512, got '" + bits + "'");
            };
        }
        // SPECIES_MAX is what the JIT compiles to vector instructions; a wider species would run in
        // the Vector API's scalar fallback, hundreds of times slower.
        return FloatVector.SPECIES_MAX.vectorBitSize() >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_PREFERRED;
    }

    /**
     * Rows of the main kernel: 12 (24 accumulators) where the JIT has 32 vector registers (AVX-512),
     * else 6 (12 accumulators, which fit AVX2's 16 registers with the two B vectors and the broadcast).
     */
    static int defaultMainRows() {
        return FloatVector.SPECIES_MAX.vectorBitSize() >= 512 ? 12 : 6;
    }

    /** The narrowest kernel that covers {@code rows} rows (at most {@code mainRows}). */
    static int kernelRows(int rows, int mainRows) {
        int best = mainRows;
        for (int r : ROWS) {
            if (r >= rows && r <= mainRows) {
                best = r;
            }
        }
        return best;
    }

    /** Runs the kernel of {@code rows} rows (one of {@link #ROWS}). */
    static void run(int rows, float[] a, int ao, float[] b, int bo, int kc, float[] t) {
        switch (rows) {
            case 12 -> rows12(a, ao, b, bo, kc, t);
            case 8 -> rows8(a, ao, b, bo, kc, t);
            case 6 -> rows6(a, ao, b, bo, kc, t);
            case 4 -> rows4(a, ao, b, bo, kc, t);
            case 1 -> rows1(a, ao, b, bo, kc, t);
            default -> throw new IllegalArgumentException("no GEMM micro-kernel of " + rows + " rows");
        }
    }

    static void rows12(float[] a, int ao, float[] b, int bo, int kc, float[] t) {
        FloatVector c0lo = FloatVector.zero(S);
        FloatVector c0hi = FloatVector.zero(S);
        FloatVector c1lo = FloatVector.zero(S);
        FloatVector c1hi = FloatVector.zero(S);
        FloatVector c2lo = FloatVector.zero(S);
        FloatVector c2hi = FloatVector.zero(S);
        FloatVector c3lo = FloatVector.zero(S);
        FloatVector c3hi = FloatVector.zero(S);
        FloatVector c4lo = FloatVector.zero(S);
        FloatVector c4hi = FloatVector.zero(S);
        FloatVector c5lo = FloatVector.zero(S);
        FloatVector c5hi = FloatVector.zero(S);
        FloatVector c6lo = FloatVector.zero(S);
        FloatVector c6hi = FloatVector.zero(S);
        FloatVector c7lo = FloatVector.zero(S);
        FloatVector c7hi = FloatVector.zero(S);
        FloatVector c8lo = FloatVector.zero(S);
        FloatVector c8hi = FloatVector.zero(S);
        FloatVector c9lo = FloatVector.zero(S);
        FloatVector c9hi = FloatVector.zero(S);
        FloatVector c10lo = FloatVector.zero(S);
        FloatVector c10hi = FloatVector.zero(S);
        FloatVector c11lo = FloatVector.zero(S);
        FloatVector c11hi = FloatVector.zero(S);
        int k = 0;
        for (; k + 2 <= kc; k += 2) {
            int bk = bo + k * NR;
            int ak = ao + k * 12;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 2]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 3]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
            x = FloatVector.broadcast(S, a[ak + 4]);
            c4lo = x.fma(b0, c4lo);
            c4hi = x.fma(b1, c4hi);
            x = FloatVector.broadcast(S, a[ak + 5]);
            c5lo = x.fma(b0, c5lo);
            c5hi = x.fma(b1, c5hi);
            x = FloatVector.broadcast(S, a[ak + 6]);
            c6lo = x.fma(b0, c6lo);
            c6hi = x.fma(b1, c6hi);
            x = FloatVector.broadcast(S, a[ak + 7]);
            c7lo = x.fma(b0, c7lo);
            c7hi = x.fma(b1, c7hi);
            x = FloatVector.broadcast(S, a[ak + 8]);
            c8lo = x.fma(b0, c8lo);
            c8hi = x.fma(b1, c8hi);
            x = FloatVector.broadcast(S, a[ak + 9]);
            c9lo = x.fma(b0, c9lo);
            c9hi = x.fma(b1, c9hi);
            x = FloatVector.broadcast(S, a[ak + 10]);
            c10lo = x.fma(b0, c10lo);
            c10hi = x.fma(b1, c10hi);
            x = FloatVector.broadcast(S, a[ak + 11]);
            c11lo = x.fma(b0, c11lo);
            c11hi = x.fma(b1, c11hi);
            b0 = FloatVector.fromArray(S, b, bk + NR);
            b1 = FloatVector.fromArray(S, b, bk + NR + L);
            x = FloatVector.broadcast(S, a[ak + 12]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 13]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 14]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 15]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
            x = FloatVector.broadcast(S, a[ak + 16]);
            c4lo = x.fma(b0, c4lo);
            c4hi = x.fma(b1, c4hi);
            x = FloatVector.broadcast(S, a[ak + 17]);
            c5lo = x.fma(b0, c5lo);
            c5hi = x.fma(b1, c5hi);
            x = FloatVector.broadcast(S, a[ak + 18]);
            c6lo = x.fma(b0, c6lo);
            c6hi = x.fma(b1, c6hi);
            x = FloatVector.broadcast(S, a[ak + 19]);
            c7lo = x.fma(b0, c7lo);
            c7hi = x.fma(b1, c7hi);
            x = FloatVector.broadcast(S, a[ak + 20]);
            c8lo = x.fma(b0, c8lo);
            c8hi = x.fma(b1, c8hi);
            x = FloatVector.broadcast(S, a[ak + 21]);
            c9lo = x.fma(b0, c9lo);
            c9hi = x.fma(b1, c9hi);
            x = FloatVector.broadcast(S, a[ak + 22]);
            c10lo = x.fma(b0, c10lo);
            c10hi = x.fma(b1, c10hi);
            x = FloatVector.broadcast(S, a[ak + 23]);
            c11lo = x.fma(b0, c11lo);
            c11hi = x.fma(b1, c11hi);
        }
        if (k < kc) {
            int bk = bo + k * NR;
            int ak = ao + k * 12;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 2]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 3]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
            x = FloatVector.broadcast(S, a[ak + 4]);
            c4lo = x.fma(b0, c4lo);
            c4hi = x.fma(b1, c4hi);
            x = FloatVector.broadcast(S, a[ak + 5]);
            c5lo = x.fma(b0, c5lo);
            c5hi = x.fma(b1, c5hi);
            x = FloatVector.broadcast(S, a[ak + 6]);
            c6lo = x.fma(b0, c6lo);
            c6hi = x.fma(b1, c6hi);
            x = FloatVector.broadcast(S, a[ak + 7]);
            c7lo = x.fma(b0, c7lo);
            c7hi = x.fma(b1, c7hi);
            x = FloatVector.broadcast(S, a[ak + 8]);
            c8lo = x.fma(b0, c8lo);
            c8hi = x.fma(b1, c8hi);
            x = FloatVector.broadcast(S, a[ak + 9]);
            c9lo = x.fma(b0, c9lo);
            c9hi = x.fma(b1, c9hi);
            x = FloatVector.broadcast(S, a[ak + 10]);
            c10lo = x.fma(b0, c10lo);
            c10hi = x.fma(b1, c10hi);
            x = FloatVector.broadcast(S, a[ak + 11]);
            c11lo = x.fma(b0, c11lo);
            c11hi = x.fma(b1, c11hi);
        }
        c0lo.intoArray(t, 0);
        c0hi.intoArray(t, L);
        c1lo.intoArray(t, NR);
        c1hi.intoArray(t, NR + L);
        c2lo.intoArray(t, 2 * NR);
        c2hi.intoArray(t, 2 * NR + L);
        c3lo.intoArray(t, 3 * NR);
        c3hi.intoArray(t, 3 * NR + L);
        c4lo.intoArray(t, 4 * NR);
        c4hi.intoArray(t, 4 * NR + L);
        c5lo.intoArray(t, 5 * NR);
        c5hi.intoArray(t, 5 * NR + L);
        c6lo.intoArray(t, 6 * NR);
        c6hi.intoArray(t, 6 * NR + L);
        c7lo.intoArray(t, 7 * NR);
        c7hi.intoArray(t, 7 * NR + L);
        c8lo.intoArray(t, 8 * NR);
        c8hi.intoArray(t, 8 * NR + L);
        c9lo.intoArray(t, 9 * NR);
        c9hi.intoArray(t, 9 * NR + L);
        c10lo.intoArray(t, 10 * NR);
        c10hi.intoArray(t, 10 * NR + L);
        c11lo.intoArray(t, 11 * NR);
        c11hi.intoArray(t, 11 * NR + L);
    }

    static void rows8(float[] a, int ao, float[] b, int bo, int kc, float[] t) {
        FloatVector c0lo = FloatVector.zero(S);
        FloatVector c0hi = FloatVector.zero(S);
        FloatVector c1lo = FloatVector.zero(S);
        FloatVector c1hi = FloatVector.zero(S);
        FloatVector c2lo = FloatVector.zero(S);
        FloatVector c2hi = FloatVector.zero(S);
        FloatVector c3lo = FloatVector.zero(S);
        FloatVector c3hi = FloatVector.zero(S);
        FloatVector c4lo = FloatVector.zero(S);
        FloatVector c4hi = FloatVector.zero(S);
        FloatVector c5lo = FloatVector.zero(S);
        FloatVector c5hi = FloatVector.zero(S);
        FloatVector c6lo = FloatVector.zero(S);
        FloatVector c6hi = FloatVector.zero(S);
        FloatVector c7lo = FloatVector.zero(S);
        FloatVector c7hi = FloatVector.zero(S);
        int k = 0;
        for (; k + 2 <= kc; k += 2) {
            int bk = bo + k * NR;
            int ak = ao + k * 8;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 2]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 3]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
            x = FloatVector.broadcast(S, a[ak + 4]);
            c4lo = x.fma(b0, c4lo);
            c4hi = x.fma(b1, c4hi);
            x = FloatVector.broadcast(S, a[ak + 5]);
            c5lo = x.fma(b0, c5lo);
            c5hi = x.fma(b1, c5hi);
            x = FloatVector.broadcast(S, a[ak + 6]);
            c6lo = x.fma(b0, c6lo);
            c6hi = x.fma(b1, c6hi);
            x = FloatVector.broadcast(S, a[ak + 7]);
            c7lo = x.fma(b0, c7lo);
            c7hi = x.fma(b1, c7hi);
            b0 = FloatVector.fromArray(S, b, bk + NR);
            b1 = FloatVector.fromArray(S, b, bk + NR + L);
            x = FloatVector.broadcast(S, a[ak + 8]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 9]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 10]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 11]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
            x = FloatVector.broadcast(S, a[ak + 12]);
            c4lo = x.fma(b0, c4lo);
            c4hi = x.fma(b1, c4hi);
            x = FloatVector.broadcast(S, a[ak + 13]);
            c5lo = x.fma(b0, c5lo);
            c5hi = x.fma(b1, c5hi);
            x = FloatVector.broadcast(S, a[ak + 14]);
            c6lo = x.fma(b0, c6lo);
            c6hi = x.fma(b1, c6hi);
            x = FloatVector.broadcast(S, a[ak + 15]);
            c7lo = x.fma(b0, c7lo);
            c7hi = x.fma(b1, c7hi);
        }
        if (k < kc) {
            int bk = bo + k * NR;
            int ak = ao + k * 8;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 2]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 3]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
            x = FloatVector.broadcast(S, a[ak + 4]);
            c4lo = x.fma(b0, c4lo);
            c4hi = x.fma(b1, c4hi);
            x = FloatVector.broadcast(S, a[ak + 5]);
            c5lo = x.fma(b0, c5lo);
            c5hi = x.fma(b1, c5hi);
            x = FloatVector.broadcast(S, a[ak + 6]);
            c6lo = x.fma(b0, c6lo);
            c6hi = x.fma(b1, c6hi);
            x = FloatVector.broadcast(S, a[ak + 7]);
            c7lo = x.fma(b0, c7lo);
            c7hi = x.fma(b1, c7hi);
        }
        c0lo.intoArray(t, 0);
        c0hi.intoArray(t, L);
        c1lo.intoArray(t, NR);
        c1hi.intoArray(t, NR + L);
        c2lo.intoArray(t, 2 * NR);
        c2hi.intoArray(t, 2 * NR + L);
        c3lo.intoArray(t, 3 * NR);
        c3hi.intoArray(t, 3 * NR + L);
        c4lo.intoArray(t, 4 * NR);
        c4hi.intoArray(t, 4 * NR + L);
        c5lo.intoArray(t, 5 * NR);
        c5hi.intoArray(t, 5 * NR + L);
        c6lo.intoArray(t, 6 * NR);
        c6hi.intoArray(t, 6 * NR + L);
        c7lo.intoArray(t, 7 * NR);
        c7hi.intoArray(t, 7 * NR + L);
    }

    static void rows6(float[] a, int ao, float[] b, int bo, int kc, float[] t) {
        FloatVector c0lo = FloatVector.zero(S);
        FloatVector c0hi = FloatVector.zero(S);
        FloatVector c1lo = FloatVector.zero(S);
        FloatVector c1hi = FloatVector.zero(S);
        FloatVector c2lo = FloatVector.zero(S);
        FloatVector c2hi = FloatVector.zero(S);
        FloatVector c3lo = FloatVector.zero(S);
        FloatVector c3hi = FloatVector.zero(S);
        FloatVector c4lo = FloatVector.zero(S);
        FloatVector c4hi = FloatVector.zero(S);
        FloatVector c5lo = FloatVector.zero(S);
        FloatVector c5hi = FloatVector.zero(S);
        for (int k = 0; k < kc; k++) {
            int bk = bo + k * NR;
            int ak = ao + k * 6;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 2]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 3]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
            x = FloatVector.broadcast(S, a[ak + 4]);
            c4lo = x.fma(b0, c4lo);
            c4hi = x.fma(b1, c4hi);
            x = FloatVector.broadcast(S, a[ak + 5]);
            c5lo = x.fma(b0, c5lo);
            c5hi = x.fma(b1, c5hi);
        }
        c0lo.intoArray(t, 0);
        c0hi.intoArray(t, L);
        c1lo.intoArray(t, NR);
        c1hi.intoArray(t, NR + L);
        c2lo.intoArray(t, 2 * NR);
        c2hi.intoArray(t, 2 * NR + L);
        c3lo.intoArray(t, 3 * NR);
        c3hi.intoArray(t, 3 * NR + L);
        c4lo.intoArray(t, 4 * NR);
        c4hi.intoArray(t, 4 * NR + L);
        c5lo.intoArray(t, 5 * NR);
        c5hi.intoArray(t, 5 * NR + L);
    }

    static void rows4(float[] a, int ao, float[] b, int bo, int kc, float[] t) {
        FloatVector c0lo = FloatVector.zero(S);
        FloatVector c0hi = FloatVector.zero(S);
        FloatVector c1lo = FloatVector.zero(S);
        FloatVector c1hi = FloatVector.zero(S);
        FloatVector c2lo = FloatVector.zero(S);
        FloatVector c2hi = FloatVector.zero(S);
        FloatVector c3lo = FloatVector.zero(S);
        FloatVector c3hi = FloatVector.zero(S);
        int k = 0;
        for (; k + 2 <= kc; k += 2) {
            int bk = bo + k * NR;
            int ak = ao + k * 4;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 2]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 3]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
            b0 = FloatVector.fromArray(S, b, bk + NR);
            b1 = FloatVector.fromArray(S, b, bk + NR + L);
            x = FloatVector.broadcast(S, a[ak + 4]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 5]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 6]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 7]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
        }
        if (k < kc) {
            int bk = bo + k * NR;
            int ak = ao + k * 4;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c1lo = x.fma(b0, c1lo);
            c1hi = x.fma(b1, c1hi);
            x = FloatVector.broadcast(S, a[ak + 2]);
            c2lo = x.fma(b0, c2lo);
            c2hi = x.fma(b1, c2hi);
            x = FloatVector.broadcast(S, a[ak + 3]);
            c3lo = x.fma(b0, c3lo);
            c3hi = x.fma(b1, c3hi);
        }
        c0lo.intoArray(t, 0);
        c0hi.intoArray(t, L);
        c1lo.intoArray(t, NR);
        c1hi.intoArray(t, NR + L);
        c2lo.intoArray(t, 2 * NR);
        c2hi.intoArray(t, 2 * NR + L);
        c3lo.intoArray(t, 3 * NR);
        c3hi.intoArray(t, 3 * NR + L);
    }

    static void rows1(float[] a, int ao, float[] b, int bo, int kc, float[] t) {
        FloatVector c0lo = FloatVector.zero(S);
        FloatVector c0hi = FloatVector.zero(S);
        int k = 0;
        for (; k + 2 <= kc; k += 2) {
            int bk = bo + k * NR;
            int ak = ao + k;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
            b0 = FloatVector.fromArray(S, b, bk + NR);
            b1 = FloatVector.fromArray(S, b, bk + NR + L);
            x = FloatVector.broadcast(S, a[ak + 1]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
        }
        if (k < kc) {
            int bk = bo + k * NR;
            int ak = ao + k;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + L);
            FloatVector x;
            x = FloatVector.broadcast(S, a[ak]);
            c0lo = x.fma(b0, c0lo);
            c0hi = x.fma(b1, c0hi);
        }
        c0lo.intoArray(t, 0);
        c0hi.intoArray(t, L);
    }
}
