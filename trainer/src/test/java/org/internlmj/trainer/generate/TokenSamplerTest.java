package org.internlmj.trainer.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TokenSamplerTest {
    private static final float[] LOGITS = {0f, 2f, 1f, -1f, 1.5f};

    @Test
    void greedyAtTemperatureZero() {
        assertEquals(1, new TokenSampler(0, 0, 1, 1).next(LOGITS));
    }

    @Test
    void topKAndTopPRestrictTheChoice() {
        TokenSampler k1 = new TokenSampler(1.0, 1, 1.0, 3);
        for (int i = 0; i < 50; i++) {
            assertEquals(1, k1.next(LOGITS));
        }
        TokenSampler k2 = new TokenSampler(1.0, 2, 1.0, 3);
        for (int i = 0; i < 200; i++) {
            int t = k2.next(LOGITS);
            assertTrue(t == 1 || t == 4, "top-2 drew " + t);
        }
        // p(1) = e^2 / sum ~ 0.44 < 0.5: top-p 0.5 keeps tokens 1 and 4
        TokenSampler p = new TokenSampler(1.0, 0, 0.5, 3);
        for (int i = 0; i < 200; i++) {
            int t = p.next(LOGITS);
            assertTrue(t == 1 || t == 4, "top-p drew " + t);
        }
    }

    @Test
    void frequenciesFollowTheSoftmax() {
        TokenSampler s = new TokenSampler(1.0, 0, 1.0, 11);
        int[] counts = new int[LOGITS.length];
        int n = 40_000;
        for (int i = 0; i < n; i++) {
            counts[s.next(LOGITS)]++;
        }
        double z = 0;
        for (float l : LOGITS) {
            z += Math.exp(l);
        }
        for (int i = 0; i < LOGITS.length; i++) {
            assertEquals(Math.exp(LOGITS[i]) / z, counts[i] / (double) n, 0.01, "token " + i);
        }
    }

    @Test
    void sameSeedSameTokens() {
        TokenSampler a = new TokenSampler(0.8, 3, 0.9, 5);
        TokenSampler b = new TokenSampler(0.8, 3, 0.9, 5);
        for (int i = 0; i < 100; i++) {
            assertEquals(a.next(LOGITS), b.next(LOGITS));
        }
        assertThrows(IllegalArgumentException.class, () -> new TokenSampler(1, 0, 0, 1));
    }
}
