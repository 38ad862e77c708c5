package org.internlmj.tensor.cpu;

import org.internlmj.tensor.Tensor;

/**
 * The loop nest of an elementwise operation over one shape and up to three operands of that shape
 * (broadcast inputs already expanded, so their repeated dimensions have stride 0), reduced to as few
 * dimensions as the strides allow: size-1 dimensions are dropped and neighbours that are contiguous
 * in every operand merge. Contiguous tensors become one run; {@code [H]} broadcast over
 * {@code [N, H]} becomes N runs of H with a shared input run.
 *
 * <p>The iteration hands out <em>segments</em>: runs along the innermost remaining dimension, with
 * each operand's start offset; {@link #innerStride} says how each operand advances within a run
 * (1 for contiguous, 0 for broadcast, anything else for strided views).
 */
final class Strided {
    /** A run of {@code n} elements; offsets of operands 0, 1, 2 (0 for absent operands). */
    @FunctionalInterface
    interface Segment {
        void run(int off0, int off1, int off2, int n);
    }

    private final int[] shape;
    /** strides[k][d]: operand k's stride along merged dimension d. */
    private final int[][] strides;
    private final int[] offsets;
    private final int total;

    private Strided(int[] shape, int[][] strides, int[] offsets, int total) {
        this.shape = shape;
        this.strides = strides;
        this.offsets = offsets;
        this.total = total;
    }

    /** The loop nest over {@code operands}, which all have the same shape. */
    static Strided of(Tensor... operands) {
        int[] full = operands[0].shape();
        int rank = full.length;
        int[][] st = new int[operands.length][];
        int[] offs = new int[operands.length];
        for (int k = 0; k < operands.length; k++) {
            st[k] = operands[k].strides();
            offs[k] = operands[k].offset();
        }
        int total = 1;
        for (int d : full) {
            total *= d;
        }
        // Keep dimensions of size > 1, merging each into the previous kept one when every operand
        // steps over the inner one exactly as the outer one strides.
        int[] shape = new int[Math.max(rank, 1)];
        int[][] strides = new int[operands.length][Math.max(rank, 1)];
        int kept = 0;
        for (int d = 0; d < rank; d++) {
            if (full[d] == 1) {
                continue;
            }
            boolean merge = kept > 0;
            for (int k = 0; merge && k < operands.length; k++) {
                merge = strides[k][kept - 1] == st[k][d] * full[d];
            }
            if (merge) {
                shape[kept - 1] *= full[d];
                for (int k = 0; k < operands.length; k++) {
                    strides[k][kept - 1] = st[k][d];
                }
            } else {
                shape[kept] = full[d];
                for (int k = 0; k < operands.length; k++) {
                    strides[k][kept] = st[k][d];
                }
                kept++;
            }
        }
        if (kept == 0) {
            shape[0] = 1;
            kept = 1;
        }
        int[] s = java.util.Arrays.copyOf(shape, kept);
        int[][] t = new int[operands.length][];
        for (int k = 0; k < operands.length; k++) {
            t[k] = java.util.Arrays.copyOf(strides[k], kept);
        }
        return new Strided(s, t, offs, total);
    }

    /** Number of elements. */
    int total() {
        return total;
    }

    /** Number of merged dimensions (at least 1). */
    int rank() {
        return shape.length;
    }

    /** Size of merged dimension {@code d}. */
    int size(int d) {
        return shape[d];
    }

    /** Operand {@code k}'s stride along merged dimension {@code d}. */
    int stride(int k, int d) {
        return strides[k][d];
    }

    /** Length of the innermost merged dimension: the longest possible segment. */
    int inner() {
        return shape[shape.length - 1];
    }

    /** Operand {@code k}'s stride within a segment. */
    int innerStride(int k) {
        return strides[k][shape.length - 1];
    }

    /** Operand {@code k}'s offset of the first element. */
    int offset(int k) {
        return offsets[k];
    }

    /**
     * Calls {@code body} for the segments covering flat (row-major) elements {@code [start, end)}: a
     * segment ends at the end of an inner run or at {@code end}.
     */
    void segments(int start, int end, Segment body) {
        if (start >= end) {
            return;
        }
        int r = shape.length;
        int inner = shape[r - 1];
        int ops = offsets.length;
        int row = start / inner;
        int col = start % inner;
        int[] idx = new int[r];
        int b0 = offsets[0];
        int b1 = ops > 1 ? offsets[1] : 0;
        int b2 = ops > 2 ? offsets[2] : 0;
        for (int d = r - 2, rem = row; d >= 0; d--) {
            idx[d] = rem % shape[d];
            rem /= shape[d];
            b0 += idx[d] * strides[0][d];
            b1 += ops > 1 ? idx[d] * strides[1][d] : 0;
            b2 += ops > 2 ? idx[d] * strides[2][d] : 0;
        }
        int s0 = strides[0][r - 1];
        int s1 = ops > 1 ? strides[1][r - 1] : 0;
        int s2 = ops > 2 ? strides[2][r - 1] : 0;
        int left = end - start;
        while (true) {
            int n = Math.min(inner - col, left);
            body.run(b0 + col * s0, b1 + col * s1, b2 + col * s2, n);
            left -= n;
            if (left == 0) {
                return;
            }
            col = 0;
            for (int d = r - 2; d >= 0; d--) {
                b0 += strides[0][d];
                b1 += ops > 1 ? strides[1][d] : 0;
                b2 += ops > 2 ? strides[2][d] : 0;
                if (++idx[d] < shape[d]) {
                    break;
                }
                b0 -= strides[0][d] * shape[d];
                b1 -= ops > 1 ? strides[1][d] * shape[d] : 0;
                b2 -= ops > 2 ? strides[2][d] * shape[d] : 0;
                idx[d] = 0;
            }
        }
    }

    /**
     * Runs every segment, split over the pool in contiguous element ranges of at least {@code grain}
     * elements (elementwise work only: any split gives the same result).
     */
    void forEachSegment(Parallel parallel, int grain, Segment body) {
        if (total <= grain) {
            segments(0, total, body);
        } else {
            parallel.forRange(total, grain, (start, end) -> segments(start, end, body));
        }
    }
}
