package org.internlmj.tensor.cpu;

import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Storage;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;
import org.internlmj.tensor.reference.ReferenceBackend;

/**
 * The CPU backend: Vector API kernels over heap arrays, parallel over all cores ({@link Parallel}).
 * One class per op family holds the kernels; this class only dispatches.
 *
 * <p>Thread count: {@code -Dinternlmj.cpu.threads=N} or {@code INTERNLMJ_CPU_THREADS}, default all
 * available processors.
 */
public final class CpuBackend implements Backend {
    private static volatile CpuBackend shared;

    private final Parallel parallel;
    private final CpuArrayPool pool;
    private final ReferenceBackend reference = new ReferenceBackend();
    private final Gemm gemm;

    public CpuBackend(int threads) {
        this.parallel = new Parallel(threads);
        this.pool = new CpuArrayPool(Runtime.getRuntime().maxMemory() / 4);
        this.gemm = new Gemm(parallel);
    }

    /** The process-wide CPU backend, created on first use. */
    public static CpuBackend shared() {
        CpuBackend b = shared;
        if (b == null) {
            synchronized (CpuBackend.class) {
                b = shared;
                if (b == null) {
                    b = new CpuBackend(configuredThreads());
                    shared = b;
                }
            }
        }
        return b;
    }

    /** Threads from {@code internlmj.cpu.threads}, then {@code INTERNLMJ_CPU_THREADS}, else all processors. */
    public static int configuredThreads() {
        String v = System.getProperty("internlmj.cpu.threads");
        String source = "-Dinternlmj.cpu.threads";
        if (v == null || v.isBlank()) {
            v = System.getenv("INTERNLMJ_CPU_THREADS");
            source = "INTERNLMJ_CPU_THREADS";
        }
        if (v == null || v.isBlank()) {
            // several ranks on one machine (mpirun, srun, torchrun) share its cores
            int cores = Runtime.getRuntime().availableProcessors();
            for (String local : new String[] {"OMPI_COMM_WORLD_LOCAL_SIZE", "LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"}) {
                String n = System.getenv(local);
                if (n != null && n.matches("\\d+") && Integer.parseInt(n) > 0) {
                    return Math.max(1, cores / Integer.parseInt(n));
                }
            }
            return cores;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException(source + " must be a positive integer, got '" + v + "'");
    }

    public Parallel parallel() {
        return parallel;
    }

    public int threads() {
        return parallel.threads();
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public String describe() {
        return "cpu (Vector API " + Simd.describe() + ", GEMM " + gemm.describe() + ", " + threads() + " threads)";
    }

    @Override
    public Storage allocate(DType dtype, long length, boolean zeroed) {
        if (length > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a CPU tensor holds at most 2^31-9 elements, asked for " + length);
        }
        int n = (int) length;
        Object array = switch (dtype) {
            case F32 -> pool.floats(n, zeroed);
            case F64 -> pool.doubles(n, zeroed);
            case BF16, F16 -> pool.shorts(n, zeroed);
            case I32 -> pool.ints(n, zeroed);
            case I64 -> pool.longs(n, zeroed);
        };
        return new CpuStorage(dtype, array, n, pool);
    }

    /** Bytes of freed arrays held for reuse. */
    public long pooledBytes() {
        return pool.pooledBytes();
    }

    // ---------------------------------------------------------------- data movement

    @Override
    public void fill(Tensor out, double value) {
        Copy.fill(parallel, out, value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        Copy.copy(parallel, src, dst);
    }

    @Override
    public void fillRandom(Tensor out, Distribution distribution, double a, double b, long seed, long offset) {
        RandomFill.fillRandom(parallel, out, distribution, a, b, seed, offset);
    }

    // ---------------------------------------------------------------- GEMM

    @Override
    public void matmul(Tensor a, Tensor b, Tensor c, float alpha, float beta) {
        gemm.matmul(a, b, c, alpha, beta);
    }

    // ---------------------------------------------------------------- elementwise and reductions

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor out) {
        Elementwise.unary(parallel, op, x, out);
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        Elementwise.binary(parallel, op, a, b, out);
    }

    @Override
    public void affine(Tensor x, double scale, double shift, Tensor out) {
        Elementwise.affine(parallel, x, scale, shift, out);
    }

    @Override
    public void reduce(ReduceOp op, Tensor x, int dim, Tensor out) {
        Reductions.reduce(parallel, op, x, dim, out);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        return Reductions.sumOfSquares(parallel, x);
    }

    @Override
    public void softmax(Tensor x, Tensor out, boolean log) {
        Softmax.softmax(parallel, x, out, log);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) {
        Softmax.softmaxBackward(parallel, y, dy, dx, log);
    }

    // ---------------------------------------------------------------- fused transformer kernels

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd) {
        Norms.rmsNorm(parallel, x, weight, eps, y, rstd);
    }

    @Override
    public void rmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight) {
        Norms.rmsNormBackward(parallel, x, weight, rstd, dy, dx, dweight);
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd) {
        Norms.layerNorm(parallel, x, weight, bias, eps, y, mean, rstd);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
                                  Tensor dweight, Tensor dbias) {
        Norms.layerNormBackward(parallel, x, weight, mean, rstd, dy, dx, dweight, dbias);
    }

    @Override
    public void rotary(Tensor x, Tensor positions, double base, boolean inverse, Tensor out) {
        Rotary.rotary(parallel, x, positions, base, inverse, out);
    }

    @Override
    public void swiglu(Tensor gate, Tensor up, Tensor out) {
        SwiGlu.swiglu(parallel, gate, up, out);
    }

    @Override
    public void swigluBackward(Tensor gate, Tensor up, Tensor dout, Tensor dgate, Tensor dup) {
        SwiGlu.swigluBackward(parallel, gate, up, dout, dgate, dup);
    }

    @Override
    public void embedding(Tensor weight, Tensor ids, Tensor out) {
        EmbeddingKernels.embedding(parallel, weight, ids, out);
    }

    @Override
    public void embeddingBackward(Tensor ids, Tensor dout, Tensor dweight) {
        EmbeddingKernels.embeddingBackward(parallel, ids, dout, dweight);
    }

    @Override
    public void crossEntropy(Tensor logits, Tensor labels, int ignoreIndex, float smoothing, Tensor loss, Tensor lse) {
        CrossEntropy.crossEntropy(parallel, logits, labels, ignoreIndex, smoothing, loss, lse);
    }

    @Override
    public void crossEntropyBackward(Tensor logits, Tensor labels, Tensor lse, int ignoreIndex, float smoothing,
                                     Tensor dloss, Tensor dlogits) {
        CrossEntropy.crossEntropyBackward(parallel, logits, labels, lse, ignoreIndex, smoothing, dloss, dlogits);
    }

    @Override
    public void crossEntropyShardStats(Tensor logits, Tensor labels, int vocabStart, Tensor lse, Tensor target,
                                       Tensor sum) {
        CrossEntropy.shardStats(parallel, logits, labels, vocabStart, lse, target, sum);
    }

    @Override
    public void crossEntropyShardBackward(Tensor logits, Tensor labels, int vocabStart, int vocabTotal, Tensor lse,
                                          int ignoreIndex, float smoothing, Tensor dloss, Tensor dlogits) {
        CrossEntropy.shardBackward("crossEntropyShardBackward", parallel, logits, labels, vocabStart, vocabTotal, lse,
                ignoreIndex, smoothing, dloss, dlogits);
    }

    @Override
    public void attention(Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, float scale, boolean causal,
                          Tensor out, Tensor lse) {
        Attention.forward(parallel, q, k, v, cuSeqlens, scale, causal, out, lse, Attention.Plan.AUTO);
    }

    @Override
    public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse, Tensor cuSeqlens,
                                  float scale, boolean causal, Tensor dq, Tensor dk, Tensor dv) {
        Attention.backward(parallel, q, k, v, out, dout, lse, cuSeqlens, scale, causal, dq, dk, dv,
                Attention.Plan.AUTO);
    }

    // ---------------------------------------------------------------- optimizer

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step, Tensor modelCopy) {
        AdamW.adamw(parallel, this, param, grad, m, v, step, modelCopy);
    }
}
