package org.internlmj.autograd;

import java.util.SplittableRandom;
import org.internlmj.tensor.Tensor;

/** Seeded random test data: F64 CPU tensors built on the host, independent of any backend. */
final class Rand {
    private final SplittableRandom random;

    Rand(long seed) {
        this.random = new SplittableRandom(seed);
    }

    /** Uniform in [lo, hi). */
    Tensor uniform(double lo, double hi, int... shape) {
        double[] v = new double[org.internlmj.tensor.Shapes.numel(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = random.nextDouble(lo, hi);
        }
        return Tensor.of(v, shape);
    }

    /** Magnitudes in [lo, hi) with random signs: keeps values away from 0 (kinks, poles). */
    Tensor awayFromZero(double lo, double hi, int... shape) {
        double[] v = new double[org.internlmj.tensor.Shapes.numel(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = random.nextDouble(lo, hi) * (random.nextBoolean() ? 1 : -1);
        }
        return Tensor.of(v, shape);
    }

    /** An odd size in [1, max]. */
    int odd(int max) {
        return 1 + 2 * random.nextInt((max + 1) / 2);
    }

    /** A size in [lo, hi]. */
    int size(int lo, int hi) {
        return random.nextInt(lo, hi + 1);
    }

    /** {@code n} ints in [0, bound). */
    int[] ints(int n, int bound) {
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = random.nextInt(bound);
        }
        return v;
    }

    boolean coin() {
        return random.nextBoolean();
    }
}
