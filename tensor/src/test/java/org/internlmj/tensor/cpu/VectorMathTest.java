package org.internlmj.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class VectorMathTest {

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
