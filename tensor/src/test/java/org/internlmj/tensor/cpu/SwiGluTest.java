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
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SwiGluTest {

    static Stream<Arguments> shapes() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            b.add(Arguments.of(dt, new int[] {1}));
            b.add(Arguments.of(dt, new int[] {7}));
            b.add(Arguments.of(dt, new int[] {33, 129}));
            b.add(Arguments.of(dt, new int[] {3, 5, 768}));
            b.add(Arguments.of(dt, new int[] {70_001}));
        }
        return b.build();
    }

    private static void check(Tensor g, Tensor u, DType outType) {
        int[] shape = g.shape();
        Tensor ref = poisoned(outType, shape);
        Tensor out = poisoned(outType, shape);
        REF.swiglu(g, u, ref);
        CPU.swiglu(g, u, out);
        assertClose(ref, out, atol(outType), rtol(outType), "out");

        Tensor d = random(77, g.dtype(), shape);
        Tensor dgRef = poisoned(outType, shape);
        Tensor duRef = poisoned(outType, shape);
        Tensor dg = poisoned(outType, shape);
        Tensor du = poisoned(outType, shape);
        REF.swigluBackward(g, u, d, dgRef, duRef);
        CPU.swigluBackward(g, u, d, dg, du);
        assertClose(dgRef, dg, atol(outType), rtol(outType), "dgate");
        assertClose(duRef, du, atol(outType), rtol(outType), "dup");
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void matchesReference(DType dt, int[] shape) {
        check(uniform(1, -8, 8, dt, shape), random(2, dt, shape), dt);
    }

    @Test
    void halvesOfAFusedProjection() {
        // gate and up as the two halves of one [T, 2I] output: row stride 2I, unit last stride.
        int t = 17;
        int inter = 129;
        Tensor w13 = uniform(3, -6, 6, DType.F32, t, 2 * inter);
        check(w13.narrow(1, 0, inter), w13.narrow(1, inter, inter), DType.F32);
        Tensor w13b = uniform(4, -6, 6, DType.BF16, t, 2 * inter);
        check(w13b.narrow(1, 0, inter), w13b.narrow(1, inter, inter), DType.BF16);
    }

    @Test
    void saturatedGates() {
        // exp(-gate) overflows for very negative gates: silu -> 0 and its slope -> 0, no NaN.
        float[] g = {-200, -100, -88, -30, 0, 30, 88, 100, 200};
        float[] ones = new float[g.length];
        java.util.Arrays.fill(ones, 1.5f);
        check(Tensor.of(g, g.length), Tensor.of(ones, g.length), DType.F32);
    }

    @Test
    void mismatchedShapesAreErrors() {
        Tensor g = random(5, DType.F32, 4, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.swiglu(g, random(6, DType.F32, 4, 9), poisoned(DType.F32, 4, 8)));
        assertTrue(e.getMessage().contains("[4, 9]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.swigluBackward(g, g, g, poisoned(DType.F32, 4, 8),
                poisoned(DType.F32, 8, 4)));
        assertTrue(e.getMessage().contains("[8, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.swiglu(g.to(DType.F64), g.to(DType.F64),
                poisoned(DType.F64, 4, 8)));
        assertTrue(e.getMessage().contains("F64"), e.getMessage());
        Tensor gt = random(7, DType.F32, 8, 4).transpose(0, 1);
        e = assertThrows(IllegalArgumentException.class, () -> CPU.swiglu(gt, g, poisoned(DType.F32, 4, 8)));
        assertTrue(e.getMessage().contains("stride"), e.getMessage());
    }
}
