package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.KernelTesting.assertClose;
import static org.internlmj.tensor.cpu.KernelTesting.assertSameBits;
import static org.internlmj.tensor.cpu.KernelTesting.random;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

class ElementwiseTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final CpuBackend CPU = new CpuBackend(2);
    private static final int[] SIZES = {1, 7, 33, 129, 1000};
    private static final DType[] FLOATS = {DType.F32, DType.BF16, DType.F16};

    /** Inputs inside each op's domain, spread wide enough to reach the interesting ranges. */
    private static Tensor input(Random rnd, UnaryOp op, DType dtype, int... shape) {
        Tensor x = random(rnd, dtype, op == UnaryOp.EXP || op == UnaryOp.SIGMOID || op == UnaryOp.SILU ? 12 : 3, shape);
        if (op == UnaryOp.LOG || op == UnaryOp.SQRT || op == UnaryOp.RSQRT) {
            CpuStorage s = (CpuStorage) x.storage();
            for (int i = 0; i < x.numel(); i++) {
                s.set(i, Math.abs(s.get(i)) + 1e-3);
            }
        }
        return x;
    }

    /** Tolerance of an op in fp32 ulps (the vector functions: <= 1 ulp, plus the reciprocal in RSQRT). */
    private static double ulps(UnaryOp op) {
        return switch (op) {
            case NEG, ABS, SQRT, SQUARE, RECIPROCAL, RELU -> 0.5;
            default -> 3;
        };
    }

    private static void checkUnary(UnaryOp op, Tensor x, Tensor out, String what) {
        Tensor expected = Tensor.zeros(out.dtype(), Device.CPU, out.shape());
        REF.unary(op, x, expected);
        CPU.unary(op, x, out);
        assertClose(expected, out, 1e-30, KernelTesting.rtol(out.dtype(), ulps(op)) * 1.01, what);
    }

    @Test
    void unaryMatchesReferenceForEveryOpSizeAndDtype() {
        Random rnd = new Random(1);
        for (UnaryOp op : UnaryOp.values()) {
            for (DType in : FLOATS) {
                for (DType out : FLOATS) {
                    for (int n : SIZES) {
                        Tensor x = input(rnd, op, in, 3, n);
                        checkUnary(op, x, Tensor.zeros(out, Device.CPU, 3, n), op + " " + in + "->" + out + " [3," + n + "]");
                    }
                }
            }
        }
    }

    @Test
    void unaryOnViewsAndBroadcasts() {
        Random rnd = new Random(2);
        for (UnaryOp op : new UnaryOp[] {UnaryOp.EXP, UnaryOp.SILU, UnaryOp.RSQRT, UnaryOp.NEG}) {
            for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                Tensor xt = input(rnd, op, dt, 45, 37).transpose(0, 1);
                checkUnary(op, xt, Tensor.zeros(dt, Device.CPU, 37, 45), op + " transposed input " + dt);
                Tensor outT = Tensor.zeros(dt, Device.CPU, 45, 37).transpose(0, 1);
                checkUnary(op, input(rnd, op, dt, 37, 45), outT, op + " transposed output " + dt);
                Tensor big = input(rnd, op, dt, 20, 50);
                checkUnary(op, big.narrow(0, 3, 9).narrow(1, 5, 33), Tensor.zeros(dt, Device.CPU, 9, 33), op + " narrowed " + dt);
                checkUnary(op, input(rnd, op, dt, 33), Tensor.zeros(dt, Device.CPU, 5, 33), op + " row broadcast " + dt);
                checkUnary(op, input(rnd, op, dt, 5, 1), Tensor.zeros(dt, Device.CPU, 5, 33), op + " column broadcast " + dt);
                checkUnary(op, input(rnd, op, dt), Tensor.zeros(dt, Device.CPU, 4, 9), op + " scalar broadcast " + dt);
            }
        }
    }

    @Test
    void unarySpecialValuesAgreeWithTheReference() {
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 1f, -1f,
            Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, 1e-30f, 88.7f, 88.8f, -87.4f, -103.9f, -104f, -150f,
            200f, -200f, 1e30f, -1e30f, Float.MAX_VALUE, 0.625f, -0.625f, 0.624f, 9f, 20f, 1e-8f, -1e-8f};
        double[] v = new double[specials.length];
        for (int i = 0; i < v.length; i++) {
            v[i] = specials[i];
        }
        Tensor x = KernelTesting.of(DType.F32, v, v.length);
        for (UnaryOp op : UnaryOp.values()) {
            Tensor expected = Tensor.zeros(DType.F32, Device.CPU, v.length);
            Tensor out = Tensor.zeros(DType.F32, Device.CPU, v.length);
            REF.unary(op, x, expected);
            CPU.unary(op, x, out);
            // absolute floor: exp/sigmoid/silu of very negative inputs underflow a little differently
            assertClose(expected, out, 1e-37, KernelTesting.rtol(DType.F32, ulps(op)) * 1.01, op + " specials");
        }
    }

    @Test
    void binaryIsExactForEveryOpBroadcastAndDtype() {
        // fp32 +,-,*,/,max,min round once, and so do the reference's double results rounded to fp32: equal bits
        Random rnd = new Random(3);
        int[][][] patterns = {
            {{5, 33}, {5, 33}, {5, 33}},
            {{7, 129}, {129}, {7, 129}},
            {{129}, {7, 129}, {7, 129}},
            {{6, 1}, {6, 17}, {6, 17}},
            {{6, 17}, {}, {6, 17}},
            {{}, {6, 17}, {6, 17}},
            {{1}, {1}, {3, 2}},
            {{3, 1, 5}, {4, 1}, {3, 4, 5}},
            {{1, 1000}, {1}, {1, 1000}},
            {{2, 3, 1}, {1, 1, 7}, {2, 3, 7}},
        };
        for (BinaryOp op : BinaryOp.values()) {
            for (int[][] p : patterns) {
                for (DType da : FLOATS) {
                    DType db = da == DType.F32 ? DType.BF16 : DType.F32;
                    for (DType dout : new DType[] {DType.F32, da}) {
                        Tensor a = random(rnd, da, 2, p[0]);
                        Tensor b = random(rnd, db, 2, p[1]);
                        Tensor expected = Tensor.zeros(dout, Device.CPU, p[2]);
                        Tensor out = KernelTesting.sentinel(dout, p[2]);
                        REF.binary(op, a, b, expected);
                        CPU.binary(op, a, b, out);
                        assertSameBits(expected, out, op + " " + da + "," + db + "->" + dout + " "
                                + java.util.Arrays.deepToString(p));
                    }
                }
            }
        }
    }

    @Test
    void binaryOnTransposedAndNarrowedViews() {
        Random rnd = new Random(4);
        for (BinaryOp op : BinaryOp.values()) {
            for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                Tensor a = KernelTesting.randomTransposed(rnd, dt, 1, 31, 47);
                Tensor b = KernelTesting.randomNarrowed(rnd, dt, 1, 31, 47);
                Tensor expected = Tensor.zeros(dt, Device.CPU, 31, 47);
                REF.binary(op, a, b, expected);
                Tensor outT = Tensor.zeros(dt, Device.CPU, 47, 31).transpose(0, 1);
                CPU.binary(op, a, b, outT);
                assertSameBits(expected, outT, op + " views " + dt);
                Tensor bias = KernelTesting.randomNarrowed(rnd, dt, 1, 47).narrow(0, 0, 47);
                Tensor expected2 = Tensor.zeros(dt, Device.CPU, 31, 47);
                Tensor out2 = Tensor.zeros(dt, Device.CPU, 31, 47);
                REF.binary(op, a, bias, expected2);
                CPU.binary(op, a, bias, out2);
                assertSameBits(expected2, out2, op + " transposed + row " + dt);
            }
        }
    }

    @Test
    void binaryNaNAndSignedZeros() {
        double[] va = {Double.NaN, 1, -0.0, 0.0, Double.POSITIVE_INFINITY, Double.NaN, -1, 3, 0.0, 7, 8, 9};
        double[] vb = {1, Double.NaN, 0.0, -0.0, Double.POSITIVE_INFINITY, Double.NaN, Double.NEGATIVE_INFINITY, 0, 0,
            -7, 8, -9};
        Tensor a = KernelTesting.of(DType.F32, va, va.length);
        Tensor b = KernelTesting.of(DType.F32, vb, vb.length);
        for (BinaryOp op : BinaryOp.values()) {
            Tensor expected = Tensor.zeros(DType.F32, Device.CPU, va.length);
            Tensor out = Tensor.zeros(DType.F32, Device.CPU, va.length);
            REF.binary(op, a, b, expected);
            CPU.binary(op, a, b, out);
            KernelTesting.assertSameValues(expected, out, op + " specials");
            for (int i = 0; i < va.length; i++) {
                if (!Double.isNaN(expected.get(i))) {
                    assertTrue(Double.doubleToRawLongBits(expected.get(i)) == Double.doubleToRawLongBits(out.get(i)),
                            op + " sign of zero at " + i);
                }
            }
        }
    }

    @Test
    void affineMatchesReference() {
        Random rnd = new Random(5);
        for (DType in : FLOATS) {
            for (DType outType : FLOATS) {
                for (int n : SIZES) {
                    Tensor x = random(rnd, in, 3, 2, n);
                    Tensor expected = Tensor.zeros(outType, Device.CPU, 2, n);
                    Tensor out = Tensor.zeros(outType, Device.CPU, 2, n);
                    REF.affine(x, 0.125, -2.5, expected);
                    CPU.affine(x, 0.125, -2.5, out);
                    assertSameBits(expected, out, "affine exact scale " + in + "->" + outType + " n=" + n);
                    REF.affine(x, 1 / 3.0, 0.1, expected);
                    CPU.affine(x, 1 / 3.0, 0.1, out);
                    assertClose(expected, out, 1e-7, KernelTesting.rtol(outType, 2), "affine " + in + "->" + outType);
                }
            }
        }
        Tensor bias = random(rnd, DType.F32, 1, 9);
        Tensor expected = Tensor.zeros(DType.F32, Device.CPU, 4, 9);
        Tensor out = Tensor.zeros(DType.F32, Device.CPU, 4, 9).transpose(0, 1).transpose(0, 1);
        REF.affine(bias, 2, 1, expected);
        CPU.affine(bias, 2, 1, out);
        assertSameBits(expected, out, "affine broadcast row");
    }

    @Test
    void inPlaceOperationsReadBeforeTheyWrite() {
        Random rnd = new Random(6);
        Tensor x = random(rnd, DType.F32, 1, 3, 100);
        Tensor y = random(rnd, DType.F32, 1, 100);
        Tensor expected = Tensor.zeros(DType.F32, Device.CPU, 3, 100);
        REF.binary(BinaryOp.MUL, x, y, expected);
        CPU.binary(BinaryOp.MUL, x, y, x);
        assertSameBits(expected, x, "x *= y");
        Tensor h = random(rnd, DType.BF16, 1, 3, 100);
        Tensor expectedH = Tensor.zeros(DType.BF16, Device.CPU, 3, 100);
        REF.unary(UnaryOp.SILU, h, expectedH);
        CPU.unary(UnaryOp.SILU, h, h);
        assertClose(expectedH, h, 1e-30, KernelTesting.rtol(DType.BF16, 0) * 1.01, "silu in place bf16");
    }

    @Test
    void largeTensorsGoParallelAndGiveTheSameBitsOnOneOrTwoThreads() {
        Random rnd = new Random(7);
        int n = 3 * (1 << 15) + 77;
        Tensor a = random(rnd, DType.F32, 4, n);
        Tensor b = random(rnd, DType.F32, 4, n);
        Tensor ab = random(rnd, DType.BF16, 4, 5, n / 5 + 1).narrow(1, 0, n / 5);
        KernelTesting.withOneAndTwoThreads((one, two) -> {
            for (UnaryOp op : UnaryOp.values()) {
                Tensor y1 = Tensor.zeros(DType.F32, Device.CPU, n);
                Tensor y2 = Tensor.zeros(DType.F32, Device.CPU, n);
                one.unary(op, a, y1);
                two.unary(op, a, y2);
                assertSameBits(y1, y2, op + " 1 vs 2 threads");
                Tensor z1 = Tensor.zeros(DType.BF16, Device.CPU, 5, n / 5);
                Tensor z2 = Tensor.zeros(DType.BF16, Device.CPU, 5, n / 5);
                one.unary(op, ab, z1);
                two.unary(op, ab, z2);
                assertSameBits(z1, z2, op + " bf16 view 1 vs 2 threads");
            }
            Tensor expected = Tensor.zeros(DType.F32, Device.CPU, n);
            Tensor y = Tensor.zeros(DType.F32, Device.CPU, n);
            REF.binary(BinaryOp.ADD, a, b, expected);
            two.binary(BinaryOp.ADD, a, b, y);
            assertSameBits(expected, y, "large add");
        });
    }

    @Test
    void errorsNameShapesAndDtypes() {
        Tensor a = Tensor.zeros(DType.F32, Device.CPU, 3, 4);
        Tensor b = Tensor.zeros(DType.F32, Device.CPU, 5);
        Tensor out = Tensor.zeros(DType.F32, Device.CPU, 3, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.binary(BinaryOp.ADD, a, b, out));
        assertTrue(e.getMessage().contains("[5]") && e.getMessage().contains("[3, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.unary(UnaryOp.EXP, Tensor.zeros(DType.F32, Device.CPU, 4, 3), out));
        assertTrue(e.getMessage().contains("[4, 3]") && e.getMessage().contains("[3, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.unary(UnaryOp.EXP, Tensor.zeros(DType.F64, Device.CPU, 3, 4), out));
        assertTrue(e.getMessage().contains("F64"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.affine(Tensor.zeros(DType.I32, Device.CPU, 3, 4), 1, 0, out));
        assertTrue(e.getMessage().contains("I32"), e.getMessage());
    }
}
