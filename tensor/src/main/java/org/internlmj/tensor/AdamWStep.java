package org.internlmj.tensor;

/**
 * One AdamW update's hyper-parameters, with torch.optim.AdamW's exact arithmetic:
 * <pre>
 *   p  = p * (1 - lr * weightDecay)
 *   g  = grad * gradScale                      (unscale and clip in one factor)
 *   m  = beta1 * m + (1 - beta1) * g
 *   v  = beta2 * v + (1 - beta2) * g * g
 *   p  = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc1 = 1 - beta1^step, bc2 = 1 - beta2^step
 * </pre>
 *
 * @param step 1 for the first update
 */
public record AdamWStep(double lr, double beta1, double beta2, double eps, double weightDecay, long step,
                        double gradScale) {
    public AdamWStep {
        if (step < 1) {
            throw new IllegalArgumentException("AdamW step counts from 1, got " + step);
        }
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("AdamW betas must be in [0, 1), got " + beta1 + ", " + beta2);
        }
    }

    public double biasCorrection1() {
        return 1.0 - Math.pow(beta1, step);
    }

    public double biasCorrection2() {
        return 1.0 - Math.pow(beta2, step);
    }
}
