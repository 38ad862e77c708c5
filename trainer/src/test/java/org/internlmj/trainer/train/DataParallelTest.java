package org.internlmj.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.internlmj.dist.ParallelContext;
import org.internlmj.dist.ParallelLayout;
import org.internlmj.dist.ThreadWorld;
import org.internlmj.tensor.testing.TensorAssert;
import org.internlmj.trainer.config.TrainConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Data parallelism with the hybrid ZeRO optimizer gives the single-rank run: the same model, data and
 * global batch (micro_num x data-parallel size micro-batches per step) on 1 rank and on 2 or 4 ranks (threads
 * of one JVM) gives the same losses and final weights within float tolerance, for every ZeRO layout, with
 * and without overlap, whole or split tensors.
 */
class DataParallelTest {
    @TempDir
    static Path dir;

    static List<Double> singleLosses;
    static float[][] singleWeights;
    static final int MICRO = 2;
    static final int DP_MAX = 4;

    private static List<String> common(String... extra) {
        // adam_eps 1e-3 (above these gradients) keeps every update proportional to its gradient: with 1e-8 Adam's
        // normalised update turned the float noise of a near-cancelled gradient into a ~6e-6 weight difference on
        // an element now and then, depending on which documents the temp folder's name put in the train split
        return TinyRun.overrides(5, 0, List.of("adam.adam_eps=1e-3"), extra);
    }

    @BeforeAll
    static void singleRank() throws IOException {
        TinyRun.prepareData(dir);
        try (Trainer t = new Trainer(TrainConfig.parse(TinyRun.CONFIG, common("data.micro_num=" + MICRO * 4,
                "internlmj.run_dir=run-single")), dir, s -> { })) {
            t.fit();
            singleWeights = TinyRun.weights(t);
        }
        singleLosses = TinyRun.steps(TinyRun.metrics(dir.resolve("run-single"))).stream()
                .map(j -> j.get("loss").asDouble()).toList();
    }

    private static List<Double> run(int dp, int zero1, boolean overlap, boolean split, String runDir)
            throws Exception {
        // dp ranks with micro_num MICRO * 4 / dp keep the global batch of the single-rank run
        List<String> o = common("data.micro_num=" + MICRO * 4 / dp, "parallel.zero1=" + zero1,
                "hybrid_zero_optimizer.overlap_sync_grad=" + overlap, "hybrid_zero_optimizer.overlap_sync_param=" + overlap,
                "hybrid_zero_optimizer.use_split_tensor_optim=" + split,
                "hybrid_zero_optimizer.reduce_bucket_size=2000", "internlmj.run_dir=" + runDir);
        TrainConfig cfg = TrainConfig.parse(TinyRun.CONFIG, o);
        List<float[][]> weights;
        try (ThreadWorld world = new ThreadWorld(dp, Duration.ofSeconds(60))) {
            weights = world.run(group -> {
                ParallelContext ctx = ParallelContext.create(group, new ParallelLayout(dp, 1, 1, zero1));
                try (Trainer t = new Trainer(cfg, dir, s -> { }, null, ctx)) {
                    t.fit();
                    return TinyRun.weights(t);
                }
            });
        }
        for (int r = 1; r < dp; r++) {
            for (int i = 0; i < weights.get(0).length; i++) {
                assertTrue(java.util.Arrays.equals(weights.get(0)[i], weights.get(r)[i]),
                        "rank " + r + " holds other weights than rank 0 for parameter " + i);
            }
        }
        for (int i = 0; i < singleWeights.length; i++) {
            double[] a = toDouble(singleWeights[i]);
            double[] b = toDouble(weights.get(0)[i]);
            // summation order differs (micro-batches on one rank vs an all-reduce of per-rank sums); with updates
            // proportional to the gradients (adam_eps, above) that stays at float noise
            TensorAssert.assertClose(a, b, 2e-6, 1e-4, "parameter " + i);
            double rel = TensorAssert.relativeError(a, b);
            assertTrue(rel < 1e-4, "parameter " + i + ": ||dp - single|| / ||single|| = " + rel);
        }
        return TinyRun.steps(TinyRun.metrics(dir.resolve(runDir))).stream().map(j -> j.get("loss").asDouble()).toList();
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @ParameterizedTest(name = "dp {0}, zero1 {1}, overlap {2}, split tensors {3}")
    @CsvSource({
        "2, -1, true, false",
        "2, 1, false, false",
        "4, -1, true, false",
        "4, 1, true, false",
        "4, 2, false, false",
        "4, 2, true, true",
        "4, -1, false, true",
    })
    void matchesTheSingleRankRun(int dp, int zero1, boolean overlap, boolean split) throws Exception {
        String runDir = "run-dp" + dp + "-z" + zero1 + "-" + overlap + "-" + split;
        List<Double> losses = run(dp, zero1, overlap, split, runDir);
        assertEquals(singleLosses.size(), losses.size());
        for (int i = 0; i < losses.size(); i++) {
            assertEquals(singleLosses.get(i), losses.get(i), 1e-5 * Math.abs(singleLosses.get(i)), "loss of step " + i);
        }
    }

    @Test
    void optimizerStateShrinksWithTheZeroGroup() throws Exception {
        long[] perRank = new long[5];
        for (int zero1 : new int[] {1, 2, 4}) {
            // a bf16 model keeps fp32 masters on every layout (an fp32 one unsharded uses its weights as masters)
            TrainConfig cfg = TrainConfig.parse(TinyRun.CONFIG, common("data.micro_num=2", "internlmj.run_dir=run-mem",
                    "hybrid_zero_optimizer.use_split_tensor_optim=true", "parallel.zero1=" + zero1,
                    "model.dtype=torch.bfloat16"));
            try (ThreadWorld world = new ThreadWorld(4, Duration.ofSeconds(60))) {
                List<Long> bytes = world.run(group -> {
                    ParallelContext ctx = ParallelContext.create(group, new ParallelLayout(4, 1, 1, zero1));
                    try (Trainer t = new Trainer(cfg, dir, s -> { }, null, ctx)) {
                        return t.optimizerStateBytes();
                    }
                });
                perRank[zero1] = bytes.stream().mapToLong(Long::longValue).max().orElseThrow();
            }
        }
        // split tensors: each rank holds 1/zero of the state, up to padding of each tensor to a multiple of zero
        assertEquals(perRank[1] / 2.0, perRank[2], perRank[1] * 0.01);
        assertEquals(perRank[1] / 4.0, perRank[4], perRank[1] * 0.01);
    }

    @Test
    void checkpointsReshardWhenTheZeroGroupChanges() throws Exception {
        // 4 ranks, ZeRO over all 4 (split tensors), save at step 3; resume on 2 ranks with ZeRO 2 (whole tensors)
        List<String> save = common("data.micro_num=" + MICRO, "parallel.zero1=-1", "ckpt.enable_save_ckpt=true",
                "ckpt.checkpoint_every=3", "ckpt.save_ckpt_folder=ckpt-reshard", "ckpt.auto_resume=false",
                "hybrid_zero_optimizer.use_split_tensor_optim=true", "internlmj.run_dir=run-reshard-a");
        TrainConfig first = TrainConfig.parse(TinyRun.CONFIG, save);
        try (ThreadWorld world = new ThreadWorld(4, Duration.ofSeconds(60))) {
            world.run(group -> {
                ParallelContext ctx = ParallelContext.create(group, new ParallelLayout(4, 1, 1, -1));
                try (Trainer t = new Trainer(first, dir, s -> { }, null, ctx)) {
                    t.fit(3);
                }
                return null;
            });
        }
        assertTrue(Files.isRegularFile(dir.resolve("ckpt-reshard/3/optimizer_tp0_pp0_zo3.safetensors")));
        TrainConfig second = TrainConfig.parse(TinyRun.CONFIG, common("data.micro_num=" + MICRO * 2, "parallel.zero1=2",
                "ckpt.save_ckpt_folder=ckpt-reshard", "ckpt.auto_resume=true", "internlmj.run_dir=run-reshard-b"));
        List<float[][]> weights;
        try (ThreadWorld world = new ThreadWorld(2, Duration.ofSeconds(60))) {
            weights = world.run(group -> {
                ParallelContext ctx = ParallelContext.create(group, new ParallelLayout(2, 1, 1, 2));
                try (Trainer t = new Trainer(second, dir, s -> { }, null, ctx)) {
                    assertEquals(3, t.state().step());
                    t.fit();
                    return TinyRun.weights(t);
                }
            });
        }
        // the same global batch all along: the resumed run ends where the single-rank run ends
        for (int i = 0; i < singleWeights.length; i++) {
            assertTrue(TensorAssert.relativeError(toDouble(singleWeights[i]), toDouble(weights.get(0)[i])) < 1e-4,
                    "parameter " + i);
        }
        List<Double> resumed = TinyRun.steps(TinyRun.metrics(dir.resolve("run-reshard-b"))).stream()
                .map(j -> j.get("loss").asDouble()).toList();
        for (int i = 0; i < resumed.size(); i++) {
            assertEquals(singleLosses.get(3 + i), resumed.get(i), 1e-5 * singleLosses.get(3 + i), "loss of step " + (3 + i));
        }
    }
}
