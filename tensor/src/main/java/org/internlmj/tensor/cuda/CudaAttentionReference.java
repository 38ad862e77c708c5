package org.internlmj.tensor.cuda;

import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;

/**
 * Unfused attention: per document, the scores of every head as one batched cuBLAS GEMM into an fp32
 * {@code [H, L, L]} buffer, the masked softmax kernel (softmax.cu), and a second GEMM with V; the
 * backward recomputes P and runs the softmax backward and three more GEMMs. It needs O(H L^2) memory
 * per document and a host copy of cu_seqlens, so it is the reference the fused kernels are checked
 * against (and the path for head dimensions above 128), not the training path.
 */
final class CudaAttentionReference {
    private CudaAttentionReference() {
    }

    /** Heads as the batch: [L, H, D] viewed as [H, L, D]. */
    private static Tensor byHead(Tensor x, int start, int len) {
        return x.narrow(0, start, len).permute(1, 0, 2);
    }

    /** [H, L, L] fp32 scores = Q K^T per head. */
    private static Tensor scores(CudaBackend b, Tensor q, Tensor k, int start, int len, int heads) {
        Tensor s = b.temporary(DType.F32, heads, len, len);
        b.matmul(byHead(q, start, len), byHead(k, start, len).transpose(1, 2), s, 1f, 0f);
        return s;
    }

    /** P = masked softmax(scale S) in {@code dtype}, writing lse[h, start + i]. */
    private static Tensor probabilities(CudaBackend b, Tensor s, DType dtype, int start, int len, int heads, int t,
                                        float scale, boolean causal, long lseAddress) {
        Tensor p = b.temporary(dtype, heads, len, len);
        KernelArgs a = KernelArgs.begin().pointer(CudaStorage.address(s)).i32(len).i32(len).f32(scale)
                .i32(causal ? 1 : 0).pointer(CudaStorage.address(p)).i32(b.code(p)).pointer(lseAddress + 4L * start)
                .i64(t).i32(heads);
        CudaKernels k = b.kernels();
        k.launch(k.get("softmax", "attn_masked_softmax"), CudaRows.grid(heads * len), 1, CudaRows.block(len), 0, a);
        return p;
    }

    static void forward(CudaBackend b, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, float scale, boolean causal,
                        Tensor out, Tensor lse) {
        int[] thd = CudaAttention.checkForward(b, q, k, v, cuSeqlens, out, lse);
        int t = thd[0];
        int heads = thd[1];
        if (t == 0 || heads == 0) {
            return;
        }
        try (CudaAttention.Cu cu = CudaAttention.Cu.of(b, cuSeqlens, t);
             CudaAttention.Scratch scratch = new CudaAttention.Scratch(b)) {
            int[] bounds = cu.host(b, t);
            Tensor lseOut = scratch.output(lse, DType.F32);
            long lseAddress = CudaStorage.address(lseOut);
            for (int doc = 0; doc + 1 < bounds.length; doc++) {
                int start = bounds[doc];
                int len = bounds[doc + 1] - start;
                if (len == 0) {
                    continue;
                }
                Tensor s = scores(b, q, k, start, len, heads);
                try {
                    Tensor p = probabilities(b, s, q.dtype(), start, len, heads, t, scale, causal, lseAddress);
                    try {
                        b.matmul(p, byHead(v, start, len), byHead(out, start, len), 1f, 0f);
                    } finally {
                        p.close();
                    }
                } finally {
                    s.close();
                }
            }
            scratch.copyBack();
        }
    }

    static void backward(CudaBackend b, Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse,
                         Tensor cuSeqlens, float scale, boolean causal, Tensor dq, Tensor dk, Tensor dv) {
        int[] thd = CudaAttention.checkBackward(b, q, k, v, out, dout, lse, cuSeqlens, dq, dk, dv);
        int t = thd[0];
        int heads = thd[1];
        if (t == 0 || heads == 0) {
            return;
        }
        try (CudaAttention.Cu cu = CudaAttention.Cu.of(b, cuSeqlens, t);
             DeviceBuffer lseScratch = new DeviceBuffer(b.context(), 4L * heads * t, "reference attention lse")) {
            int[] bounds = cu.host(b, t);
            for (int doc = 0; doc + 1 < bounds.length; doc++) {
                int start = bounds[doc];
                int len = bounds[doc + 1] - start;
                if (len == 0) {
                    continue;
                }
                Tensor s = scores(b, q, k, start, len, heads);
                Tensor p = probabilities(b, s, q.dtype(), start, len, heads, t, scale, causal, lseScratch.pointer());
                Tensor dp = s;   // the scores are not needed again: their buffer takes dP
                Tensor ds = b.temporary(q.dtype(), heads, len, len);
                try {
                    b.matmul(byHead(dout, start, len), byHead(v, start, len).transpose(1, 2), dp, 1f, 0f);
                    b.softmaxBackward(p, dp, ds, false);
                    b.matmul(ds, byHead(k, start, len), byHead(dq, start, len), scale, 0f);
                    b.matmul(ds.transpose(1, 2), byHead(q, start, len), byHead(dk, start, len), scale, 0f);
                    b.matmul(p.transpose(1, 2), byHead(dout, start, len), byHead(dv, start, len), 1f, 0f);
                } finally {
                    ds.close();
                    p.close();
                    s.close();
                }
            }
        }
    }
}
