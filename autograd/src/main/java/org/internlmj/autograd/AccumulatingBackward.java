package org.internlmj.autograd;

import org.internlmj.tensor.Tensor;

/**
 * A {@link Backward} that can add an input's gradient straight into the gradient buffer of the leaf that
 * input is, instead of returning a new tensor that the engine then adds in: for a weight gradient computed
 * by a GEMM this saves allocating the result and a full read-modify-write pass over it (the GEMM runs with
 * beta = 1 on the buffer).
 *
 * <p>The engine offers an accumulator for input {@code i} only when adding into it is exactly what it would
 * do with a returned gradient: the input is a parameter (a leaf) that is not a capture target, its
 * gradient buffer exists (contiguous, in its dtype), and this operation is its only contribution in the
 * pass. The backward signals that it used the accumulator by returning that very tensor for input
 * {@code i}; anything else returned is handled as a plain {@link Backward}'s result. When
 * {@code zeroed[i]} is set the buffer's contents count as zero ({@link Variable#zeroGradLazily}): the
 * backward writes its gradient over them instead of adding.
 *
 * <pre>{@code
 * AccumulatingBackward backward = (dOut, need, acc, zeroed) -> {
 *     Tensor dw = acc[1] != null ? acc[1] : Tensor.empty(w.dtype(), w.device(), w.shape());
 *     float beta = acc[1] != null && !zeroed[1] ? 1f : 0f;
 *     dOut[0].backend().matmul(dOut[0].transpose(0, 1), x, dw, 1f, beta);
 *     return new Tensor[] {null, dw};
 * };
 * }</pre>
 */
@FunctionalInterface
public interface AccumulatingBackward extends Backward {

    /**
     * @param accumulators {@code accumulators[i]}, when not null, is input {@code i}'s gradient buffer: the
     *                     backward may add its gradient into it in place and return it as input {@code i}'s
     *                     entry
     * @param zeroed       {@code zeroed[i]}: {@code accumulators[i]}'s contents count as zero, to be written
     *                     over rather than added to
     * @see Backward#apply
     */
    Tensor[] apply(Tensor[] gradOutputs, boolean[] needsInput, Tensor[] accumulators, boolean[] zeroed);

    @Override
    default Tensor[] apply(Tensor[] gradOutputs, boolean[] needsInput) {
        return apply(gradOutputs, needsInput, new Tensor[needsInput.length], new boolean[needsInput.length]);
    }
}
