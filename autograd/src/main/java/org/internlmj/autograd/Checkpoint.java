package org.internlmj.autograd;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;

/**
 * Activation checkpointing (InternLM's {@code checkpoint=True}): a block's forward runs without
 * recording, keeping only its inputs; the backward recomputes the block with grad enabled and
 * backpropagates through the recomputation. Gradients are those of the plain block, bit for bit
 * when the kernels are deterministic, for a block's activations traded against a second forward.
 *
 * <pre>{@code
 * Variable h = Checkpoint.apply(in -> layer.forward(in[0]), x);
 * }</pre>
 *
 * <p>The forward notes the outside variables that require grad the block uses without taking them
 * as inputs (its parameters); they become inputs of the checkpoint node, so the outer pass counts
 * their contributions from the block like any other: their gradients are accumulated, and their hooks
 * fired, by the outer pass when complete. The recomputation runs in its own {@link MemoryScope},
 * closed when its backward is done, so a block's activations and their gradients live only while
 * that block is being differentiated.
 *
 * <p>The block must compute the same thing twice: no randomness that is not replayed, no state it
 * changes.
 */
public final class Checkpoint {
    private Checkpoint() {
    }

    /** Runs {@code block} on {@code inputs} checkpointed (plainly when grad is disabled). */
    @SuppressWarnings("try") // the resources are held for the block, not used in it
    public static Variable apply(Function<Variable[], Variable> block, Variable... inputs) {
        if (!NoGrad.isGradEnabled()) {
            // Inside another checkpoint's forward, running plainly keeps that one's collector informed.
            return block.apply(inputs);
        }
        Set<Variable> isInput = Collections.newSetFromMap(new IdentityHashMap<>());
        Collections.addAll(isInput, inputs);
        Set<Variable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        List<Variable> used = new ArrayList<>();
        Variable out;
        try (NoGrad g = NoGrad.collecting(v -> {
            if (!isInput.contains(v) && seen.add(v)) {
                used.add(v);
            }
        })) {
            out = block.apply(inputs.clone());
        }
        if (out == null) {
            throw new IllegalArgumentException("a checkpointed block returned null");
        }
        Variable[] edges = new Variable[inputs.length + used.size()];
        System.arraycopy(inputs, 0, edges, 0, inputs.length);
        for (int i = 0; i < used.size(); i++) {
            edges[inputs.length + i] = used.get(i);
        }
        Variable[] saved = inputs.clone();
        Variable[] captured = used.toArray(new Variable[0]);
        return Graph.record("checkpoint", out.data(), (dOut, need) -> recompute(block, saved, captured, dOut[0]),
                edges);
    }

    /** The backward: gradients for the inputs, then for the outside variables the block used. */
    @SuppressWarnings("try") // the resources are held for the block, not used in it
    private static Tensor[] recompute(Function<Variable[], Variable> block, Variable[] inputs, Variable[] captured,
                                      Tensor dOut) {
        Variable[] fresh = new Variable[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            Variable in = inputs[i];
            fresh[i] = in != null && in.requiresGrad() ? Variable.parameter(in.data(), in.name()) : in;
        }
        Variable[] targets = new Variable[inputs.length + captured.length];
        System.arraycopy(fresh, 0, targets, 0, inputs.length);
        System.arraycopy(captured, 0, targets, inputs.length, captured.length);
        try (MemoryScope scope = MemoryScope.open()) {
            Variable y;
            try (NoGrad g = NoGrad.enableGrad()) {
                y = block.apply(fresh.clone());
            }
            Tensor[] grads = Engine.gradients(new Variable[] {y}, new Tensor[] {dOut}, targets);
            for (Tensor t : grads) {
                if (t != null) {
                    scope.keep(t);
                }
            }
            return grads;
        }
    }
}
