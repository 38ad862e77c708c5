package org.internlmj.tensor.cuda;

import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/** Rotary position embedding (rotate-half form) and its inverse on the device (rotary.cu). */
final class CudaRotary {
    private CudaRotary() {
    }

    static void rotary(CudaBackend b, Tensor x, Tensor positions, double base, boolean inverse, Tensor out) {
        String op = "rotary";
        b.checkDevice(op, x, positions, out);
        if (x.rank() != 3 || x.size(2) % 2 != 0) {
            throw new IllegalArgumentException("rotary expects x [T, H, D] with even D, got " + Shapes.str(x.shape()));
        }
        OpChecks.sameShape(op, x, "x", out, "out");
        OpChecks.rows(op, x);
        OpChecks.rows(op, out);
        b.checkCompute(op, x, out);
        if (!(base > 0) || Double.isInfinite(base)) {
            throw new IllegalArgumentException("rotary base must be a positive finite number, got " + base);
        }
        int t = x.size(0);
        int heads = x.size(1);
        int d = x.size(2);
        OpChecks.indices(op, "positions", positions, t);
        if (t == 0 || heads == 0 || d == 0) {
            return;
        }
        KernelArgs a = KernelArgs.begin().pointer(b.base(x)).i32(b.code(x)).i64(x.stride(0)).i64(x.stride(1))
                .i64(x.offset()).pointer(b.base(out)).i32(b.code(out)).i64(out.stride(0)).i64(out.stride(1))
                .i64(out.offset()).pointer(b.base(positions)).i32(b.code(positions)).i64(positions.stride(0))
                .i64(positions.offset()).i32(t).i32(heads).i32(d).f64(base).i32(inverse ? 1 : 0)
                .pointer(b.errors().address());
        int block = Math.max(32, Math.min(256, Integer.highestOneBit(Math.max(1, d / 2) * 2 - 1)));
        CudaKernels k = b.kernels();
        k.launch(k.get("rotary", "rotary"), CudaRows.grid(t), 1, block, 0, a);
    }
}
