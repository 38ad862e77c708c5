package org.internlmj.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuStorage;
import org.junit.jupiter.api.Test;

/** The coalesced loops kernels run visit every element of every operand at its right storage offset. */
class CudaIterTest {

    /** offset_of of common.cuh, in Java. */
    private static long offsetOf(CudaIter it, int operand, int offset, long linear) {
        long off = offset;
        for (int d = it.rank() - 1; d >= 0; d--) {
            long q = linear / it.size(d);
            long r = linear - q * it.size(d);
            off += r * it.stride(operand, d);
            linear = q;
        }
        return off;
    }

    private static void checkAgainstTensors(int[] shape, Tensor... ts) {
        CudaIter it = CudaIter.of(shape, ts);
        int[] idx = new int[shape.length];
        for (long i = 0; i < Shapes.numel(shape); i++) {
            for (int o = 0; o < ts.length; o++) {
                Tensor e = ts[o].expand(shape);
                assertEquals(e.elementOffset(idx), offsetOf(it, o, ts[o].offset(), i),
                        "operand " + o + " at " + Shapes.str(idx) + " of " + Shapes.str(shape));
            }
            for (int d = shape.length - 1; d >= 0; d--) {
                if (++idx[d] < shape[d]) {
                    break;
                }
                idx[d] = 0;
            }
        }
    }

    private static Tensor cpu(int... shape) {
        return Tensor.view(CpuStorage.allocate(DType.F32, Math.max(1, Shapes.numel(shape)) + 64), shape,
                Shapes.contiguousStrides(shape), 0);
    }

    @Test
    void contiguousTensorsBecomeOneDimension() {
        CudaIter it = CudaIter.of(new int[] {4, 5, 6}, cpu(4, 5, 6), cpu(4, 5, 6));
        assertEquals(1, it.rank());
        assertTrue(it.contiguous(0) && it.contiguous(1));
    }

    @Test
    void viewsBroadcastsAndPermutationsKeepTheirOffsets() {
        Random r = new Random(3);
        for (int trial = 0; trial < 30; trial++) {
            int[] shape = {1 + r.nextInt(4), 1 + r.nextInt(5), 1 + r.nextInt(6)};
            Tensor out = cpu(shape);
            Tensor permuted = cpu(shape[2], shape[0], shape[1]).permute(1, 2, 0);
            Tensor row = cpu(shape[2]);
            Tensor col = cpu(shape[0], 1, 1);
            Tensor narrowed = cpu(shape[0], shape[1] + 2, shape[2]).narrow(1, 1, shape[1]);
            checkAgainstTensors(shape, out, permuted, row, col, narrowed);
        }
    }

    @Test
    void tooManyUnmergeableDimensionsIsAClearError() {
        int[] shape = {2, 2, 2, 2, 2, 2, 2, 2, 2};
        Tensor t = cpu(shape).permute(8, 7, 6, 5, 4, 3, 2, 1, 0);
        Tensor u = cpu(shape);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> CudaIter.of(shape, t, u));
        assertTrue(e.getMessage().contains("at most 8 dimensions"), e.getMessage());
    }
}
