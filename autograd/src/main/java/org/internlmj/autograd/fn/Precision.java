package org.internlmj.autograd.fn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;

/** Dtype casts, and gradient scaling with an identity forward. */
public final class Precision {
    private Precision() {
    }

    /** x converted to {@code dtype} (rounded to nearest even); the gradient is cast back to x's dtype. */
    public static Variable cast(Variable x, DType dtype) {
        if (!dtype.isFloating()) {
            throw new IllegalArgumentException("cast of a differentiable value to " + dtype + ": only floating dtypes");
        }
        if (x.dtype() == dtype) {
            return x;
        }
        DType from = x.dtype();
        Tensor y = x.data().to(dtype);
        return Graph.record("cast", y, (d, need) -> new Tensor[] {d[0].to(from)}, x);
    }

    /**
     * InternLM's {@code embed_grad_scale}: the value of x, with its gradient multiplied by {@code s}
     * ({@code s * x + (1 - s) * x.detach()} in torch, without the forward arithmetic).
     */
    public static Variable scaleGrad(Variable x, double s) {
        return Graph.record("scaleGrad", x.data(), (d, need) -> new Tensor[] {Grads.affine(d[0], s, 0)}, x);
    }
}
