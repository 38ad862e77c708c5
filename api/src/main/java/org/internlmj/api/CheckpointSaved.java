package org.internlmj.api;

import java.nio.file.Path;

/**
 * A checkpoint written completely, as {@link TrainingListener#onCheckpoint} reports it; a normal
 * checkpoint folder loads with {@link InternLM#load}.
 *
 * <pre>{@code
 * TrainingListener l = new TrainingListener() {
 *     public void onCheckpoint(CheckpointSaved c) {
 *         if (!c.snapshot()) System.out.println("step " + c.step() + " saved to " + c.folder());
 *     }
 * };
 * }</pre>
 *
 * @param step     steps trained when it was taken
 * @param folder   the checkpoint folder
 * @param snapshot true for a snapshot ({@code ckpt.oss_snapshot_freq}: one of two alternating slots),
 *                 false for a normal {@code <save_ckpt_folder>/<step>} checkpoint
 */
public record CheckpointSaved(long step, Path folder, boolean snapshot) {
}
