package org.internlmj.autograd.fn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;

/** Activation functions: sigmoid, silu, tanh, relu, and SwiGLU (InternLM's MLP gate) as one fused kernel. */
public final class Activations {
    /**
     * 2^126 lifts every positive float32 or bfloat16 normal to at least 1 (and larger values to
     * infinity, in fp16 too) while keeping 0 at 0, so {@code min(relu(x) * 2^126, 1)} is relu's
     * derivative as a 0/1 mask without a comparison kernel. Only positive subnormals (|x| &lt; 2^-126)
     * get a fraction instead of 1.
     */
    private static final double RELU_MASK_SCALE = 0x1p126;

    private Activations() {
    }

    /** {@code 1 / (1 + e^-x)}; saves the output: {@code dx = dy * y * (1 - y)}. */
    public static Variable sigmoid(Variable x) {
        Tensor y = Grads.unary(UnaryOp.SIGMOID, x.data());
        return Graph.record("sigmoid", y,
                (d, need) -> new Tensor[] {Grads.mul(d[0], Grads.mul(y, Grads.affine(y, -1, 1)))}, x);
    }

    /** {@code x * sigmoid(x)}; {@code dx = dy * s * (1 + x (1 - s))} with {@code s = sigmoid(x)} recomputed. */
    public static Variable silu(Variable x) {
        Tensor xd = x.data();
        Tensor y = Grads.unary(UnaryOp.SILU, xd);
        return Graph.record("silu", y, (d, need) -> {
            Tensor s = Grads.unary(UnaryOp.SIGMOID, xd);
            Tensor slope = Grads.mul(Grads.affine(Grads.mul(xd, Grads.affine(s, -1, 1)), 1, 1), s);
            return new Tensor[] {Grads.mul(d[0], slope)};
        }, x);
    }

    /** Hyperbolic tangent; saves the output: {@code dx = dy * (1 - y^2)}. */
    public static Variable tanh(Variable x) {
        Tensor y = Grads.unary(UnaryOp.TANH, x.data());
        return Graph.record("tanh", y,
                (d, need) -> new Tensor[] {Grads.mul(d[0], Grads.affine(Grads.unary(UnaryOp.SQUARE, y), -1, 1))}, x);
    }

    /** {@code max(x, 0)}; saves the output: {@code dx = dy} where {@code x > 0}, else 0. */
    public static Variable relu(Variable x) {
        Tensor y = Grads.unary(UnaryOp.RELU, x.data());
        return Graph.record("relu", y, (d, need) -> {
            Tensor one = Tensor.full(1, y.dtype(), y.device(), 1);
            Tensor mask = Grads.binary(BinaryOp.MINIMUM, Grads.affine(y, RELU_MASK_SCALE, 0), one);
            return new Tensor[] {Grads.mul(d[0], mask)};
        }, x);
    }

    /** SwiGLU, {@code silu(gate) * up} (same shapes), with the backend's fused forward and backward. */
    public static Variable swiglu(Variable gate, Variable up) {
        Tensor g = gate.data();
        Tensor u = up.data();
        OpChecks.sameShape("swiglu", g, "gate", u, "up");
        if (g.dtype() != u.dtype()) {
            throw new IllegalArgumentException("swiglu: gate " + g + " and up " + u + " differ in dtype");
        }
        Tensor out = Grads.newLike(g);
        g.backend().swiglu(g, u, out);
        return Graph.record("swiglu", out, (d, need) -> {
            Tensor dg = Grads.newLike(g);
            Tensor du = Grads.newLike(u);
            g.backend().swigluBackward(g, u, d[0], dg, du);
            return new Tensor[] {dg, du};
        }, gate, up);
    }
}
