package org.internlmj.trainer.train;

import org.internlmj.trainer.config.TrainConfig;

/** FLOP counts for throughput reports. */
public final class Flops {
    private Flops() {
    }

    /**
     * InternLM's {@code get_megatron_flops} for one step on one data-parallel rank:
     * {@code k [(8 + 4m) B s h^2 + 4 B s^2 h] L + 6 B s h V}, k = 4 with activation checkpointing else 3,
     * m = mlp_ratio * 3 / 2 (SwiGLU), B = micro_bsz * micro_num sequences of length s = seq_len.
     * (Counts full, non-causal attention over every sequence, as InternLM does.)
     */
    public static double internlmStepFlops(TrainConfig c) {
        double h = c.model().hiddenSize();
        double s = c.data().seqLen();
        double b = (double) c.data().microBsz() * c.data().microNum();
        double m = c.model().mlpRatio() * 3 / 2;
        double k = c.model().checkpoint() > 0 ? 4 : 3;
        return k * ((8 + 4 * m) * b * s * h * h + 4 * b * s * s * h) * c.model().numLayers()
                + 6 * b * s * h * c.model().vocabSize();
    }
}
