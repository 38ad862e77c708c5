package org.internlmj.autograd;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * A {@link Tensor} in the autograd graph: its data, the operation that produced it (none for a leaf)
 * and, for a leaf that requires grad, the gradient accumulated by backward passes.
 *
 * <pre>{@code
 * Variable w = Variable.parameter(Tensor.of(new float[] {1, 2, 3}, 3), "w");
 * Variable loss = F.sum(F.square(w));
 * loss.backward();
 * float[] g = w.grad().toFloatArray();          // {2, 4, 6}
 * }</pre>
 *
 * <p>Three kinds: constants ({@link #of}, or any result computed without grad), leaves that require
 * grad ({@link #parameter}), and results of recorded operations. Only leaves keep a gradient; results
 * pass theirs on to the operations that produced them.
 *
 * <p>A leaf's gradient has the shape, dtype and device of its data. When a backward pass allocates it,
 * it belongs to the {@link MemoryScope} that owns the data, so it lives as long as the parameter does
 * whatever scope the backward ran in. A buffer given with {@link #setGrad} is used as is and gradients
 * are added into it in place (an optimizer can hand out views of its flat gradient buckets this way).
 * {@link #zeroGradLazily} clears a gradient without writing its buffer: the next pass writes over the old
 * contents instead of adding to them, which saves an optimizer a pass over every gradient per step.
 */
public final class Variable {
    private final Tensor data;
    private final OpNode producer;
    private final int slot;
    private final LeafNode leaf;
    private final String name;
    private final List<Consumer<Variable>> hooks = new ArrayList<>();
    private Tensor grad;
    /** The buffer's contents are stale and count as zero ({@link #zeroGradLazily}). */
    private boolean gradCountsAsZero;

    private Variable(Tensor data, OpNode producer, int slot, boolean requiresGrad, String name) {
        this.data = data;
        this.producer = producer;
        this.slot = slot;
        this.name = name;
        this.leaf = producer == null && requiresGrad ? new LeafNode(this) : null;
    }

    /** A constant: no gradient flows into it. */
    public static Variable of(Tensor data) {
        return new Variable(data, null, 0, false, null);
    }

    /** A constant with a name (shown in messages). */
    public static Variable of(Tensor data, String name) {
        return new Variable(data, null, 0, false, name);
    }

    /** A leaf that requires grad: backward passes accumulate into its {@link #grad()}. */
    public static Variable parameter(Tensor data) {
        return parameter(data, null);
    }

    /** A named leaf that requires grad (the name appears in messages and gradient-check reports). */
    public static Variable parameter(Tensor data, String name) {
        if (!data.dtype().isFloating()) {
            throw new IllegalArgumentException("only floating tensors can require grad, got " + data
                    + (name == null ? "" : " for '" + name + "'"));
        }
        return new Variable(data, null, 0, true, name);
    }

    /** The result of a recorded operation. */
    static Variable result(Tensor data, OpNode producer, int slot) {
        return new Variable(data, producer, slot, true, null);
    }

    // ---------------------------------------------------------------- data and metadata

    /** The value (shared, never copied). */
    public Tensor data() {
        return data;
    }

    /** The name given at creation, or null. */
    public String name() {
        return name;
    }

    /** True for parameters and for results of operations recorded with grad enabled. */
    public boolean requiresGrad() {
        return producer != null || leaf != null;
    }

    /** True unless this variable was produced by a recorded operation. */
    public boolean isLeaf() {
        return producer == null;
    }

    /** The name of the operation that produced this variable, or null for a leaf. */
    public String producerName() {
        return producer == null ? null : producer.name;
    }

    /** A constant sharing this variable's data: gradients stop here. */
    public Variable detach() {
        return of(data, name);
    }

    /** A copy of the data's shape. */
    public int[] shape() {
        return data.shape();
    }

    /** Size of dimension {@code dim} (negative counts from the end). */
    public int size(int dim) {
        return data.size(dim);
    }

    /** Number of dimensions. */
    public int rank() {
        return data.rank();
    }

    /** Number of elements. */
    public int numel() {
        return data.numel();
    }

    /** The data's dtype; a gradient has the same one. */
    public DType dtype() {
        return data.dtype();
    }

    /** The device of the data. */
    public Device device() {
        return data.device();
    }

    // ---------------------------------------------------------------- gradient

    /**
     * The accumulated gradient of a leaf that requires grad; null until a backward pass reached it, and
     * always null for constants and operation results.
     */
    public synchronized Tensor grad() {
        if (gradCountsAsZero) {
            grad.backend().fill(grad, 0);
            gradCountsAsZero = false;
        }
        return grad;
    }

    /**
     * Uses {@code buffer} as this leaf's gradient: later passes add into it in place. Null forgets the
     * gradient (the next pass allocates a new one).
     */
    public synchronized void setGrad(Tensor buffer) {
        requireLeaf("setGrad");
        if (buffer != null && (!buffer.sameShape(data) || buffer.dtype() != data.dtype()
                || !buffer.device().equals(data.device()))) {
            throw new IllegalArgumentException("setGrad: gradient " + buffer + " must have the shape, dtype and device"
                    + " of the data " + data + describeName());
        }
        grad = buffer;
        gradCountsAsZero = false;
    }

    /** Fills the gradient with zeros, keeping its buffer (a no-op while there is none). */
    public synchronized void zeroGrad() {
        if (grad != null) {
            grad.backend().fill(grad, 0);
        }
        gradCountsAsZero = false;
    }

    /**
     * Makes the gradient zero without writing its buffer (a no-op while there is none): the next backward
     * pass writes its gradient over the old contents rather than adding to them, and {@link #grad()}
     * fills the buffer with zeros first if it is read before a pass reached this leaf. Readers must go
     * through {@link #grad()}: a view of the buffer taken earlier still shows the old values.
     */
    public synchronized void zeroGradLazily() {
        gradCountsAsZero = grad != null;
    }

    /**
     * Runs {@code hook} once per backward pass that reaches this leaf, as soon as the pass has added all
     * of its contributions into {@link #grad()}: before the pass ends when this leaf's last use in the
     * forward came late. It runs on the thread of the backward pass.
     */
    public synchronized void addGradHook(Consumer<Variable> hook) {
        requireLeaf("addGradHook");
        hooks.add(hook);
    }

    /** Removes every hook added with {@link #addGradHook}. */
    public synchronized void clearGradHooks() {
        hooks.clear();
    }

    /** Backpropagates from this single-element variable with gradient 1. */
    public void backward() {
        if (data.numel() != 1) {
            throw new IllegalArgumentException("backward() without a gradient needs a single-element output, got shape "
                    + Shapes.str(data.shape()) + describeName() + "; pass the output's gradient to backward(seed)");
        }
        backward(Tensor.full(1, data.dtype(), data.device(), data.shape()));
    }

    /** Backpropagates from this variable with {@code seed} as its gradient (same shape; converted to its dtype). */
    public void backward(Tensor seed) {
        Engine.backward(new Variable[] {this}, new Tensor[] {seed});
    }

    // ---------------------------------------------------------------- engine side

    /** The node a gradient of this variable goes to, or null for a constant. */
    Node node() {
        return producer != null ? producer : leaf;
    }

    /** The output of {@link #node()} this variable is. */
    int slot() {
        return slot;
    }

    /** Adds one pass's summed gradient into {@link #grad()}. */
    synchronized void accumulate(Tensor g) {
        if (gradCountsAsZero) {
            grad.backend().copy(g, grad);
            gradCountsAsZero = false;
        } else if (grad == null) {
            Tensor fresh = Tensor.empty(data.dtype(), data.device(), data.shape());
            // Copied, never aliased: the same tensor may be another variable's gradient too.
            fresh.backend().copy(g, fresh);
            grad = MemoryScope.moveToOwnerOf(fresh, data);
        } else {
            grad.backend().binary(org.internlmj.tensor.BinaryOp.ADD, grad, g, grad);
        }
    }

    /**
     * The gradient buffer an operation may add into in place ({@link AccumulatingBackward}): the existing
     * gradient when it is contiguous, else null (the engine then adds a returned gradient as usual).
     */
    synchronized Tensor accumulator() {
        return grad != null && grad.isContiguous() && grad.dtype() == data.dtype() ? grad : null;
    }

    /** True while the {@link #accumulator()}'s contents count as zero (an operation writes over them). */
    synchronized boolean accumulatorCountsAsZero() {
        return gradCountsAsZero;
    }

    /** An operation wrote this pass's gradient into the {@link #accumulator()}. */
    synchronized void accumulatorWritten() {
        gradCountsAsZero = false;
    }

    void runHooks() {
        List<Consumer<Variable>> snapshot;
        synchronized (this) {
            snapshot = hooks.isEmpty() ? List.of() : List.copyOf(hooks);
        }
        for (Consumer<Variable> h : snapshot) {
            h.accept(this);
        }
    }

    private void requireLeaf(String what) {
        if (leaf == null) {
            throw new IllegalStateException(what + " is for leaves that require grad (Variable.parameter), not "
                    + (producer != null ? "the result of '" + producer.name + "'" : "a constant") + describeName());
        }
    }

    private String describeName() {
        return name == null ? "" : " ('" + name + "')";
    }

    @Override
    public String toString() {
        String kind = producer != null ? "from " + producer.name : leaf != null ? "parameter" : "constant";
        return "Variable[" + (name == null ? "" : name + ", ") + kind + ", " + data + "]";
    }
}
