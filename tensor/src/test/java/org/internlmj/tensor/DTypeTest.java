package org.internlmj.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DTypeTest {

    /** Round to nearest even by exact decimal comparison with the two bf16 neighbours. */
    private static short bf16Oracle(float f) {
        int bits = Float.floatToRawIntBits(f);
        short down = (short) (bits >>> 16);
        float lo = DType.bf16BitsToFloat(down);
        if (lo == f) {
            return down;
        }
        short up = (short) (down + 1);
        float hi = DType.bf16BitsToFloat(up);
        BigDecimal x = new BigDecimal(f);
        BigDecimal dl = x.subtract(new BigDecimal(lo)).abs();
        BigDecimal dh = Float.isInfinite(hi) ? null : x.subtract(new BigDecimal(hi)).abs();
        if (dh == null) {
            // above the largest finite bf16: overflow rounds to infinity at/after the halfway point
            BigDecimal half = new BigDecimal(Math.abs(lo)).add(new BigDecimal(Math.ulp(lo)).multiply(BigDecimal.valueOf(32768)));
            return x.abs().compareTo(half) >= 0 ? up : down;
        }
        int c = dl.compareTo(dh);
        if (c < 0) {
            return down;
        }
        if (c > 0) {
            return up;
        }
        return (down & 1) == 0 ? down : up;
    }

    @Test
    void bf16RoundsToNearestEvenOnRandomFloats() {
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < 200_000; i++) {
            float f = Float.intBitsToFloat(r.nextInt());
            if (Float.isNaN(f) || Float.isInfinite(f)) {
                continue;
            }
            assertEquals(bf16Oracle(f), DType.toBf16Bits(f), () -> "bf16 of " + f);
        }
    }

    @Test
    void bf16TiesGoToEven() {
        // 1 + 2^-8 lies exactly halfway between bf16 1.0 and 1.0078125: even mantissa (1.0) wins
        assertEquals(1.0f, DType.bf16BitsToFloat(DType.toBf16Bits(1.00390625f)));
        // 1.0078125 + 2^-8 is halfway between an odd and an even mantissa: rounds up to even
        assertEquals(1.015625f, DType.bf16BitsToFloat(DType.toBf16Bits(1.01171875f)));
    }

    @Test
    void bf16SpecialValues() {
        assertTrue(Float.isNaN(DType.bf16BitsToFloat(DType.toBf16Bits(Float.NaN))));
        // a NaN whose payload sits only in the low bits must stay NaN, not become infinity
        assertTrue(Float.isNaN(DType.bf16BitsToFloat(DType.toBf16Bits(Float.intBitsToFloat(0x7f800001)))));
        assertEquals(Float.POSITIVE_INFINITY, DType.bf16BitsToFloat(DType.toBf16Bits(Float.POSITIVE_INFINITY)));
        assertEquals(Float.POSITIVE_INFINITY, DType.bf16BitsToFloat(DType.toBf16Bits(Float.MAX_VALUE)));
        assertEquals(-0.0f, DType.bf16BitsToFloat(DType.toBf16Bits(-0.0f)));
    }

    @Test
    void f16RoundTripsEveryHalfValue() {
        for (int h = 0; h < 65536; h++) {
            float f = DType.f16BitsToFloat((short) h);
            if (Float.isNaN(f)) {
                continue;
            }
            assertEquals((short) h, DType.toF16Bits(f), "half bits " + h);
        }
        assertEquals(Float.POSITIVE_INFINITY, DType.f16BitsToFloat(DType.toF16Bits(65520f)));
        assertEquals(65504f, DType.f16BitsToFloat(DType.toF16Bits(65519f)));
    }

    @Test
    void parsesConfigSpellings() {
        assertEquals(DType.BF16, DType.parse("torch.bfloat16"));
        assertEquals(DType.F16, DType.parse("torch.float16"));
        assertEquals(DType.F16, DType.parse("half"));
        assertEquals(DType.F32, DType.parse("torch.tf32"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DType.parse("torch.bfloat8"));
        assertTrue(e.getMessage().contains("torch.bfloat8"));
    }
}
