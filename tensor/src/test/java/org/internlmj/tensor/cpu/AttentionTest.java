package org.internlmj.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.internlmj.tensor.testing.TensorAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The CPU flash-style attention against the float64 reference, plus determinism, layouts and memory. */
class AttentionTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final CpuBackend CPU1 = new CpuBackend(1);
    private static final CpuBackend CPU2 = new CpuBackend(2);
    private static final CpuBackend CPU3 = new CpuBackend(3);

    /** Empty documents, a length-1 document and documents crossing the 64-token block edge. */
    private static final int[] MIXED = {0, 0, 1, 70, 70, 200};

    private static final int[][] LAYOUTS = {
        {0, 37},
        {0, 64, 129, 257},
        {0, 5, 70, 71, 130},
        MIXED,
        {0, 1, 2, 3, 4, 5},
        {0, 0, 0, 19, 19},
    };

    /** Inputs of one attention problem. */
    private record Problem(int[] cu, int heads, int d, boolean causal, DType dtype, Tensor q, Tensor k, Tensor v,
                           Tensor dout, Tensor cuSeqlens, float scale) {
        int tokens() {
            return cu[cu.length - 1];
        }

        static Problem random(int[] cu, int heads, int d, boolean causal, DType dtype, long seed) {
            Random rnd = new Random(seed);
            int t = cu[cu.length - 1];
            return new Problem(cu, heads, d, causal, dtype, randn(rnd, dtype, t, heads, d), randn(rnd, dtype, t, heads, d),
                    randn(rnd, dtype, t, heads, d), randn(rnd, dtype, t, heads, d), Tensor.ofInts(cu, cu.length),
                    (float) (1 / Math.sqrt(d)));
        }

        Tensor[] forward(Backend b) {
            Tensor out = Tensor.empty(dtype, Device.CPU, q.shape());
            Tensor lse = Tensor.empty(DType.F32, Device.CPU, heads, tokens());
            b.attention(q, k, v, cuSeqlens, scale, causal, out, lse);
            return new Tensor[] {out, lse};
        }

        /** dq, dk, dv with the given forward results. */
        Tensor[] backward(Backend b, Tensor out, Tensor lse) {
            Tensor[] g = grads();
            b.attentionBackward(q, k, v, out, dout, lse, cuSeqlens, scale, causal, g[0], g[1], g[2]);
            return g;
        }

        Tensor[] forward(Parallel parallel, Attention.Plan plan) {
            Tensor out = Tensor.full(Double.NaN, dtype, Device.CPU, q.shape());
            Tensor lse = Tensor.full(Double.NaN, DType.F32, Device.CPU, heads, tokens());
            Attention.forward(parallel, q, k, v, cuSeqlens, scale, causal, out, lse, plan);
            return new Tensor[] {out, lse};
        }

        Tensor[] backward(Parallel parallel, Tensor out, Tensor lse, Attention.Plan plan) {
            Tensor[] g = grads();
            Attention.backward(parallel, q, k, v, out, dout, lse, cuSeqlens, scale, causal, g[0], g[1], g[2], plan);
            return g;
        }

        private Tensor[] grads() {
            // NaN-filled so that an element the kernel forgets to write cannot pass.
            Tensor[] g = new Tensor[3];
            for (int i = 0; i < 3; i++) {
                g[i] = Tensor.full(Double.NaN, dtype, Device.CPU, q.shape());
            }
            return g;
        }
    }

    private static Tensor randn(Random rnd, DType dtype, int... shape) {
        float[] data = new float[Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rnd.nextGaussian();
        }
        return Tensor.of(data, dtype, shape);
    }

    /** Forward and backward against the reference; the backward gets the reference's out and lse. */
    private static void checkAgainstReference(Problem p) {
        String what = "cu " + Arrays.toString(p.cu()) + " H " + p.heads() + " D " + p.d() + " causal " + p.causal()
                + " " + p.dtype();
        Tensor[] ref = p.forward(REF);
        Tensor[] cpu = p.forward(CpuBackend.shared());
        boolean f32 = p.dtype() == DType.F32;
        // BF16 outputs: our fp32 value and the float64 one may round to neighbouring bf16 values, 2^-7 apart
        // relative to the smaller.
        double rtol = f32 ? 1e-4 : 1.0 / 128;
        TensorAssert.assertClose(ref[0], cpu[0], 2e-6, rtol, "out, " + what);
        TensorAssert.assertClose(ref[1], cpu[1], 2e-6, 2e-6, "lse, " + what);
        Tensor[] gRef = p.backward(REF, ref[0], ref[1]);
        Tensor[] gCpu = p.backward(CpuBackend.shared(), ref[0], ref[1]);
        String[] names = {"dq", "dk", "dv"};
        for (int i = 0; i < 3; i++) {
            TensorAssert.assertClose(gRef[i], gCpu[i], f32 ? 5e-6 : 2e-4, rtol, names[i] + ", " + what);
            if (f32) {
                double rel = TensorAssert.relativeError(gRef[i], gCpu[i]);
                assertTrue(rel < 3e-6, names[i] + " relative error " + rel + ", " + what);
            }
        }
    }

    static Stream<Arguments> headsAndDims() {
        List<Arguments> cases = new ArrayList<>();
        for (int h : new int[] {1, 3, 4}) {
            for (int d : new int[] {1, 7, 64, 128}) {
                for (boolean causal : new boolean[] {true, false}) {
                    cases.add(Arguments.of(h, d, causal));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "H={0} D={1} causal={2}")
    @MethodSource("headsAndDims")
    void matchesReferenceForEveryHeadCountAndHeadDim(int heads, int d, boolean causal) {
        checkAgainstReference(Problem.random(MIXED, heads, d, causal, DType.F32, 31L * heads + d));
    }

    static Stream<Arguments> layouts() {
        List<Arguments> cases = new ArrayList<>();
        for (int[] cu : LAYOUTS) {
            for (boolean causal : new boolean[] {true, false}) {
                cases.add(Arguments.of(cu, causal));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "cu={0} causal={1}")
    @MethodSource("layouts")
    void matchesReferenceForEveryDocumentLayout(int[] cu, boolean causal) {
        checkAgainstReference(Problem.random(cu, 3, 33, causal, DType.F32, cu.length));
    }

    @ParameterizedTest(name = "cu={0} causal={1}")
    @MethodSource("layouts")
    void bf16InputsMatchReference(int[] cu, boolean causal) {
        checkAgainstReference(Problem.random(cu, 2, 64, causal, DType.BF16, 7 + cu.length));
    }

    @Test
    void bf16WithOddHeadDimAndWideHeads() {
        checkAgainstReference(Problem.random(MIXED, 3, 7, true, DType.BF16, 5));
        checkAgainstReference(Problem.random(new int[] {0, 3, 90}, 4, 128, false, DType.BF16, 6));
    }

    @Test
    void f16InputsMatchReference() {
        checkAgainstReference(Problem.random(MIXED, 2, 40, true, DType.F16, 8));
    }

    @Test
    void headDimOf256() {
        checkAgainstReference(Problem.random(new int[] {0, 70, 100}, 2, 256, true, DType.F32, 9));
    }

    @Test
    void oneLongDocument() {
        checkAgainstReference(Problem.random(new int[] {0, 2048}, 1, 16, true, DType.F32, 10));
    }

    @Test
    void bitIdenticalForAnyThreadCountAndPlan() {
        Problem p = Problem.random(new int[] {0, 150, 151, 151, 300}, 3, 40, true, DType.F32, 11);
        Tensor[] base = p.forward(CPU1.parallel(), Attention.Plan.PER_HEAD);
        Tensor[] gBase = p.backward(CPU1.parallel(), base[0], base[1], Attention.Plan.PER_HEAD);
        for (CpuBackend b : new CpuBackend[] {CPU1, CPU2, CPU3}) {
            for (Attention.Plan plan : Attention.Plan.values()) {
                String what = plan + " on " + b.threads() + " threads";
                Tensor[] f = p.forward(b.parallel(), plan);
                assertBitIdentical(base[0], f[0], "out, " + what);
                assertBitIdentical(base[1], f[1], "lse, " + what);
                Tensor[] g = p.backward(b.parallel(), base[0], base[1], plan);
                for (int i = 0; i < 3; i++) {
                    assertBitIdentical(gBase[i], g[i], "gradient " + i + ", " + what);
                }
            }
        }
        Tensor[] again = p.forward(CpuBackend.shared());
        assertBitIdentical(base[0], again[0], "out through the backend");
    }

    @Test
    void blockPlanMatchesReference() {
        // AUTO picks per-head tasks for most shapes here; check the block plan on its own too.
        for (boolean causal : new boolean[] {true, false}) {
            Problem p = Problem.random(MIXED, 2, 24, causal, DType.F32, 17);
            Tensor[] ref = p.forward(REF);
            Tensor[] cpu = p.forward(CPU2.parallel(), Attention.Plan.BLOCKS);
            TensorAssert.assertClose(ref[0], cpu[0], 2e-6, 1e-4, "out, blocks, causal " + causal);
            TensorAssert.assertClose(ref[1], cpu[1], 2e-6, 2e-6, "lse, blocks, causal " + causal);
            Tensor[] gRef = p.backward(REF, ref[0], ref[1]);
            Tensor[] g = p.backward(CPU2.parallel(), ref[0], ref[1], Attention.Plan.BLOCKS);
            for (int i = 0; i < 3; i++) {
                TensorAssert.assertClose(gRef[i], g[i], 5e-6, 1e-4, "gradient " + i + ", blocks, causal " + causal);
            }
        }
    }

    @Test
    void autoPlanSplitsWhenOneHeadWouldStarveTheOtherThreads() {
        int[] oneDoc = {0, 2048};
        assertFalse(Attention.perHeadBalances(oneDoc, 1, true, 2));
        assertTrue(Attention.perHeadBalances(oneDoc, 16, true, 2));
        assertTrue(Attention.perHeadBalances(oneDoc, 1, true, 1));
        // One document far longer than the rest: its task alone outlasts an even share.
        assertFalse(Attention.perHeadBalances(new int[] {0, 1000, 1010, 1020}, 2, false, 4));
    }

    @Test
    void stridedGradientsLseAndOffsetInputs() {
        int[] cu = {0, 20, 75};
        int t = 75;
        int h = 3;
        int d = 24;
        Problem p = Problem.random(cu, h, d, true, DType.F32, 12);
        Tensor[] base = p.forward(CpuBackend.shared());
        Tensor[] gBase = p.backward(CpuBackend.shared(), base[0], base[1]);

        // Inputs as views with an offset into larger storage; lse as a transposed [T, H] tensor.
        Tensor big = Tensor.zeros(DType.F32, Device.CPU, t + 5, h, d);
        Tensor qView = big.narrow(0, 5, t);
        CpuBackend.shared().copy(p.q(), qView);
        Tensor out = Tensor.zeros(DType.F32, Device.CPU, t + 2, h, d).narrow(0, 2, t);
        Tensor lse = Tensor.zeros(DType.F32, Device.CPU, t, h).transpose(0, 1);
        CpuBackend.shared().attention(qView, p.k(), p.v(), p.cuSeqlens(), p.scale(), true, out, lse);
        assertBitIdentical(base[0], out, "out into a view");
        assertBitIdentical(base[1], lse, "lse into a transposed view");

        Tensor[] g = new Tensor[3];
        for (int i = 0; i < 3; i++) {
            g[i] = Tensor.full(Double.NaN, DType.F32, Device.CPU, h, t, d).permute(1, 0, 2);
        }
        Tensor dout = Tensor.empty(DType.F32, Device.CPU, h, t, d).permute(1, 0, 2);
        CpuBackend.shared().copy(p.dout(), dout);
        CpuBackend.shared().attentionBackward(qView, p.k(), p.v(), out, dout, lse, p.cuSeqlens(), p.scale(), true,
                g[0], g[1], g[2]);
        for (int i = 0; i < 3; i++) {
            assertBitIdentical(gBase[i], g[i], "gradient " + i + " into a permuted view");
        }
    }

    @Test
    void forwardOfALongDocumentAllocatesNothingQuadratic() {
        int t = 4096;
        int d = 64;
        Problem p = Problem.random(new int[] {0, t}, 1, d, true, DType.F32, 13);
        Tensor out = Tensor.empty(DType.F32, Device.CPU, t, 1, d);
        Tensor lse = Tensor.empty(DType.F32, Device.CPU, 1, t);
        // A materialised score matrix of one head alone would be 4 T^2 = 64 MiB; allow 1/32 of that.
        long bound = 4L * t * t / 32;
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Runnable oneThread = () -> CPU1.attention(p.q(), p.k(), p.v(), p.cuSeqlens(), p.scale(), true, out, lse);
        Runnable twoThreads = () -> CPU2.attention(p.q(), p.k(), p.v(), p.cuSeqlens(), p.scale(), true, out, lse);
        // Warm-up: until C2 compiles the kernels the Vector API boxes every vector, which allocates.
        oneThread.run();
        twoThreads.run();

        // One thread: everything runs on this thread, so its own counter sees every allocation.
        long before = threads.getCurrentThreadAllocatedBytes();
        oneThread.run();
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertTrue(allocated < bound, "forward allocated " + allocated + " bytes on one thread, bound " + bound);

        // Two threads: the pool's worker allocates too, so count every thread of the JVM.
        before = threads.getTotalThreadAllocatedBytes();
        twoThreads.run();
        allocated = threads.getTotalThreadAllocatedBytes() - before;
        assertTrue(allocated < bound, "forward allocated " + allocated + " bytes on all threads, bound " + bound);
    }

    @Test
    void invalidCuSeqlensAreRejected() {
        Problem p = Problem.random(new int[] {0, 10}, 2, 8, true, DType.F32, 14);
        Tensor out = Tensor.empty(DType.F32, Device.CPU, 10, 2, 8);
        Tensor lse = Tensor.empty(DType.F32, Device.CPU, 2, 10);
        int[][] bad = {{1, 10}, {0, 9}, {0, 6, 4, 10}, {0, 11}};
        String[] expected = {"start at 0", "end at the token count 10", "non-decreasing", "end at the token count 10"};
        for (int i = 0; i < bad.length; i++) {
            Tensor cu = Tensor.ofInts(bad[i], bad[i].length);
            for (Backend b : new Backend[] {CpuBackend.shared(), REF}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> b.attention(p.q(), p.k(), p.v(), cu, p.scale(), true, out, lse));
                assertTrue(e.getMessage().contains(expected[i]), e.getMessage());
                Tensor[] g = {out.copy(), out.copy(), out.copy()};
                e = assertThrows(IllegalArgumentException.class, () -> b.attentionBackward(p.q(), p.k(), p.v(), out,
                        p.dout(), lse, cu, p.scale(), true, g[0], g[1], g[2]));
                assertTrue(e.getMessage().contains(expected[i]), e.getMessage());
            }
        }
        Tensor floatCu = Tensor.of(new float[] {0, 10}, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CpuBackend.shared().attention(p.q(), p.k(), p.v(), floatCu, p.scale(), true, out, lse));
        assertTrue(e.getMessage().contains("cuSeqlens"), e.getMessage());
    }

    @Test
    void shapeAndDtypeMismatchesFailAlikeOnCpuAndReference() {
        Problem p = Problem.random(new int[] {0, 10}, 2, 8, true, DType.F32, 15);
        Tensor out = Tensor.empty(DType.F32, Device.CPU, 10, 2, 8);
        Tensor lse = Tensor.empty(DType.F32, Device.CPU, 2, 10);
        Tensor wideK = Tensor.zeros(DType.F32, Device.CPU, 10, 2, 9);
        Tensor lseWrong = Tensor.empty(DType.F32, Device.CPU, 10, 2);
        Tensor dqWrong = Tensor.empty(DType.F32, Device.CPU, 10, 2, 7);
        Tensor dq = out.copy();
        Tensor dk = out.copy();
        Tensor dv = out.copy();
        for (Backend b : new Backend[] {CpuBackend.shared(), REF}) {
            String k = assertThrows(IllegalArgumentException.class,
                    () -> b.attention(p.q(), wideK, p.v(), p.cuSeqlens(), 1f, true, out, lse)).getMessage();
            assertTrue(k.contains("[10, 2, 9]") && k.contains("[10, 2, 8]"), k);
            String l = assertThrows(IllegalArgumentException.class,
                    () -> b.attention(p.q(), p.k(), p.v(), p.cuSeqlens(), 1f, true, out, lseWrong)).getMessage();
            assertTrue(l.contains("lse") && l.contains("[2, 10]"), l);
            String g = assertThrows(IllegalArgumentException.class, () -> b.attentionBackward(p.q(), p.k(), p.v(), out,
                    p.dout(), lse, p.cuSeqlens(), 1f, true, dqWrong, dk, dv)).getMessage();
            assertTrue(g.contains("dq") && g.contains("[10, 2, 7]"), g);
            String gl = assertThrows(IllegalArgumentException.class, () -> b.attentionBackward(p.q(), p.k(), p.v(), out,
                    p.dout(), lseWrong, p.cuSeqlens(), 1f, true, dq, dk, dv)).getMessage();
            assertTrue(gl.contains("lse"), gl);
        }
        Tensor q64 = p.q().to(DType.F64);
        String f64 = assertThrows(IllegalArgumentException.class, () -> CpuBackend.shared().attention(q64,
                p.k(), p.v(), p.cuSeqlens(), 1f, true, out, lse)).getMessage();
        assertTrue(f64.contains("F64") && f64.contains("q"), f64);
    }

    @Test
    void gemmMatchesPlainLoopsWithPlainAndTransposedLeftOperand() {
        Random rnd = new Random(16);
        int lanes = Simd.LANES;
        for (int[] mnk : new int[][] {{4, lanes, 1}, {8, 5 * lanes, 13}, {12, 4 * lanes, 64}, {4, 9 * lanes, 0}}) {
            int m = mnk[0];
            int n = mnk[1];
            int k = mnk[2];
            float[] a = new float[m * k + 3];
            float[] b = new float[k * n + 5];
            float[] c = new float[m * n + 2];
            for (float[] x : new float[][] {a, b, c}) {
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
            }
            for (boolean transposed : new boolean[] {false, true}) {
                for (boolean accumulate : new boolean[] {false, true}) {
                    int aRow = transposed ? 1 : k;
                    int aK = transposed ? m : 1;
                    float[] got = c.clone();
                    Attention.gemm(a, 3, aRow, aK, b, 5, n, got, 2, n, m, n, k, accumulate);
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double want = accumulate ? c[2 + i * n + j] : 0;
                            for (int kk = 0; kk < k; kk++) {
                                want += (double) a[3 + i * aRow + kk * aK] * b[5 + kk * n + j];
                            }
                            assertEquals(want, got[2 + i * n + j], 1e-5 * (1 + Math.abs(want)),
                                    "C[" + i + "," + j + "] m=" + m + " n=" + n + " k=" + k);
                        }
                    }
                    assertEquals(c[0], got[0]);
                    assertEquals(c[1], got[1]);
                }
            }
        }
    }

    private static void assertBitIdentical(Tensor expected, Tensor actual, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what);
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        for (int i = 0; i < e.length; i++) {
            if (Float.floatToRawIntBits(e[i]) != Float.floatToRawIntBits(a[i])) {
                throw new AssertionError(what + ": element " + i + " differs: " + e[i] + " vs " + a[i]);
            }
        }
    }
}
