package org.internlmj.tensor.cuda;

import java.util.Arrays;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * The row loop of a row kernel (softmax, norms): tensors {@code [..., H]} with a contiguous last
 * dimension are rows of H elements; the leading dimensions, whatever their strides, become one
 * coalesced {@link CudaIter} with a layout per operand, so a kernel finds row r of each operand with
 * one {@code offset_of}.
 */
final class CudaRows {
    private CudaRows() {
    }

    /** Rows x H of {@code ref}, checking that every tensor has its shape and a unit last stride. */
    static int[] check(String op, Tensor ref, Tensor... others) {
        int[] nh = OpChecks.rows(op, ref);
        for (Tensor t : others) {
            if (t == null) {
                continue;
            }
            if (!Arrays.equals(t.shape(), ref.shape())) {
                throw new IllegalArgumentException(op + ": " + t + " must have the shape of " + ref);
            }
            OpChecks.rows(op, t);
        }
        return nh;
    }

    /** The loop over the leading dimensions of same-shaped row tensors (H must be at least 1). */
    static CudaIter of(Tensor... ts) {
        int[] shape = ts[0].shape();
        int[] lead = Arrays.copyOf(shape, shape.length - 1);
        Tensor[] firstColumn = new Tensor[ts.length];
        for (int i = 0; i < ts.length; i++) {
            firstColumn[i] = ts[i].select(ts[i].rank() - 1, 0);
        }
        return CudaIter.of(lead, firstColumn);
    }

    /** Threads per block for rows of {@code h} elements: about four elements per thread, 32 to 512. */
    static int block(int h) {
        int want = Integer.highestOneBit(Math.max(1, h / 4) * 2 - 1);
        return Math.max(32, Math.min(512, want));
    }

    /** Grid for a loop over {@code rows} rows, one block per row up to the grid limit. */
    static int grid(int rows) {
        return Math.max(1, Math.min(rows, 1 << 20));
    }
}
