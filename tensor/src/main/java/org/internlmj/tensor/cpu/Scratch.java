package org.internlmj.tensor.cpu;

/**
 * Per-thread scratch arrays for kernels that stage data (a BF16 row widened to floats, a strided
 * operand packed into a run). Each kernel thread keeps its arrays for its lifetime, so a kernel in a
 * training loop allocates nothing after the first step. An array handed out is only valid until the
 * same thread asks for the same slot again.
 */
final class Scratch {
    /** Float slots: kernels use distinct slots for the operands they stage at the same time. */
    static final int SLOTS = 3;

    private static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);

    private final float[][] floats = new float[SLOTS][];
    private double[] doubles;

    private Scratch() {
    }

    /** A float array of at least {@code n} elements for {@code slot} of the calling thread. */
    static float[] floats(int slot, int n) {
        Scratch s = LOCAL.get();
        float[] a = s.floats[slot];
        if (a == null || a.length < n) {
            a = new float[Math.max(n, 64)];
            s.floats[slot] = a;
        }
        return a;
    }

    /** A double array of at least {@code n} elements of the calling thread (partial sums). */
    static double[] doubles(int n) {
        Scratch s = LOCAL.get();
        double[] a = s.doubles;
        if (a == null || a.length < n) {
            a = new double[Math.max(n, 64)];
            s.doubles = a;
        }
        return a;
    }
}
