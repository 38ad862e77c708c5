package org.internlmj.autograd;

import java.util.function.Consumer;
import org.internlmj.tensor.Tensor;

/**
 * Records differentiable operations. Every function in {@link F} computes its outputs with the
 * {@code Backend} and then calls {@link #record} with its backward; code outside this module (a
 * differentiable collective, a fused layer) defines its own functions the same way.
 *
 * <pre>{@code
 * Tensor y = ...;                                   // forward: y = 3 * x
 * Variable out = Graph.record("triple", y, (dOut, need) -> new Tensor[] {Ops.scale(dOut[0], 3)}, x);
 * }</pre>
 *
 * <p>Nothing is recorded, and the outputs are constants, when grad is disabled ({@link NoGrad}) or no
 * input requires grad; the backward (and whatever it captured) is then simply dropped.
 */
public final class Graph {
    private Graph() {
    }

    /** Records a single-output operation; {@code inputs} may contain nulls (absent optional inputs). */
    public static Variable record(String name, Tensor output, Backward backward, Variable... inputs) {
        return record(name, new Tensor[] {output}, backward, inputs)[0];
    }

    /** Records an operation with several outputs, all differentiated by one backward. */
    public static Variable[] record(String name, Tensor[] outputs, Backward backward, Variable... inputs) {
        Variable[] result = new Variable[outputs.length];
        if (!isRecording(inputs)) {
            reportUnrecorded(inputs);
            for (int i = 0; i < outputs.length; i++) {
                result[i] = Variable.of(outputs[i]);
            }
            return result;
        }
        Node[] next = new Node[inputs.length];
        int[] nextSlot = new int[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            if (inputs[i] != null && inputs[i].requiresGrad()) {
                next[i] = inputs[i].node();
                nextSlot[i] = inputs[i].slot();
            }
        }
        OpNode node = new OpNode(name, next, nextSlot, outputs, backward);
        for (int i = 0; i < outputs.length; i++) {
            result[i] = Variable.result(outputs[i], node, i);
        }
        return result;
    }

    /**
     * True if an operation on {@code inputs} would be recorded now: grad is enabled and some input
     * requires grad. Functions may use it to skip saving what only the backward needs.
     */
    public static boolean isRecording(Variable... inputs) {
        if (!NoGrad.isGradEnabled()) {
            return false;
        }
        for (Variable v : inputs) {
            if (v != null && v.requiresGrad()) {
                return true;
            }
        }
        return false;
    }

    /** Tells a collecting no-grad block (a checkpoint's forward) which variables an operation used. */
    private static void reportUnrecorded(Variable[] inputs) {
        Consumer<Variable> collector = NoGrad.state().collector();
        if (collector != null) {
            for (Variable v : inputs) {
                if (v != null && v.requiresGrad()) {
                    collector.accept(v);
                }
            }
        }
    }
}
