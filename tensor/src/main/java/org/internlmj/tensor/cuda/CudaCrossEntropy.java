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
        int chunks = (v + CHUNK - 1) / CHUNK;
        int chunk = Math.min(CHUNK, v);
        CudaKernels k = b.kernels();
        try (DeviceBuffer pm = new DeviceBuffer(b.context(), 4L * n * chunks, op + " chunk maxima");
             DeviceBuffer ps = new DeviceBuffer(b.context(), 4L * n * chunks, op + " chunk sums");
             DeviceBuffer psum = new DeviceBuffer(b.context(), 8L * n * chunks, op + " chunk logit sums")) {
            for (int start = 0; start < n; start += ROWS_PER_LAUNCH) {
                int rows = Math.min(ROWS_PER_LAUNCH, n - start);
                long slot = (long) start * chunks;
                KernelArgs a = KernelArgs.begin().pointer(b.base(logits)).i32(b.code(logits)).i64(logits.stride(0))
                        .i64(logits.offset() + (long) start * logits.stride(0)).i32(v).i32(chunk)
                        .pointer(pm.pointer() + 4 * slot).pointer(ps.pointer() + 4 * slot)
                        .pointer(psum.pointer() + 8 * slot);
                k.launch(k.get("crossentropy", "ce_partial"), chunks, rows, BLOCK, 0, a);
            }
            KernelArgs f = KernelArgs.begin().pointer(b.base(logits)).i32(b.code(logits)).i64(logits.stride(0))
                    .i64(logits.offset()).pointer(b.base(labels)).i32(b.code(labels)).i64(labels.stride(0))
                    .i64(labels.offset()).i32(n).i32(v).i32(chunks).pointer(pm.pointer()).pointer(ps.pointer())
                    .pointer(psum.pointer()).i32(ignoreIndex).f32(smoothing).pointer(CudaStorage.address(loss))
                    .i64(loss.stride(0)).pointer(CudaStorage.address(lse)).i64(lse.stride(0))
                    .pointer(b.errors().address());
            k.launch(k.get("crossentropy", "ce_finalize"), (n + 127) / 128, 1, 128, 0, f);
        }
    }

    static void crossEntropyBackward(CudaBackend b, Tensor logits, Tensor labels, Tensor lse, int ignoreIndex,
                                     float smoothing, Tensor dloss, Tensor dlogits) {
        String op = "crossEntropyBackward";
        b.checkDevice(op, logits, labels, lse, dloss, dlogits);
        b.checkCompute(op, logits, dlogits);
        int[] nv = logitsShape(op, logits);
        int n = nv[0];
        int v = nv[1];
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
                    .i32(ignoreIndex).f32(smoothing).pointer(b.base(dlogits)).i32(b.code(dlogits))
                    .i64(dlogits.stride(0)).i64(dlogits.offset() + (long) start * dlogits.stride(0))
                    .pointer(b.errors().address());
            k.launch(k.get("crossentropy", "ce_backward"), gridX, rows, BLOCK, 0, a);
        }
    }
}
