package org.internlmj.tensor;

/**
 * A seeded stream of random tensors, like {@code torch.Generator} over Philox: each draw reserves a
 * range of counters, so the state is just (seed, offset) and can be saved in a checkpoint and restored.
 *
 * <pre>{@code
 * Generator g = new Generator(1024);
 * Tensor w = Tensor.normal(g, 0.0, 0.02, DType.F32, Device.CPU, 768, 768);
 * }</pre>
 */
public final class Generator {
    private final long seed;
    private long offset;

    public Generator(long seed) {
        this(seed, 0);
    }

    public Generator(long seed, long offset) {
        if (offset < 0) {
            throw new IllegalArgumentException("generator offset must be >= 0, got " + offset);
        }
        this.seed = seed;
        this.offset = offset;
    }

    public long seed() {
        return seed;
    }

    /** The next counter to be used. */
    public synchronized long offset() {
        return offset;
    }

    /** Reserves {@code count} counters and returns the first. */
    public synchronized long reserve(long count) {
        long first = offset;
        offset += count;
        return first;
    }

    /** One uniform double in [0, 1) from this stream (for samplers and dropout decisions on the host). */
    public double nextUniform() {
        return Philox.uniform(seed, reserve(1));
    }

    @Override
    public synchronized String toString() {
        return "Generator(seed=" + seed + ", offset=" + offset + ")";
    }
}
