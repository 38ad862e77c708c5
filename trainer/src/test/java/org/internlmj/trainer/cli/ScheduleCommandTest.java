package org.internlmj.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ScheduleCommandTest {

    @Test
    void printsEachStagesSequence() {
        MainTest.Result r = MainTest.run("schedule", "--pp", "4", "--chunks", "2", "--micro", "8");
        assertEquals(0, r.code(), r.err());
        String[] lines = r.out().split("\n");
        assertTrue(lines[0].startsWith("interleaved 1F1B: 4 stages x 2 chunks, 8 micro-batches"), lines[0]);
        assertEquals("stage 0 (warm-up 10): F0.0 F0.1 F0.2 F0.3 F1.0 F1.1 F1.2 F1.3 F0.4 F0.5 | F0.6 B1.0 F0.7 B1.1 F1.4 "
                + "B1.2 F1.5 B1.3 F1.6 B0.0 F1.7 B0.1 | B0.2 B0.3 B1.4 B1.5 B1.6 B1.7 B0.4 B0.5 B0.6 B0.7", lines[1]);
        assertTrue(lines[4].startsWith("stage 3 (warm-up  4): F0.0 F0.1 F0.2 F0.3 | F1.0 B1.0"), lines[4]);
        assertTrue(lines[5].startsWith("bubble: (p-1)/(v*m) = 3/16 = 0.1875"), lines[5]);
    }

    @Test
    void drawsTheIdealisedTimeline() {
        MainTest.Result r = MainTest.run("schedule", "--pp", "2", "--chunks", "2", "--micro", "4", "--timeline");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("stage 1 --   F0.0 F0.1 F1.0 B1.0"), r.out());
    }

    @Test
    void badSizesNameTheNumbers() {
        MainTest.Result r = MainTest.run("schedule", "--pp", "4", "--chunks", "2", "--micro", "6");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("micro_num = 6") && r.err().contains("pipeline size = 4"), r.err());
    }
}
