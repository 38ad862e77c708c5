package org.internlmj.autograd.fn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * RMSNorm and LayerNorm over the last dimension with the backend's fused kernels. Each saves its input
 * and the per-row statistics the backward needs (rstd; mean and rstd), never the normalised output.
 */
public final class Norms {
    private Norms() {
    }

    /** {@code weight * x / sqrt(mean(x^2) + eps)} over the last dimension; weight {@code [H]}. */
    public static Variable rmsNorm(Variable x, Variable weight, double eps) {
        Tensor xd = Grads.dense(x.data());
        Tensor w = Grads.dense(weight.data());
        Tensor y = Grads.newLike(xd);
        Tensor rstd = Tensor.empty(Grads.statsType(xd), xd.device(), rows(xd));
        xd.backend().rmsNorm(xd, w, (float) eps, y, rstd);
        return Graph.record("rmsNorm", y, (d, need) -> {
            Tensor dx = Grads.newLike(xd);
            Tensor dw = Grads.newLike(w);
            xd.backend().rmsNormBackward(xd, w, rstd, Grads.dense(d[0]), dx, dw);
            return new Tensor[] {dx, dw};
        }, x, weight);
    }

    /** {@code (x - mean) / sqrt(var + eps) * weight + bias} over the last dimension; bias may be null. */
    public static Variable layerNorm(Variable x, Variable weight, Variable bias, double eps) {
        Tensor xd = Grads.dense(x.data());
        Tensor w = Grads.dense(weight.data());
        Tensor b = bias == null ? null : Grads.dense(bias.data());
        Tensor y = Grads.newLike(xd);
        int n = rows(xd);
        Tensor mean = Tensor.empty(Grads.statsType(xd), xd.device(), n);
        Tensor rstd = Tensor.empty(Grads.statsType(xd), xd.device(), n);
        xd.backend().layerNorm(xd, w, b, (float) eps, y, mean, rstd);
        return Graph.record("layerNorm", y, (d, need) -> {
            Tensor dx = Grads.newLike(xd);
            Tensor dw = Grads.newLike(w);
            Tensor db = b == null ? null : Grads.newLike(b);
            xd.backend().layerNormBackward(xd, w, mean, rstd, Grads.dense(d[0]), dx, dw, db);
            return new Tensor[] {dx, dw, db};
        }, x, weight, bias);
    }

    private static int rows(Tensor x) {
        if (x.rank() < 1) {
            throw new IllegalArgumentException("a norm needs at least one dimension, got shape " + Shapes.str(x.shape()));
        }
        int h = x.size(-1);
        return h == 0 ? 0 : x.numel() / h;
    }
}
