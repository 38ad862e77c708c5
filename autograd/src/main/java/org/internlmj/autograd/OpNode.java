package org.internlmj.autograd;

import org.internlmj.tensor.Tensor;

/** A recorded operation: its {@link Backward} and the edges to its inputs' producers. */
final class OpNode extends Node {
    /** Dropped after the node's backward ran, releasing what the forward saved for it. */
    private Backward backward;

    OpNode(String name, Node[] next, int[] nextSlot, Tensor[] outputs, Backward backward) {
        super(name, nextSequence(), next, nextSlot, outputs);
        this.backward = backward;
    }

    boolean released() {
        return backward == null;
    }

    /** True if the backward can add gradients into leaf buffers ({@link AccumulatingBackward}). */
    boolean accumulates() {
        return backward instanceof AccumulatingBackward;
    }

    /**
     * Runs the backward on the summed output gradients and releases the saved tensors. Returns null,
     * without running, when no output received a gradient. {@code accumulators} (null, or one entry per
     * input) go to an {@link AccumulatingBackward}, with {@code zeroed} (buffers whose contents count as zero).
     */
    Tensor[] run(Tensor[] gradOutputs, Tensor[] accumulators, boolean[] zeroed) {
        Backward b = backward;
        if (b == null) {
            throw GraphFreed.at(this);
        }
        boolean any = false;
        for (Tensor g : gradOutputs) {
            any |= g != null;
        }
        Tensor[] result = null;
        if (any) {
            boolean[] needs = new boolean[next.length];
            for (int i = 0; i < next.length; i++) {
                needs[i] = next[i] != null;
            }
            try {
                result = accumulators != null && b instanceof AccumulatingBackward ab
                        ? ab.apply(gradOutputs, needs, accumulators, zeroed) : b.apply(gradOutputs, needs);
            } catch (GraphFreed e) {
                throw e;
            } catch (RuntimeException e) {
                throw new IllegalStateException("backward of '" + name + "' failed: " + e.getMessage(), e);
            }
            if (result == null || result.length != next.length) {
                throw new IllegalStateException("backward of '" + name + "' returned "
                        + (result == null ? "null" : result.length + " gradients") + " for " + next.length + " inputs");
            }
        }
        backward = null;
        return result;
    }
}
