package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class GradScalerTest {

    @Test
    void followsInternLMStepByStep() {
        // hysteresis 2: the first overflow only counts, the second halves
        GradScaler s = new GradScaler(1024, 1, 3, 2, 0.5, 4096, 2);
        s.update(true);
        assertEquals(1024, s.scale());
        s.update(true);
        assertEquals(512, s.scale());
        s.update(true); // hysteresis_step stays >= 2 until a growth resets it: every further overflow backs off
        assertEquals(256, s.scale());
        s.update(false);
        s.update(false);
        assertEquals(256, s.scale());
        s.update(false); // 3 clean steps: grow, reset hysteresis
        assertEquals(512, s.scale());
        s.update(true);
        assertEquals(512, s.scale());
        s.update(false); // an overflow resets the growth count
        s.update(false);
        assertEquals(512, s.scale());
        s.update(false);
        assertEquals(1024, s.scale());
        for (int i = 0; i < 30; i++) {
            s.update(false);
        }
        assertEquals(4096, s.scale(), "capped at max_scale");
        GradScaler floor = new GradScaler(2, 1, 1000, 2, 0.5, 4, 1);
        for (int i = 0; i < 5; i++) {
            floor.update(true);
        }
        assertEquals(1, floor.scale(), "floored at min_scale");
    }

    @Test
    void stateRoundTrips() {
        GradScaler a = new GradScaler(1024, 1, 3, 2, 0.5, 4096, 2);
        a.update(true);
        a.update(false);
        GradScaler b = new GradScaler(1, 1, 3, 2, 0.5, 4096, 2);
        b.restore(a.state());
        for (boolean o : new boolean[] {true, true, false, false, false}) {
            a.update(o);
            b.update(o);
            assertEquals(a.state(), b.state());
        }
    }
}
