package org.internlmj.dist.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PipelinePartitionTest {

    @Test
    void theWorkedExample() {
        // 32 layers, pp 2, 2 chunks: r0 holds 0-7 and 16-23, r1 holds 8-15 and 24-31
        PipelinePartition p = new PipelinePartition(32, 2, 2);
        assertArrayEquals(new int[] {0, 8}, p.layers(0, 0));
        assertArrayEquals(new int[] {16, 24}, p.layers(0, 1));
        assertArrayEquals(new int[] {8, 16}, p.layers(1, 0));
        assertArrayEquals(new int[] {24, 32}, p.layers(1, 1));
        assertTrue(p.holdsEmbedding(0, 0));
        assertFalse(p.holdsEmbedding(1, 0));
        assertTrue(p.holdsHead(1, 1));
        assertFalse(p.holdsHead(1, 0));
    }

    @Test
    void leftoverLayersGoToTheLaterRanks() {
        // InternLM's partition_uniform: 6 layers over 4 ranks -> 1, 1, 2, 2
        PipelinePartition p = new PipelinePartition(6, 4, 1);
        assertArrayEquals(new int[] {0, 1}, p.layers(0, 0));
        assertArrayEquals(new int[] {1, 2}, p.layers(1, 0));
        assertArrayEquals(new int[] {2, 4}, p.layers(2, 0));
        assertArrayEquals(new int[] {4, 6}, p.layers(3, 0));
        // 10 layers, 2 chunks of 5, over 2 ranks -> [0,2) [2,5) | [5,7) [7,10)
        PipelinePartition q = new PipelinePartition(10, 2, 2);
        assertArrayEquals(new int[] {0, 2}, q.layers(0, 0));
        assertArrayEquals(new int[] {2, 5}, q.layers(1, 0));
        assertArrayEquals(new int[] {5, 7}, q.layers(0, 1));
        assertArrayEquals(new int[] {7, 10}, q.layers(1, 1));
    }

    @Test
    void virtualStagesCoverEveryLayerOnceInOrder() {
        for (int layers = 1; layers <= 24; layers++) {
            for (int pp = 1; pp <= 5; pp++) {
                for (int v = 1; v <= 3; v++) {
                    if (layers % v != 0 || layers / v < pp) {
                        continue;
                    }
                    PipelinePartition p = new PipelinePartition(layers, pp, v);
                    int next = 0;
                    for (int c = 0; c < v; c++) {
                        for (int r = 0; r < pp; r++) {
                            int[] l = p.layers(r, c);
                            assertEquals(next, l[0]);
                            assertTrue(l[1] > l[0]);
                            next = l[1];
                        }
                    }
                    assertEquals(layers, next);
                }
            }
        }
    }

    @Test
    void errorsNameTheNumbers() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new PipelinePartition(6, 2, 4));
        assertTrue(e.getMessage().contains("num_layers = 6") && e.getMessage().contains("num_chunks = 4"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new PipelinePartition(6, 4, 2));
        assertTrue(e.getMessage().contains("pipeline.size = 4") && e.getMessage().contains("8"), e.getMessage());
    }
}
