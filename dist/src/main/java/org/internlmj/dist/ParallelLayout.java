package org.internlmj.dist;

import java.util.ArrayList;
import java.util.List;

/**
 * InternLM's rank layout (process_group_initializer.py): tensor-parallel ranks innermost, then pipeline,
 * then data: {@code rank = dp * (pp_size * tp_size) + pp * tp_size + tp}. The groups are lists of global
 * ranks:
 * <ul>
 *   <li>tensor: {@code tp_size} consecutive ranks;</li>
 *   <li>pipeline: ranks with the same data and tensor index, stride {@code tp_size};</li>
 *   <li>data: ranks with the same pipeline and tensor index, stride {@code tp_size * pp_size};</li>
 *   <li>zero: consecutive data-parallel ranks in chunks of the ZeRO size ({@code zero1 <= 0}: the whole data
 *       group; 1: no sharding; k: groups of k);</li>
 *   <li>model: the {@code tp_size * pp_size} ranks of one data-parallel replica (the grad-norm group).</li>
 * </ul>
 *
 * <pre>{@code
 * ParallelLayout l = new ParallelLayout(8, 2, 2, -1);   // world 8, tp 2, pp 2 -> dp 2
 * l.dataGroups();   // [[0, 4], [1, 5], [2, 6], [3, 7]]
 * }</pre>
 */
public record ParallelLayout(int world, int tensor, int pipeline, int zero1) {

    public ParallelLayout {
        if (world < 1 || tensor < 1 || pipeline < 1) {
            throw new IllegalArgumentException("world, tensor and pipeline sizes must be >= 1, got " + world + ", "
                    + tensor + ", " + pipeline);
        }
        if (world % (tensor * pipeline) != 0) {
            throw new IllegalArgumentException("world size " + world + " is not divisible by tensor (" + tensor
                    + ") x pipeline (" + pipeline + ")");
        }
        int dp = world / (tensor * pipeline);
        if (zero1 > dp || (zero1 > 1 && dp % zero1 != 0)) {
            throw new IllegalArgumentException("zero1 = " + zero1 + " must divide the data-parallel size " + dp);
        }
    }

    public int data() {
        return world / (tensor * pipeline);
    }

    /** Size of a ZeRO sharding group. */
    public int zero() {
        return zero1 <= 0 ? data() : zero1;
    }

    public int tensorRank(int rank) {
        return rank % tensor;
    }

    public int pipelineRank(int rank) {
        return (rank / tensor) % pipeline;
    }

    public int dataRank(int rank) {
        return rank / (tensor * pipeline);
    }

    /** Index of a rank inside its ZeRO group. */
    public int zeroRank(int rank) {
        return dataRank(rank) % zero();
    }

    public int globalRank(int dataRank, int pipelineRank, int tensorRank) {
        return dataRank * (tensor * pipeline) + pipelineRank * tensor + tensorRank;
    }

    public int[][] tensorGroups() {
        List<int[]> g = new ArrayList<>();
        for (int d = 0; d < data(); d++) {
            for (int p = 0; p < pipeline; p++) {
                int[] ranks = new int[tensor];
                for (int t = 0; t < tensor; t++) {
                    ranks[t] = globalRank(d, p, t);
                }
                g.add(ranks);
            }
        }
        return g.toArray(new int[0][]);
    }

    public int[][] pipelineGroups() {
        List<int[]> g = new ArrayList<>();
        for (int d = 0; d < data(); d++) {
            for (int t = 0; t < tensor; t++) {
                int[] ranks = new int[pipeline];
                for (int p = 0; p < pipeline; p++) {
                    ranks[p] = globalRank(d, p, t);
                }
                g.add(ranks);
            }
        }
        return g.toArray(new int[0][]);
    }

    public int[][] dataGroups() {
        List<int[]> g = new ArrayList<>();
        for (int p = 0; p < pipeline; p++) {
            for (int t = 0; t < tensor; t++) {
                int[] ranks = new int[data()];
                for (int d = 0; d < data(); d++) {
                    ranks[d] = globalRank(d, p, t);
                }
                g.add(ranks);
            }
        }
        return g.toArray(new int[0][]);
    }

    public int[][] zeroGroups() {
        List<int[]> g = new ArrayList<>();
        int z = zero();
        for (int[] dataGroup : dataGroups()) {
            for (int start = 0; start < dataGroup.length; start += z) {
                int[] ranks = new int[z];
                System.arraycopy(dataGroup, start, ranks, 0, z);
                g.add(ranks);
            }
        }
        return g.toArray(new int[0][]);
    }

    public int[][] modelGroups() {
        List<int[]> g = new ArrayList<>();
        for (int d = 0; d < data(); d++) {
            int[] ranks = new int[tensor * pipeline];
            for (int i = 0; i < ranks.length; i++) {
                ranks[i] = d * tensor * pipeline + i;
            }
            g.add(ranks);
        }
        return g.toArray(new int[0][]);
    }
}
