package org.internlmj.trainer.data;

/**
 * One packed micro-batch of {@code micro_bsz * seq_len} tokens, as InternLM's packed collate builds it.
 *
 * @param tokens input ids (absolute values: negative ids in the data are inputs without loss)
 * @param labels next-token targets, -100 where there is no loss (document ends, prompt tokens, padding)
 * @param cuSeqlens boundaries of the attention segments: starts at 0, ends at tokens.length; no segment
 *                  is longer than seq_len and none crosses a document boundary (unless pack_sample_into_one)
 * @param positions rotary positions, restarting at 0 in every segment (InternLM's {@code indexes})
 * @param typeIds data type id of each token
 */
public record MicroBatch(int[] tokens, int[] labels, int[] cuSeqlens, int[] positions, int[] typeIds) {
    /** The label InternLM's loss ignores. */
    public static final int IGNORE = -100;

    /** Number of tokens that carry a loss. */
    public int targetCount() {
        int n = 0;
        for (int l : labels) {
            if (l != IGNORE) {
                n++;
            }
        }
        return n;
    }

    /** Length of the longest attention segment. */
    public int maxSeqlen() {
        int m = 0;
        for (int i = 1; i < cuSeqlens.length; i++) {
            m = Math.max(m, cuSeqlens[i] - cuSeqlens[i - 1]);
        }
        return m;
    }
}
