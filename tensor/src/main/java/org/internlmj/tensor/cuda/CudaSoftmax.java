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
        KernelArgs a = KernelArgs.begin().pointer(b.base(x)).i32(b.code(x));
        rows.writeLayout(a, 0);
        a.pointer(b.base(out)).i32(b.code(out));
        rows.writeLayout(a, 1);
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
        KernelArgs a = KernelArgs.begin().pointer(b.base(y)).i32(b.code(y));
        rows.writeLayout(a, 0);
        a.pointer(b.base(dy)).i32(b.code(dy));
        rows.writeLayout(a, 1);
        a.pointer(b.base(dx)).i32(b.code(dx));
        rows.writeLayout(a, 2);
        rows.writeShape(a);
        a.i32(nh[0]).i32(nh[1]).i32(log ? 1 : 0);
        CudaKernels k = b.kernels();
        k.launch(k.get("softmax", "softmax_bwd"), CudaRows.grid(nh[0]), 1, CudaRows.block(nh[1]), 0, a);
    }
}
