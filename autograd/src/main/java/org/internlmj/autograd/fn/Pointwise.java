package org.internlmj.autograd.fn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;

/** Elementwise math: exp, log, sqrt, rsqrt, square. Results keep the input's dtype. */
public final class Pointwise {
    private Pointwise() {
    }

    /** {@code e^x}; saves the output: {@code dx = dy * y}. */
    public static Variable exp(Variable x) {
        Tensor y = Grads.unary(UnaryOp.EXP, x.data());
        return Graph.record("exp", y, (d, need) -> new Tensor[] {Grads.mul(d[0], y)}, x);
    }

    /** Natural logarithm; {@code dx = dy / x}. */
    public static Variable log(Variable x) {
        Tensor xd = x.data();
        Tensor y = Grads.unary(UnaryOp.LOG, xd);
        return Graph.record("log", y, (d, need) -> new Tensor[] {Grads.div(d[0], xd)}, x);
    }

    /** Square root; saves the output: {@code dx = dy / (2 y)}. */
    public static Variable sqrt(Variable x) {
        Tensor y = Grads.unary(UnaryOp.SQRT, x.data());
        return Graph.record("sqrt", y, (d, need) -> new Tensor[] {Grads.affine(Grads.div(d[0], y), 0.5, 0)}, x);
    }

    /** {@code 1 / sqrt(x)}; {@code dx = -dy * y / (2 x)}. */
    public static Variable rsqrt(Variable x) {
        Tensor xd = x.data();
        Tensor y = Grads.unary(UnaryOp.RSQRT, xd);
        return Graph.record("rsqrt", y,
                (d, need) -> new Tensor[] {Grads.affine(Grads.div(Grads.mul(d[0], y), xd), -0.5, 0)}, x);
    }

    /** {@code x * x}; {@code dx = 2 x dy}. */
    public static Variable square(Variable x) {
        Tensor xd = x.data();
        Tensor y = Grads.unary(UnaryOp.SQUARE, xd);
        return Graph.record("square", y, (d, need) -> new Tensor[] {Grads.affine(Grads.mul(d[0], xd), 2, 0)}, x);
    }
}
