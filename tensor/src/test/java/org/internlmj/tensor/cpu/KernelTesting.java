package org.internlmj.tensor.cpu;

import java.util.Random;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Test inputs and raw element access for the CPU kernel tests. Everything here reads and writes
 * storage element by element through {@link CpuStorage#get}/{@link CpuStorage#set}, never through a
 * backend, so a broken copy kernel cannot hide behind the checks that use it.
 */
final class KernelTesting {
    private KernelTesting() {
    }

    /** Runs {@code body} with fresh one- and two-thread backends and stops their threads afterwards. */
    static void withOneAndTwoThreads(java.util.function.BiConsumer<CpuBackend, CpuBackend> body) {
        CpuBackend one = new CpuBackend(1);
        CpuBackend two = new CpuBackend(2);
        try {
            body.accept(one, two);
        } finally {
            one.parallel().close();
            two.parallel().close();
        }
    }

    /** A contiguous tensor of gaussian values times {@code scale}, rounded to {@code dtype}. */
    static Tensor random(Random rnd, DType dtype, double scale, int... shape) {
        Tensor t = Tensor.empty(dtype, Device.CPU, shape);
        CpuStorage s = (CpuStorage) t.storage();
        for (int i = 0; i < t.numel(); i++) {
            s.set(i, rnd.nextGaussian() * scale);
        }
        return t;
    }

    /** A contiguous tensor holding {@code values} (rounded to dtype). */
    static Tensor of(DType dtype, double[] values, int... shape) {
        Tensor t = Tensor.empty(dtype, Device.CPU, shape);
        CpuStorage s = (CpuStorage) t.storage();
        for (int i = 0; i < values.length; i++) {
            s.set(i, values[i]);
        }
        return t;
    }

    /** Uninitialised-looking output: filled with a NaN-ish sentinel so unwritten elements show. */
    static Tensor sentinel(DType dtype, int... shape) {
        Tensor t = Tensor.empty(dtype, Device.CPU, shape);
        CpuStorage s = (CpuStorage) t.storage();
        for (int i = 0; i < t.numel(); i++) {
            s.set(i, dtype.isFloating() ? -12345.0 : -77);
        }
        return t;
    }

    /**
     * A view of {@code shape} whose memory layout is the reverse of its logical order (every
     * dimension transposed): created as the reversed shape, then permuted.
     */
    static Tensor reversedLayout(Tensor contiguousReversed) {
        int r = contiguousReversed.rank();
        int[] order = new int[r];
        for (int i = 0; i < r; i++) {
            order[i] = r - 1 - i;
        }
        return contiguousReversed.permute(order);
    }

    /** A random tensor of {@code shape} laid out transposed (last two dimensions swapped in memory). */
    static Tensor randomTransposed(Random rnd, DType dtype, double scale, int... shape) {
        int[] s = shape.clone();
        int r = s.length;
        int tmp = s[r - 1];
        s[r - 1] = s[r - 2];
        s[r - 2] = tmp;
        return random(rnd, dtype, scale, s).transpose(-1, -2);
    }

    /** A random view of {@code shape} cut out of a larger tensor (every dimension padded by 3, offset 1). */
    static Tensor randomNarrowed(Random rnd, DType dtype, double scale, int... shape) {
        int[] big = shape.clone();
        for (int i = 0; i < big.length; i++) {
            big[i] += 3;
        }
        Tensor t = random(rnd, dtype, scale, big);
        for (int i = 0; i < shape.length; i++) {
            t = t.narrow(i, 1, shape[i]);
        }
        return t;
    }

    /** Logical (row-major) elements as doubles, read straight from storage. */
    static double[] values(Tensor t) {
        CpuStorage s = (CpuStorage) t.storage();
        double[] out = new double[t.numel()];
        int[] shape = t.shape();
        int[] idx = new int[shape.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.get(offset(t, idx));
            increment(idx, shape);
        }
        return out;
    }

    /** Logical elements as raw bit patterns (float/double bits, 16-bit patterns, integers). */
    static long[] bits(Tensor t) {
        CpuStorage s = (CpuStorage) t.storage();
        long[] out = new long[t.numel()];
        int[] shape = t.shape();
        int[] idx = new int[shape.length];
        for (int i = 0; i < out.length; i++) {
            int off = offset(t, idx);
            out[i] = switch (t.dtype()) {
                case F32 -> Float.floatToRawIntBits(s.f32()[off]);
                case F64 -> Double.doubleToRawLongBits(s.f64()[off]);
                case BF16, F16 -> s.bits16()[off] & 0xffff;
                case I32 -> s.i32()[off];
                case I64 -> s.i64()[off];
            };
            increment(idx, shape);
        }
        return out;
    }

    private static int offset(Tensor t, int[] idx) {
        int off = t.offset();
        for (int d = 0; d < idx.length; d++) {
            off += idx[d] * t.stride(d);
        }
        return off;
    }

    private static void increment(int[] idx, int[] shape) {
        for (int d = shape.length - 1; d >= 0; d--) {
            if (++idx[d] < shape[d]) {
                return;
            }
            idx[d] = 0;
        }
    }

    /** Bitwise equality of the logical elements, with the first difference in the message. */
    static void assertSameBits(Tensor expected, Tensor actual, String what) {
        if (!expected.sameShape(actual)) {
            throw new AssertionError(what + ": shape " + Shapes.str(actual.shape()) + " vs " + Shapes.str(expected.shape()));
        }
        long[] e = bits(expected);
        long[] a = bits(actual);
        for (int i = 0; i < e.length; i++) {
            if (e[i] != a[i]) {
                throw new AssertionError(what + ": element " + i + " differs: expected bits 0x" + Long.toHexString(e[i])
                        + " (" + values(expected)[i] + "), got 0x" + Long.toHexString(a[i]) + " (" + values(actual)[i]
                        + ")");
            }
        }
    }

    /** Equality of values, NaN equal to NaN (for results whose NaN payload is not specified). */
    static void assertSameValues(Tensor expected, Tensor actual, String what) {
        double[] e = values(expected);
        double[] a = values(actual);
        if (e.length != a.length) {
            throw new AssertionError(what + ": " + a.length + " elements vs " + e.length);
        }
        for (int i = 0; i < e.length; i++) {
            if (!(e[i] == a[i] || Double.isNaN(e[i]) && Double.isNaN(a[i]))) {
                throw new AssertionError(what + ": element " + i + " expected " + e[i] + ", got " + a[i]);
            }
        }
    }

    /** atol + rtol * |expected| per element (NaN matches NaN, equal infinities match). */
    static void assertClose(Tensor expected, Tensor actual, double atol, double rtol, String what) {
        org.internlmj.tensor.testing.TensorAssert.assertClose(values(expected), values(actual), atol, rtol, what);
    }

    /** Tolerance of one rounding to {@code dtype} relative to the value (plus fp32 slack for F32). */
    static double rtol(DType dtype, double f32Ulps) {
        return switch (dtype) {
            case BF16 -> 1.0 / 128;
            case F16 -> 1.0 / 1024;
            default -> f32Ulps * 0x1p-23;
        };
    }

    /** Smallest normal magnitude of the dtype, a floor for absolute errors near zero. */
    static double tiny(DType dtype) {
        return switch (dtype) {
            case F16 -> 0x1p-14;
            case BF16 -> 0x1p-126;
            default -> 0x1p-126;
        };
    }
}
