package org.internlmj.tensor.cpu;

import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Storage;

/**
 * CPU storage on the Java heap: {@code float[]} for F32, {@code short[]} holding the bits for BF16 and
 * F16, {@code int[]} for I32, {@code long[]} for I64. Vector API kernels are much faster on heap arrays
 * than on memory segments (see MEASURED.md), so the CPU backend keeps its data here; freed arrays go
 * back to a pool for reuse.
 */
public final class CpuStorage extends Storage {
    private final Object array;
    private final CpuArrayPool pool;

    CpuStorage(DType dtype, Object array, int length, CpuArrayPool pool) {
        super(dtype, Device.CPU, length);
        this.array = array;
        this.pool = pool;
    }

    /** A fresh zeroed heap storage that belongs to no pool. */
    public static CpuStorage allocate(DType dtype, int length) {
        Object a = switch (dtype) {
            case F32 -> new float[length];
            case F64 -> new double[length];
            case BF16, F16 -> new short[length];
            case I32 -> new int[length];
            case I64 -> new long[length];
        };
        return new CpuStorage(dtype, a, length, null);
    }

    /** Wraps an existing array without copying; it is not returned to any pool when freed. */
    public static CpuStorage wrap(float[] data) {
        return new CpuStorage(DType.F32, data, data.length, null);
    }

    /** Wraps an existing double array without copying. */
    public static CpuStorage wrap(double[] data) {
        return new CpuStorage(DType.F64, data, data.length, null);
    }

    /** Wraps an existing int array without copying. */
    public static CpuStorage wrap(int[] data) {
        return new CpuStorage(DType.I32, data, data.length, null);
    }

    /** Wraps an existing long array without copying. */
    public static CpuStorage wrap(long[] data) {
        return new CpuStorage(DType.I64, data, data.length, null);
    }

    /** Wraps raw 16-bit patterns as BF16 or F16 without copying. */
    public static CpuStorage wrap(short[] bits, DType dtype) {
        if (dtype != DType.BF16 && dtype != DType.F16) {
            throw new IllegalArgumentException("short[] storage holds BF16 or F16, not " + dtype);
        }
        return new CpuStorage(dtype, bits, bits.length, null);
    }

    public float[] f32() {
        checkOpen();
        if (dtype() != DType.F32) {
            throw wrongType(DType.F32);
        }
        return (float[]) array;
    }

    public double[] f64() {
        checkOpen();
        if (dtype() != DType.F64) {
            throw wrongType(DType.F64);
        }
        return (double[]) array;
    }

    /** Raw bits of a BF16 or F16 storage. */
    public short[] bits16() {
        checkOpen();
        if (dtype() != DType.BF16 && dtype() != DType.F16) {
            throw wrongType(DType.BF16);
        }
        return (short[]) array;
    }

    public int[] i32() {
        checkOpen();
        if (dtype() != DType.I32) {
            throw wrongType(DType.I32);
        }
        return (int[]) array;
    }

    public long[] i64() {
        checkOpen();
        if (dtype() != DType.I64) {
            throw wrongType(DType.I64);
        }
        return (long[]) array;
    }

    /**
     * The heap array itself, whatever the dtype ({@code float[]}, {@code double[]}, {@code short[]} bits,
     * {@code int[]} or {@code long[]}), for code that moves elements without looking at them.
     *
     * <pre>{@code System.arraycopy(src.array(), i, dst.array(), j, n); }</pre>
     */
    public Object array() {
        checkOpen();
        return array;
    }

    /** Element {@code i} as a double, whatever the dtype. */
    public double get(int i) {
        checkOpen();
        return switch (dtype()) {
            case F32 -> ((float[]) array)[i];
            case F64 -> ((double[]) array)[i];
            case BF16 -> DType.bf16BitsToFloat(((short[]) array)[i]);
            case F16 -> DType.f16BitsToFloat(((short[]) array)[i]);
            case I32 -> ((int[]) array)[i];
            case I64 -> ((long[]) array)[i];
        };
    }

    /** Stores {@code v} at element {@code i}, rounding to nearest even for narrow floats. */
    public void set(int i, double v) {
        checkOpen();
        switch (dtype()) {
            case F32 -> ((float[]) array)[i] = (float) v;
            case F64 -> ((double[]) array)[i] = v;
            case BF16 -> ((short[]) array)[i] = DType.toBf16Bits((float) v);
            case F16 -> ((short[]) array)[i] = DType.toF16Bits((float) v);
            case I32 -> ((int[]) array)[i] = (int) v;
            case I64 -> ((long[]) array)[i] = (long) v;
        }
    }

    private IllegalStateException wrongType(DType expected) {
        return new IllegalStateException("storage holds " + dtype() + ", a kernel asked for " + expected);
    }

    @Override
    protected void release() {
        if (pool != null) {
            pool.give(array);
        }
    }
}
