package org.internlmj.trainer.schedule;

/**
 * InternLM's {@code Beta2Scheduler}: with {@code c > 0}, Adam's beta2 grows as
 * {@code max(init_beta2, 1 - 1 / iter^c)}. Its {@code step()} runs after each successful update
 * (incrementing {@code cur_iter}, which starts at {@code cur_iter} from the config, -1 by default), so
 * update 0 uses Adam's configured beta2 and update {@code k >= 1} the value for {@code iter = cur_iter + k}.
 * With {@code c <= 0} the scheduler never touches the optimizer and beta2 stays {@code adam_beta2}.
 */
public record Beta2Schedule(double adamBeta2, double initBeta2, double c, int curIter) {

    /** Beta2 of the update after {@code k} successful steps. */
    public double beta2(long k) {
        if (c <= 0 || k == 0) {
            return adamBeta2;
        }
        long iter = curIter + k;
        if (iter <= 0) {
            return initBeta2;
        }
        return Math.max(initBeta2, 1.0 - 1.0 / Math.pow(iter, c));
    }
}
