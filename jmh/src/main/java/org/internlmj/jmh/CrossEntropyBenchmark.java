package org.internlmj.jmh;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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

/**
 * Cross-entropy forward and backward over InternLM's 103,168-token vocabulary, F32 logits, with label
 * smoothing 0.1: the CPU backend's kernel (online log-sum-exp, one read of each row) on all cores and
 * on one thread, against a plain scalar two-pass loop with {@code Math.exp} in the same run.
 *
 * <pre>{@code
 * java -jar jmh/target/benchmarks.jar CrossEntropyBenchmark
 * }</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class CrossEntropyBenchmark {
    private static final float SMOOTHING = 0.1f;
    private static final int IGNORE = -100;

    @Param({"32"})
    public int rows;

    @Param({"103168"})
    public int vocab;

    private CpuBackend all;
    private CpuBackend one;
    private float[] xa;
    private int[] ya;
    private float[] la;
    private float[] za;
    private float[] ga;
    private float[] dla;
    private Tensor x;
    private Tensor y;
    private Tensor loss;
    private Tensor lse;
    private Tensor dloss;
    private Tensor g;

    @Setup(Level.Trial)
    public void setUp() {
        all = new CpuBackend(Runtime.getRuntime().availableProcessors());
        one = new CpuBackend(1);
        SplittableRandom r = new SplittableRandom(3);
        xa = RmsNormBenchmark.random(r, rows * vocab);
        ya = new int[rows];
        for (int i = 0; i < rows; i++) {
            ya[i] = r.nextInt(vocab);
        }
        la = new float[rows];
        za = new float[rows];
        dla = new float[rows];
        java.util.Arrays.fill(dla, 1f / rows);
        ga = new float[rows * vocab];
        x = RmsNormBenchmark.wrap(xa, rows, vocab);
        y = Tensor.view(org.internlmj.tensor.cpu.CpuStorage.wrap(ya), new int[] {rows}, new int[] {1}, 0);
        loss = RmsNormBenchmark.wrap(la, rows);
        lse = RmsNormBenchmark.wrap(za, rows);
        dloss = RmsNormBenchmark.wrap(dla, rows);
        g = RmsNormBenchmark.wrap(ga, rows, vocab);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        all.parallel().close();
        one.parallel().close();
    }

    @Benchmark
    public Tensor forwardVectorAllThreads() {
        all.crossEntropy(x, y, IGNORE, SMOOTHING, loss, lse);
        return loss;
    }

    @Benchmark
    public Tensor forwardVectorOneThread() {
        one.crossEntropy(x, y, IGNORE, SMOOTHING, loss, lse);
        return loss;
    }

    /** Baseline: max and sum in one pass, sum of exp in a second, one thread. */
    @Benchmark
    public float[] forwardScalar() {
        for (int r = 0; r < rows; r++) {
            int o = r * vocab;
            float max = Float.NEGATIVE_INFINITY;
            float sum = 0;
            for (int j = 0; j < vocab; j++) {
                max = Math.max(max, xa[o + j]);
                sum += xa[o + j];
            }
            float se = 0;
            for (int j = 0; j < vocab; j++) {
                se += (float) Math.exp(xa[o + j] - max);
            }
            float z = max + (float) Math.log(se);
            za[r] = z;
            la[r] = (1 - SMOOTHING) * (z - xa[o + ya[r]]) + SMOOTHING * (z - sum / vocab);
        }
        return la;
    }

    @Benchmark
    public Tensor backwardVectorAllThreads() {
        all.crossEntropyBackward(x, y, lse, IGNORE, SMOOTHING, dloss, g);
        return g;
    }

    @Benchmark
    public Tensor backwardVectorOneThread() {
        one.crossEntropyBackward(x, y, lse, IGNORE, SMOOTHING, dloss, g);
        return g;
    }

    /** Baseline: the gradient formula per element with {@code Math.exp}, one thread. */
    @Benchmark
    public float[] backwardScalar() {
        float uniform = SMOOTHING / vocab;
        for (int r = 0; r < rows; r++) {
            int o = r * vocab;
            for (int j = 0; j < vocab; j++) {
                float p = (float) Math.exp(xa[o + j] - za[r]);
                ga[o + j] = dla[r] * (p - (j == ya[r] ? 1 - SMOOTHING : 0) - uniform);
            }
        }
        return ga;
    }
}
