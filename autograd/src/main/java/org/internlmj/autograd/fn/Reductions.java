package org.internlmj.autograd.fn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Sum and mean, along one dimension or over all elements. Results keep the input's dtype (cast first
 * for a wider accumulator); the gradient is the output gradient broadcast back, scaled by 1/n for mean.
 */
public final class Reductions {
    private Reductions() {
    }

    /** Sum along {@code dim}; {@code keepDim} keeps that dimension with size 1. */
    public static Variable sum(Variable x, int dim, boolean keepDim) {
        return reduce("sum", ReduceOp.SUM, x, dim, keepDim);
    }

    /** Mean along {@code dim}; {@code keepDim} keeps that dimension with size 1. */
    public static Variable mean(Variable x, int dim, boolean keepDim) {
        return reduce("mean", ReduceOp.MEAN, x, dim, keepDim);
    }

    /** Sum of all elements, a 0-dimensional result. */
    public static Variable sum(Variable x) {
        return reduceAll("sum", ReduceOp.SUM, x);
    }

    /** Mean of all elements, a 0-dimensional result. */
    public static Variable mean(Variable x) {
        return reduceAll("mean", ReduceOp.MEAN, x);
    }

    private static Variable reduce(String name, ReduceOp op, Variable x, int dim, boolean keepDim) {
        Tensor xd = x.data();
        int d = Shapes.dim(dim, xd.rank());
        int[] kept = xd.shape();
        kept[d] = 1;
        Tensor out = Tensor.empty(xd.dtype(), xd.device(), kept);
        xd.backend().reduce(op, xd, d, out);
        Tensor y = keepDim ? out : out.squeeze(d);
        int n = xd.size(d);
        return Graph.record(name, y, (g, need) -> new Tensor[] {spread(op, g[0].reshape(kept), xd, n)}, x);
    }

    private static Variable reduceAll(String name, ReduceOp op, Variable x) {
        Tensor xd = x.data();
        Tensor flat = xd.reshape(-1);
        Tensor out = Tensor.empty(xd.dtype(), xd.device(), 1);
        xd.backend().reduce(op, flat, 0, out);
        Tensor y = out.reshape();
        int n = flat.size(0);
        return Graph.record(name, y, (g, need) -> new Tensor[] {spread(op, g[0], xd, n)}, x);
    }

    /** The gradient of a reduction: {@code g} broadcast to x's shape, times 1/n for a mean. */
    private static Tensor spread(ReduceOp op, Tensor g, Tensor x, int n) {
        Tensor dx = Grads.newLike(x);
        if (op == ReduceOp.MEAN) {
            dx.backend().affine(g, 1.0 / n, 0, dx);
        } else {
            dx.backend().copy(g, dx);
        }
        return dx;
    }
}
