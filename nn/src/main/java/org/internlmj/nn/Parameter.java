package org.internlmj.nn;

import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Tensor;

/**
 * A named trainable tensor of a {@link Module}: its {@link Variable} (a leaf that requires grad) and its
 * dotted name in the model ({@code blocks.3.mixer.Wqkv.weight}), the name checkpoints use.
 */
public final class Parameter {
    private String name;
    private final Variable variable;
    private final Init init;

    Parameter(String name, Tensor data, Init init) {
        this.name = name;
        this.variable = Variable.parameter(data, name);
        this.init = init;
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
