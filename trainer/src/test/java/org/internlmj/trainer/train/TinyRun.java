package org.internlmj.trainer.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.internlmj.nn.Parameter;
import org.internlmj.trainer.data.Prepare;
import org.internlmj.trainer.tokenizer.ByteTokenizer;

/** A tiny model, its data and helpers shared by the trainer and checkpoint tests. */
public final class TinyRun {
    /** Two layers, hidden 16, byte vocabulary; paths relative to the run's base folder. */
    public static final String CONFIG = """
            JOB_NAME: "tiny"
            model: {num_attention_heads: 2, hidden_size: 16, num_layers: 2, vocab_size: 259, mlp_ratio: 2, dtype: "torch.float32"}
            data: {seq_len: 16, micro_num: 2, micro_bsz: 2, total_steps: 6, valid_every: 3, train_folder: "data/train", valid_folder: "data/valid"}
            adam: {lr: 0.01, weight_decay: 0.01}
            lr_scheduler: {warmup_ratio: 0.2, eta_min: 0.001}
            hybrid_zero_optimizer: {clip_grad_norm: 1.0}
            ckpt: {enable_save_ckpt: true, save_ckpt_folder: "local:ckpt", checkpoint_every: 3, auto_resume: true}
            internlmj: {run_dir: "run", log_every: 1, seed: 7}
            """;

    private TinyRun() {
    }

    /** Writes {@code base/data/{train,valid}} from a dozen short English documents. */
    public static void prepareData(Path base) throws IOException {
        List<Path> files = new ArrayList<>();
        Path src = Files.createDirectories(base.resolve("src"));
        for (int i = 0; i < 12; i++) {
            Path f = src.resolve("text" + i + ".txt");
            Files.writeString(f, ("the quick brown fox jumps over the lazy dog " + i + ". ").repeat(6));
            files.add(f);
        }
        Prepare.run(files, base.resolve("data"), new ByteTokenizer(), 0.2, "text", "d", false, n -> { });
    }

    /** Parsed lines of {@code runDir/metrics.jsonl} (a line cut by a crash is skipped). */
    public static List<JsonNode> metrics(Path runDir) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        ObjectMapper m = new ObjectMapper();
        for (String line : Files.readAllLines(runDir.resolve("metrics.jsonl"))) {
            try {
                out.add(m.readTree(line));
            } catch (IOException e) {
                // a record cut short by a kill
            }
        }
        return out;
    }

    /** Training losses by step from metrics. */
    public static List<JsonNode> steps(List<JsonNode> metrics) {
        return metrics.stream().filter(j -> j.has("loss")).toList();
    }

    public static float[][] weights(Trainer t) {
        List<Parameter> ps = t.model().parameters();
        float[][] w = new float[ps.size()][];
        for (int i = 0; i < w.length; i++) {
            w[i] = ps.get(i).data().toFloatArray();
        }
        return w;
    }

    /**
     * Config overrides of a parallel-equality run: no checkpoints, no TensorBoard, {@code steps} steps and
     * validation every {@code validEvery} (0: none), then the test's own {@code fixed} settings, then
     * {@code extra} (the case's).
     */
    public static List<String> overrides(int steps, int validEvery, List<String> fixed, String... extra) {
        List<String> o = new ArrayList<>(List.of("ckpt.enable_save_ckpt=false", "internlmj.tensorboard=false",
                "data.total_steps=" + steps, "data.valid_every=" + validEvery));
        o.addAll(fixed);
        o.addAll(List.of(extra));
        return o;
    }

    /** One number of every step record of a run's metrics ({@code loss}, {@code grad_norm}, ...). */
    public static List<Double> metric(Path runDir, String key) throws IOException {
        return steps(metrics(runDir)).stream().map(j -> j.get(key).asDouble()).toList();
    }

    /** The last validation loss of a run. */
    public static double lastValidLoss(Path runDir) throws IOException {
        return metrics(runDir).stream().filter(j -> j.has("valid_loss")).reduce((a, b) -> b)
                .orElseThrow(() -> new AssertionError("no validation in " + runDir)).get("valid_loss").asDouble();
    }
}
