package org.internlmj.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class VectorExpTest {

    private static float[] vectorExp(float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i += Simd.LANES) {
            VectorExp.exp(FloatVector.fromArray(Simd.F, x, i)).intoArray(y, i);
        }
        return y;
    }

    private static float[] samples() {
        Random rnd = new Random(1);
        float[] x = new float[Simd.LANES * 4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextDouble() * 180 - 90);
        }
        float[] special = {0f, -0f, 1f, -1f, VectorExp.MIN_ARG, Math.nextDown(VectorExp.MIN_ARG), 88.72f, 88.7228f, 88.73f,
            Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, 1e-8f, -1e-8f, -0.34657359f, 0.34657359f};
        System.arraycopy(special, 0, x, 0, special.length);
        return x;
    }

    @Test
    void vectorAndScalarTwinGiveTheSameBits() {
        float[] x = samples();
        float[] y = vectorExp(x);
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.floatToRawIntBits(VectorExp.exp(x[i])), Float.floatToRawIntBits(y[i]), "exp(" + x[i] + ")");
        }
    }

    @Test
    void withinTwoUlpOfTheTrueValueAboveTheFlushThreshold() {
        float[] x = samples();
        float[] y = vectorExp(x);
        for (int i = 0; i < x.length; i++) {
            double want = StrictMath.exp(x[i]);
            if (Float.isNaN(x[i]) || x[i] < VectorExp.MIN_ARG || want > Float.MAX_VALUE) {
                continue;
            }
            double ulps = Math.abs(y[i] - want) / Math.ulp((float) want);
            assertTrue(ulps <= 2, "exp(" + x[i] + ") = " + y[i] + ", true " + want + ": " + ulps + " ulp");
        }
    }

    @Test
    void limits() {
        assertEquals(0f, VectorExp.exp(Float.NEGATIVE_INFINITY));
        assertEquals(0f, VectorExp.exp(-100f));
        assertEquals(1f, VectorExp.exp(0f));
        assertEquals(Float.POSITIVE_INFINITY, VectorExp.exp(Float.POSITIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, VectorExp.exp(89f));
        assertTrue(Float.isFinite(VectorExp.exp(88.72f)), "e^88.72 is below FLT_MAX");
        assertTrue(Float.isNaN(VectorExp.exp(Float.NaN)));
        assertTrue(VectorExp.exp(VectorExp.MIN_ARG) > 0f);
    }
}
