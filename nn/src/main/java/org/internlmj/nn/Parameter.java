package org.internlmj.nn;

import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Tensor;

/**
 * A named trainable tensor of a {@link Module}: its {@link Variable} (a leaf that requires grad) and its
 * dotted name in the model ({@code blocks.3.mixer.Wqkv.weight}), the name checkpoints use. Under tensor
 * parallelism a parameter may be this rank's part of a larger tensor ({@link #split()}); otherwise every
 * tensor rank holds it whole.
 */
public final class Parameter {
    private String name;
    private final Variable variable;
    private final Init init;
    private final TensorSplit split;
    private final int[] fullShape;

    Parameter(String name, Tensor data, Init init, TensorSplit split, int[] fullShape) {
        this.name = name;
        this.variable = Variable.parameter(data, name);
        this.init = init;
        this.split = split;
        this.fullShape = fullShape.clone();
    }

    /** How this rank's tensor is cut from the full one, or null when every tensor rank holds it whole. */
    public TensorSplit split() {
        return split;
    }

    /** The shape of the whole parameter (the data's shape unless it is split). */
    public int[] fullShape() {
        return fullShape.clone();
    }

    /** How this parameter is initialised. */
    public Init init() {
        return init;
    }

    /** The full dotted name (final once the module is attached to its parent). */
    public String name() {
        return name;
    }

    void rename(String fullName) {
        this.name = fullName;
    }

    public Variable variable() {
        return variable;
    }

    public Tensor data() {
        return variable.data();
    }

    public Tensor grad() {
        return variable.grad();
    }

    public int numel() {
        return variable.data().numel();
    }

    @Override
    public String toString() {
        return name + " " + variable.data();
    }
}
