package org.internlmj.dist;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * Moves runs of elements, bit for bit, between heap tensor storage and byte segments (the wire format of
 * the TCP process group: little-endian elements, the order of every CPU this engine runs on, so the copies
 * are plain memory copies) or between two heap storages.
 */
final class StorageBytes {
    private StorageBytes() {
    }

    /** The little-endian layout of one element of {@code dtype}. */
    static ValueLayout layout(DType dtype) {
        ValueLayout l = switch (dtype) {
            case F32 -> ValueLayout.JAVA_FLOAT_UNALIGNED;
            case F64 -> ValueLayout.JAVA_DOUBLE_UNALIGNED;
            case BF16, F16 -> ValueLayout.JAVA_SHORT_UNALIGNED;
            case I32 -> ValueLayout.JAVA_INT_UNALIGNED;
            case I64 -> ValueLayout.JAVA_LONG_UNALIGNED;
        };
        return l.withOrder(ByteOrder.LITTLE_ENDIAN);
    }

    /** Elements {@code [offset, offset + count)} of {@code src} into {@code dst} from byte {@code dstByte}. */
    static void toBytes(CpuStorage src, int offset, int count, MemorySegment dst, long dstByte) {
        MemorySegment.copy(src.array(), offset, dst, layout(src.dtype()), dstByte, count);
    }

    /** {@code count} elements from byte {@code srcByte} of {@code src} into {@code dst} at {@code offset}. */
    static void fromBytes(MemorySegment src, long srcByte, CpuStorage dst, int offset, int count) {
        MemorySegment.copy(src, layout(dst.dtype()), srcByte, dst.array(), offset, count);
    }

    /** {@code count} elements from {@code src} at {@code srcOffset} to {@code dst} at {@code dstOffset}. */
    static void copy(CpuStorage src, int srcOffset, CpuStorage dst, int dstOffset, int count) {
        Object from = src.array();
        Object to = dst.array();
        if (from != to || srcOffset != dstOffset) {
            System.arraycopy(from, srcOffset, to, dstOffset, count);
        }
    }
}
