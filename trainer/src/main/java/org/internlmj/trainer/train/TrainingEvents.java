package org.internlmj.trainer.train;

import java.nio.file.Path;
import java.util.Map;

/**
 * What a {@link Trainer} reports while it runs, for code that embeds it (the CLI reads the printed lines
 * instead). Called on the training thread, except {@link #checkpointSaved} for a background
 * ({@code async_upload}) save, which comes from the checkpoint writer's thread. Only the main rank reports.
 *
 * <pre>{@code
 * trainer.events(new TrainingEvents() {
 *     public void step(long step, Map<String, Object> m) { System.err.println(step + " " + m.get("loss")); }
 * });
 * }</pre>
 */
public interface TrainingEvents {
    /** Reports nothing. */
    TrainingEvents NONE = new TrainingEvents() {
    };

    /**
     * After every optimizer step, applied or skipped: {@code step} is the step's index (0-based) and
     * {@code metrics} the record written to {@code metrics.jsonl} (loss, lr, grad_norm, ...).
     */
    default void step(long step, Map<String, Object> metrics) {
    }

    /** After a validation pass that ended at {@code step} steps: loss per target token over {@code tokens} tokens. */
    default void validated(long step, double loss, long tokens) {
    }

    /** After a checkpoint ({@code snapshot} false) or snapshot was completely written to {@code folder}. */
    default void checkpointSaved(Path folder, long step, boolean snapshot) {
    }
}
