package org.internlmj.jmh;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;
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
 * Elementwise kernels on F32 {@code [rows, hidden]} activations: {@code a + b}, a bias row added to
 * every row, SiLU, a BF16 to F32 cast (the mixed-precision widening) and a transposed copy (a weight
 * laid out for the backward GEMM). The CPU backend's kernels
 * on all cores and on one thread against plain scalar loops (fp32, one thread; SiLU with
 * {@code Math.exp}) in the same run.
 *
 * <pre>{@code
 * java -jar jmh/target/benchmarks.jar ElementwiseBenchmark
 * }</pre>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class ElementwiseBenchmark {
    @Param({"1024"})
    public int rows;

    @Param({"1024"})
    public int hidden;

    private CpuBackend all;
    private CpuBackend one;
    private float[] aa;
    private float[] ba;
    private float[] biasa;
    private float[] ya;
    private short[] ha;
    private Tensor a;
    private Tensor b;
    private Tensor bias;
    private Tensor y;
    private Tensor h;
    private Tensor yt;

    @Setup(Level.Trial)
    public void setUp() {
        all = new CpuBackend(Runtime.getRuntime().availableProcessors());
        one = new CpuBackend(1);
        SplittableRandom r = new SplittableRandom(7);
        int n = rows * hidden;
        aa = new float[n];
        ba = new float[n];
        biasa = new float[hidden];
        ya = new float[n];
        ha = new short[n];
        for (int i = 0; i < n; i++) {
            aa[i] = (float) (r.nextDouble() * 12 - 6);
            ba[i] = (float) (r.nextDouble() * 12 - 6);
            ha[i] = DType.toBf16Bits(aa[i]);
        }
        for (int i = 0; i < hidden; i++) {
            biasa[i] = (float) r.nextDouble();
        }
        int[] shape = {rows, hidden};
        int[] strides = Shapes.contiguousStrides(shape);
        a = Tensor.view(CpuStorage.wrap(aa), shape, strides, 0);
        b = Tensor.view(CpuStorage.wrap(ba), shape, strides, 0);
        y = Tensor.view(CpuStorage.wrap(ya), shape, strides, 0);
        h = Tensor.view(CpuStorage.wrap(ha, DType.BF16), shape, strides, 0);
        yt = Tensor.view(CpuStorage.wrap(ya), new int[] {hidden, rows}, Shapes.contiguousStrides(hidden, rows), 0);
        bias = Tensor.view(CpuStorage.wrap(biasa), new int[] {hidden}, new int[] {1}, 0);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        all.parallel().close();
        one.parallel().close();
    }

    @Benchmark
    public Tensor addVectorAllThreads() {
        all.binary(BinaryOp.ADD, a, b, y);
        return y;
    }

    @Benchmark
    public Tensor addVectorOneThread() {
        one.binary(BinaryOp.ADD, a, b, y);
        return y;
    }

    @Benchmark
    public float[] addScalar() {
        for (int i = 0; i < ya.length; i++) {
            ya[i] = aa[i] + ba[i];
        }
        return ya;
    }

    @Benchmark
    public Tensor biasVectorAllThreads() {
        all.binary(BinaryOp.ADD, a, bias, y);
        return y;
    }

    @Benchmark
    public Tensor biasVectorOneThread() {
        one.binary(BinaryOp.ADD, a, bias, y);
        return y;
    }

    @Benchmark
    public float[] biasScalar() {
        for (int r = 0; r < rows; r++) {
            int o = r * hidden;
            for (int j = 0; j < hidden; j++) {
                ya[o + j] = aa[o + j] + biasa[j];
            }
        }
        return ya;
    }

    @Benchmark
    public Tensor siluVectorAllThreads() {
        all.unary(UnaryOp.SILU, a, y);
        return y;
    }

    @Benchmark
    public Tensor siluVectorOneThread() {
        one.unary(UnaryOp.SILU, a, y);
        return y;
    }

    @Benchmark
    public float[] siluScalar() {
        for (int i = 0; i < ya.length; i++) {
            float v = aa[i];
            ya[i] = v / (1f + (float) Math.exp(-v));
        }
        return ya;
    }

    @Benchmark
    public Tensor bf16ToF32VectorAllThreads() {
        all.copy(h, y);
        return y;
    }

    @Benchmark
    public Tensor bf16ToF32VectorOneThread() {
        one.copy(h, y);
        return y;
    }

    @Benchmark
    public float[] bf16ToF32Scalar() {
        for (int i = 0; i < ya.length; i++) {
            ya[i] = DType.bf16BitsToFloat(ha[i]);
        }
        return ya;
    }

    @Benchmark
    public Tensor transposeVectorAllThreads() {
        all.copy(a.transpose(0, 1), yt);
        return yt;
    }

    @Benchmark
    public Tensor transposeVectorOneThread() {
        one.copy(a.transpose(0, 1), yt);
        return yt;
    }

    /** Baseline: the textbook transpose, reading rows and writing columns. */
    @Benchmark
    public float[] transposeScalar() {
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < hidden; j++) {
                ya[j * rows + r] = aa[r * hidden + j];
            }
        }
        return ya;
    }
}
