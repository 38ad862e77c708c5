package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ParallelLayoutTest {

    @Test
    void internlmRankLayout() {
        // world 16, tp 2, pp 2 -> dp 4; rank = dp*4 + pp*2 + tp
        ParallelLayout l = new ParallelLayout(16, 2, 2, 2);
        assertEquals(4, l.data());
        assertEquals(13, l.globalRank(3, 0, 1));
        assertEquals(3, l.dataRank(13));
        assertEquals(0, l.pipelineRank(13));
        assertEquals(1, l.tensorRank(13));
        assertArrayEquals(new int[] {12, 13}, l.tensorGroups()[6]);
        assertArrayEquals(new int[] {5, 7}, l.pipelineGroups()[3]);
        assertArrayEquals(new int[] {1, 5, 9, 13}, l.dataGroups()[1]);
        // zero1 = 2: consecutive data-parallel ranks {i + (j*2 + k)*4}
        assertArrayEquals(new int[] {1, 5}, l.zeroGroups()[2]);
        assertArrayEquals(new int[] {9, 13}, l.zeroGroups()[3]);
        assertEquals(1, l.zeroRank(13));
        assertArrayEquals(new int[] {4, 5, 6, 7}, l.modelGroups()[1]);
    }

    @Test
    void zeroSizes() {
        assertEquals(4, new ParallelLayout(4, 1, 1, -1).zero());
        assertEquals(4, new ParallelLayout(4, 1, 1, 0).zero());
        assertEquals(1, new ParallelLayout(4, 1, 1, 1).zero());
        assertEquals(4, new ParallelLayout(4, 1, 1, 1).zeroGroups().length);
        assertThrows(IllegalArgumentException.class, () -> new ParallelLayout(4, 1, 1, 3));
        assertThrows(IllegalArgumentException.class, () -> new ParallelLayout(6, 4, 1, 1));
    }

    @Test
    void everyRankIsInExactlyOneGroupOfEachKind() {
        ParallelLayout l = new ParallelLayout(24, 2, 3, 2);
        for (int[][] groups : new int[][][] {l.tensorGroups(), l.pipelineGroups(), l.dataGroups(), l.zeroGroups(),
                l.modelGroups()}) {
            int[] seen = new int[24];
            for (int[] g : groups) {
                for (int r : g) {
                    seen[r]++;
                }
            }
            for (int c : seen) {
                assertEquals(1, c);
            }
        }
    }
}
