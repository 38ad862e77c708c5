package org.internlmj.trainer.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ScheduleTest {

    @Test
    void lrMatchesInternLMsLoggedValues() {
        // InternLM's 7B demo log prints lr 4e-07, 6e-07, 8e-07 for steps 0, 1, 2: the rate after the
        // scheduler stepped, i.e. lr(1), lr(2), lr(3) here.
        LrSchedule s = new LrSchedule(1e-4, 50000, 0, 0.01, 1e-5);
        assertEquals(500, s.warmupSteps());
        assertEquals(2e-7, s.lr(0), 1e-20);
        assertEquals(4e-7, s.lr(1), 1e-20);
        assertEquals(6e-7, s.lr(2), 1e-20);
        assertEquals(8e-7, s.lr(3), 1e-20);
        assertEquals(1e-4, s.lr(499), 1e-18);
        assertEquals(1e-4, s.lr(500), 1e-18);
        assertEquals(1e-5 + (1e-4 - 1e-5) * (1 + Math.cos(Math.PI * 100 / 49500.0)) / 2, s.lr(600), 1e-18);
        assertEquals(1e-5, s.lr(50000), 1e-18);
        assertEquals(1e-5, s.lr(60000), 1e-18);
    }

    @Test
    void initStepsHoldTheRateAtZero() {
        LrSchedule s = new LrSchedule(1.0, 100, 5, 0.1, 0.0);
        for (int e = 0; e < 5; e++) {
            assertEquals(0.0, s.lr(e));
        }
        assertEquals(0.1, s.lr(5), 1e-15);
        assertEquals(1.0, s.lr(14), 1e-15);
        assertEquals(1.0, s.lr(15), 1e-15);
        assertEquals((1 + Math.cos(Math.PI * 40 / 85)) / 2, s.lr(55), 1e-15);
        assertEquals(0.0, s.lr(100), 1e-15);
    }

    @Test
    void noWarmupStartsOnTheCosine() {
        LrSchedule s = new LrSchedule(2.0, 10, 0, 0, 0);
        assertEquals(2.0, s.lr(0), 1e-15);
        assertEquals(1.0, s.lr(5), 1e-15);
    }

    @Test
    void beta2Schedule() {
        Beta2Schedule constant = new Beta2Schedule(0.95, 0.95, 0, -1);
        assertEquals(0.95, constant.beta2(0));
        assertEquals(0.95, constant.beta2(1000));
        Beta2Schedule growing = new Beta2Schedule(0.9, 0.9, 0.8, -1);
        assertEquals(0.9, growing.beta2(0));
        assertEquals(0.9, growing.beta2(1)); // iter 0
        assertEquals(0.9, growing.beta2(2)); // iter 1: 1 - 1 = 0
        assertEquals(1 - Math.pow(100, -0.8), growing.beta2(101), 1e-15);
        assertEquals(Math.max(0.9, 1 - Math.pow(5, -0.8)), growing.beta2(6), 1e-15);
    }
}
