package org.internlmj.dist.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The schedules against the published algorithm's worked examples (written out by hand from the
 * InternLM/Megatron formulas, shared/INTERNLM.md section 4), and structural properties for many sizes.
 */
class PipelineScheduleTest {

    private static List<PipelineStep> parse(String s) {
        return Arrays.stream(s.replace("|", " ").trim().split("\\s+")).map(PipelineStep::parse).toList();
    }

    @Test
    void interleavedTwoStagesTwoChunksFourMicroBatches() {
        PipelineSchedule s = PipelineSchedule.of(2, 2, 4);
        assertEquals(4, s.warmupSteps(0));
        assertEquals(2, s.warmupSteps(1));
        assertEquals("F0.0 F0.1 F1.0 F1.1 | F0.2 B1.0 F0.3 B1.1 F1.2 B0.0 F1.3 B0.1 | B1.2 B1.3 B0.2 B0.3", s.format(0));
        assertEquals("F0.0 F0.1 | F1.0 B1.0 F1.1 B1.1 F0.2 B0.0 F0.3 B0.1 F1.2 B1.2 F1.3 B1.3 | B0.2 B0.3", s.format(1));
    }

    @Test
    void interleavedTwoStagesIdealisedTimelineMatchesTheWorkedExample() {
        PipelineSchedule.Timeline t = PipelineSchedule.of(2, 2, 4).simulate(1, 1);
        assertEquals(18, t.makespan());
        // rank 0 idles at t = 12 and 14, rank 1 at t = 0 and after 16
        String[] rows = t.render().split("\n");
        assertEquals(List.of("F0.0", "F0.1", "F1.0", "F1.1", "F0.2", "B1.0", "F0.3", "B1.1", "F1.2", "B0.0", "F1.3",
                "B0.1", "--", "B1.2", "--", "B1.3", "B0.2", "B0.3"), cells(rows[1]));
        assertEquals(List.of("--", "F0.0", "F0.1", "F1.0", "B1.0", "F1.1", "B1.1", "F0.2", "B0.0", "F0.3", "B0.1", "F1.2",
                "B1.2", "F1.3", "B1.3", "B0.2", "B0.3", "--"), cells(rows[2]));
        assertEquals(0.125, t.bubble(), 1e-12);
        assertEquals(0.125, PipelineSchedule.of(2, 2, 4).theoreticalBubble(), 1e-12);
    }

    private static List<String> cells(String row) {
        List<String> c = Arrays.asList(row.trim().split("\\s+"));
        return c.subList(2, c.size()); // "stage r"
    }

    @Test
    void interleavedFourStagesTwoChunksEightMicroBatches() {
        PipelineSchedule s = PipelineSchedule.of(4, 2, 8);
        // W_r = min(2 (p - r - 1) + (v - 1) p, M v) = 10, 8, 6, 4
        assertArrayEquals(new int[] {10, 8, 6, 4}, new int[] {s.warmupSteps(0), s.warmupSteps(1), s.warmupSteps(2),
                s.warmupSteps(3)});
        assertEquals(parse("F0.0 F0.1 F0.2 F0.3 F1.0 F1.1 F1.2 F1.3 F0.4 F0.5"
                + " | F0.6 B1.0 F0.7 B1.1 F1.4 B1.2 F1.5 B1.3 F1.6 B0.0 F1.7 B0.1"
                + " | B0.2 B0.3 B1.4 B1.5 B1.6 B1.7 B0.4 B0.5 B0.6 B0.7"), s.steps(0));
        assertEquals(parse("F0.0 F0.1 F0.2 F0.3 F1.0 F1.1 F1.2 F1.3"
                + " | F0.4 B1.0 F0.5 B1.1 F0.6 B1.2 F0.7 B1.3 F1.4 B0.0 F1.5 B0.1 F1.6 B0.2 F1.7 B0.3"
                + " | B1.4 B1.5 B1.6 B1.7 B0.4 B0.5 B0.6 B0.7"), s.steps(1));
        assertEquals(parse("F0.0 F0.1 F0.2 F0.3 F1.0 F1.1"
                + " | F1.2 B1.0 F1.3 B1.1 F0.4 B1.2 F0.5 B1.3 F0.6 B0.0 F0.7 B0.1 F1.4 B0.2 F1.5 B0.3 F1.6 B1.4 F1.7 B1.5"
                + " | B1.6 B1.7 B0.4 B0.5 B0.6 B0.7"), s.steps(2));
        assertEquals(parse("F0.0 F0.1 F0.2 F0.3"
                + " | F1.0 B1.0 F1.1 B1.1 F1.2 B1.2 F1.3 B1.3 F0.4 B0.0 F0.5 B0.1 F0.6 B0.2 F0.7 B0.3"
                + " F1.4 B1.4 F1.5 B1.5 F1.6 B1.6 F1.7 B1.7"
                + " | B0.4 B0.5 B0.6 B0.7"), s.steps(3));
        // Megatron's forward micro-batch order with micro-batch groups of p per chunk: 0-3 on chunk 0, 0-3 on chunk 1, 4-7 ...
        assertEquals(0.375 / 2, s.theoreticalBubble(), 1e-12);
        assertEquals(s.theoreticalBubble(), s.simulate(1, 1).bubble(), 1e-12);
    }

    @Test
    void oneFOneB() {
        PipelineSchedule s = PipelineSchedule.of(4, 1, 8);
        assertEquals("F0.0 F0.1 F0.2 | F0.3 B0.0 F0.4 B0.1 F0.5 B0.2 F0.6 B0.3 F0.7 B0.4 | B0.5 B0.6 B0.7", s.format(0));
        assertEquals("F0.0 B0.0 F0.1 B0.1 F0.2 B0.2 F0.3 B0.3 F0.4 B0.4 F0.5 B0.5 F0.6 B0.6 F0.7 B0.7", s.format(3));
        // fewer micro-batches than stages: the warm-up is all of them
        assertEquals("F0.0 F0.1 | B0.0 B0.1", PipelineSchedule.of(4, 1, 2).format(0));
        assertEquals(3 / 8.0, s.theoreticalBubble(), 1e-12);
        assertEquals(3 / 8.0, s.simulate(1, 1).bubble(), 1e-12);
        // backward twice as long as forward: the bubble fraction (p - 1)(tf + tb) / (M (tf + tb)) is the same
        assertEquals(3 / 8.0, s.simulate(1, 2).bubble(), 1e-12);
    }

    @Test
    void stagesOfUnequalWork() {
        // stage 1 twice as slow: stage 0 waits for each of its gradients (worked out by hand)
        PipelineSchedule.Timeline t = PipelineSchedule.of(2, 1, 4).simulate(new double[] {1, 2}, new double[] {1, 2});
        assertEquals(18, t.makespan());
        assertEquals(8, t.busy(0));
        assertEquals(16, t.busy(1));
        assertEquals((10 / 8.0 + 2 / 16.0) / 2, t.bubble(), 1e-12);
    }

    @Test
    void allForwardsFirstWhenMicroBatchesEqualStages() {
        assertEquals("F0.0 F0.1 F1.0 F1.1 | B1.0 B1.1 B0.0 B0.1", PipelineSchedule.of(2, 2, 2).format(0));
        assertEquals("F0.0 F0.1 F1.0 F1.1 | B1.0 B1.1 B0.0 B0.1", PipelineSchedule.of(2, 2, 2).format(1));
    }

    @Test
    void everyStepOnceInDependencyOrderAndNoCycleForManySizes() {
        for (int p = 1; p <= 5; p++) {
            for (int v = 1; v <= (p == 1 ? 1 : 4); v++) {
                for (int m = 1; m <= 12; m++) {
                    if (v > 1 && m % p != 0) {
                        continue;
                    }
                    PipelineSchedule s = PipelineSchedule.of(p, v, m);
                    for (int r = 0; r < p; r++) {
                        List<PipelineStep> steps = s.steps(r);
                        Set<PipelineStep> seen = new HashSet<>(steps);
                        assertEquals(2 * m * v, steps.size());
                        assertEquals(steps.size(), seen.size(), "a step twice on stage " + r);
                        for (int c = 0; c < v; c++) {
                            int lastF = -1;
                            int lastB = -1;
                            for (int i = 0; i < steps.size(); i++) {
                                PipelineStep st = steps.get(i);
                                if (st.chunk() != c) {
                                    continue;
                                }
                                // each chunk runs its micro-batches in order, and a backward after its forward
                                if (st.isForward()) {
                                    assertEquals(lastF + 1, st.microBatch());
                                    lastF = st.microBatch();
                                } else {
                                    assertEquals(lastB + 1, st.microBatch());
                                    assertTrue(lastF >= st.microBatch(), "B before F: " + st + " on stage " + r);
                                    lastB = st.microBatch();
                                }
                            }
                        }
                    }
                    PipelineSchedule.Timeline t = s.simulate(1, 2);
                    double bubble = t.bubble();
                    assertTrue(bubble <= s.theoreticalBubble() + 1e-9, "p " + p + " v " + v + " m " + m + ": " + bubble);
                }
            }
        }
    }

    @Test
    void interleavingNeedsAMultipleOfThePipelineSize() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineSchedule.of(4, 2, 6));
        assertTrue(e.getMessage().contains("micro_num = 6") && e.getMessage().contains("pipeline size = 4"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PipelineSchedule.of(1, 2, 4));
        assertThrows(IllegalArgumentException.class, () -> PipelineSchedule.of(2, 1, 4).steps(2));
    }
}
