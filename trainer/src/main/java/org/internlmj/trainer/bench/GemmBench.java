package org.internlmj.trainer.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.ffm.NativeLibraryException;
import org.internlmj.ffm.OpenBlas;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuBackend;
import org.internlmj.tensor.testing.TensorAssert;

/**
 * Our CPU GEMM against OpenBLAS's {@code cblas_sgemm}, side by side in one JVM with the same thread
 * count and the same data: for each shape, a time-based warm-up of both, then {@code reps} timed
 * rounds alternating the two (so a burst of load from elsewhere hits both), each round long enough
 * to time reliably. Reports the best round of each side (the least disturbed one on a shared machine)
 * and the median.
 *
 * <pre>{@code
 * new GemmBench(2, 5, "f32", GemmBench.DEFAULT_WARMUP_MILLIS).run(GemmBench.defaultShapes(), json -> System.out.println(json));
 * }</pre>
 */
public final class GemmBench {
    /** Default warm-up per side and shape, at least (caches, page faults, the pools' threads, the JIT). */
    public static final int DEFAULT_WARMUP_MILLIS = 400;
    /** A timed round repeats the call until it lasts at least this long. */
    private static final long ROUND_NANOS = 40_000_000L;
    /**
     * Pause before each timed round: OpenBLAS's idle threads keep spinning for a while after a call
     * (and ours briefly), which would slow whichever side runs next on a 2-core machine.
     */
    private static final long SETTLE_MILLIS = 100;

    /** One GEMM: {@code c[m,n] = op(a) @ op(b)} with op(a) {@code [m,k]} and op(b) {@code [k,n]}. */
    public record Shape(int m, int n, int k, boolean transA, boolean transB) {
        public Shape {
            if (m < 1 || n < 1 || k < 1) {
                throw new IllegalArgumentException("GEMM sizes must be positive, got " + m + "x" + n + "x" + k);
            }
        }

        /**
         * Parses {@code 1024} (square), {@code 4096x768x3072} ({@code MxNxK}) and an optional transpose
         * suffix {@code :NT} (a as stored, b transposed), {@code :TN}, {@code :TT} or {@code :NN}.
         */
        public static Shape parse(String spec) {
            String s = spec.trim();
            String trans = "NN";
            int colon = s.indexOf(':');
            if (colon >= 0) {
                trans = s.substring(colon + 1).trim().toUpperCase(Locale.ROOT);
                s = s.substring(0, colon).trim();
                if (!trans.matches("[NT][NT]")) {
                    throw new IllegalArgumentException("transposes in '" + spec + "' must be NN, NT, TN or TT");
                }
            }
            String[] d = s.toLowerCase(Locale.ROOT).split("x");
            try {
                if (d.length == 1) {
                    int n = Integer.parseInt(d[0]);
                    return new Shape(n, n, n, trans.charAt(0) == 'T', trans.charAt(1) == 'T');
                }
                if (d.length == 3) {
                    return new Shape(Integer.parseInt(d[0]), Integer.parseInt(d[1]), Integer.parseInt(d[2]),
                            trans.charAt(0) == 'T', trans.charAt(1) == 'T');
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException("a shape is N or MxNxK with an optional :NN/:NT/:TN/:TT, got '" + spec + "'");
        }

        /** "4096x2304x768 NT". */
        @Override
        public String toString() {
            return m + "x" + n + "x" + k + " " + (transA ? "T" : "N") + (transB ? "T" : "N");
        }

        public double flops() {
            return 2.0 * m * n * k;
        }
    }

    /**
     * Squares 256..2048, then for each Linear of a 768-wide transformer block over 4096 tokens
     * (qkv 768->2304, attention out 768->768, MLP up 768->3072, MLP down 3072->768) its three GEMMs in
     * the layout our Linear uses, {@code y[T,out] = x[T,in] @ W[out,in]^T}: forward {@code NT}, input
     * gradient {@code dX = dY @ W} ({@code NN}) and weight gradient {@code dW = dY^T @ X} ({@code TN}).
     */
    public static List<Shape> defaultShapes() {
        List<Shape> shapes = new ArrayList<>();
        for (int n : new int[] {256, 512, 1024, 2048}) {
            shapes.add(new Shape(n, n, n, false, false));
        }
        int tokens = 4096;
        int[][] linears = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
        for (int[] l : linears) {
            int in = l[0];
            int out = l[1];
            shapes.add(new Shape(tokens, out, in, false, true));
            shapes.add(new Shape(tokens, in, out, false, false));
            shapes.add(new Shape(out, in, tokens, true, false));
        }
        return shapes;
    }

    private final int threads;
    private final int reps;
    private final DType dtype;
    private final long warmupNanos;

    /**
     * @param threads threads for both sides
     * @param reps    timed rounds per side and shape
     * @param dtype   "f32" (kernel sgemm) or "bf16" (our GEMM on BF16 inputs and output, against
     *                OpenBLAS sgemm on the same values in fp32: OpenBLAS 0.3.21 has no bf16 GEMM in Debian's build)
     * @param warmupMillis least warm-up per side and shape; the run also starts with 2.5x this of
     *                small GEMMs of every layout, so the JIT has compiled the kernels before the first
     *                shape (a tiny first shape would otherwise time unoptimised code)
     */
    public GemmBench(int threads, int reps, String dtype, int warmupMillis) {
        if (threads < 1) {
            throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
        }
        if (reps < 1) {
            throw new IllegalArgumentException("--reps must be >= 1, got " + reps);
        }
        if (warmupMillis < 0) {
            throw new IllegalArgumentException("--warmup-ms must be >= 0, got " + warmupMillis);
        }
        this.threads = threads;
        this.reps = reps;
        this.warmupNanos = warmupMillis * 1_000_000L;
        this.dtype = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32", "fp32", "float32" -> DType.F32;
            case "bf16", "bfloat16" -> DType.BF16;
            default -> throw new IllegalArgumentException("--dtype must be f32 or bf16, got '" + dtype + "'");
        };
    }

    /**
     * How fast this machine runs OpenBLAS's sgemm right now: GFLOP/s of the best of {@code calls} calls on
     * {@code n x n x n} with {@code threads} threads, after two untimed calls; null when OpenBLAS is not
     * installed. A gauge for other benchmarks: on a shared VM the same code runs at different speeds from
     * hour to hour, and a ratio to this figure taken in the same run separates the code from the machine.
     */
    public static Double openBlasGflops(int threads, int n, int calls) {
        if (!NativeLibrary.find(KnownLibraries.OPENBLAS).found()) {
            return null;
        }
        OpenBlas.openblas_set_num_threads(threads);
        float[] values = randomValues(new SplittableRandom(n), n * n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocateFrom(ValueLayout.JAVA_FLOAT, values);
            MemorySegment b = arena.allocateFrom(ValueLayout.JAVA_FLOAT, values);
            MemorySegment c = arena.allocate((long) n * n * Float.BYTES, 64);
            long best = Long.MAX_VALUE;
            for (int i = 0; i < calls + 2; i++) {
                long t0 = System.nanoTime();
                OpenBlas.cblas_sgemm(OpenBlas.CblasRowMajor, OpenBlas.CblasNoTrans, OpenBlas.CblasNoTrans, n, n, n, 1f,
                        a, n, b, n, 0f, c, n);
                long t = System.nanoTime() - t0;
                if (i >= 2) {
                    best = Math.min(best, t);
                }
            }
            return round4(2.0 * n * n * n / best);
        }
    }

    /** Loads OpenBLAS or fails with where it was looked for and how to install it. */
    public static void requireOpenBlas(NativeLibrary.Spec spec) {
        NativeLibrary.Lookup lookup = NativeLibrary.find(spec);
        if (!lookup.found()) {
            throw new NativeLibraryException(lookup.describe()
                    + ". The GEMM benchmark compares with OpenBLAS: apt-get install libopenblas0-pthread");
        }
    }

    /** Benchmarks every shape, handing each result as one JSON object (a map in key order) to {@code out}. */
    public void run(List<Shape> shapes, Consumer<Map<String, Object>> out) {
        requireOpenBlas(KnownLibraries.OPENBLAS);
        OpenBlas.openblas_set_num_threads(threads);
        CpuBackend ours = new CpuBackend(threads);
        try {
            jitWarmUp(ours);
            for (Shape s : shapes) {
                out.accept(measure(ours, s));
            }
        } finally {
            ours.parallel().close();
        }
    }

    private Map<String, Object> measure(CpuBackend ours, Shape s) {
        SplittableRandom rnd = new SplittableRandom(s.m() * 31L + s.n() * 17L + s.k());
        // Stored shapes: a is [k, m] when transposed, b is [n, k] when transposed.
        int aRows = s.transA() ? s.k() : s.m();
        int aCols = s.transA() ? s.m() : s.k();
        int bRows = s.transB() ? s.n() : s.k();
        int bCols = s.transB() ? s.k() : s.n();
        float[] av = randomValues(rnd, aRows * aCols);
        float[] bv = randomValues(rnd, bRows * bCols);
        try (MemoryScope scope = MemoryScope.open(); Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.of(av, dtype, aRows, aCols);
            Tensor b = Tensor.of(bv, dtype, bRows, bCols);
            // OpenBLAS computes on exactly the values our side sees (rounded to bf16 for the bf16 kernel).
            float[] aSeen = a.toFloatArray();
            float[] bSeen = b.toFloatArray();
            Tensor aOp = s.transA() ? a.transpose(0, 1) : a;
            Tensor bOp = s.transB() ? b.transpose(0, 1) : b;
            Tensor c = Tensor.zeros(dtype, Device.CPU, s.m(), s.n());
            MemorySegment sa = arena.allocateFrom(ValueLayout.JAVA_FLOAT, aSeen);
            MemorySegment sb = arena.allocateFrom(ValueLayout.JAVA_FLOAT, bSeen);
            MemorySegment sc = arena.allocate((long) s.m() * s.n() * Float.BYTES, 64);
            Runnable oursCall = () -> ours.matmul(aOp, bOp, c, 1f, 0f);
            Runnable blasCall = () -> OpenBlas.cblas_sgemm(OpenBlas.CblasRowMajor,
                    s.transA() ? OpenBlas.CblasTrans : OpenBlas.CblasNoTrans,
                    s.transB() ? OpenBlas.CblasTrans : OpenBlas.CblasNoTrans,
                    s.m(), s.n(), s.k(), 1f, sa, aCols, sb, bCols, 0f, sc, s.n());

            int oursCalls = warmUp(oursCall);
            int blasCalls = warmUp(blasCall);
            double[] oursSeconds = new double[reps];
            double[] blasSeconds = new double[reps];
            for (int r = 0; r < reps; r++) {
                oursSeconds[r] = round(oursCall, oursCalls);
                blasSeconds[r] = round(blasCall, blasCalls);
            }
            // ||ours - openblas|| / ||openblas||: the two sum in different orders, so ~1e-7 for fp32,
            // bf16 rounding for bf16
            double relError = TensorAssert.relativeError(toDoubles(sc.toArray(ValueLayout.JAVA_FLOAT)),
                    toDoubles(c.toFloatArray()));

            double gflops = s.flops() / min(oursSeconds) / 1e9;
            double baseline = s.flops() / min(blasSeconds) / 1e9;
            Map<String, Object> j = new LinkedHashMap<>();
            j.put("kernel", dtype == DType.F32 ? "sgemm" : "bf16gemm");
            j.put("shape", s.toString());
            j.put("threads", threads);
            j.put("gflops", round4(gflops));
            j.put("baseline", "openblas");
            j.put("baseline_gflops", round4(baseline));
            j.put("ratio", round4(gflops / baseline));
            j.put("stat", "best of " + reps);
            j.put("gflops_median", round4(s.flops() / median(oursSeconds) / 1e9));
            j.put("baseline_gflops_median", round4(s.flops() / median(blasSeconds) / 1e9));
            j.put("rel_error_vs_baseline", Double.parseDouble(String.format(Locale.ROOT, "%.2e", relError)));
            j.put("ours", ours.describe());
            j.put("baseline_config", OpenBlas.config().trim() + (dtype == DType.F32 ? "" : "; cblas_sgemm on the bf16 values"));
            return j;
        }
    }

    private void jitWarmUp(CpuBackend ours) {
        SplittableRandom rnd = new SplittableRandom(7);
        // edge tiles in M and N, two K slices, enough work for every thread, a few rows; every transpose
        int[][] sizes = {{100, 90, 400}, {64, 64, 64}, {3, 300, 400}};
        List<Tensor[]> problems = new ArrayList<>();
        try (MemoryScope scope = MemoryScope.open()) {
            for (int[] d : sizes) {
                for (int t = 0; t < 4; t++) {
                    Tensor a = Tensor.of(randomValues(rnd, d[0] * d[2]), dtype, d[0], d[2]);
                    Tensor b = Tensor.of(randomValues(rnd, d[2] * d[1]), dtype, d[2], d[1]);
                    problems.add(new Tensor[] {
                        (t & 1) != 0 ? a.reshape(d[2], d[0]).transpose(0, 1) : a,
                        (t & 2) != 0 ? b.reshape(d[1], d[2]).transpose(0, 1) : b,
                        Tensor.zeros(dtype, Device.CPU, d[0], d[1])});
                }
            }
            // Passes over the set until the least time has passed and five passes in a row ran within
            // 10% of the fastest: C2 compiles in the background, late on a loaded machine.
            long start = System.nanoTime();
            long best = Long.MAX_VALUE;
            int settled = 0;
            while (true) {
                long t0 = System.nanoTime();
                for (Tensor[] p : problems) {
                    ours.matmul(p[0], p[1], p[2], 1f, 0f);
                }
                long now = System.nanoTime();
                long pass = now - t0;
                best = Math.min(best, pass);
                settled = pass <= best * 1.1 ? settled + 1 : 0;
                if (now - start >= 25 * warmupNanos || (now - start >= warmupNanos * 5 / 2 && settled >= 5)) {
                    return;
                }
            }
        }
    }

    private static double[] toDoubles(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    private static float[] randomValues(SplittableRandom rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return v;
    }

    /**
     * Runs {@code call} in batches until the warm-up time has passed and three batches in a row ran
     * within 10% of the fastest one (the JIT may still be compiling on a loaded machine), or 25 times
     * the warm-up time has passed; returns how many calls make one timed round.
     */
    private int warmUp(Runnable call) {
        long start = System.nanoTime();
        double best = Double.POSITIVE_INFINITY;
        int stable = 0;
        int calls = 1;
        while (true) {
            long t0 = System.nanoTime();
            for (int i = 0; i < calls; i++) {
                call.run();
            }
            long now = System.nanoTime();
            double perCall = (double) (now - t0) / calls;
            best = Math.min(best, perCall);
            stable = perCall <= best * 1.1 ? stable + 1 : 0;
            if (now - start >= 25 * warmupNanos || (now - start >= warmupNanos && stable >= 3)) {
                return (int) Math.max(1, Math.min(100_000, ROUND_NANOS / best));
            }
            calls = (int) Math.max(1, Math.min(100_000, ROUND_NANOS / 4 / perCall));
        }
    }

    /** Seconds per call, averaged over one round of {@code calls} calls. */
    private static double round(Runnable call, int calls) {
        try {
            Thread.sleep(SETTLE_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            call.run();
        }
        return (System.nanoTime() - t0) / 1e9 / calls;
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElseThrow();
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** Four significant digits: enough for GFLOP/s from 0.01 (a tiny shape, cold) to thousands. */
    private static double round4(double v) {
        return new BigDecimal(v).round(new MathContext(4)).doubleValue();
    }
}
