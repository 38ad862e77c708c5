package org.internlmj.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.dist.ParallelContext;
import org.internlmj.dist.ParallelLayout;
import org.internlmj.dist.ThreadWorld;
import org.internlmj.nn.Parameter;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.testing.TensorAssert;
import org.internlmj.trainer.ckpt.CheckpointException;
import org.internlmj.trainer.ckpt.CheckpointStore;
import org.internlmj.trainer.ckpt.HfCheckpoint;
import org.internlmj.trainer.cli.MainTestAccess;
import org.internlmj.trainer.config.TrainConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Tensor parallelism (with and without sequence parallelism, mixed with data parallelism and ZeRO) gives
 * the single-rank run: the same model, data and global batch on 1 rank and on tensor-parallel thread ranks
 * give the same losses, and each rank's weights are its part of the single run's weights, within float
 * tolerance; replicated weights stay bit-identical across the tensor group. Checkpoints hold one model file
 * per tensor rank, resume on the same layout and load as weights into any other.
 */
class TensorParallelTest {
    @TempDir
    static Path dir;

    /** Heads, hidden, MLP hidden (256) and vocabulary divisible by 4. */
    static final String MODEL = "model.num_attention_heads=4";
    static final String VOCAB = "model.vocab_size=260";
    static final int MICRO = 8;

    static List<Double> singleLosses;
    static List<Double> singleGradNorms;
    static double singleValidLoss;
    static Map<String, Tensor> singleWeights;

    private static List<String> common(String... extra) {
        // Adam's update m / (sqrt(v) + eps) is blind to the size of a gradient much larger than eps, so an element
        // whose gradient is a near-cancelled sum (tiny, its float noise relatively large) moves by a sizeable share
        // of the learning rate whichever way the noise goes: with eps = 1e-8 a few elements per tensor differed by
        // ~5e-6 between any two summation orders. eps = 1e-3, above these gradients, makes every update
        // proportional to its gradient, so the weights compare at float tolerance and a wrongly scaled gradient
        // (a clipping factor from a wrong norm) shows. No label smoothing: with it the head rows of tokens the data
        // never has drift to a zero gradient (their optimum is p = s/V); the smoothed vocabulary-parallel loss is
        // compared by gradients in the nn module's tests.
        return TinyRun.overrides(5, 5, List.of(MODEL, VOCAB, "adam.adam_eps=1e-3"), extra);
    }

    @BeforeAll
    static void singleRank() throws IOException {
        TinyRun.prepareData(dir);
        try (Trainer t = new Trainer(TrainConfig.parse(TinyRun.CONFIG, common("data.micro_num=" + MICRO,
                "internlmj.run_dir=run-single")), dir, s -> { })) {
            t.fit();
            singleWeights = byName(t);
        }
        singleLosses = losses("run-single");
        singleGradNorms = metric("run-single", "grad_norm");
        singleValidLoss = validLoss("run-single");
        assertTrue(singleLosses.getLast() < singleLosses.getFirst() - 0.1, "the single run learns: " + singleLosses);
    }

    private static Map<String, Tensor> byName(Trainer t) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (Parameter p : t.model().parameters()) {
            m.put(p.name(), p.data().copy());
        }
        return m;
    }

    private static List<Double> losses(String runDir) throws IOException {
        return metric(runDir, "loss");
    }

    /** The validation loss at the last step (validation runs every 5 steps: once). */
    private static double validLoss(String runDir) throws IOException {
        List<Double> v = TinyRun.metrics(dir.resolve(runDir)).stream().filter(j -> j.has("valid_loss"))
                .map(j -> j.get("valid_loss").asDouble()).toList();
        assertEquals(1, v.size(), "validations in " + runDir);
        return v.getFirst();
    }

    private static List<Double> metric(String runDir, String key) throws IOException {
        return TinyRun.metric(dir.resolve(runDir), key);
    }

    /** One rank's parameters: name, its part of the weights, how it is split. */
    private record RankWeights(int tensorRank, Map<String, Tensor> weights, Map<String, Parameter> params) {
    }

    private static List<RankWeights> train(TrainConfig cfg, int dp, int tp, int zero1, long steps) {
        try (ThreadWorld world = new ThreadWorld(dp * tp, Duration.ofSeconds(120))) {
            return world.run(group -> {
                ParallelContext ctx = ParallelContext.create(group, new ParallelLayout(dp * tp, tp, 1, zero1));
                try (Trainer t = new Trainer(cfg, dir, s -> { }, null, ctx)) {
                    t.fit(steps);
                    return new RankWeights(ctx.tensorRank(), byName(t), t.model().namedParameters());
                }
            });
        }
    }

    /** Every rank's weights against its part of the single run's; replicated ones identical within a tensor group. */
    private static void assertSingleRankWeights(List<RankWeights> ranks, int tp) {
        for (int r = 0; r < ranks.size(); r++) {
            RankWeights w = ranks.get(r);
            RankWeights first = ranks.get(r - w.tensorRank());
            for (var e : w.weights().entrySet()) {
                Parameter p = w.params().get(e.getKey());
                Tensor expected = singleWeights.get(e.getKey());
                if (p.split() == null) {
                    assertTrue(java.util.Arrays.equals(first.weights().get(e.getKey()).toFloatArray(), e.getValue().toFloatArray()),
                            "rank " + r + ": replicated " + e.getKey() + " differs from tensor rank 0's");
                } else {
                    Tensor part = Tensor.empty(expected.dtype(), expected.device(), e.getValue().shape());
                    p.split().cut(expected, part);
                    expected = part;
                }
                // summation orders differ (row-parallel partial sums, the vocabulary-parallel loss)
                // Float noise of a different summation order, grown over 5 Adam steps: up to ~3e-7 seen on a clean
                // clone; a wrong shard or a missing reduction moves weights by the size of an update (~1e-3).
                TensorAssert.assertClose(expected, e.getValue(), 2e-6, 1e-4, "rank " + r + " (tp " + tp + "): " + e.getKey());
                double rel = TensorAssert.relativeError(expected, e.getValue());
                assertTrue(rel < 1e-5, "rank " + r + ": " + e.getKey() + " ||tp - single|| / ||single|| = " + rel);
            }
        }
    }

    private static void assertSingleRankLosses(List<Double> losses) {
        assertEquals(singleLosses.size(), losses.size());
        for (int i = 0; i < losses.size(); i++) {
            assertEquals(singleLosses.get(i), losses.get(i), 1e-5 * Math.abs(singleLosses.get(i)), "loss of step " + i);
        }
    }

    @ParameterizedTest(name = "dp {0} x tp {1}, sequence parallel {2}, zero1 {3}, embed_split_hidden {4}, parallel_output {5}")
    @CsvSource({
        "1, 2, false, 1, true, true",
        "1, 4, false, 1, true, true",
        "1, 2, true, 1, true, true",
        "2, 2, false, -1, true, true",
        "1, 2, true, 1, false, false",
    })
    void matchesTheSingleRankRun(int dp, int tp, boolean sp, int zero1, boolean splitHidden, boolean parallelOutput)
            throws Exception {
        String runDir = "run-dp" + dp + "-tp" + tp + "-sp" + sp + "-" + splitHidden + parallelOutput;
        TrainConfig cfg = TrainConfig.parse(TinyRun.CONFIG, common("data.micro_num=" + MICRO / dp, "parallel.tensor=" + tp,
                "parallel.sequence_parallel=" + sp, "parallel.zero1=" + zero1, "model.embed_split_hidden=" + splitHidden,
                "model.parallel_output=" + parallelOutput, "hybrid_zero_optimizer.overlap_sync_grad=" + (dp > 1),
                "hybrid_zero_optimizer.overlap_sync_param=" + (dp > 1), "hybrid_zero_optimizer.reduce_bucket_size=2000",
                "internlmj.run_dir=" + runDir));
        List<RankWeights> ranks = train(cfg, dp, tp, zero1, 5);
        assertSingleRankWeights(ranks, tp);
        assertSingleRankLosses(losses(runDir));
        // the norm counts each split parameter's parts once and each replicated parameter once
        List<Double> norms = metric(runDir, "grad_norm");
        for (int i = 0; i < norms.size(); i++) {
            assertEquals(singleGradNorms.get(i), norms.get(i), 1e-5 * singleGradNorms.get(i), "grad norm of step " + i);
        }
        assertEquals(singleValidLoss, validLoss(runDir), 1e-5 * singleValidLoss, "validation loss");
    }

    @Test
    void checkpointsHoldOneModelFilePerTensorRank() throws Exception {
        TrainConfig save = TrainConfig.parse(TinyRun.CONFIG, common("data.micro_num=" + MICRO, "parallel.tensor=2",
                "ckpt.enable_save_ckpt=true", "ckpt.checkpoint_every=3", "ckpt.save_ckpt_folder=ckpt-tp",
                "ckpt.auto_resume=false", "internlmj.run_dir=run-tp-save"));
        List<RankWeights> atStep3 = train(save, 1, 2, 1, 3);
        Path step3 = dir.resolve("ckpt-tp/3");
        for (String f : List.of("model_tp0_pp0", "model_tp1_pp0", "optimizer_tp0_pp0_zo0", "optimizer_tp1_pp0_zo0")) {
            assertTrue(Files.isRegularFile(step3.resolve(f + ".safetensors")), f);
        }

        // resumed on the same layout, the run ends where the single-rank run ends
        TrainConfig resume = TrainConfig.parse(TinyRun.CONFIG, common("data.micro_num=" + MICRO, "parallel.tensor=2",
                "ckpt.save_ckpt_folder=ckpt-tp", "ckpt.auto_resume=true", "internlmj.run_dir=run-tp-resume"));
        assertSingleRankWeights(train(resume, 1, 2, 1, 5), 2);
        List<Double> resumed = losses("run-tp-resume");
        assertEquals(2, resumed.size());
        for (int i = 0; i < resumed.size(); i++) {
            assertEquals(singleLosses.get(3 + i), resumed.get(i), 1e-5 * singleLosses.get(3 + i), "loss of step " + (3 + i));
        }

        // the weights alone load into one rank: the full tensors put back together from both files
        TrainConfig one = TrainConfig.parse(TinyRun.CONFIG, common("data.micro_num=" + MICRO,
                "ckpt.load_model_only_folder=ckpt-tp/3", "internlmj.run_dir=run-tp-one"));
        try (Trainer t = new Trainer(one, dir, s -> { })) {
            for (RankWeights rank : atStep3) {
                for (var e : rank.weights().entrySet()) {
                    Parameter p = rank.params().get(e.getKey());
                    Tensor whole = t.model().namedParameters().get(e.getKey()).data();
                    Tensor expected = whole;
                    if (p.split() != null) {
                        expected = Tensor.empty(whole.dtype(), whole.device(), e.getValue().shape());
                        p.split().cut(whole, expected);
                    }
                    TensorAssert.assertClose(expected, e.getValue(), 0, 0, "tensor rank " + rank.tensorRank() + ": "
                            + e.getKey());
                }
            }
        }
        assertEquals(CheckpointStore.readFullWeights(CheckpointStore.open(step3)).keySet(), singleWeights.keySet());

        // exported to HuggingFace, the tensor ranks' files give the one-rank model's tensors
        Path hf = dir.resolve("hf-from-tp");
        assertEquals(0, MainTestAccess.run("convert", "--ckpt", step3.toString(), "--to-hf", hf.toString()));
        Map<String, Tensor> exported = HfCheckpoint.read(hf, 2, 16);
        try (Trainer t = new Trainer(one, dir, s -> { })) {
            for (Parameter p : t.model().parameters()) {
                TensorAssert.assertClose(p.data(), exported.get(p.name()), 0, 0, "exported " + p.name());
            }
        }

        // optimizer state is tied to the tensor size: a clear error, not a wrong resume
        Exception e = assertThrows(Exception.class, () -> new Trainer(TrainConfig.parse(TinyRun.CONFIG,
                common("data.micro_num=" + MICRO, "internlmj.run_dir=run-tp-bad")), dir, s -> { }, step3.toString()));
        Throwable c = e;
        while (!(c instanceof CheckpointException) && c.getCause() != null) {
            c = c.getCause();
        }
        assertTrue(c instanceof CheckpointException && c.getMessage().contains("parallel.tensor = 2")
                && c.getMessage().contains("this run has 1"), e.toString());
    }
}
