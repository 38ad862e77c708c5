package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.KernelTesting.assertSameBits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

class CopyTest {
    private static final ReferenceBackend REF = new ReferenceBackend();
    private static final CpuBackend CPU = new CpuBackend(2);

    /**
     * Values that exercise every conversion: fractions (rounding, truncation toward zero), negatives,
     * bf16/f16 ties, f16 overflow and subnormals, int saturation, NaN and infinities where the source
     * can hold them.
     */
    private static Tensor source(Random rnd, DType dtype, int... shape) {
        double[] special = {0.5, -0.5, 1.5, -2.5, 1.00390625, 1.01171875, 65520, 1e-6, -1e-7, 3e9, -3e9, 1e20,
            Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, 2147483647, -2147483648, 123456789};
        Tensor t = Tensor.empty(dtype, Device.CPU, shape);
        CpuStorage s = (CpuStorage) t.storage();
        for (int i = 0; i < t.numel(); i++) {
            double v = rnd.nextInt(4) == 0 ? special[rnd.nextInt(special.length)] : rnd.nextGaussian() * 1000;
            if (!dtype.isFloating() && !Double.isFinite(v)) {
                v = 7;
            }
            s.set(i, v);
        }
        return t;
    }

    private static void checkCopy(Tensor src, Tensor dst, String what) {
        Tensor expected = KernelTesting.sentinel(dst.dtype(), dst.shape());
        REF.copy(src, expected);
        CPU.copy(src, dst);
        assertSameBits(expected, dst, what);
    }

    @Test
    void everyDtypePairMatchesTheReferenceBitForBit() {
        Random rnd = new Random(1);
        for (DType from : DType.values()) {
            for (DType to : DType.values()) {
                for (int n : new int[] {1, 7, 33, 129}) {
                    String pair = from + "->" + to + " n=" + n;
                    checkCopy(source(rnd, from, 3, n), KernelTesting.sentinel(to, 3, n), pair + " contiguous");
                    checkCopy(source(rnd, from, n, 3).transpose(0, 1), KernelTesting.sentinel(to, 3, n), pair + " transposed src");
                    checkCopy(source(rnd, from, 3, n), KernelTesting.sentinel(to, n, 3).transpose(0, 1), pair + " transposed dst");
                    checkCopy(source(rnd, from, 5, n + 2).narrow(0, 1, 3).narrow(1, 2, n), KernelTesting.sentinel(to, 3, n),
                            pair + " narrowed src");
                    checkCopy(source(rnd, from, n), KernelTesting.sentinel(to, 3, n), pair + " row broadcast");
                    checkCopy(source(rnd, from, 3, 1), KernelTesting.sentinel(to, 3, n), pair + " column broadcast");
                    checkCopy(source(rnd, from), KernelTesting.sentinel(to, 3, n), pair + " scalar broadcast");
                }
            }
        }
    }

    @Test
    void narrowFloatsRoundLikeDTypeIncludingNaNPayloads() {
        int[] patterns = {0x7fc00000, 0x7f800001, 0xffbfffff, 0x7fa00000, 0x3f808000, 0x3f818000, 0x3f808001, 0x7f7fffff,
            0xff7fffff, 0x00000001, 0x80000000, 0x477ff000, 0x38800000, 0x33800000, 0x7f800000};
        float[] f = new float[patterns.length + 20_000];
        Random rnd = new Random(2);
        for (int i = 0; i < f.length; i++) {
            f[i] = i < patterns.length ? Float.intBitsToFloat(patterns[i]) : Float.intBitsToFloat(rnd.nextInt());
        }
        Tensor src = Tensor.of(f, f.length);
        Tensor bf = Tensor.zeros(DType.BF16, Device.CPU, f.length);
        Tensor hf = Tensor.zeros(DType.F16, Device.CPU, f.length);
        CPU.copy(src, bf);
        CPU.copy(src, hf);
        short[] bfBits = ((CpuStorage) bf.storage()).bits16();
        short[] hfBits = ((CpuStorage) hf.storage()).bits16();
        for (int i = 0; i < f.length; i++) {
            assertEquals(DType.toBf16Bits(f[i]), bfBits[i], "bf16 of 0x" + Integer.toHexString(Float.floatToRawIntBits(f[i])));
            assertEquals(DType.toF16Bits(f[i]), hfBits[i], "f16 of 0x" + Integer.toHexString(Float.floatToRawIntBits(f[i])));
        }
        Tensor back = Tensor.zeros(DType.F32, Device.CPU, f.length);
        CPU.copy(bf, back);
        float[] b = ((CpuStorage) back.storage()).f32();
        for (int i = 0; i < f.length; i++) {
            assertEquals(Float.floatToRawIntBits(DType.bf16BitsToFloat(bfBits[i])), Float.floatToRawIntBits(b[i]));
        }
    }

    @Test
    void sameDtypeCopiesAreExactEvenWhereTheReferenceIsNot() {
        // the reference goes through double, which cannot hold every long; a copy must move bits
        long[] big = {Long.MAX_VALUE, Long.MIN_VALUE, (1L << 53) + 1, -((1L << 60) + 3), 42};
        Tensor src = Tensor.ofLongs(big, big.length);
        Tensor dst = Tensor.zeros(DType.I64, Device.CPU, 5, big.length);
        CPU.copy(src, dst);
        for (int r = 0; r < 5; r++) {
            for (int i = 0; i < big.length; i++) {
                assertEquals(big[i], ((CpuStorage) dst.storage()).i64()[r * big.length + i]);
            }
        }
        float[] nan = {Float.intBitsToFloat(0x7f800001), Float.intBitsToFloat(0xffc12345)};
        Tensor f = Tensor.of(nan, 2);
        Tensor g = Tensor.zeros(DType.F32, Device.CPU, 2, 1).transpose(0, 1);
        CPU.copy(f.reshape(1, 2), g);
        assertEquals(0x7f800001, Float.floatToRawIntBits(((CpuStorage) g.storage()).f32()[0]));
        assertEquals(0xffc12345, Float.floatToRawIntBits(((CpuStorage) g.storage()).f32()[1]));
    }

    @Test
    void floatToIntTruncatesTowardZeroAndSaturatesLikeAJavaCast() {
        double[] v = {2.9, -2.9, 0.5, -0.5, 3e9, -3e9, Double.NaN, Double.POSITIVE_INFINITY, 1e19, -1e19};
        Tensor src = KernelTesting.of(DType.F64, v, v.length);
        Tensor i32 = Tensor.zeros(DType.I32, Device.CPU, v.length);
        Tensor i64 = Tensor.zeros(DType.I64, Device.CPU, v.length);
        CPU.copy(src, i32);
        CPU.copy(src, i64);
        for (int i = 0; i < v.length; i++) {
            assertEquals((int) v[i], ((CpuStorage) i32.storage()).i32()[i], "I32 of " + v[i]);
            assertEquals((long) v[i], ((CpuStorage) i64.storage()).i64()[i], "I64 of " + v[i]);
        }
    }

    @Test
    void largeTransposesAndPermutationsUseTilesAndStayExact() {
        Random rnd = new Random(3);
        for (DType from : new DType[] {DType.F32, DType.BF16, DType.I64}) {
            for (DType to : new DType[] {from, DType.F32, DType.BF16}) {
                checkCopy(source(rnd, from, 517, 300).transpose(0, 1), KernelTesting.sentinel(to, 300, 517),
                        "transpose 517x300 " + from + "->" + to);
                checkCopy(source(rnd, from, 5, 70, 33).permute(2, 0, 1), KernelTesting.sentinel(to, 33, 5, 70),
                        "permute(2,0,1) " + from + "->" + to);
                checkCopy(source(rnd, from, 6, 40, 50).permute(0, 2, 1), KernelTesting.sentinel(to, 6, 50, 40),
                        "batched transpose " + from + "->" + to);
                checkCopy(source(rnd, from, 64, 65), KernelTesting.sentinel(to, 65, 64).transpose(0, 1),
                        "into transposed dst " + from + "->" + to);
            }
        }
    }

    @Test
    void largeContiguousCopiesGoParallelAndMatchOnOneOrTwoThreads() {
        Random rnd = new Random(4);
        int n = 5 * (1 << 16) + 3;
        Tensor src = source(rnd, DType.F32, n);
        KernelTesting.withOneAndTwoThreads((one, two) -> {
            for (DType to : DType.values()) {
                Tensor a = KernelTesting.sentinel(to, n);
                Tensor b = KernelTesting.sentinel(to, n);
                one.copy(src, a);
                two.copy(src, b);
                assertSameBits(a, b, "F32->" + to + " 1 vs 2 threads");
                Tensor expected = KernelTesting.sentinel(to, n);
                REF.copy(src, expected);
                assertSameBits(expected, b, "F32->" + to + " large");
            }
            Tensor t = source(rnd, DType.BF16, 700, 450).transpose(0, 1);
            Tensor a = KernelTesting.sentinel(DType.F32, 450, 700);
            Tensor b = KernelTesting.sentinel(DType.F32, 450, 700);
            one.copy(t, a);
            two.copy(t, b);
            assertSameBits(a, b, "tiled transpose 1 vs 2 threads");
        });
    }

    @Test
    void fillWritesEveryDtypeAndOnlyTheView() {
        for (DType t : DType.values()) {
            for (double v : new double[] {0, -1.75, 3e9, 1.00390625, Double.NaN}) {
                Tensor base = KernelTesting.sentinel(t, 9, 11);
                Tensor view = base.narrow(0, 2, 5).narrow(1, 1, 7).transpose(0, 1);
                Tensor expectedBase = KernelTesting.sentinel(t, 9, 11);
                REF.fill(expectedBase.narrow(0, 2, 5).narrow(1, 1, 7).transpose(0, 1), v);
                CPU.fill(view, v);
                assertSameBits(expectedBase, base, "fill " + t + " " + v);
            }
            Tensor big = Tensor.zeros(t, Device.CPU, 3 * (1 << 16) + 5);
            CPU.fill(big, 2.5);
            Tensor expected = Tensor.zeros(t, Device.CPU, big.shape());
            REF.fill(expected, 2.5);
            assertSameBits(expected, big, "large fill " + t);
        }
        Tensor s = Tensor.zeros(DType.F32, Device.CPU);
        CPU.fill(s, 4);
        assertEquals(4f, s.item());
        CPU.fill(Tensor.zeros(DType.F32, Device.CPU, 0, 5), 1);
    }

    @Test
    void errorsNameTheShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.copy(Tensor.zeros(DType.F32, Device.CPU, 4, 3), Tensor.zeros(DType.F32, Device.CPU, 3, 4)));
        assertTrue(e.getMessage().contains("[4, 3]") && e.getMessage().contains("[3, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.copy(Tensor.zeros(DType.F32, Device.CPU, 2, 3, 4), Tensor.zeros(DType.F32, Device.CPU, 3, 4)));
        assertTrue(e.getMessage().contains("[2, 3, 4]"), e.getMessage());
    }
}
