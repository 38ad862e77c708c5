package org.internlmj.tensor.cuda;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;
import org.internlmj.tensor.cpu.CpuBackend;
import org.internlmj.tensor.cpu.CpuStorage;
import org.internlmj.tensor.testing.TensorAssert;

/**
 * The GPU session's correctness and speed check of the CUDA backend: every operation against the CPU
 * backend on fresh random inputs (outputs poisoned with NaN first, so an unwritten element fails),
 * judged by {@code ||gpu - cpu|| / ||cpu||} within fp32 or bf16/fp16 bounds, or bit for bit where the
 * two backends compute the same operations (conversions, random numbers, AdamW); the fused attention
 * against the unfused cuBLAS reference; cuBLAS and cuBLASLt GEMM throughput, attention and copy timings
 * with CUDA events (median of repeats after warm-up). Run by {@code internlmj gpu-check} and the
 * gpu-tagged tests.
 *
 * <pre>{@code
 * List<GpuCheck.Result> r = GpuCheck.correctness(gpu, System.out);
 * }</pre>
 */
public final class GpuCheck {
    /** One comparison: passed when {@code error <= bound} (and, for exact checks, error is 0). */
    public record Result(String name, double error, double bound, String note) {
        public boolean passed() {
            return error <= bound;
        }
    }

    /** One timing: median milliseconds and the derived rate. */
    public record Timing(String name, double millis, String rate) {
    }

    private final CudaBackend gpu;
    private final CpuBackend cpu = CpuBackend.shared();
    private final PrintStream log;
    private final Random random = new Random(20261127);
    private final List<Result> results = new ArrayList<>();

    private GpuCheck(CudaBackend gpu, PrintStream log) {
        this.gpu = gpu;
        this.log = log;
    }

    /** Bound on ||gpu - cpu|| / ||cpu|| for results stored in {@code dtype}. */
    static double bound(DType dtype) {
        return switch (dtype) {
            case BF16 -> 1e-2;
            case F16 -> 2e-3;
            default -> 2e-5;
        };
    }

    // ---------------------------------------------------------------- tensors in pairs

    /** The same values on the CPU and on the GPU. */
    private record Pair(Tensor cpu, Tensor gpu) {
    }

    private Tensor cpuTensor(DType dtype, int... shape) {
        return Tensor.view(CpuStorage.allocate(dtype, Shapes.numel(shape)), shape, Shapes.contiguousStrides(shape), 0);
    }

    private Tensor gpuTensor(DType dtype, int... shape) {
        return gpu.temporary(dtype, shape);
    }

    /** Normal random values (scaled, shifted) rounded to dtype, on both devices. */
    private Pair random(DType dtype, double mean, double std, int... shape) {
        Tensor c = cpuTensor(dtype, shape);
        cpu.fillRandom(c, Backend.Distribution.NORMAL, mean, std, random.nextLong(), 0);
        Tensor g = gpuTensor(dtype, shape);
        gpu.transfer(c, g);
        return new Pair(c, g);
    }

    private Pair ints(DType dtype, int bound, int... shape) {
        Tensor c = cpuTensor(dtype, shape);
        CpuStorage s = (CpuStorage) c.storage();
        for (int i = 0; i < c.numel(); i++) {
            s.set(i, random.nextInt(bound));
        }
        Tensor g = gpuTensor(dtype, shape);
        gpu.transfer(c, g);
        return new Pair(c, g);
    }

    /** An output pair; the GPU side is poisoned with NaN (or -1 for integers). */
    private Pair output(DType dtype, int... shape) {
        Tensor g = gpuTensor(dtype, shape);
        gpu.fill(g, dtype.isFloating() ? Double.NaN : -1);
        return new Pair(cpuTensor(dtype, shape), g);
    }

    private void compare(String name, Pair p, double bound) {
        Tensor back = cpuTensor(p.gpu().dtype(), p.gpu().shape());
        gpu.transfer(p.gpu(), back);
        double[] e = p.cpu().toDoubleArray();
        double[] a = back.toDoubleArray();
        double err = TensorAssert.relativeError(e, a);
        if (Double.isNaN(err)) {
            err = Double.POSITIVE_INFINITY;
        }
        String note = err <= bound ? "" : "max |diff| " + TensorAssert.maxAbsDiff(e, a);
        record(new Result(name, err, bound, note));
    }

    private void compareExact(String name, Pair p) {
        Tensor back = cpuTensor(p.gpu().dtype(), p.gpu().shape());
        gpu.transfer(p.gpu(), back);
        double[] e = p.cpu().toDoubleArray();
        double[] a = back.toDoubleArray();
        int diff = 0;
        for (int i = 0; i < e.length; i++) {
            if (Double.doubleToRawLongBits(e[i]) != Double.doubleToRawLongBits(a[i])
                    && !(Double.isNaN(e[i]) && Double.isNaN(a[i]))) {
                diff++;
            }
        }
        record(new Result(name, diff, 0, diff == 0 ? "bit-identical" : diff + " of " + e.length + " elements differ"));
    }

    private void record(Result r) {
        results.add(r);
        log.printf("%-4s %-58s %.3e (bound %.1e) %s%n", r.passed() ? "ok" : "FAIL", r.name(), r.error(), r.bound(),
                r.note());
    }

    /** Runs {@code body}, recording an exception as a failed check instead of stopping the run. */
    private void guarded(String name, Runnable body) {
        try {
            body.run();
            gpu.synchronize();
        } catch (RuntimeException | AssertionError e) {
            record(new Result(name, Double.POSITIVE_INFINITY, 0, "threw " + e));
            e.printStackTrace(log);
        }
    }

    // ---------------------------------------------------------------- correctness

    /** Every operation against the CPU backend; returns all results (the failed ones have passed() false). */
    public static List<Result> correctness(CudaBackend gpu, PrintStream log) {
        GpuCheck c = new GpuCheck(gpu, log);
        c.guarded("copy and fill", c::copies);
        c.guarded("random", c::randomFill);
        c.guarded("elementwise", c::elementwise);
        c.guarded("reductions", c::reductions);
        c.guarded("softmax", c::softmax);
        c.guarded("norms", c::norms);
        c.guarded("rotary", c::rotary);
        c.guarded("swiglu", c::swiglu);
        c.guarded("embedding", c::embedding);
        c.guarded("cross-entropy", c::crossEntropy);
        c.guarded("matmul", c::matmul);
        c.guarded("attention", c::attention);
        c.guarded("adamw", c::adamw);
        c.guarded("device-side argument errors", c::deviceErrors);
        return c.results;
    }

    /** Only the GEMM comparisons (to run them again with cuBLASLt). */
    public static List<Result> matmulCorrectness(CudaBackend gpu, PrintStream log) {
        GpuCheck c = new GpuCheck(gpu, log);
        c.guarded("matmul", c::matmul);
        return c.results;
    }

    /** GEMM timings only. */
    public static List<Timing> gemmBenchmarks(CudaBackend gpu, PrintStream log) {
        return benchmarks(gpu, log, true);
    }

    private void copies() {
        for (DType from : DType.values()) {
            for (DType to : DType.values()) {
                Pair x = from.isFloating() ? random(from, 0, 100, 67, 129) : ints(from, 1000, 67, 129);
                Pair y = output(to, 129, 67);
                cpu.copy(x.cpu().transpose(0, 1), y.cpu());
                gpu.copy(x.gpu().transpose(0, 1), y.gpu());
                compareExact("copy " + from + " -> " + to + " (transposed)", y);
            }
        }
        Pair f = output(DType.BF16, 33, 65);
        cpu.fill(f.cpu(), Math.PI);
        gpu.fill(f.gpu(), Math.PI);
        compareExact("fill BF16 pi", f);
        Pair row = random(DType.F32, 0, 1, 65);
        Pair b = output(DType.F16, 33, 65);
        cpu.copy(row.cpu(), b.cpu());
        gpu.copy(row.gpu(), b.gpu());
        compareExact("copy broadcast row F32 -> F16", b);
    }

    private void randomFill() {
        for (DType d : new DType[] {DType.F32, DType.BF16, DType.F64, DType.I32}) {
            Pair u = output(d, 100_003);
            long seed = random.nextLong();
            cpu.fillRandom(u.cpu(), Backend.Distribution.UNIFORM, -3, 5, seed, 12345);
            gpu.fillRandom(u.gpu(), Backend.Distribution.UNIFORM, -3, 5, seed, 12345);
            compareExact("fillRandom uniform " + d, u);
        }
        Pair n = output(DType.F32, 1_000_003);
        long seed = random.nextLong();
        cpu.fillRandom(n.cpu(), Backend.Distribution.NORMAL, 0.5, 2, seed, 99);
        gpu.fillRandom(n.gpu(), Backend.Distribution.NORMAL, 0.5, 2, seed, 99);
        // Double log and cos may differ in their last bit between the two math libraries; after rounding
        // to float almost never: a handful of one-ulp differences in a million is the expected worst case.
        compare("fillRandom normal F32 (1M, last-bit log/cos differences allowed)", n, 1e-7);
    }

    private void elementwise() {
        for (DType d : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            Pair x = random(d, 0, 1, 129, 257);
            Pair pos = random(d, 2, 0.5, 129, 257);
            for (UnaryOp op : UnaryOp.values()) {
                boolean positive = op == UnaryOp.LOG || op == UnaryOp.SQRT || op == UnaryOp.RSQRT
                        || op == UnaryOp.RECIPROCAL;
                Pair in = positive ? pos : x;
                Pair o = output(d, 257, 129);
                cpu.unary(op, in.cpu().transpose(0, 1), o.cpu());
                gpu.unary(op, in.gpu().transpose(0, 1), o.gpu());
                compare("unary " + op + " " + d + " (transposed input)", o, bound(d));
            }
            Pair row = random(DType.F32, 0, 1, 257);
            for (BinaryOp op : BinaryOp.values()) {
                Pair o = output(d, 129, 257);
                Pair rhs = op == BinaryOp.DIV ? random(DType.F32, 3, 0.5, 257) : row;
                cpu.binary(op, x.cpu(), rhs.cpu(), o.cpu());
                gpu.binary(op, x.gpu(), rhs.gpu(), o.gpu());
                compare("binary " + op + " " + d + " (broadcast row)", o, bound(d));
            }
            Pair o = output(d, 129, 257);
            cpu.affine(x.cpu(), 0.75, -1.25, o.cpu());
            gpu.affine(x.gpu(), 0.75, -1.25, o.gpu());
            compare("affine " + d, o, bound(d));
        }
    }

    private void reductions() {
        for (DType d : new DType[] {DType.F32, DType.BF16}) {
            Pair x = random(d, 0.3, 1, 257, 513);
            for (ReduceOp op : ReduceOp.values()) {
                for (int dim = 0; dim < 2; dim++) {
                    int[] shape = {257, 513};
                    shape[dim] = 1;
                    Pair o = output(DType.F32, shape);
                    cpu.reduce(op, x.cpu(), dim, o.cpu());
                    gpu.reduce(op, x.gpu(), dim, o.gpu());
                    compare("reduce " + op + " dim " + dim + " " + d, o, 2e-6);
                }
            }
            double e = cpu.sumOfSquares(x.cpu());
            double a = gpu.sumOfSquares(x.gpu().narrow(1, 0, 513));
            record(new Result("sumOfSquares " + d, Math.abs(a - e) / e, 1e-6, ""));
        }
    }

    private void softmax() {
        for (DType d : new DType[] {DType.F32, DType.BF16}) {
            for (boolean log : new boolean[] {false, true}) {
                Pair x = random(d, 0, 3, 300, 1031);
                Pair y = output(d, 300, 1031);
                cpu.softmax(x.cpu(), y.cpu(), log);
                gpu.softmax(x.gpu(), y.gpu(), log);
                compare((log ? "logSoftmax " : "softmax ") + d, y, bound(d));
                Pair dy = random(d, 0, 1, 300, 1031);
                Pair dx = output(d, 300, 1031);
                cpu.softmaxBackward(y.cpu(), dy.cpu(), dx.cpu(), log);
                gpu.softmaxBackward(y.gpu(), dy.gpu(), dx.gpu(), log);
                compare((log ? "logSoftmax" : "softmax") + " backward " + d, dx, bound(d));
            }
        }
    }

    private void norms() {
        for (DType d : new DType[] {DType.F32, DType.BF16}) {
            int n = 257;
            int h = 1024;
            Pair x = random(d, 0.1, 1, n, h);
            Pair w = random(d, 1, 0.2, h);
            Pair bias = random(d, 0, 0.2, h);
            Pair y = output(d, n, h);
            Pair rstd = output(DType.F32, n);
            Pair mean = output(DType.F32, n);
            cpu.rmsNorm(x.cpu(), w.cpu(), 1e-6f, y.cpu(), rstd.cpu());
            gpu.rmsNorm(x.gpu(), w.gpu(), 1e-6f, y.gpu(), rstd.gpu());
            compare("rmsNorm " + d, y, bound(d));
            compare("rmsNorm rstd " + d, rstd, 2e-6);
            Pair dy = random(d, 0, 1, n, h);
            Pair dx = output(d, n, h);
            Pair dw = output(d, h);
            cpu.rmsNormBackward(x.cpu(), w.cpu(), rstd.cpu(), dy.cpu(), dx.cpu(), dw.cpu());
            gpu.rmsNormBackward(x.gpu(), w.gpu(), rstd.gpu(), dy.gpu(), dx.gpu(), dw.gpu());
            compare("rmsNorm backward dx " + d, dx, bound(d));
            compare("rmsNorm backward dweight " + d, dw, bound(d));
            cpu.layerNorm(x.cpu(), w.cpu(), bias.cpu(), 1e-5f, y.cpu(), mean.cpu(), rstd.cpu());
            gpu.layerNorm(x.gpu(), w.gpu(), bias.gpu(), 1e-5f, y.gpu(), mean.gpu(), rstd.gpu());
            compare("layerNorm " + d, y, bound(d));
            compare("layerNorm mean " + d, mean, 2e-6);
            Pair db = output(d, h);
            cpu.layerNormBackward(x.cpu(), w.cpu(), mean.cpu(), rstd.cpu(), dy.cpu(), dx.cpu(), dw.cpu(), db.cpu());
            gpu.layerNormBackward(x.gpu(), w.gpu(), mean.gpu(), rstd.gpu(), dy.gpu(), dx.gpu(), dw.gpu(), db.gpu());
            compare("layerNorm backward dx " + d, dx, bound(d));
            compare("layerNorm backward dweight " + d, dw, bound(d));
            compare("layerNorm backward dbias " + d, db, bound(d));
        }
    }

    private void rotary() {
        int t = 129;
        int[] pos = new int[t];
        for (int i = 0; i < t; i++) {
            pos[i] = i < 70 ? i : i - 70;   // two packed documents
        }
        Tensor pc = Tensor.ofInts(pos, t);
        Tensor pg = gpuTensor(DType.I32, t);
        gpu.transfer(pc, pg);
        for (DType d : new DType[] {DType.F32, DType.BF16}) {
            for (boolean inverse : new boolean[] {false, true}) {
                Pair x = random(d, 0, 1, t, 8, 128);
                Pair o = output(d, t, 8, 128);
                cpu.rotary(x.cpu(), pc, 10000, inverse, o.cpu());
                gpu.rotary(x.gpu(), pg, 10000, inverse, o.gpu());
                compare("rotary " + (inverse ? "inverse " : "") + d, o, d == DType.F32 ? 1e-6 : bound(d));
            }
        }
    }

    private void swiglu() {
        for (DType d : new DType[] {DType.F32, DType.BF16}) {
            Pair g = random(d, 0, 2, 129, 688);
            Pair u = random(d, 0, 1, 129, 688);
            Pair o = output(d, 129, 688);
            cpu.swiglu(g.cpu(), u.cpu(), o.cpu());
            gpu.swiglu(g.gpu(), u.gpu(), o.gpu());
            compare("swiglu " + d, o, bound(d));
            Pair dout = random(d, 0, 1, 129, 688);
            Pair dg = output(d, 129, 688);
            Pair du = output(d, 129, 688);
            cpu.swigluBackward(g.cpu(), u.cpu(), dout.cpu(), dg.cpu(), du.cpu());
            gpu.swigluBackward(g.gpu(), u.gpu(), dout.gpu(), dg.gpu(), du.gpu());
            compare("swiglu backward dgate " + d, dg, bound(d));
            compare("swiglu backward dup " + d, du, bound(d));
        }
    }

    private void embedding() {
        int vocab = 5003;
        int h = 256;
        for (int t : new int[] {7, 3001}) {
            Pair ids = ints(DType.I64, t > 100 ? 300 : vocab, t);   // many repeats in the long case
            Pair w = random(DType.F32, 0, 1, vocab, h);
            Pair out = output(DType.BF16, t, h);
            cpu.embedding(w.cpu(), ids.cpu(), out.cpu());
            gpu.embedding(w.gpu(), ids.gpu(), out.gpu());
            compareExact("embedding T=" + t + " F32 -> BF16", out);
            Pair dout = random(DType.F32, 0, 1, t, h);
            Pair dw = random(DType.F32, 0, 1, vocab, h);
            cpu.embeddingBackward(ids.cpu(), dout.cpu(), dw.cpu());
            gpu.embeddingBackward(ids.gpu(), dout.gpu(), dw.gpu());
            compare("embedding backward T=" + t + " (accumulating)", dw, 1e-6);
        }
    }

    private void crossEntropy() {
        int n = 131;
        int v = 32_007;
        for (DType d : new DType[] {DType.F32, DType.BF16}) {
            for (float smoothing : new float[] {0f, 0.1f}) {
                Pair logits = random(d, 0, 3, n, v);
                Pair labels = ints(DType.I64, v, n);
                ((CpuStorage) labels.cpu().storage()).set(5, -100);
                gpu.transfer(labels.cpu(), labels.gpu());
                Pair loss = output(DType.F32, n);
                Pair lse = output(DType.F32, n);
                cpu.crossEntropy(logits.cpu(), labels.cpu(), -100, smoothing, loss.cpu(), lse.cpu());
                gpu.crossEntropy(logits.gpu(), labels.gpu(), -100, smoothing, loss.gpu(), lse.gpu());
                String name = "crossEntropy V=" + v + " smoothing " + smoothing + " " + d;
                compare(name + " loss", loss, 1e-5);
                compare(name + " lse", lse, 1e-6);
                Pair dloss = random(DType.F32, 1, 0.1, n);
                Pair dl = output(d, n, v);
                cpu.crossEntropyBackward(logits.cpu(), labels.cpu(), lse.cpu(), -100, smoothing, dloss.cpu(), dl.cpu());
                gpu.crossEntropyBackward(logits.gpu(), labels.gpu(), lse.gpu(), -100, smoothing, dloss.gpu(), dl.gpu());
                compare(name + " backward", dl, bound(d));
                // the vocabulary-parallel kernels on a column shard [v/3, v/3 + v/2) of the same logits
                int start = v / 3;
                int width = v / 2;
                Pair shard = new Pair(logits.cpu().narrow(1, start, width), logits.gpu().narrow(1, start, width));
                Pair shardLse = output(DType.F32, n);
                Pair target = output(DType.F32, n);
                Pair sum = output(DType.F32, n);
                cpu.crossEntropyShardStats(shard.cpu(), labels.cpu(), start, shardLse.cpu(), target.cpu(), sum.cpu());
                gpu.crossEntropyShardStats(shard.gpu(), labels.gpu(), start, shardLse.gpu(), target.gpu(), sum.gpu());
                compare(name + " shard lse", shardLse, 1e-6);
                compare(name + " shard target logit", target, 1e-6);
                compare(name + " shard logit sum", sum, 1e-5);
                Pair ds = output(d, n, width);
                cpu.crossEntropyShardBackward(shard.cpu(), labels.cpu(), start, v, lse.cpu(), -100, smoothing, dloss.cpu(),
                        ds.cpu());
                gpu.crossEntropyShardBackward(shard.gpu(), labels.gpu(), start, v, lse.gpu(), -100, smoothing, dloss.gpu(),
                        ds.gpu());
                compare(name + " shard backward", ds, bound(d));
            }
        }
    }

    private void matmul() {
        int m = 257;
        int k = 384;
        int n = 129;
        for (DType d : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (int variant = 0; variant < 4; variant++) {
                boolean ta = (variant & 1) != 0;
                boolean tb = (variant & 2) != 0;
                Pair a = ta ? random(d, 0, 1, k, m) : random(d, 0, 1, m, k);
                Pair b = tb ? random(d, 0, 1, n, k) : random(d, 0, 1, k, n);
                Tensor ac = ta ? a.cpu().transpose(0, 1) : a.cpu();
                Tensor ag = ta ? a.gpu().transpose(0, 1) : a.gpu();
                Tensor bc = tb ? b.cpu().transpose(0, 1) : b.cpu();
                Tensor bg = tb ? b.gpu().transpose(0, 1) : b.gpu();
                for (DType outType : new DType[] {DType.F32, d}) {
                    Pair c = output(outType, m, n);
                    cpu.matmul(ac, bc, c.cpu(), 1f, 0f);
                    gpu.matmul(ag, bg, c.gpu(), 1f, 0f);
                    compare("matmul " + d + "->" + outType + (ta ? " aT" : "") + (tb ? " bT" : ""), c,
                            outType == DType.F32 ? 1e-5 : bound(outType));
                }
            }
            Pair a = random(d, 0, 1, 3, m, k);
            Pair b = random(d, 0, 1, k, n);
            Pair c = random(DType.F32, 0, 1, 3, n, m);
            Pair ct = new Pair(c.cpu().transpose(1, 2), c.gpu().transpose(1, 2));
            cpu.matmul(a.cpu(), b.cpu(), ct.cpu(), 0.5f, 2f);
            gpu.matmul(a.gpu(), b.gpu(), ct.gpu(), 0.5f, 2f);
            compare("matmul batched " + d + ", shared b, transposed c, beta 2", c, 1e-5);
        }
    }

    private void attention() {
        int heads = 4;
        int[][] docs = {{0, 1, 64, 65, 200, 333}, {0, 257}};
        for (int d : new int[] {64, 128, 80}) {
            for (DType dt : new DType[] {DType.BF16, DType.F16, DType.F32}) {
                for (int[] cuValues : docs) {
                    for (boolean causal : new boolean[] {true, false}) {
                        if (!causal && cuValues.length > 2) {
                            continue;
                        }
                        attentionCase(dt, heads, d, cuValues, causal);
                    }
                }
            }
        }
    }

    private void attentionCase(DType dt, int heads, int d, int[] cuValues, boolean causal) {
        int t = cuValues[cuValues.length - 1];
        float scale = (float) (1 / Math.sqrt(d));
        Tensor cu = Tensor.ofInts(cuValues, cuValues.length);
        Pair q = random(dt, 0, 1, t, heads, d);
        Pair k = random(dt, 0, 1, t, heads, d);
        Pair v = random(dt, 0, 1, t, heads, d);
        Pair out = output(dt, t, heads, d);
        Pair lse = output(DType.F32, heads, t);
        String name = "attention " + dt + " d=" + d + " docs " + (cuValues.length - 1) + (causal ? " causal" : "");
        cpu.attention(q.cpu(), k.cpu(), v.cpu(), cu, scale, causal, out.cpu(), lse.cpu());
        gpu.attention(q.gpu(), k.gpu(), v.gpu(), cu, scale, causal, out.gpu(), lse.gpu());
        compare(name, out, bound(dt));
        compare(name + " lse", lse, 1e-5);
        Tensor refOut = gpuTensor(dt, t, heads, d);
        Tensor refLse = gpuTensor(DType.F32, heads, t);
        gpu.attentionReference(q.gpu(), k.gpu(), v.gpu(), cu, scale, causal, refOut, refLse);
        Tensor refBack = cpuTensor(dt, t, heads, d);
        gpu.transfer(refOut, refBack);
        compare(name + " fused vs unfused", new Pair(refBack, out.gpu()), bound(dt));
        Pair dout = random(dt, 0, 1, t, heads, d);
        Pair dq = output(dt, t, heads, d);
        Pair dk = output(dt, t, heads, d);
        Pair dv = output(dt, t, heads, d);
        cpu.attentionBackward(q.cpu(), k.cpu(), v.cpu(), out.cpu(), dout.cpu(), lse.cpu(), cu, scale, causal,
                dq.cpu(), dk.cpu(), dv.cpu());
        gpu.attentionBackward(q.gpu(), k.gpu(), v.gpu(), out.gpu(), dout.gpu(), lse.gpu(), cu, scale, causal,
                dq.gpu(), dk.gpu(), dv.gpu());
        compare(name + " backward dq", dq, bound(dt) * 2);
        compare(name + " backward dk", dk, bound(dt) * 2);
        compare(name + " backward dv", dv, bound(dt) * 2);
        refOut.close();
        refLse.close();
    }

    private void adamw() {
        AdamWStep step = new AdamWStep(3e-4, 0.9, 0.95, 1e-8, 0.1, 7, 0.25);
        for (DType g : new DType[] {DType.F32, DType.BF16}) {
            int n = 300_007;
            Pair p = random(DType.F32, 0, 0.02, n);
            Pair grad = random(g, 0, 1, n);
            Pair m = random(DType.F32, 0, 0.01, n);
            Pair v = random(DType.F32, 0.001, 0.0001, n);
            cpu.unary(UnaryOp.ABS, v.cpu(), v.cpu());
            gpu.unary(UnaryOp.ABS, v.gpu(), v.gpu());
            Pair copy = output(DType.BF16, n);
            cpu.adamw(p.cpu(), grad.cpu(), m.cpu(), v.cpu(), step, copy.cpu());
            gpu.adamw(p.gpu(), grad.gpu(), m.gpu(), v.gpu(), step, copy.gpu());
            compareExact("adamw param (" + g + " grad)", p);
            compareExact("adamw m (" + g + " grad)", m);
            compareExact("adamw v (" + g + " grad)", v);
            compareExact("adamw BF16 model copy (" + g + " grad)", copy);
        }
    }

    private void deviceErrors() {
        Pair w = random(DType.F32, 0, 1, 10, 4);
        Tensor ids = gpuTensor(DType.I32, 3);
        gpu.transfer(Tensor.ofInts(new int[] {1, 10, 2}, 3), ids);
        Tensor out = gpuTensor(DType.F32, 3, 4);
        gpu.embedding(w.gpu(), ids, out);
        try {
            gpu.synchronize();
            record(new Result("embedding id 10 of vocabulary 10 reported", 1, 0, "no error raised"));
        } catch (IllegalArgumentException e) {
            boolean named = e.getMessage().contains("token id 10 at position 1");
            record(new Result("embedding id 10 of vocabulary 10 reported", named ? 0 : 1, 0, e.getMessage()));
        }
    }

    // ---------------------------------------------------------------- timing

    /** Median milliseconds of {@code reps} runs of {@code body} after {@code warmup} runs, timed with events. */
    public static double time(CudaBackend gpu, int warmup, int reps, Runnable body) {
        CudaContext ctx = gpu.context();
        for (int i = 0; i < warmup; i++) {
            body.run();
        }
        gpu.synchronize();
        double[] ms = new double[reps];
        try (CudaEvent start = CudaEvent.create(ctx, true); CudaEvent end = CudaEvent.create(ctx, true)) {
            for (int i = 0; i < reps; i++) {
                start.record(ctx.computeStream());
                body.run();
                end.record(ctx.computeStream());
                end.synchronize();
                ms[i] = end.elapsedSince(start);
            }
        }
        Arrays.sort(ms);
        return ms[reps / 2];
    }

    /** GEMM, attention, copy and launch timings; each also logged. */
    public static List<Timing> benchmarks(CudaBackend gpu, PrintStream log) {
        return benchmarks(gpu, log, false);
    }

    private static List<Timing> benchmarks(CudaBackend gpu, PrintStream log, boolean gemmOnly) {
        List<Timing> out = new ArrayList<>();
        int[][] gemms = {{8192, 8192, 8192}, {16384, 4096, 4096}, {16384, 11008, 4096}, {16384, 4096, 11008}};
        for (int[] s : gemms) {
            Tensor a = gpu.temporary(DType.BF16, s[0], s[2]);
            Tensor b = gpu.temporary(DType.BF16, s[2], s[1]);
            Tensor c = gpu.temporary(DType.BF16, s[0], s[1]);
            gpu.fillRandom(a, Backend.Distribution.NORMAL, 0, 1, 1, 0);
            gpu.fillRandom(b, Backend.Distribution.NORMAL, 0, 1, 2, 0);
            double flops = 2.0 * s[0] * s[1] * s[2];
            double ms = time(gpu, 3, 20, () -> gpu.matmul(a, b, c, 1f, 0f));
            out.add(timing(log, "GEMM bf16 " + s[0] + "x" + s[1] + "x" + s[2] + " (" + gpu.gemmLibrary() + ")", ms,
                    String.format("%.0f TFLOP/s", flops / ms / 1e9)));
            // A linear layer's forward: the weight stored [out, in] and used transposed.
            Tensor w = gpu.temporary(DType.BF16, s[1], s[2]);
            gpu.fillRandom(w, Backend.Distribution.NORMAL, 0, 1, 4, 0);
            double msT = time(gpu, 3, 20, () -> gpu.matmul(a, w.transpose(0, 1), c, 1f, 0f));
            out.add(timing(log, "GEMM bf16 " + s[0] + "x" + s[1] + "x" + s[2] + " A.B^T (" + gpu.gemmLibrary() + ")", msT,
                    String.format("%.0f TFLOP/s", flops / msT / 1e9)));
            a.close();
            b.close();
            c.close();
            w.close();
        }
        if (gemmOnly) {
            return out;
        }
        int t = 16384;
        int heads = 32;
        int d = 128;
        int doc = 2048;
        int[] cuv = new int[t / doc + 1];
        for (int i = 0; i < cuv.length; i++) {
            cuv[i] = i * doc;
        }
        Tensor cu = gpu.temporary(DType.I32, cuv.length);
        gpu.transfer(Tensor.ofInts(cuv, cuv.length), cu);
        Tensor q = gpu.temporary(DType.BF16, t, heads, d);
        gpu.fillRandom(q, Backend.Distribution.NORMAL, 0, 1, 3, 0);
        Tensor o = gpu.temporary(DType.BF16, t, heads, d);
        Tensor lse = gpu.temporary(DType.F32, heads, t);
        Tensor dq = gpu.temporary(DType.BF16, t, heads, d);
        Tensor dk = gpu.temporary(DType.BF16, t, heads, d);
        Tensor dv = gpu.temporary(DType.BF16, t, heads, d);
        float scale = (float) (1 / Math.sqrt(d));
        // Causal: half of each document's L^2 score matrix; 2 GEMM-like products forward, 7 backward here.
        double fwdFlops = 4.0 * (t / doc) * doc * (double) doc / 2 * d * heads;
        double msF = time(gpu, 2, 10, () -> gpu.attention(q, q, q, cu, scale, true, o, lse));
        out.add(timing(log, "fused attention fwd bf16 T=16384 (8 x 2048) H=32 D=128", msF,
                String.format("%.1f TFLOP/s", fwdFlops / msF / 1e9)));
        double msB = time(gpu, 2, 10, () -> gpu.attentionBackward(q, q, q, o, o, lse, cu, scale, true, dq, dk, dv));
        out.add(timing(log, "fused attention bwd bf16 (same)", msB,
                String.format("%.1f TFLOP/s (2.5x fwd FLOPs)", 2.5 * fwdFlops / msB / 1e9)));
        Tensor big = gpu.temporary(DType.F32, 1 << 28);
        Tensor big2 = gpu.temporary(DType.F32, 1 << 28);
        double msC = time(gpu, 2, 10, () -> gpu.copy(big, big2));
        out.add(timing(log, "device copy 1 GiB (cuMemcpyDtoDAsync)", msC,
                String.format("%.2f TB/s read+write", 2.0 * (1L << 30) / msC / 1e9)));
        double msK = time(gpu, 2, 10, () -> gpu.copy(big.narrow(0, 0, 1 << 27).reshape(1 << 13, 1 << 14)
                .transpose(0, 1), big2.narrow(0, 0, 1 << 27).reshape(1 << 14, 1 << 13)));
        out.add(timing(log, "strided copy kernel 512 MiB transposed", msK,
                String.format("%.2f TB/s read+write", 2.0 * (1L << 29) / msK / 1e9)));
        Tensor one = gpu.temporary(DType.F32, 1);
        double msL = time(gpu, 10, 10, () -> {
            for (int i = 0; i < 1000; i++) {
                gpu.fill(one, i);
            }
        });
        out.add(timing(log, "1000 one-element fills (launch overhead)", msL,
                String.format("%.1f us per op", msL * 1000 / 1000)));
        for (Tensor x : new Tensor[] {cu, q, o, lse, dq, dk, dv, big, big2, one}) {
            x.close();
        }
        return out;
    }

    private static Timing timing(PrintStream log, String name, double ms, String rate) {
        log.printf("%-64s %9.3f ms  %s%n", name, ms, rate);
        return new Timing(name, ms, rate);
    }

    /** Kernel resources as the driver reports them after NVRTC compilation (registers, local memory). */
    public static List<String> kernelResources(CudaBackend gpu) {
        List<String> out = new ArrayList<>();
        String[][] kernels = {{"attention", "attn_fwd_d128"}, {"attention", "attn_bwd_dkdv_d128"},
                {"attention", "attn_bwd_dq_d128"}, {"crossentropy", "ce_partial"}, {"rmsnorm", "rmsnorm_bwd"},
                {"adamw", "adamw_multi"}, {"embedding", "embedding_bwd_rows"}};
        for (String[] k : kernels) {
            out.add(k[0] + "/" + k[1] + ": " + gpu.kernelResources(k[0], k[1]));
        }
        return out;
    }
}
