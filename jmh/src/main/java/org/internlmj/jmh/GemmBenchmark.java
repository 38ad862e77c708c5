package org.internlmj.jmh;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.internlmj.ffm.OpenBlas;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuBackend;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Our CPU GEMM ({@code ours}) against OpenBLAS {@code cblas_sgemm} ({@code openblas}) in the same run,
 * on the same data, with the same thread count ({@code -p threads=N}; default all processors). Time per
 * call; GFLOP/s = 2*M*N*K / time, and the ratio is the two lines' quotient.
 *
 * <pre>{@code
 * java -jar jmh/target/benchmarks.jar GemmBenchmark -p shape=1024,4096x2304x768:NT -p threads=2
 * }</pre>
 *
 * <p>Shapes: squares, and a 768-wide transformer's Linear GEMMs over 4096 tokens in our Linear's layout
 * ({@code y = x W^T}): forward {@code NT}, input gradient {@code NN}, weight gradient {@code TN}
 * (the same set as {@code internlmj bench gemm}). The forks run with AVX-512 on
 * ({@code -XX:UseAVX=3}); on a CPU without it the JVM warns and uses what it has.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseParallelGC", "-XX:UseAVX=3"})
@State(Scope.Benchmark)
public class GemmBenchmark {

    /** {@code N} (square) or {@code MxNxK}, with {@code :NT} etc. for transposed a and b. */
    @Param({"256", "512", "1024", "2048",
            "4096x2304x768:NT", "4096x768x2304:NN", "2304x768x4096:TN",
            "4096x768x768:NT", "4096x768x768:NN", "768x768x4096:TN",
            "4096x3072x768:NT", "4096x768x3072:NN", "3072x768x4096:TN",
            "4096x768x3072:NT", "4096x3072x768:NN", "768x3072x4096:TN"})
    public String shape;

    /** Threads for both sides; 0 means all available processors. */
    @Param({"0"})
    public int threads;

    private CpuBackend ours;
    private Tensor a;
    private Tensor b;
    private Tensor c;
    private Arena arena;
    private MemorySegment sa;
    private MemorySegment sb;
    private MemorySegment sc;
    private int m;
    private int n;
    private int k;
    private boolean transA;
    private boolean transB;

    @Setup(Level.Trial)
    public void setUp() {
        String[] parts = shape.split(":");
        String[] d = parts[0].split("x");
        m = Integer.parseInt(d[0]);
        n = d.length == 3 ? Integer.parseInt(d[1]) : m;
        k = d.length == 3 ? Integer.parseInt(d[2]) : m;
        String trans = parts.length > 1 ? parts[1] : "NN";
        transA = trans.charAt(0) == 'T';
        transB = trans.charAt(1) == 'T';
        int t = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        ours = new CpuBackend(t);
        OpenBlas.openblas_set_num_threads(t);

        SplittableRandom rnd = new SplittableRandom(42);
        float[] av = random(rnd, m * k);
        float[] bv = random(rnd, k * n);
        a = transA ? Tensor.of(av, k, m).transpose(0, 1) : Tensor.of(av, m, k);
        b = transB ? Tensor.of(bv, n, k).transpose(0, 1) : Tensor.of(bv, k, n);
        c = Tensor.zeros(DType.F32, Device.CPU, m, n);
        arena = Arena.ofShared();
        sa = arena.allocateFrom(ValueLayout.JAVA_FLOAT, av);
        sb = arena.allocateFrom(ValueLayout.JAVA_FLOAT, bv);
        sc = arena.allocate((long) m * n * Float.BYTES, 64);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
        ours.parallel().close();
    }

    private static float[] random(SplittableRandom rnd, int count) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return v;
    }

    @Benchmark
    public void ours(Blackhole bh) {
        ours.matmul(a, b, c, 1f, 0f);
        bh.consume(c);
    }

    @Benchmark
    public void openblas(Blackhole bh) {
        OpenBlas.cblas_sgemm(OpenBlas.CblasRowMajor, transA ? OpenBlas.CblasTrans : OpenBlas.CblasNoTrans,
                transB ? OpenBlas.CblasTrans : OpenBlas.CblasNoTrans, m, n, k, 1f, sa, transA ? m : k, sb,
                transB ? k : n, 0f, sc, n);
        bh.consume(sc);
    }
}
