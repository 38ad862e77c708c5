package org.internlmj.trainer.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.internlmj.dist.ParallelContext;
import org.internlmj.dist.ParallelLayout;
import org.internlmj.dist.ProcessGroup;
import org.internlmj.dist.Rendezvous;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.train.Trainer;

/**
 * One worker of {@code internlmj bench dp}: joins the ranks the launcher started, trains the config for
 * warm-up and timed steps, and on rank 0 prints one JSON object with the step time and the time blocked
 * on ZeRO communication (gradient buckets, norm, parameter broadcasts) averaged over ranks, its share of
 * the step, and the optimizer state per rank.
 */
public final class DpBench {
    private static final ObjectMapper JSON = new ObjectMapper();

    private DpBench() {
    }

    /** Returns the JSON on rank 0, null on the others. */
    public static ObjectNode runWorker(Path config, List<String> overrides, int warmup, int steps) throws Exception {
        ProcessGroup world = Rendezvous.fromEnvironment();
        try {
            Path scratch = Files.createTempDirectory("internlmj-bench-dp");
            TrainConfig cfg = BenchRuns.load(config, overrides, warmup + steps, scratch);
            var p = cfg.parallel();
            ParallelContext ctx = ParallelContext.create(world, new ParallelLayout(world.size(), p.tensor(), p.pipeline(),
                    p.zero1()));
            double[] stepMs = new double[steps];
            long wait;
            long stateBytes;
            try (Trainer t = new Trainer(cfg, Path.of("").toAbsolutePath(), s -> { }, null, ctx)) {
                t.fit(warmup);
                t.resetCommWait();
                for (int i = 0; i < steps; i++) {
                    long s0 = System.nanoTime();
                    t.fit(warmup + i + 1);
                    stepMs[i] = (System.nanoTime() - s0) / 1e6;
                }
                wait = t.commWaitNanos();
                stateBytes = t.optimizerStateBytes();
            }
            double totalMs = Arrays.stream(stepMs).sum();
            Tensor sums = Tensor.of(new double[] {wait / 1e6, totalMs, stateBytes}, 3);
            world.allReduce(sums, ProcessGroup.ReduceOp.SUM).await();
            double[] s = sums.toDoubleArray();
            ctx.close();
            if (world.rank() != 0) {
                return null;
            }
            int n = world.size();
            double[] sorted = stepMs.clone();
            Arrays.sort(sorted);
            ObjectNode o = JSON.createObjectNode();
            o.put("benchmark", "dp");
            o.put("config", config.toString());
            o.put("ranks", n);
            o.put("overlap_sync_grad", cfg.hybridZero().overlapSyncGrad());
            o.put("overlap_sync_param", cfg.hybridZero().overlapSyncParam());
            o.put("zero1", p.zero1());
            o.put("steps", steps);
            o.put("step_ms_median", round(sorted[steps / 2]));
            o.put("comm_wait_ms_per_step", round(s[0] / n / steps));
            o.put("comm_wait_share", round(s[0] / s[1]));
            o.put("optimizer_state_bytes_per_rank", (long) (s[2] / n));
            BenchRuns.deleteTree(scratch);
            return o;
        } finally {
            world.close();
        }
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
