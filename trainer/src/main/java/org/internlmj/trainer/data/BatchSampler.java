package org.internlmj.trainer.data;

import java.util.Arrays;

/**
 * InternLM's {@code StaticBatchSampler}: each epoch shuffles all micro-batch indices with
 * {@code seed + epoch}, drops the tail that does not fill a global batch, and hands each data-parallel
 * rank every {@code dp}-th index, {@code micro_num} per step (fewer during a {@code rampup_batch_size}
 * ramp). Its whole state is four numbers, so resuming replays exactly the batches that would follow.
 */
public final class BatchSampler {
    private final int size;
    private final int microNum;
    private final int[] rampup;
    private final int dpRank;
    private final int dpSize;
    private final long seed;
    private final boolean shuffle;

    private int epoch;
    private long batchCount;
    private int consumedInEpoch;
    private int[] permutation;

    /** Checkpointable position: epoch, batches drawn so far, samples consumed in the epoch, seed. */
    public record State(int epoch, long batchCount, int consumedInEpoch, long seed) {
    }

    public BatchSampler(int size, int microNum, int[] rampup, int dpRank, int dpSize, long seed, boolean shuffle) {
        if (dpRank < 0 || dpRank >= dpSize) {
            throw new IllegalArgumentException("data-parallel rank " + dpRank + " outside [0, " + dpSize + ")");
        }
        if (size < (long) maxBatch(microNum, rampup) * dpSize) {
            throw new IllegalArgumentException("the dataset holds " + size + " micro-batches, fewer than one global batch of "
                    + maxBatch(microNum, rampup) + " micro-batches x " + dpSize + " data-parallel ranks: add data or "
                    + "lower data.micro_num / data.micro_bsz / data.seq_len");
        }
        this.size = size;
        this.microNum = microNum;
        this.rampup = rampup;
        this.dpRank = dpRank;
        this.dpSize = dpSize;
        this.seed = seed;
        this.shuffle = shuffle;
        this.permutation = permutation(0);
    }

    private static int maxBatch(int microNum, int[] rampup) {
        return rampup == null ? microNum : Math.max(1, Math.min(rampup[0], microNum));
    }

    private int[] permutation(int e) {
        int[] p = new int[size];
        for (int i = 0; i < size; i++) {
            p[i] = i;
        }
        if (shuffle) {
            PackedDataset.shuffle(p, seed + e);
        }
        return p;
    }

    /** Micro-batches per rank in the next batch (ramp-up aware). */
    public int currentBatchSize() {
        if (rampup == null) {
            return microNum;
        }
        long b = rampup[0] + (batchCount / rampup[2]) * rampup[1];
        return (int) Math.min(b, microNum);
    }

    /** Indices (into the dataset) of this rank's micro-batches for the next step. */
    public int[] next() {
        int bs = currentBatchSize();
        int global = bs * dpSize;
        if (consumedInEpoch + global > size) {
            epoch++;
            consumedInEpoch = 0;
            permutation = permutation(epoch);
        }
        int[] out = new int[bs];
        for (int i = 0; i < bs; i++) {
            out[i] = permutation[consumedInEpoch + i * dpSize + dpRank];
        }
        consumedInEpoch += global;
        batchCount++;
        return out;
    }

    public State state() {
        return new State(epoch, batchCount, consumedInEpoch, seed);
    }

    /** Restores a position saved by {@link #state()} (with the same dataset, seed and data-parallel size). */
    public void restore(State s) {
        if (s.seed() != seed) {
            throw new IllegalArgumentException("sampler state was saved with seed " + s.seed() + ", this run uses " + seed);
        }
        if (s.consumedInEpoch() < 0 || s.consumedInEpoch() > size) {
            throw new IllegalArgumentException("sampler state consumed " + s.consumedInEpoch() + " samples of an epoch of "
                    + size + ": was it saved for another dataset?");
        }
        this.epoch = s.epoch();
        this.batchCount = s.batchCount();
        this.consumedInEpoch = s.consumedInEpoch();
        this.permutation = permutation(epoch);
    }

    @Override
    public String toString() {
        return "BatchSampler" + Arrays.toString(new long[] {epoch, batchCount, consumedInEpoch});
    }
}
