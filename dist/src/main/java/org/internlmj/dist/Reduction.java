package org.internlmj.dist;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.internlmj.dist.ProcessGroup.ReduceOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.cpu.CpuStorage;
import org.internlmj.tensor.cpu.FloatRuns;
import org.internlmj.tensor.cpu.Simd;

/**
 * The arithmetic of reductions over ranks, shared by every process group so that all of them produce the
 * same bits. The ranks' values are combined in rank order, {@code ((x0 + x1) + x2) + ...}, in fp32 for F32,
 * BF16 and F16 (rounded once to the dtype at the end), in double for F64 and in long for I32 and I64
 * (wrapping, like Java's int and long arithmetic). AVG divides the sum by the number of ranks: a division,
 * not a multiplication by 1/n, which rounds differently for n = 3.
 */
final class Reduction {
    /** Elements per block: the accumulator and one widened operand stay in L1. */
    static final int BLOCK = 2048;
    private static final VectorSpecies<Float> F = Simd.F;
    private static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Reduction() {
    }

    /** Where one rank's elements are read from. */
    sealed interface Operand permits Heap, Bytes {
    }

    /** Elements of a heap storage from element {@code offset} on. */
    record Heap(CpuStorage storage, int offset) implements Operand {
    }

    /** Little-endian elements of a byte segment from byte 0 on (received from a peer). */
    record Bytes(MemorySegment segment) implements Operand {
    }

    /** One thread's buffers, so that reducing allocates nothing. */
    static final class Scratch {
        final float[] acc = new float[BLOCK];
        final float[] tmp = new float[BLOCK];
        final short[] bits = new short[BLOCK];
        final double[] dacc = new double[BLOCK];
        final double[] dtmp = new double[BLOCK];
        final long[] lacc = new long[BLOCK];
        final long[] ltmp = new long[BLOCK];
    }

    /** Fails unless {@code op} is defined on {@code dtype} (AVG of integers is not). */
    static void check(String what, DType dtype, ReduceOp op) {
        if (op == ReduceOp.AVG && !dtype.isFloating()) {
            throw new IllegalArgumentException(what + ": AVG of " + dtype
                    + " tensors would truncate; reduce with SUM and divide where the rounding is wanted");
        }
    }

    /**
     * Reduces {@code count} elements of {@code inputs} (one per rank, in rank order) and stores the result
     * at every one of {@code outputs}. An output may be the same memory as an input: each block is read
     * completely before it is written.
     */
    static void reduce(ReduceOp op, DType dtype, Operand[] inputs, int count, Heap[] outputs, Scratch s) {
        switch (dtype) {
            case F32, BF16, F16 -> reduceFloat(op, dtype, inputs, count, outputs, s);
            case F64 -> reduceDouble(op, inputs, count, outputs, s);
            case I32, I64 -> reduceLong(op, dtype, inputs, count, outputs, s);
        }
    }

    private static void reduceFloat(ReduceOp op, DType dtype, Operand[] inputs, int count, Heap[] outputs, Scratch s) {
        int n = inputs.length;
        for (int b = 0; b < count; b += BLOCK) {
            int len = Math.min(BLOCK, count - b);
            loadFloat(inputs[0], dtype, b, s.acc, len, s);
            for (int k = 1; k < n; k++) {
                if (dtype == DType.F32 && inputs[k] instanceof Heap h) {
                    combine(op, s.acc, h.storage().f32(), h.offset() + b, len);
                } else {
                    loadFloat(inputs[k], dtype, b, s.tmp, len, s);
                    combine(op, s.acc, s.tmp, 0, len);
                }
            }
            if (op == ReduceOp.AVG) {
                divide(s.acc, len, n);
            }
            for (Heap out : outputs) {
                storeFloat(s.acc, len, out.storage(), out.offset() + b);
            }
        }
    }

    private static void loadFloat(Operand in, DType dtype, int from, float[] dst, int len, Scratch s) {
        switch (in) {
            case Heap h -> {
                CpuStorage st = h.storage();
                int off = h.offset() + from;
                switch (dtype) {
                    case F32 -> System.arraycopy(st.f32(), off, dst, 0, len);
                    case BF16 -> FloatRuns.bf16ToF32(st.bits16(), off, dst, 0, len);
                    default -> {
                        short[] a = st.bits16();
                        for (int i = 0; i < len; i++) {
                            dst[i] = Float.float16ToFloat(a[off + i]);
                        }
                    }
                }
            }
            case Bytes b -> {
                long byteOff = (long) from * dtype.byteSize();
                if (dtype == DType.F32) {
                    MemorySegment.copy(b.segment(), StorageBytes.layout(dtype), byteOff, dst, 0, len);
                } else {
                    MemorySegment.copy(b.segment(), StorageBytes.layout(dtype), byteOff, s.bits, 0, len);
                    if (dtype == DType.BF16) {
                        FloatRuns.bf16ToF32(s.bits, 0, dst, 0, len);
                    } else {
                        for (int i = 0; i < len; i++) {
                            dst[i] = Float.float16ToFloat(s.bits[i]);
                        }
                    }
                }
            }
        }
    }

    private static void storeFloat(float[] src, int len, CpuStorage st, int off) {
        switch (st.dtype()) {
            case F32 -> System.arraycopy(src, 0, st.f32(), off, len);
            case BF16 -> FloatRuns.f32ToBf16(src, 0, st.bits16(), off, len);
            default -> {
                short[] a = st.bits16();
                for (int i = 0; i < len; i++) {
                    a[off + i] = Float.floatToFloat16(src[i]);
                }
            }
        }
    }

    /** {@code acc[i] = acc[i] op x[xOff + i]}: the same IEEE operations lane by lane as one at a time. */
    private static void combine(ReduceOp op, float[] acc, float[] x, int xOff, int len) {
        int i = 0;
        int bound = F.loopBound(len);
        if (op == ReduceOp.MAX) {
            for (; i < bound; i += F.length()) {
                FloatVector.fromArray(F, acc, i).max(FloatVector.fromArray(F, x, xOff + i)).intoArray(acc, i);
            }
            for (; i < len; i++) {
                acc[i] = Math.max(acc[i], x[xOff + i]);
            }
        } else {
            for (; i < bound; i += F.length()) {
                FloatVector.fromArray(F, acc, i).add(FloatVector.fromArray(F, x, xOff + i)).intoArray(acc, i);
            }
            for (; i < len; i++) {
                acc[i] += x[xOff + i];
            }
        }
    }

    private static void divide(float[] acc, int len, int n) {
        float d = n;
        int i = 0;
        for (int bound = F.loopBound(len); i < bound; i += F.length()) {
            FloatVector.fromArray(F, acc, i).div(d).intoArray(acc, i);
        }
        for (; i < len; i++) {
            acc[i] /= d;
        }
    }

    private static void reduceDouble(ReduceOp op, Operand[] inputs, int count, Heap[] outputs, Scratch s) {
        int n = inputs.length;
        for (int b = 0; b < count; b += BLOCK) {
            int len = Math.min(BLOCK, count - b);
            loadDouble(inputs[0], b, s.dacc, len);
            for (int k = 1; k < n; k++) {
                loadDouble(inputs[k], b, s.dtmp, len);
                for (int i = 0; i < len; i++) {
                    s.dacc[i] = op == ReduceOp.MAX ? Math.max(s.dacc[i], s.dtmp[i]) : s.dacc[i] + s.dtmp[i];
                }
            }
            if (op == ReduceOp.AVG) {
                for (int i = 0; i < len; i++) {
                    s.dacc[i] /= n;
                }
            }
            for (Heap out : outputs) {
                System.arraycopy(s.dacc, 0, out.storage().f64(), out.offset() + b, len);
            }
        }
    }

    private static void loadDouble(Operand in, int from, double[] dst, int len) {
        switch (in) {
            case Heap h -> System.arraycopy(h.storage().f64(), h.offset() + from, dst, 0, len);
            case Bytes b -> MemorySegment.copy(b.segment(), StorageBytes.layout(DType.F64), (long) from * 8, dst, 0, len);
        }
    }

    private static void reduceLong(ReduceOp op, DType dtype, Operand[] inputs, int count, Heap[] outputs, Scratch s) {
        int n = inputs.length;
        for (int b = 0; b < count; b += BLOCK) {
            int len = Math.min(BLOCK, count - b);
            loadLong(inputs[0], dtype, b, s.lacc, len);
            for (int k = 1; k < n; k++) {
                loadLong(inputs[k], dtype, b, s.ltmp, len);
                for (int i = 0; i < len; i++) {
                    s.lacc[i] = op == ReduceOp.MAX ? Math.max(s.lacc[i], s.ltmp[i]) : s.lacc[i] + s.ltmp[i];
                }
            }
            for (Heap out : outputs) {
                int off = out.offset() + b;
                if (dtype == DType.I64) {
                    System.arraycopy(s.lacc, 0, out.storage().i64(), off, len);
                } else {
                    int[] a = out.storage().i32();
                    for (int i = 0; i < len; i++) {
                        a[off + i] = (int) s.lacc[i];
                    }
                }
            }
        }
    }

    private static void loadLong(Operand in, DType dtype, int from, long[] dst, int len) {
        if (dtype == DType.I64) {
            switch (in) {
                case Heap h -> System.arraycopy(h.storage().i64(), h.offset() + from, dst, 0, len);
                case Bytes b -> MemorySegment.copy(b.segment(), StorageBytes.layout(dtype), (long) from * 8, dst, 0, len);
            }
            return;
        }
        switch (in) {
            case Heap h -> {
                int[] a = h.storage().i32();
                int off = h.offset() + from;
                for (int i = 0; i < len; i++) {
                    dst[i] = a[off + i];
                }
            }
            case Bytes b -> {
                long byteOff = (long) from * 4;
                for (int i = 0; i < len; i++) {
                    dst[i] = b.segment().get(LE_INT, byteOff + 4L * i);
                }
            }
        }
    }
}
