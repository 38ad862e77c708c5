package org.internlmj.autograd.fn;

import static org.internlmj.autograd.fn.Grads.reduceTo;

import org.internlmj.autograd.Backward;
import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;

/**
 * Add, sub, mul, div with NumPy broadcasting, and scale and neg. The result has the common dtype of
 * the operands (the wider one if they differ); each operand's gradient is summed over the dimensions
 * broadcasting stretched and cast back to the operand's dtype.
 */
public final class Arithmetic {
    private Arithmetic() {
    }

    /** {@code a + b}. */
    public static Variable add(Variable a, Variable b) {
        Tensor ad = a.data();
        Tensor bd = b.data();
        Tensor out = Grads.binary(BinaryOp.ADD, ad, bd);
        return Graph.record("add", out, (d, need) -> new Tensor[] {
                need[0] ? reduceTo(d[0], ad) : null,
                need[1] ? reduceTo(d[0], bd) : null}, a, b);
    }

    /** {@code a - b}. */
    public static Variable sub(Variable a, Variable b) {
        Tensor ad = a.data();
        Tensor bd = b.data();
        Tensor out = Grads.binary(BinaryOp.SUB, ad, bd);
        return Graph.record("sub", out, (d, need) -> new Tensor[] {
                need[0] ? reduceTo(d[0], ad) : null,
                need[1] ? reduceTo(Grads.unary(UnaryOp.NEG, d[0]), bd) : null}, a, b);
    }

    /** {@code a * b}, elementwise. */
    public static Variable mul(Variable a, Variable b) {
        Tensor ad = a.data();
        Tensor bd = b.data();
        Tensor out = Grads.binary(BinaryOp.MUL, ad, bd);
        // Each factor is kept only for the other's gradient.
        Tensor savedA = b.requiresGrad() ? ad : null;
        Tensor savedB = a.requiresGrad() ? bd : null;
        return Graph.record("mul", out, (d, need) -> new Tensor[] {
                need[0] ? reduceTo(Grads.mul(d[0], savedB), ad) : null,
                need[1] ? reduceTo(Grads.mul(d[0], savedA), bd) : null}, a, b);
    }

    /** {@code a / b}, elementwise. */
    public static Variable div(Variable a, Variable b) {
        Tensor ad = a.data();
        Tensor bd = b.data();
        Tensor out = Grads.binary(BinaryOp.DIV, ad, bd);
        Backward backward = (d, need) -> {
            Tensor da = null;
            Tensor db = null;
            if (need[0]) {
                da = reduceTo(Grads.div(d[0], bd), ad);
            }
            if (need[1]) {
                // d(a/b)/db = -(a/b)/b: the output is reused instead of a.
                Tensor t = Grads.div(Grads.mul(d[0], out), bd);
                db = reduceTo(Grads.unary(UnaryOp.NEG, t), bd);
            }
            return new Tensor[] {da, db};
        };
        return Graph.record("div", out, backward, a, b);
    }

    /** {@code x * s}. */
    public static Variable scale(Variable x, double s) {
        Tensor out = Grads.affine(x.data(), s, 0);
        return Graph.record("scale", out, (d, need) -> new Tensor[] {Grads.affine(d[0], s, 0)}, x);
    }

    /** {@code -x}. */
    public static Variable neg(Variable x) {
        Tensor out = Grads.unary(UnaryOp.NEG, x.data());
        return Graph.record("neg", out, (d, need) -> new Tensor[] {Grads.unary(UnaryOp.NEG, d[0])}, x);
    }
}
