package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.FusedFixtures.CPU;
import static org.internlmj.tensor.cpu.FusedFixtures.REF;
import static org.internlmj.tensor.cpu.FusedFixtures.atol;
import static org.internlmj.tensor.cpu.FusedFixtures.poisoned;
import static org.internlmj.tensor.cpu.FusedFixtures.random;
import static org.internlmj.tensor.cpu.FusedFixtures.rtol;
import static org.internlmj.tensor.cpu.FusedFixtures.uniform;
import static org.internlmj.tensor.testing.TensorAssert.assertClose;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class NormsTest {
    private static final float EPS = 1e-5f;

    static Stream<Arguments> shapes() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (int h : new int[] {1, 7, 33, 129, 768}) {
                b.add(Arguments.of(dt, 37, h));
            }
        }
        // More rows than the gradient column sum has chunks of its minimum size: chunks of 17 rows.
        b.add(Arguments.of(DType.F32, 2100, 7));
        b.add(Arguments.of(DType.F32, 1, 4096));
        b.add(Arguments.of(DType.BF16, 300, 64));
        return b.build();
    }

    /** x rows of width h with a gap after each (row stride h + 3): a non-contiguous view with unit last stride. */
    private static Tensor gappedRows(long seed, DType dt, int n, int h) {
        return random(seed, dt, n, h + 3).narrow(1, 2, h);
    }

    private static void rmsNormBoth(Tensor x, Tensor w, DType dt, int n, int h, double gradAtol) {
        Tensor yRef = poisoned(dt, x.shape());
        Tensor rRef = poisoned(DType.F32, n);
        Tensor y = poisoned(dt, x.shape());
        Tensor r = poisoned(DType.F32, n);
        REF.rmsNorm(x, w, EPS, yRef, rRef);
        CPU.rmsNorm(x, w, EPS, y, r);
        assertClose(rRef, r, 1e-6, 1e-5, "rstd");
        assertClose(yRef, y, atol(dt), rtol(dt), "y");

        Tensor dy = random(99, dt, x.shape());
        Tensor dxRef = poisoned(dt, x.shape());
        Tensor dwRef = poisoned(dt, h);
        Tensor dx = poisoned(dt, x.shape());
        Tensor dw = poisoned(dt, h);
        REF.rmsNormBackward(x, w, rRef, dy, dxRef, dwRef);
        CPU.rmsNormBackward(x, w, rRef, dy, dx, dw);
        assertClose(dxRef, dx, atol(dt), rtol(dt), "dx");
        assertClose(dwRef, dw, Math.max(gradAtol, atol(dt)), rtol(dt), "dweight");
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void rmsNormMatchesReference(DType dt, int n, int h) {
        Tensor x = random(1, dt, n, h);
        Tensor w = uniform(2, 0.5, 1.5, dt, h);
        rmsNormBoth(x, w, dt, n, h, 2e-6 * n);
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void layerNormMatchesReference(DType dt, int n, int h) {
        Tensor x = uniform(3, -1, 3, dt, n, h);
        Tensor w = uniform(4, 0.5, 1.5, dt, h);
        Tensor bias = random(5, dt, h);
        layerNormBoth(x, w, bias, dt, n, h);
        layerNormBoth(x, w, null, dt, n, h);
    }

    private static void layerNormBoth(Tensor x, Tensor w, Tensor bias, DType dt, int n, int h) {
        Tensor yRef = poisoned(dt, x.shape());
        Tensor mRef = poisoned(DType.F32, n);
        Tensor rRef = poisoned(DType.F32, n);
        Tensor y = poisoned(dt, x.shape());
        Tensor m = poisoned(DType.F32, n);
        Tensor r = poisoned(DType.F32, n);
        REF.layerNorm(x, w, bias, EPS, yRef, mRef, rRef);
        CPU.layerNorm(x, w, bias, EPS, y, m, r);
        assertClose(mRef, m, 1e-6, 1e-5, "mean");
        // rstd of a row of one element is 1/sqrt(eps): the variance is exactly 0 on both sides.
        assertClose(rRef, r, 1e-6, 1e-5, "rstd");
        assertClose(yRef, y, atol(dt), rtol(dt), "y");

        Tensor dy = random(98, dt, x.shape());
        Tensor dxRef = poisoned(dt, x.shape());
        Tensor dwRef = poisoned(dt, h);
        Tensor dbRef = poisoned(dt, h);
        Tensor dx = poisoned(dt, x.shape());
        Tensor dw = poisoned(dt, h);
        Tensor db = poisoned(dt, h);
        REF.layerNormBackward(x, w, mRef, rRef, dy, dxRef, dwRef, bias == null ? null : dbRef);
        CPU.layerNormBackward(x, w, mRef, rRef, dy, dx, dw, bias == null ? null : db);
        // h == 1: x - mean is exactly 0, dx is the difference of equal terms and rounds to tiny values.
        assertClose(dxRef, dx, h == 1 ? 1e-3 : atol(dt), rtol(dt), "dx");
        assertClose(dwRef, dw, Math.max(2e-6 * n, atol(dt)), rtol(dt), "dweight");
        if (bias != null) {
            assertClose(dbRef, db, Math.max(2e-6 * n, atol(dt)), rtol(dt), "dbias");
        }
    }

    @Test
    void stridedRowsAndLeadingDimensions() {
        int h = 129;
        // Rows with gaps between them.
        Tensor x = gappedRows(6, DType.F32, 50, h);
        rmsNormBoth(x, uniform(7, 0.5, 1.5, DType.F32, h), DType.F32, 50, h, 1e-4);
        // Leading dimensions that do not collapse into one row stride: [3, 4, H] seen through a transpose.
        Tensor x3 = random(8, DType.BF16, 4, 3, h).transpose(0, 1);
        rmsNormBoth(x3, uniform(9, 0.5, 1.5, DType.F32, h), DType.BF16, 12, h, 1e-4);
        layerNormBoth(x3, uniform(10, 0.5, 1.5, DType.BF16, h), random(11, DType.F32, h), DType.BF16, 12, h);
        // A weight that is itself a strided view.
        Tensor w = uniform(12, 0.5, 1.5, DType.F32, 2 * h).narrow(0, 0, h);
        Tensor wStrided = uniform(12, 0.5, 1.5, DType.F32, h, 2).select(1, 0);
        rmsNormBoth(x, w, DType.F32, 50, h, 1e-4);
        rmsNormBoth(x, wStrided, DType.F32, 50, h, 1e-4);
    }

    @Test
    void statisticsMayBeStridedViews() {
        int n = 21;
        int h = 40;
        Tensor x = random(21, DType.F32, n, h);
        Tensor w = uniform(22, 0.5, 1.5, DType.F32, h);
        Tensor yRef = poisoned(DType.F32, n, h);
        Tensor mRef = poisoned(DType.F32, n);
        Tensor rRef = poisoned(DType.F32, n);
        REF.layerNorm(x, w, null, EPS, yRef, mRef, rRef);
        // mean and rstd as the two columns of one [N, 2] buffer: stride 2 each.
        Tensor stats = poisoned(DType.F32, n, 2);
        Tensor y = poisoned(DType.F32, n, h);
        CPU.layerNorm(x, w, null, EPS, y, stats.select(1, 0), stats.select(1, 1));
        assertClose(mRef, stats.select(1, 0), 1e-6, 1e-5, "mean");
        assertClose(rRef, stats.select(1, 1), 1e-6, 1e-5, "rstd");
        Tensor dy = random(23, DType.F32, n, h);
        Tensor dxRef = poisoned(DType.F32, n, h);
        Tensor dwRef = poisoned(DType.F32, h);
        Tensor dx = poisoned(DType.F32, n, h);
        Tensor dw = poisoned(DType.F32, h);
        REF.layerNormBackward(x, w, mRef, rRef, dy, dxRef, dwRef, null);
        CPU.layerNormBackward(x, w, stats.select(1, 0), stats.select(1, 1), dy, dx, dw, null);
        assertClose(dxRef, dx, 1e-5, 2e-5, "dx");
        assertClose(dwRef, dw, 1e-4, 2e-5, "dweight");
    }

    @Test
    void mixedOutputDTypeRoundsOnStore() {
        // BF16 activations in, F32 out: the output holds the fp32 result, not a BF16-rounded one.
        Tensor x = random(13, DType.BF16, 9, 65);
        Tensor w = uniform(14, 0.5, 1.5, DType.BF16, 65);
        Tensor yRef = poisoned(DType.F32, 9, 65);
        Tensor y = poisoned(DType.F32, 9, 65);
        REF.rmsNorm(x, w, EPS, yRef, poisoned(DType.F32, 9));
        CPU.rmsNorm(x, w, EPS, y, poisoned(DType.F32, 9));
        assertClose(yRef, y, 1e-5, 1e-5, "y");
    }

    @Test
    void zeroRowGivesFiniteOutput() {
        Tensor x = Tensor.zeros(DType.F32, Device.CPU, 2, 8);
        Tensor w = uniform(15, 0.5, 1.5, DType.F32, 8);
        Tensor y = poisoned(DType.F32, 2, 8);
        Tensor r = poisoned(DType.F32, 2);
        CPU.rmsNorm(x, w, EPS, y, r);
        for (float v : y.toFloatArray()) {
            assertTrue(v == 0f, "rmsNorm of a zero row must be 0, got " + v);
        }
        assertClose(new double[] {1 / Math.sqrt(EPS), 1 / Math.sqrt(EPS)}, r.toDoubleArray(), 0, 1e-6, "rstd");
    }

    @Test
    void errorsNameTheShapes() {
        Backend b = CPU;
        Tensor x = random(16, DType.F32, 4, 8);
        Tensor w = random(17, DType.F32, 8);
        Tensor y = poisoned(DType.F32, 4, 8);
        Tensor r = poisoned(DType.F32, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> b.rmsNorm(x, random(18, DType.F32, 7), EPS, y, r));
        assertTrue(e.getMessage().contains("[8]") && e.getMessage().contains("[7]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> b.rmsNorm(x, w, EPS, poisoned(DType.F32, 4, 9), r));
        assertTrue(e.getMessage().contains("[4, 9]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> b.rmsNorm(x, w, EPS, y, poisoned(DType.BF16, 4)));
        assertTrue(e.getMessage().contains("rstd") && e.getMessage().contains("F32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> b.rmsNorm(x, w, EPS, y, poisoned(DType.F32, 5)));
        assertTrue(e.getMessage().contains("[5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> b.rmsNorm(x.to(DType.F64), w, EPS, poisoned(DType.F64, 4, 8), r));
        assertTrue(e.getMessage().contains("F64"), e.getMessage());
        Tensor xt = random(19, DType.F32, 8, 8).transpose(0, 1);
        e = assertThrows(IllegalArgumentException.class, () -> b.rmsNorm(xt, w, EPS, poisoned(DType.F32, 8, 8),
                poisoned(DType.F32, 8)));
        assertTrue(e.getMessage().contains("stride"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> b.layerNormBackward(x, w, r, r, x, y, poisoned(DType.F32, 8), poisoned(DType.F32, 9)));
        assertTrue(e.getMessage().contains("dbias") && e.getMessage().contains("[9]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> b.rmsNormBackward(x, w, r, random(20, DType.F32, 4, 7), y, poisoned(DType.F32, 8)));
        assertTrue(e.getMessage().contains("[4, 7]"), e.getMessage());
    }
}
