package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.FusedFixtures.CPU;
import static org.internlmj.tensor.cpu.FusedFixtures.REF;
import static org.internlmj.tensor.cpu.FusedFixtures.poisoned;
import static org.internlmj.tensor.cpu.FusedFixtures.random;
import static org.internlmj.tensor.cpu.FusedFixtures.uniform;
import static org.internlmj.tensor.testing.TensorAssert.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class AdamWTest {

    private static AdamWStep step(long t) {
        return new AdamWStep(1e-2, 0.9, 0.95, 1e-8, 0.1, t, 0.5);
    }

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (int n : new int[] {1, 7, 33, 129, 100_003}) {
            b.add(Arguments.of(n, DType.F32, DType.BF16));
            b.add(Arguments.of(n, DType.BF16, DType.F32));
            b.add(Arguments.of(n, DType.F16, DType.F16));
        }
        return b.build();
    }

    /** The documented update in plain float arithmetic, operation for operation: the kernel's scalar twin. */
    private static void scalarTwin(float[] p, float[] g, float[] m, float[] v, AdamWStep s) {
        float decay = (float) (1.0 - s.lr() * s.weightDecay());
        float b1 = (float) s.beta1();
        float c1 = (float) (1.0 - s.beta1());
        float b2 = (float) s.beta2();
        float c2 = (float) (1.0 - s.beta2());
        float stepSize = (float) (s.lr() / s.biasCorrection1());
        float bc2Sqrt = (float) Math.sqrt(s.biasCorrection2());
        for (int i = 0; i < p.length; i++) {
            float gi = g[i] * (float) s.gradScale();
            m[i] = m[i] * b1 + c1 * gi;
            v[i] = v[i] * b2 + c2 * gi * gi;
            float denom = (float) Math.sqrt(v[i]) / bc2Sqrt + (float) s.eps();
            p[i] = p[i] * decay - m[i] / denom * stepSize;
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void severalStepsMatchTheReferenceAndTheScalarTwin(int n, DType gradType, DType copyType) {
        Tensor p = random(1, DType.F32, n);
        Tensor m = Tensor.zeros(DType.F32, Device.CPU, n);
        Tensor v = Tensor.zeros(DType.F32, Device.CPU, n);
        Tensor pRef = p.copy();
        Tensor mRef = m.copy();
        Tensor vRef = v.copy();
        float[] pt = p.toFloatArray();
        float[] mt = new float[n];
        float[] vt = new float[n];
        Tensor copy = poisoned(copyType, n);
        for (int t = 1; t <= 5; t++) {
            Tensor g = random(10 + t, gradType, n);
            CPU.adamw(p, g, m, v, step(t), copy);
            REF.adamw(pRef, g, mRef, vRef, step(t), null);
            scalarTwin(pt, g.toFloatArray(), mt, vt, step(t));
        }
        assertClose(pRef, p, 1e-6, 1e-5, "param vs float64 reference");
        assertClose(mRef, m, 1e-7, 1e-5, "m vs float64 reference");
        assertClose(vRef, v, 1e-9, 1e-5, "v vs float64 reference");
        assertArrayEquals(pt, p.toFloatArray(), "param vs scalar twin");
        assertArrayEquals(mt, m.toFloatArray(), "m vs scalar twin");
        assertArrayEquals(vt, v.toFloatArray(), "v vs scalar twin");
        // The model copy is the updated fp32 weight rounded once to its dtype.
        float[] c = copy.toFloatArray();
        for (int i = 0; i < n; i++) {
            assertEquals(copyType.round(pt[i]), c[i], "model copy element " + i);
        }
    }

    @Test
    void stridedGradientAndModelCopy() {
        int rows = 40;
        int cols = 33;
        Tensor p = random(2, DType.F32, rows, cols);
        Tensor m = uniform(3, 0, 0.1, DType.F32, rows, cols);
        Tensor v = uniform(4, 0, 0.1, DType.F32, rows, cols);
        Tensor g = random(5, DType.BF16, cols, rows).transpose(0, 1);
        Tensor copy = poisoned(DType.BF16, cols, rows).transpose(0, 1);
        Tensor pRef = p.copy();
        Tensor mRef = m.copy();
        Tensor vRef = v.copy();
        Tensor copyRef = poisoned(DType.BF16, rows, cols);
        CPU.adamw(p, g, m, v, step(3), copy);
        REF.adamw(pRef, g, mRef, vRef, step(3), copyRef);
        assertClose(pRef, p, 1e-6, 1e-5, "param");
        assertClose(mRef, m, 1e-7, 1e-5, "m");
        assertClose(vRef, v, 1e-9, 1e-5, "v");
        assertClose(copyRef, copy, 0, 8e-3, "model copy");
    }

    @Test
    void manySmallTensorsInARow() {
        // An optimiser walks its parameters one tensor at a time; tiny ones (norm weights) run inline.
        for (int k = 0; k < 200; k++) {
            int n = 1 + k % 17;
            Tensor p = random(100 + k, DType.F32, n);
            Tensor pRef = p.copy();
            Tensor m = Tensor.zeros(DType.F32, Device.CPU, n);
            Tensor v = Tensor.zeros(DType.F32, Device.CPU, n);
            Tensor g = random(200 + k, DType.F32, n);
            CPU.adamw(p, g, m, v, step(1), null);
            REF.adamw(pRef, g, Tensor.zeros(DType.F32, Device.CPU, n), Tensor.zeros(DType.F32, Device.CPU, n),
                    step(1), null);
            assertClose(pRef, p, 1e-6, 1e-5, "tensor " + k);
        }
    }

    @Test
    void errors() {
        Tensor p = random(6, DType.F32, 8);
        Tensor m = Tensor.zeros(DType.F32, Device.CPU, 8);
        Tensor v = Tensor.zeros(DType.F32, Device.CPU, 8);
        Tensor g = random(7, DType.F32, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.adamw(p.to(DType.BF16), g, m, v, step(1), null));
        assertTrue(e.getMessage().contains("param") && e.getMessage().contains("BF16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.adamw(p, g, Tensor.zeros(DType.F32, Device.CPU, 9), v, step(1), null));
        assertTrue(e.getMessage().contains("[9]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.adamw(p, random(8, DType.F32, 2, 4), m, v, step(1), null));
        assertTrue(e.getMessage().contains("[2, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.adamw(p, g, m, v, step(1), poisoned(DType.F32, 7)));
        assertTrue(e.getMessage().contains("modelCopy"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.adamw(p, g.to(DType.F64), m, v, step(1), null));
        assertTrue(e.getMessage().contains("F64"), e.getMessage());
        Tensor p2 = random(9, DType.F32, 4, 4).transpose(0, 1);
        Tensor z = Tensor.zeros(DType.F32, Device.CPU, 4, 4);
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.adamw(p2, random(10, DType.F32, 4, 4), z, z.copy(), step(1), null));
        assertTrue(e.getMessage().contains("contiguous"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> step(0));
    }
}
