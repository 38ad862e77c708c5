package org.internlmj.autograd.fn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Reduction;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Cross-entropy with label smoothing and ignored labels (InternLM's {@code FlashGPTLMLoss}), on the
 * backend's fused kernel: the forward saves only the per-row log-sum-exp, the backward rebuilds the
 * softmax from the logits and it. The loss is F32 whatever the logits' dtype (F64 for F64 logits).
 */
public final class Losses {
    private Losses() {
    }

    /**
     * Cross-entropy of {@code logits [N, V]} against {@code labels [N]} (I32 or I64). Rows whose label
     * is {@code ignoreIndex} count for nothing. {@code labelSmoothing} s mixes the one-hot target with
     * the uniform one: {@code loss = (1-s)(lse - x[y]) + s(lse - mean(x))}. MEAN divides by the number of
     * rows not ignored (NaN, as torch, when all are ignored); finding that number reads the labels on
     * the host.
     */
    public static Variable crossEntropy(Variable logits, Tensor labels, int ignoreIndex, double labelSmoothing,
                                        Reduction reduction) {
        Tensor x = Grads.dense(logits.data());
        if (x.rank() != 2) {
            throw new IllegalArgumentException("crossEntropy expects logits [N, V], got " + Shapes.str(x.shape()));
        }
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) {
            throw new IllegalArgumentException("label smoothing must be in [0, 1], got " + labelSmoothing);
        }
        int n = x.size(0);
        float s = (float) labelSmoothing;
        Tensor loss = Tensor.empty(Grads.statsType(x), x.device(), n);
        Tensor lse = Tensor.empty(Grads.statsType(x), x.device(), n);
        x.backend().crossEntropy(x, labels, ignoreIndex, s, loss, lse);
        // finding how many rows count reads the labels on the host: only the mean needs it
        long kept = reduction == Reduction.MEAN ? countKept(labels, ignoreIndex) : 0;
        Tensor y = reduction.apply(loss, kept);
        double scale = reduction.rowScale(kept);
        return Graph.record("crossEntropy", y, (d, need) -> {
            // Per-row loss gradients: the reduced gradient broadcast to the rows (and scaled for MEAN).
            Tensor dloss = Tensor.empty(loss.dtype(), loss.device(), n);
            dloss.backend().affine(d[0].to(loss.dtype()), scale, 0, dloss);
            Tensor dx = Grads.newLike(x);
            x.backend().crossEntropyBackward(x, labels, lse, ignoreIndex, s, dloss, dx);
            return new Tensor[] {dx};
        }, logits);
    }

    private static long countKept(Tensor labels, int ignoreIndex) {
        long kept = 0;
        for (long label : labels.toLongArray()) {
            if (label != ignoreIndex) {
                kept++;
            }
        }
        return kept;
    }
}
