package org.internlmj.tensor;

/**
 * Element types a {@link Tensor} can hold.
 *
 * <p>Floating conversions round to nearest, ties to even, exactly as IEEE 754 and PyTorch do:
 * {@code DType.toBf16Bits(1.00390625f)} rounds the tie {@code 1 + 2^-8} down to {@code 1.0}.
 */
public enum DType {
    F32(4, true, "F32"),
    /** Double precision: for float64 gradient checks on the reference backend; CPU kernels only copy it. */
    F64(8, true, "F64"),
    BF16(2, true, "BF16"),
    F16(2, true, "F16"),
    I32(4, false, "I32"),
    I64(8, false, "I64");

    private final int byteSize;
    private final boolean floating;
    private final String safetensorsName;

    DType(int byteSize, boolean floating, String safetensorsName) {
        this.byteSize = byteSize;
        this.floating = floating;
        this.safetensorsName = safetensorsName;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    public boolean isFloating() {
        return floating;
    }

    /** The dtype name the safetensors format uses ("F32", "BF16", "F16", "I32", "I64"). */
    public String safetensorsName() {
        return safetensorsName;
    }

    /**
     * Parses a dtype from the spellings configs use: {@code "torch.bfloat16"}, {@code "bf16"},
     * {@code "fp16"}, {@code "half"}, {@code "float32"}, {@code "F32"}, ...
     */
    public static DType parse(String name) {
        String n = name.trim().toLowerCase(java.util.Locale.ROOT);
        if (n.startsWith("torch.")) {
            n = n.substring("torch.".length());
        }
        return switch (n) {
            case "f32", "fp32", "float32", "float", "tf32" -> F32;
            case "f64", "fp64", "float64", "double" -> F64;
            case "bf16", "bfloat16" -> BF16;
            case "f16", "fp16", "float16", "half" -> F16;
            case "i32", "int32", "int" -> I32;
            case "i64", "int64", "long" -> I64;
            default -> throw new IllegalArgumentException("unknown dtype '" + name
                    + "': expected one of torch.float32, torch.bfloat16, torch.float16, torch.tf32, int32, int64");
        };
    }

    /** float -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
    public static short toBf16Bits(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** bfloat16 bits -> float (exact). */
    public static float bf16BitsToFloat(short b) {
        return Float.intBitsToFloat((b & 0xffff) << 16);
    }

    /** float -> IEEE half bits, round to nearest even, subnormals and overflow to infinity included. */
    public static short toF16Bits(float f) {
        return Float.floatToFloat16(f);
    }

    /** IEEE half bits -> float (exact). */
    public static float f16BitsToFloat(short h) {
        return Float.float16ToFloat(h);
    }

    /** Rounds a float to the nearest value representable in this dtype (identity for F32). */
    public float round(float f) {
        return switch (this) {
            case F32, F64 -> f;
            case BF16 -> bf16BitsToFloat(toBf16Bits(f));
            case F16 -> f16BitsToFloat(toF16Bits(f));
            case I32 -> (float) (int) f;
            case I64 -> (float) (long) f;
        };
    }
}
