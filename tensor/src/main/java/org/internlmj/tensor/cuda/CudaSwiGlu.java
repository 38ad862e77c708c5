package org.internlmj.tensor.cuda;

import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/** SwiGLU forward and backward on the device (swiglu.cu), any layout. */
final class CudaSwiGlu {
    private static final int BLOCK = 256;

    private CudaSwiGlu() {
    }

    static void swiglu(CudaBackend b, Tensor gate, Tensor up, Tensor out) {
        String op = "swiglu";
        b.checkDevice(op, gate, up, out);
        b.checkCompute(op, gate, up, out);
        OpChecks.sameShape(op, gate, "gate", up, "up");
        OpChecks.sameShape(op, gate, "gate", out, "out");
        if (out.numel() == 0) {
            return;
        }
        CudaIter it = CudaIter.of(out.shape(), gate, up, out);
        KernelArgs a = KernelArgs.begin().operand(b.base(gate), b.code(gate), it, 0);
        a.operand(b.base(up), b.code(up), it, 1);
        a.operand(b.base(out), b.code(out), it, 2);
        it.writeShape(a);
        a.i32(it.numel());
        CudaKernels k = b.kernels();
        k.launch(k.get("swiglu", "swiglu_fwd"), k.gridFor(it.numel(), BLOCK), 1, BLOCK, 0, a);
    }

    static void swigluBackward(CudaBackend b, Tensor gate, Tensor up, Tensor dout, Tensor dgate, Tensor dup) {
        String op = "swigluBackward";
        b.checkDevice(op, gate, up, dout, dgate, dup);
        b.checkCompute(op, gate, up, dout, dgate, dup);
        OpChecks.sameShape(op, gate, "gate", up, "up");
        OpChecks.sameShape(op, gate, "gate", dout, "dout");
        OpChecks.sameShape(op, gate, "gate", dgate, "dgate");
        OpChecks.sameShape(op, gate, "gate", dup, "dup");
        if (gate.numel() == 0) {
            return;
        }
        CudaIter it = CudaIter.of(gate.shape(), gate, up, dout, dgate, dup);
        Tensor[] ops = {gate, up, dout, dgate, dup};
        KernelArgs a = KernelArgs.begin();
        for (int i = 0; i < ops.length; i++) {
            a.operand(b.base(ops[i]), b.code(ops[i]), it, i);
        }
        it.writeShape(a);
        a.i32(it.numel());
        CudaKernels k = b.kernels();
        k.launch(k.get("swiglu", "swiglu_bwd"), k.gridFor(it.numel(), BLOCK), 1, BLOCK, 0, a);
    }
}
