package org.internlmj.trainer.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.internlmj.tensor.cpu.CpuBackend;
import org.internlmj.trainer.bench.GemmBench;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code internlmj bench ...}: kernel benchmarks against a native baseline measured in the same run.
 *
 * <pre>{@code internlmj bench gemm --threads 2 --shapes 1024,4096x2304x768:NT}</pre>
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark kernels against a native baseline in the same JVM; one JSON object per line.",
        subcommands = {BenchCommand.Gemm.class, BenchCommand.Train.class, BenchCommand.Dp.class,
                BenchCommand.DpWorker.class, BenchCommand.Pp.class, BenchCommand.PpWorker.class})
final class BenchCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** {@code internlmj bench gemm}: our CPU GEMM against OpenBLAS {@code cblas_sgemm}. */
    @Command(name = "gemm", mixinStandardHelpOptions = true,
            description = {"Our CPU GEMM against OpenBLAS cblas_sgemm, same threads, same data, same JVM.",
                    "Prints one JSON object per shape: kernel, shape (MxNxK and transposes), threads, gflops, "
                            + "baseline, baseline_gflops, ratio (best of --reps rounds; medians too)."})
    static final class Gemm implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = "--threads", paramLabel = "N",
                description = "Threads for both sides (default: the CPU backend's, i.e. all processors).")
        Integer threads;

        @Option(names = "--shapes", split = ",", paramLabel = "SHAPE",
                description = "Comma-separated shapes: N (square) or MxNxK, optionally :NN/:NT/:TN/:TT "
                        + "(a, b transposed). Default: 256..2048 squares and a 768-wide transformer's "
                        + "Linear GEMMs over 4096 tokens (forward NT, dX NN, dW TN).")
        List<String> shapes;

        @Option(names = "--reps", defaultValue = "5", paramLabel = "R",
                description = "Timed rounds per side and shape (default: ${DEFAULT-VALUE}).")
        int reps;

        @Option(names = "--dtype", defaultValue = "f32", paramLabel = "T",
                description = "f32 (sgemm) or bf16 (our GEMM on bf16 data vs OpenBLAS sgemm; default: ${DEFAULT-VALUE}).")
        String dtype;

        @Option(names = "--warmup-ms", paramLabel = "MS",
                description = "Least warm-up per side and shape in milliseconds (default: 400).")
        int warmupMillis = GemmBench.DEFAULT_WARMUP_MILLIS;

        @Override
        public Integer call() {
            List<GemmBench.Shape> parsed = new ArrayList<>();
            if (shapes == null || shapes.isEmpty()) {
                parsed.addAll(GemmBench.defaultShapes());
            } else {
                for (String s : shapes) {
                    parsed.add(GemmBench.Shape.parse(s));
                }
            }
            int n = threads != null ? threads : CpuBackend.configuredThreads();
            PrintWriter out = spec.commandLine().getOut();
            ObjectMapper json = new ObjectMapper();
            new GemmBench(n, reps, dtype, warmupMillis).run(parsed, result -> {
                try {
                    out.println(json.writeValueAsString(result));
                } catch (JsonProcessingException e) {
                    throw new UncheckedIOException(e);
                }
                out.flush();
            });
            return 0;
        }
    }

    /** {@code internlmj bench train CONFIG}: whole training steps, throughput and where the time goes. */
    @Command(name = "train", mixinStandardHelpOptions = true,
            description = {"Time whole training steps of a config on the CPU after warm-up and print one JSON object:",
                    "tokens_per_s, model_gflops_per_s (formula alongside), step_ms_median, peak_rss_mb, time per phase "
                            + "(data, forward, backward, optimizer) and per op family (gemm, attention, norms, "
                            + "elementwise, other), and the loss of every step. Checkpoints, validation and "
                            + "TensorBoard are off. With --compare-losses, checks the loss curve against an earlier "
                            + "run's."})
    static final class Train implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @CommandLine.Parameters(index = "0", paramLabel = "CONFIG")
        java.nio.file.Path config;

        @Option(names = "--steps", defaultValue = "20", description = "Timed steps (default: ${DEFAULT-VALUE}).")
        int steps;

        // C2 compiles the once-per-step kernels (AdamW, the norm) and the heap stops growing (with young
        // collections of half a second) only some 15-20 s into a run on the 2-core VM: 5 steps were too few.
        @Option(names = "--warmup", defaultValue = "10", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override a config key (repeatable).")
        List<String> overrides = new ArrayList<>();

        @Option(names = "--compare-losses", paramLabel = "FILE",
                description = "An earlier result of this benchmark (its JSON line in a file): compare the loss of "
                        + "every step with it and exit 1 if one differs by more than --loss-tolerance.")
        java.nio.file.Path compareLosses;

        @Option(names = "--loss-tolerance", defaultValue = "2e-3",
                description = "Largest allowed |loss - reference loss| per step (default: ${DEFAULT-VALUE}).")
        double lossTolerance;

        @Override
        public Integer call() throws Exception {
            if (steps < 1 || warmup < 0) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--steps must be >= 1 and --warmup >= 0");
            }
            java.nio.file.Path scratch = java.nio.file.Files.createTempDirectory("internlmj-bench-train");
            try {
                var result = org.internlmj.trainer.bench.TrainBench.run(config, overrides, warmup, steps, scratch);
                boolean matches = compareLosses == null
                        || org.internlmj.trainer.bench.TrainBench.compareLosses(result, compareLosses, lossTolerance);
                spec.commandLine().getOut().println(result.toString());
                if (!matches) {
                    spec.commandLine().getErr().println("the loss curve differs from " + compareLosses + " by "
                            + result.get("loss_max_abs_diff").asDouble() + " > " + lossTolerance);
                    return 1;
                }
            } finally {
                try (var walk = java.nio.file.Files.walk(scratch)) {
                    for (var p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                        java.nio.file.Files.deleteIfExists(p);
                    }
                }
            }
            return 0;
        }
    }

    /** {@code internlmj bench dp CONFIG --nproc N}: data-parallel steps with overlap on and off. */
    @Command(name = "dp", mixinStandardHelpOptions = true,
            description = {"Launch N local worker processes (TCP process group) and time data-parallel training steps,",
                    "once with overlap_sync_grad/overlap_sync_param on and once off; prints one JSON object per "
                            + "setting with the step time and the share of it spent waiting on communication."})
    static final class Dp implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @CommandLine.Parameters(index = "0", paramLabel = "CONFIG")
        java.nio.file.Path config;

        @Option(names = "--nproc", defaultValue = "2", description = "Ranks (default: ${DEFAULT-VALUE}).")
        int nproc;

        @Option(names = "--steps", defaultValue = "10", description = "Timed steps (default: ${DEFAULT-VALUE}).")
        int steps;

        @Option(names = "--warmup", defaultValue = "3", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override a config key (repeatable).")
        List<String> overrides = new ArrayList<>();

        @Override
        public Integer call() {
            for (boolean overlap : new boolean[] {true, false}) {
                List<String> sets = new ArrayList<>(List.of("hybrid_zero_optimizer.overlap_sync_grad=" + overlap,
                        "hybrid_zero_optimizer.overlap_sync_param=" + overlap));
                sets.addAll(overrides);
                int code = launchWorkers(spec, nproc, "dp-worker", config, steps, warmup, sets);
                if (code != 0) {
                    return code;
                }
            }
            return 0;
        }
    }

    /** Runs {@code internlmj launch --nproc N -- bench WORKER CONFIG ... --set ...} in this JVM; its exit code. */
    static int launchWorkers(CommandLine.Model.CommandSpec spec, int nproc, String worker, java.nio.file.Path config,
                             int steps, int warmup, List<String> sets) {
        List<String> args = new ArrayList<>(List.of("launch", "--nproc", Integer.toString(nproc), "--", "bench", worker,
                config.toString(), "--steps", Integer.toString(steps), "--warmup", Integer.toString(warmup)));
        for (String o : sets) {
            args.add("--set");
            args.add(o);
        }
        return Main.run(spec.commandLine().getOut(), spec.commandLine().getErr(), args.toArray(String[]::new));
    }

    /** A worker process of {@code bench dp} or {@code bench pp} (started by the launcher with every option). */
    abstract static class Worker implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @CommandLine.Parameters(index = "0", paramLabel = "CONFIG")
        java.nio.file.Path config;

        @Option(names = "--steps", required = true)
        int steps;

        @Option(names = "--warmup", required = true)
        int warmup;

        @Option(names = "--set")
        List<String> overrides = new ArrayList<>();

        /** This rank's result line, or null on ranks that print none. */
        abstract com.fasterxml.jackson.databind.JsonNode run() throws Exception;

        @Override
        public Integer call() throws Exception {
            var json = run();
            if (json != null) {
                spec.commandLine().getOut().println(json.toString());
            }
            return 0;
        }
    }

    /** The worker process of {@code bench dp}. */
    @Command(name = "dp-worker", hidden = true)
    static final class DpWorker extends Worker {
        @Override
        com.fasterxml.jackson.databind.JsonNode run() throws Exception {
            return org.internlmj.trainer.bench.DpBench.runWorker(config, overrides, warmup, steps);
        }
    }

    /** {@code internlmj bench pp CONFIG --pp P --chunks 1,2 --micro 4,8}: measured pipeline bubble vs theory. */
    @Command(name = "pp", mixinStandardHelpOptions = true,
            description = {"Launch P local worker processes (one pipeline stage each, TCP process group) and time "
                    + "pipeline-parallel training steps for each combination of --chunks and --micro;",
                    "prints one JSON object per setting: the measured bubble (time a stage waits on its neighbours over "
                            + "its compute time, mean over stages) next to the theoretical (p-1)/(v*m) and the "
                            + "idealised replay of the schedule with the measured forward/backward times.",
                    "Give each stage its own cores (P <= processors): stages sharing cores hide their bubbles."})
    static final class Pp implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @CommandLine.Parameters(index = "0", paramLabel = "CONFIG")
        java.nio.file.Path config;

        @Option(names = "--pp", defaultValue = "2", description = "Pipeline stages = processes (default: ${DEFAULT-VALUE}).")
        int stages;

        @Option(names = "--chunks", split = ",", defaultValue = "1",
                description = "model.num_chunks values, comma-separated (default: ${DEFAULT-VALUE}).")
        List<Integer> chunks;

        @Option(names = "--micro", split = ",", description = "data.micro_num values, comma-separated (default: the config's).")
        List<Integer> micro;

        @Option(names = "--overlap", defaultValue = "true", arity = "1",
                description = "parallel.pipeline.interleaved_overlap (default: ${DEFAULT-VALUE}).")
        boolean overlap;

        @Option(names = "--steps", defaultValue = "5", description = "Timed steps (default: ${DEFAULT-VALUE}).")
        int steps;

        @Option(names = "--warmup", defaultValue = "2", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override a config key (repeatable).")
        List<String> overrides = new ArrayList<>();

        @Override
        public Integer call() {
            if (stages < 2 || steps < 1 || warmup < 0) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--pp must be >= 2, --steps >= 1, --warmup >= 0");
            }
            List<Integer> micros = micro == null || micro.isEmpty() ? java.util.Collections.singletonList(null) : micro;
            for (int v : chunks) {
                for (Integer m : micros) {
                    List<String> sets = new ArrayList<>(overrides);
                    sets.addAll(List.of("parallel.pipeline.size=" + stages, "model.num_chunks=" + v,
                            "parallel.pipeline.interleaved_overlap=" + overlap));
                    if (m != null) {
                        sets.add("data.micro_num=" + m);
                    }
                    int code = launchWorkers(spec, stages, "pp-worker", config, steps, warmup, sets);
                    if (code != 0) {
                        return code;
                    }
                }
            }
            return 0;
        }
    }

    /** The worker process of {@code bench pp}. */
    @Command(name = "pp-worker", hidden = true)
    static final class PpWorker extends Worker {
        @Override
        com.fasterxml.jackson.databind.JsonNode run() throws Exception {
            return org.internlmj.trainer.bench.PpBench.runWorker(config, overrides, warmup, steps);
        }
    }
}
