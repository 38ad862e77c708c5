package org.internlmj.tensor;

/**
 * Allocating convenience calls over a tensor's {@link Backend}: each allocates its output in the
 * current {@link MemoryScope} and runs one backend operation. For code that does not manage buffers.
 *
 * <pre>{@code
 * Tensor y = Ops.add(Ops.matmul(x, w), bias);   // bias broadcast over rows
 * }</pre>
 */
public final class Ops {
    private Ops() {
    }

    /** The dtype of a result of floating inputs: F32 if any input is F32, else the first's dtype. */
    public static DType promote(Tensor a, Tensor b) {
        if (a.dtype() == b.dtype()) {
            return a.dtype();
        }
        if (a.dtype().isFloating() != b.dtype().isFloating()) {
            return a.dtype().isFloating() ? a.dtype() : b.dtype();
        }
        return a.dtype() == DType.F32 || b.dtype() == DType.F32 ? DType.F32 : a.dtype();
    }

    /** {@code a @ b} with an F32 result (see {@link Backend#matmul}). */
    public static Tensor matmul(Tensor a, Tensor b) {
        int[] shape = a.shape();
        shape[shape.length - 1] = b.size(-1);
        Tensor c = Tensor.empty(DType.F32, a.device(), shape);
        a.backend().matmul(a, b, c, 1f, 0f);
        return c;
    }

    public static Tensor binary(BinaryOp op, Tensor a, Tensor b) {
        Tensor out = Tensor.empty(promote(a, b), a.device(), Shapes.broadcast(a.shape(), b.shape()));
        a.backend().binary(op, a, b, out);
        return out;
    }

    public static Tensor add(Tensor a, Tensor b) {
        return binary(BinaryOp.ADD, a, b);
    }

    public static Tensor sub(Tensor a, Tensor b) {
        return binary(BinaryOp.SUB, a, b);
    }

    public static Tensor mul(Tensor a, Tensor b) {
        return binary(BinaryOp.MUL, a, b);
    }

    public static Tensor div(Tensor a, Tensor b) {
        return binary(BinaryOp.DIV, a, b);
    }

    public static Tensor unary(UnaryOp op, Tensor x) {
        Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
        x.backend().unary(op, x, out);
        return out;
    }

    /** {@code x * scale + shift}. */
    public static Tensor affine(Tensor x, double scale, double shift) {
        Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
        x.backend().affine(x, scale, shift, out);
        return out;
    }

    public static Tensor scale(Tensor x, double scale) {
        return affine(x, scale, 0);
    }

    /** Reduction along {@code dim}; {@code keepDim} keeps it with size 1. */
    public static Tensor reduce(ReduceOp op, Tensor x, int dim, boolean keepDim) {
        int d = Shapes.dim(dim, x.rank());
        int[] shape = x.shape();
        shape[d] = 1;
        Tensor out = Tensor.empty(x.dtype().isFloating() ? x.dtype() : DType.F32, x.device(), shape);
        x.backend().reduce(op, x, d, out);
        return keepDim ? out : out.squeeze(d);
    }

    public static Tensor sum(Tensor x, int dim, boolean keepDim) {
        return reduce(ReduceOp.SUM, x, dim, keepDim);
    }

    /** Sum of all elements as a 0-d tensor. */
    public static Tensor sumAll(Tensor x) {
        return reduce(ReduceOp.SUM, x.reshape(-1), 0, false);
    }

    public static Tensor mean(Tensor x, int dim, boolean keepDim) {
        return reduce(ReduceOp.MEAN, x, dim, keepDim);
    }

    public static Tensor max(Tensor x, int dim, boolean keepDim) {
        return reduce(ReduceOp.MAX, x, dim, keepDim);
    }

    public static Tensor softmax(Tensor x) {
        Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
        x.backend().softmax(x, out, false);
        return out;
    }

    public static Tensor logSoftmax(Tensor x) {
        Tensor out = Tensor.empty(x.dtype(), x.device(), x.shape());
        x.backend().softmax(x, out, true);
        return out;
    }

    /** Euclidean norm of all elements. */
    public static double norm(Tensor x) {
        return Math.sqrt(x.backend().sumOfSquares(x));
    }
}
