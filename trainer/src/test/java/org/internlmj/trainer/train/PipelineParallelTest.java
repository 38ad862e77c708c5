package org.internlmj.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.dist.ParallelContext;
import org.internlmj.dist.ParallelLayout;
import org.internlmj.dist.ThreadWorld;
import org.internlmj.nn.Parameter;
import org.internlmj.tensor.testing.TensorAssert;
import org.internlmj.trainer.config.ConfigException;
import org.internlmj.trainer.config.TrainConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Pipeline parallelism gives the single-rank run: the same 8-layer model, data and global batch on 1 rank
 * and on pipeline (and data x pipeline) ranks of one JVM gives the same losses, validation loss and final
 * weights within float tolerance, for 1F1B and interleaved 1F1B, with and without overlap, with ZeRO; and
 * checkpoints written by one layout resume on another.
 */
class PipelineParallelTest {
    @TempDir
    static Path dir;

    static final double CLIP = 0.5;
    static final String CONFIG = TinyRun.CONFIG.replace("num_layers: 2", "num_layers: 8")
            .replace("clip_grad_norm: 1.0", "clip_grad_norm: " + CLIP);
    static final int MICRO = 8;
    static final int STEPS = 3;

    static List<Double> singleLosses;
    static double singleValid;
    static Map<String, float[]> singleWeights;

    private static List<String> common(String... extra) {
        // validation over the training packs: TinyRun's held-out split hashes the temporary folder's path and
        // is empty in some runs
        return TinyRun.overrides(STEPS, STEPS, List.of("data.valid_folder=data/train", "ckpt.auto_resume=false"), extra);
    }

    @BeforeAll
    static void singleRank() throws IOException {
        TinyRun.prepareData(dir);
        try (Trainer t = new Trainer(TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO,
                "internlmj.run_dir=run-single")), dir, s -> { })) {
            t.fit();
            singleWeights = weights(t);
        }
        singleLosses = losses("run-single");
        singleValid = validLoss("run-single");
        assertTrue(Double.isFinite(singleValid), "no validation tokens");
        // clipping must act, or a grad norm summed over one stage only would go unnoticed
        assertTrue(TinyRun.steps(TinyRun.metrics(dir.resolve("run-single"))).stream()
                .anyMatch(j -> j.get("grad_norm").asDouble() > CLIP), "no step clips: lower the clip threshold");
    }

    static Map<String, float[]> weights(Trainer t) {
        Map<String, float[]> w = new HashMap<>();
        for (Parameter p : t.model().parameters()) {
            w.put(p.name(), p.data().toFloatArray());
        }
        return w;
    }

    static List<Double> losses(String runDir) throws IOException {
        return TinyRun.metric(dir.resolve(runDir), "loss");
    }

    static double validLoss(String runDir) throws IOException {
        return TinyRun.lastValidLoss(dir.resolve(runDir));
    }

    /** Trains on dp x pp thread ranks; returns every rank's weights by name. */
    static List<Map<String, float[]>> train(TrainConfig cfg, int dp, int pp, int zero1, long until) throws Exception {
        int world = dp * pp;
        try (ThreadWorld w = new ThreadWorld(world, Duration.ofSeconds(60))) {
            return w.run(group -> {
                ParallelContext ctx = ParallelContext.create(group, new ParallelLayout(world, 1, pp, zero1));
                try (Trainer t = new Trainer(cfg, dir, s -> { }, null, ctx)) {
                    t.fit(until);
                    return weights(t);
                }
            });
        }
    }

    static void assertMatchesSingle(List<Map<String, float[]>> ranks, int dp, int pp) {
        Map<String, float[]> merged = new HashMap<>();
        for (int r = 0; r < ranks.size(); r++) {
            for (Map.Entry<String, float[]> e : ranks.get(r).entrySet()) {
                float[] prev = merged.putIfAbsent(e.getKey(), e.getValue());
                // data-parallel replicas of a stage hold the same weights bit for bit
                assertTrue(prev == null || java.util.Arrays.equals(prev, e.getValue()), e.getKey() + " differs between replicas");
            }
        }
        assertEquals(singleWeights.keySet(), merged.keySet());
        for (String name : singleWeights.keySet()) {
            double[] a = toDouble(singleWeights.get(name));
            double[] b = toDouble(merged.get(name));
            // the grad norm is summed over the stages in fp32 (clipping differs in the last bits)
            TensorAssert.assertClose(a, b, 2e-6, 1e-4, name);
            assertTrue(TensorAssert.relativeError(a, b) < 1e-5, name + ": ||pp - single|| / ||single|| = "
                    + TensorAssert.relativeError(a, b));
        }
    }

    static void assertLosses(List<Double> expected, List<Double> actual, int offset) {
        assertEquals(expected.size() - offset, actual.size(), "steps logged");
        for (int i = 0; i < actual.size(); i++) {
            assertEquals(expected.get(offset + i), actual.get(i), 1e-5 * Math.abs(expected.get(offset + i)),
                    "loss of step " + (offset + i));
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @ParameterizedTest(name = "dp {0} x pp {1}, chunks {2}, zero1 {3}, overlap {4}, activation checkpointing {5}")
    @CsvSource({
        "1, 2, 1, 1, true, 0",
        "1, 2, 1, 1, false, 0",
        "1, 4, 1, 1, true, 0",
        "1, 2, 2, 1, true, 0",
        "1, 4, 2, 1, true, 1",
        "2, 2, 1, 2, true, 0.5",
        "2, 2, 2, -1, true, 0",
    })
    void matchesTheSingleRankRun(int dp, int pp, int chunks, int zero1, boolean overlap, double checkpoint) throws Exception {
        String runDir = "run-dp" + dp + "-pp" + pp + "-c" + chunks + "-z" + zero1 + "-" + overlap + "-" + checkpoint;
        // dp replicas with micro_num MICRO / dp keep the single run's global batch; recomputing activations
        // changes no value
        TrainConfig cfg = TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO / dp, "model.num_chunks=" + chunks,
                "model.checkpoint=" + checkpoint,
                "parallel.pipeline.size=" + pp, "parallel.pipeline.interleaved_overlap=" + overlap,
                "parallel.zero1=" + zero1, "hybrid_zero_optimizer.overlap_sync_grad=true",
                "hybrid_zero_optimizer.reduce_bucket_size=2000", "internlmj.run_dir=" + runDir));
        assertMatchesSingle(train(cfg, dp, pp, zero1, STEPS), dp, pp);
        assertLosses(singleLosses, losses(runDir), 0);
        assertEquals(singleValid, validLoss(runDir), 1e-5 * singleValid, "validation loss");
    }

    @Test
    void checkpointsOfPipelineShardsResumeOnAnotherLayout() throws Exception {
        // pp 2 saves pipeline shards at step 2 ...
        TrainConfig save = TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO, "parallel.pipeline.size=2",
                "ckpt.enable_save_ckpt=true", "ckpt.checkpoint_every=2", "ckpt.save_ckpt_folder=ckpt-pp",
                "internlmj.run_dir=run-ckpt-a", "data.valid_every=0"));
        train(save, 1, 2, 1, 2);
        Path ck = dir.resolve("ckpt-pp/2");
        for (String f : List.of("model_tp0_pp0.safetensors", "model_tp0_pp1.safetensors",
                "optimizer_tp0_pp0_zo0.safetensors", "optimizer_tp0_pp1_zo0.safetensors")) {
            assertTrue(Files.isRegularFile(ck.resolve(f)), f + " missing");
        }
        // ... which resume on pp 4 with 2 chunks (other layer placement) and end where the single run ends
        TrainConfig resume = TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO, "parallel.pipeline.size=4",
                "model.num_chunks=2", "ckpt.save_ckpt_folder=ckpt-pp", "ckpt.auto_resume=true",
                "internlmj.run_dir=run-ckpt-b"));
        assertMatchesSingle(train(resume, 1, 4, 1, STEPS), 1, 4);
        assertLosses(singleLosses, losses("run-ckpt-b"), 2);
        // and a single process loads the pipeline shards as one model (an interleaved config runs whole there)
        try (Trainer t = new Trainer(TrainConfig.parse(CONFIG, common("data.micro_num=" + MICRO,
                "parallel.pipeline.size=4", "model.num_chunks=2",
                "ckpt.save_ckpt_folder=ckpt-pp", "ckpt.auto_resume=true", "internlmj.run_dir=run-ckpt-c")), dir, s -> { })) {
            assertEquals(2, t.state().step());
            t.fit();
            Map<String, float[]> w = weights(t);
            for (String name : singleWeights.keySet()) {
                assertTrue(TensorAssert.relativeError(toDouble(singleWeights.get(name)), toDouble(w.get(name))) < 1e-5, name);
            }
        }
    }

    @Test
    void badPipelineConfigsNameTheNumbers() {
        ConfigException e = assertThrows(ConfigException.class, () -> TrainConfig.parse(CONFIG,
                List.of("parallel.pipeline.size=2", "model.num_chunks=3")));
        assertTrue(e.getMessage().contains("num_layers = 8") && e.getMessage().contains("num_chunks = 3"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> TrainConfig.parse(CONFIG,
                List.of("parallel.pipeline.size=8", "model.num_chunks=2")));
        assertTrue(e.getMessage().contains("8 x 2 = 16"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> TrainConfig.parse(CONFIG,
                List.of("parallel.pipeline.size=4", "model.num_chunks=2", "data.micro_num=6")));
        assertTrue(e.getMessage().contains("micro_num = 6") && e.getMessage().contains("pipeline.size = 4"), e.getMessage());
        e = assertThrows(ConfigException.class, () -> TrainConfig.parse(CONFIG,
                List.of("parallel.pipeline.size=2", "model.num_chunks=2", "data.micro_num=4",
                        "data.rampup_batch_size=\"1 1 2\"")));
        assertTrue(e.getMessage().contains("rampup_batch_size"), e.getMessage());
        // uneven stages are InternLM's partition, not an error: 8 layers over 3 stages
        TrainConfig.parse(CONFIG, List.of("parallel.pipeline.size=3"));
    }
}
