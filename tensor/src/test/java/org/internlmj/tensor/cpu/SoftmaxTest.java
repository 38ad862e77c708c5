package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.KernelTesting.assertClose;
import static org.internlmj.tensor.cpu.KernelTesting.assertSameBits;
import static org.internlmj.tensor.cpu.KernelTesting.random;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

class SoftmaxTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final CpuBackend CPU = new CpuBackend(2);
    private static final int[][] SHAPES = {{1}, {1, 1}, {3, 7}, {5, 33}, {4, 129}, {3, 4, 17}, {2, 1000}, {2, 50_000}};

    /** Softmax outputs are probabilities: ulps of each value plus a floor; log-softmax: ulps of the lse. */
    private static void checkForward(Tensor x, Tensor out, boolean log, String what) {
        Tensor expected = Tensor.zeros(out.dtype(), Device.CPU, out.shape());
        REF.softmax(x, expected, log);
        CPU.softmax(x, out, log);
        double rtol = KernelTesting.rtol(out.dtype(), 6);
        assertClose(expected, out, log ? 1e-5 : 1e-9, rtol, (log ? "logSoftmax " : "softmax ") + what);
    }

    private static void checkBackward(Tensor y, Tensor dy, Tensor dx, boolean log, String what) {
        Tensor expected = Tensor.zeros(dx.dtype(), Device.CPU, dx.shape());
        REF.softmaxBackward(y, dy, expected, log);
        CPU.softmaxBackward(y, dy, dx, log);
        double h = y.size(-1);
        assertClose(expected, dx, 1e-6 * Math.sqrt(h), KernelTesting.rtol(dx.dtype(), 8),
                (log ? "logSoftmaxBackward " : "softmaxBackward ") + what);
    }

    @Test
    void forwardMatchesTheReference() {
        Random rnd = new Random(1);
        for (boolean log : new boolean[] {false, true}) {
            for (int[] shape : SHAPES) {
                for (DType in : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                    for (DType out : new DType[] {DType.F32, in}) {
                        checkForward(random(rnd, in, 4, shape), KernelTesting.sentinel(out, shape),
                                log, in + "->" + out + " " + java.util.Arrays.toString(shape));
                    }
                }
            }
        }
    }

    @Test
    void forwardOnViewsAndInPlace() {
        Random rnd = new Random(2);
        for (boolean log : new boolean[] {false, true}) {
            for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                checkForward(KernelTesting.randomTransposed(rnd, dt, 3, 9, 65), KernelTesting.sentinel(dt, 9, 65), log,
                        "transposed input " + dt);
                checkForward(random(rnd, dt, 3, 9, 65), KernelTesting.sentinel(dt, 65, 9).transpose(0, 1), log,
                        "transposed output " + dt);
                checkForward(KernelTesting.randomNarrowed(rnd, dt, 3, 4, 6, 31), KernelTesting.sentinel(dt, 4, 6, 31), log,
                        "narrowed " + dt);
                Tensor x = random(rnd, dt, 3, 7, 40);
                Tensor copy = KernelTesting.sentinel(dt, 7, 40);
                REF.copy(x, copy);
                Tensor expected = Tensor.zeros(dt, Device.CPU, 7, 40);
                REF.softmax(copy, expected, log);
                CPU.softmax(x, x, log);
                assertClose(expected, x, log ? 1e-5 : 1e-9, KernelTesting.rtol(dt, 6), "in place " + dt);
            }
        }
    }

    @Test
    void hugeMaskedAndNaNRows() {
        double inf = Double.POSITIVE_INFINITY;
        double[] v = {
            1e4, -1e4, 3e4, 2.5e4, 0, 0, 0, 0, 0, 0, // large logits: max subtraction keeps exp finite
            -inf, 0.5, -inf, 1.5, -inf, -inf, 2.0, -inf, -inf, -inf, // masked (causal) entries
            1, 2, Double.NaN, 4, 5, 6, 7, 8, 9, 10, // NaN spreads through its row only
            -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, // fully masked: NaN, as the reference
        };
        Tensor x = KernelTesting.of(DType.F32, v, 4, 10);
        for (boolean log : new boolean[] {false, true}) {
            Tensor expected = Tensor.zeros(DType.F32, Device.CPU, 4, 10);
            Tensor out = KernelTesting.sentinel(DType.F32, 4, 10);
            REF.softmax(x, expected, log);
            CPU.softmax(x, out, log);
            assertClose(expected, out, 1e-6, 1e-6, "special rows log=" + log);
        }
    }

    @Test
    void backwardMatchesTheReference() {
        Random rnd = new Random(3);
        for (boolean log : new boolean[] {false, true}) {
            for (int[] shape : SHAPES) {
                for (DType dt : new DType[] {DType.F32, DType.BF16}) {
                    Tensor y = KernelTesting.sentinel(dt, shape);
                    REF.softmax(random(rnd, DType.F32, 3, shape), y, log);
                    Tensor dy = random(rnd, dt, 1, shape);
                    checkBackward(y, dy, KernelTesting.sentinel(dt, shape), log, dt + " " + java.util.Arrays.toString(shape));
                    checkBackward(y, dy, KernelTesting.sentinel(DType.F32, shape), log, dt + "->F32 " + java.util.Arrays.toString(shape));
                }
            }
            Tensor y = Tensor.zeros(DType.F32, Device.CPU, 8, 70);
            REF.softmax(random(rnd, DType.F32, 3, 8, 70), y, log);
            Tensor dyT = KernelTesting.randomTransposed(rnd, DType.F32, 1, 8, 70);
            checkBackward(y, dyT, KernelTesting.sentinel(DType.F32, 70, 8).transpose(0, 1), log, "transposed dy and dx");
            Tensor dy = random(rnd, DType.F32, 1, 8, 70);
            Tensor expected = Tensor.zeros(DType.F32, Device.CPU, 8, 70);
            REF.softmaxBackward(y, dy, expected, log);
            CPU.softmaxBackward(y, dy, dy, log);
            assertClose(expected, dy, 1e-5, 1e-5, "dx written over dy");
        }
    }

    @Test
    void resultsAreTheSameOnOneAndTwoThreads() {
        Random rnd = new Random(4);
        Tensor x = random(rnd, DType.F32, 5, 37, 3001);
        Tensor xb = random(rnd, DType.BF16, 5, 300, 129);
        Tensor dy = random(rnd, DType.F32, 1, 37, 3001);
        KernelTesting.withOneAndTwoThreads((one, two) -> {
            for (boolean log : new boolean[] {false, true}) {
                for (Tensor in : new Tensor[] {x, xb}) {
                    Tensor a = KernelTesting.sentinel(in.dtype(), in.shape());
                    Tensor b = KernelTesting.sentinel(in.dtype(), in.shape());
                    one.softmax(in, a, log);
                    two.softmax(in, b, log);
                    assertSameBits(a, b, "softmax log=" + log + " " + in);
                }
                Tensor y = KernelTesting.sentinel(DType.F32, x.shape());
                two.softmax(x, y, log);
                Tensor a = KernelTesting.sentinel(DType.F32, x.shape());
                Tensor b = KernelTesting.sentinel(DType.F32, x.shape());
                one.softmaxBackward(y, dy, a, log);
                two.softmaxBackward(y, dy, b, log);
                assertSameBits(a, b, "backward log=" + log);
            }
        });
    }

    @Test
    void errorsNameShapesAndDtypes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.softmax(Tensor.zeros(DType.F32, Device.CPU, 3, 4), Tensor.zeros(DType.F32, Device.CPU, 4, 3), false));
        assertTrue(e.getMessage().contains("[3, 4]") && e.getMessage().contains("[4, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.softmaxBackward(Tensor.zeros(DType.F32, Device.CPU, 3, 4), Tensor.zeros(DType.F32, Device.CPU, 3, 5),
                        Tensor.zeros(DType.F32, Device.CPU, 3, 4), true));
        assertTrue(e.getMessage().contains("[3, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.softmax(Tensor.zeros(DType.F64, Device.CPU, 3, 4), Tensor.zeros(DType.F64, Device.CPU, 3, 4), false));
        assertTrue(e.getMessage().contains("F64"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.softmax(Tensor.zeros(DType.F32, Device.CPU), Tensor.zeros(DType.F32, Device.CPU), false));
        assertTrue(e.getMessage().contains("scalar"), e.getMessage());
    }
}
