package org.internlmj.jmh;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuBackend;
import org.internlmj.tensor.cpu.CpuStorage;
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

/**
 * RMSNorm forward and backward on {@code [rows, hidden]} F32 activations: the CPU backend's Vector API
 * kernel on all cores and on one thread, against a plain scalar loop (the baseline) in the same run.
 * Bytes moved per call: forward reads x and writes y (8 bytes per element), backward reads x and dy
 * and writes dx (12 bytes per element).
 *
 * <pre>{@code
 * java -jar jmh/target/benchmarks.jar RmsNormBenchmark
 * }</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class RmsNormBenchmark {
    private static final float EPS = 1e-6f;

    @Param({"4096"})
    public int rows;

    @Param({"768", "4096"})
    public int hidden;

    private CpuBackend all;
    private CpuBackend one;
    private Tensor x;
    private Tensor w;
    private Tensor y;
    private Tensor rstd;
    private Tensor dy;
    private Tensor dx;
    private Tensor dw;
    private float[] xa;
    private float[] wa;
    private float[] ya;
    private float[] ra;
    private float[] dya;
    private float[] dxa;
    private float[] dwa;

    @Setup(Level.Trial)
    public void setUp() {
        all = new CpuBackend(Runtime.getRuntime().availableProcessors());
        one = new CpuBackend(1);
        SplittableRandom r = new SplittableRandom(42);
        xa = random(r, rows * hidden);
        dya = random(r, rows * hidden);
        wa = random(r, hidden);
        ya = new float[rows * hidden];
        dxa = new float[rows * hidden];
        ra = new float[rows];
        dwa = new float[hidden];
        x = wrap(xa, rows, hidden);
        dy = wrap(dya, rows, hidden);
        w = wrap(wa, hidden);
        y = wrap(ya, rows, hidden);
        dx = wrap(dxa, rows, hidden);
        rstd = wrap(ra, rows);
        dw = wrap(dwa, hidden);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        all.parallel().close();
        one.parallel().close();
    }

    static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextDouble() * 4 - 2);
        }
        return a;
    }

    static Tensor wrap(float[] a, int... shape) {
        return Tensor.view(CpuStorage.wrap(a), shape, org.internlmj.tensor.Shapes.contiguousStrides(shape), 0);
    }

    @Benchmark
    public Tensor forwardVectorAllThreads() {
        all.rmsNorm(x, w, EPS, y, rstd);
        return y;
    }

    @Benchmark
    public Tensor forwardVectorOneThread() {
        one.rmsNorm(x, w, EPS, y, rstd);
        return y;
    }

    /** Baseline: the textbook loop, fp32, one thread. */
    @Benchmark
    public float[] forwardScalar() {
        int h = hidden;
        for (int r = 0; r < rows; r++) {
            int o = r * h;
            float ss = 0;
            for (int j = 0; j < h; j++) {
                ss += xa[o + j] * xa[o + j];
            }
            float s = 1f / (float) Math.sqrt(ss / h + EPS);
            ra[r] = s;
            for (int j = 0; j < h; j++) {
                ya[o + j] = wa[j] * (xa[o + j] * s);
            }
        }
        return ya;
    }

    @Benchmark
    public Tensor backwardVectorAllThreads() {
        all.rmsNormBackward(x, w, rstd, dy, dx, dw);
        return dx;
    }

    @Benchmark
    public Tensor backwardVectorOneThread() {
        one.rmsNormBackward(x, w, rstd, dy, dx, dw);
        return dx;
    }

    /** Baseline: the textbook backward loop, fp32, one thread, weight gradient summed row by row. */
    @Benchmark
    public float[] backwardScalar() {
        int h = hidden;
        java.util.Arrays.fill(dwa, 0f);
        for (int r = 0; r < rows; r++) {
            int o = r * h;
            float s = ra[r];
            float dot = 0;
            for (int j = 0; j < h; j++) {
                dot += dya[o + j] * wa[j] * xa[o + j];
            }
            dot = dot * s / h;
            for (int j = 0; j < h; j++) {
                float xhat = xa[o + j] * s;
                dxa[o + j] = (dya[o + j] * wa[j] - xhat * dot) * s;
                dwa[j] += dya[o + j] * xhat;
            }
        }
        return dxa;
    }
}
