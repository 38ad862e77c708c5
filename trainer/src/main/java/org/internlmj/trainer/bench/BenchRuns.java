package org.internlmj.trainer.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.internlmj.trainer.config.TrainConfig;

/** What the distributed training benchmarks share: a config stripped of everything but training, a scratch folder. */
final class BenchRuns {
    private BenchRuns() {
    }

    /**
     * The config with the user's overrides, then no checkpoints, no validation, no TensorBoard, metrics into
     * {@code runDir}, and {@code totalSteps} steps.
     */
    static TrainConfig load(Path config, List<String> overrides, int totalSteps, Path runDir) {
        List<String> all = new ArrayList<>(overrides);
        all.addAll(List.of("ckpt.enable_save_ckpt=false", "ckpt.auto_resume=false", "data.valid_every=0",
                "internlmj.tensorboard=false", "internlmj.run_dir=" + runDir.toAbsolutePath(),
                "data.total_steps=" + totalSteps));
        return TrainConfig.load(config, all);
    }

    static void deleteTree(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path f : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(f);
            }
        }
    }
}
