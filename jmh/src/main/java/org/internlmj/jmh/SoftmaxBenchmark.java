package org.internlmj.jmh;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.internlmj.tensor.Shapes;
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
 * Row softmax (forward and backward) of F32 {@code [rows, cols]}: vocabulary-sized rows (InternLM's
 * 103168 entries, e.g. sampling from logits) and attention-sized rows (2048 keys). The CPU backend's
 * Vector API kernel on all cores and on one thread, against a plain scalar loop (the baseline: three
 * passes with {@code Math.exp}, fp32, one thread) in the same run.
 *
 * <pre>{@code
 * java -jar jmh/target/benchmarks.jar SoftmaxBenchmark
 * }</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class SoftmaxBenchmark {
    /** rows x cols. */
    @Param({"16x103168", "512x2048"})
    public String shape;

    private int rows;
    private int cols;
    private CpuBackend all;
    private CpuBackend one;
    private float[] xa;
    private float[] ya;
    private float[] dya;
    private float[] dxa;
    private Tensor x;
    private Tensor y;
    private Tensor dy;
    private Tensor dx;

    @Setup(Level.Trial)
    public void setUp() {
        String[] p = shape.split("x");
        rows = Integer.parseInt(p[0]);
        cols = Integer.parseInt(p[1]);
        all = new CpuBackend(Runtime.getRuntime().availableProcessors());
        one = new CpuBackend(1);
        SplittableRandom r = new SplittableRandom(42);
        xa = new float[rows * cols];
        dya = new float[rows * cols];
        for (int i = 0; i < xa.length; i++) {
            xa[i] = (float) (r.nextDouble() * 16 - 8);
            dya[i] = (float) (r.nextDouble() * 2 - 1);
        }
        ya = new float[xa.length];
        dxa = new float[xa.length];
        x = wrap(xa);
        y = wrap(ya);
        dy = wrap(dya);
        dx = wrap(dxa);
        all.softmax(x, y, false);
    }

    private Tensor wrap(float[] a) {
        return Tensor.view(CpuStorage.wrap(a), new int[] {rows, cols}, Shapes.contiguousStrides(rows, cols), 0);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        all.parallel().close();
        one.parallel().close();
    }

    @Benchmark
    public Tensor forwardVectorAllThreads() {
        all.softmax(x, y, false);
        return y;
    }

    @Benchmark
    public Tensor forwardVectorOneThread() {
        one.softmax(x, y, false);
        return y;
    }

    /** Baseline: max, exp-and-sum, scale; fp32, one thread. */
    @Benchmark
    public float[] forwardScalar() {
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) {
                max = Math.max(max, xa[o + j]);
            }
            float sum = 0;
            for (int j = 0; j < cols; j++) {
                float e = (float) Math.exp(xa[o + j] - max);
                ya[o + j] = e;
                sum += e;
            }
            float inv = 1f / sum;
            for (int j = 0; j < cols; j++) {
                ya[o + j] *= inv;
            }
        }
        return ya;
    }

    @Benchmark
    public Tensor backwardVectorAllThreads() {
        all.softmaxBackward(y, dy, dx, false);
        return dx;
    }

    @Benchmark
    public Tensor backwardVectorOneThread() {
        one.softmaxBackward(y, dy, dx, false);
        return dx;
    }

    /** Baseline: {@code dx = y (dy - sum(dy y))}; fp32, one thread. */
    @Benchmark
    public float[] backwardScalar() {
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            float s = 0;
            for (int j = 0; j < cols; j++) {
                s += dya[o + j] * ya[o + j];
            }
            for (int j = 0; j < cols; j++) {
                dxa[o + j] = ya[o + j] * (dya[o + j] - s);
            }
        }
        return dxa;
    }
}
