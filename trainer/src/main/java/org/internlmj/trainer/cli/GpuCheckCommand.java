package org.internlmj.trainer.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.internlmj.dist.NcclCheck;
import org.internlmj.dist.NcclProcessGroup;
import org.internlmj.ffm.CFunction;
import org.internlmj.ffm.HeaderCheck;
import org.internlmj.ffm.cuda.Cublas;
import org.internlmj.ffm.cuda.CublasLt;
import org.internlmj.ffm.cuda.Cuda;
import org.internlmj.ffm.cuda.Nccl;
import org.internlmj.ffm.cuda.Nvrtc;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.cuda.CudaBackend;
import org.internlmj.tensor.cuda.CudaProvider;
import org.internlmj.tensor.cuda.GpuCheck;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code internlmj gpu-check}: the GPU session's one command (scripts/gpu-check.sh runs it). Checks
 * the bindings against the host's real headers, every CUDA operation against the CPU backend, the
 * fused attention against the unfused one, GEMMs through cuBLASLt too, NCCL collectives, then times
 * GEMMs, attention and copies; writes the full log and a TSV of results to {@code --out} and prints a
 * short table last. Exit code 1 if any check failed. Hidden: a tool for GPU sessions, not users.
 */
@Command(name = "gpu-check", hidden = true, mixinStandardHelpOptions = true,
        description = "Check and time the CUDA backend on this machine's GPU.")
final class GpuCheckCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Option(names = "--device", defaultValue = "cuda:0", description = "Device to check (default cuda:0).")
    String device;

    @CommandLine.Option(names = "--out", defaultValue = "gpu-check-out", description = "Folder for the log and results.")
    Path out;

    @CommandLine.Option(names = "--no-bench", description = "Skip the timings.")
    boolean noBench;

    @CommandLine.Option(names = "--no-nccl", description = "Skip the NCCL checks.")
    boolean noNccl;

    private record Row(String section, int passed, int failed, String worst) {
    }

    @Override
    public Integer call() throws IOException {
        Files.createDirectories(out);
        PrintWriter console = spec.commandLine().getOut();
        try (OutputStream file = Files.newOutputStream(out.resolve("gpu-check.log"));
             PrintStream log = new PrintStream(new Tee(file, console), true, StandardCharsets.UTF_8)) {
            return run(log, console);
        }
    }

    private int run(PrintStream log, PrintWriter console) throws IOException {
        List<Row> rows = new ArrayList<>();
        List<GpuCheck.Result> all = new ArrayList<>();
        List<GpuCheck.Timing> timings = new ArrayList<>();
        log.println("== environment");
        log.println("java " + Runtime.version() + ", " + Runtime.getRuntime().availableProcessors() + " cpus");
        Device d = Device.parse(device);

        log.println("== bindings against the real headers");
        List<GpuCheck.Result> headers = new ArrayList<>();
        headers.add(header(log, Cuda.header(), Cuda.functions(), HeaderCheck.constantsOf(Cuda.class)));
        headers.add(header(log, Nvrtc.header(), Nvrtc.functions(), HeaderCheck.constantsOf(Nvrtc.class)));
        headers.add(header(log, Cublas.header(), Cublas.functions(), HeaderCheck.constantsOf(Cublas.class)));
        Map<String, Long> lt = new HashMap<>(HeaderCheck.constantsOf(CublasLt.class));
        lt.putAll(CublasLt.layoutChecks());
        headers.add(header(log, CublasLt.header(), CublasLt.functions(), lt));
        Map<String, Long> nccl = new HashMap<>(HeaderCheck.constantsOf(Nccl.class));
        nccl.putAll(Nccl.layoutChecks());
        headers.add(header(log, Nccl.header(), Nccl.functions(), nccl));
        rows.add(summarize("headers", headers));
        all.addAll(headers);

        String why = new CudaProvider().unavailableReason(d);
        if (why != null) {
            log.println("FAIL " + d + " unavailable: " + why);
            console.println("gpu-check: " + d + " unavailable: " + why);
            return 1;
        }
        CudaBackend gpu = (CudaBackend) org.internlmj.tensor.Backends.of(d);
        log.println("backend: " + gpu.describe());
        log.println("kernel cache: " + System.getProperty("internlmj.kernel.cache", "(default)"));

        log.println("== correctness against the CPU backend");
        long t0 = System.nanoTime();
        List<GpuCheck.Result> ops = GpuCheck.correctness(gpu, log);
        log.printf("(%.1f s, kernels compiled by NVRTC on first use)%n", (System.nanoTime() - t0) / 1e9);
        rows.add(summarize("ops (" + gpu.gemmLibrary() + ")", ops));
        all.addAll(ops);
        for (String r : GpuCheck.kernelResources(gpu)) {
            log.println("resources " + r);
        }

        log.println("== GEMMs through cuBLASLt");
        CudaBackend lt2 = null;
        String previous = System.getProperty("internlmj.cuda.gemm");
        try {
            System.setProperty("internlmj.cuda.gemm", "cublaslt");
            lt2 = new CudaBackend(d);
            List<GpuCheck.Result> ltResults = GpuCheck.matmulCorrectness(lt2, log);
            rows.add(summarize("matmul (cublaslt)", ltResults));
            all.addAll(ltResults);
        } catch (RuntimeException e) {
            e.printStackTrace(log);
            GpuCheck.Result r = new GpuCheck.Result("cuBLASLt backend", Double.POSITIVE_INFINITY, 0, "threw " + e);
            rows.add(summarize("matmul (cublaslt)", List.of(r)));
            all.add(r);
        } finally {
            if (previous == null) {
                System.clearProperty("internlmj.cuda.gemm");
            } else {
                System.setProperty("internlmj.cuda.gemm", previous);
            }
        }

        if (!noNccl) {
            log.println("== NCCL");
            String ncclWhy = NcclProcessGroup.unavailableReason();
            if (ncclWhy != null) {
                GpuCheck.Result r = new GpuCheck.Result("NCCL available", 1, 0, ncclWhy);
                log.println("FAIL NCCL unavailable: " + ncclWhy);
                rows.add(summarize("nccl", List.of(r)));
                all.add(r);
            } else {
                int ranks = 1;
                while (new CudaProvider().unavailableReason(Device.cuda(ranks)) == null) {
                    ranks++;
                }
                List<GpuCheck.Result> n = NcclCheck.run(ranks, log);
                rows.add(summarize("nccl (" + ranks + " rank" + (ranks > 1 ? "s)" : ")"), n));
                all.addAll(n);
            }
        }

        if (!noBench) {
            log.println("== timings (CUDA events, median after warm-up)");
            timings.addAll(GpuCheck.benchmarks(gpu, log));
            if (lt2 != null) {
                timings.addAll(GpuCheck.gemmBenchmarks(lt2, log));
            }
        }
        if (lt2 != null) {
            lt2.close();
        }

        StringBuilder tsv = new StringBuilder("check\terror\tbound\tpassed\tnote\n");
        for (GpuCheck.Result r : all) {
            tsv.append(r.name()).append('\t').append(r.error()).append('\t').append(r.bound()).append('\t')
                    .append(r.passed()).append('\t').append(r.note().replace('\t', ' ').replace('\n', ' ')).append('\n');
        }
        Files.writeString(out.resolve("results.tsv"), tsv.toString());
        StringBuilder times = new StringBuilder("timing\tms\trate\n");
        for (GpuCheck.Timing t : timings) {
            times.append(t.name()).append('\t').append(t.millis()).append('\t').append(t.rate()).append('\n');
        }
        Files.writeString(out.resolve("timings.tsv"), times.toString());

        log.println("== summary");
        log.printf("%-28s %6s %6s  %s%n", "section", "passed", "failed", "worst failure");
        int failed = 0;
        for (Row r : rows) {
            log.printf("%-28s %6d %6d  %s%n", r.section(), r.passed(), r.failed(), r.worst());
            failed += r.failed();
        }
        for (GpuCheck.Timing t : timings) {
            log.printf("%-64s %9.3f ms  %s%n", t.name(), t.millis(), t.rate());
        }
        log.println(failed == 0 ? "ALL CHECKS PASSED" : failed + " CHECKS FAILED (see " + out.resolve("gpu-check.log") + ")");
        return failed == 0 ? 0 : 1;
    }

    private static GpuCheck.Result header(PrintStream log, HeaderCheck.Header h, List<CFunction> functions,
                                          Map<String, Long> constants) {
        HeaderCheck.Result r = HeaderCheck.check(h, functions, constants);
        log.println((r.status() == HeaderCheck.Status.FAILED ? "FAIL " : "") + h.file() + ": " + r.status() + ": "
                + r.message());
        // A header the GPU host lacks is reported, not failed: the check needs it to exist.
        double error = r.status() == HeaderCheck.Status.FAILED ? 1 : 0;
        return new GpuCheck.Result("header " + h.file() + " " + r.status(), error, 0, r.message());
    }

    private static Row summarize(String section, List<GpuCheck.Result> results) {
        int failed = 0;
        String worst = "";
        for (GpuCheck.Result r : results) {
            if (!r.passed()) {
                failed++;
                if (worst.isEmpty()) {
                    worst = r.name() + " (" + r.error() + " > " + r.bound() + ")";
                }
            }
        }
        return new Row(section, results.size() - failed, failed, worst);
    }

    /** Writes everything to the log file and the console. */
    private static final class Tee extends OutputStream {
        private final OutputStream file;
        private final PrintWriter console;

        Tee(OutputStream file, PrintWriter console) {
            this.file = file;
            this.console = console;
        }

        @Override
        public void write(int b) throws IOException {
            file.write(b);
            console.write(b);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            file.write(b, off, len);
            console.write(new String(b, off, len, StandardCharsets.UTF_8));
        }

        @Override
        public void flush() throws IOException {
            file.flush();
            console.flush();
        }
    }
}
