package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.FusedFixtures.CPU;
import static org.internlmj.tensor.cpu.FusedFixtures.REF;
import static org.internlmj.tensor.cpu.FusedFixtures.poisoned;
import static org.internlmj.tensor.cpu.FusedFixtures.random;
import static org.internlmj.tensor.testing.TensorAssert.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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

class EmbeddingKernelsTest {

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : new DType[] {DType.F32, DType.BF16}) {
            for (int h : new int[] {1, 7, 129, 768}) {
                b.add(Arguments.of(dt, h, false));
                b.add(Arguments.of(dt, h, true));
            }
        }
        return b.build();
    }

    /** Token ids with many repeats: about half the tokens are id 0 (like padding), the rest spread. */
    static Tensor ids(long seed, int t, int vocab, boolean i64) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] l = new long[t];
        int[] i = new int[t];
        for (int k = 0; k < t; k++) {
            i[k] = r.nextBoolean() ? 0 : r.nextInt(vocab);
            l[k] = i[k];
        }
        return i64 ? Tensor.ofLongs(l, t) : Tensor.ofInts(i, t);
    }

    @ParameterizedTest
    @MethodSource("cases")
    void lookupCopiesRowsExactly(DType dt, int h, boolean i64) {
        int vocab = 50;
        int t = 100;
        Tensor w = random(1, dt, vocab, h);
        Tensor id = ids(2, t, vocab, i64);
        Tensor ref = poisoned(dt, t, h);
        Tensor out = poisoned(dt, t, h);
        REF.embedding(w, id, ref);
        CPU.embedding(w, id, out);
        assertClose(ref, out, 0, 0, "gathered rows");
        // A BF16 table gathered into F32 rows: exact widening.
        Tensor wide = poisoned(DType.F32, t, h);
        CPU.embedding(w, id, wide);
        assertClose(ref, wide, 0, 0, "widened rows");
    }

    @ParameterizedTest
    @MethodSource("cases")
    void backwardAccumulatesLikeTheReference(DType dt, int h, boolean i64) {
        int vocab = 50;
        int t = 300;
        Tensor id = ids(3, t, vocab, i64);
        Tensor dout = random(4, dt, t, h);
        // dweight starts non-zero: the backward accumulates into it.
        Tensor ref = random(5, dt, vocab, h);
        Tensor dw = ref.copy();
        REF.embeddingBackward(id, dout, ref);
        CPU.embeddingBackward(id, dout, dw);
        // fp32 sums of up to ~150 rows (id 0) against float64 sums, one rounding to the dtype each.
        double atol = dt == DType.F32 ? 2e-4 : 0.05;
        assertClose(ref, dw, atol, FusedFixtures.rtol(dt), "dweight");
    }

    @Test
    void largeBackwardWithManyTasks() {
        int vocab = 1000;
        int h = 768 + 5;
        int t = 2048;
        Tensor id = ids(6, t, vocab, false);
        Tensor dout = random(7, DType.F32, t, h);
        Tensor ref = Tensor.zeros(DType.F32, org.internlmj.tensor.Device.CPU, vocab, h);
        Tensor dw = ref.copy();
        REF.embeddingBackward(id, dout, ref);
        CPU.embeddingBackward(id, dout, dw);
        assertClose(ref, dw, 5e-4, 1e-5, "dweight");
    }

    @Test
    void stridedTableAndOutput() {
        // A table whose rows are a narrowed view ([V, H] out of [V, H + 6]) and an output with gaps.
        int h = 33;
        Tensor w = random(8, DType.F32, 20, h + 6).narrow(1, 3, h);
        Tensor id = ids(9, 40, 20, false);
        Tensor out = poisoned(DType.F32, 40, h + 2).narrow(1, 1, h);
        Tensor ref = poisoned(DType.F32, 40, h);
        REF.embedding(w, id, ref);
        CPU.embedding(w, id, out);
        assertClose(ref, out, 0, 0, "rows");
        Tensor dwRef = random(10, DType.F32, 20, h + 6).narrow(1, 3, h);
        Tensor dw = random(10, DType.F32, 20, h + 6).narrow(1, 3, h);
        Tensor dout = random(11, DType.F32, 40, h + 2).narrow(1, 1, h);
        REF.embeddingBackward(id, dout, dwRef);
        CPU.embeddingBackward(id, dout, dw);
        assertClose(dwRef, dw, 1e-5, 1e-5, "dweight");
    }

    @Test
    void outOfRangeIdsNameTheIdAndPositionAndWriteNothing() {
        Tensor w = random(12, DType.F32, 10, 4);
        for (long bad : new long[] {10, -1, 1L << 33}) {
            long[] l = {1, 2, 3, bad, 4};
            Tensor id = Tensor.ofLongs(l, 5);
            Tensor out = poisoned(DType.F32, 5, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.embedding(w, id, out));
            assertTrue(e.getMessage().contains("id " + bad) && e.getMessage().contains("position 3"), e.getMessage());
            for (float f : out.toFloatArray()) {
                assertTrue(Float.isNaN(f), "output must be untouched after a bad id");
            }
            Tensor dw = Tensor.zeros(DType.F32, org.internlmj.tensor.Device.CPU, 10, 4);
            e = assertThrows(IllegalArgumentException.class,
                    () -> CPU.embeddingBackward(id, random(13, DType.F32, 5, 4), dw));
            assertTrue(e.getMessage().contains("id " + bad), e.getMessage());
            assertArrayEquals(new float[40], dw.toFloatArray(), "dweight must be untouched after a bad id");
        }
    }

    @Test
    void shapeAndTypeErrors() {
        Tensor w = random(14, DType.F32, 10, 4);
        Tensor id = Tensor.ofInts(new int[] {1, 2, 3}, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.embedding(w, id, poisoned(DType.F32, 3, 5)));
        assertTrue(e.getMessage().contains("[3, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.embedding(random(15, DType.F32, 10), id, poisoned(DType.F32, 3, 4)));
        assertTrue(e.getMessage().contains("[V, H]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.embedding(w, random(16, DType.F32, 3), poisoned(DType.F32, 3, 4)));
        assertTrue(e.getMessage().contains("ids"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.embedding(w, Tensor.ofInts(new int[] {1, 2, 3, 4}, 2, 2), poisoned(DType.F32, 4, 4)));
        assertTrue(e.getMessage().contains("ids"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.embeddingBackward(id, random(17, DType.F32, 3, 5), poisoned(DType.F32, 10, 4)));
        assertTrue(e.getMessage().contains("[3, 5]"), e.getMessage());
    }
}
