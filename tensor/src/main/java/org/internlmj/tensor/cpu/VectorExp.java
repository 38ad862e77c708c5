package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code exp(x)} in fp32 for Vector API kernels, with a scalar twin that returns the same bits.
 *
 * <p>Why not {@code VectorOperators.EXP}: its C2 intrinsic (SVML) and its interpreted fallback
 * ({@code Math.exp} per lane) may round differently, so a kernel would change its results once the JIT
 * compiles it, breaking run-to-run bit-identity. This version uses only IEEE-exact operations (add,
 * multiply, fused multiply-add, compares, integer bit arithmetic), which give the same bits in every
 * execution tier and in the scalar twin.
 *
 * <p>Method (Cephes {@code expf}): {@code x = n ln2 + r} with {@code n = round(x / ln2)} and
 * {@code |r| <= ln2/2}; {@code e^r} by a degree-7 polynomial; {@code 2^n} built in the exponent bits
 * (as {@code 2^(n-1) * 2}, so that results up to {@code FLT_MAX} stay finite). Results below
 * {@code 2^-125} (arguments below {@code -125 ln2}) flush to 0, so {@code exp(-inf) == 0}; results
 * beyond {@code FLT_MAX} overflow to {@code +inf}; NaN stays NaN.
 */
final class VectorExp {
    private static final float LOG2E = 1.44269504088896341f;
    /** {@code ln2} split so that {@code n * LN2_HI} is exact for |n| < 2^9. */
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** Adding then subtracting 1.5 * 2^23 rounds a float to the nearest integer (|t| < 2^22). */
    private static final float ROUND_MAGIC = 12582912f;
    private static final int ROUND_MAGIC_BITS = 0x4B400000;
    private static final float P0 = 1.9875691500e-4f;
    private static final float P1 = 1.3981999507e-3f;
    private static final float P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f;
    private static final float P4 = 1.6666665459e-1f;
    private static final float P5 = 5.0000001201e-1f;
    /** {@code -125 ln2}: below it the result flushes to zero (keeps {@code 2^(n-1)} a normal float). */
    static final float MIN_ARG = -86.64339f;
    /** A clamp above {@code ln(FLT_MAX)} that keeps {@code n <= 128}; larger arguments overflow to inf anyway. */
    private static final float MAX_CLAMP = 88.8f;

    private VectorExp() {
    }

    /** {@code e^x} lane-wise. */
    static FloatVector exp(FloatVector x) {
        VectorMask<Float> under = x.compare(VectorOperators.LT, MIN_ARG);
        // Clamp so that n - 1 stays in [-126, 127] and the exponent bits below stay valid; the blend
        // at the end restores the flush to zero. NaN compares false and propagates through r.
        FloatVector xc = x.max(MIN_ARG).min(MAX_CLAMP);
        FloatVector shifted = xc.mul(LOG2E).add(ROUND_MAGIC);
        FloatVector n = shifted.sub(ROUND_MAGIC);
        VectorSpecies<Float> f = x.species();
        FloatVector r = n.fma(FloatVector.broadcast(f, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(f, -LN2_LO), r);
        FloatVector z = r.mul(r);
        FloatVector y = r.fma(FloatVector.broadcast(f, P0), FloatVector.broadcast(f, P1));
        y = y.fma(r, FloatVector.broadcast(f, P2));
        y = y.fma(r, FloatVector.broadcast(f, P3));
        y = y.fma(r, FloatVector.broadcast(f, P4));
        y = y.fma(r, FloatVector.broadcast(f, P5));
        y = y.fma(z, r).add(1f);
        IntVector bits = (IntVector) shifted.reinterpretAsInts();
        FloatVector pow2nm1 = bits.sub(ROUND_MAGIC_BITS - 126).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(pow2nm1).mul(2f).blend(0f, under);
    }

    /** The scalar twin of {@link #exp(FloatVector)}: the same operations, so the same bits. */
    static float exp(float x) {
        if (x < MIN_ARG) {
            return 0f;
        }
        // Math.max/min semantics match the vector lanes; NaN falls through the test above.
        float xc = Math.min(Math.max(x, MIN_ARG), MAX_CLAMP);
        float shifted = xc * LOG2E + ROUND_MAGIC;
        float n = shifted - ROUND_MAGIC;
        float r = Math.fma(n, -LN2_HI, xc);
        r = Math.fma(n, -LN2_LO, r);
        float z = r * r;
        float y = Math.fma(r, P0, P1);
        y = Math.fma(y, r, P2);
        y = Math.fma(y, r, P3);
        y = Math.fma(y, r, P4);
        y = Math.fma(y, r, P5);
        y = Math.fma(y, z, r) + 1f;
        float pow2nm1 = Float.intBitsToFloat((Float.floatToRawIntBits(shifted) - (ROUND_MAGIC_BITS - 126)) << 23);
        return y * pow2nm1 * 2f;
    }
}
