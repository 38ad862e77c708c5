package org.internlmj.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PhiloxTest {

    @Test
    void matchesThePublishedKnownAnswer() {
        // Random123 kat_vectors: philox4x32 10 rounds, counter 0, key 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8
        long w = Philox.words01(0L, 0L);
        assertEquals(0x6627e8d5, (int) w);
        assertEquals(0xe169c58d, (int) (w >>> 32));
    }

    @Test
    void normalAndUniformHaveTheRightMoments() {
        int n = 200_000;
        double s = 0;
        double s2 = 0;
        double u = 0;
        double umin = 1;
        double umax = 0;
        for (int i = 0; i < n; i++) {
            double z = Philox.normal(1234, i);
            s += z;
            s2 += z * z;
            double x = Philox.uniform(1234, i);
            u += x;
            umin = Math.min(umin, x);
            umax = Math.max(umax, x);
        }
        assertEquals(0.0, s / n, 0.01);
        assertEquals(1.0, s2 / n, 0.01);
        assertEquals(0.5, u / n, 0.005);
        assertTrue(umin >= 0 && umax < 1);
    }
}
