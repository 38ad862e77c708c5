package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * A floating CPU tensor seen as {@code rows} rows of {@code width} contiguous elements, for the row
 * kernels (norms, rotary, SwiGLU, cross-entropy). Kernels compute on {@code float[]} rows: an F32 row is
 * used in place in the storage array, a BF16/F16 row is converted into per-thread scratch first and
 * rounded back (nearest even) after. The pattern in a kernel is
 * <pre>{@code
 * float[] xa = x.array(xs);        // the storage array for F32, else the scratch
 * int xo = x.load(r, xs);          // row offset in xa (converts BF16/F16 rows into xs)
 * float[] ya = y.array(ys);
 * int yo = y.target(r);            // where to write row r in ya
 * ... compute into ya[yo ..] ...
 * y.store(r, ys);                  // rounds the scratch into a BF16/F16 output; no-op for F32
 * }</pre>
 * so one kernel body serves every dtype and the F32 path copies nothing.
 */
final class RowView {
    final int rows;
    final int width;
    final DType dtype;
    /** The storage array of an F32 tensor, else null. */
    final float[] f32;
    /** The storage bits of a BF16/F16 tensor, else null. */
    final short[] bits;
    private final int base;
    /** Stride between consecutive rows, or -1 when the leading dimensions do not collapse into one. */
    private final int rowStride;
    private final int[] leadShape;
    private final int[] leadStrides;

    private RowView(Tensor t, int width) {
        this.dtype = t.dtype();
        this.width = width;
        this.rows = width == 0 ? 0 : t.numel() / width;
        CpuStorage s = storage(t);
        this.f32 = dtype == DType.F32 ? s.f32() : null;
        this.bits = dtype == DType.BF16 || dtype == DType.F16 ? s.bits16() : null;
        this.base = t.offset();
        int lead = Math.max(0, t.rank() - 1);
        this.leadShape = java.util.Arrays.copyOf(t.shape(), lead);
        this.leadStrides = java.util.Arrays.copyOf(t.strides(), lead);
        this.rowStride = collapsedStride(leadShape, leadStrides, width);
    }

    /**
     * Views {@code t} as rows of its last dimension. The last dimension must have unit stride (checked by
     * the caller through {@code OpChecks.rows}); the dtype must be F32, BF16 or F16.
     */
    static RowView of(String op, String what, Tensor t) {
        computeDType(op, what, t);
        return new RowView(t, t.rank() == 0 ? 1 : t.size(-1));
    }

    /** Fails with a clear message unless {@code t} is F32, BF16 or F16 (the dtypes kernels compute on). */
    static void computeDType(String op, String what, Tensor t) {
        DType d = t.dtype();
        if (d != DType.F32 && d != DType.BF16 && d != DType.F16) {
            throw new IllegalArgumentException(op + ": " + what + " must be F32, BF16 or F16 on the CPU backend, got "
                    + d + " (" + t + ")" + (d == DType.F64 ? "; F64 is for the reference backend's checks" : ""));
        }
    }

    static CpuStorage storage(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s)) {
            throw new IllegalArgumentException("the CPU backend computes on CPU tensors, got " + t);
        }
        return s;
    }

    private static int collapsedStride(int[] shape, int[] strides, int width) {
        int stride = -1;
        int expectedNext = -1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] == 1) {
                continue;
            }
            if (stride < 0) {
                stride = strides[i];
            } else if (strides[i] != expectedNext) {
                return -1;
            }
            expectedNext = strides[i] * shape[i];
        }
        return stride < 0 ? width : stride;
    }

    /** Storage offset of the first element of row {@code r}. */
    int offset(int r) {
        if (rowStride >= 0) {
            return base + r * rowStride;
        }
        int off = base;
        int rem = r;
        for (int i = leadShape.length - 1; i >= 0; i--) {
            int n = leadShape[i];
            off += (rem % n) * leadStrides[i];
            rem /= n;
        }
        return off;
    }

    /** The array a kernel reads or writes: the storage array for F32, else {@code scratch}. */
    float[] array(float[] scratch) {
        return f32 != null ? f32 : scratch;
    }

    /** A scratch row for a narrow dtype, or null for F32 (which needs none). */
    float[] scratch() {
        return f32 != null ? null : new float[width];
    }

    /** Makes row {@code r} readable in {@link #array}; returns its offset there. */
    int load(int r, float[] scratch) {
        int off = offset(r);
        if (f32 != null) {
            return off;
        }
        toFloats(bits, off, dtype, scratch, 0, width);
        return 0;
    }

    /** The offset in {@link #array} where row {@code r} is to be written. */
    int target(int r) {
        return f32 != null ? offset(r) : 0;
    }

    /** Rounds a row computed in {@code scratch} into a BF16/F16 tensor; nothing to do for F32. */
    void store(int r, float[] scratch) {
        if (f32 == null) {
            fromFloats(scratch, 0, bits, offset(r), dtype, width);
        }
    }

    /** Shorts of one float vector's lane count (BF16 bits widen lane for lane). */
    private static final VectorSpecies<Short> S16 =
            VectorSpecies.of(short.class, VectorShape.forBitSize(Simd.F.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> I32 = Simd.F.withLanes(int.class);

    /** BF16/F16 bits to floats (exact). */
    static void toFloats(short[] src, int srcOff, DType dtype, float[] dst, int dstOff, int n) {
        int i = 0;
        if (dtype == DType.BF16) {
            for (int bound = S16.loopBound(n); i < bound; i += S16.length()) {
                ShortVector b = ShortVector.fromArray(S16, src, srcOff + i);
                ((IntVector) b.convertShape(VectorOperators.S2I, I32, 0)).lanewise(VectorOperators.LSHL, 16)
                        .reinterpretAsFloats().intoArray(dst, dstOff + i);
            }
            for (; i < n; i++) {
                dst[dstOff + i] = Float.intBitsToFloat((src[srcOff + i] & 0xffff) << 16);
            }
        } else {
            for (; i < n; i++) {
                dst[dstOff + i] = Float.float16ToFloat(src[srcOff + i]);
            }
        }
    }

    /** Floats to BF16/F16 bits, rounding to nearest even exactly as {@link DType#toBf16Bits} does. */
    static void fromFloats(float[] src, int srcOff, short[] dst, int dstOff, DType dtype, int n) {
        int i = 0;
        if (dtype == DType.BF16) {
            for (int bound = S16.loopBound(n); i < bound; i += S16.length()) {
                IntVector bits = FloatVector.fromArray(Simd.F, src, srcOff + i).reinterpretAsInts();
                IntVector high = bits.lanewise(VectorOperators.LSHR, 16);
                IntVector rounded = bits.add(high.and(1).add(0x7fff)).lanewise(VectorOperators.LSHR, 16);
                VectorMask<Integer> nan = bits.and(0x7fffffff).compare(VectorOperators.GT, 0x7f800000);
                ((ShortVector) rounded.blend(high.or(0x40), nan).convertShape(VectorOperators.I2S, S16, 0))
                        .intoArray(dst, dstOff + i);
            }
            for (; i < n; i++) {
                dst[dstOff + i] = DType.toBf16Bits(src[srcOff + i]);
            }
        } else {
            for (; i < n; i++) {
                dst[dstOff + i] = Float.floatToFloat16(src[srcOff + i]);
            }
        }
    }

    /** A 1-D floating tensor (a norm weight) copied into a fresh fp32 array, whatever its dtype and stride. */
    static float[] vector(String op, String what, Tensor t, int length) {
        computeDType(op, what, t);
        if (t.rank() != 1 || t.size(0) != length) {
            throw new IllegalArgumentException(op + ": " + what + " must have shape [" + length + "], got "
                    + Shapes.str(t.shape()));
        }
        CpuStorage s = storage(t);
        float[] out = new float[length];
        int stride = t.stride(0);
        int off = t.offset();
        if (t.dtype() == DType.F32 && stride == 1) {
            System.arraycopy(s.f32(), off, out, 0, length);
        } else if (t.dtype() == DType.F32) {
            float[] a = s.f32();
            for (int i = 0; i < length; i++) {
                out[i] = a[off + i * stride];
            }
        } else {
            short[] b = s.bits16();
            for (int i = 0; i < length; i++) {
                short v = b[off + i * stride];
                out[i] = t.dtype() == DType.BF16 ? DType.bf16BitsToFloat(v) : Float.float16ToFloat(v);
            }
        }
        return out;
    }

    /** Writes an fp32 vector into a 1-D floating tensor of any dtype and stride, rounding to its dtype. */
    static void storeVector(float[] src, Tensor t) {
        CpuStorage s = storage(t);
        int stride = t.stride(0);
        int off = t.offset();
        int n = t.size(0);
        if (t.dtype() == DType.F32) {
            float[] a = s.f32();
            for (int i = 0; i < n; i++) {
                a[off + i * stride] = src[i];
            }
        } else {
            short[] b = s.bits16();
            for (int i = 0; i < n; i++) {
                b[off + i * stride] = t.dtype() == DType.BF16 ? DType.toBf16Bits(src[i]) : Float.floatToFloat16(src[i]);
            }
        }
    }

    /**
     * Checks a per-row F32 statistic (rstd, mean, lse) of shape {@code [rows]} and returns an accessor
     * for its elements, whatever its stride.
     */
    static Statistic statistic(String op, String what, Tensor t, int rows) {
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": " + what + " must be F32, got " + t);
        }
        if (t.rank() != 1 || t.size(0) != rows) {
            throw new IllegalArgumentException(op + ": " + what + " must have shape [" + rows + "], got "
                    + Shapes.str(t.shape()));
        }
        return new Statistic(storage(t).f32(), t.offset(), rows > 1 ? t.stride(0) : 0);
    }

    /** Element access to a 1-D F32 tensor of per-row values. */
    record Statistic(float[] array, int offset, int stride) {
        float get(int r) {
            return array[offset + r * stride];
        }

        void set(int r, float v) {
            array[offset + r * stride] = v;
        }
    }
}
