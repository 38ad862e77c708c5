package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * exp, log, tanh, sigmoid and silu on float vectors, each with a scalar twin that performs the same
 * IEEE operations in the same order and so returns the same bits.
 *
 * <p>Why not {@code lanewise(VectorOperators.EXP)}: the JIT compiles those to Intel's SVML routines
 * while the interpreter and C1 fall back to {@code Math.exp} per lane, and the two disagree in the last
 * bit for a few percent of inputs (measured: 2680 of 65536 for EXP, 3601 for LOG, 55 for TANH). A
 * kernel's output would then depend on when the JIT finished, breaking run-to-run reproducibility. The
 * functions here use only add, multiply, fused multiply-add, divide, compares and integer bit
 * operations, which are exact IEEE operations in every execution mode; they are Cephes' single
 * precision polynomials (S. Moshier). Measured against float64 ({@code VectorMathTest} sweeps them):
 * exp and log within 1.01 ulp, tanh within 2, sigmoid and silu (an exp, an add and a divide) within
 * 3; the speed is close to SVML's.
 */
final class VectorMath {
    private static final VectorSpecies<Float> F = Simd.F;

    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 split so that {@code n * LN2_HI} is exact for the exponents that occur. */
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits. */
    private static final float ROUND_MAGIC = 12582912f;
    private static final int ROUND_MAGIC_BITS = Float.floatToRawIntBits(ROUND_MAGIC);
    /** Beyond these the scale factors below would leave their range; the results are inf and 0. */

    private static final float SQRT_HALF = 0.707106781186547524f;
    private static final float TWO_POW_23 = 8388608f;
    private static final float L0 = 7.0376836292E-2f;
    private static final float L1 = -1.1514610310E-1f;
    private static final float L2 = 1.1676998740E-1f;
    private static final float L3 = -1.2420140846E-1f;
    private static final float L4 = 1.4249322787E-1f;
    private static final float L5 = -1.6668057665E-1f;
    private static final float L6 = 2.0000714765E-1f;
    private static final float L7 = -2.4999993993E-1f;
    private static final float L8 = 3.3333331174E-1f;

    /** Below this |x| tanh uses its odd polynomial, above it {@code 1 - 2 / (e^{2|x|} + 1)}. */
    private static final float TANH_SPLIT = 0.625f;
    private static final float T0 = -5.70498872745E-3f;
    private static final float T1 = 2.06390887954E-2f;
    private static final float T2 = -5.37397155531E-2f;
    private static final float T3 = 1.33314422036E-1f;
    private static final float T4 = -3.33332819422E-1f;

    private VectorMath() {
    }

    private static FloatVector c(float v) {
        return FloatVector.broadcast(F, v);
    }

    // ---------------------------------------------------------------- exp

    /**
     * e^x per lane: {@link VectorExp}'s Cephes polynomial (results below e^-86.6 flush to 0: a subnormal
     * result would make every later multiply by it tens of times slower).
     */
    static FloatVector exp(FloatVector x) {
        return VectorExp.exp(x);
    }

    /** Scalar twin of {@link #exp(FloatVector)}: the same bits. */
    static float exp(float x) {
        return VectorExp.exp(x);
    }

    // ---------------------------------------------------------------- log

    /** Natural logarithm per lane: {@code x = m 2^e}, {@code m} in [sqrt(1/2), sqrt(2)), log(m) by polynomial. */
    static FloatVector log(FloatVector x) {
        VectorMask<Float> tiny = x.compare(VectorOperators.LT, Float.MIN_NORMAL);
        FloatVector xs = x.blend(x.mul(TWO_POW_23), tiny);
        IntVector bits = xs.reinterpretAsInts();
        FloatVector e = ((FloatVector) bits.lanewise(VectorOperators.LSHR, 23).sub(126)
                .convert(VectorOperators.I2F, 0))
                .lanewise(VectorOperators.SUB, 23f, tiny);
        FloatVector m = bits.and(0x007fffff).or(0x3f000000).reinterpretAsFloats();
        VectorMask<Float> low = m.compare(VectorOperators.LT, SQRT_HALF);
        e = e.lanewise(VectorOperators.SUB, 1f, low);
        FloatVector z = m.sub(1f).blend(m.add(m).sub(1f), low);
        FloatVector z2 = z.mul(z);
        FloatVector p = z.fma(c(L0), c(L1));
        p = p.fma(z, c(L2));
        p = p.fma(z, c(L3));
        p = p.fma(z, c(L4));
        p = p.fma(z, c(L5));
        p = p.fma(z, c(L6));
        p = p.fma(z, c(L7));
        p = p.fma(z, c(L8));
        FloatVector y = p.mul(z).mul(z2);
        y = e.fma(c(LN2_LO), y);
        y = z2.fma(c(-0.5f), y);
        y = z.add(y);
        y = e.fma(c(LN2_HI), y);
        y = y.blend(Float.NEGATIVE_INFINITY, x.compare(VectorOperators.EQ, 0f));
        y = y.blend(Float.NaN, x.compare(VectorOperators.LT, 0f).or(x.test(VectorOperators.IS_NAN)));
        return y.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.EQ, Float.POSITIVE_INFINITY));
    }

    /** Scalar twin of {@link #log(FloatVector)}. */
    static float log(float x) {
        boolean tiny = x < Float.MIN_NORMAL;
        float xs = tiny ? x * TWO_POW_23 : x;
        int bits = Float.floatToRawIntBits(xs);
        float e = (float) ((bits >>> 23) - 126);
        if (tiny) {
            e -= 23f;
        }
        float m = Float.intBitsToFloat((bits & 0x007fffff) | 0x3f000000);
        boolean low = m < SQRT_HALF;
        if (low) {
            e -= 1f;
        }
        float z = low ? (m + m) - 1f : m - 1f;
        float z2 = z * z;
        float p = Math.fma(z, L0, L1);
        p = Math.fma(p, z, L2);
        p = Math.fma(p, z, L3);
        p = Math.fma(p, z, L4);
        p = Math.fma(p, z, L5);
        p = Math.fma(p, z, L6);
        p = Math.fma(p, z, L7);
        p = Math.fma(p, z, L8);
        float y = p * z * z2;
        y = Math.fma(e, LN2_LO, y);
        y = Math.fma(z2, -0.5f, y);
        y = z + y;
        y = Math.fma(e, LN2_HI, y);
        if (x == 0f) {
            y = Float.NEGATIVE_INFINITY;
        }
        if (x < 0f || Float.isNaN(x)) {
            y = Float.NaN;
        }
        return x == Float.POSITIVE_INFINITY ? Float.POSITIVE_INFINITY : y;
    }

    // ---------------------------------------------------------------- tanh, sigmoid, silu

    /** Hyperbolic tangent per lane. */
    static FloatVector tanh(FloatVector x) {
        FloatVector z = x.abs();
        FloatVector e = exp(z.add(z));
        FloatVector big = c(1f).sub(c(2f).div(e.add(1f)));
        big = big.reinterpretAsInts().or(x.reinterpretAsInts().and(0x80000000)).reinterpretAsFloats();
        FloatVector s = x.mul(x);
        FloatVector p = s.fma(c(T0), c(T1));
        p = p.fma(s, c(T2));
        p = p.fma(s, c(T3));
        p = p.fma(s, c(T4));
        FloatVector small = p.mul(s).fma(x, x);
        return small.blend(big, z.compare(VectorOperators.GE, TANH_SPLIT));
    }

    /** Scalar twin of {@link #tanh(FloatVector)}. */
    static float tanh(float x) {
        float z = Math.abs(x);
        if (z >= TANH_SPLIT) {
            float big = 1f - 2f / (exp(z + z) + 1f);
            return Float.intBitsToFloat(Float.floatToRawIntBits(big) | (Float.floatToRawIntBits(x) & 0x80000000));
        }
        float s = x * x;
        float p = Math.fma(s, T0, T1);
        p = Math.fma(p, s, T2);
        p = Math.fma(p, s, T3);
        p = Math.fma(p, s, T4);
        return Math.fma(p * s, x, x);
    }

    /** {@code 1 / (1 + e^-x)} per lane. */
    static FloatVector sigmoid(FloatVector x) {
        return c(1f).div(exp(x.neg()).add(1f));
    }

    /** Scalar twin of {@link #sigmoid(FloatVector)}. */
    static float sigmoid(float x) {
        return 1f / (exp(-x) + 1f);
    }

    /** {@code x / (1 + e^-x)} per lane (SiLU, the gate of SwiGLU). */
    static FloatVector silu(FloatVector x) {
        return x.div(exp(x.neg()).add(1f));
    }

    /** Scalar twin of {@link #silu(FloatVector)}. */
    static float silu(float x) {
        return x / (exp(-x) + 1f);
    }

    /**
     * Sum of the lanes, always in lane order. Not {@code reduceLanes(ADD)}: once C2 compiles it, it may add
     * the lanes in another order than the interpreted fallback, which breaks bit-identical runs.
     */
    static float sum(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < v.length(); i++) {
            s += v.lane(i);
        }
        return s;
    }
}
