package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.KernelTesting.assertSameBits;
import static org.internlmj.tensor.cpu.KernelTesting.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.internlmj.tensor.testing.TensorAssert;
import org.junit.jupiter.api.Test;

class ReductionsTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final CpuBackend CPU = new CpuBackend(2);

    private static int[] reducedShape(int[] shape, int dim) {
        int[] s = shape.clone();
        s[dim] = 1;
        return s;
    }

    /**
     * SUM/MEAN against float64: fp32 partials cost a few ulps of the sum of magnitudes; MAX/MIN are
     * exact. The output's own rounding (BF16/F16) comes on top.
     */
    private static void check(ReduceOp op, Tensor x, int dim, DType outType, String what) {
        int d = dim < 0 ? dim + x.rank() : dim;
        Tensor expected = Tensor.zeros(outType, Device.CPU, reducedShape(x.shape(), d));
        Tensor out = KernelTesting.sentinel(outType, reducedShape(x.shape(), d));
        REF.reduce(op, x, d, expected);
        CPU.reduce(op, x, dim, out);
        if (op == ReduceOp.MAX || op == ReduceOp.MIN) {
            KernelTesting.assertSameValues(expected, out, what);
            return;
        }
        Tensor abs = Tensor.zeros(DType.F32, Device.CPU, x.shape());
        REF.unary(org.internlmj.tensor.UnaryOp.ABS, x, abs);
        Tensor mag = Tensor.zeros(DType.F64, Device.CPU, reducedShape(x.shape(), d));
        REF.reduce(op, abs, d, mag);
        double[] e = KernelTesting.values(expected);
        double[] a = KernelTesting.values(out);
        double[] m = KernelTesting.values(mag);
        double rtol = KernelTesting.rtol(outType, 0.5);
        for (int i = 0; i < e.length; i++) {
            double tol = 64 * 0x1p-24 * m[i] + rtol * Math.abs(e[i]) + 1e-30;
            if (!(Math.abs(e[i] - a[i]) <= tol) && !(Double.isNaN(e[i]) && Double.isNaN(a[i]))) {
                throw new AssertionError(what + ": output " + i + " expected " + e[i] + ", got " + a[i] + " (tolerance "
                        + tol + ")");
            }
        }
    }

    @Test
    void everyOpAndDimensionOnOddShapes() {
        Random rnd = new Random(1);
        int[][] shapes = {{1}, {7}, {3, 33}, {129, 7}, {5, 1, 9}, {4, 6, 17}, {2, 3, 4, 5}, {64, 100}, {31, 65}};
        for (ReduceOp op : ReduceOp.values()) {
            for (int[] shape : shapes) {
                for (int dim = 0; dim < shape.length; dim++) {
                    for (DType in : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                        Tensor x = random(rnd, in, 3, shape);
                        check(op, x, dim, DType.F32, op + " " + in + " " + java.util.Arrays.toString(shape) + " dim " + dim);
                    }
                    check(op, random(rnd, DType.F32, 3, shape), dim - shape.length, DType.BF16,
                            op + " -> BF16 " + java.util.Arrays.toString(shape) + " dim " + dim);
                }
            }
        }
    }

    @Test
    void columnSumsOfWideAndTallMatrices() {
        Random rnd = new Random(2);
        // the bias gradient: [N, H] summed over rows; widths cover full column blocks, partial vectors and a tail
        for (int h : new int[] {1, 5, 8, 31, 32, 33, 100}) {
            for (int n : new int[] {1, 255, 256, 257, 1000}) {
                for (ReduceOp op : ReduceOp.values()) {
                    check(op, random(rnd, DType.F32, 1, n, h), 0, DType.F32, op + " columns [" + n + ", " + h + "]");
                }
                check(ReduceOp.SUM, random(rnd, DType.BF16, 1, n, h), 0, DType.F32, "bf16 columns [" + n + ", " + h + "]");
            }
        }
        check(ReduceOp.SUM, random(rnd, DType.F32, 1, 3000, 768), 0, DType.F32, "bias gradient [3000, 768]");
    }

    @Test
    void longRowsSpanSeveralBlocks() {
        Random rnd = new Random(3);
        for (int[] shape : new int[][] {{1, 100_000}, {2, 20_001}, {6, 9000}, {40, 4097}}) {
            for (ReduceOp op : ReduceOp.values()) {
                check(op, random(rnd, DType.F32, 1, shape), 1, DType.F32, op + " " + java.util.Arrays.toString(shape));
            }
            check(ReduceOp.MEAN, random(rnd, DType.BF16, 1, shape), 1, DType.F32, "bf16 mean " + java.util.Arrays.toString(shape));
        }
    }

    @Test
    void stridedViews() {
        Random rnd = new Random(4);
        for (ReduceOp op : ReduceOp.values()) {
            for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                Tensor xt = KernelTesting.randomTransposed(rnd, dt, 2, 37, 45);
                check(op, xt, 1, DType.F32, op + " transposed dim 1 " + dt);
                check(op, xt, 0, DType.F32, op + " transposed dim 0 " + dt);
                Tensor xn = KernelTesting.randomNarrowed(rnd, dt, 2, 9, 10, 11);
                for (int d = 0; d < 3; d++) {
                    check(op, xn, d, DType.F32, op + " narrowed dim " + d + " " + dt);
                }
                Tensor xp = random(rnd, dt, 2, 6, 7, 8).permute(2, 0, 1);
                for (int d = 0; d < 3; d++) {
                    check(op, xp, d, DType.F32, op + " permuted dim " + d + " " + dt);
                }
            }
        }
        Tensor x = random(rnd, DType.F32, 1, 12, 30);
        Tensor expected = Tensor.zeros(DType.F32, Device.CPU, 1, 30);
        REF.reduce(ReduceOp.MAX, x, 0, expected);
        Tensor out = KernelTesting.sentinel(DType.F32, 30, 1).transpose(0, 1);
        CPU.reduce(ReduceOp.MAX, x, 0, out);
        KernelTesting.assertSameValues(expected, out, "into a transposed output");
    }

    @Test
    void emptyReductionsNaNAndInfinities() {
        Tensor empty = Tensor.zeros(DType.F32, Device.CPU, 3, 0);
        for (ReduceOp op : ReduceOp.values()) {
            Tensor expected = Tensor.zeros(DType.F32, Device.CPU, 3, 1);
            Tensor out = KernelTesting.sentinel(DType.F32, 3, 1);
            REF.reduce(op, empty, 1, expected);
            CPU.reduce(op, empty, 1, out);
            KernelTesting.assertSameValues(expected, out, op + " of nothing");
        }
        double[] v = new double[3 * 40];
        for (int i = 0; i < v.length; i++) {
            v[i] = i % 7 - 3;
        }
        v[5] = Double.NaN;
        v[40 + 17] = Double.POSITIVE_INFINITY;
        v[80 + 39] = Double.NEGATIVE_INFINITY;
        Tensor x = KernelTesting.of(DType.F32, v, 3, 40);
        for (ReduceOp op : ReduceOp.values()) {
            for (int dim = 0; dim < 2; dim++) {
                Tensor expected = Tensor.zeros(DType.F32, Device.CPU, reducedShape(x.shape(), dim));
                Tensor out = KernelTesting.sentinel(DType.F32, reducedShape(x.shape(), dim));
                REF.reduce(op, x, dim, expected);
                CPU.reduce(op, x, dim, out);
                KernelTesting.assertSameValues(expected, out, op + " specials dim " + dim);
            }
        }
    }

    @Test
    void resultsAreTheSameOnOneAndTwoThreads() {
        Random rnd = new Random(5);
        // [6, 9000]: one thread reduces each row in one task, two threads split rows into blocks
        Tensor[] inputs = {random(rnd, DType.F32, 1, 6, 9000), random(rnd, DType.F32, 1, 1, 300_001),
            random(rnd, DType.F32, 1, 4000, 130), random(rnd, DType.BF16, 1, 700, 90).transpose(0, 1)};
        KernelTesting.withOneAndTwoThreads((one, two) -> {
            for (Tensor x : inputs) {
                for (int dim = 0; dim < 2; dim++) {
                    for (ReduceOp op : ReduceOp.values()) {
                        Tensor a = KernelTesting.sentinel(DType.F32, reducedShape(x.shape(), dim));
                        Tensor b = KernelTesting.sentinel(DType.F32, reducedShape(x.shape(), dim));
                        one.reduce(op, x, dim, a);
                        two.reduce(op, x, dim, b);
                        assertSameBits(a, b, op + " " + x + " dim " + dim);
                    }
                }
                assertEquals(one.sumOfSquares(x), two.sumOfSquares(x), 0.0, "sumOfSquares " + x);
                assertEquals(Double.doubleToRawLongBits(one.sumOfSquares(x)), Double.doubleToRawLongBits(two.sumOfSquares(x)));
            }
        });
    }

    @Test
    void sumOfSquaresIsAccurateInDouble() {
        Random rnd = new Random(6);
        for (int n : new int[] {1, 7, 33, 16_385, 200_003}) {
            for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                Tensor x = random(rnd, dt, 3, n);
                double e = REF.sumOfSquares(x);
                double a = CPU.sumOfSquares(x);
                // only the order of the double additions differs: the reference's sequential sum is off by up to n ulps
                assertEquals(e, a, n * 0x1p-52 * e, dt + " n=" + n);
            }
        }
        Tensor v = KernelTesting.randomNarrowed(rnd, DType.F32, 2, 50, 70).transpose(0, 1);
        assertEquals(REF.sumOfSquares(v), CPU.sumOfSquares(v), 1e-13 * REF.sumOfSquares(v), "strided view");
        Tensor big = KernelTesting.of(DType.F32, new double[] {3e38, 3e38}, 2);
        assertTrue(Double.isFinite(CPU.sumOfSquares(big)), "squares beyond the float range stay finite in double");
        Tensor nan = KernelTesting.of(DType.F32, new double[] {1, Double.NaN, 2}, 3);
        assertTrue(Double.isNaN(CPU.sumOfSquares(nan)));
        assertEquals(0.0, CPU.sumOfSquares(Tensor.zeros(DType.F32, Device.CPU, 0)));
        TensorAssert.assertClose(new double[] {25}, new double[] {CPU.sumOfSquares(Tensor.of(new float[] {3, 4}, 2))}, 0, 0,
                "3^2 + 4^2");
    }

    @Test
    void errorsNameShapesAndDims() {
        Tensor x = Tensor.zeros(DType.F32, Device.CPU, 3, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.reduce(ReduceOp.SUM, x, 1, Tensor.zeros(DType.F32, Device.CPU, 1, 4)));
        assertTrue(e.getMessage().contains("[3, 1]") && e.getMessage().contains("[1, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.reduce(ReduceOp.SUM, x, 2, Tensor.zeros(DType.F32, Device.CPU, 3, 1)));
        assertTrue(e.getMessage().contains("dimension 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.reduce(ReduceOp.MAX, Tensor.zeros(DType.I32, Device.CPU, 3, 4), 1,
                        Tensor.zeros(DType.F32, Device.CPU, 3, 1)));
        assertTrue(e.getMessage().contains("I32"), e.getMessage());
    }
}
