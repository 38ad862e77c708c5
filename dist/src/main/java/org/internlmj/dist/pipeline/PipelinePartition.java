package org.internlmj.dist.pipeline;

import java.util.ArrayList;
import java.util.List;

/**
 * Which transformer layers each pipeline stage holds, as InternLM partitions them
 * ({@code partition_uniform}): the layers are cut into {@code chunks} equal blocks, each block is split
 * over the {@code stages} pipeline ranks as evenly as possible with the leftover layers going to the
 * later ranks, and chunk {@code c} of rank {@code r} (virtual stage {@code c * stages + r}) gets its share
 * of block {@code c}. Layer indices are global: a stage's layers keep the names they have in the whole model.
 *
 * <pre>{@code
 * PipelinePartition p = new PipelinePartition(32, 2, 2);
 * p.layers(0, 1);   // {16, 24}: rank 0's second chunk holds layers 16..23
 * }</pre>
 */
public record PipelinePartition(int numLayers, int stages, int chunks) {

    public PipelinePartition {
        if (numLayers < 1 || stages < 1 || chunks < 1) {
            throw new IllegalArgumentException("layers, pipeline size and chunks must be >= 1, got " + numLayers + ", "
                    + stages + ", " + chunks);
        }
        if (numLayers % chunks != 0) {
            throw new IllegalArgumentException("model.num_layers = " + numLayers + " is not divisible by model.num_chunks = "
                    + chunks + ": every chunk holds the same number of layers (InternLM's partition_uniform)");
        }
        if (numLayers / chunks < stages) {
            throw new IllegalArgumentException("model.num_layers = " + numLayers + " in " + chunks + " chunk(s) of "
                    + numLayers / chunks + " layers cannot be split over parallel.pipeline.size = " + stages
                    + " stages: every stage needs at least one layer per chunk (num_layers >= pipeline size x num_chunks = "
                    + stages * chunks + ")");
        }
    }

    /** The single stage holding the whole model. */
    public static PipelinePartition whole(int numLayers) {
        return new PipelinePartition(numLayers, 1, 1);
    }

    /** Layers {@code [start, end)} of chunk {@code chunk} on pipeline rank {@code rank}. */
    public int[] layers(int rank, int chunk) {
        if (rank < 0 || rank >= stages || chunk < 0 || chunk >= chunks) {
            throw new IllegalArgumentException("rank " + rank + ", chunk " + chunk + " is not in a pipeline of " + stages
                    + " stages x " + chunks + " chunks");
        }
        int perChunk = numLayers / chunks;
        int base = perChunk / stages;
        // InternLM: ranks r >= stages - perChunk % stages hold one layer more
        int firstLarger = stages - perChunk % stages;
        int start = chunk * perChunk + rank * base + Math.max(0, rank - firstLarger);
        int end = start + base + (rank >= firstLarger ? 1 : 0);
        return new int[] {start, end};
    }

    /** Every chunk's layer range on {@code rank}, in chunk order. */
    public List<int[]> chunksOf(int rank) {
        List<int[]> out = new ArrayList<>();
        for (int c = 0; c < chunks; c++) {
            out.add(layers(rank, c));
        }
        return out;
    }

    /** True when chunk {@code chunk} of {@code rank} is virtual stage 0 (it holds the embedding). */
    public boolean holdsEmbedding(int rank, int chunk) {
        return chunk == 0 && rank == 0;
    }

    /** True when chunk {@code chunk} of {@code rank} is the last virtual stage (it holds the final norm and head). */
    public boolean holdsHead(int rank, int chunk) {
        return chunk == chunks - 1 && rank == stages - 1;
    }
}
