package org.internlmj.tensor.cuda;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * The loop a strided kernel runs: a shape and, per operand, its strides over that shape (0 where the
 * operand is broadcast), with size-1 dimensions dropped and neighbouring dimensions merged wherever every
 * operand walks them as one (so a contiguous tensor becomes a single dimension). Kernels see it as the
 * {@code Shape} and {@code Layout} structs of {@code common.cuh}, at most {@link #MAX_DIMS} dimensions.
 *
 * <pre>{@code
 * CudaIter it = CudaIter.of(out.shape(), out, x);   // x broadcast to out's shape
 * }</pre>
 */
final class CudaIter {
    /** {@code MAX_DIMS} of common.cuh. */
    static final int MAX_DIMS = 8;
    /** Bytes of the {@code Shape} and of the {@code Layout} struct: an int and MAX_DIMS ints. */
    static final int STRUCT_BYTES = 4 * (1 + MAX_DIMS);

    private final int[] shape;
    private final int[][] strides;
    private final int[] offsets;
    private final int numel;

    private CudaIter(int[] shape, int[][] strides, int[] offsets, int numel) {
        this.shape = shape;
        this.strides = strides;
        this.offsets = offsets;
        this.numel = numel;
    }

    /** The loop over {@code shape} for operands broadcast to it (each must broadcast; checked by callers). */
    static CudaIter of(int[] shape, Tensor... operands) {
        int rank = shape.length;
        int[][] full = new int[operands.length][];
        int[] offsets = new int[operands.length];
        for (int o = 0; o < operands.length; o++) {
            Tensor t = operands[o];
            full[o] = broadcastStrides(t, shape);
            offsets[o] = t.offset();
        }
        List<Integer> dims = new ArrayList<>();
        for (int d = 0; d < rank; d++) {
            if (shape[d] != 1) {
                dims.add(d);
            }
        }
        List<int[]> merged = new ArrayList<>();   // {size, stride per operand...}
        for (int d : dims) {
            int[] cur = new int[1 + operands.length];
            cur[0] = shape[d];
            for (int o = 0; o < operands.length; o++) {
                cur[1 + o] = full[o][d];
            }
            if (!merged.isEmpty()) {
                int[] prev = merged.getLast();
                boolean mergeable = true;
                for (int o = 0; o < operands.length && mergeable; o++) {
                    mergeable = (long) prev[1 + o] == (long) cur[1 + o] * cur[0];
                }
                if (mergeable) {
                    prev[0] = Math.multiplyExact(prev[0], cur[0]);
                    for (int o = 0; o < operands.length; o++) {
                        prev[1 + o] = cur[1 + o];
                    }
                    continue;
                }
            }
            merged.add(cur);
        }
        if (merged.isEmpty()) {
            int[] one = new int[1 + operands.length];
            one[0] = 1;
            merged.add(one);
        }
        if (merged.size() > MAX_DIMS) {
            throw new IllegalArgumentException("the CUDA backend loops over at most " + MAX_DIMS
                    + " dimensions that cannot be merged; shape " + Shapes.str(shape) + " needs " + merged.size()
                    + ": make an operand contiguous first");
        }
        int r = merged.size();
        int[] s = new int[r];
        int[][] st = new int[operands.length][r];
        for (int i = 0; i < r; i++) {
            s[i] = merged.get(i)[0];
            for (int o = 0; o < operands.length; o++) {
                st[o][i] = merged.get(i)[1 + o];
            }
        }
        return new CudaIter(s, st, offsets, Shapes.numel(shape));
    }

    /** Strides of {@code t} seen at {@code shape} (NumPy broadcasting: missing or size-1 dimensions step 0). */
    static int[] broadcastStrides(Tensor t, int[] shape) {
        int rank = shape.length;
        int lead = rank - t.rank();
        if (lead < 0) {
            throw new IllegalArgumentException("operand " + t + " has more dimensions than the loop shape "
                    + Shapes.str(shape));
        }
        int[] out = new int[rank];
        for (int d = 0; d < t.rank(); d++) {
            int size = t.size(d);
            if (size == shape[lead + d]) {
                out[lead + d] = size == 1 ? 0 : t.stride(d);
            } else if (size == 1) {
                out[lead + d] = 0;
            } else {
                throw new IllegalArgumentException("operand " + t + " does not broadcast to " + Shapes.str(shape));
            }
        }
        return out;
    }

    /** Elements the loop visits. */
    int numel() {
        return numel;
    }

    int rank() {
        return shape.length;
    }

    int size(int d) {
        return shape[d];
    }

    int stride(int operand, int d) {
        return strides[operand][d];
    }

    /** True if operand {@code o} is visited in storage order without gaps (one dimension, stride 1). */
    boolean contiguous(int o) {
        return shape.length == 1 && (strides[o][0] == 1 || shape[0] == 1);
    }

    /** Writes the {@code Shape} struct. */
    void writeShape(KernelArgs args) {
        int[] v = new int[1 + MAX_DIMS];
        v[0] = shape.length;
        System.arraycopy(shape, 0, v, 1, shape.length);
        args.struct(v);
    }

    /** Writes operand {@code o}'s {@code Layout} struct. */
    void writeLayout(KernelArgs args, int o) {
        int[] v = new int[1 + MAX_DIMS];
        v[0] = offsets[o];
        System.arraycopy(strides[o], 0, v, 1, strides[o].length);
        args.struct(v);
    }
}
