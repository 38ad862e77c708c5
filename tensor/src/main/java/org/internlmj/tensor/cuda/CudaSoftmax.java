package org.internlmj.tensor.cuda;

import org.internlmj.tensor.Tensor;

/** Softmax and log-softmax along the last dimension and their backward on the device (softmax.cu). */
final class CudaSoftmax {
    private CudaSoftmax() {
    }

    static void softmax(CudaBackend b, Tensor x, Tensor out, boolean log) {
        String op = log ? "logSoftmax" : "softmax";
        b.checkDevice(op, x, out);
        b.checkCompute(op, x, out);
        int[] nh = CudaRows.check(op, x, out);
        if (nh[0] == 0 || nh[1] == 0) {
            return;
        }
        CudaIter rows = CudaRows.of(x, out);
        KernelArgs a = KernelArgs.begin().operand(b.base(x), b.code(x), rows, 0);
        a.operand(b.base(out), b.code(out), rows, 1);
        rows.writeShape(a);
        a.i32(nh[0]).i32(nh[1]).i32(log ? 1 : 0);
        CudaKernels k = b.kernels();
        k.launch(k.get("softmax", "softmax_fwd"), CudaRows.grid(nh[0]), 1, CudaRows.block(nh[1]), 0, a);
    }

    static void softmaxBackward(CudaBackend b, Tensor y, Tensor dy, Tensor dx, boolean log) {
        String op = "softmaxBackward";
        b.checkDevice(op, y, dy, dx);
        b.checkCompute(op, y, dy, dx);
        int[] nh = CudaRows.check(op, y, dy, dx);
        if (nh[0] == 0 || nh[1] == 0) {
            return;
        }
        CudaIter rows = CudaRows.of(y, dy, dx);
        KernelArgs a = KernelArgs.begin().operand(b.base(y), b.code(y), rows, 0);
        a.operand(b.base(dy), b.code(dy), rows, 1);
        a.operand(b.base(dx), b.code(dx), rows, 2);
        rows.writeShape(a);
        a.i32(nh[0]).i32(nh[1]).i32(log ? 1 : 0);
        CudaKernels k = b.kernels();
        k.launch(k.get("softmax", "softmax_bwd"), CudaRows.grid(nh[0]), 1, CudaRows.block(nh[1]), 0, a);
    }
}
