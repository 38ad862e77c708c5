package org.internlmj.tensor.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.internlmj.tensor.DType;
import org.junit.jupiter.api.Test;

class RowViewTest {

    /** Bit patterns that stress rounding: random, ties, NaNs, infinities, subnormals, overflow to infinity. */
    private static float[] awkwardFloats(int n) {
        SplittableRandom r = new SplittableRandom(4);
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            int bits = r.nextInt();
            f[i] = switch (i % 8) {
                case 0 -> Float.intBitsToFloat(bits);
                case 1 -> Float.intBitsToFloat((bits & 0xffff0000) | 0x8000);
                case 2 -> Float.intBitsToFloat((bits & 0x807f0000) | 0x7f800000 | (i & 0xffff) | 1);
                case 3 -> i % 16 == 3 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
                case 4 -> Float.intBitsToFloat(bits & 0x807fffff);
                case 5 -> Float.intBitsToFloat((bits & 0x80000000) | 0x7f7f8000 | (bits & 0x7fff));
                default -> (float) r.nextGaussian();
            };
        }
        return f;
    }

    @Test
    void bf16NarrowingIsExactlyDTypesRounding() {
        float[] f = awkwardFloats(4099);
        short[] b = new short[f.length + 3];
        RowView.fromFloats(f, 0, b, 3, DType.BF16, f.length);
        for (int i = 0; i < f.length; i++) {
            assertEquals(DType.toBf16Bits(f[i]), b[i + 3], "bf16 of bits " + Integer.toHexString(Float.floatToRawIntBits(f[i])));
        }
        short[] h = new short[f.length];
        RowView.fromFloats(f, 0, h, 0, DType.F16, f.length);
        for (int i = 0; i < f.length; i++) {
            assertEquals(DType.toF16Bits(f[i]), h[i], "f16 of " + f[i]);
        }
    }

    @Test
    void wideningIsExact() {
        SplittableRandom r = new SplittableRandom(5);
        short[] b = new short[1037];
        for (int i = 0; i < b.length; i++) {
            b[i] = (short) r.nextInt();
        }
        float[] f = new float[b.length + 5];
        for (DType dt : new DType[] {DType.BF16, DType.F16}) {
            RowView.toFloats(b, 2, dt, f, 5, b.length - 2);
            for (int i = 2; i < b.length; i++) {
                float expected = dt == DType.BF16 ? DType.bf16BitsToFloat(b[i]) : DType.f16BitsToFloat(b[i]);
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(f[i + 3]), dt + " bits " + b[i]);
            }
        }
    }
}
