package org.internlmj.trainer.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.internlmj.nn.Parameter;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.ProfilingBackend;
import org.internlmj.tensor.cpu.CpuBackend;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.train.Trainer;

/**
 * {@code internlmj bench train}: times whole training steps of a config and reports throughput, model
 * FLOP/s, peak memory and where the time goes (by phase and by op family), as one JSON object.
 * Checkpoints, validation and TensorBoard are off during the benchmark.
 */
public final class TrainBench {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Model FLOPs of a step, with the formula printed next to the result. */
    public static final String FLOPS_FORMULA = "6 * N * tokens + 6 * hidden * layers * sum over attention segments "
            + "of n*(n+1)  (N = parameters without the embedding; causal attention, forward + backward)";

    /** The machine gauge's GEMM size and timed calls. */
    private static final int GAUGE_N = 2048;
    private static final int GAUGE_CALLS = 3;

    private TrainBench() {
    }

    public static ObjectNode run(Path config, List<String> overrides, int warmup, int steps, Path scratch)
            throws IOException {
        List<String> all = new ArrayList<>(overrides);
        all.add("ckpt.enable_save_ckpt=false");
        all.add("ckpt.auto_resume=false");
        all.add("data.valid_every=0");
        all.add("internlmj.tensorboard=false");
        all.add("internlmj.run_dir=" + scratch.toAbsolutePath());
        all.add("data.total_steps=" + (warmup + steps));
        all.add("internlmj.log_every=1");
        TrainConfig cfg = TrainConfig.load(config, all);
        if (!cfg.engine().device().equals("cpu")) {
            throw new IllegalArgumentException("bench train measures the CPU backend; the config asks for device "
                    + cfg.engine().device());
        }
        int threads = CpuBackend.shared().threads();
        Double blasBefore = GemmBench.openBlasGflops(threads, GAUGE_N, GAUGE_CALLS);
        ProfilingBackend profiler = new ProfilingBackend(CpuBackend.shared());
        double[] stepMs = new double[steps];
        Map<ProfilingBackend.Family, Long> families;
        Map<ProfilingBackend.Op, Long> ops;
        Map<Trainer.Phase, Long> phases;
        long paramsNoEmbedding;
        double attentionFlopsPerStep = 0;
        int tokensPerStep = cfg.data().packedLength() * cfg.data().microNum();
        try (Trainer t = new Trainer(cfg, Path.of("").toAbsolutePath(), s -> { })) {
            paramsNoEmbedding = 0;
            for (Parameter p : t.model().parameters()) {
                if (!p.name().startsWith("embedding.")) {
                    paramsNoEmbedding += p.numel();
                }
            }
            t.fit(warmup);
            t.resetPhases();
            try (var o = Backends.overrideCpu(profiler)) {
                for (int i = 0; i < steps; i++) {
                    long s0 = System.nanoTime();
                    t.fit(warmup + i + 1);
                    stepMs[i] = (System.nanoTime() - s0) / 1e6;
                }
            }
            families = profiler.nanos();
            ops = profiler.opNanos();
            phases = t.phaseNanos();
            attentionFlopsPerStep = attentionFlops(cfg);
        }
        Double blasAfter = GemmBench.openBlasGflops(threads, GAUGE_N, GAUGE_CALLS);
        double[] sorted = stepMs.clone();
        Arrays.sort(sorted);
        double median = sorted[steps / 2];
        double totalMs = Arrays.stream(stepMs).sum();
        double tokensPerS = tokensPerStep * steps / (totalMs / 1000);
        double flopsPerStep = 6.0 * paramsNoEmbedding * tokensPerStep + attentionFlopsPerStep;
        ObjectNode o = JSON.createObjectNode();
        o.put("benchmark", "train");
        o.put("config", config.toString());
        o.put("threads", CpuBackend.shared().threads());
        o.put("steps", steps);
        o.put("warmup_steps", warmup);
        o.put("tokens_per_step", tokensPerStep);
        o.put("tokens_per_s", round(tokensPerS));
        double modelGflops = flopsPerStep * steps / (totalMs / 1000) / 1e9;
        o.put("model_gflops_per_s", round(modelGflops));
        o.put("flops_per_step", flopsPerStep);
        o.put("flops_formula", FLOPS_FORMULA);
        o.put("step_ms_median", round(median));
        o.put("step_ms_min", round(sorted[0]));
        var each = o.putArray("step_ms");
        for (double ms : stepMs) {
            each.add(Math.round(ms * 10) / 10.0);
        }
        o.put("peak_rss_mb", peakRssMb());
        ObjectNode ph = o.putObject("phase_ms_per_step");
        phases.forEach((k, v) -> ph.put(k.name().toLowerCase(Locale.ROOT), round(v / 1e6 / steps)));
        ObjectNode fam = o.putObject("op_family_ms_per_step");
        long familyTotal = 0;
        for (var e : families.entrySet()) {
            fam.put(e.getKey().name().toLowerCase(Locale.ROOT), round(e.getValue() / 1e6 / steps));
            familyTotal += e.getValue();
        }
        fam.put("outside_kernels", round((totalMs * 1e6 - familyTotal) / 1e6 / steps));
        ObjectNode perOp = o.putObject("op_ms_per_step");
        ops.entrySet().stream().sorted(Map.Entry.<ProfilingBackend.Op, Long>comparingByValue().reversed())
                .forEach(e -> perOp.put(e.getKey().name().toLowerCase(Locale.ROOT), round(e.getValue() / 1e6 / steps)));
        o.put("gemm_share_of_step", round(families.get(ProfilingBackend.Family.GEMM) / (totalMs * 1e6)));
        if (blasBefore != null && blasAfter != null) {
            // the machine's speed around the run: OpenBLAS sgemm before and after the timed steps
            ObjectNode gauge = o.putObject("machine_gauge");
            gauge.put("what", "OpenBLAS cblas_sgemm " + GAUGE_N + "^3, " + threads + " threads, best of " + GAUGE_CALLS
                    + " calls, before and after the timed steps");
            gauge.put("openblas_gflops_before", blasBefore);
            gauge.put("openblas_gflops_after", blasAfter);
            gauge.put("model_gflops_per_openblas_gflops", round(modelGflops / Math.max(blasBefore, blasAfter)));
        } else {
            o.put("machine_gauge", "OpenBLAS not installed (apt-get install libopenblas0-pthread)");
        }
        var losses = o.putArray("losses");
        for (double l : losses(scratch.resolve("metrics.jsonl"), warmup + steps)) {
            losses.add(l);
        }
        return o;
    }

    /** The training loss of steps 0..n-1 from a run's metrics (the step records, not validation ones). */
    static double[] losses(Path metrics, int n) throws IOException {
        double[] out = new double[n];
        Arrays.fill(out, Double.NaN);
        for (String line : Files.readAllLines(metrics)) {
            var j = JSON.readTree(line);
            if (j.has("loss") && j.has("step")) {
                int step = j.get("step").asInt();
                if (step >= 0 && step < n) {
                    out[step] = j.get("loss").asDouble();
                }
            }
        }
        for (int i = 0; i < n; i++) {
            if (Double.isNaN(out[i])) {
                throw new IOException(metrics + " has no training loss for step " + i);
            }
        }
        return out;
    }

    /**
     * Compares the {@code losses} of a result with those of an earlier result (a JSON file written from
     * {@code bench train} output) step by step: adds {@code loss_reference}, {@code loss_max_abs_diff} over
     * the steps both have, and {@code loss_curve_matches} (every step within {@code tolerance}).
     */
    public static boolean compareLosses(ObjectNode result, Path reference, double tolerance) throws IOException {
        var ref = JSON.readTree(Files.readString(reference));
        if (!ref.has("losses") || !ref.get("losses").isArray()) {
            throw new IOException(reference + " has no \"losses\" array: expected the JSON line of an earlier "
                    + "`internlmj bench train` run");
        }
        var mine = result.get("losses");
        int n = Math.min(mine.size(), ref.get("losses").size());
        double maxDiff = 0;
        for (int i = 0; i < n; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(mine.get(i).asDouble() - ref.get("losses").get(i).asDouble()));
        }
        boolean ok = n > 0 && maxDiff <= tolerance;
        result.put("loss_reference", reference.toString());
        result.put("loss_steps_compared", n);
        result.put("loss_max_abs_diff", maxDiff);
        result.put("loss_tolerance", tolerance);
        result.put("loss_curve_matches", ok);
        return ok;
    }

    /** Causal attention FLOPs (forward + backward) of one step: every segment of every micro-batch drawn. */
    private static double attentionFlops(TrainConfig cfg) {
        // packs have segments of at most seq_len; as an estimate independent of the data drawn, count
        // full segments of seq_len (an upper bound for packed documents, exact for pack_sample_into_one)
        double n = cfg.data().seqLen();
        double segments = (double) cfg.data().packedLength() / cfg.data().seqLen() * cfg.data().microNum();
        return 6.0 * cfg.model().hiddenSize() * cfg.model().numLayers() * segments * n * (n + 1);
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    /** Peak resident set (VmHWM) of this process in MiB, or -1 where /proc is not there. */
    static double peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
