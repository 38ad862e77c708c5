package org.internlmj.autograd;

import org.internlmj.tensor.Tensor;

/**
 * The backward of one recorded operation: given the gradients of its outputs, the gradients of its
 * inputs. Written next to the forward, capturing the minimum the forward saved for it.
 *
 * <pre>{@code
 * Graph.record("exp", y, (dOut, need) -> new Tensor[] {Ops.mul(dOut[0], y)}, x);
 * }</pre>
 */
@FunctionalInterface
public interface Backward {

    /**
     * @param gradOutputs one gradient per output, each with that output's shape and dtype and any strided
     *                    layout; null for an output that received no gradient (only an operation with
     *                    several outputs ever sees a null: one with a single output runs only when it
     *                    has a gradient). Never written to: the same tensor may be handed to others.
     * @param needsInput  {@code needsInput[i]} is false when input {@code i} needs no gradient (a
     *                    constant, or null): its entry may then be left null and its work skipped
     * @return one gradient per input, in input order, each with its input's shape and dtype, or null
     */
    Tensor[] apply(Tensor[] gradOutputs, boolean[] needsInput);
}
