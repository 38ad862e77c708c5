package org.internlmj.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.internlmj.trainer.ckpt.CheckpointStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two trainers with different configs at the same time in one JVM: each must reproduce, bit for bit, the
 * losses and weights it produces alone. They share the CPU backend's kernel pool, the memory-scope and
 * no-grad thread-locals' classes and every static of the engine, so any leak between them shows here.
 */
class ConcurrentTrainersTest {
    @TempDir
    Path dir;

    /** Losses per step and when each step ended. */
    record Run(List<Double> losses, List<Long> endedAt, Path checkpoint) {
    }

    private Config a(Path base, TrainingData data) {
        return Tiny.config(base, data).totalSteps(5).validation(data.validFolder(), 2).build();
    }

    private Config b(Path base, TrainingData data) {
        return Tiny.config(base, data).hiddenSize(32).numAttentionHeads(4).numLayers(1).seqLen(32).microNum(1)
                .lr(0.004).seed(11).totalSteps(5).checkpointEvery(1000).build();
    }

    private static Run train(Config cfg, Path base, CountDownLatch start) throws Exception {
        List<Double> losses = new ArrayList<>();
        List<Long> ended = new ArrayList<>();
        try (Trainer t = Trainer.builder(cfg).baseDirectory(base).listener(new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                losses.add(m.loss());
                ended.add(System.nanoTime());
            }
        }).build()) {
            start.countDown();
            start.await();
            return new Run(losses, ended, t.fit().checkpoint());
        }
    }

    @Test
    void twoTrainersTogetherReproduceTheirSoloRuns() throws Exception {
        TrainingData data = Tiny.data(dir);
        Path soloA = Files.createDirectories(dir.resolve("solo-a"));
        Path soloB = Files.createDirectories(dir.resolve("solo-b"));
        Run aloneA = train(a(soloA, data), soloA, new CountDownLatch(1));
        Run aloneB = train(b(soloB, data), soloB, new CountDownLatch(1));

        Path togetherA = Files.createDirectories(dir.resolve("together-a"));
        Path togetherB = Files.createDirectories(dir.resolve("together-b"));
        CountDownLatch start = new CountDownLatch(2);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Future<Run> fa = pool.submit(() -> train(a(togetherA, data), togetherA, start));
            Future<Run> fb = pool.submit(() -> train(b(togetherB, data), togetherB, start));
            Run withA = fa.get(300, TimeUnit.SECONDS);
            Run withB = fb.get(300, TimeUnit.SECONDS);
            assertEquals(aloneA.losses(), withA.losses(), "trainer A's losses");
            assertEquals(aloneB.losses(), withB.losses(), "trainer B's losses");
            assertTrue(aloneA.losses().get(0) != aloneB.losses().get(0), "the two configs differ");
            // the runs overlapped: each finished a step while the other was still training
            assertTrue(withA.endedAt().get(0) < withB.endedAt().get(4) && withB.endedAt().get(0) < withA.endedAt().get(4),
                    "the runs did not overlap; the test did not test concurrency");
            assertEquals(-1, Files.mismatch(aloneA.checkpoint().resolve(CheckpointStore.MODEL_FILE),
                    withA.checkpoint().resolve(CheckpointStore.MODEL_FILE)), "trainer A's final weights");
            assertEquals(-1, Files.mismatch(aloneB.checkpoint().resolve(CheckpointStore.MODEL_FILE),
                    withB.checkpoint().resolve(CheckpointStore.MODEL_FILE)), "trainer B's final weights");
        } finally {
            pool.shutdownNow();
        }
    }
}
