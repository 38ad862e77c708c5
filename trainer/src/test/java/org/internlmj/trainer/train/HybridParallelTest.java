package org.internlmj.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.internlmj.dist.ParallelContext;
import org.internlmj.dist.ParallelLayout;
import org.internlmj.dist.ThreadWorld;
import org.internlmj.nn.Parameter;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.testing.TensorAssert;
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
 * Tensor (with and without sequence parallelism) x pipeline (1F1B and interleaved) x data parallelism with
 * ZeRO in one run gives the single-rank run: the same 4-layer model, data and global batch on one rank and
 * on up to 8 thread ranks give the same losses, gradient norms and validation loss, and every rank's weights
 * are its part of the single run's (its stage's layers, its tensor rank's slices). Checkpoints of such a
 * run hold a model file per tensor rank and pipeline stage and an optimizer file per ZeRO rank of each, resume
 * on another pipeline layout and load as weights into one process and into a HuggingFace export.
 */
class HybridParallelTest {
    @TempDir
    static Path dir;

    static final double CLIP = 0.5;
    /** Heads, hidden, MLP hidden and vocabulary divisible by 2; 4 layers for 2 stages x 2 chunks. */
    static final String CONFIG = TinyRun.CONFIG.replace("num_layers: 2", "num_layers: 4")
            .replace("num_attention_heads: 2", "num_attention_heads: 4").replace("vocab_size: 259", "vocab_size: 260")
            .replace("clip_grad_norm: 1.0", "clip_grad_norm: " + CLIP);
    static final int MICRO = 8;
    static final int STEPS = 4;

    static List<Double> singleLosses;
    static List<Double> singleGradNorms;
    static double singleValid;
    static Map<String, Tensor> singleWeights;

    private static List<String> common(String... extra) {
        // adam_eps 1e-3: every update proportional to its gradient, so weights compare at float tolerance
        // (TensorParallelTest says why); validation over the training packs (never empty)
        return TinyRun.overrides(STEPS, STEPS, List.of("data.valid_folder=data/train", "ckpt.auto_resume=false",
                "adam.adam_eps=1e-3"), extra);
    }

    @BeforeAll
    static void singleRank() throws IOException {
        TinyRun.prepareData(dir);
        try (Trainer t = new Trainer(TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO,
                "internlmj.run_dir=run-single")), dir, s -> { })) {
            t.fit();
            singleWeights = byName(t);
        }
        singleLosses = metric("run-single", "loss");
        singleGradNorms = metric("run-single", "grad_norm");
        singleValid = validLoss("run-single");
        assertTrue(singleGradNorms.stream().anyMatch(n -> n > CLIP), "no step clips: lower the clip threshold");
    }

    private static Map<String, Tensor> byName(Trainer t) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (Parameter p : t.model().parameters()) {
            m.put(p.name(), p.data().copy());
        }
        return m;
    }

    private static List<Double> metric(String runDir, String key) throws IOException {
        return TinyRun.metric(dir.resolve(runDir), key);
    }

    private static double validLoss(String runDir) throws IOException {
        return TinyRun.lastValidLoss(dir.resolve(runDir));
    }

    /** One rank's coordinates, its parameters (how each is split) and their values. */
    private record RankWeights(int dataRank, int tensorRank, int pipelineRank, Map<String, Tensor> weights,
                               Map<String, Parameter> params) {
    }

    private static List<RankWeights> train(TrainConfig cfg, int dp, int tp, int pp, int zero1, long until) {
        int world = dp * tp * pp;
        try (ThreadWorld w = new ThreadWorld(world, Duration.ofSeconds(120))) {
            return w.run(group -> {
                ParallelContext ctx = ParallelContext.create(group, new ParallelLayout(world, tp, pp, zero1));
                try (Trainer t = new Trainer(cfg, dir, s -> { }, null, ctx)) {
                    t.fit(until);
                    return new RankWeights(ctx.dataRank(), ctx.tensorRank(), ctx.pipelineRank(), byName(t),
                            t.model().namedParameters());
                }
            });
        }
    }

    /**
     * Every rank's weights are its part of {@code expected} within float tolerance (bit for bit with
     * {@code tol} 0); replicated weights are identical across the tensor group; together the ranks hold
     * every weight.
     */
    private static void assertParts(Map<String, Tensor> expected, List<RankWeights> ranks, double tol, String what) {
        Set<String> seen = new HashSet<>();
        Map<String, Tensor> firstOfGroup = new LinkedHashMap<>();
        for (RankWeights r : ranks) {
            String at = what + ", rank (data " + r.dataRank() + ", tensor " + r.tensorRank() + ", pipeline "
                    + r.pipelineRank() + "): ";
            for (var e : r.weights().entrySet()) {
                seen.add(e.getKey());
                Parameter p = r.params().get(e.getKey());
                Tensor want = expected.get(e.getKey());
                if (p.split() == null) {
                    Tensor other = firstOfGroup.putIfAbsent(r.dataRank() + "/" + r.pipelineRank() + "/" + e.getKey(),
                            e.getValue());
                    assertTrue(other == null || java.util.Arrays.equals(other.toFloatArray(), e.getValue().toFloatArray()),
                            at + "replicated " + e.getKey() + " differs within the tensor group");
                } else {
                    Tensor part = Tensor.empty(want.dtype(), want.device(), e.getValue().shape());
                    p.split().cut(want, part);
                    want = part;
                }
                TensorAssert.assertClose(want, e.getValue(), tol == 0 ? 0 : 2e-6, tol == 0 ? 0 : 1e-4, at + e.getKey());
                double rel = TensorAssert.relativeError(want, e.getValue());
                assertTrue(rel <= tol, at + e.getKey() + " ||parallel - single|| / ||single|| = " + rel);
            }
        }
        assertEquals(expected.keySet(), seen, what + ": the weights the ranks hold together");
    }

    private static void assertClose(List<Double> expected, List<Double> actual, int offset, String what) {
        assertEquals(expected.size() - offset, actual.size(), what + ": steps logged");
        for (int i = 0; i < actual.size(); i++) {
            double e = expected.get(offset + i);
            assertEquals(e, actual.get(i), 1e-5 * Math.abs(e), what + " of step " + (offset + i));
        }
    }

    @ParameterizedTest(name = "dp {0} x tp {1} x pp {2}, chunks {3}, sequence parallel {4}, zero1 {5}, "
            + "embed_split_hidden / parallel_output {6}")
    @CsvSource({
        "1, 2, 2, 1, false, 1, true",
        "1, 2, 2, 2, true, 1, true",
        "2, 2, 2, 1, true, -1, true",
        "2, 2, 2, 2, false, -1, false",
    })
    void matchesTheSingleRankRun(int dp, int tp, int pp, int chunks, boolean sp, int zero1, boolean split)
            throws Exception {
        String runDir = "run-dp" + dp + "-tp" + tp + "-pp" + pp + "-c" + chunks + "-sp" + sp + "-z" + zero1 + "-" + split;
        TrainConfig cfg = TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO / dp, "model.num_chunks=" + chunks,
                "parallel.tensor=" + tp, "parallel.sequence_parallel=" + sp, "parallel.pipeline.size=" + pp,
                "parallel.zero1=" + zero1, "model.embed_split_hidden=" + split, "model.parallel_output=" + split,
                "hybrid_zero_optimizer.overlap_sync_grad=true", "hybrid_zero_optimizer.overlap_sync_param=true",
                "hybrid_zero_optimizer.reduce_bucket_size=2000", "internlmj.run_dir=" + runDir));
        assertParts(singleWeights, train(cfg, dp, tp, pp, zero1, STEPS), 1e-5, runDir);
        assertClose(singleLosses, metric(runDir, "loss"), 0, "loss");
        // the norm counts every split parameter's parts and every stage's parameters once
        assertClose(singleGradNorms, metric(runDir, "grad_norm"), 0, "grad norm");
        assertEquals(singleValid, validLoss(runDir), 1e-5 * singleValid, "validation loss");
    }

    @Test
    void checkpointsOfTensorAndPipelineShardsLoadOnOtherLayouts() throws Exception {
        // dp 2 x tp 2 x pp 2 with ZeRO over the data ranks saves at step 2 ...
        TrainConfig save = TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO / 2, "parallel.tensor=2",
                "parallel.pipeline.size=2", "parallel.zero1=-1", "ckpt.enable_save_ckpt=true", "ckpt.checkpoint_every=2",
                "ckpt.save_ckpt_folder=ckpt-3d", "internlmj.run_dir=run-3d-save", "data.valid_every=0"));
        List<RankWeights> atStep2 = train(save, 2, 2, 2, -1, 2);
        Path ck = dir.resolve("ckpt-3d/2");
        for (int t = 0; t < 2; t++) {
            for (int p = 0; p < 2; p++) {
                assertTrue(Files.isRegularFile(ck.resolve(CheckpointStore.modelFile(t, p))), CheckpointStore.modelFile(t, p));
                for (int z = 0; z < 2; z++) {
                    String f = CheckpointStore.optimizerFile(t, p, z);
                    assertTrue(Files.isRegularFile(ck.resolve(f)), f);
                }
            }
        }
        CheckpointStore.Loaded loaded = CheckpointStore.open(ck);
        assertEquals(2, loaded.tensorSize());
        assertEquals(2, loaded.pipelineSize());
        assertEquals(singleWeights.keySet(), CheckpointStore.readFullWeights(loaded).keySet());

        // ... which resume on tp 2 x pp 4 (one layer a stage, no ZeRO) and end where the single run ends
        TrainConfig resume = TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO, "parallel.tensor=2",
                "parallel.pipeline.size=4", "ckpt.save_ckpt_folder=ckpt-3d", "ckpt.auto_resume=true",
                "internlmj.run_dir=run-3d-resume"));
        assertParts(singleWeights, train(resume, 1, 2, 4, 1, STEPS), 1e-5, "resumed on tp 2 x pp 4");
        assertClose(singleLosses, metric("run-3d-resume", "loss"), 2, "resumed loss");

        // the weights alone load into one process: every stage's tensor ranks put back together, bit for bit
        TrainConfig one = TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO,
                "ckpt.load_model_only_folder=ckpt-3d/2", "internlmj.run_dir=run-3d-one"));
        Map<String, Tensor> whole;
        try (Trainer t = new Trainer(one, dir, s -> { })) {
            whole = byName(t);
        }
        assertParts(whole, atStep2, 0, "loaded into one process");

        // and exported to HuggingFace, they are the one-process model's tensors
        Path hf = dir.resolve("hf-from-3d");
        assertEquals(0, MainTestAccess.run("convert", "--ckpt", ck.toString(), "--to-hf", hf.toString()));
        Map<String, Tensor> exported = HfCheckpoint.read(hf, 4, 16);
        for (var e : whole.entrySet()) {
            TensorAssert.assertClose(e.getValue(), exported.get(e.getKey()), 0, 0, "exported " + e.getKey());
        }
    }
}
