package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Deterministic building blocks for kernels: an {@code exp} and a horizontal sum that give the same
 * bits whether the JIT has compiled the caller or not, in a vector lane or in a scalar tail.
 *
 * <p>Why not the Vector API's own: {@code lanewise(EXP)} runs Intel's SVML when C2 compiles it and
 * {@code Math.exp} per lane before, and {@code reduceLanes(ADD)} may reassociate once compiled; both
 * were measured (Temurin 25) to change results between the first calls of a kernel and later ones,
 * which would break bit-identical runs. Here every step is a single IEEE operation (add, mul, fma,
 * integer bit arithmetic), each exactly rounded on both paths, and the scalar twin performs the same
 * operations in the same order.
 */
final class VectorMath {
    private VectorMath() {
    }

    // Cephes expf: exp(x) = 2^n * exp(r), x = n ln2 + r, |r| <= ln2/2, ln2 split in two for exactness.
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500E-4f;
    private static final float P1 = 1.3981999507E-3f;
    private static final float P2 = 8.3334519073E-3f;
    private static final float P3 = 4.1665795894E-2f;
    private static final float P4 = 1.6666665459E-1f;
    private static final float P5 = 5.0000001201E-1f;
    /** 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer (nearest even). */
    private static final float ROUNDER = 12582912f;
    private static final int ROUNDER_BITS = Float.floatToRawIntBits(ROUNDER);
    /**
     * Below this exp is flushed to 0: e^-87 is still a normal float, so no step ever makes a subnormal
     * (each costs a slow microcode assist on x86, and softmax-style callers meet many tiny values).
     */
    private static final float LO = -87f;
    /** Above ln(Float.MAX_VALUE) exp overflows to infinity; clamping keeps n within two scale factors. */
    private static final float HI = 88.8f;

    /**
     * {@code e^x} for every lane, within 2 ulp where the result is at least e^-87; 0 below that and for
     * -infinity, infinity above ~88.72, NaN for NaN.
     */
    static FloatVector exp(FloatVector x) {
        VectorSpecies<Float> sp = x.species();
        FloatVector xc = x.max(LO).min(HI);
        FloatVector t = xc.fma(LOG2E, ROUNDER);
        FloatVector n = t.sub(ROUNDER);
        FloatVector r = n.fma(FloatVector.broadcast(sp, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(sp, -LN2_LO), r);
        FloatVector p = r.fma(P0, P1);
        p = p.fma(r, FloatVector.broadcast(sp, P2));
        p = p.fma(r, FloatVector.broadcast(sp, P3));
        p = p.fma(r, FloatVector.broadcast(sp, P4));
        p = p.fma(r, FloatVector.broadcast(sp, P5));
        p = p.mul(r).fma(r, r).add(1f);
        IntVector ni = t.reinterpretAsInts().sub(ROUNDER_BITS);
        // Two factors 2^n1 * 2^n2 (n = n1 + n2), since 2^128 (for x near 88.7) is not a float.
        IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1);
        IntVector n2 = ni.sub(n1);
        FloatVector s1 = n1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = n2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(s1).mul(s2).blend(0f, x.lt(LO));
    }

    /** The scalar twin of {@link #exp(FloatVector)}: bit-identical to a lane of it. */
    static float exp(float x) {
        float xc = Math.min(Math.max(x, LO), HI);
        float t = Math.fma(xc, LOG2E, ROUNDER);
        float n = t - ROUNDER;
        float r = Math.fma(n, -LN2_HI, xc);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(r, P0, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        p = Math.fma(p * r, r, r) + 1f;
        int ni = Float.floatToRawIntBits(t) - ROUNDER_BITS;
        int n1 = ni >> 1;
        int n2 = ni - n1;
        float e = p * Float.intBitsToFloat((n1 + 127) << 23) * Float.intBitsToFloat((n2 + 127) << 23);
        return x < LO ? 0f : e;
    }

    /** Sum of the lanes, always in lane order (never reassociated by the compiler). */
    static float sum(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < v.length(); i++) {
            s += v.lane(i);
        }
        return s;
    }
}
