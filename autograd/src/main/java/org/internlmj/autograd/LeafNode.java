package org.internlmj.autograd;

import org.internlmj.tensor.Tensor;

/**
 * The gradient accumulator of a leaf that requires grad. It is a graph node like any other, so the
 * engine knows how many contributions it will receive in a pass and finishes it the moment the last
 * one arrives: the gradient is added into {@link Variable#grad()} and the leaf's hooks run right away,
 * while the rest of the backward goes on (the optimizer starts reducing gradients from these hooks).
 */
final class LeafNode extends Node {
    /** Leaves run as soon as they are ready, before any operation. */
    static final long LEAF_SEQUENCE = Long.MAX_VALUE;

    final Variable variable;

    LeafNode(Variable variable) {
        super(variable.name() == null ? "leaf" : variable.name(), LEAF_SEQUENCE, new Node[0], new int[0],
                new Tensor[] {variable.data()});
        this.variable = variable;
    }

    /** Adds this pass's summed gradient (null if none arrived) into the leaf and runs its hooks. */
    void finish(Tensor grad) {
        if (grad != null) {
            variable.accumulate(grad);
        }
        variable.runHooks();
    }
}
