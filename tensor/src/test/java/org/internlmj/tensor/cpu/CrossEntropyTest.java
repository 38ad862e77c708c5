package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.FusedFixtures.CPU;
import static org.internlmj.tensor.cpu.FusedFixtures.REF;
import static org.internlmj.tensor.cpu.FusedFixtures.poisoned;
import static org.internlmj.tensor.cpu.FusedFixtures.uniform;
import static org.internlmj.tensor.testing.TensorAssert.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class CrossEntropyTest {
    private static final int IGNORE = -100;

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : new DType[] {DType.F32, DType.BF16}) {
            for (int v : new int[] {1, 7, 256, 1031}) {
                for (float s : new float[] {0f, 0.1f}) {
                    b.add(Arguments.of(dt, 33, v, s, v % 2 == 0));
                }
            }
            b.add(Arguments.of(dt, 6, 50_000, 0f, true));
            b.add(Arguments.of(dt, 6, 50_000, 0.1f, false));
        }
        return b.build();
    }

    /** Labels in [0, v), every fourth row ignored. */
    static Tensor labels(long seed, int n, int v, boolean i64) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] l = new long[n];
        int[] i = new int[n];
        for (int k = 0; k < n; k++) {
            i[k] = k % 4 == 3 ? IGNORE : r.nextInt(v);
            l[k] = i[k];
        }
        return i64 ? Tensor.ofLongs(l, n) : Tensor.ofInts(i, n);
    }

    private static void check(Tensor logits, Tensor y, float smoothing) {
        int n = logits.size(0);
        Tensor lossRef = poisoned(DType.F32, n);
        Tensor lseRef = poisoned(DType.F32, n);
        Tensor loss = poisoned(DType.F32, n);
        Tensor lse = poisoned(DType.F32, n);
        REF.crossEntropy(logits, y, IGNORE, smoothing, lossRef, lseRef);
        CPU.crossEntropy(logits, y, IGNORE, smoothing, loss, lse);
        assertClose(lseRef, lse, 1e-5, 2e-6, "lse");
        assertClose(lossRef, loss, 1e-5, 2e-5, "loss");

        Tensor dloss = uniform(9, 0.5, 2, DType.F32, n);
        Tensor gRef = poisoned(logits.dtype(), logits.shape());
        Tensor g = poisoned(logits.dtype(), logits.shape());
        REF.crossEntropyBackward(logits, y, lseRef, IGNORE, smoothing, dloss, gRef);
        CPU.crossEntropyBackward(logits, y, lseRef, IGNORE, smoothing, dloss, g);
        boolean bf16 = logits.dtype() == DType.BF16;
        assertClose(gRef, g, bf16 ? 1e-4 : 1e-7, bf16 ? 1.6e-2 : 2e-5, "dlogits");
    }

    @ParameterizedTest
    @MethodSource("cases")
    void matchesReference(DType dt, int n, int v, float smoothing, boolean i64) {
        check(uniform(1, -6, 6, dt, n, v), labels(2, n, v, i64), smoothing);
    }

    @Test
    void largeLogitsAndMaximumInALaterBlock() {
        // Rows whose maximum sits in the last block force the running sum to be rescaled; magnitudes near
        // 80 would overflow exp without the max subtraction.
        int n = 4;
        int v = 5000;
        float[] x = new float[n * v];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextDouble() * 20 + 60);
        }
        x[v - 1] = 95;
        x[v + 2] = 95;
        x[2 * v + v / 2] = -1000;
        check(Tensor.of(x, n, v), labels(4, n, v, false), 0.1f);
    }

    @Test
    void maskedLogits() {
        // -inf entries (a masked vocabulary) contribute nothing, even when a whole leading block is masked.
        int v = 3000;
        float[] x = new float[2 * v];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < x.length; i++) {
            x[i] = (i % v) < 1500 ? Float.NEGATIVE_INFINITY : (float) r.nextGaussian();
        }
        Tensor logits = Tensor.of(x, 2, v);
        Tensor y = Tensor.ofInts(new int[] {2000, 2999}, 2);
        check(logits, y, 0f);
        Tensor loss = poisoned(DType.F32, 2);
        CPU.crossEntropy(logits, y, IGNORE, 0f, loss, poisoned(DType.F32, 2));
        for (float l : loss.toFloatArray()) {
            assertTrue(Float.isFinite(l) && l > 0, "loss " + l);
        }
    }

    @Test
    void ignoredRowsGetZeroLossAndGradient() {
        Tensor logits = uniform(6, -3, 3, DType.F32, 3, 40);
        Tensor y = Tensor.ofInts(new int[] {IGNORE, 5, IGNORE}, 3);
        Tensor loss = poisoned(DType.F32, 3);
        Tensor lse = poisoned(DType.F32, 3);
        CPU.crossEntropy(logits, y, IGNORE, 0.1f, loss, lse);
        assertEquals(0f, loss.toFloatArray()[0]);
        assertEquals(0f, loss.toFloatArray()[2]);
        assertTrue(loss.toFloatArray()[1] > 0);
        Tensor g = poisoned(DType.F32, 3, 40);
        CPU.crossEntropyBackward(logits, y, lse, IGNORE, 0.1f, Tensor.of(new float[] {1, 1, 1}, 3), g);
        float[] gv = g.toFloatArray();
        for (int j = 0; j < 40; j++) {
            assertEquals(0f, gv[j]);
            assertEquals(0f, gv[80 + j]);
        }
        // Row 1's gradient sums to zero: softmax sums to 1, the targets sum to (1-s) + s.
        double sum = 0;
        for (int j = 0; j < 40; j++) {
            sum += gv[40 + j];
        }
        assertEquals(0, sum, 1e-6);
    }

    @Test
    void stridedLogitRows() {
        Tensor logits = uniform(7, -4, 4, DType.F32, 9, 300).narrow(1, 20, 257);
        check(logits, labels(8, 9, 257, false), 0.05f);
    }

    @Test
    void errors() {
        Tensor logits = uniform(10, -1, 1, DType.F32, 3, 8);
        Tensor loss = poisoned(DType.F32, 3);
        Tensor lse = poisoned(DType.F32, 3);
        for (int bad : new int[] {8, -1, 1000}) {
            Tensor y = Tensor.ofInts(new int[] {1, bad, 2}, 3);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CPU.crossEntropy(logits, y, IGNORE, 0f, loss, lse));
            assertTrue(e.getMessage().contains("label " + bad) && e.getMessage().contains("row 1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> CPU.crossEntropyBackward(logits, y, lse, IGNORE, 0f,
                    loss, poisoned(DType.F32, 3, 8)));
            assertTrue(e.getMessage().contains("label " + bad), e.getMessage());
        }
        Tensor y = Tensor.ofLongs(new long[] {1, 2, 3}, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.crossEntropy(logits, Tensor.ofInts(new int[] {1, 2}, 2), IGNORE, 0f, loss, lse));
        assertTrue(e.getMessage().contains("labels"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.crossEntropy(logits, y, IGNORE, 0f, loss, poisoned(DType.BF16, 3)));
        assertTrue(e.getMessage().contains("lse"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.crossEntropy(logits.reshape(24), y, IGNORE, 0f, loss, lse));
        assertTrue(e.getMessage().contains("[N, V]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.crossEntropyBackward(logits, y, lse, IGNORE, 0f, loss, poisoned(DType.F32, 3, 9)));
        assertTrue(e.getMessage().contains("[3, 9]"), e.getMessage());
    }
}
