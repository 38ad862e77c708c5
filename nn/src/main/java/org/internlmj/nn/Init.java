package org.internlmj.nn;

import java.nio.charset.StandardCharsets;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Generator;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;

/**
 * How a parameter starts: InternLM's initialisation is normal with mean 0 for weights (with per-kind
 * standard deviations), 0 for biases and 1 for norm weights. A normal parameter draws from its own
 * Philox stream keyed by (seed, full name), so its values do not depend on which other parameters exist
 * or on their order, and a tensor-parallel shard can be cut from the same full tensor on any rank.
 */
public sealed interface Init {
    /** Embedding and head: std 0.0052. */
    double EMBED_STD = 0.0052;
    /** Wqkv and w1 (gate): std 0.006; out_proj and w2 (up): 0.006 / sqrt(2 (layer + 1)). */
    double PROJ_STD = 0.006;
    /** w3 (down): std 0.0015. */
    double DOWN_STD = 0.0015;

    /** normal(0, std). */
    record Normal(double std) implements Init {
    }

    /** Every element {@code value}. */
    record Constant(double value) implements Init {
    }

    /** Fills {@code target} (the parameter named {@code name}) according to this rule. */
    default void apply(long seed, String name, Tensor target) {
        apply(seed, name, target, null, target.shape());
    }

    /**
     * Fills {@code target}, this rank's part (cut by {@code split}, null for the whole tensor) of the
     * parameter {@code name} of shape {@code fullShape}: the full tensor is drawn and the part copied out.
     */
    default void apply(long seed, String name, Tensor target, TensorSplit split, int[] fullShape) {
        switch (this) {
            case Constant c -> target.backend().fill(target, c.value());
            case Normal n -> {
                try (MemoryScope scope = MemoryScope.open()) {
                    Tensor t = Tensor.normal(new Generator(streamSeed(seed, name)), 0.0, n.std(), DType.F32, Device.CPU,
                            fullShape);
                    if (split == null) {
                        target.copyFrom(t);
                    } else {
                        Tensor part = Tensor.empty(DType.F32, Device.CPU, target.shape());
                        split.cut(t, part);
                        target.copyFrom(part);
                    }
                }
            }
        }
    }

    /** The seed of a parameter's stream: FNV-1a of the name, mixed with the run seed. */
    static long streamSeed(long seed, String name) {
        long h = 0xcbf29ce484222325L ^ seed;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }
}
