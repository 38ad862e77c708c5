package org.internlmj.trainer.data;

import org.internlmj.tensor.Philox;

/**
 * InternLM's dummy data when {@code data.train_folder} is not set: random documents, generated from
 * (seed, index) on demand so nothing is stored and every run sees the same tokens.
 */
public final class RandomDocuments implements DocumentSource {
    private final long seed;
    private final int count;
    private final int maxLength;
    private final int vocab;

    /** {@code count} documents of 1..maxLength tokens drawn uniformly from [3, vocab) (0-2 are special). */
    public RandomDocuments(long seed, int count, int maxLength, int vocab) {
        if (vocab < 4) {
            throw new IllegalArgumentException("random documents need a vocabulary of at least 4 ids, got " + vocab);
        }
        this.seed = seed;
        this.count = count;
        this.maxLength = maxLength;
        this.vocab = vocab;
    }

    @Override
    public String name() {
        return "random documents (seed " + seed + ")";
    }

    @Override
    public int documents() {
        return count;
    }

    @Override
    public int length(int i) {
        return 1 + (int) (Philox.uniform(seed, ((long) i << 32)) * maxLength);
    }

    @Override
    public int[] document(int i) {
        int n = length(i);
        int[] t = new int[n];
        for (int j = 0; j < n; j++) {
            t[j] = 3 + (int) (Philox.uniform(seed ^ 0x5DEECE66DL, ((long) i << 32) + j) * (vocab - 3));
        }
        return t;
    }

    @Override
    public int typeId() {
        return 0;
    }
}
