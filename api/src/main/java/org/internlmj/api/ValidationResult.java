package org.internlmj.api;

/**
 * A validation pass over {@code data.valid_folder}, as {@link TrainingListener#onValidation} reports it.
 *
 * <pre>{@code
 * TrainingListener l = new TrainingListener() {
 *     public void onValidation(ValidationResult v) {
 *         System.out.printf("after %d steps: validation perplexity %.2f%n", v.step(), v.perplexity());
 *     }
 * };
 * }</pre>
 *
 * @param step   steps trained when it ran
 * @param loss   loss per target token over the whole validation set (nats)
 * @param tokens target tokens it covered
 */
public record ValidationResult(long step, double loss, long tokens) {

    /** {@code exp(loss)}. */
    public double perplexity() {
        return Math.exp(loss);
    }
}
