package org.internlmj.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.internlmj.tensor.DType;
import org.internlmj.tensor.Ops;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** The gradient checker itself: it must catch small backward errors and name the worst element. */
class GradCheckTest {

    /** {@code exp} whose backward is off by {@code factor} at one element. */
    private static Variable wrongExp(Variable x, double factor, int badIndex) {
        Tensor y = Ops.unary(org.internlmj.tensor.UnaryOp.EXP, x.data());
        return Graph.record("wrongExp", y, (d, need) -> {
            double[] g = Ops.mul(d[0], y).toDoubleArray();
            g[badIndex] *= factor;
            return new Tensor[] {Tensor.of(g, y.shape())};
        }, x);
    }

    @Test
    void catchesARelativeErrorOfOnePartInTenThousandAndNamesTheElement() {
        Tensor x = new Rand(1).uniform(-1, 1, 3, 5);
        GradCheck.Report ok = new GradCheck().run(v -> wrongExp(v[0], 1.0, 7), x);
        assertTrue(ok.passed(), ok.toString());
        GradCheck.Report bad = new GradCheck().run(v -> wrongExp(v[0], 1.0001, 7), x);
        assertFalse(bad.passed());
        assertEquals(0, bad.input());
        assertArrayEquals(new int[] {1, 2}, bad.index());
        assertEquals(bad.numeric() * 1.0001, bad.analytic(), 1e-9);
        AssertionError e = assertThrows(AssertionError.class, bad::assertPassed);
        assertTrue(e.getMessage().contains("input 0 at [1, 2]"), e.getMessage());
    }

    @Test
    void catchesAGradientThatIgnoresBroadcasting() {
        Tensor a = new Rand(2).uniform(-1, 1, 4, 3);
        Tensor b = new Rand(3).uniform(-1, 1, 3);
        // Forward broadcasts b over rows; this backward returns only the first row's gradient for it.
        GradCheck.Report r = new GradCheck().run(v -> {
            Tensor out = Ops.add(v[0].data(), v[1].data());
            return Graph.record("badAdd", out, (d, need) -> new Tensor[] {d[0], d[0].select(0, 0).contiguous()},
                    v[0], v[1]);
        }, a, b);
        assertFalse(r.passed());
        assertEquals(1, r.input());
    }

    @Test
    void aLowerPrecisionResultIsRefused() {
        Tensor x = new Rand(4).uniform(-1, 1, 5);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new GradCheck().run(v -> F.cast(v[0], DType.F32), x));
        assertTrue(e.getMessage().contains("F64"), e.getMessage());
    }

    @Test
    void integerInputsAreRefusedWithAHint() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new GradCheck().run(v -> v[0], Tensor.ofInts(new int[] {1, 2}, 2)));
        assertTrue(e.getMessage().contains("constants"), e.getMessage());
    }

    @Test
    void inputsOfTheCallerAreNotModified() {
        Tensor x = new Rand(5).uniform(-1, 1, 2, 3);
        double[] before = x.toDoubleArray();
        GradCheck.assertGradients(v -> F.square(v[0]), x);
        assertArrayEquals(before, x.toDoubleArray());
    }
}
