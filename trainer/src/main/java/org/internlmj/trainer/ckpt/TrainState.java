package org.internlmj.trainer.ckpt;

import org.internlmj.dist.GradScaler;
import org.internlmj.trainer.data.BatchSampler;

/**
 * Where a run stands, InternLM's {@code TrainState} plus what exact resume needs.
 *
 * @param step successful optimizer updates so far (InternLM's {@code step_count}; drives the LR and beta2
 *             schedules and AdamW's bias correction)
 * @param batchCount batches drawn from the sampler (skipped ones included)
 * @param consumedTokens tokens of all batches drawn
 * @param skippedSteps steps skipped because of inf/nan gradients ({@code inf_nan_skip_batches})
 */
public record TrainState(long step, long batchCount, long consumedTokens, long skippedSteps,
                         BatchSampler.State sampler, GradScaler.State scaler) {
}
