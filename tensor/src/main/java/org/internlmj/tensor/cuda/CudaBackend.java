package org.internlmj.tensor.cuda;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.ffm.cuda.Cuda;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Storage;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;

/**
 * The CUDA backend: tensors in device memory from the stream-ordered pool, every {@link Backend}
 * operation queued on one compute stream per device, GEMMs through cuBLAS (or cuBLASLt), everything
 * else through CUDA C kernels compiled by NVRTC at first use ({@link KernelCompiler}). One class per op
 * family holds the host side of its kernels; this class checks devices and dispatches.
 *
 * <p>Operations return as soon as their work is queued; {@link #synchronize()} waits for it, and copies
 * to the CPU wait for what they read. Argument errors that only the device can see (token ids, labels,
 * positions, cu_seqlens living in device memory) are reported at the next synchronization
 * ({@link CudaErrors}).
 *
 * <p>Settings (system properties): {@code internlmj.cuda.gemm=cublas|cublaslt} (default cublas),
 * {@code internlmj.cuda.attention=fused|reference} (default fused), {@code internlmj.cuda.tf32=true}
 * (TF32 tensor cores for F32 GEMMs), {@code internlmj.cuda.sync=true} (synchronize after every kernel,
 * to find the one that fails).
 *
 * <pre>{@code
 * Tensor x = Tensor.empty(DType.BF16, Device.cuda(0), 4096, 4096);   // through Backends.of(cuda:0)
 * }</pre>
 */
public final class CudaBackend implements Backend, Backends.DeviceTransfer, AutoCloseable {
    private final CudaContext context;
    private final CudaKernels kernels;
    private final CudaErrors errors;
    private final CudaTransfer transfer;
    private final CudaGemm gemm;
    private final boolean fusedAttention;

    /** Opens device {@code device} (a CUDA device) with the settings from system properties. */
    public CudaBackend(Device device) {
        this(open(device), null, gemmSetting(), Boolean.getBoolean("internlmj.cuda.tf32"), attentionSetting(),
                Boolean.getBoolean("internlmj.cuda.sync"));
    }

    CudaBackend(CudaContext context, LaunchObserver observer, boolean cublasLt, boolean tf32, boolean fusedAttention,
                boolean synchronous) {
        this.context = context;
        this.kernels = new CudaKernels(context, synchronous, observer);
        this.errors = new CudaErrors(context);
        this.transfer = new CudaTransfer(this);
        this.gemm = new CudaGemm(this, cublasLt, tf32, observer);
        this.fusedAttention = fusedAttention;
    }

    /**
     * A backend over a {@link CudaContext#simulated simulated} device: operations run their host side and
     * report their launches to {@code observer}; nothing is computed. For tests without a GPU.
     */
    static CudaBackend simulated(LaunchObserver observer, boolean fusedAttention) {
        return new CudaBackend(CudaContext.simulated(90, 132), observer, false, false, fusedAttention, false);
    }

    private static CudaContext open(Device device) {
        if (device.isCpu()) {
            throw new IllegalArgumentException("CudaBackend needs a CUDA device, got " + device);
        }
        return CudaContext.open(device.index());
    }

    private static boolean gemmSetting() {
        String g = System.getProperty("internlmj.cuda.gemm", "cublas");
        if (!g.equals("cublas") && !g.equals("cublaslt")) {
            throw new IllegalArgumentException("internlmj.cuda.gemm must be cublas or cublaslt, got " + g);
        }
        return g.equals("cublaslt");
    }

    private static boolean attentionSetting() {
        String att = System.getProperty("internlmj.cuda.attention", "fused");
        if (!att.equals("fused") && !att.equals("reference")) {
            throw new IllegalArgumentException("internlmj.cuda.attention must be fused or reference, got " + att);
        }
        return att.equals("fused");
    }

    /** The device context: stream, memory pool and properties (for collective libraries and tools). */
    public CudaContext context() {
        return context;
    }

    CudaKernels kernels() {
        return kernels;
    }

    CudaErrors errors() {
        return errors;
    }

    CudaTransfer transfer() {
        return transfer;
    }

    @Override
    public Device device() {
        return Device.cuda(context.ordinal());
    }

    @Override
    public String describe() {
        if (context.isSimulated()) {
            return "simulated CUDA device (no GPU: launches are checked and recorded, nothing is computed)";
        }
        return device() + " (" + context.name() + ", sm_" + context.computeCapability() + ", "
                + context.multiprocessors() + " SMs, " + String.format("%.1f GiB", context.totalMemory() / 1073741824.0)
                + "; cuBLAS " + gemm.version() + (gemm.usesLt() ? " via cuBLASLt" : "") + ", NVRTC "
                + KernelCompiler.nvrtcVersion() + ", " + (fusedAttention ? "fused" : "reference") + " attention)";
    }

    @Override
    public Storage allocate(DType dtype, long length, boolean zeroed) {
        if (length < 0 || length > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a CUDA tensor holds at most 2^31-9 elements, asked for " + length);
        }
        long bytes = length * dtype.byteSize();
        long p = context.allocate(bytes, "a " + dtype + " tensor of " + length + " elements");
        if (zeroed && bytes > 0 && !context.isSimulated()) {
            Cuda.check(Cuda.cuMemsetD8Async(p, (byte) 0, bytes, context.computeStream().handle()), "cuMemsetD8Async");
        }
        return new CudaStorage(context, dtype, length, p);
    }

    /** Waits for all queued work and reports the first device-side argument error, if any. */
    @Override
    public void synchronize() {
        context.computeStream().synchronize();
        errors.check();
    }

    // ---------------------------------------------------------------- helpers for the op classes

    /** A contiguous tensor owned by no memory scope: the caller closes it. */
    Tensor temporary(DType dtype, int... shape) {
        Storage s = allocate(dtype, Shapes.numel(shape), false);
        return Tensor.view(s, shape, Shapes.contiguousStrides(shape), 0);
    }

    /** A contiguous temporary copy of {@code t}. */
    Tensor contiguousCopy(Tensor t) {
        Tensor c = temporary(t.dtype(), t.shape());
        copy(t, c);
        return c;
    }

    /** Device address of {@code t}'s storage (element 0 of the storage, not of the view). */
    long base(Tensor t) {
        return ((CudaStorage) t.storage()).pointer();
    }

    /** The dtype code kernels take (the DType ordinal, DT_* in common.cuh). */
    int code(Tensor t) {
        return t.dtype().ordinal();
    }

    /** Every non-null tensor lives on this device (and is open). */
    void checkDevice(String op, Tensor... ts) {
        OpChecks.sameDevice(op, ts);
        Device d = device();
        for (Tensor t : ts) {
            if (t != null && !(t.storage() instanceof CudaStorage && t.device().equals(d))) {
                throw new IllegalArgumentException(op + ": " + t + " is not on " + d
                        + " (move it with tensor.to(device) first)");
            }
        }
    }

    /** Compute kernels take F32, BF16 and F16 tensors. */
    void checkCompute(String op, Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null && t.dtype() != DType.F32 && t.dtype() != DType.BF16 && t.dtype() != DType.F16) {
                throw new IllegalArgumentException(op + " on the CUDA backend computes F32, BF16 or F16 tensors, got "
                        + t.dtype() + " (" + t + ")");
            }
        }
    }

    // ---------------------------------------------------------------- transfers

    @Override
    public void transfer(Tensor src, Tensor dst) {
        if (src.device().isCpu() && dst.device().equals(device())) {
            checkDevice("transfer", dst);
            transfer.toDevice(src, dst);
        } else if (dst.device().isCpu() && src.device().equals(device())) {
            checkDevice("transfer", src);
            transfer.toHost(src, dst);
        } else {
            throw new IllegalArgumentException("the CUDA backend of " + device() + " copies to and from the CPU, not "
                    + src.device() + " -> " + dst.device() + " (go through the CPU)");
        }
    }

    // ---------------------------------------------------------------- data movement

    @Override
    public void fill(Tensor out, double value) {
        CudaCopy.fill(this, out, value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CudaCopy.copy(this, src, dst);
    }

    @Override
    public void fillRandom(Tensor out, Distribution distribution, double a, double b, long seed, long offset) {
        CudaRandom.fillRandom(this, out, distribution, a, b, seed, offset);
    }

    // ---------------------------------------------------------------- GEMM

    @Override
    public void matmul(Tensor a, Tensor b, Tensor c, float alpha, float beta) {
        gemm.matmul(a, b, c, alpha, beta, false);
    }

    /** "cublas" or "cublaslt": the library computing {@link #matmul}. */
    public String gemmLibrary() {
        return gemm.usesLt() ? "cublaslt" : "cublas";
    }

    /** {@link #matmul} forced through cuBLAS even when cuBLASLt is selected (for comparisons). */
    public void matmulCublas(Tensor a, Tensor b, Tensor c, float alpha, float beta) {
        gemm.matmul(a, b, c, alpha, beta, true);
    }

    // ---------------------------------------------------------------- elementwise and reductions

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor out) {
        CudaElementwise.unary(this, op, x, out);
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        CudaElementwise.binary(this, op, a, b, out);
    }

    @Override
    public void affine(Tensor x, double scale, double shift, Tensor out) {
        CudaElementwise.affine(this, x, scale, shift, out);
    }

    @Override
    public void reduce(ReduceOp op, Tensor x, int dim, Tensor out) {
        CudaReductions.reduce(this, op, x, dim, out);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        return CudaReductions.sumOfSquares(this, x);
    }

    @Override
    public void softmax(Tensor x, Tensor out, boolean log) {
        CudaSoftmax.softmax(this, x, out, log);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) {
        CudaSoftmax.softmaxBackward(this, y, dy, dx, log);
    }

    // ---------------------------------------------------------------- fused transformer kernels

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd) {
        CudaNorms.rmsNorm(this, x, weight, eps, y, rstd);
    }

    @Override
    public void rmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight) {
        CudaNorms.rmsNormBackward(this, x, weight, rstd, dy, dx, dweight);
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd) {
        CudaNorms.layerNorm(this, x, weight, bias, eps, y, mean, rstd);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
                                  Tensor dweight, Tensor dbias) {
        CudaNorms.layerNormBackward(this, x, weight, mean, rstd, dy, dx, dweight, dbias);
    }

    @Override
    public void rotary(Tensor x, Tensor positions, double base, boolean inverse, Tensor out) {
        CudaRotary.rotary(this, x, positions, base, inverse, out);
    }

    @Override
    public void swiglu(Tensor gate, Tensor up, Tensor out) {
        CudaSwiGlu.swiglu(this, gate, up, out);
    }

    @Override
    public void swigluBackward(Tensor gate, Tensor up, Tensor dout, Tensor dgate, Tensor dup) {
        CudaSwiGlu.swigluBackward(this, gate, up, dout, dgate, dup);
    }

    @Override
    public void embedding(Tensor weight, Tensor ids, Tensor out) {
        CudaEmbedding.embedding(this, weight, ids, out);
    }

    @Override
    public void embeddingBackward(Tensor ids, Tensor dout, Tensor dweight) {
        CudaEmbedding.embeddingBackward(this, ids, dout, dweight);
    }

    @Override
    public void crossEntropy(Tensor logits, Tensor labels, int ignoreIndex, float smoothing, Tensor loss, Tensor lse) {
        CudaCrossEntropy.crossEntropy(this, logits, labels, ignoreIndex, smoothing, loss, lse);
    }

    @Override
    public void crossEntropyBackward(Tensor logits, Tensor labels, Tensor lse, int ignoreIndex, float smoothing,
                                     Tensor dloss, Tensor dlogits) {
        CudaCrossEntropy.crossEntropyBackward(this, logits, labels, lse, ignoreIndex, smoothing, dloss, dlogits);
    }

    @Override
    public void crossEntropyShardStats(Tensor logits, Tensor labels, int vocabStart, Tensor lse, Tensor target,
                                       Tensor sum) {
        CudaCrossEntropy.shardStats(this, logits, labels, vocabStart, lse, target, sum);
    }

    @Override
    public void crossEntropyShardBackward(Tensor logits, Tensor labels, int vocabStart, int vocabTotal, Tensor lse,
                                          int ignoreIndex, float smoothing, Tensor dloss, Tensor dlogits) {
        CudaCrossEntropy.shardBackward(this, "crossEntropyShardBackward", logits, labels, vocabStart, vocabTotal, lse,
                ignoreIndex, smoothing, dloss, dlogits);
    }

    @Override
    public void attention(Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, float scale, boolean causal,
                          Tensor out, Tensor lse) {
        if (fusedAttention && q.rank() == 3 && q.size(2) <= CudaAttention.MAX_HEAD_DIM) {
            CudaAttention.forward(this, q, k, v, cuSeqlens, scale, causal, out, lse);
        } else {
            CudaAttentionReference.forward(this, q, k, v, cuSeqlens, scale, causal, out, lse);
        }
    }

    @Override
    public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse, Tensor cuSeqlens,
                                  float scale, boolean causal, Tensor dq, Tensor dk, Tensor dv) {
        if (fusedAttention && q.rank() == 3 && q.size(2) <= CudaAttention.MAX_HEAD_DIM) {
            CudaAttention.backward(this, q, k, v, out, dout, lse, cuSeqlens, scale, causal, dq, dk, dv);
        } else {
            CudaAttentionReference.backward(this, q, k, v, out, dout, lse, cuSeqlens, scale, causal, dq, dk, dv);
        }
    }

    /** The unfused attention (cuBLAS + masked softmax), whatever the setting: the fused kernels' reference. */
    public void attentionReference(Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, float scale, boolean causal,
                                   Tensor out, Tensor lse) {
        CudaAttentionReference.forward(this, q, k, v, cuSeqlens, scale, causal, out, lse);
    }

    /** Backward of {@link #attentionReference}. */
    public void attentionReferenceBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse,
                                           Tensor cuSeqlens, float scale, boolean causal, Tensor dq, Tensor dk,
                                           Tensor dv) {
        CudaAttentionReference.backward(this, q, k, v, out, dout, lse, cuSeqlens, scale, causal, dq, dk, dv);
    }

    // ---------------------------------------------------------------- optimizer

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step, Tensor modelCopy) {
        CudaAdamW.adamw(this, List.of(new CudaAdamW.Slot(param, grad, m, v, modelCopy)), step);
    }

    /**
     * One AdamW step over many tensors in as few launches as possible (multi-tensor apply): the same
     * result as {@link #adamw} per tensor. {@code modelCopies} may be null, or hold nulls.
     */
    public void adamwMany(List<Tensor> params, List<Tensor> grads, List<Tensor> ms, List<Tensor> vs,
                          List<Tensor> modelCopies, AdamWStep step) {
        int n = params.size();
        if (grads.size() != n || ms.size() != n || vs.size() != n || (modelCopies != null && modelCopies.size() != n)) {
            throw new IllegalArgumentException("adamwMany: " + n + " params but " + grads.size() + " grads, "
                    + ms.size() + " m, " + vs.size() + " v" + (modelCopies == null ? "" : ", " + modelCopies.size()
                    + " copies"));
        }
        List<CudaAdamW.Slot> slots = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            slots.add(new CudaAdamW.Slot(params.get(i), grads.get(i), ms.get(i), vs.get(i),
                    modelCopies == null ? null : modelCopies.get(i)));
        }
        CudaAdamW.adamw(this, slots, step);
    }

    /** Registers, local memory and shared memory of a kernel (loading its family): for reports. */
    public String kernelResources(String family, String kernel) {
        return kernels.resources(kernels.get(family, kernel));
    }

    /** Synchronizes and frees the backend's own resources; tensors still alive become unusable. */
    @Override
    public void close() {
        synchronize();
        gemm.close();
        transfer.close();
        errors.close();
        kernels.close();
        context.close();
    }
}
