package org.internlmj.autograd.fn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Tensor;

/**
 * Attention over packed documents with the backend's fused (flash-style) kernels. The forward saves
 * q, k, v, the output and the per-row log-sum-exp {@code [H, T]}: O(T) memory, never the T x T scores.
 */
public final class AttentionFn {
    private AttentionFn() {
    }

    /**
     * {@code softmax(scale * q k^T) v} per head, each token attending only to tokens of its own document
     * (documents are {@code cuSeqlens[d] .. cuSeqlens[d+1]-1}, I32 {@code [B+1]}) and, when
     * {@code causal}, only to itself and earlier ones. q, k, v {@code [T, H, D]} of one dtype.
     */
    public static Variable attention(Variable q, Variable k, Variable v, Tensor cuSeqlens, double scale,
                                     boolean causal) {
        Tensor qd = Grads.dense(q.data());
        Tensor kd = Grads.dense(k.data());
        Tensor vd = Grads.dense(v.data());
        if (qd.dtype() != kd.dtype() || qd.dtype() != vd.dtype()) {
            throw new IllegalArgumentException("attention: q, k, v differ in dtype: " + qd + ", " + kd + ", " + vd);
        }
        if (qd.rank() != 3) {
            throw new IllegalArgumentException("attention expects q, k, v [T, H, D], got " + qd);
        }
        float sc = (float) scale;
        Tensor out = Grads.newLike(qd);
        Tensor lse = Tensor.empty(Grads.statsType(qd), qd.device(), qd.size(1), qd.size(0));
        qd.backend().attention(qd, kd, vd, cuSeqlens, sc, causal, out, lse);
        return Graph.record("attention", out, (d, need) -> {
            Tensor dq = Grads.newLike(qd);
            Tensor dk = Grads.newLike(kd);
            Tensor dv = Grads.newLike(vd);
            qd.backend().attentionBackward(qd, kd, vd, out, Grads.dense(d[0]), lse, cuSeqlens, sc, causal, dq, dk, dv);
            return new Tensor[] {dq, dk, dv};
        }, q, k, v);
    }
}
