package org.internlmj.autograd;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.PriorityQueue;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.Tensor;

/**
 * Runs backward passes.
 *
 * <p>A pass first walks the graph from the roots (with an explicit stack: graphs of long models are
 * deeper than the call stack) and counts, for each node, the gradient contributions it will receive.
 * It then runs nodes as their counts reach zero, newest first: contributions to a node are summed
 * before its backward runs, and since a node is always newer than the producers of its inputs, newest
 * first replays the forward in reverse. An {@link AccumulatingBackward} may add a parameter's gradient
 * straight into its buffer when it is the parameter's only contribution in the pass. Leaf accumulators
 * run the moment they are ready, so a
 * parameter's hooks fire as soon as its gradient is complete. After a node's backward the node drops
 * what its forward saved; reaching it again is an error.
 *
 * <p>A pass keeps all of its state in the call, so a backward may run another pass (checkpointing
 * recomputes a block and backpropagates through it inside the outer pass).
 */
public final class Engine {
    private Engine() {
    }

    /**
     * Backpropagates {@code seeds[i]} (the gradient of {@code roots[i]}; same shape, converted to its
     * dtype) through the graph, accumulating into every leaf reached.
     */
    public static void backward(Variable[] roots, Tensor[] seeds) {
        for (Variable r : roots) {
            if (!r.requiresGrad()) {
                throw new IllegalStateException("backward of " + r + ", which does not require grad: it is a constant "
                        + "or was computed without grad (NoGrad) or from constants only");
            }
        }
        new Pass(roots, seeds, new Variable[0]).run();
    }

    /**
     * Gradients of the roots with respect to {@code targets}, which are captured instead of being
     * accumulated, and where the walk stops (targets may be results of operations of an enclosing
     * graph). Leaves reached that are not targets accumulate as in {@link #backward}. A target that
     * is null, does not require grad or receives no gradient gets null.
     */
    static Tensor[] gradients(Variable[] roots, Tensor[] seeds, Variable[] targets) {
        Pass pass = new Pass(roots, seeds, targets);
        pass.run();
        return pass.captured();
    }

    /** An edge: output {@code slot} of {@code node}. Records compare nodes by identity. */
    private record Edge(Node node, int slot) {
    }

    /** The state of one pass. */
    private static final class Pass {
        private final Variable[] roots;
        private final Tensor[] seeds;
        private final Variable[] targets;
        private final Map<Edge, Integer> targetIndex = new HashMap<>();
        private final Tensor[] capturedSums;
        private final Map<Node, int[]> pending = new IdentityHashMap<>();
        private final Map<Node, Tensor[]> buffers = new IdentityHashMap<>();
        private final PriorityQueue<Node> ready =
                new PriorityQueue<>((a, b) -> Long.compare(b.sequence, a.sequence));

        Pass(Variable[] roots, Tensor[] seeds, Variable[] targets) {
            if (roots.length != seeds.length) {
                throw new IllegalArgumentException(roots.length + " roots but " + seeds.length + " seeds");
            }
            this.roots = roots;
            this.seeds = seeds;
            this.targets = targets;
            this.capturedSums = new Tensor[targets.length];
            for (int i = 0; i < targets.length; i++) {
                if (targets[i] != null && targets[i].requiresGrad()) {
                    targetIndex.putIfAbsent(new Edge(targets[i].node(), targets[i].slot()), i);
                }
            }
        }

        void run() {
            Tensor[] checkedSeeds = new Tensor[roots.length];
            for (int i = 0; i < roots.length; i++) {
                checkedSeeds[i] = seedFor(roots[i], seeds[i]);
            }
            countContributions();
            for (int i = 0; i < roots.length; i++) {
                if (roots[i].requiresGrad()) {
                    deliver(roots[i].node(), roots[i].slot(), checkedSeeds[i], "the seed");
                }
            }
            while (!ready.isEmpty()) {
                Node node = ready.poll();
                Tensor[] grads = buffers.remove(node);
                if (node instanceof LeafNode leaf) {
                    leaf.finish(grads[0]);
                    continue;
                }
                OpNode op = (OpNode) node;
                Tensor[] accumulators = op.accumulates() ? accumulators(op) : null;
                boolean[] zeroed = accumulators == null ? null : zeroed(op, accumulators);
                Tensor[] inputGrads = op.run(grads, accumulators, zeroed);
                for (int i = 0; i < op.next.length; i++) {
                    if (op.next[i] != null) {
                        Tensor g = inputGrads == null ? null : inputGrads[i];
                        if (g != null && accumulators != null && g == accumulators[i]) {
                            // Already added into the leaf's buffer: the leaf only counts it and runs its hooks.
                            ((LeafNode) op.next[i]).variable.accumulatorWritten();
                            g = null;
                        }
                        deliver(op.next[i], op.nextSlot[i], g, op.name);
                    }
                }
            }
        }

        /**
         * For each input of {@code op} that is a leaf receiving its only contribution of this pass from
         * {@code op} (none arrived yet, one pending), the leaf's gradient buffer; else null.
         */
        private Tensor[] accumulators(OpNode op) {
            Tensor[] acc = null;
            for (int i = 0; i < op.next.length; i++) {
                if (op.next[i] instanceof LeafNode leaf && !buffers.containsKey(leaf)
                        && !targetIndex.containsKey(new Edge(leaf, op.nextSlot[i]))) {
                    int[] count = pending.get(leaf);
                    Tensor buffer = count != null && count[0] == 1 ? leaf.variable.accumulator() : null;
                    if (buffer != null) {
                        if (acc == null) {
                            acc = new Tensor[op.next.length];
                        }
                        acc[i] = buffer;
                    }
                }
            }
            return acc;
        }

        /** Which of the offered buffers count as zero (their leaves' gradients were cleared lazily). */
        private static boolean[] zeroed(OpNode op, Tensor[] accumulators) {
            boolean[] zeroed = new boolean[accumulators.length];
            for (int i = 0; i < accumulators.length; i++) {
                zeroed[i] = accumulators[i] != null && ((LeafNode) op.next[i]).variable.accumulatorCountsAsZero();
            }
            return zeroed;
        }

        private static Tensor seedFor(Variable root, Tensor seed) {
            if (seed == null) {
                throw new IllegalArgumentException("null seed for " + root);
            }
            if (!seed.sameShape(root.data())) {
                throw new IllegalArgumentException("seed " + seed + " must have the shape of " + root);
            }
            if (!seed.device().equals(root.device())) {
                throw new IllegalArgumentException("seed " + seed + " is on another device than " + root);
            }
            return seed.to(root.dtype());
        }

        /** Counts each node's incoming edges over the part of the graph the roots reach. */
        private void countContributions() {
            ArrayDeque<Node> stack = new ArrayDeque<>();
            for (Variable r : roots) {
                if (r.requiresGrad()) {
                    countEdge(r.node(), r.slot(), stack);
                }
            }
            while (!stack.isEmpty()) {
                Node node = stack.pop();
                if (node instanceof OpNode op && op.released()) {
                    throw GraphFreed.at(op);
                }
                for (int i = 0; i < node.next.length; i++) {
                    if (node.next[i] != null) {
                        countEdge(node.next[i], node.nextSlot[i], stack);
                    }
                }
            }
        }

        private void countEdge(Node node, int slot, ArrayDeque<Node> stack) {
            if (targetIndex.containsKey(new Edge(node, slot))) {
                return;
            }
            int[] count = pending.get(node);
            if (count == null) {
                pending.put(node, new int[] {1});
                stack.push(node);
            } else {
                count[0]++;
            }
        }

        private void deliver(Node node, int slot, Tensor grad, String producer) {
            if (grad != null) {
                node.checkGradient(slot, grad, producer);
            }
            Integer target = targetIndex.get(new Edge(node, slot));
            if (target != null) {
                capturedSums[target] = sum(capturedSums[target], grad);
                return;
            }
            Tensor[] buffer = buffers.computeIfAbsent(node, n -> new Tensor[n.outputs()]);
            buffer[slot] = sum(buffer[slot], grad);
            int[] count = pending.get(node);
            if (--count[0] == 0) {
                pending.remove(node);
                ready.add(node);
            }
        }

        /** acc + g into a new tensor: neither may be written, they can be shared with other gradients. */
        private static Tensor sum(Tensor acc, Tensor g) {
            if (acc == null) {
                return g;
            }
            if (g == null) {
                return acc;
            }
            Tensor out = Tensor.empty(acc.dtype(), acc.device(), acc.shape());
            acc.backend().binary(BinaryOp.ADD, acc, g, out);
            return out;
        }

        Tensor[] captured() {
            Tensor[] result = new Tensor[targets.length];
            for (int i = 0; i < targets.length; i++) {
                if (targets[i] != null && targets[i].requiresGrad()) {
                    result[i] = capturedSums[targetIndex.get(new Edge(targets[i].node(), targets[i].slot()))];
                }
            }
            return result;
        }
    }
}
