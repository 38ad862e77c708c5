package org.internlmj.api;

import java.nio.file.Path;

/**
 * How a {@link Trainer#fit()} ended.
 *
 * <pre>{@code
 * TrainingResult r = trainer.fit();
 * System.out.println(r.steps() + " steps, loss " + r.lastLoss() + (r.cancelled() ? " (cancelled)" : ""));
 * try (InternLM lm = InternLM.load(r.checkpoint())) { ... }
 * }</pre>
 *
 * @param steps          steps trained in total (those of a resumed run's earlier part included)
 * @param lastLoss       the last step's training loss, NaN if this call trained no step
 * @param lastValidLoss  the last validation loss, NaN if no validation ran
 * @param cancelled      true if {@link Trainer#cancel()} ended the run before {@code data.total_steps}
 * @param checkpoint     the last normal checkpoint saved during this call, or null if none was
 */
public record TrainingResult(long steps, double lastLoss, double lastValidLoss, boolean cancelled, Path checkpoint) {
}
