package org.internlmj.tensor.cuda;

import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Embedding lookup and its scatter-add backward on the device (embedding.cu). The backward is
 * deterministic: token positions are sorted by id (a bitonic sort of {@code id << 32 | position} keys),
 * then the first position of each id sums that id's rows in token order, so no two threads ever add to
 * one row and the result is the same on every run.
 */
final class CudaEmbedding {
    /** Keys sorted by one block in shared memory (SORT_CHUNK of embedding.cu). */
    private static final int SORT_CHUNK = 2048;

    private CudaEmbedding() {
    }

    private static int[] table(String op, String what, Tensor w) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException(op + ": " + what + " must be [V, H], got " + Shapes.str(w.shape()));
        }
        OpChecks.rows(op, w);
        return w.shape();
    }

    private static void rows(String op, String what, Tensor t, int tokens, int h) {
        OpChecks.shape(op, what, t, tokens, h);
        OpChecks.rows(op, t);
    }

    static void embedding(CudaBackend b, Tensor weight, Tensor ids, Tensor out) {
        String op = "embedding";
        b.checkDevice(op, weight, ids, out);
        b.checkCompute(op, weight, out);
        int[] vh = table(op, "weight", weight);
        int t = ids.numel();
        OpChecks.indices(op, "ids", ids, t);
        rows(op, "out", out, t, vh[1]);
        if (t == 0 || vh[1] == 0) {
            return;
        }
        KernelArgs a = KernelArgs.begin().pointer(b.base(weight)).i32(b.code(weight)).i64(weight.stride(0))
                .i64(weight.offset()).pointer(b.base(ids)).i32(b.code(ids)).i64(ids.stride(0)).i64(ids.offset())
                .pointer(b.base(out)).i32(b.code(out)).i64(out.stride(0)).i64(out.offset()).i32(t).i32(vh[1])
                .i32(vh[0]).pointer(b.errors().address());
        CudaKernels k = b.kernels();
        k.launch(k.get("embedding", "embedding_fwd"), CudaRows.grid(t), 1, CudaRows.block(vh[1]), 0, a);
    }

    static void embeddingBackward(CudaBackend b, Tensor ids, Tensor dout, Tensor dweight) {
        String op = "embeddingBackward";
        b.checkDevice(op, ids, dout, dweight);
        b.checkCompute(op, dout, dweight);
        int[] vh = table(op, "dweight", dweight);
        int t = ids.numel();
        OpChecks.indices(op, "ids", ids, t);
        rows(op, "dout", dout, t, vh[1]);
        if (t == 0 || vh[1] == 0) {
            return;
        }
        int padded = Integer.highestOneBit(t) == t ? t : Integer.highestOneBit(t) << 1;
        CudaKernels k = b.kernels();
        try (DeviceBuffer keys = new DeviceBuffer(b.context(), 8L * padded, op + " sort keys")) {
            KernelArgs a = KernelArgs.begin().pointer(b.base(ids)).i32(b.code(ids)).i64(ids.stride(0))
                    .i64(ids.offset()).i32(t).i32(padded).i32(vh[0]).pointer(keys.pointer())
                    .pointer(b.errors().address());
            k.launch(k.get("embedding", "embedding_keys"), k.gridFor(padded, 256), 1, 256, 0, a);
            sort(k, keys.pointer(), padded);
            KernelArgs r = KernelArgs.begin().pointer(keys.pointer()).i32(t).pointer(b.base(dout)).i32(b.code(dout))
                    .i64(dout.stride(0)).i64(dout.offset()).pointer(b.base(dweight)).i32(b.code(dweight))
                    .i64(dweight.stride(0)).i64(dweight.offset()).i32(vh[1]);
            k.launch(k.get("embedding", "embedding_bwd_rows"), CudaRows.grid(t), 1, CudaRows.block(vh[1]), 0, r);
        }
    }

    /** Sorts {@code n} (a power of two) 64-bit keys ascending: chunks in shared memory, then merges. */
    private static void sort(CudaKernels k, long keys, int n) {
        int chunks = Math.max(1, n / SORT_CHUNK);
        k.launch(k.get("embedding", "bitonic_sort_local"), chunks, 1, 1024, 0,
                KernelArgs.begin().pointer(keys).i32(n));
        for (int size = 2 * SORT_CHUNK; size <= n; size <<= 1) {
            for (int j = size >> 1; j >= SORT_CHUNK; j >>= 1) {
                k.launch(k.get("embedding", "bitonic_merge_global"), k.gridFor(n, 256), 1, 256, 0,
                        KernelArgs.begin().pointer(keys).i32(n).i32(size).i32(j));
            }
            k.launch(k.get("embedding", "bitonic_merge_local"), chunks, 1, 1024, 0,
                    KernelArgs.begin().pointer(keys).i32(n).i32(size));
        }
    }
}
