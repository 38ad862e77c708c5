package org.internlmj.api;

import java.util.Map;

/**
 * One optimizer step as {@link TrainingListener#onStep} reports it; the same values go to the run's
 * {@code metrics.jsonl}.
 *
 * <pre>{@code
 * TrainingListener l = new TrainingListener() {
 *     public void onStep(StepMetrics m) {
 *         if (!m.skipped()) System.out.printf("step %d: loss %.4f, %.0f tokens/s%n", m.step(), m.loss(), m.tokensPerSecond());
 *     }
 * };
 * }</pre>
 *
 * @param step            the step's index, from 0
 * @param loss            mean training loss over the step's micro-batches (nats per target token)
 * @param learningRate    the learning rate the step used
 * @param gradNorm        global gradient norm before clipping (negative when gradients were not finite)
 * @param lossScale       the loss scale (1 without fp16 loss scaling)
 * @param tokensPerSecond tokens of the step over its wall time
 * @param stepSeconds     wall time of the step
 * @param tokens          tokens the step consumed
 * @param skipped         true if the update was skipped because gradients overflowed
 * @param all             every value of the step's {@code metrics.jsonl} record, by its key there
 */
public record StepMetrics(long step, double loss, double learningRate, double gradNorm, double lossScale,
                          double tokensPerSecond, double stepSeconds, long tokens, boolean skipped,
                          Map<String, Object> all) {

    /** Keeps an unmodifiable copy of {@code all}. */
    public StepMetrics {
        all = Map.copyOf(all);
    }

    /** From a {@code metrics.jsonl} record. */
    static StepMetrics of(long step, Map<String, Object> m) {
        return new StepMetrics(step, num(m, "loss"), num(m, "lr"), num(m, "grad_norm"), num(m, "loss_scale"),
                num(m, "tokens_per_s"), num(m, "step_time_s"), (long) num(m, "tokens"),
                Boolean.TRUE.equals(m.get("skipped")), m);
    }

    private static double num(Map<String, Object> m, String key) {
        return m.get(key) instanceof Number n ? n.doubleValue() : Double.NaN;
    }
}
