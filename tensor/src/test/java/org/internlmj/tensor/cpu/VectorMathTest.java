package org.internlmj.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.function.DoubleUnaryOperator;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * The vector functions against float64 math (error in ulps of the float result) and against their
 * scalar twins (bit for bit: the guarantee that a tail, an interpreted call and a compiled call agree).
 */
class VectorMathTest {
    interface VectorFn {
        FloatVector apply(FloatVector v);
    }

    interface ScalarFn {
        float apply(float v);
    }

    private static float[] sweep(float lo, float hi, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = lo + (hi - lo) * i / (n - 1);
        }
        return x;
    }

    /** Max error in ulps of the correctly rounded float; values below the normal range use its ulp. */
    private static double maxUlps(float[] x, VectorFn f, ScalarFn twin, DoubleUnaryOperator exact) {
        int lanes = Simd.LANES;
        float[] y = new float[x.length];
        int i = 0;
        for (; i + lanes <= x.length; i += lanes) {
            f.apply(FloatVector.fromArray(Simd.F, x, i)).intoArray(y, i);
        }
        for (; i < x.length; i++) {
            y[i] = twin.apply(x[i]);
        }
        double worst = 0;
        for (int k = 0; k < x.length; k++) {
            float t = twin.apply(x[k]);
            assertTrue(Float.floatToRawIntBits(t) == Float.floatToRawIntBits(y[k]) || Float.isNaN(t) && Float.isNaN(y[k]),
                    "vector and scalar twin differ at x=" + x[k] + ": " + y[k] + " vs " + t);
            double e = exact.applyAsDouble(x[k]);
            float r = (float) e;
            if (Float.isNaN(r) || Float.isInfinite(r)) {
                assertEquals(r, y[k], "x=" + x[k]);
                continue;
            }
            double ulp = Math.ulp(Math.max(Math.abs(r), Float.MIN_NORMAL));
            worst = Math.max(worst, Math.abs(y[k] - e) / ulp);
        }
        return worst;
    }

    @Test
    void expIsWithinOneUlp() {
        // Cephes' polynomial is a hair over 1 ulp at worst (1.002 near x = 48.2)
        double u = maxUlps(sweep(VectorExp.MIN_ARG, 89f, 100_003), VectorMath::exp, VectorMath::exp, Math::exp);
        assertTrue(u <= 1.01, "exp max error " + u + " ulp");
        float[] edges = {Float.NaN, Float.POSITIVE_INFINITY, 88.72283f, 88.72284f, 0f, -0f, 1e-20f, -1e-20f, 150f,
            Float.MAX_VALUE, -86.6f};
        assertTrue(maxUlps(edges, VectorMath::exp, VectorMath::exp, Math::exp) <= 1.01);
        // below e^-86.6 results flush to zero instead of becoming slow subnormals
        for (float x : new float[] {-87.33655f, -103.97208f, -150f, Float.NEGATIVE_INFINITY, -Float.MAX_VALUE}) {
            assertEquals(0f, VectorMath.exp(x), "x=" + x);
            assertEquals(0f, VectorMath.exp(FloatVector.broadcast(Simd.F, x)).lane(0), "x=" + x);
        }
    }

    @Test
    void logIsWithinOneUlp() {
        double u = maxUlps(sweep(1e-3f, 50f, 100_003), VectorMath::log, VectorMath::log, Math::log);
        assertTrue(u <= 1.0, "log max error " + u + " ulp");
        float[] wide = new float[100_000];
        java.util.Random rnd = new java.util.Random(11);
        for (int i = 0; i < wide.length; i++) {
            wide[i] = Float.intBitsToFloat(rnd.nextInt(0x7f800000)); // every positive finite float, subnormals too
        }
        u = maxUlps(wide, VectorMath::log, VectorMath::log, Math::log);
        assertTrue(u <= 1.0, "log over all positive floats: " + u + " ulp");
        float[] edges = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, -1f, 1f, Float.MIN_VALUE,
            Float.MIN_NORMAL, Float.MAX_VALUE, 0.70710677f, 0.7071068f};
        assertTrue(maxUlps(edges, VectorMath::log, VectorMath::log, Math::log) <= 1.0);
    }

    @Test
    void tanhSigmoidSiluAreWithinThreeUlps() {
        float[] x = sweep(-30f, 30f, 100_003);
        double u = maxUlps(x, VectorMath::tanh, VectorMath::tanh, Math::tanh);
        assertTrue(u <= 2.0, "tanh max error " + u + " ulp");
        u = maxUlps(sweep(-0.7f, 0.7f, 50_003), VectorMath::tanh, VectorMath::tanh, Math::tanh);
        assertTrue(u <= 2.0, "tanh near the branch point: " + u + " ulp");
        u = maxUlps(x, VectorMath::sigmoid, VectorMath::sigmoid, v -> 1 / (1 + Math.exp(-v)));
        assertTrue(u <= 3.0, "sigmoid max error " + u + " ulp");
        u = maxUlps(x, VectorMath::silu, VectorMath::silu, v -> v / (1 + Math.exp(-v)));
        assertTrue(u <= 3.0, "silu max error " + u + " ulp");
        float[] edges = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 1e-30f, 0.625f, -0.625f};
        maxUlps(edges, VectorMath::tanh, VectorMath::tanh, Math::tanh);
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

    @Test
    void laneSumOfOrdinaryValues() {
        float[] v = new float[Simd.LANES];
        float expected = 0;
        for (int i = 0; i < v.length; i++) {
            v[i] = 0.5f * i - 1;
            expected += v[i];
        }
        assertEquals(expected, VectorMath.sum(FloatVector.fromArray(Simd.F, v, 0)));
    }
}
