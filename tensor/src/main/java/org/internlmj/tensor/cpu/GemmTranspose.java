package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Packing of a GEMM operand whose lanes are rows of the source (A as stored, or B transposed: the
 * forward {@code x @ W^T} of every Linear layer) with 512-bit vectors: 8 rows x 16 k steps are loaded
 * as 8 vectors and transposed by three rounds of two-vector permutes ({@code selectFrom(v1, v2)}, one
 * {@code vpermt2ps} each), which leaves k step {@code i} of the 8 rows in the low half of vector
 * {@code i} and step {@code i + 8} in its high half; the 8 vectors go to a per-thread scratch and each
 * k step's 8 floats from there to the panel, one 256-bit copy each. A pure copy: the packed values are bit-identical to the
 * scalar path's.
 *
 * <p>The permutes and the panel stores are two methods on purpose: one method doing both (with masked
 * stores) was more than C1 can allocate registers for ("out of virtual registers"), and HotSpot then
 * never compiled it with C2 either, leaving it in the Vector API's boxed fallback for the whole run.
 */
final class GemmTranspose {
    private static final VectorSpecies<Float> S = GemmKernels.S;
    /** Eight floats: one k step of a block. */
    private static final VectorSpecies<Float> HALF = FloatVector.SPECIES_256;
    /** Lanes per vector: the only width this transpose is written for. */
    static final int LANES = 16;
    /** Rows per block. */
    static final int ROWS = 8;
    /** Permutation indices of each round: round r pairs rows i and i + 2^r, taking blocks of 2^r lanes. */
    private static final FloatVector[] LOW = new FloatVector[3];
    private static final FloatVector[] HIGH = new FloatVector[3];
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[ROWS * LANES]);

    static {
        if (S.length() == LANES) {
            for (int round = 0, span = 1; round < 3; round++, span *= 2) {
                float[] low = new float[LANES];
                float[] high = new float[LANES];
                for (int block = 0; block < LANES; block += 2 * span) {
                    for (int j = 0; j < span; j++) {
                        // indices >= 16 select from the second vector of the pair
                        low[block + j] = block + j;
                        low[block + span + j] = LANES + block + j;
                        high[block + j] = block + span + j;
                        high[block + span + j] = LANES + block + span + j;
                    }
                }
                LOW[round] = FloatVector.fromArray(S, low, 0);
                HIGH[round] = FloatVector.fromArray(S, high, 0);
            }
        }
    }

    private GemmTranspose() {
    }

    /** True where the kernels' vectors are 16 floats wide (AVX-512), the width this class handles. */
    static boolean applies() {
        return S.length() == LANES;
    }

    /**
     * {@code dst[o + k*width + w] = src[base + w*ls + k]} for {@code w < valid}, {@code k < kc}: blocks
     * of 8 rows x 16 k steps transposed in registers, the remaining rows and steps copied one by one.
     * Lanes past {@code valid} are left as they are (the caller zeroes them).
     */
    static void pack(float[] src, int base, int ls, int valid, int width, int kc, float[] dst, int o) {
        float[] t = SCRATCH.get();
        int kBlocks = kc & -LANES;
        int rowBlocks = valid & -ROWS;
        for (int w0 = 0; w0 < rowBlocks; w0 += ROWS) {
            int s = base + w0 * ls;
            for (int k0 = 0; k0 < kBlocks; k0 += LANES) {
                transpose(src, s + k0, ls, t);
                int d = o + k0 * width + w0;
                for (int k = 0; k < LANES; k++) {
                    FloatVector.fromArray(HALF, t, (k & (ROWS - 1)) * LANES + (k & ROWS)).intoArray(dst, d + k * width);
                }
            }
        }
        for (int w = 0; w < valid; w++) {
            int from = w < rowBlocks ? kBlocks : 0;
            for (int k = from; k < kc; k++) {
                dst[o + k * width + w] = src[base + w * ls + k];
            }
        }
    }

    /** 8 rows from {@code s} ({@code ls} apart), 16 steps each, transposed into {@code t} as described above. */
    private static void transpose(float[] src, int s, int ls, float[] t) {
        FloatVector r0 = FloatVector.fromArray(S, src, s);
        FloatVector r1 = FloatVector.fromArray(S, src, s + 1 * ls);
        FloatVector r2 = FloatVector.fromArray(S, src, s + 2 * ls);
        FloatVector r3 = FloatVector.fromArray(S, src, s + 3 * ls);
        FloatVector r4 = FloatVector.fromArray(S, src, s + 4 * ls);
        FloatVector r5 = FloatVector.fromArray(S, src, s + 5 * ls);
        FloatVector r6 = FloatVector.fromArray(S, src, s + 6 * ls);
        FloatVector r7 = FloatVector.fromArray(S, src, s + 7 * ls);
        FloatVector lo0 = LOW[0];
        FloatVector hi0 = HIGH[0];
        FloatVector a0 = lo0.selectFrom(r0, r1);
        FloatVector a1 = hi0.selectFrom(r0, r1);
        FloatVector a2 = lo0.selectFrom(r2, r3);
        FloatVector a3 = hi0.selectFrom(r2, r3);
        FloatVector a4 = lo0.selectFrom(r4, r5);
        FloatVector a5 = hi0.selectFrom(r4, r5);
        FloatVector a6 = lo0.selectFrom(r6, r7);
        FloatVector a7 = hi0.selectFrom(r6, r7);
        FloatVector lo1 = LOW[1];
        FloatVector hi1 = HIGH[1];
        FloatVector b0 = lo1.selectFrom(a0, a2);
        FloatVector b2 = hi1.selectFrom(a0, a2);
        FloatVector b1 = lo1.selectFrom(a1, a3);
        FloatVector b3 = hi1.selectFrom(a1, a3);
        FloatVector b4 = lo1.selectFrom(a4, a6);
        FloatVector b6 = hi1.selectFrom(a4, a6);
        FloatVector b5 = lo1.selectFrom(a5, a7);
        FloatVector b7 = hi1.selectFrom(a5, a7);
        FloatVector lo2 = LOW[2];
        FloatVector hi2 = HIGH[2];
        FloatVector c0 = lo2.selectFrom(b0, b4);
        FloatVector c4 = hi2.selectFrom(b0, b4);
        FloatVector c1 = lo2.selectFrom(b1, b5);
        FloatVector c5 = hi2.selectFrom(b1, b5);
        FloatVector c2 = lo2.selectFrom(b2, b6);
        FloatVector c6 = hi2.selectFrom(b2, b6);
        FloatVector c3 = lo2.selectFrom(b3, b7);
        FloatVector c7 = hi2.selectFrom(b3, b7);
        c0.intoArray(t, 0);
        c1.intoArray(t, 16);
        c2.intoArray(t, 32);
        c3.intoArray(t, 48);
        c4.intoArray(t, 64);
        c5.intoArray(t, 80);
        c6.intoArray(t, 96);
        c7.intoArray(t, 112);
    }
}
