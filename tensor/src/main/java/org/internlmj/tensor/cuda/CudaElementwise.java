package org.internlmj.tensor.cuda;

import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;

/**
 * {@code unary}, {@code binary} and {@code affine} on the device (elementwise.cu): inputs broadcast to
 * the output's shape, any layout, computed in fp32 and rounded to the output's dtype.
 */
final class CudaElementwise {
    private static final int BLOCK = 256;

    private CudaElementwise() {
    }

    static void unary(CudaBackend b, UnaryOp op, Tensor x, Tensor out) {
        String name = op.name();
        b.checkDevice(name, x, out);
        b.checkCompute(name, x, out);
        OpChecks.broadcastsTo(name, x, out);
        if (out.numel() == 0) {
            return;
        }
        CudaIter it = CudaIter.of(out.shape(), x, out);
        KernelArgs a = KernelArgs.begin().i32(op.ordinal()).operand(b.base(x), b.code(x), it, 0);
        a.operand(b.base(out), b.code(out), it, 1);
        it.writeShape(a);
        a.i32(it.numel());
        CudaKernels k = b.kernels();
        k.launch(k.get("elementwise", "unary_map"), k.gridFor(it.numel(), BLOCK), 1, BLOCK, 0, a);
    }

    static void binary(CudaBackend b, BinaryOp op, Tensor x, Tensor y, Tensor out) {
        String name = op.name();
        b.checkDevice(name, x, y, out);
        b.checkCompute(name, x, y, out);
        OpChecks.broadcastsTo(name, x, out);
        OpChecks.broadcastsTo(name, y, out);
        if (out.numel() == 0) {
            return;
        }
        CudaIter it = CudaIter.of(out.shape(), x, y, out);
        KernelArgs a = KernelArgs.begin().i32(op.ordinal()).operand(b.base(x), b.code(x), it, 0);
        a.operand(b.base(y), b.code(y), it, 1);
        a.operand(b.base(out), b.code(out), it, 2);
        it.writeShape(a);
        a.i32(it.numel());
        CudaKernels k = b.kernels();
        k.launch(k.get("elementwise", "binary_map"), k.gridFor(it.numel(), BLOCK), 1, BLOCK, 0, a);
    }

    static void affine(CudaBackend b, Tensor x, double scale, double shift, Tensor out) {
        b.checkDevice("affine", x, out);
        b.checkCompute("affine", x, out);
        OpChecks.broadcastsTo("affine", x, out);
        if (out.numel() == 0) {
            return;
        }
        CudaIter it = CudaIter.of(out.shape(), x, out);
        KernelArgs a = KernelArgs.begin().operand(b.base(x), b.code(x), it, 0);
        a.operand(b.base(out), b.code(out), it, 1);
        it.writeShape(a);
        a.i32(it.numel()).f32((float) scale).f32((float) shift);
        CudaKernels k = b.kernels();
        k.launch(k.get("elementwise", "affine_map"), k.gridFor(it.numel(), BLOCK), 1, BLOCK, 0, a);
    }
}
