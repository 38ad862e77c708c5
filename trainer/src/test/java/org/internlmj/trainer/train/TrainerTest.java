package org.internlmj.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.internlmj.nn.Parameter;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.data.Prepare;
import org.internlmj.trainer.tokenizer.ByteTokenizer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
    @TempDir
    Path dir;

    static final String CONFIG = TinyRun.CONFIG;

    @BeforeEach
    void data() throws IOException {
        TinyRun.prepareData(dir);
    }

    private static List<JsonNode> metrics(Path runDir) throws IOException {
        return TinyRun.metrics(runDir);
    }

    private static float[][] weights(Trainer t) {
        return TinyRun.weights(t);
    }

    @Test
    void trainsLogsValidatesAndSaves() throws IOException {
        List<String> console = new ArrayList<>();
        try (Trainer t = new Trainer(TrainConfig.parse(CONFIG, List.of()), dir, console::add)) {
            t.fit();
            assertTrue(Double.isFinite(t.lastValidLoss()));
        }
        List<JsonNode> m = metrics(dir.resolve("run"));
        JsonNode first = m.get(0);
        for (String key : new String[] {"step", "loss", "lr", "grad_norm", "tokens_per_s", "tflops", "step_time_s"}) {
            assertTrue(first.has(key), "metrics.jsonl lacks " + key + ": " + first);
        }
        assertEquals(2, m.stream().filter(j -> j.has("valid_loss")).count());
        double firstLoss = first.get("loss").asDouble();
        double lastLoss = m.stream().filter(j -> j.has("loss")).reduce((a, b) -> b).orElseThrow().get("loss").asDouble();
        assertTrue(lastLoss < firstLoss, "loss did not fall: " + firstLoss + " -> " + lastLoss);
        assertTrue(Files.isDirectory(dir.resolve("ckpt/3")) && Files.isDirectory(dir.resolve("ckpt/6")));
        try (var s = Files.list(dir.resolve("run/tensorboard"))) {
            assertTrue(s.anyMatch(p -> p.getFileName().toString().startsWith("events.out.tfevents.")));
        }
        assertTrue(console.stream().anyMatch(l -> l.startsWith("step 5/6 | loss")), String.join("\n", console));
    }

    @Test
    void resumingReproducesTheUninterruptedRunExactly() throws IOException {
        Path a = dir.resolve("a");
        Path b = dir.resolve("b");
        Files.createDirectories(a);
        Files.createDirectories(b);
        for (Path p : List.of(a, b)) {
            Files.createSymbolicLink(p.resolve("data"), dir.resolve("data"));
        }
        float[][] straight;
        try (Trainer t = new Trainer(TrainConfig.parse(CONFIG, List.of()), a, s -> { })) {
            t.fit();
            straight = weights(t);
        }
        try (Trainer t = new Trainer(TrainConfig.parse(CONFIG, List.of()), b, s -> { })) {
            t.fit(3);
        }
        float[][] resumed;
        List<String> console = new ArrayList<>();
        try (Trainer t = new Trainer(TrainConfig.parse(CONFIG, List.of()), b, console::add)) {
            assertEquals(3, t.state().step());
            t.fit();
            resumed = weights(t);
        }
        assertTrue(console.get(0).startsWith("resumed from"), console.get(0));
        List<JsonNode> ma = metrics(a.resolve("run"));
        List<JsonNode> mb = metrics(b.resolve("run"));
        List<Double> la = ma.stream().filter(j -> j.has("loss")).map(j -> j.get("loss").asDouble()).toList();
        List<Double> lb = mb.stream().filter(j -> j.has("loss")).map(j -> j.get("loss").asDouble()).toList();
        assertEquals(la, lb, "per-step losses of the straight and the resumed run");
        for (int i = 0; i < straight.length; i++) {
            assertArrayEquals(straight[i], resumed[i], "parameter " + i);
        }
    }

    @Test
    void overflowingStepsAreSkippedAndDoNotAdvanceTheSchedules() throws IOException {
        // fp16 gradients with a loss scale of 2^30 overflow; with hysteresis 2 the scale halves from the
        // second overflow on until the gradients fit, and only then do steps (and the LR schedule) advance
        try (Trainer t = new Trainer(TrainConfig.parse(CONFIG, List.of("ckpt.enable_save_ckpt=false", "data.valid_every=0",
                "model.dtype=torch.float16", "grad_scaler.fp16.initial_scale=1073741824", "grad_scaler.max_scale=1073741824")),
                dir, s -> { })) {
            t.fit(3);
            assertEquals(3, t.state().step());
            assertTrue(t.state().skippedSteps() >= 2, "skipped " + t.state().skippedSteps());
        }
        List<JsonNode> m = TinyRun.steps(metrics(dir.resolve("run")));
        List<JsonNode> skipped = m.stream().filter(j -> j.get("skipped").asBoolean()).toList();
        List<JsonNode> applied = m.stream().filter(j -> !j.get("skipped").asBoolean()).toList();
        assertEquals(3, applied.size());
        for (JsonNode j : skipped) {
            assertEquals(0, j.get("step").asInt(), "a skipped step keeps the step count at 0: " + j);
            assertTrue(j.get("grad_norm").asDouble() < 0, "inf/nan norms are reported as -1/-2: " + j);
        }
        // hysteresis 2: the scale used by skipped step k is 2^30, 2^30, 2^29, 2^28, ...
        for (int k = 0; k < skipped.size(); k++) {
            assertEquals(Math.pow(2, 30 - Math.max(0, k - 1)), skipped.get(k).get("loss_scale").asDouble(), "skip " + k);
        }
        assertEquals(Math.pow(2, 30 - Math.max(0, skipped.size() - 1)), applied.get(0).get("loss_scale").asDouble());
        assertEquals(applied.get(0).get("lr").asDouble(), skipped.get(0).get("lr").asDouble(),
                "the first applied step uses the LR the skipped ones would have used");
    }

    @Test
    void bf16TrainingTracksFp32() throws IOException {
        double[] last = new double[2];
        String[] dtypes = {"torch.float32", "torch.bfloat16"};
        for (int i = 0; i < 2; i++) {
            Path d = Files.createDirectories(dir.resolve("d" + i));
            Files.createSymbolicLink(d.resolve("data"), dir.resolve("data"));
            try (Trainer t = new Trainer(TrainConfig.parse(CONFIG, List.of("ckpt.enable_save_ckpt=false",
                    "data.valid_every=0", "model.dtype=" + dtypes[i])), d, s -> { })) {
                last[i] = t.fit();
            }
        }
        assertEquals(last[0], last[1], 0.05 * last[0], "bf16 and fp32 losses after 6 steps");
    }
}
