package org.internlmj.tensor.cuda;

import java.lang.foreign.MemorySegment;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * Fused attention over packed sequences on the device (attention.cu), forward and backward, in the
 * FlashAttention-2 manner: tiles of queries against tiles of keys with an online softmax, nothing of size
 * T^2 ever stored, the backward recomputing P from the saved log-sum-exp. Head dimensions up to 128 run
 * here (kernels for 32, 64 and 128, smaller ones zero-padded); larger ones go to
 * {@link CudaAttentionReference}.
 *
 * <p>{@code cuSeqlens} may live on the CPU (it is checked there and uploaded) or on this device (it is
 * checked by the kernels, see {@link CudaErrors}).
 */
final class CudaAttention {
    static final int THREADS = 128;
    static final int FWD_BM = 64;
    static final int FWD_BN = 64;
    static final int BWD_BM = 64;
    static final int BWD_BN = 32;
    /** Largest head dimension with a fused kernel. */
    static final int MAX_HEAD_DIM = 128;

    private CudaAttention() {
    }

    /** The compiled head dimension for {@code d}: 32, 64 or 128. */
    static int kernelHeadDim(int d) {
        return d <= 32 ? 32 : d <= 64 ? 64 : 128;
    }

    /** cu_seqlens as a device array of B+1 ints, uploading or copying it when needed. */
    static final class Cu implements AutoCloseable {
        final long address;
        private final int count;
        private final int[] host;
        private final Tensor owned;

        private Cu(long address, int count, int[] host, Tensor owned) {
            this.address = address;
            this.count = count;
            this.host = host;
            this.owned = owned;
        }

        static Cu of(CudaBackend b, Tensor cuSeqlens, int t) {
            int n = cuSeqlens.numel();
            if (cuSeqlens.device().isCpu()) {
                int[] host = OpChecks.cuSeqlens(cuSeqlens.toIntArray(), t);
                Tensor dev = b.temporary(DType.I32, n);
                b.transfer().upload(MemorySegment.ofArray(host), 0, CudaStorage.address(dev), 4L * n);
                return new Cu(CudaStorage.address(dev), n, host, dev);
            }
            b.checkDevice("attention", cuSeqlens);
            if (cuSeqlens.isContiguous()) {
                return new Cu(CudaStorage.address(cuSeqlens), n, null, null);
            }
            Tensor dev = b.temporary(DType.I32, n);
            b.copy(cuSeqlens, dev);
            return new Cu(CudaStorage.address(dev), n, null, dev);
        }

        /** The values on the host (read from the device when they live there: a synchronization). */
        int[] host(CudaBackend b, int t) {
            if (host != null) {
                return host;
            }
            b.errors().check();
            return OpChecks.cuSeqlens(b.transfer().readInts(address, count), t);
        }

        @Override
        public void close() {
            if (owned != null) {
                owned.close();
            }
        }
    }

    /** The sanitized cu_seqlens and the tile prefix table for tiles of {@code tile} rows (attn_tiles). */
    private static void tiles(CudaBackend b, Cu cu, int docs, int t, int tile, DeviceBuffer safe, DeviceBuffer table) {
        KernelArgs a = KernelArgs.begin().pointer(cu.address).i32(docs).i32(t).i32(tile).pointer(safe.pointer())
                .pointer(table.pointer()).pointer(b.errors().address());
        CudaKernels k = b.kernels();
        k.launch(k.get("attention", "attn_tiles"), 1, 1, 32, 0, a);
    }

    static int forwardShared(int hd) {
        return 4 * (FWD_BM * (hd + 1) + FWD_BN * (hd + 1) + FWD_BM * (FWD_BN + 1));
    }

    static int backwardShared(int hd) {
        return 4 * (2 * BWD_BN * (hd + 1) + 2 * BWD_BM * (hd + 1) + BWD_BM * (BWD_BN + 1) + 2 * BWD_BM);
    }

    static void forward(CudaBackend b, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, float scale, boolean causal,
                        Tensor out, Tensor lse) {
        int[] thd = checkForward(b, q, k, v, cuSeqlens, out, lse);
        int t = thd[0];
        int heads = thd[1];
        int d = thd[2];
        int docs = cuSeqlens.numel() - 1;
        if (t == 0 || heads == 0) {
            return;
        }
        Tensor lseOut = lse.isContiguous() ? lse : b.temporary(DType.F32, lse.shape());
        int hd = kernelHeadDim(d);
        try (Cu cu = Cu.of(b, cuSeqlens, t);
             DeviceBuffer safe = new DeviceBuffer(b.context(), 4L * (docs + 1), "attention cuSeqlens");
             DeviceBuffer table = new DeviceBuffer(b.context(), 4L * (docs + 1), "attention tiles")) {
            tiles(b, cu, docs, t, FWD_BM, safe, table);
            KernelArgs a = KernelArgs.begin().pointer(CudaStorage.address(q)).pointer(CudaStorage.address(k))
                    .pointer(CudaStorage.address(v)).i32(b.code(q)).pointer(CudaStorage.address(out)).i32(b.code(out))
                    .pointer(CudaStorage.address(lseOut)).pointer(safe.pointer()).pointer(table.pointer()).i32(docs)
                    .i32(t).i32(heads).i32(d).f32(scale).i32(causal ? 1 : 0);
            CudaKernels kk = b.kernels();
            kk.launch(kk.get("attention", "attn_fwd_d" + hd), (t + FWD_BM - 1) / FWD_BM + docs, heads, 1, THREADS, 1,
                    1, forwardShared(hd), a);
            if (lseOut != lse) {
                b.copy(lseOut, lse);
            }
        } finally {
            if (lseOut != lse) {
                lseOut.close();
            }
        }
    }

    static void backward(CudaBackend b, Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse,
                         Tensor cuSeqlens, float scale, boolean causal, Tensor dq, Tensor dk, Tensor dv) {
        int[] thd = checkBackward(b, q, k, v, out, dout, lse, cuSeqlens, dq, dk, dv);
        int t = thd[0];
        int heads = thd[1];
        int d = thd[2];
        int docs = cuSeqlens.numel() - 1;
        if (t == 0 || heads == 0) {
            return;
        }
        Scratch s = new Scratch(b);
        try (Cu cu = Cu.of(b, cuSeqlens, t);
             DeviceBuffer safe = new DeviceBuffer(b.context(), 4L * (docs + 1), "attention cuSeqlens");
             DeviceBuffer tilesK = new DeviceBuffer(b.context(), 4L * (docs + 1), "attention key tiles");
             DeviceBuffer tilesQ = new DeviceBuffer(b.context(), 4L * (docs + 1), "attention query tiles");
             DeviceBuffer di = new DeviceBuffer(b.context(), 4L * heads * t, "attention Di")) {
            Tensor lseIn = s.contiguous(lse);
            Tensor outIn = s.contiguous(out);
            Tensor doutIn = s.contiguous(dout);
            Tensor dqOut = s.output(dq, dq.dtype());
            Tensor dkOut = s.output(dk, dk.dtype());
            Tensor dvOut = s.output(dv, dk.dtype());
            CudaKernels kk = b.kernels();
            KernelArgs dot = KernelArgs.begin().pointer(CudaStorage.address(outIn)).i32(b.code(outIn))
                    .pointer(CudaStorage.address(doutIn)).i32(b.code(doutIn)).pointer(di.pointer()).i32(t).i32(heads)
                    .i32(d);
            kk.launch(kk.get("attention", "attn_bwd_dot"), kk.gridFor((long) t * heads, 8), 1, 256, 0, dot);
            int hd = kernelHeadDim(d);
            tiles(b, cu, docs, t, BWD_BN, safe, tilesK);
            KernelArgs a = common(b, q, k, v, doutIn, lseIn, di, safe, tilesK, docs, t, heads, d, scale, causal)
                    .pointer(CudaStorage.address(dkOut)).pointer(CudaStorage.address(dvOut)).i32(b.code(dkOut));
            kk.launch(kk.get("attention", "attn_bwd_dkdv_d" + hd), (t + BWD_BN - 1) / BWD_BN + docs, heads, 1,
                    THREADS, 1, 1, backwardShared(hd), a);
            tiles(b, cu, docs, t, BWD_BM, safe, tilesQ);
            KernelArgs c = common(b, q, k, v, doutIn, lseIn, di, safe, tilesQ, docs, t, heads, d, scale, causal)
                    .pointer(CudaStorage.address(dqOut)).i32(b.code(dqOut));
            kk.launch(kk.get("attention", "attn_bwd_dq_d" + hd), (t + BWD_BM - 1) / BWD_BM + docs, heads, 1,
                    THREADS, 1, 1, backwardShared(hd), c);
            s.copyBack();
        } finally {
            s.close();
        }
    }

    private static KernelArgs common(CudaBackend b, Tensor q, Tensor k, Tensor v, Tensor dout, Tensor lse,
                                     DeviceBuffer di, DeviceBuffer cu, DeviceBuffer tiles, int docs, int t, int heads,
                                     int d, float scale, boolean causal) {
        return KernelArgs.begin().pointer(CudaStorage.address(q)).pointer(CudaStorage.address(k))
                .pointer(CudaStorage.address(v)).i32(b.code(q)).pointer(CudaStorage.address(dout)).i32(b.code(dout))
                .pointer(CudaStorage.address(lse)).pointer(di.pointer()).pointer(cu.pointer())
                .pointer(tiles.pointer()).i32(docs).i32(t).i32(heads).i32(d).f32(scale).i32(causal ? 1 : 0);
    }

    /** The forward's checks (shared with the unfused path); returns {T, H, D}. */
    static int[] checkForward(CudaBackend b, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, Tensor out, Tensor lse) {
        int[] thd = OpChecks.attention(q, k, v, out, cuSeqlens);
        b.checkDevice("attention", q, k, v, out, lse);
        b.checkCompute("attention", q, k, v, out);
        sameInputType(q, k, v);
        OpChecks.dtype("attention", "lse", lse, DType.F32);
        OpChecks.shape("attention", "lse", lse, thd[1], thd[0]);
        return thd;
    }

    /** The backward's checks (shared with the unfused path); returns {T, H, D}. */
    static int[] checkBackward(CudaBackend b, Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse,
                               Tensor cuSeqlens, Tensor dq, Tensor dk, Tensor dv) {
        int[] thd = OpChecks.attentionBackward(q, k, v, out, dout, lse, cuSeqlens, dq, dk, dv);
        b.checkDevice("attention backward", q, k, v, out, dout, lse, dq, dk, dv);
        b.checkCompute("attention backward", q, k, v, out, dout, dq, dk, dv);
        sameInputType(q, k, v);
        OpChecks.dtype("attention backward", "lse", lse, DType.F32);
        return thd;
    }

    private static void sameInputType(Tensor q, Tensor k, Tensor v) {
        if (q.dtype() != k.dtype() || q.dtype() != v.dtype()) {
            throw new IllegalArgumentException("attention on the CUDA backend needs q, k and v of one dtype, got "
                    + q.dtype() + ", " + k.dtype() + ", " + v.dtype());
        }
    }

    /**
     * Contiguous stand-ins for strided operands: inputs copied in, outputs written to a temporary and
     * copied out at the end; everything freed on close.
     */
    static final class Scratch implements AutoCloseable {
        private final CudaBackend b;
        private final java.util.List<Tensor> temporaries = new java.util.ArrayList<>();
        private final java.util.List<Tensor[]> copyBacks = new java.util.ArrayList<>();

        Scratch(CudaBackend b) {
            this.b = b;
        }

        Tensor contiguous(Tensor t) {
            if (t.isContiguous()) {
                return t;
            }
            Tensor c = b.temporary(t.dtype(), t.shape());
            temporaries.add(c);
            b.copy(t, c);
            return c;
        }

        Tensor output(Tensor t, DType dtype) {
            if (t.isContiguous() && t.dtype() == dtype) {
                return t;
            }
            Tensor c = b.temporary(dtype, t.shape());
            temporaries.add(c);
            copyBacks.add(new Tensor[] {c, t});
            return c;
        }

        void copyBack() {
            for (Tensor[] cb : copyBacks) {
                b.copy(cb[0], cb[1]);
            }
        }

        @Override
        public void close() {
            for (Tensor t : temporaries) {
                t.close();
            }
        }
    }
}
