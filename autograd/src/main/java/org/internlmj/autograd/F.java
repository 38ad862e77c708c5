package org.internlmj.autograd;

import java.util.List;
import org.internlmj.autograd.fn.Activations;
import org.internlmj.autograd.fn.Arithmetic;
import org.internlmj.autograd.fn.AttentionFn;
import org.internlmj.autograd.fn.Embedding;
import org.internlmj.autograd.fn.Linear;
import org.internlmj.autograd.fn.Losses;
import org.internlmj.autograd.fn.Norms;
import org.internlmj.autograd.fn.Pointwise;
import org.internlmj.autograd.fn.Precision;
import org.internlmj.autograd.fn.Reductions;
import org.internlmj.autograd.fn.Rotary;
import org.internlmj.autograd.fn.Shape;
import org.internlmj.autograd.fn.Softmax;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;

/**
 * The differentiable functions, like {@code torch.nn.functional}: each computes its result with the
 * backend of its inputs' device (outputs allocated in the current memory scope) and, when recording,
 * records its backward. The implementations live one family per class in {@code fn}.
 *
 * <pre>{@code
 * Variable h = F.rmsNorm(x, norm, 1e-5);
 * Variable mlp = F.linear(F.swiglu(F.linear(h, w1, null), F.linear(h, w3, null)), w2, null);
 * Variable loss = F.crossEntropy(F.linear(mlp, head, null), labels, -100, 0.0, Reduction.MEAN);
 * loss.backward();
 * }</pre>
 *
 * <p>Integer inputs (ids, labels, positions, cuSeqlens) are plain tensors: nothing differentiates them.
 * Unless a function says otherwise its result has its inputs' dtype.
 */
public final class F {
    private F() {
    }

    // ---------------------------------------------------------------- arithmetic

    /** {@code a + b} with broadcasting. */
    public static Variable add(Variable a, Variable b) {
        return Arithmetic.add(a, b);
    }

    /** {@code a - b} with broadcasting. */
    public static Variable sub(Variable a, Variable b) {
        return Arithmetic.sub(a, b);
    }

    /** {@code a * b} elementwise with broadcasting. */
    public static Variable mul(Variable a, Variable b) {
        return Arithmetic.mul(a, b);
    }

    /** {@code a / b} elementwise with broadcasting. */
    public static Variable div(Variable a, Variable b) {
        return Arithmetic.div(a, b);
    }

    /** {@code x * s}. */
    public static Variable scale(Variable x, double s) {
        return Arithmetic.scale(x, s);
    }

    /** {@code -x}. */
    public static Variable neg(Variable x) {
        return Arithmetic.neg(x);
    }

    // ---------------------------------------------------------------- elementwise

    /** {@code e^x}. */
    public static Variable exp(Variable x) {
        return Pointwise.exp(x);
    }

    /** Natural logarithm. */
    public static Variable log(Variable x) {
        return Pointwise.log(x);
    }

    /** Square root. */
    public static Variable sqrt(Variable x) {
        return Pointwise.sqrt(x);
    }

    /** {@code 1 / sqrt(x)}. */
    public static Variable rsqrt(Variable x) {
        return Pointwise.rsqrt(x);
    }

    /** {@code x * x}. */
    public static Variable square(Variable x) {
        return Pointwise.square(x);
    }

    /** {@code 1 / (1 + e^-x)}. */
    public static Variable sigmoid(Variable x) {
        return Activations.sigmoid(x);
    }

    /** {@code x * sigmoid(x)}. */
    public static Variable silu(Variable x) {
        return Activations.silu(x);
    }

    /** Hyperbolic tangent. */
    public static Variable tanh(Variable x) {
        return Activations.tanh(x);
    }

    /** {@code max(x, 0)}. */
    public static Variable relu(Variable x) {
        return Activations.relu(x);
    }

    /** {@code silu(gate) * up}, fused. */
    public static Variable swiglu(Variable gate, Variable up) {
        return Activations.swiglu(gate, up);
    }

    // ---------------------------------------------------------------- matrix products

    /** {@code a @ b}: {@code [M, K] @ [K, N]}, or batched {@code [B, M, K] @ [B, K, N]} or {@code @ [K, N]}. */
    public static Variable matmul(Variable a, Variable b) {
        return Linear.matmul(a, b);
    }

    /** {@code x @ weight^T + bias}: x {@code [..., in]}, weight {@code [out, in]}, bias {@code [out]} or null. */
    public static Variable linear(Variable x, Variable weight, Variable bias) {
        return Linear.linear(x, weight, bias);
    }

    // ---------------------------------------------------------------- shapes

    /** Same elements, new shape (one size may be -1); a view of contiguous data. */
    public static Variable reshape(Variable x, int... shape) {
        return Shape.reshape(x, shape);
    }

    /** Swaps two dimensions (a view). */
    public static Variable transpose(Variable x, int dim0, int dim1) {
        return Shape.transpose(x, dim0, dim1);
    }

    /** Reorders dimensions: result dimension i is x's dimension {@code order[i]} (a view). */
    public static Variable permute(Variable x, int... order) {
        return Shape.permute(x, order);
    }

    /** Elements {@code start .. start+length-1} along {@code dim}. */
    public static Variable narrow(Variable x, int dim, int start, int length) {
        return Shape.narrow(x, dim, start, length);
    }

    /** The slice at {@code index} along {@code dim}, which is removed. */
    public static Variable select(Variable x, int dim, int index) {
        return Shape.select(x, dim, index);
    }

    /** Inserts a dimension of size 1 at {@code dim}. */
    public static Variable unsqueeze(Variable x, int dim) {
        return Shape.unsqueeze(x, dim);
    }

    /** Removes dimension {@code dim}, which must have size 1. */
    public static Variable squeeze(Variable x, int dim) {
        return Shape.squeeze(x, dim);
    }

    /** Broadcast to {@code shape} (NumPy rules); the gradient is summed back. */
    public static Variable expand(Variable x, int... shape) {
        return Shape.expand(x, shape);
    }

    /** x when contiguous, else a contiguous copy. */
    public static Variable contiguous(Variable x) {
        return Shape.contiguous(x);
    }

    /** Concatenation along {@code dim}. */
    public static Variable cat(List<Variable> parts, int dim) {
        return Shape.cat(parts, dim);
    }

    /** Views of consecutive parts of {@code size} along {@code dim} (the last may be smaller). */
    public static List<Variable> split(Variable x, int size, int dim) {
        return Shape.split(x, size, dim);
    }

    /** Views of consecutive parts of the given sizes along {@code dim}. */
    public static List<Variable> split(Variable x, int[] sizes, int dim) {
        return Shape.split(x, sizes, dim);
    }

    /** {@code chunks} views of equal size along {@code dim} (the last may be smaller), as torch.chunk. */
    public static List<Variable> chunk(Variable x, int chunks, int dim) {
        return Shape.chunk(x, chunks, dim);
    }

    // ---------------------------------------------------------------- reductions

    /** Sum along {@code dim}; {@code keepDim} keeps it with size 1. */
    public static Variable sum(Variable x, int dim, boolean keepDim) {
        return Reductions.sum(x, dim, keepDim);
    }

    /** Sum of all elements (0-dimensional). */
    public static Variable sum(Variable x) {
        return Reductions.sum(x);
    }

    /** Mean along {@code dim}; {@code keepDim} keeps it with size 1. */
    public static Variable mean(Variable x, int dim, boolean keepDim) {
        return Reductions.mean(x, dim, keepDim);
    }

    /** Mean of all elements (0-dimensional). */
    public static Variable mean(Variable x) {
        return Reductions.mean(x);
    }

    /** Softmax over the last dimension. */
    public static Variable softmax(Variable x) {
        return Softmax.softmax(x);
    }

    /** Log-softmax over the last dimension. */
    public static Variable logSoftmax(Variable x) {
        return Softmax.logSoftmax(x);
    }

    // ---------------------------------------------------------------- transformer blocks

    /** RMSNorm over the last dimension with weight {@code [H]}. */
    public static Variable rmsNorm(Variable x, Variable weight, double eps) {
        return Norms.rmsNorm(x, weight, eps);
    }

    /** LayerNorm over the last dimension; bias may be null. */
    public static Variable layerNorm(Variable x, Variable weight, Variable bias, double eps) {
        return Norms.layerNorm(x, weight, bias, eps);
    }

    /** Rotary embedding of {@code x [T, H, D]} at {@code positions [T]} (I32). */
    public static Variable rotary(Variable x, Tensor positions, double base) {
        return Rotary.rotary(x, positions, base);
    }

    /** Rows of {@code weight [V, H]} at {@code ids}: shape {@code ids.shape + [H]}. */
    public static Variable embedding(Variable weight, Tensor ids) {
        return Embedding.embedding(weight, ids);
    }

    /** Packed-document attention of {@code q, k, v [T, H, D]}; see {@link AttentionFn#attention}. */
    public static Variable attention(Variable q, Variable k, Variable v, Tensor cuSeqlens, double scale,
                                     boolean causal) {
        return AttentionFn.attention(q, k, v, cuSeqlens, scale, causal);
    }

    /** Cross-entropy of {@code logits [N, V]}; see {@link Losses#crossEntropy}. */
    public static Variable crossEntropy(Variable logits, Tensor labels, int ignoreIndex, double labelSmoothing,
                                        Reduction reduction) {
        return Losses.crossEntropy(logits, labels, ignoreIndex, labelSmoothing, reduction);
    }

    /** Cross-entropy with torch's defaults: ignore label -100, no smoothing, mean over kept rows. */
    public static Variable crossEntropy(Variable logits, Tensor labels) {
        return Losses.crossEntropy(logits, labels, -100, 0.0, Reduction.MEAN);
    }

    // ---------------------------------------------------------------- precision

    /** x in {@code dtype}; the gradient comes back in x's dtype. */
    public static Variable cast(Variable x, DType dtype) {
        return Precision.cast(x, dtype);
    }

    /** The value of x with its gradient scaled by {@code s} (InternLM's {@code embed_grad_scale}). */
    public static Variable scaleGrad(Variable x, double s) {
        return Precision.scaleGrad(x, s);
    }
}
