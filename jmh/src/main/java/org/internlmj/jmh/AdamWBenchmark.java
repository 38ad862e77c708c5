package org.internlmj.jmh;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.DType;
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
 * One AdamW step over {@code size} fp32 master weights, split into {@code size / tensor} parameter
 * tensors updated one call each (as an optimiser walks its parameters): the CPU backend's kernel with
 * a fused BF16 model copy, on all cores and on one thread, against a plain scalar loop doing the same
 * work (update plus BF16 copy) in the same run. Each element moves 22 bytes (p, m, v read and written,
 * grad read, copy written). {@code tensor=4096} is the many-small-tensors case (norm weights).
 *
 * <pre>{@code
 * java -jar jmh/target/benchmarks.jar AdamWBenchmark
 * }</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class AdamWBenchmark {

    @Param({"4194304"})
    public int size;

    @Param({"4096", "4194304"})
    public int tensor;

    private CpuBackend all;
    private CpuBackend one;
    private float[] p;
    private float[] g;
    private float[] m;
    private float[] v;
    private short[] copy;
    private Tensor[] pt;
    private Tensor[] gt;
    private Tensor[] mt;
    private Tensor[] vt;
    private Tensor[] ct;
    private final AdamWStep step = new AdamWStep(3e-4, 0.9, 0.95, 1e-8, 0.01, 10, 0.5);

    @Setup(Level.Trial)
    public void setUp() {
        all = new CpuBackend(Runtime.getRuntime().availableProcessors());
        one = new CpuBackend(1);
        SplittableRandom r = new SplittableRandom(7);
        p = RmsNormBenchmark.random(r, size);
        g = RmsNormBenchmark.random(r, size);
        m = new float[size];
        v = new float[size];
        copy = new short[size];
        int count = size / tensor;
        pt = new Tensor[count];
        gt = new Tensor[count];
        mt = new Tensor[count];
        vt = new Tensor[count];
        ct = new Tensor[count];
        for (int i = 0; i < count; i++) {
            pt[i] = slice(CpuStorage.wrap(p), i);
            gt[i] = slice(CpuStorage.wrap(g), i);
            mt[i] = slice(CpuStorage.wrap(m), i);
            vt[i] = slice(CpuStorage.wrap(v), i);
            ct[i] = slice(CpuStorage.wrap(copy, DType.BF16), i);
        }
    }

    private Tensor slice(CpuStorage s, int i) {
        return Tensor.view(s, new int[] {tensor}, new int[] {1}, i * tensor);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        all.parallel().close();
        one.parallel().close();
    }

    @Benchmark
    public float[] vectorAllThreads() {
        for (int i = 0; i < pt.length; i++) {
            all.adamw(pt[i], gt[i], mt[i], vt[i], step, ct[i]);
        }
        return p;
    }

    @Benchmark
    public float[] vectorOneThread() {
        for (int i = 0; i < pt.length; i++) {
            one.adamw(pt[i], gt[i], mt[i], vt[i], step, ct[i]);
        }
        return p;
    }

    /** Baseline: the update as a plain scalar loop per tensor, fp32, one thread, with the BF16 copy. */
    @Benchmark
    public float[] scalar() {
        float decay = (float) (1 - step.lr() * step.weightDecay());
        float scale = (float) step.gradScale();
        float b1 = (float) step.beta1();
        float b2 = (float) step.beta2();
        float c1 = (float) (1 - step.beta1());
        float c2 = (float) (1 - step.beta2());
        float stepSize = (float) (step.lr() / step.biasCorrection1());
        float bc2Sqrt = (float) Math.sqrt(step.biasCorrection2());
        float eps = (float) step.eps();
        for (int t = 0; t < pt.length; t++) {
            for (int i = t * tensor, end = i + tensor; i < end; i++) {
                float gi = g[i] * scale;
                m[i] = m[i] * b1 + c1 * gi;
                v[i] = v[i] * b2 + c2 * gi * gi;
                p[i] = p[i] * decay - m[i] / ((float) Math.sqrt(v[i]) / bc2Sqrt + eps) * stepSize;
                copy[i] = DType.toBf16Bits(p[i]);
            }
        }
        return p;
    }
}
