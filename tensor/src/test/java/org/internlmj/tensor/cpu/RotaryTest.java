package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.FusedFixtures.CPU;
import static org.internlmj.tensor.cpu.FusedFixtures.REF;
import static org.internlmj.tensor.cpu.FusedFixtures.atol;
import static org.internlmj.tensor.cpu.FusedFixtures.poisoned;
import static org.internlmj.tensor.cpu.FusedFixtures.random;
import static org.internlmj.tensor.cpu.FusedFixtures.rtol;
import static org.internlmj.tensor.testing.TensorAssert.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RotaryTest {
    private static final double BASE = 10000;
    /** Three packed documents of lengths 3, 2 and 4: positions restart at 0 for each. */
    private static final int[] PACKED = {0, 1, 2, 0, 1, 0, 1, 2, 3};

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : new DType[] {DType.F32, DType.BF16}) {
            for (int d : new int[] {2, 8, 64, 128}) {
                b.add(Arguments.of(dt, d, false));
                b.add(Arguments.of(dt, d, true));
            }
        }
        return b.build();
    }

    private static Tensor positions(int[] pos, boolean i64) {
        if (!i64) {
            return Tensor.ofInts(pos, pos.length);
        }
        long[] l = new long[pos.length];
        for (int i = 0; i < pos.length; i++) {
            l[i] = pos[i];
        }
        return Tensor.ofLongs(l, l.length);
    }

    private static void check(Tensor x, Tensor pos, boolean inverse, DType outType) {
        Tensor ref = poisoned(outType, x.shape());
        Tensor out = poisoned(outType, x.shape());
        REF.rotary(x, pos, BASE, inverse, ref);
        CPU.rotary(x, pos, BASE, inverse, out);
        assertClose(ref, out, atol(outType), rtol(outType), inverse ? "inverse" : "forward");
    }

    @ParameterizedTest
    @MethodSource("cases")
    void matchesReferenceOnPackedDocuments(DType dt, int d, boolean i64) {
        Tensor x = random(1, dt, PACKED.length, 3, d);
        Tensor pos = positions(PACKED, i64);
        check(x, pos, false, dt);
        check(x, pos, true, dt);
    }

    @Test
    void longSequenceAndLargePositions() {
        // 2048 tokens of one document (the table is per position) ...
        int t = 2048;
        int[] pos = new int[t];
        for (int i = 0; i < t; i++) {
            pos[i] = i;
        }
        check(random(2, DType.F32, t, 2, 64), positions(pos, false), false, DType.F32);
        // ... and sparse positions spanning more values than there are tokens (the table is per token).
        int[] sparse = {0, 5000, 17, 100_000, 3, 65_535, 1};
        check(random(3, DType.F32, sparse.length, 4, 128), positions(sparse, true), false, DType.F32);
        check(random(3, DType.F32, sparse.length, 4, 128), positions(sparse, true), true, DType.F32);
    }

    @ParameterizedTest
    @MethodSource("cases")
    void inverseUndoesForward(DType dt, int d, boolean i64) {
        Tensor x = random(4, DType.F32, PACKED.length, 2, d);
        Tensor pos = positions(PACKED, i64);
        Tensor y = poisoned(DType.F32, x.shape());
        Tensor back = poisoned(DType.F32, x.shape());
        CPU.rotary(x, pos, BASE, false, y);
        CPU.rotary(y, pos, BASE, true, back);
        assertClose(x, back, 2e-6, 2e-6, "inverse(forward(x))");
    }

    @Test
    void inPlaceEqualsOutOfPlace() {
        for (DType dt : new DType[] {DType.F32, DType.BF16}) {
            Tensor x = random(5, dt, PACKED.length, 3, 64);
            Tensor pos = positions(PACKED, false);
            Tensor out = poisoned(dt, x.shape());
            CPU.rotary(x, pos, BASE, false, out);
            Tensor inPlace = x.copy();
            CPU.rotary(inPlace, pos, BASE, false, inPlace);
            assertArrayEquals(FusedFixtures.bits(out), FusedFixtures.bits(inPlace), dt.toString());
        }
    }

    @Test
    void stridedViewsOfAFusedProjection() {
        // q and k as views of one [T, 3, H, D] qkv buffer: strides (3*H*D, D, 1), not contiguous.
        int h = 4;
        int d = 64;
        Tensor qkv = random(6, DType.F32, PACKED.length, 3, h, d);
        Tensor q = qkv.select(1, 0);
        Tensor k = qkv.select(1, 1);
        Tensor pos = positions(PACKED, false);
        check(q, pos, false, DType.F32);
        Tensor kRef = poisoned(DType.F32, k.shape());
        REF.rotary(k, pos, BASE, false, kRef);
        CPU.rotary(k, pos, BASE, false, k);
        assertClose(kRef, k, 1e-5, 2e-5, "k rotated in place inside qkv");
        // The untouched v slice keeps its values.
        Tensor v = qkv.select(1, 2);
        assertClose(random(6, DType.F32, PACKED.length, 3, h, d).select(1, 2), v, 0, 0, "v");
    }

    @Test
    void errors() {
        Tensor pos = positions(PACKED, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.rotary(random(7, DType.F32, 9, 2, 7), pos, BASE, false, poisoned(DType.F32, 9, 2, 7)));
        assertTrue(e.getMessage().contains("even D") && e.getMessage().contains("[9, 2, 7]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.rotary(random(7, DType.F32, 8, 2, 8), pos, BASE, false, poisoned(DType.F32, 8, 2, 8)));
        assertTrue(e.getMessage().contains("positions"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.rotary(random(7, DType.F32, 9, 16), pos, BASE, false, poisoned(DType.F32, 9, 16)));
        assertTrue(e.getMessage().contains("[9, 16]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.rotary(random(7, DType.F32, 9, 2, 8), pos, BASE, false, poisoned(DType.F32, 9, 2, 6)));
        assertTrue(e.getMessage().contains("[9, 2, 6]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.rotary(random(7, DType.F32, 9, 2, 8),
                random(8, DType.F32, 9), BASE, false, poisoned(DType.F32, 9, 2, 8)));
        assertTrue(e.getMessage().contains("positions"), e.getMessage());
    }
}
