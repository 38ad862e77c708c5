package org.internlmj.tensor;

import java.util.EnumMap;
import java.util.Map;

/**
 * A {@link Backend} that forwards every call to another and adds up the wall time spent per
 * {@link Family}, for benchmarks that report where a training step goes. Install it for a thread with
 * {@link Backends#overrideCpu}; calls from one thread only.
 *
 * <pre>{@code
 * ProfilingBackend p = new ProfilingBackend(CpuBackend.shared());
 * try (var o = Backends.overrideCpu(p)) { trainer.fit(); }
 * p.nanos();   // {GEMM=..., ATTENTION=..., ...}
 * }</pre>
 */
public final class ProfilingBackend implements Backend {
    /** Groups of operations as the CPU throughput issue reports them. */
    public enum Family { GEMM, ATTENTION, NORMS, ELEMENTWISE, OTHER }

    /** The Backend operations timed one by one (their method names, in snake case), each in its family. */
    public enum Op {
        FILL(Family.ELEMENTWISE),
        COPY(Family.ELEMENTWISE),
        FILL_RANDOM(Family.OTHER),
        MATMUL(Family.GEMM),
        UNARY(Family.ELEMENTWISE),
        BINARY(Family.ELEMENTWISE),
        AFFINE(Family.ELEMENTWISE),
        REDUCE(Family.OTHER),
        SUM_OF_SQUARES(Family.OTHER),
        SOFTMAX(Family.ELEMENTWISE),
        SOFTMAX_BACKWARD(Family.ELEMENTWISE),
        RMS_NORM(Family.NORMS),
        RMS_NORM_BACKWARD(Family.NORMS),
        LAYER_NORM(Family.NORMS),
        LAYER_NORM_BACKWARD(Family.NORMS),
        ROTARY(Family.ELEMENTWISE),
        SWIGLU(Family.ELEMENTWISE),
        SWIGLU_BACKWARD(Family.ELEMENTWISE),
        EMBEDDING(Family.OTHER),
        EMBEDDING_BACKWARD(Family.OTHER),
        CROSS_ENTROPY(Family.OTHER),
        CROSS_ENTROPY_BACKWARD(Family.OTHER),
        CROSS_ENTROPY_SHARD_STATS(Family.OTHER),
        CROSS_ENTROPY_SHARD_BACKWARD(Family.OTHER),
        ATTENTION(Family.ATTENTION),
        ATTENTION_BACKWARD(Family.ATTENTION),
        ADAMW(Family.OTHER);

        private final Family family;

        Op(Family family) {
            this.family = family;
        }

        public Family family() {
            return family;
        }
    }

    private final Backend inner;
    private final long[] nanos = new long[Family.values().length];
    private final long[] calls = new long[Family.values().length];
    private final long[] opNanos = new long[Op.values().length];

    public ProfilingBackend(Backend inner) {
        this.inner = inner;
    }

    /** Time per family since construction or the last {@link #reset()}. */
    public Map<Family, Long> nanos() {
        Map<Family, Long> m = new EnumMap<>(Family.class);
        for (Family f : Family.values()) {
            m.put(f, nanos[f.ordinal()]);
        }
        return m;
    }

    /** Calls per family. */
    public Map<Family, Long> calls() {
        Map<Family, Long> m = new EnumMap<>(Family.class);
        for (Family f : Family.values()) {
            m.put(f, calls[f.ordinal()]);
        }
        return m;
    }

    /** Time per operation (those called at least once) since construction or the last {@link #reset()}. */
    public Map<Op, Long> opNanos() {
        Map<Op, Long> m = new EnumMap<>(Op.class);
        for (Op op : Op.values()) {
            if (opNanos[op.ordinal()] > 0) {
                m.put(op, opNanos[op.ordinal()]);
            }
        }
        return m;
    }

    public void reset() {
        java.util.Arrays.fill(nanos, 0);
        java.util.Arrays.fill(calls, 0);
        java.util.Arrays.fill(opNanos, 0);
    }

    private void add(Op op, long start) {
        long dt = System.nanoTime() - start;
        nanos[op.family().ordinal()] += dt;
        calls[op.family().ordinal()]++;
        opNanos[op.ordinal()] += dt;
    }

    @Override
    public Device device() {
        return inner.device();
    }

    @Override
    public String describe() {
        return "profiling " + inner.describe();
    }

    @Override
    public Storage allocate(DType dtype, long length, boolean zeroed) {
        return inner.allocate(dtype, length, zeroed);
    }

    @Override
    public void synchronize() {
        inner.synchronize();
    }

    @Override
    public void fill(Tensor out, double value) {
        long t = System.nanoTime();
        inner.fill(out, value);
        add(Op.FILL, t);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        long t = System.nanoTime();
        inner.copy(src, dst);
        add(Op.COPY, t);
    }

    @Override
    public void fillRandom(Tensor out, Distribution distribution, double a, double b, long seed, long offset) {
        long t = System.nanoTime();
        inner.fillRandom(out, distribution, a, b, seed, offset);
        add(Op.FILL_RANDOM, t);
    }

    @Override
    public void matmul(Tensor a, Tensor b, Tensor c, float alpha, float beta) {
        long t = System.nanoTime();
        inner.matmul(a, b, c, alpha, beta);
        add(Op.MATMUL, t);
    }

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor out) {
        long t = System.nanoTime();
        inner.unary(op, x, out);
        add(Op.UNARY, t);
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        long t = System.nanoTime();
        inner.binary(op, a, b, out);
        add(Op.BINARY, t);
    }

    @Override
    public void affine(Tensor x, double scale, double shift, Tensor out) {
        long t = System.nanoTime();
        inner.affine(x, scale, shift, out);
        add(Op.AFFINE, t);
    }

    @Override
    public void reduce(ReduceOp op, Tensor x, int dim, Tensor out) {
        long t = System.nanoTime();
        inner.reduce(op, x, dim, out);
        add(Op.REDUCE, t);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        long t = System.nanoTime();
        double r = inner.sumOfSquares(x);
        add(Op.SUM_OF_SQUARES, t);
        return r;
    }

    @Override
    public void softmax(Tensor x, Tensor out, boolean log) {
        long t = System.nanoTime();
        inner.softmax(x, out, log);
        add(Op.SOFTMAX, t);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) {
        long t = System.nanoTime();
        inner.softmaxBackward(y, dy, dx, log);
        add(Op.SOFTMAX_BACKWARD, t);
    }

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd) {
        long t = System.nanoTime();
        inner.rmsNorm(x, weight, eps, y, rstd);
        add(Op.RMS_NORM, t);
    }

    @Override
    public void rmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight) {
        long t = System.nanoTime();
        inner.rmsNormBackward(x, weight, rstd, dy, dx, dweight);
        add(Op.RMS_NORM_BACKWARD, t);
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd) {
        long t = System.nanoTime();
        inner.layerNorm(x, weight, bias, eps, y, mean, rstd);
        add(Op.LAYER_NORM, t);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
                                  Tensor dweight, Tensor dbias) {
        long t = System.nanoTime();
        inner.layerNormBackward(x, weight, mean, rstd, dy, dx, dweight, dbias);
        add(Op.LAYER_NORM_BACKWARD, t);
    }

    @Override
    public void rotary(Tensor x, Tensor positions, double base, boolean inverse, Tensor out) {
        long t = System.nanoTime();
        inner.rotary(x, positions, base, inverse, out);
        add(Op.ROTARY, t);
    }

    @Override
    public void swiglu(Tensor gate, Tensor up, Tensor out) {
        long t = System.nanoTime();
        inner.swiglu(gate, up, out);
        add(Op.SWIGLU, t);
    }

    @Override
    public void swigluBackward(Tensor gate, Tensor up, Tensor dout, Tensor dgate, Tensor dup) {
        long t = System.nanoTime();
        inner.swigluBackward(gate, up, dout, dgate, dup);
        add(Op.SWIGLU_BACKWARD, t);
    }

    @Override
    public void embedding(Tensor weight, Tensor ids, Tensor out) {
        long t = System.nanoTime();
        inner.embedding(weight, ids, out);
        add(Op.EMBEDDING, t);
    }

    @Override
    public void embeddingBackward(Tensor ids, Tensor dout, Tensor dweight) {
        long t = System.nanoTime();
        inner.embeddingBackward(ids, dout, dweight);
        add(Op.EMBEDDING_BACKWARD, t);
    }

    @Override
    public void crossEntropy(Tensor logits, Tensor labels, int ignoreIndex, float smoothing, Tensor loss, Tensor lse) {
        long t = System.nanoTime();
        inner.crossEntropy(logits, labels, ignoreIndex, smoothing, loss, lse);
        add(Op.CROSS_ENTROPY, t);
    }

    @Override
    public void crossEntropyBackward(Tensor logits, Tensor labels, Tensor lse, int ignoreIndex, float smoothing,
                                     Tensor dloss, Tensor dlogits) {
        long t = System.nanoTime();
        inner.crossEntropyBackward(logits, labels, lse, ignoreIndex, smoothing, dloss, dlogits);
        add(Op.CROSS_ENTROPY_BACKWARD, t);
    }

    @Override
    public void crossEntropyShardStats(Tensor logits, Tensor labels, int vocabStart, Tensor lse, Tensor target,
                                       Tensor sum) {
        long t = System.nanoTime();
        inner.crossEntropyShardStats(logits, labels, vocabStart, lse, target, sum);
        add(Op.CROSS_ENTROPY_SHARD_STATS, t);
    }

    @Override
    public void crossEntropyShardBackward(Tensor logits, Tensor labels, int vocabStart, int vocabTotal, Tensor lse,
                                          int ignoreIndex, float smoothing, Tensor dloss, Tensor dlogits) {
        long t = System.nanoTime();
        inner.crossEntropyShardBackward(logits, labels, vocabStart, vocabTotal, lse, ignoreIndex, smoothing, dloss,
                dlogits);
        add(Op.CROSS_ENTROPY_SHARD_BACKWARD, t);
    }

    @Override
    public void attention(Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, float scale, boolean causal,
                          Tensor out, Tensor lse) {
        long t = System.nanoTime();
        inner.attention(q, k, v, cuSeqlens, scale, causal, out, lse);
        add(Op.ATTENTION, t);
    }

    @Override
    public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse, Tensor cuSeqlens,
                                  float scale, boolean causal, Tensor dq, Tensor dk, Tensor dv) {
        long t = System.nanoTime();
        inner.attentionBackward(q, k, v, out, dout, lse, cuSeqlens, scale, causal, dq, dk, dv);
        add(Op.ATTENTION_BACKWARD, t);
    }

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step, Tensor modelCopy) {
        long t = System.nanoTime();
        inner.adamw(param, grad, m, v, step, modelCopy);
        add(Op.ADAMW, t);
    }
}
