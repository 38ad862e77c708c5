package org.internlmj.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;

/**
 * A building block with named parameters and sub-modules. Names are dotted paths in registration
 * order ({@code blocks.0.norm1.weight}), stable across runs: they are the keys of checkpoints and the
 * order in which parameters are initialised.
 */
public abstract class Module {
    private final Map<String, Parameter> parameters = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private String prefix = "";

    /**
     * Registers a parameter of the given shape under {@code name} (relative to this module), allocated
     * (zero-filled) in {@code dtype} on {@code device}; {@link #initialize} fills it by {@code init}.
     */
    protected final Parameter parameter(String name, Init init, DType dtype, Device device, int... shape) {
        return parameter(name, init, dtype, device, null, shape);
    }

    /**
     * Registers this rank's part, cut by {@code split} (null: the whole tensor), of a parameter whose full
     * shape is {@code fullShape}; {@link #initialize} fills it with its part of the full initial tensor.
     */
    protected final Parameter parameter(String name, Init init, DType dtype, Device device, TensorSplit split,
                                        int... fullShape) {
        if (parameters.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("duplicate name '" + name + "' in " + getClass().getSimpleName());
        }
        int[] shape = split == null ? fullShape : split.localShape(fullShape);
        Parameter p = new Parameter(prefix + name, Tensor.zeros(dtype, device, shape), init, split, fullShape);
        parameters.put(name, p);
        return p;
    }

    /** Registers a sub-module under {@code name}; its parameters are named {@code name.<param>}. */
    protected final <M extends Module> M child(String name, M module) {
        if (parameters.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("duplicate name '" + name + "' in " + getClass().getSimpleName());
        }
        module.rename(prefix + name + ".");
        children.put(name, module);
        return module;
    }

    final void rename(String newPrefix) {
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
            e.getValue().rename(newPrefix + e.getKey());
        }
        prefix = newPrefix;
        for (Map.Entry<String, Module> c : children.entrySet()) {
            c.getValue().rename(newPrefix + c.getKey() + ".");
        }
    }

    /**
     * Fills every parameter by its {@link Init} rule; the values depend only on (seed, name), and a
     * tensor-parallel part is cut from the same full tensor, so every split gives the one-rank model.
     */
    public final void initialize(long seed) {
        for (Parameter p : parameters()) {
            p.init().apply(seed, p.name(), p.data(), p.split(), p.fullShape());
        }
    }

    /** Every parameter of this module and its descendants, depth first in registration order. */
    public final List<Parameter> parameters() {
        List<Parameter> out = new ArrayList<>();
        collect(out);
        return Collections.unmodifiableList(out);
    }

    private void collect(List<Parameter> out) {
        out.addAll(parameters.values());
        for (Module c : children.values()) {
            c.collect(out);
        }
    }

    /** Parameters by full dotted name. */
    public final Map<String, Parameter> namedParameters() {
        Map<String, Parameter> m = new LinkedHashMap<>();
        for (Parameter p : parameters()) {
            m.put(p.name(), p);
        }
        return m;
    }

    /** Total number of parameter elements. */
    public final long parameterCount() {
        long n = 0;
        for (Parameter p : parameters()) {
            n += p.numel();
        }
        return n;
    }
}
