package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * GEMMs with a handful of rows ({@code M <= 4}: one token at a time in generation, a few rows in
 * tests), F32 operands read where they lie. Packing B would cost as much as the whole product (each
 * element of B is used at most four times), so these read B once, in its own layout:
 *
 * <ul>
 *   <li>b with unit stride along N (a [K,N] matrix as stored): rows of C are {@code sum_k a[i,k] * b[k,:]},
 *       vectors along N, each element the same k-ordered chain of fused multiply-adds as the tiles;</li>
 *   <li>b with unit stride along K (a transposed weight, {@code x @ W^T}): each element is a dot product
 *       of two contiguous rows, summed in vector lanes and then across them.</li>
 * </ul>
 *
 * Threads split the columns of C; every element is computed by one thread in one fixed order, so the
 * result does not depend on the thread count.
 */
final class GemmSkinny {
    /** Most rows of A this path takes. */
    static final int MAX_ROWS = 4;

    private static final VectorSpecies<Float> S = GemmKernels.S;
    private static final int L = GemmKernels.L;
    /** Columns per task when splitting over threads: whole vectors, and enough work per wake-up. */
    private static final int COLUMN_GRAIN = 16 * GemmKernels.NR;

    private GemmSkinny() {
    }

    /** True if the product (after batch folding) is one this path computes. */
    static boolean applies(Gemm.Operand a, Gemm.Operand b, int batch, int m) {
        return batch == 1 && m <= MAX_ROWS && a.f32() != null && b.f32() != null && a.colStride() == 1
                && (b.colStride() == 1 || b.rowStride() == 1);
    }

    static void run(Parallel parallel, boolean parallelise, Gemm.Operand a, Gemm.Operand b, Gemm.Operand c,
                    int m, int n, int k, float alpha, float beta) {
        Parallel.RangeTask body = b.colStride() == 1
                ? (j0, j1) -> alongN(a, b, c, m, k, j0, j1, alpha, beta)
                : (j0, j1) -> dots(a, b, c, m, k, j0, j1, alpha, beta);
        if (parallelise) {
            parallel.forRange(n, COLUMN_GRAIN, body);
        } else {
            body.run(0, n);
        }
    }

    /** Columns {@code j0..j1-1} of C for b stored [K, N]: four vectors of columns at a time, then one. */
    private static void alongN(Gemm.Operand a, Gemm.Operand b, Gemm.Operand c, int m, int k, int j0, int j1,
                               float alpha, float beta) {
        float[] av = a.f32();
        float[] bv = b.f32();
        int ldb = b.rowStride();
        float[] out = new float[4 * L];
        for (int i = 0; i < m; i++) {
            int ai = a.offset() + i * a.rowStride();
            int j = j0;
            for (; j + 4 * L <= j1; j += 4 * L) {
                FloatVector s0 = FloatVector.zero(S);
                FloatVector s1 = FloatVector.zero(S);
                FloatVector s2 = FloatVector.zero(S);
                FloatVector s3 = FloatVector.zero(S);
                int pb = b.offset() + j;
                for (int p = 0; p < k; p++, pb += ldb) {
                    FloatVector x = FloatVector.broadcast(S, av[ai + p]);
                    s0 = x.fma(FloatVector.fromArray(S, bv, pb), s0);
                    s1 = x.fma(FloatVector.fromArray(S, bv, pb + L), s1);
                    s2 = x.fma(FloatVector.fromArray(S, bv, pb + 2 * L), s2);
                    s3 = x.fma(FloatVector.fromArray(S, bv, pb + 3 * L), s3);
                }
                s0.intoArray(out, 0);
                s1.intoArray(out, L);
                s2.intoArray(out, 2 * L);
                s3.intoArray(out, 3 * L);
                store(c, i, j, out, 4 * L, alpha, beta);
            }
            for (; j < j1; j += L) {
                int cols = Math.min(L, j1 - j);
                FloatVector s0 = FloatVector.zero(S);
                int pb = b.offset() + j;
                VectorMask<Float> mask = S.indexInRange(0, cols);
                for (int p = 0; p < k; p++, pb += ldb) {
                    s0 = FloatVector.broadcast(S, av[ai + p]).fma(FloatVector.fromArray(S, bv, pb, mask), s0);
                }
                s0.intoArray(out, 0);
                store(c, i, j, out, cols, alpha, beta);
            }
        }
    }

    /** Columns {@code j0..j1-1} of C for b with unit stride along K: one dot product per element. */
    private static void dots(Gemm.Operand a, Gemm.Operand b, Gemm.Operand c, int m, int k, int j0, int j1,
                             float alpha, float beta) {
        float[] av = a.f32();
        float[] bv = b.f32();
        float[] out = new float[1];
        float[] lanes = new float[L];
        int kv = k - k % (2 * L);
        for (int j = j0; j < j1; j++) {
            int bj = b.offset() + j * b.colStride();
            for (int i = 0; i < m; i++) {
                int ai = a.offset() + i * a.rowStride();
                FloatVector s0 = FloatVector.zero(S);
                FloatVector s1 = FloatVector.zero(S);
                for (int p = 0; p < kv; p += 2 * L) {
                    s0 = FloatVector.fromArray(S, av, ai + p).fma(FloatVector.fromArray(S, bv, bj + p), s0);
                    s1 = FloatVector.fromArray(S, av, ai + p + L).fma(FloatVector.fromArray(S, bv, bj + p + L), s1);
                }
                // reduceLanes(ADD) may sum in any order (and does differ between the JIT and the
                // interpreter): sum the lanes in a fixed order so results never change
                s0.add(s1).intoArray(lanes, 0);
                float acc = 0f;
                for (int q = 0; q < L; q++) {
                    acc += lanes[q];
                }
                for (int p = kv; p < k; p++) {
                    acc = Math.fma(av[ai + p], bv[bj + p], acc);
                }
                out[0] = acc;
                store(c, i, j, out, 1, alpha, beta);
            }
        }
    }

    /** {@code c[i, j..j+cols-1] = alpha * acc + beta * c}, c not read when beta is 0; rounded to c's dtype. */
    private static void store(Gemm.Operand c, int i, int j, float[] acc, int cols, float alpha, float beta) {
        int base = c.offset() + i * c.rowStride() + j * c.colStride();
        for (int q = 0; q < cols; q++) {
            int pos = base + q * c.colStride();
            float v = alpha * acc[q];
            if (beta != 0f) {
                v = Math.fma(beta, c.get(pos), v);
            }
            c.set(pos, v);
        }
    }
}
