package org.internlmj.api;

/**
 * Receives what a {@link Trainer} reports while it trains. Every method has an empty default, so a
 * listener implements only what it needs. Calls come from the thread running {@link Trainer#fit()},
 * except {@link #onCheckpoint} for checkpoints written in the background ({@code ckpt.async_upload}),
 * which comes from the writer thread. A listener that throws is logged and training goes on.
 *
 * <pre>{@code
 * TrainingListener progress = new TrainingListener() {
 *     public void onStep(StepMetrics m) {
 *         System.out.printf("step %d loss %.3f%n", m.step(), m.loss());
 *     }
 *     public void onCheckpoint(CheckpointSaved c) {
 *         System.out.println("saved " + c.folder());
 *     }
 * };
 * }</pre>
 */
public interface TrainingListener {

    /** After every optimizer step (also one skipped for non-finite gradients: {@link StepMetrics#skipped()}). */
    default void onStep(StepMetrics metrics) {
    }

    /** After each validation pass. */
    default void onValidation(ValidationResult result) {
    }

    /** After a checkpoint or snapshot is completely on disk. */
    default void onCheckpoint(CheckpointSaved checkpoint) {
    }
}
