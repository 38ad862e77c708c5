package org.internlmj.jmh;

import java.util.Random;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuBackend;
import org.internlmj.tensor.cpu.CpuStorage;
import org.internlmj.tensor.cpu.Parallel;
import org.internlmj.tensor.cpu.Simd;
import org.openjdk.jmh.annotations.AuxCounters;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The CPU backend's flash-style attention (forward and backward, one packed document, causal) against
 * an unfused baseline in the same run: per head the whole {@code [T, T]} score matrix is materialised
 * with a vectorised dot product per entry, softmaxed row by row, then multiplied by V; the backward
 * materialises P, dP and dS the same way. Both run on the backend's thread pool, one head per task.
 *
 * <p>The {@code gflop} secondary result is the rate of model FLOPs in GFLOP/s: {@code 4 T^2 D H} for the
 * forward, halved when causal, and 2.5 times that for the backward (its five {@code T x T x D} products).
 *
 * <pre>{@code
 * java -jar jmh/target/benchmarks.jar AttentionBenchmark -p tokens=2048 -p headDim=128
 * }</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsPrepend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
// The Vector API runs interpreted (and boxed) until C2 compiles the kernels: the first calls are up to
// 100x slower, so warm up for longer than usual.
@Warmup(iterations = 4, time = 3)
@Measurement(iterations = 3, time = 3)
public class AttentionBenchmark {
    @Param({"512", "2048"})
    public int tokens;

    @Param({"16"})
    public int heads;

    @Param({"64", "128"})
    public int headDim;

    @Param({"true"})
    public boolean causal;

    private CpuBackend cpu;
    private float scale;
    private Tensor q;
    private Tensor k;
    private Tensor v;
    private Tensor out;
    private Tensor lse;
    private Tensor dout;
    private Tensor dq;
    private Tensor dk;
    private Tensor dv;
    private Tensor cuSeqlens;
    private Unfused unfused;
    private double forwardGflop;

    /** Model FLOPs done, in GFLOP; JMH reports it per second. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Flops {
        public double gflop;
    }

    @Setup(Level.Trial)
    public void setup() {
        cpu = CpuBackend.shared();
        scale = (float) (1 / Math.sqrt(headDim));
        Random rnd = new Random(42);
        q = random(rnd);
        k = random(rnd);
        v = random(rnd);
        dout = random(rnd);
        out = Tensor.empty(DType.F32, Device.CPU, tokens, heads, headDim);
        lse = Tensor.empty(DType.F32, Device.CPU, heads, tokens);
        dq = Tensor.empty(DType.F32, Device.CPU, tokens, heads, headDim);
        dk = Tensor.empty(DType.F32, Device.CPU, tokens, heads, headDim);
        dv = Tensor.empty(DType.F32, Device.CPU, tokens, heads, headDim);
        cuSeqlens = Tensor.ofInts(new int[] {0, tokens}, 2);
        forwardGflop = 4.0 * tokens * tokens * headDim * heads / (causal ? 2 : 1) / 1e9;
        unfused = new Unfused(cpu.parallel(), tokens, heads, headDim, causal, scale);

        // The two paths must agree before their speeds mean anything.
        fusedForward(new Flops());
        fusedBackward(new Flops());
        unfused.forward(f32(q), f32(k), f32(v));
        unfused.backward(f32(q), f32(k), f32(v), f32(dout));
        agree("out", f32(out), unfused.out);
        agree("lse", f32(lse), unfused.lse);
        agree("dq", f32(dq), unfused.dq);
        agree("dk", f32(dk), unfused.dk);
        agree("dv", f32(dv), unfused.dv);
    }

    @Benchmark
    public void fusedForward(Flops flops) {
        cpu.attention(q, k, v, cuSeqlens, scale, causal, out, lse);
        flops.gflop += forwardGflop;
    }

    @Benchmark
    public void unfusedForward(Flops flops) {
        unfused.forward(f32(q), f32(k), f32(v));
        flops.gflop += forwardGflop;
    }

    @Benchmark
    public void fusedBackward(Flops flops) {
        cpu.attentionBackward(q, k, v, out, dout, lse, cuSeqlens, scale, causal, dq, dk, dv);
        flops.gflop += 2.5 * forwardGflop;
    }

    @Benchmark
    public void unfusedBackward(Flops flops) {
        unfused.backward(f32(q), f32(k), f32(v), f32(dout));
        flops.gflop += 2.5 * forwardGflop;
    }

    private Tensor random(Random rnd) {
        float[] data = new float[tokens * heads * headDim];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian();
        }
        return Tensor.of(data, tokens, heads, headDim);
    }

    private static float[] f32(Tensor t) {
        return ((CpuStorage) t.storage()).f32();
    }

    private static void agree(String what, float[] fused, float[] baseline) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < fused.length; i++) {
            double d = fused[i] - baseline[i];
            num += d * d;
            den += (double) baseline[i] * baseline[i];
        }
        double rel = Math.sqrt(num / Math.max(den, Double.MIN_NORMAL));
        if (!(rel < 1e-4)) {
            throw new IllegalStateException(what + ": fused and unfused attention differ, relative error " + rel);
        }
    }

    /**
     * The baseline: plain attention with materialised {@code [T, T]} matrices per head (one set per
     * thread), vectorised dot products and axpys, {@code Math.exp} softmax. It keeps P from the forward
     * for the backward, as a framework without fusion would.
     */
    static final class Unfused {
        private static final VectorSpecies<Float> F = Simd.F;

        private final Parallel parallel;
        private final int t;
        private final int heads;
        private final int d;
        private final boolean causal;
        private final float scale;
        private final float[][] probs;
        private final ThreadLocal<float[]> dsScratch;
        final float[] out;
        final float[] lse;
        final float[] dq;
        final float[] dk;
        final float[] dv;

        Unfused(Parallel parallel, int t, int heads, int d, boolean causal, float scale) {
            this.parallel = parallel;
            this.t = t;
            this.heads = heads;
            this.d = d;
            this.causal = causal;
            this.scale = scale;
            probs = new float[heads][t * t];
            dsScratch = ThreadLocal.withInitial(() -> new float[t * t]);
            out = new float[t * heads * d];
            lse = new float[heads * t];
            dq = new float[out.length];
            dk = new float[out.length];
            dv = new float[out.length];
        }

        private int last(int i) {
            return causal ? i : t - 1;
        }

        void forward(float[] q, float[] k, float[] v) {
            parallel.forEach(heads, h -> {
                float[] p = probs[h];
                for (int i = 0; i < t; i++) {
                    int row = i * t;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j <= last(i); j++) {
                        float s = dot(q, (i * heads + h) * d, k, (j * heads + h) * d) * scale;
                        p[row + j] = s;
                        max = Math.max(max, s);
                    }
                    float sum = 0;
                    for (int j = 0; j <= last(i); j++) {
                        float e = (float) Math.exp(p[row + j] - max);
                        p[row + j] = e;
                        sum += e;
                    }
                    float inv = 1 / sum;
                    for (int j = 0; j <= last(i); j++) {
                        p[row + j] *= inv;
                    }
                    lse[h * t + i] = max + (float) Math.log(sum);
                    int o = (i * heads + h) * d;
                    java.util.Arrays.fill(out, o, o + d, 0f);
                    for (int j = 0; j <= last(i); j++) {
                        axpy(p[row + j], v, (j * heads + h) * d, out, o);
                    }
                }
            });
        }

        /** Needs {@link #forward} first (its P and out). */
        void backward(float[] q, float[] k, float[] v, float[] dout) {
            parallel.forEach(heads, h -> {
                float[] p = probs[h];
                float[] ds = dsScratch.get();
                for (int i = 0; i < t; i++) {
                    int qi = (i * heads + h) * d;
                    float di = dot(dout, qi, out, qi);
                    for (int j = 0; j <= last(i); j++) {
                        float dp = dot(dout, qi, v, (j * heads + h) * d);
                        ds[i * t + j] = p[i * t + j] * (dp - di);
                    }
                }
                for (int i = 0; i < t; i++) {
                    int qi = (i * heads + h) * d;
                    java.util.Arrays.fill(dq, qi, qi + d, 0f);
                    java.util.Arrays.fill(dk, qi, qi + d, 0f);
                    java.util.Arrays.fill(dv, qi, qi + d, 0f);
                }
                for (int i = 0; i < t; i++) {
                    int qi = (i * heads + h) * d;
                    for (int j = 0; j <= last(i); j++) {
                        int kj = (j * heads + h) * d;
                        float dsij = ds[i * t + j] * scale;
                        axpy(p[i * t + j], dout, qi, dv, kj);
                        axpy(dsij, q, qi, dk, kj);
                        axpy(dsij, k, kj, dq, qi);
                    }
                }
            });
        }

        private float dot(float[] a, int ao, float[] b, int bo) {
            FloatVector acc = FloatVector.zero(F);
            int e = 0;
            for (; e <= d - F.length(); e += F.length()) {
                acc = FloatVector.fromArray(F, a, ao + e).fma(FloatVector.fromArray(F, b, bo + e), acc);
            }
            float s = acc.reduceLanes(VectorOperators.ADD);
            for (; e < d; e++) {
                s += a[ao + e] * b[bo + e];
            }
            return s;
        }

        private void axpy(float alpha, float[] x, int xo, float[] y, int yo) {
            FloatVector a = FloatVector.broadcast(F, alpha);
            int e = 0;
            for (; e <= d - F.length(); e += F.length()) {
                a.fma(FloatVector.fromArray(F, x, xo + e), FloatVector.fromArray(F, y, yo + e)).intoArray(y, yo + e);
            }
            for (; e < d; e++) {
                y[yo + e] += alpha * x[xo + e];
            }
        }
    }
}
