package org.internlmj.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.internlmj.tensor.testing.TensorAssert;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The CPU GEMM against the float64 reference: odd sizes on both sides of every block size (tile,
 * MC, KC, NC), all four transposes, batches, 16-bit inputs and outputs, alpha/beta, strided views,
 * both main kernel heights, and 1-3 threads (which must agree bit for bit).
 */
class GemmTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final Parallel[] POOLS = {new Parallel(1), new Parallel(2), new Parallel(3)};

    @AfterAll
    static void closePools() {
        for (Parallel p : POOLS) {
            p.close();
        }
    }

    private static Gemm gemm(int threads, int mainRows) {
        return new Gemm(POOLS[threads - 1], mainRows);
    }

    private static Tensor random(Random rnd, DType dtype, int... shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = rnd.nextFloat() * 2 - 1;
        }
        return Tensor.of(v, dtype, shape);
    }

    /** A [rows, cols] operand, stored transposed when {@code t} (so the GEMM sees a transposed view). */
    private static Tensor operand(Random rnd, DType dtype, boolean t, int rows, int cols) {
        return t ? random(rnd, dtype, cols, rows).transpose(0, 1) : random(rnd, dtype, rows, cols);
    }

    /** Runs the GEMM and the reference on copies of c and compares them. */
    private static Tensor check(Gemm g, Tensor a, Tensor b, Tensor c, float alpha, float beta, String what) {
        Tensor expected = c.copy();
        REF.matmul(a, b, expected, alpha, beta);
        g.matmul(a, b, c, alpha, beta);
        int k = a.size(-1);
        if (c.dtype() == DType.F32) {
            // fp32 sums of k products of magnitude <= 1: rounding error grows like k * 2^-24.
            TensorAssert.assertClose(expected, c, 1e-6 * (k + 8), 1e-5, what);
        } else {
            // One rounding to the 16-bit output on each side may land on neighbouring values.
            TensorAssert.assertClose(expected, c, 1e-6 * (k + 8), c.dtype() == DType.BF16 ? 8e-3 : 1e-3, what);
        }
        return c;
    }

    @Test
    void oddSizesAllTransposesBothKernelHeights() {
        // around the tile (12/6 x 2 vectors) and the default blocks (KC 384, MC 96, NC 2048); the first
        // six are small enough for the scalar path, the next four have at most four rows (read in
        // place when a has unit stride along K), the rest are tiled
        int[][] sizes = {
            {1, 1, 1}, {1, 7, 33}, {7, 1, 5}, {2, 3, 4}, {5, 17, 1}, {13, 33, 7},
            {1, 130, 40}, {3, 5, 300}, {4, 130, 40}, {2, 70, 257},
            {70, 1, 70}, {33, 129, 65}, {129, 33, 257}, {12, 32, 384},
            {24, 64, 385}, {11, 31, 383}, {6, 16, 90}, {97, 40, 300}, {9, 2049, 20}, {95, 70, 769},
        };
        Random rnd = new Random(11);
        for (int mainRows : new int[] {12, 6}) {
            for (int threads : new int[] {1, 2}) {
                checkAll(gemm(threads, mainRows), sizes, rnd, "mainRows=" + mainRows + " threads=" + threads);
            }
        }
    }

    @Test
    void smallBlocksCrossEveryBlockBoundary() {
        // blocks of a few tiles make small problems cross many K slices, row blocks and column blocks
        int[][] sizes = {{50, 70, 40}, {25, 130, 33}, {7, 100, 17}, {61, 64, 64}};
        Random rnd = new Random(19);
        for (int threads : new int[] {1, 3}) {
            Gemm g = new Gemm(POOLS[threads - 1], 12, 16, 24, 4 * GemmKernels.NR);
            checkAll(g, sizes, rnd, "small blocks, threads=" + threads);
            for (DType out : new DType[] {DType.F32, DType.BF16}) {
                Tensor a = random(rnd, DType.F16, 45, 50);
                Tensor b = random(rnd, DType.F16, 90, 50).transpose(0, 1);
                check(g, a, b, random(rnd, out, 45, 90), 0.5f, 2f, "small blocks, f16 in, " + out + " out");
            }
        }
    }

    @Test
    void packedPanelsEqualTheSourceElementForElement() {
        // every packing path (natural B, rows of the source with lane tails, A^T as masked vector copies and
        // wider contiguous-lane copies, strided gathers) against dst[o + k*width + w] = src(w, k), zero past valid
        Random rnd = new Random(23);
        float[] src = new float[40 * 50 + 7];
        for (int i = 0; i < src.length; i++) {
            src[i] = rnd.nextFloat() - 0.5f;
        }
        int nr = GemmKernels.NR;
        int[][] cases = {
            // laneStride, kStride, valid, width, kc
            {50, 1, nr, nr, 48}, {50, 1, nr, nr, 37}, {50, 1, nr - 5, nr, 33}, {50, 1, 12, 12, 16}, {50, 1, 11, 12, 45},
            {50, 1, 6, 6, 31}, {50, 1, 3, 4, 9}, {1, 50, nr, nr, 40}, {1, 50, 12, 12, 39}, {1, 50, 7, 12, 17},
            {1, 50, nr - 3, nr, 21}, {2, 100, 5, 6, 19},
        };
        for (int[] c : cases) {
            int ls = c[0];
            int ks = c[1];
            int valid = c[2];
            int width = c[3];
            int kc = c[4];
            int base = 3;
            Gemm.Operand op = new Gemm.Operand(src, null, false, 0, 0, 1, 1);
            float[] dst = new float[5 + kc * width];
            Arrays.fill(dst, Float.NaN);
            GemmPacking.pack(op, base, ls, ks, valid, width, kc, dst, 5);
            for (int k = 0; k < kc; k++) {
                for (int w = 0; w < width; w++) {
                    float expected = w < valid ? src[base + w * ls + k * ks] : 0f;
                    assertEquals(expected, dst[5 + k * width + w], 0f, "lane " + w + " step " + k + " of " + Arrays.toString(c));
                }
            }
        }
    }

    private static void checkAll(Gemm g, int[][] sizes, Random rnd, String what) {
        for (int[] s : sizes) {
            for (int t = 0; t < 4; t++) {
                boolean ta = (t & 1) != 0;
                boolean tb = (t & 2) != 0;
                Tensor a = operand(rnd, DType.F32, ta, s[0], s[2]);
                Tensor b = operand(rnd, DType.F32, tb, s[2], s[1]);
                Tensor c = Tensor.zeros(DType.F32, Device.CPU, s[0], s[1]);
                check(g, a, b, c, 1f, 0f, "m,n,k=" + s[0] + "," + s[1] + "," + s[2] + " ta=" + ta + " tb=" + tb
                        + " " + what);
            }
        }
    }

    @Test
    void alphaBetaAndOutputsThatAreNotUnitStrideF32() {
        Random rnd = new Random(12);
        Gemm g = gemm(2, 12);
        int m = 37;
        int n = 45;
        int k = 400;
        Tensor a = random(rnd, DType.F32, m, k);
        Tensor b = random(rnd, DType.F32, k, n);
        check(g, a, b, random(rnd, DType.F32, m, n), 0.5f, -1.5f, "f32 c");
        check(g, a, b, random(rnd, DType.F32, n, m).transpose(0, 1), 0.5f, -1.5f, "transposed f32 c");
        check(g, a, b, random(rnd, DType.BF16, m, n), 0.5f, -1.5f, "bf16 c");
        check(g, a, b, random(rnd, DType.F16, m, n), 2f, 1f, "f16 c");
        check(g, a, b, random(rnd, DType.F32, m, n), 0f, 1f, "alpha 0");
    }

    @Test
    void sixteenBitInputs() {
        Random rnd = new Random(13);
        for (int threads : new int[] {1, 3}) {
            Gemm g = gemm(threads, 12);
            for (DType in : new DType[] {DType.BF16, DType.F16}) {
                for (DType out : new DType[] {DType.F32, DType.BF16}) {
                    for (int t = 0; t < 4; t++) {
                        boolean ta = (t & 1) != 0;
                        boolean tb = (t & 2) != 0;
                        Tensor a = operand(rnd, in, ta, 29, 400);
                        Tensor b = operand(rnd, in, tb, 400, 70);
                        check(g, a, b, Tensor.zeros(out, Device.CPU, 29, 70), 1f, 0f,
                                in + "->" + out + " ta=" + ta + " tb=" + tb + " threads=" + threads);
                    }
                }
            }
        }
    }

    @Test
    void betaZeroIgnoresNaNInC() {
        Random rnd = new Random(14);
        Gemm g = gemm(2, 12);
        for (DType out : new DType[] {DType.F32, DType.BF16}) {
            Tensor a = random(rnd, DType.F32, 40, 400);
            Tensor b = random(rnd, DType.F32, 400, 50);
            Tensor c = Tensor.full(Double.NaN, out, Device.CPU, 40, 50);
            g.matmul(a, b, c, 1f, 0f);
            for (float v : c.toFloatArray()) {
                assertTrue(Float.isFinite(v), "NaN in c leaked into a beta=0 product (" + out + ")");
            }
            Tensor expected = Tensor.zeros(out, Device.CPU, 40, 50);
            REF.matmul(a, b, expected, 1f, 0f);
            TensorAssert.assertClose(expected, c, 1e-3, 1e-2, "beta 0 " + out);
        }
    }

    @Test
    void emptyKScalesC() {
        Gemm g = gemm(1, 12);
        Tensor a = Tensor.zeros(DType.F32, Device.CPU, 3, 0);
        Tensor b = Tensor.zeros(DType.F32, Device.CPU, 0, 2);
        Tensor c = Tensor.of(new float[] {1, 2, 3, 4, 5, Float.NaN}, 3, 2);
        g.matmul(a, b, c, 1f, 2f);
        assertArrayEquals(new float[] {2, 4, 6, 8, 10, Float.NaN}, c.toFloatArray());
        g.matmul(a, b, c, 1f, 0f);
        assertArrayEquals(new float[6], c.toFloatArray());
        // an empty N leaves the neighbours of c's view alone
        Tensor whole = Tensor.of(new float[] {7, 8}, 1, 2);
        g.matmul(Tensor.zeros(DType.F32, Device.CPU, 1, 4), Tensor.zeros(DType.F32, Device.CPU, 4, 0),
                whole.narrow(1, 1, 0), 1f, 0f);
        assertArrayEquals(new float[] {7, 8}, whole.toFloatArray());
    }

    @Test
    void batchedWithSharedAndPerBatchB() {
        Random rnd = new Random(15);
        Gemm g = gemm(2, 12);
        // shared 2-D b with contiguous a and c: folded into one tall GEMM
        check(g, random(rnd, DType.F32, 3, 50, 70), random(rnd, DType.F32, 70, 40),
                Tensor.zeros(DType.F32, Device.CPU, 3, 50, 40), 1f, 0f, "shared b, folded");
        // shared b, a transposed per batch: cannot fold
        check(g, random(rnd, DType.F32, 3, 70, 50).transpose(1, 2), random(rnd, DType.F32, 40, 70).transpose(0, 1),
                Tensor.zeros(DType.F32, Device.CPU, 3, 50, 40), 1f, 0f, "shared b, transposed a");
        // one row per batch folds through the batch stride
        check(g, random(rnd, DType.F32, 5, 1, 33), random(rnd, DType.F32, 33, 9),
                Tensor.zeros(DType.F32, Device.CPU, 5, 1, 9), 1f, 0f, "m=1 batches");
        // per-batch b, bf16 everything, alpha/beta
        check(g, random(rnd, DType.BF16, 4, 19, 400), random(rnd, DType.BF16, 4, 400, 23),
                random(rnd, DType.BF16, 4, 19, 23), 0.25f, 0.5f, "batched b bf16");
        // many small products: the scalar path, batches spread over the threads
        check(g, random(rnd, DType.F32, 600, 16, 16), random(rnd, DType.F32, 600, 16, 16).transpose(1, 2),
                random(rnd, DType.F32, 600, 16, 16), 1f, 0.5f, "600 small batches");
        // batch dimension not outermost in memory (a permuted view)
        check(g, random(rnd, DType.F32, 30, 2, 17).permute(1, 0, 2), random(rnd, DType.F32, 2, 17, 64),
                Tensor.zeros(DType.F32, Device.CPU, 2, 30, 64), 1f, 0f, "permuted a");
    }

    @Test
    void narrowedViews() {
        Random rnd = new Random(16);
        Gemm g = gemm(2, 12);
        Tensor a = random(rnd, DType.F32, 60, 90).narrow(0, 3, 50).narrow(1, 5, 77);
        Tensor b = random(rnd, DType.F32, 100, 80).narrow(0, 10, 77).narrow(1, 1, 66);
        Tensor big = random(rnd, DType.F32, 55, 70);
        Tensor c = big.narrow(0, 2, 50).narrow(1, 3, 66);
        check(g, a, b, c, 1f, 1f, "narrowed f32, c with row stride 70");
        Tensor outside = big.narrow(1, 0, 3);
        float[] before = outside.toFloatArray();
        g.matmul(a, b, c, 1f, 0f);
        assertArrayEquals(before, outside.toFloatArray(), "columns of c outside the view were written");
        Tensor ab = random(rnd, DType.BF16, 40, 61).narrow(1, 2, 59);
        Tensor bb = random(rnd, DType.BF16, 70, 59).transpose(0, 1).narrow(1, 3, 33);
        check(g, ab, bb, random(rnd, DType.BF16, 45, 36).narrow(0, 1, 40).narrow(1, 2, 33), 1f, -1f,
                "narrowed bf16");
        // a stride-0 (expanded) operand
        Tensor row = random(rnd, DType.F32, 1, 30).expand(20, 30);
        check(g, row, random(rnd, DType.F32, 30, 40), Tensor.zeros(DType.F32, Device.CPU, 20, 40), 1f, 0f, "expanded a");
    }

    @Test
    void resultsAreIdenticalForEveryThreadCountAndKernelHeight() {
        Random rnd = new Random(17);
        // rows split (tall), columns split (short and wide), and a 16-bit output through the scratch
        int[][] sizes = {{150, 300, 400}, {10, 2100, 400}, {40, 2200, 800}, {3, 3000, 400}};
        for (int[] s : sizes) {
            for (DType out : new DType[] {DType.F32, DType.BF16}) {
                Tensor a = random(rnd, DType.F32, s[0], s[2]);
                Tensor b = random(rnd, DType.F32, s[1], s[2]).transpose(0, 1);
                Tensor c0 = random(rnd, out, s[0], s[1]);
                float[] first = null;
                for (int mainRows : new int[] {12, 6}) {
                    for (int threads = 1; threads <= 3; threads++) {
                        Tensor c = c0.copy();
                        gemm(threads, mainRows).matmul(a, b, c, 1.5f, 0.5f);
                        float[] v = c.toFloatArray();
                        if (first == null) {
                            first = v;
                        } else {
                            assertArrayEquals(first, v, "shape " + s[0] + "x" + s[1] + "x" + s[2] + " " + out
                                    + ", mainRows " + mainRows + ", threads " + threads);
                        }
                    }
                }
            }
        }
    }

    @Test
    void concurrentCallersGetCorrectResults() throws Exception {
        Gemm g = gemm(2, 12);
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                int seed = t;
                futures.add(pool.submit(() -> {
                    Random rnd = new Random(100 + seed);
                    for (int rep = 0; rep < 3; rep++) {
                        check(g, random(rnd, DType.F32, 70, 300), random(rnd, DType.F32, 300, 90),
                                Tensor.zeros(DType.F32, Device.CPU, 70, 90), 1f, 0f, "caller " + seed);
                    }
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void cpuBackendUsesThisGemm() {
        Random rnd = new Random(18);
        CpuBackend cpu = new CpuBackend(2);
        Tensor a = random(rnd, DType.F32, 64, 300);
        Tensor b = random(rnd, DType.F32, 300, 48);
        Tensor viaBackend = Tensor.zeros(DType.F32, Device.CPU, 64, 48);
        cpu.matmul(a, b, viaBackend, 1f, 0f);
        Tensor direct = Tensor.zeros(DType.F32, Device.CPU, 64, 48);
        new Gemm(cpu.parallel()).matmul(a, b, direct, 1f, 0f);
        assertArrayEquals(direct.toFloatArray(), viaBackend.toFloatArray());
        assertTrue(cpu.describe().contains("GEMM"), cpu.describe());
        cpu.parallel().close();
    }

    @Test
    void shapeAndDtypeErrorsNameTheOperands() {
        Gemm g = gemm(1, 12);
        Tensor a = Tensor.zeros(DType.F32, Device.CPU, 4, 5);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> g.matmul(a, Tensor.zeros(DType.F32, Device.CPU, 6, 3), Tensor.zeros(DType.F32, Device.CPU, 4, 3), 1f, 0f));
        assertTrue(e.getMessage().contains("[4, 5]") && e.getMessage().contains("[6, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> g.matmul(a, Tensor.zeros(DType.F32, Device.CPU, 5, 3), Tensor.zeros(DType.F32, Device.CPU, 3, 4), 1f, 0f));
        assertTrue(e.getMessage().contains("[3, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> g.matmul(a, Tensor.zeros(DType.BF16, Device.CPU, 5, 3), Tensor.zeros(DType.F32, Device.CPU, 4, 3), 1f, 0f));
        assertTrue(e.getMessage().contains("F32") && e.getMessage().contains("BF16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> g.matmul(a, Tensor.zeros(DType.F32, Device.CPU, 5, 3), Tensor.zeros(DType.I32, Device.CPU, 4, 3), 1f, 0f));
        assertTrue(e.getMessage().contains("I32"), e.getMessage());
        Tensor d = Tensor.zeros(DType.F64, Device.CPU, 4, 5);
        e = assertThrows(IllegalArgumentException.class,
                () -> g.matmul(d, Tensor.zeros(DType.F64, Device.CPU, 5, 3), Tensor.zeros(DType.F64, Device.CPU, 4, 3), 1f, 0f));
        assertTrue(e.getMessage().contains("F64"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> g.matmul(Tensor.zeros(DType.F32, Device.CPU, 2, 4, 5),
                Tensor.zeros(DType.F32, Device.CPU, 3, 5, 3), Tensor.zeros(DType.F32, Device.CPU, 2, 4, 3), 1f, 0f));
        assertTrue(e.getMessage().contains("[3, 5, 3]"), e.getMessage());
    }
}
