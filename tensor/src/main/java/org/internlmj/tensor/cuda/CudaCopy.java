package org.internlmj.tensor.cuda;

import org.internlmj.ffm.cuda.Cuda;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * {@code fill} and {@code copy} on the device, for every dtype and layout (copy.cu). A same-dtype copy
 * between contiguous tensors is a {@code cuMemcpyDtoDAsync}; other same-dtype copies move the bits
 * unchanged; a converting copy goes through double with the CPU backend's exact conversions.
 */
final class CudaCopy {
    private static final int BLOCK = 256;

    private CudaCopy() {
    }

    static void fill(CudaBackend b, Tensor out, double value) {
        b.checkDevice("fill", out);
        if (out.numel() == 0) {
            return;
        }
        CudaIter it = CudaIter.of(out.shape(), out);
        KernelArgs a = KernelArgs.begin().operand(b.base(out), b.code(out), it, 0);
        it.writeShape(a);
        a.i32(it.numel()).f64(value);
        CudaKernels k = b.kernels();
        k.launch(k.get("copy", "fill_strided"), k.gridFor(it.numel(), BLOCK), 1, BLOCK, 0, a);
    }

    static void copy(CudaBackend b, Tensor src, Tensor dst) {
        b.checkDevice("copy", src, dst);
        OpChecks.broadcastsTo("copy", src, dst);
        if (dst.numel() == 0) {
            return;
        }
        boolean same = src.dtype() == dst.dtype();
        if (same && src.isContiguous() && dst.isContiguous() && src.sameShape(dst)) {
            if (b.context().isSimulated()) {
                return;
            }
            b.context().makeCurrent();
            long bytes = (long) dst.numel() * dst.dtype().byteSize();
            Cuda.check(Cuda.cuMemcpyDtoDAsync_v2(CudaStorage.address(dst), CudaStorage.address(src), bytes,
                    b.context().computeStream().handle()), "cuMemcpyDtoDAsync_v2", bytes + " bytes");
            return;
        }
        CudaIter it = CudaIter.of(dst.shape(), src, dst);
        CudaKernels k = b.kernels();
        KernelArgs a = KernelArgs.begin();
        if (same) {
            a.pointer(b.base(src));
            it.writeLayout(a, 0);
            a.pointer(b.base(dst));
            it.writeLayout(a, 1);
            it.writeShape(a);
            a.i32(it.numel()).i32(dst.dtype().byteSize());
            k.launch(k.get("copy", "copy_raw"), k.gridFor(it.numel(), BLOCK), 1, BLOCK, 0, a);
        } else {
            a.operand(b.base(src), b.code(src), it, 0);
            a.operand(b.base(dst), b.code(dst), it, 1);
            it.writeShape(a);
            a.i32(it.numel());
            k.launch(k.get("copy", "copy_convert"), k.gridFor(it.numel(), BLOCK), 1, BLOCK, 0, a);
        }
    }
}
