package org.internlmj.trainer.schedule;

/**
 * InternLM's {@code FineTuneCosineAnnealingWarmupLR}: zero for {@code init_steps}, linear warm-up over
 * {@code W = int(total_steps * warmup_ratio)} steps, then cosine decay to {@code eta_min} over the rest.
 * Step {@code e} counts successful optimizer steps (a step skipped for inf/nan gradients does not count):
 * <pre>
 *   e &lt; I          : 0
 *   I &lt;= e &lt; I+W  : base * (e + 1 - I) / W
 *   otherwise      : eta_min + (base - eta_min) * (1 + cos(pi * t / T)) / 2,  t = e - I - W,  T = total - I - W
 * </pre>
 * The closed form of torch's recursive {@code CosineAnnealingLR} (equal up to rounding); past the horizon
 * the rate stays at {@code eta_min}. InternLM logs the rate after its scheduler stepped (the next step's);
 * this engine logs the rate each update used.
 */
public record LrSchedule(double baseLr, int totalSteps, int initSteps, double warmupRatio, double etaMin) {

    public int warmupSteps() {
        return (int) (totalSteps * warmupRatio);
    }

    /** The learning rate of the update after {@code e} successful steps. */
    public double lr(long e) {
        int w = warmupSteps();
        if (e < initSteps) {
            return 0.0;
        }
        if (e < initSteps + w) {
            return baseLr * (e + 1 - initSteps) / w;
        }
        long horizon = (long) totalSteps - initSteps - w;
        if (horizon <= 0) {
            return baseLr;
        }
        long t = Math.min(e - initSteps - w, horizon);
        return etaMin + (baseLr - etaMin) * (1 + Math.cos(Math.PI * t / horizon)) / 2;
    }
}
