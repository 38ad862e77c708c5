package org.internlmj.tensor.cuda;

import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Cross-entropy with label smoothing over the vocabulary in chunks, and its backward, on the device
 * (crossentropy.cu). A row's vocabulary is cut into chunks of {@link #CHUNK} logits, each reduced by one
 * block to (max, sum of exponentials, sum), then combined per row in chunk order: a 150k vocabulary
 * keeps 19 blocks per row busy instead of one, and the combination never depends on timing.
 */
final class CudaCrossEntropy {
    static final int CHUNK = 8192;
    private static final int BLOCK = 256;
    /** Rows per launch: the grid's y dimension holds at most 65535. */
    private static final int ROWS_PER_LAUNCH = 65535;

    private CudaCrossEntropy() {
    }

    private static int[] logitsShape(String op, Tensor logits) {
        if (logits.rank() != 2) {
            throw new IllegalArgumentException(op + ": logits must be [N, V], got " + Shapes.str(logits.shape()));
        }
        OpChecks.rows(op, logits);
        return logits.shape();
    }

    private static void rowStat(String op, String what, Tensor t, int n) {
        OpChecks.dtype(op, what, t, DType.F32);
        OpChecks.shape(op, what, t, n);
    }

    static void crossEntropy(CudaBackend b, Tensor logits, Tensor labels, int ignoreIndex, float smoothing,
                             Tensor loss, Tensor lse) {
        String op = "crossEntropy";
        b.checkDevice(op, logits, labels, loss, lse);
        b.checkCompute(op, logits);
        int[] nv = logitsShape(op, logits);
        int n = nv[0];
        int v = nv[1];
        OpChecks.indices(op, "labels", labels, n);
        rowStat(op, "loss", loss, n);
        rowStat(op, "lse", lse, n);
        if (n == 0) {
            return;
        }
        if (v == 0) {
            throw new IllegalArgumentException(op + ": the vocabulary is empty (logits " + Shapes.str(nv) + ")");
        }
        try (Partials p = partials(b, op, logits)) {
            KernelArgs f = KernelArgs.begin().pointer(b.base(logits)).i32(b.code(logits)).i64(logits.stride(0))
                    .i64(logits.offset()).pointer(b.base(labels)).i32(b.code(labels)).i64(labels.stride(0))
                    .i64(labels.offset()).i32(n).i32(v).i32(p.chunks).pointer(p.pm.pointer()).pointer(p.ps.pointer())
                    .pointer(p.psum.pointer()).i32(ignoreIndex).f32(smoothing).pointer(CudaStorage.address(loss))
                    .i64(loss.stride(0)).pointer(CudaStorage.address(lse)).i64(lse.stride(0))
                    .pointer(b.errors().address());
            CudaKernels k = b.kernels();
            k.launch(k.get("crossentropy", "ce_finalize"), (n + 127) / 128, 1, 128, 0, f);
        }
    }

    static void shardStats(CudaBackend b, Tensor logits, Tensor labels, int vocabStart, Tensor lse, Tensor target,
                           Tensor sum) {
        String op = "crossEntropyShardStats";
        b.checkDevice(op, logits, labels, lse, target, sum);
        b.checkCompute(op, logits);
        int[] nv = logitsShape(op, logits);
        int n = nv[0];
        int v = nv[1];
        OpChecks.indices(op, "labels", labels, n);
        rowStat(op, "lse", lse, n);
        rowStat(op, "target", target, n);
        rowStat(op, "sum", sum, n);
        if (n == 0) {
            return;
        }
        if (v == 0) {
            throw new IllegalArgumentException(op + ": the shard is empty (logits " + Shapes.str(nv) + ")");
        }
        try (Partials p = partials(b, op, logits)) {
            KernelArgs f = KernelArgs.begin().pointer(b.base(logits)).i32(b.code(logits)).i64(logits.stride(0))
                    .i64(logits.offset()).pointer(b.base(labels)).i32(b.code(labels)).i64(labels.stride(0))
                    .i64(labels.offset()).i32(n).i32(v).i64(vocabStart).i32(p.chunks).pointer(p.pm.pointer())
                    .pointer(p.ps.pointer()).pointer(p.psum.pointer()).pointer(CudaStorage.address(lse))
                    .i64(lse.stride(0)).pointer(CudaStorage.address(target)).i64(target.stride(0))
                    .pointer(CudaStorage.address(sum)).i64(sum.stride(0));
            CudaKernels k = b.kernels();
            k.launch(k.get("crossentropy", "ce_shard_finalize"), (n + 127) / 128, 1, 128, 0, f);
        }
    }

    /** Per-(row, chunk) maxima, sums of exponentials and logit sums, freed (stream-ordered) on close. */
    private record Partials(int chunks, DeviceBuffer pm, DeviceBuffer ps, DeviceBuffer psum) implements AutoCloseable {
        @Override
        public void close() {
            try (pm; ps; psum) {
                // the buffers close in reverse order, each even when an earlier close failed
            }
        }
    }

    /** Launches ce_partial over every row of {@code logits} [N, V] (N, V > 0). */
    private static Partials partials(CudaBackend b, String op, Tensor logits) {
        int n = logits.size(0);
        int v = logits.size(1);
        int chunks = (v + CHUNK - 1) / CHUNK;
        int chunk = Math.min(CHUNK, v);
        CudaKernels k = b.kernels();
        DeviceBuffer pm = new DeviceBuffer(b.context(), 4L * n * chunks, op + " chunk maxima");
        DeviceBuffer ps = null;
        DeviceBuffer psum = null;
        try {
            ps = new DeviceBuffer(b.context(), 4L * n * chunks, op + " chunk sums");
            psum = new DeviceBuffer(b.context(), 8L * n * chunks, op + " chunk logit sums");
            for (int start = 0; start < n; start += ROWS_PER_LAUNCH) {
                int rows = Math.min(ROWS_PER_LAUNCH, n - start);
                long slot = (long) start * chunks;
                KernelArgs a = KernelArgs.begin().pointer(b.base(logits)).i32(b.code(logits)).i64(logits.stride(0))
                        .i64(logits.offset() + (long) start * logits.stride(0)).i32(v).i32(chunk)
                        .pointer(pm.pointer() + 4 * slot).pointer(ps.pointer() + 4 * slot)
                        .pointer(psum.pointer() + 8 * slot);
                k.launch(k.get("crossentropy", "ce_partial"), chunks, rows, BLOCK, 0, a);
            }
            return new Partials(chunks, pm, ps, psum);
        } catch (RuntimeException e) {
            for (DeviceBuffer d : new DeviceBuffer[] {psum, ps, pm}) {
                if (d != null) {
                    try {
                        d.close();
                    } catch (RuntimeException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
            }
            throw e;
        }
    }

    static void crossEntropyBackward(CudaBackend b, Tensor logits, Tensor labels, Tensor lse, int ignoreIndex,
                                     float smoothing, Tensor dloss, Tensor dlogits) {
        shardBackward(b, "crossEntropyBackward", logits, labels, 0, logits.rank() == 2 ? logits.size(1) : 0, lse,
                ignoreIndex, smoothing, dloss, dlogits);
    }

    static void shardBackward(CudaBackend b, String op, Tensor logits, Tensor labels, int vocabStart, int vocabTotal,
                              Tensor lse, int ignoreIndex, float smoothing, Tensor dloss, Tensor dlogits) {
        b.checkDevice(op, logits, labels, lse, dloss, dlogits);
        b.checkCompute(op, logits, dlogits);
        int[] nv = logitsShape(op, logits);
        int n = nv[0];
        int v = nv[1];
        if (vocabStart < 0 || (long) vocabStart + v > vocabTotal) {
            throw new IllegalArgumentException(op + ": a shard of " + v + " logits at " + vocabStart
                    + " does not fit a vocabulary of " + vocabTotal);
        }
        OpChecks.sameShape(op, logits, "logits", dlogits, "dlogits");
        OpChecks.rows(op, dlogits);
        OpChecks.indices(op, "labels", labels, n);
        rowStat(op, "lse", lse, n);
        rowStat(op, "dloss", dloss, n);
        if (n == 0 || v == 0) {
            return;
        }
        CudaKernels k = b.kernels();
        int gridX = (int) Math.min(64, (v + 4L * BLOCK - 1) / (4L * BLOCK));
        for (int start = 0; start < n; start += ROWS_PER_LAUNCH) {
            int rows = Math.min(ROWS_PER_LAUNCH, n - start);
            KernelArgs a = KernelArgs.begin().pointer(b.base(logits)).i32(b.code(logits)).i64(logits.stride(0))
                    .i64(logits.offset() + (long) start * logits.stride(0)).pointer(b.base(labels))
                    .i32(b.code(labels)).i64(labels.stride(0)).i64(labels.offset() + (long) start * labels.stride(0))
                    .pointer(CudaStorage.address(lse) + 4L * start * lse.stride(0)).i64(lse.stride(0))
                    .pointer(CudaStorage.address(dloss) + 4L * start * dloss.stride(0)).i64(dloss.stride(0)).i32(v)
                    .i64(vocabStart).i64(vocabTotal).i32(ignoreIndex).f32(smoothing).pointer(b.base(dlogits))
                    .i32(b.code(dlogits)).i64(dlogits.stride(0))
                    .i64(dlogits.offset() + (long) start * dlogits.stride(0)).pointer(b.errors().address());
            k.launch(k.get("crossentropy", "ce_backward"), gridX, rows, BLOCK, 0, a);
        }
    }
}
