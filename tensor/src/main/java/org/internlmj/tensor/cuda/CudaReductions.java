package org.internlmj.tensor.cuda;

import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * {@code reduce} and {@code sumOfSquares} on the device (reduce.cu). A reduction whose elements are
 * adjacent in memory (unit stride along the reduced dimension) gives each output a block; any other runs
 * 32 adjacent outputs per block with the reduced dimension split across 8 thread rows, which keeps the
 * loads of a column sum coalesced. The sum of squares adds fixed-grid partials in a fixed order.
 */
final class CudaReductions {
    private static final int RUN_BLOCK = 256;
    /** Blocks of the sum-of-squares grid at most: also the partials the final pass adds. */
    private static final int SQUARES_BLOCKS = 1024;

    private CudaReductions() {
    }

    static void reduce(CudaBackend b, ReduceOp op, Tensor x, int dim, Tensor out) {
        int d = Shapes.dim(dim, x.rank());
        int[] outShape = x.shape();
        outShape[d] = 1;
        b.checkDevice("reduce", x, out);
        OpChecks.shape("reduce", "out", out, outShape);
        b.checkCompute("reduce", x, out);
        if (out.numel() == 0) {
            return;
        }
        int len = x.size(d);
        long rstride = x.stride(d);
        // x seen at the output's shape with the reduced dimension pinned to index 0; an empty reduction
        // reads nothing, so out stands in for it.
        Tensor xAtOut = len == 0 ? out : x.narrow(d, 0, 1);
        CudaIter it = CudaIter.of(outShape, xAtOut, out);
        KernelArgs a = KernelArgs.begin().i32(op.ordinal()).operand(b.base(xAtOut), b.code(xAtOut), it, 0);
        a.i64(rstride).i32(len).operand(b.base(out), b.code(out), it, 1);
        it.writeShape(a);
        a.i32(it.numel());
        CudaKernels k = b.kernels();
        if (rstride == 1 || it.numel() < 64) {
            int grid = Math.min(it.numel(), 65535 * 4);
            k.launch(k.get("reduce", "reduce_runs"), grid, 1, 1, RUN_BLOCK, 1, 1, 0, a);
        } else {
            k.launch(k.get("reduce", "reduce_columns"), (it.numel() + 31) / 32, 1, 1, 32, 8, 1, 0, a);
        }
    }

    static double sumOfSquares(CudaBackend b, Tensor x) {
        b.checkDevice("sumOfSquares", x);
        b.checkCompute("sumOfSquares", x);
        if (x.numel() == 0) {
            return 0.0;
        }
        CudaIter it = CudaIter.of(x.shape(), x);
        CudaKernels k = b.kernels();
        int grid = Math.min(SQUARES_BLOCKS, (it.numel() + 255) / 256);
        try (DeviceBuffer partials = new DeviceBuffer(b.context(), 8L * grid, "sumOfSquares partials");
             DeviceBuffer result = new DeviceBuffer(b.context(), 8, "sumOfSquares result")) {
            KernelArgs a = KernelArgs.begin().operand(b.base(x), b.code(x), it, 0);
            it.writeShape(a);
            a.i32(it.numel()).pointer(partials.pointer());
            k.launch(k.get("reduce", "sumsq_partial"), grid, 1, 256, 0, a);
            KernelArgs f = KernelArgs.begin().pointer(partials.pointer()).i32(grid).pointer(result.pointer());
            k.launch(k.get("reduce", "sumsq_final"), 1, 1, 1024, 0, f);
            double v = b.transfer().readDouble(result.pointer());
            b.errors().check();
            return v;
        }
    }
}
