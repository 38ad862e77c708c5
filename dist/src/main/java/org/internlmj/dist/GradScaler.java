package org.internlmj.dist;

/**
 * InternLM's {@code DynamicGradScaler}: the loss is multiplied by {@link #scale()} before backward.
 * On a step whose gradients hold inf/nan the update is skipped, {@code hysteresis_step} grows and once it
 * reaches {@code hysteresis} the scale is multiplied by {@code backoff_factor} (not below
 * {@code min_scale}); after {@code growth_interval} clean steps in a row it is multiplied by
 * {@code growth_factor} (not above {@code max_scale}) and the hysteresis count resets. InternLM applies
 * this to bf16 as well as fp16; fp32 models use a constant scale of 1.
 */
public final class GradScaler {
    private final double minScale;
    private final int growthInterval;
    private final double growthFactor;
    private final double backoffFactor;
    private final double maxScale;
    private final int hysteresis;
    private double scale;
    private int growthStep;
    private int hysteresisStep;

    /** Checkpointable state, InternLM's {@code {_scale, _growth_step, _hysteresis_step}}. */
    public record State(double scale, int growthStep, int hysteresisStep) {
    }

    public GradScaler(double initialScale, double minScale, int growthInterval, double growthFactor,
                      double backoffFactor, double maxScale, int hysteresis) {
        if (!(initialScale > 0) || !(minScale >= 0) || growthInterval < 1 || !(growthFactor >= 1)
                || !(backoffFactor > 0 && backoffFactor <= 1) || !(maxScale >= initialScale) || hysteresis < 1) {
            throw new IllegalArgumentException("invalid grad scaler settings: initial " + initialScale + ", min " + minScale
                    + ", growth interval " + growthInterval + ", growth " + growthFactor + ", backoff " + backoffFactor
                    + ", max " + maxScale + ", hysteresis " + hysteresis);
        }
        this.scale = initialScale;
        this.minScale = minScale;
        this.growthInterval = growthInterval;
        this.growthFactor = growthFactor;
        this.backoffFactor = backoffFactor;
        this.maxScale = maxScale;
        this.hysteresis = hysteresis;
    }

    /** A scaler that always returns 1 (fp32 training). */
    public static GradScaler constant() {
        return new GradScaler(1, 1, Integer.MAX_VALUE, 1, 1, 1, Integer.MAX_VALUE);
    }

    public double scale() {
        return scale;
    }

    /** Records the outcome of a step: {@code overflow} = the gradients held inf or nan. */
    public void update(boolean overflow) {
        if (overflow) {
            hysteresisStep++;
            growthStep = 0;
            if (hysteresisStep >= hysteresis) {
                scale = Math.max(scale * backoffFactor, minScale);
            }
        } else {
            growthStep++;
            if (growthStep == growthInterval) {
                growthStep = 0;
                hysteresisStep = 0;
                scale = Math.min(scale * growthFactor, maxScale);
            }
        }
    }

    public State state() {
        return new State(scale, growthStep, hysteresisStep);
    }

    public void restore(State s) {
        if (!(s.scale() > 0)) {
            throw new IllegalArgumentException("grad scaler state with scale " + s.scale());
        }
        this.scale = s.scale();
        this.growthStep = s.growthStep();
        this.hysteresisStep = s.hysteresisStep();
    }
}
