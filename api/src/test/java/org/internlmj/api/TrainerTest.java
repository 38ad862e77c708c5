package org.internlmj.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
    @TempDir
    Path dir;

    /** Records every event, in order. */
    static final class Recorder implements TrainingListener {
        final List<StepMetrics> steps = new ArrayList<>();
        final List<ValidationResult> validations = new ArrayList<>();
        final List<CheckpointSaved> checkpoints = new ArrayList<>();

        @Override
        public synchronized void onStep(StepMetrics m) {
            steps.add(m);
        }

        @Override
        public synchronized void onValidation(ValidationResult v) {
            validations.add(v);
        }

        @Override
        public synchronized void onCheckpoint(CheckpointSaved c) {
            checkpoints.add(c);
        }
    }

    @Test
    void listenersHearWhatTheRunRecordsAndNothingReachesStdout() throws IOException {
        TrainingData data = Tiny.data(dir);
        Recorder r = new Recorder();
        PrintStream stdout = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        TrainingResult result;
        System.setOut(new PrintStream(captured, true));
        try (Trainer t = Trainer.builder(Tiny.config(dir, data).build()).baseDirectory(dir).listener(r).build()) {
            result = t.fit();
            assertThrows(IllegalStateException.class, t::fit, "fit runs once");
            try (InternLM lm = InternLM.load(result.checkpoint())) {
                lm.generate("the ", GenerationOptions.defaults().withMaxTokens(5));
            }
        } finally {
            System.setOut(stdout);
        }
        assertEquals("", captured.toString(), "the library writes nothing to stdout");

        assertEquals(6, result.steps());
        assertFalse(result.cancelled());
        assertEquals(dir.resolve("ckpt/6"), result.checkpoint());
        List<JsonNode> lines = new ArrayList<>();
        for (String line : Files.readAllLines(dir.resolve("run/metrics.jsonl"))) {
            lines.add(new ObjectMapper().readTree(line));
        }
        List<JsonNode> stepLines = lines.stream().filter(j -> j.has("loss")).toList();
        assertEquals(6, r.steps.size());
        for (int i = 0; i < 6; i++) {
            StepMetrics m = r.steps.get(i);
            assertEquals(i, m.step());
            assertEquals(stepLines.get(i).get("loss").asDouble(), m.loss(), 0.0);
            assertEquals(stepLines.get(i).get("lr").asDouble(), m.learningRate(), 0.0);
            assertEquals(64, m.tokens(), "2 micro-batches of 2 samples x 16 tokens packed");
            assertTrue(m.stepSeconds() > 0 && m.tokensPerSecond() > 0 && m.gradNorm() > 0);
            assertEquals(m.loss(), ((Number) m.all().get("loss")).doubleValue(), 0.0);
        }
        assertEquals(result.lastLoss(), r.steps.get(5).loss(), 0.0);
        assertTrue(r.steps.get(5).loss() < r.steps.get(0).loss(), "it learns");

        assertEquals(List.of(3L, 6L), r.validations.stream().map(ValidationResult::step).toList());
        List<JsonNode> validLines = lines.stream().filter(j -> j.has("valid_loss")).toList();
        assertEquals(validLines.get(1).get("valid_loss").asDouble(), r.validations.get(1).loss(), 0.0);
        assertEquals(result.lastValidLoss(), r.validations.get(1).loss(), 0.0);
        assertTrue(r.validations.get(0).tokens() > 0);

        assertEquals(List.of(new CheckpointSaved(3, dir.resolve("ckpt/3"), false),
                new CheckpointSaved(6, dir.resolve("ckpt/6"), false)), r.checkpoints);
    }

    @Test
    void aFailingListenerDoesNotStopTraining() throws IOException {
        TrainingData data = Tiny.data(dir);
        Recorder r = new Recorder();
        Config cfg = Tiny.config(dir, data).totalSteps(2).build();
        try (Trainer t = Trainer.builder(cfg).baseDirectory(dir).listener(new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                throw new IllegalStateException("listener bug");
            }
        }).listener(r).build()) {
            assertEquals(2, t.fit().steps());
        }
        assertEquals(2, r.steps.size(), "the next listener still hears every step");
    }

    @Test
    void cancelFromAnotherThreadFinishesTheStepSavesAndReturns() throws Exception {
        TrainingData data = Tiny.data(dir);
        Config cfg = Tiny.config(dir, data).totalSteps(200).checkpointEvery(1000).validation(data.validFolder(), 1000).build();
        CountDownLatch secondStep = new CountDownLatch(1);
        Recorder r = new Recorder();
        try (Trainer t = Trainer.builder(cfg).baseDirectory(dir).listener(r).listener(new TrainingListener() {
            @Override
            public void onStep(StepMetrics m) {
                if (m.step() == 1) {
                    secondStep.countDown();
                }
            }
        }).build()) {
            CompletableFuture<TrainingResult> fit = CompletableFuture.supplyAsync(() -> {
                try {
                    return t.fit();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            assertTrue(secondStep.await(60, TimeUnit.SECONDS));
            t.cancel();
            TrainingResult result = fit.get(60, TimeUnit.SECONDS);
            assertTrue(result.cancelled() && t.isCancelled());
            assertTrue(result.steps() >= 2 && result.steps() <= 4, "stops within a step of the request: " + result.steps());
            assertEquals(result.steps(), r.steps.size(), "every step it began, it finished");
            assertTrue(r.validations.isEmpty(), "no final validation after a cancel");
            assertNotNull(result.checkpoint());
            assertEquals(dir.resolve("ckpt/" + result.steps()), result.checkpoint());
        }
        // the saved state resumes where it stopped
        Recorder resumed = new Recorder();
        try (Trainer t = Trainer.builder(cfg.with("data.total_steps", 200)).baseDirectory(dir).resumeLatest()
                .listener(resumed).listener(new TrainingListener() {
                    @Override
                    public void onStep(StepMetrics m) {
                        throw new IllegalStateException("not expected");
                    }
                }).build()) {
            t.cancel();
            TrainingResult again = t.fit();
            assertTrue(resumed.steps.isEmpty(), "cancelled before it began: no step");
            assertEquals(r.steps.size(), again.steps(), "resumed at the saved step");
        }
    }
}
