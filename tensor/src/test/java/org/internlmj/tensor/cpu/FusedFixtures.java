package org.internlmj.tensor.cpu;

import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Generator;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;

/** Shared inputs and tolerances of the fused-kernel tests: seeded random tensors and the two backends. */
final class FusedFixtures {
    static final ReferenceBackend REF = new ReferenceBackend();
    /** Two threads, the cores of the test machines; thread-count tests build their own. */
    static final CpuBackend CPU = new CpuBackend(2);

    private FusedFixtures() {
    }

    /** Uniform in [lo, hi), generated in F32 and rounded once to {@code dtype}. */
    static Tensor uniform(long seed, double lo, double hi, DType dtype, int... shape) {
        Tensor t = Tensor.uniform(new Generator(seed), lo, hi, DType.F32, Device.CPU, shape);
        return dtype == DType.F32 ? t : t.to(dtype);
    }

    static Tensor random(long seed, DType dtype, int... shape) {
        return uniform(seed, -2, 2, dtype, shape);
    }

    /** A fresh tensor of NaNs, so a kernel that leaves an element unwritten is caught. */
    static Tensor poisoned(DType dtype, int... shape) {
        return Tensor.full(Double.NaN, dtype, Device.CPU, shape);
    }

    /** Relative tolerance of an output rounded to {@code dtype}: a few units in its last place. */
    static double rtol(DType dtype) {
        return switch (dtype) {
            case BF16 -> 1.6e-2;
            case F16 -> 2e-3;
            default -> 2e-5;
        };
    }

    static double atol(DType dtype) {
        return switch (dtype) {
            case BF16 -> 1e-2;
            case F16 -> 1e-3;
            default -> 1e-5;
        };
    }

    /** Bit patterns of a tensor's elements as F32 (exact for every floating dtype but F64). */
    static int[] bits(Tensor t) {
        float[] f = t.toFloatArray();
        int[] b = new int[f.length];
        for (int i = 0; i < f.length; i++) {
            b[i] = Float.floatToRawIntBits(f[i]);
        }
        return b;
    }
}
