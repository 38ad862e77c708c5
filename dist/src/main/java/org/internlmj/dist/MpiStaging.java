package org.internlmj.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import org.internlmj.ffm.Mpi;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * Native buffers for MPI and the copies between them and heap tensors.
 *
 * <p>CPU tensors live on the Java heap, which MPI cannot be given (the GC moves arrays), so every
 * operation stages through a native segment. Segments are pooled by size class (quarter steps between
 * powers of two, so at most 25% is wasted) and reused for the life of the process: allocating and
 * freeing tens of megabytes of native memory per gradient all-reduce would cost more than the copy.
 * A segment handed to MPI stays out of the pool until the operation completes; one whose operation
 * never completes (a timed-out collective) is never reused.
 *
 * <p>On the wire, BF16 and F16 travel as raw 16-bit words when nothing is computed on them
 * (all-gather, broadcast, send/recv) and widened to fp32 when MPI reduces them, so that sums are
 * accumulated in fp32 and rounded once, on the way back.
 */
final class MpiStaging implements AutoCloseable {
    private static final long MIN_SEGMENT = 4096;
    private static final int CHUNK = 1 << 16;
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[CHUNK]);

    private final Arena arena = Arena.ofShared();
    private final Map<Long, ArrayDeque<MemorySegment>> free = new HashMap<>();
    private long allocatedBytes;
    private int outstanding;
    private boolean closed;

    /** How a tensor of one dtype travels: the MPI datatype and bytes per element. */
    record Wire(DType dtype, boolean widened, MemorySegment mpiType, int elementBytes) {
        /** The wire format of {@code dtype}; {@code reduce} when MPI computes on the values. */
        static Wire of(DType dtype, boolean reduce) {
            return switch (dtype) {
                case F32 -> new Wire(dtype, false, Mpi.MPI_FLOAT(), 4);
                case F64 -> new Wire(dtype, false, Mpi.MPI_DOUBLE(), 8);
                case BF16, F16 -> reduce ? new Wire(dtype, true, Mpi.MPI_FLOAT(), 4)
                        : new Wire(dtype, false, Mpi.MPI_UINT16_T(), 2);
                case I32 -> new Wire(dtype, false, Mpi.MPI_INT(), 4);
                case I64 -> new Wire(dtype, false, Mpi.MPI_INT64_T(), 8);
            };
        }

        long bytes(long count) {
            return count * elementBytes;
        }
    }

    /** The size a request of {@code bytes} is rounded up to. */
    static long sizeClass(long bytes) {
        if (bytes <= MIN_SEGMENT) {
            return MIN_SEGMENT;
        }
        long base = Long.highestOneBit(bytes - 1);
        long step = base / 4;
        return base + (bytes - base + step - 1) / step * step;
    }

    /** A segment of at least {@code bytes}, 64-byte aligned; give it back with {@link #release}. */
    synchronized MemorySegment acquire(long bytes) {
        if (closed) {
            throw new IllegalStateException("MPI staging buffers were freed: the world process group is closed");
        }
        long size = sizeClass(bytes);
        ArrayDeque<MemorySegment> list = free.get(size);
        MemorySegment s = list == null ? null : list.pollFirst();
        if (s == null) {
            s = arena.allocate(size, 64);
            allocatedBytes += size;
        }
        outstanding++;
        return s;
    }

    synchronized void release(MemorySegment segment) {
        outstanding--;
        if (!closed) {
            free.computeIfAbsent(segment.byteSize(), k -> new ArrayDeque<>()).addFirst(segment);
        }
    }

    /** Native bytes held by the pool, in use or not. */
    synchronized long allocatedBytes() {
        return allocatedBytes;
    }

    /** Segments handed out and not yet released. */
    synchronized int outstanding() {
        return outstanding;
    }

    /**
     * Frees every segment, unless some are still out: those may still be read or written by MPI (a
     * timed-out operation), so the memory is then deliberately left allocated.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        free.clear();
        if (outstanding == 0) {
            arena.close();
        }
    }

    // ------------------------------------------------------------------ heap <-> native

    /** Checks what every MPI operation on a heap tensor needs: contiguous, on the CPU. */
    static void checkTensor(String op, String role, Tensor t) {
        if (t.device() != Device.CPU || !(t.storage() instanceof CpuStorage)) {
            throw new IllegalArgumentException(op + ": the MPI process group moves CPU tensors; " + role + " is on "
                    + t.device() + " (GPU tensors go through NCCL)");
        }
        if (!t.isContiguous()) {
            throw new IllegalArgumentException(op + ": " + role + " must be contiguous, got shape "
                    + java.util.Arrays.toString(t.shape()) + " strides " + java.util.Arrays.toString(t.strides()));
        }
    }

    /** Writes {@code t}'s elements at {@code byteOffset} in the wire format. */
    static void toWire(Tensor t, Wire wire, MemorySegment seg, long byteOffset) {
        CpuStorage s = (CpuStorage) t.storage();
        int off = t.offset();
        int n = t.numel();
        checkRoom(seg, byteOffset, wire.bytes(n));
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(s.f32(), off, seg, ValueLayout.JAVA_FLOAT, byteOffset, n);
            case F64 -> MemorySegment.copy(s.f64(), off, seg, ValueLayout.JAVA_DOUBLE, byteOffset, n);
            case I32 -> MemorySegment.copy(s.i32(), off, seg, ValueLayout.JAVA_INT, byteOffset, n);
            case I64 -> MemorySegment.copy(s.i64(), off, seg, ValueLayout.JAVA_LONG, byteOffset, n);
            case BF16, F16 -> {
                if (!wire.widened()) {
                    MemorySegment.copy(s.bits16(), off, seg, ValueLayout.JAVA_SHORT, byteOffset, n);
                    return;
                }
                float[] scratch = SCRATCH.get();
                Tensor wide = Tensor.view(CpuStorage.wrap(scratch), new int[] {CHUNK}, new int[] {1}, 0);
                for (int start = 0; start < n; start += CHUNK) {
                    int len = Math.min(CHUNK, n - start);
                    Tensor narrow = Tensor.view(s, new int[] {len}, new int[] {1}, off + start);
                    t.backend().copy(narrow, wide.narrow(0, 0, len));
                    MemorySegment.copy(scratch, 0, seg, ValueLayout.JAVA_FLOAT, byteOffset + 4L * start, len);
                }
            }
        }
    }

    /**
     * Reads {@code t}'s elements from {@code byteOffset} in the wire format, dividing floating values by
     * {@code divisor} (1 for none; AVG passes the group size) before rounding to {@code t}'s dtype.
     */
    static void fromWire(MemorySegment seg, long byteOffset, Wire wire, Tensor t, int divisor) {
        CpuStorage s = (CpuStorage) t.storage();
        int off = t.offset();
        int n = t.numel();
        checkRoom(seg, byteOffset, wire.bytes(n));
        switch (t.dtype()) {
            case F32 -> {
                float[] a = s.f32();
                MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT, byteOffset, a, off, n);
                divide(a, off, n, divisor);
            }
            case F64 -> {
                double[] a = s.f64();
                MemorySegment.copy(seg, ValueLayout.JAVA_DOUBLE, byteOffset, a, off, n);
                if (divisor != 1) {
                    for (int i = off; i < off + n; i++) {
                        a[i] /= divisor;
                    }
                }
            }
            case I32 -> MemorySegment.copy(seg, ValueLayout.JAVA_INT, byteOffset, s.i32(), off, n);
            case I64 -> MemorySegment.copy(seg, ValueLayout.JAVA_LONG, byteOffset, s.i64(), off, n);
            case BF16, F16 -> {
                if (!wire.widened()) {
                    MemorySegment.copy(seg, ValueLayout.JAVA_SHORT, byteOffset, s.bits16(), off, n);
                    return;
                }
                float[] scratch = SCRATCH.get();
                Tensor wide = Tensor.view(CpuStorage.wrap(scratch), new int[] {CHUNK}, new int[] {1}, 0);
                for (int start = 0; start < n; start += CHUNK) {
                    int len = Math.min(CHUNK, n - start);
                    MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT, byteOffset + 4L * start, scratch, 0, len);
                    divide(scratch, 0, len, divisor);
                    Tensor narrow = Tensor.view(s, new int[] {len}, new int[] {1}, off + start);
                    t.backend().copy(wide.narrow(0, 0, len), narrow);
                }
            }
        }
    }

    private static void divide(float[] a, int from, int n, int divisor) {
        if (divisor == 1) {
            return;
        }
        // A true division, not a multiplication by 1/size, so AVG is exactly SUM / size as documented.
        float d = divisor;
        for (int i = from; i < from + n; i++) {
            a[i] /= d;
        }
    }

    private static void checkRoom(MemorySegment seg, long byteOffset, long bytes) {
        if (byteOffset < 0 || byteOffset + bytes > seg.byteSize()) {
            throw new IllegalStateException("staging copy of " + bytes + " bytes at offset " + byteOffset
                    + " does not fit a " + seg.byteSize() + "-byte segment");
        }
    }
}
