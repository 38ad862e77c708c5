package org.internlmj.autograd.fn;

import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;

/**
 * Tensor arithmetic the functions' forwards and backwards share: each call allocates its result with
 * {@link Tensor#empty} in the current memory scope and runs one backend operation (reductions of a
 * broadcast gradient run one per reduced dimension).
 */
final class Grads {
    private Grads() {
    }

    /** The dtype of a binary result: the common dtype, else the wider one (BF16 with F16 gives F32). */
    static DType resultType(DType a, DType b) {
        if (a == b) {
            return a;
        }
        if (!a.isFloating() || !b.isFloating()) {
            throw new IllegalArgumentException("arithmetic needs floating operands, got " + a + " and " + b);
        }
        if (a == DType.F64 || b == DType.F64) {
            return DType.F64;
        }
        return DType.F32;
    }

    /**
     * The dtype of per-row statistics saved for a backward (rstd, mean, lse, per-token loss): F32, or
     * F64 for F64 inputs so float64 gradient checks stay float64 end to end.
     */
    static DType statsType(Tensor x) {
        return x.dtype() == DType.F64 ? DType.F64 : DType.F32;
    }

    static Tensor newLike(Tensor t) {
        return Tensor.empty(t.dtype(), t.device(), t.shape());
    }

    static Tensor unary(UnaryOp op, Tensor x) {
        Tensor out = newLike(x);
        x.backend().unary(op, x, out);
        return out;
    }

    static Tensor binary(BinaryOp op, Tensor a, Tensor b) {
        if (!a.device().equals(b.device())) {
            throw new IllegalArgumentException(op + ": operands on different devices, " + a + " and " + b);
        }
        Tensor out = Tensor.empty(resultType(a.dtype(), b.dtype()), a.device(), Shapes.broadcast(a.shape(), b.shape()));
        a.backend().binary(op, a, b, out);
        return out;
    }

    static Tensor mul(Tensor a, Tensor b) {
        return binary(BinaryOp.MUL, a, b);
    }

    static Tensor div(Tensor a, Tensor b) {
        return binary(BinaryOp.DIV, a, b);
    }

    /** {@code x * scale + shift}. */
    static Tensor affine(Tensor x, double scale, double shift) {
        Tensor out = newLike(x);
        x.backend().affine(x, scale, shift, out);
        return out;
    }

    /** {@code t} in {@code dtype} (t itself when it already is). */
    static Tensor cast(Tensor t, DType dtype) {
        return t.to(dtype);
    }

    /** A contiguous copy when {@code t} is not contiguous: for row kernels, which need dense rows. */
    static Tensor dense(Tensor t) {
        return t == null ? null : t.contiguous();
    }

    /**
     * The gradient of a tensor that was broadcast from {@code like} to {@code grad}'s shape: {@code grad}
     * summed over the broadcast dimensions, in {@code like}'s shape and dtype.
     */
    static Tensor reduceTo(Tensor grad, Tensor like) {
        return cast(sumToShape(grad, like.shape()), like.dtype());
    }

    /** Sums {@code g} over the dimensions NumPy broadcasting added or stretched to reach its shape from {@code shape}. */
    static Tensor sumToShape(Tensor g, int[] shape) {
        int[] gs = g.shape();
        if (java.util.Arrays.equals(gs, shape)) {
            return g;
        }
        int lead = gs.length - shape.length;
        if (lead < 0) {
            throw new IllegalArgumentException("gradient " + Shapes.str(gs) + " has fewer dimensions than "
                    + Shapes.str(shape));
        }
        Tensor t = g;
        if (lead > 1 && g.isContiguous()) {
            // The added leading dimensions merge into one, reduced in one pass.
            int[] merged = new int[shape.length + 1];
            merged[0] = -1;
            System.arraycopy(gs, lead, merged, 1, shape.length);
            t = g.reshape(merged);
            lead = 1;
        }
        int[] ts = t.shape();
        for (int d = 0; d < ts.length; d++) {
            boolean added = d < lead;
            boolean stretched = !added && shape[d - lead] == 1 && ts[d] != 1;
            if (added || stretched) {
                int[] os = t.shape();
                os[d] = 1;
                Tensor out = Tensor.empty(t.dtype(), t.device(), os);
                t.backend().reduce(ReduceOp.SUM, t, d, out);
                t = out;
            }
        }
        return t.reshape(shape);
    }
}
