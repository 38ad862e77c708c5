package org.internlmj.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class VectorMathTest {

    /** Distance in units in the last place between two finite floats of the same sign. */
    private static long ulps(float a, float b) {
        return Math.abs((long) Float.floatToRawIntBits(a) - Float.floatToRawIntBits(b));
    }

    @Test
    void expIsWithinTwoUlpOverTheNormalRange() {
        SplittableRandom rnd = new SplittableRandom(1);
        long worst = 0;
        for (int i = 0; i < 200_000; i++) {
            float x = (float) (rnd.nextDouble() * 175.7 - 87);
            float exact = (float) Math.exp(x);
            long u = ulps(VectorMath.exp(x), exact);
            worst = Math.max(worst, u);
        }
        assertTrue(worst <= 2, "worst error " + worst + " ulp");
    }

    @Test
    void expSpecialValuesAndRangeEnds() {
        assertEquals(1f, VectorMath.exp(0f));
        assertEquals(0f, VectorMath.exp(Float.NEGATIVE_INFINITY));
        assertEquals(0f, VectorMath.exp(-200f));
        assertEquals(Float.POSITIVE_INFINITY, VectorMath.exp(Float.POSITIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, VectorMath.exp(89f));
        assertTrue(Float.isNaN(VectorMath.exp(Float.NaN)));
        // The largest finite results need the scale 2^128 split in two.
        assertTrue(ulps(VectorMath.exp(88.7f), (float) Math.exp(88.7f)) <= 2);
        // Results below e^-87 are flushed to 0 so that no subnormal is ever computed; just above, normal.
        assertEquals(0f, VectorMath.exp(-100f));
        assertEquals(0f, VectorMath.exp(-87.01f));
        float tiny = VectorMath.exp(-86.99f);
        assertTrue(tiny >= Float.MIN_NORMAL && ulps(tiny, (float) Math.exp(-86.99f)) <= 2, "exp(-86.99) = " + tiny);
    }

    @Test
    void vectorLanesEqualTheScalarTwinBitForBit() {
        SplittableRandom rnd = new SplittableRandom(2);
        int lanes = Simd.LANES;
        float[] x = new float[lanes * 4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = switch (i % 7) {
                case 0 -> (float) (rnd.nextDouble() * 220 - 110);
                case 1 -> Float.NEGATIVE_INFINITY;
                default -> (float) (rnd.nextGaussian() * 10);
            };
        }
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i += lanes) {
            VectorMath.exp(FloatVector.fromArray(Simd.F, x, i)).intoArray(y, i);
        }
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.floatToRawIntBits(VectorMath.exp(x[i])), Float.floatToRawIntBits(y[i]),
                    "exp(" + x[i] + ")");
        }
    }

    @Test
    void laneSumIsInLaneOrder() {
        float[] v = new float[Simd.LANES];
        v[0] = 1e8f;
        v[1] = 1f;
        v[v.length - 1] = -1e8f;
        // In lane order 1e8 + 1 rounds back to 1e8, so the sum is exactly 0; any reassociation that
        // adds the two large lanes first would give 1.
        assertEquals(0f, VectorMath.sum(FloatVector.fromArray(Simd.F, v, 0)));
    }
}
