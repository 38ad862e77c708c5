package org.internlmj.trainer.ckpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.train.TinyRun;
import org.internlmj.trainer.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A child JVM trains with a checkpoint (and a snapshot) at every step and is killed with SIGKILL at random
 * moments, 20 times; after every kill {@code --resume latest} must find a complete checkpoint and the
 * training it continues must give exactly the losses and final weights of an uninterrupted run.
 */
class CrashResumeTest {
    @TempDir
    Path dir;

    private static final int STEPS = 10;

    private Process child(Path base) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", System.getProperty("java.class.path"),
                "org.internlmj.trainer.cli.Main", "train", "config.yaml", "--resume", "latest");
        return new ProcessBuilder(cmd).directory(base.toFile()).redirectErrorStream(true)
                .redirectOutput(base.resolve("child.log").toFile()).start();
    }

    private long timedChild(Path base) throws Exception {
        long start = System.nanoTime();
        Process p = child(base);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the calibration run did not finish");
        assertEquals(0, p.exitValue(), Files.readString(base.resolve("child.log")));
        return Math.max(1, (System.nanoTime() - start) / 1_000_000);
    }

    @Test
    void killedDuringSavesResumesToTheSameRun() throws Exception {
        String config = TinyRun.CONFIG.replace("total_steps: 6", "total_steps: " + STEPS)
                .replace("checkpoint_every: 3", "checkpoint_every: 2, oss_snapshot_freq: 1");
        Path straight = Files.createDirectories(dir.resolve("straight"));
        Path crashed = Files.createDirectories(dir.resolve("crashed"));
        TinyRun.prepareData(straight);
        Files.createSymbolicLink(crashed.resolve("data"), straight.resolve("data"));
        Files.writeString(crashed.resolve("config.yaml"), config);
        double[] losses = new double[STEPS];
        float[][] finalWeights;
        try (Trainer t = new Trainer(TrainConfig.parse(config, List.of("ckpt.enable_save_ckpt=false")), straight, s -> { })) {
            t.fit();
            finalWeights = TinyRun.weights(t);
        }
        for (JsonNode j : TinyRun.steps(TinyRun.metrics(straight.resolve("run")))) {
            losses[j.get("step").asInt()] = j.get("loss").asDouble();
        }

        // Calibrate the kill window on this machine: one uninterrupted child run (JVM start, JIT, all steps and
        // saves) and one that resumes at the end and only starts up. A fixed window misses every save on a slow
        // machine, or lets every resumed run finish before the kill on a fast one.
        long fullMs = timedChild(crashed);
        long startupMs = timedChild(crashed);
        long stepsMs = Math.max(STEPS, fullMs - startupMs);
        CheckpointStore.deleteTree(crashed.resolve("ckpt"));
        CheckpointStore.deleteTree(crashed.resolve("run"));

        SplittableRandom random = new SplittableRandom(20261127);
        int kills = 0;
        int resumedWithProgress = 0;
        List<String> warnings = new ArrayList<>();
        while (kills < 20) {
            Process p = child(crashed);
            long done = CheckpointStore.latest(crashed.resolve("ckpt"), crashed.resolve("ckpt/snapshot"), w -> { })
                    .map(l -> (long) l.step()).orElse(0L);
            long remainingMs = stepsMs * (STEPS - done) / STEPS;
            long delay = startupMs * 7 / 10 + random.nextLong(startupMs * 3 / 10 + remainingMs + 1);
            if (p.waitFor(delay, TimeUnit.MILLISECONDS)) {
                assertEquals(0, p.exitValue(), Files.readString(crashed.resolve("child.log")));
                // the run finished before the kill: start it over to get more kills
                CheckpointStore.deleteTree(crashed.resolve("ckpt"));
                continue;
            }
            p.destroyForcibly();
            p.waitFor();
            kills++;
            Optional<CheckpointStore.Loaded> latest = CheckpointStore.latest(crashed.resolve("ckpt"),
                    crashed.resolve("ckpt/snapshot"), warnings::add);
            if (latest.isPresent()) {
                resumedWithProgress++;
                assertTrue(latest.get().step() >= 1 && latest.get().step() <= STEPS);
            }
        }
        Process last = child(crashed);
        assertTrue(last.waitFor(120, TimeUnit.SECONDS), "the final run did not finish");
        assertEquals(0, last.exitValue(), Files.readString(crashed.resolve("child.log")));
        assertTrue(resumedWithProgress >= 10, "most kills should find a checkpoint, found " + resumedWithProgress);

        int compared = 0;
        for (JsonNode j : TinyRun.steps(TinyRun.metrics(crashed.resolve("run")))) {
            int step = j.get("step").asInt();
            assertEquals(losses[step], j.get("loss").asDouble(), "loss of step " + step + " after a resume");
            compared++;
        }
        assertTrue(compared >= STEPS, "compared only " + compared + " steps");
        CheckpointStore.Loaded end = CheckpointStore.open(crashed.resolve("ckpt/" + STEPS));
        try (SafeTensors.Reader r = SafeTensors.open(end.folder().resolve(CheckpointStore.MODEL_FILE))) {
            int i = 0;
            for (String name : r.entries().keySet()) {
                assertArrayEquals(finalWeights[i++], r.read(name).toFloatArray(), name);
            }
        }
    }
}
