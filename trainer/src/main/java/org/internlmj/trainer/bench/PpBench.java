package org.internlmj.trainer.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.internlmj.dist.ParallelContext;
import org.internlmj.dist.ParallelLayout;
import org.internlmj.dist.ProcessGroup;
import org.internlmj.dist.Rendezvous;
import org.internlmj.dist.pipeline.PipelineSchedule;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.train.Trainer;

/**
 * One worker of {@code internlmj bench pp}: joins the ranks, trains the config with pipeline parallelism
 * for warm-up and timed steps, and on rank 0 returns one JSON object with the measured pipeline bubble
 * next to the theoretical one.
 *
 * <p>The measured bubble of a stage is the time it spent blocked on its neighbours' activations and
 * gradients over the time it spent computing forward and backward passes (Megatron-LM's bubble time over
 * ideal compute time), averaged over the stages; the theoretical one is {@code (p - 1) / (v m)}; the
 * idealised one replays the schedule with each stage's measured mean forward and backward durations and
 * free communication: it accounts for stages of unequal work (the first embeds, the last computes the
 * loss), and what the measured bubble exceeds it by is communication and scheduling overhead.
 */
public final class PpBench {
    private static final ObjectMapper JSON = new ObjectMapper();

    private PpBench() {
    }

    /** Joins the launcher's ranks; returns the JSON on rank 0, null on the others. */
    public static ObjectNode runWorker(Path config, List<String> overrides, int warmup, int steps) throws Exception {
        ProcessGroup world = Rendezvous.fromEnvironment();
        try {
            return measure(world, config, overrides, warmup, steps, Path.of("").toAbsolutePath());
        } finally {
            world.close();
        }
    }

    /**
     * Trains {@code warmup} then {@code steps} timed steps on the ranks of {@code world} (every rank calls
     * it); relative paths in the config resolve against {@code base}. Returns the JSON on rank 0.
     */
    public static ObjectNode measure(ProcessGroup world, Path config, List<String> overrides, int warmup, int steps,
                                     Path base) throws Exception {
        Path scratch = Files.createTempDirectory("internlmj-bench-pp");
        try {
            TrainConfig cfg = BenchRuns.load(config, overrides, warmup + steps, scratch);
            var p = cfg.parallel();
            if (p.pipeline() < 2) {
                throw new IllegalArgumentException("bench pp needs parallel.pipeline.size >= 2, got " + p.pipeline());
            }
            double[] stepMs = new double[steps];
            Map<Trainer.Phase, Long> phases;
            ParallelLayout layout = new ParallelLayout(world.size(), p.tensor(), p.pipeline(), p.zero1());
            try (ParallelContext ctx = ParallelContext.create(world, layout);
                 Trainer t = new Trainer(cfg, base, s -> { }, null, ctx)) {
                t.fit(warmup);
                t.resetPhases();
                for (int i = 0; i < steps; i++) {
                    long s0 = System.nanoTime();
                    t.fit(warmup + i + 1);
                    stepMs[i] = (System.nanoTime() - s0) / 1e6;
                }
                phases = t.phaseNanos();
            }
            double wait = phases.get(Trainer.Phase.PIPELINE_WAIT) / 1e6;
            double fwd = phases.get(Trainer.Phase.FORWARD) / 1e6;
            double bwd = phases.get(Trainer.Phase.BACKWARD) / 1e6;
            double total = Arrays.stream(stepMs).sum();
            int n = world.size();
            Tensor mine = Tensor.of(new double[] {wait, fwd, bwd, total}, 4);
            Tensor every = Tensor.zeros(mine.dtype(), mine.device(), 4 * n);
            world.allGather(mine, every).await();
            if (world.rank() != 0) {
                return null;
            }
            double[] g = every.toDoubleArray();
            int pp = p.pipeline();
            int chunks = cfg.model().numChunks();
            int micro = cfg.data().microNum();
            double bubbleSum = 0;
            double fwdSum = 0;
            double bwdSum = 0;
            double waitSum = 0;
            double stepSum = 0;
            ArrayNode perStage = JSON.createArrayNode();
            // each stage's mean forward / backward microstep (a chunk on a micro-batch), over its data replicas
            double[] stageFwd = new double[pp];
            double[] stageBwd = new double[pp];
            double perRank = (double) steps * micro * chunks;
            for (int r = 0; r < n; r++) {
                double b = g[4 * r] / (g[4 * r + 1] + g[4 * r + 2]);
                bubbleSum += b;
                waitSum += g[4 * r];
                fwdSum += g[4 * r + 1];
                bwdSum += g[4 * r + 2];
                stepSum += g[4 * r + 3];
                int stage = layout.pipelineRank(r);
                stageFwd[stage] += g[4 * r + 1] / perRank / (n / pp);
                stageBwd[stage] += g[4 * r + 2] / perRank / (n / pp);
                if (layout.dataRank(r) == 0 && layout.tensorRank(r) == 0) {
                    perStage.add(round(b));
                }
            }
            double fwdStep = fwdSum / (n * perRank);
            double bwdStep = bwdSum / (n * perRank);
            PipelineSchedule schedule = PipelineSchedule.of(pp, chunks, micro);
            double[] sorted = stepMs.clone();
            Arrays.sort(sorted);
            ObjectNode o = JSON.createObjectNode();
            o.put("benchmark", "pp");
            o.put("config", config.toString());
            o.put("ranks", n);
            o.put("pipeline", pp);
            o.put("chunks", chunks);
            o.put("micro_num", micro);
            o.put("interleaved_overlap", p.interleavedOverlap());
            o.put("steps", steps);
            o.put("step_ms_median", round(sorted[steps / 2]));
            o.put("forward_ms_per_microstep", round(fwdStep));
            o.put("backward_ms_per_microstep", round(bwdStep));
            o.put("bubble_measured", round(bubbleSum / n));
            o.set("bubble_measured_per_stage", perStage);
            o.put("bubble_theoretical", round(schedule.theoreticalBubble()));
            o.put("bubble_idealised", round(schedule.simulate(stageFwd, stageBwd).bubble()));
            o.put("pipeline_wait_share", round(waitSum / stepSum));
            o.put("processors", Runtime.getRuntime().availableProcessors());
            return o;
        } finally {
            BenchRuns.deleteTree(scratch);
        }
    }

    private static double round(double v) {
        return Math.round(v * 10000) / 10000.0;
    }
}
