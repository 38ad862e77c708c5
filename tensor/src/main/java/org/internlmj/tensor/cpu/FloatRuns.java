package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;

/**
 * Moving runs of floating elements between tensor storage (F32, BF16 or F16, any stride) and
 * {@code float[]} runs that fp32 kernels compute on: {@link #gather} widens, {@link #scatter} rounds
 * to the storage's dtype (nearest even, exactly as {@link DType#toBf16Bits} and
 * {@link DType#toF16Bits}). Unit-stride BF16 runs convert with the Vector API; F16 uses
 * {@link Float#floatToFloat16}, which the JIT compiles to the hardware conversion.
 *
 * <p>Public for the two unit-stride BF16 converters, which code outside the backend that moves tensors
 * in bulk (the process groups' reductions) shares with the kernels.
 */
public final class FloatRuns {
    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.LANES;
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    /** Shorts with as many lanes as the float species, so one float vector converts to one short vector. */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));

    private FloatRuns() {
    }

    /** The heap storage of a CPU tensor, or an error naming the tensor. */
    static CpuStorage storage(String op, Tensor t) {
        if (!(t.storage() instanceof CpuStorage s)) {
            throw new IllegalArgumentException(op + ": the CPU backend computes on CPU tensors, got " + t);
        }
        s.checkOpen();
        return s;
    }

    /** Fails unless every tensor is F32, BF16 or F16: the dtypes the fp32 kernels read and write. */
    static void checkFloat(String op, Tensor... ts) {
        for (Tensor t : ts) {
            DType d = t.dtype();
            if (d != DType.F32 && d != DType.BF16 && d != DType.F16) {
                throw new IllegalArgumentException(op + ": CPU kernels compute on F32, BF16 or F16 tensors, got " + t
                        + (d == DType.F64 ? " (F64 runs on the reference backend: Backends.overrideCpu)" : ""));
            }
        }
    }

    /** Element {@code off} of an F32/BF16/F16 storage as a float. */
    static float get(CpuStorage s, int off) {
        return switch (s.dtype()) {
            case F32 -> s.f32()[off];
            case BF16 -> DType.bf16BitsToFloat(s.bits16()[off]);
            case F16 -> Float.float16ToFloat(s.bits16()[off]);
            default -> throw new IllegalArgumentException("not a float storage: " + s.dtype());
        };
    }

    /** Stores {@code v} at element {@code off}, rounded to the storage's dtype. */
    static void set(CpuStorage s, int off, float v) {
        switch (s.dtype()) {
            case F32 -> s.f32()[off] = v;
            case BF16 -> s.bits16()[off] = DType.toBf16Bits(v);
            case F16 -> s.bits16()[off] = Float.floatToFloat16(v);
            default -> throw new IllegalArgumentException("not a float storage: " + s.dtype());
        }
    }

    /**
     * {@code dst[d0 + i] = s[off + i * stride]} for {@code i < n}, widened to float; a zero stride
     * repeats one element.
     */
    static void gather(CpuStorage s, int off, int stride, float[] dst, int d0, int n) {
        if (stride == 0) {
            java.util.Arrays.fill(dst, d0, d0 + n, get(s, off));
            return;
        }
        switch (s.dtype()) {
            case F32 -> {
                float[] a = s.f32();
                if (stride == 1) {
                    System.arraycopy(a, off, dst, d0, n);
                } else {
                    for (int i = 0; i < n; i++) {
                        dst[d0 + i] = a[off + i * stride];
                    }
                }
            }
            case BF16 -> {
                short[] a = s.bits16();
                if (stride == 1) {
                    bf16ToF32(a, off, dst, d0, n);
                } else {
                    for (int i = 0; i < n; i++) {
                        dst[d0 + i] = DType.bf16BitsToFloat(a[off + i * stride]);
                    }
                }
            }
            case F16 -> {
                short[] a = s.bits16();
                if (stride == 1) {
                    for (int i = 0; i < n; i++) {
                        dst[d0 + i] = Float.float16ToFloat(a[off + i]);
                    }
                } else {
                    for (int i = 0; i < n; i++) {
                        dst[d0 + i] = Float.float16ToFloat(a[off + i * stride]);
                    }
                }
            }
            default -> throw new IllegalArgumentException("not a float storage: " + s.dtype());
        }
    }

    /** {@code s[off + i * stride] = src[s0 + i]} for {@code i < n}, rounded to the storage's dtype. */
    static void scatter(float[] src, int s0, CpuStorage s, int off, int stride, int n) {
        switch (s.dtype()) {
            case F32 -> {
                float[] a = s.f32();
                if (stride == 1) {
                    System.arraycopy(src, s0, a, off, n);
                } else {
                    for (int i = 0; i < n; i++) {
                        a[off + i * stride] = src[s0 + i];
                    }
                }
            }
            case BF16 -> {
                short[] a = s.bits16();
                if (stride == 1) {
                    f32ToBf16(src, s0, a, off, n);
                } else {
                    for (int i = 0; i < n; i++) {
                        a[off + i * stride] = DType.toBf16Bits(src[s0 + i]);
                    }
                }
            }
            case F16 -> {
                short[] a = s.bits16();
                if (stride == 1) {
                    for (int i = 0; i < n; i++) {
                        a[off + i] = Float.floatToFloat16(src[s0 + i]);
                    }
                } else {
                    for (int i = 0; i < n; i++) {
                        a[off + i * stride] = Float.floatToFloat16(src[s0 + i]);
                    }
                }
            }
            default -> throw new IllegalArgumentException("not a float storage: " + s.dtype());
        }
    }

    /**
     * BF16 bits to floats: the bits become the upper half of each float (exact).
     *
     * <pre>{@code FloatRuns.bf16ToF32(bits, 0, floats, 0, n); }</pre>
     */
    public static void bf16ToF32(short[] src, int s0, float[] dst, int d0, int n) {
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            // S2I sign-extends; the shift pushes the extension bits out of the int.
            ShortVector.fromArray(S, src, s0 + i)
                    .convertShape(VectorOperators.S2I, I, 0).reinterpretAsInts()
                    .lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats()
                    .intoArray(dst, d0 + i);
        }
        for (; i < n; i++) {
            dst[d0 + i] = DType.bf16BitsToFloat(src[s0 + i]);
        }
    }

    /**
     * Floats to BF16 bits, round to nearest even; NaN stays a quiet NaN, as {@link DType#toBf16Bits}.
     *
     * <pre>{@code FloatRuns.f32ToBf16(floats, 0, bits, 0, n); }</pre>
     */
    public static void f32ToBf16(float[] src, int s0, short[] dst, int d0, int n) {
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            IntVector bits = FloatVector.fromArray(F, src, s0 + i).reinterpretAsInts();
            IntVector upper = bits.lanewise(VectorOperators.LSHR, 16);
            VectorMask<Integer> nan = bits.and(0x7fffffff).compare(VectorOperators.GT, 0x7f800000);
            IntVector rounded = bits.add(upper.and(1)).add(0x7fff).lanewise(VectorOperators.LSHR, 16);
            rounded.blend(upper.or(0x0040), nan)
                    .convertShape(VectorOperators.I2S, S, 0).reinterpretAsShorts()
                    .intoArray(dst, d0 + i);
        }
        for (; i < n; i++) {
            dst[d0 + i] = DType.toBf16Bits(src[s0 + i]);
        }
    }
}
