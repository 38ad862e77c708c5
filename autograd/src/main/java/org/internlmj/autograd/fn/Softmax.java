package org.internlmj.autograd.fn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Tensor;

/** Softmax and log-softmax over the last dimension; each saves only its output. */
public final class Softmax {
    private Softmax() {
    }

    /** {@code exp(x) / sum(exp(x))} along the last dimension. */
    public static Variable softmax(Variable x) {
        return apply("softmax", x, false);
    }

    /** {@code x - logsumexp(x)} along the last dimension. */
    public static Variable logSoftmax(Variable x) {
        return apply("logSoftmax", x, true);
    }

    private static Variable apply(String name, Variable x, boolean log) {
        Tensor xd = Grads.dense(x.data());
        Tensor y = Grads.newLike(xd);
        xd.backend().softmax(xd, y, log);
        return Graph.record(name, y, (d, need) -> {
            Tensor dx = Grads.newLike(y);
            y.backend().softmaxBackward(y, Grads.dense(d[0]), dx, log);
            return new Tensor[] {dx};
        }, x);
    }
}
