package org.internlmj.autograd;

import java.util.concurrent.atomic.AtomicLong;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * A vertex of the backward graph: either a recorded operation ({@link OpNode}) or the gradient
 * accumulator of a leaf ({@link LeafNode}). Edges point from a node to the nodes that produced its
 * inputs; edge {@code i} delivers the gradient of input {@code i} to output {@code nextSlot[i]} of
 * {@code next[i]}. An input that needs no gradient has a null edge.
 */
abstract class Node {
    private static final AtomicLong SEQUENCE = new AtomicLong();

    /** Creation order; the engine runs ready nodes newest first, which replays the forward backwards. */
    final long sequence;
    final String name;
    final Node[] next;
    final int[] nextSlot;
    private final int[][] outShapes;
    private final DType[] outTypes;

    Node(String name, long sequence, Node[] next, int[] nextSlot, Tensor[] outputs) {
        this.name = name;
        this.sequence = sequence;
        this.next = next;
        this.nextSlot = nextSlot;
        this.outShapes = new int[outputs.length][];
        this.outTypes = new DType[outputs.length];
        for (int i = 0; i < outputs.length; i++) {
            outShapes[i] = outputs[i].shape();
            outTypes[i] = outputs[i].dtype();
        }
    }

    static long nextSequence() {
        return SEQUENCE.incrementAndGet();
    }

    int outputs() {
        return outTypes.length;
    }

    /** Throws unless {@code grad} can be the gradient of output {@code slot}: same shape and dtype. */
    void checkGradient(int slot, Tensor grad, String producer) {
        if (!java.util.Arrays.equals(outShapes[slot], grad.shape()) || outTypes[slot] != grad.dtype()) {
            throw new IllegalStateException("backward of '" + producer + "' produced a gradient " + grad
                    + " for '" + name + "' output " + slot + " of shape " + Shapes.str(outShapes[slot]) + " "
                    + outTypes[slot] + "; a gradient must have the shape and dtype of what it differentiates");
        }
    }

    @Override
    public String toString() {
        return name + "#" + sequence;
    }
}
