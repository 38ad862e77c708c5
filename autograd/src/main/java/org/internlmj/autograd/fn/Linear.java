package org.internlmj.autograd.fn;

import org.internlmj.autograd.AccumulatingBackward;
import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Matrix products: {@code matmul} (2-D and batched 3-D, as the backend's GEMM) and {@code linear}
 * (torch's {@code x @ W^T + b}, weight {@code [out, in]}). Every transposed operand, forward and
 * backward, is a transposed view handed to the GEMM, never a copy. Results have the operands' dtype
 * (fp32 accumulation inside the GEMM). A weight's gradient is accumulated by the GEMM itself into the
 * parameter's gradient buffer when it has one ({@link AccumulatingBackward}).
 */
public final class Linear {
    private Linear() {
    }

    /**
     * {@code a @ b}: a {@code [M, K]} or {@code [B, M, K]}, b {@code [K, N]} or {@code [B, K, N]} (a 2-D b
     * is shared by every batch); same dtype.
     */
    public static Variable matmul(Variable a, Variable b) {
        Tensor ad = a.data();
        Tensor bd = b.data();
        int[] shape = ad.shape();
        shape[shape.length - 1] = bd.size(-1);
        Tensor c = Tensor.empty(ad.dtype(), ad.device(), shape);
        ad.backend().matmul(ad, bd, c, 1f, 0f);
        Tensor savedA = b.requiresGrad() ? ad : null;
        Tensor savedB = a.requiresGrad() ? bd : null;
        AccumulatingBackward backward = (d, need, acc, zeroed) -> {
            Tensor dc = d[0];
            Tensor da = null;
            Tensor db = null;
            if (need[0]) {
                // dA = dC @ B^T; a 2-D B serves every batch of dC.
                da = Grads.newLike(ad);
                dc.backend().matmul(dc, savedB.transpose(-2, -1), da, 1f, 0f);
            }
            if (need[1]) {
                // Added straight into B's gradient buffer when the engine offers it (beta = 1).
                db = acc[1] != null ? acc[1] : Grads.newLike(bd);
                float beta = acc[1] != null && !zeroed[1] ? 1f : 0f;
                if (bd.rank() == ad.rank()) {
                    dc.backend().matmul(savedA.transpose(-2, -1), dc, db, 1f, beta);
                } else {
                    // A shared B gets the sum over batches: one GEMM over the batches' rows stacked.
                    Tensor a2 = savedA.reshape(-1, savedA.size(-1));
                    Tensor d2 = dc.reshape(-1, dc.size(-1));
                    dc.backend().matmul(a2.transpose(0, 1), d2, db, 1f, beta);
                }
            }
            return new Tensor[] {da, db};
        };
        return Graph.record("matmul", c, backward, a, b);
    }

    /**
     * {@code x @ weight^T + bias}: x {@code [..., in]}, weight {@code [out, in]}, bias {@code [out]} or
     * null; the result is {@code [..., out]}. Leading dimensions of x are flattened into the GEMM's rows.
     */
    public static Variable linear(Variable x, Variable weight, Variable bias) {
        Tensor xd = x.data();
        Tensor w = weight.data();
        Tensor b = bias == null ? null : bias.data();
        if (w.rank() != 2 || xd.rank() < 1 || xd.size(-1) != w.size(1)
                || (b != null && (b.rank() != 1 || b.size(0) != w.size(0)))) {
            throw new IllegalArgumentException("linear expects x [..., in], weight [out, in], bias [out]: got x "
                    + Shapes.str(xd.shape()) + ", weight " + Shapes.str(w.shape())
                    + (b == null ? "" : ", bias " + Shapes.str(b.shape())));
        }
        int in = w.size(1);
        int out = w.size(0);
        Tensor x2 = xd.reshape(-1, in);
        Tensor y2 = Tensor.empty(xd.dtype(), xd.device(), x2.size(0), out);
        float beta = 0f;
        if (b != null) {
            // The bias is broadcast into the output first and the GEMM adds onto it (beta = 1).
            xd.backend().copy(b, y2);
            beta = 1f;
        }
        xd.backend().matmul(x2, w.transpose(0, 1), y2, 1f, beta);
        int[] outShape = xd.shape();
        outShape[outShape.length - 1] = out;
        Tensor y = y2.reshape(outShape);
        Tensor savedX = weight.requiresGrad() ? x2 : null;
        Tensor savedW = x.requiresGrad() ? w : null;
        AccumulatingBackward backward = (d, need, acc, zeroed) -> {
            Tensor dy2 = d[0].reshape(-1, out);
            Tensor dx = null;
            Tensor dw = null;
            Tensor db = null;
            if (need[0]) {
                Tensor dx2 = Tensor.empty(xd.dtype(), xd.device(), dy2.size(0), in);
                dy2.backend().matmul(dy2, savedW, dx2, 1f, 0f);
                dx = dx2.reshape(xd.shape());
            }
            if (need[1]) {
                // Added straight into the weight's gradient buffer when the engine offers it (beta = 1).
                dw = acc[1] != null ? acc[1] : Grads.newLike(w);
                dy2.backend().matmul(dy2.transpose(0, 1), savedX, dw, 1f, acc[1] != null && !zeroed[1] ? 1f : 0f);
            }
            if (need[2]) {
                Tensor sum = Tensor.empty(dy2.dtype(), dy2.device(), 1, out);
                dy2.backend().reduce(ReduceOp.SUM, dy2, 0, sum);
                db = Grads.cast(sum.reshape(out), b.dtype());
            }
            return new Tensor[] {dx, dw, db};
        };
        return Graph.record("linear", y, backward, x, weight, bias);
    }
}
