package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The argument block of one kernel launch, in the form {@code cuLaunchKernel} takes: each value stored
 * at its natural alignment in a native buffer, and an array of pointers to them. One instance per
 * thread, reset by {@link #begin()}, so a launch allocates nothing; the driver copies the values during
 * {@code cuLaunchKernel}, after which the buffer may be reused.
 *
 * <pre>{@code
 * KernelArgs a = KernelArgs.begin().pointer(out).i32(n).f32(scale);
 * launcher.launch(fn, grid, block, 0, a);
 * }</pre>
 */
final class KernelArgs {
    private static final int VALUE_BYTES = 16 * 1024;
    private static final int MAX_ARGS = 64;
    private static final ThreadLocal<KernelArgs> PER_THREAD = ThreadLocal.withInitial(KernelArgs::new);

    private final MemorySegment values;
    private final MemorySegment pointers;
    private final long[] sizes = new long[MAX_ARGS];
    private final long[] alignments = new long[MAX_ARGS];
    private long used;
    private int count;

    private KernelArgs() {
        Arena arena = Arena.ofAuto();
        values = arena.allocate(VALUE_BYTES, 16);
        pointers = arena.allocate(ValueLayout.ADDRESS, MAX_ARGS);
    }

    /** This thread's argument block, emptied. */
    static KernelArgs begin() {
        KernelArgs a = PER_THREAD.get();
        a.used = 0;
        a.count = 0;
        return a;
    }

    private long slot(long bytes, long alignment) {
        long at = (used + alignment - 1) & -alignment;
        if (at + bytes > VALUE_BYTES || count == MAX_ARGS) {
            throw new IllegalStateException("kernel arguments exceed " + VALUE_BYTES + " bytes or " + MAX_ARGS
                    + " parameters");
        }
        sizes[count] = bytes;
        alignments[count] = alignment;
        pointers.setAtIndex(ValueLayout.ADDRESS, count++, values.asSlice(at, bytes));
        used = at + bytes;
        return at;
    }

    /** A device pointer (or any 64-bit value a kernel takes as a pointer). */
    KernelArgs pointer(long address) {
        values.set(ValueLayout.JAVA_LONG, slot(8, 8), address);
        return this;
    }

    KernelArgs i32(int v) {
        values.set(ValueLayout.JAVA_INT, slot(4, 4), v);
        return this;
    }

    KernelArgs i64(long v) {
        values.set(ValueLayout.JAVA_LONG, slot(8, 8), v);
        return this;
    }

    KernelArgs f32(float v) {
        values.set(ValueLayout.JAVA_FLOAT, slot(4, 4), v);
        return this;
    }

    KernelArgs f64(double v) {
        values.set(ValueLayout.JAVA_DOUBLE, slot(8, 8), v);
        return this;
    }

    /**
     * One operand of a strided kernel: its storage's base address, its dtype code and its
     * {@code Layout} over {@code it}'s loop (operand {@code o} of the iterator).
     */
    KernelArgs operand(long base, int dtype, CudaIter it, int o) {
        pointer(base).i32(dtype);
        it.writeLayout(this, o);
        return this;
    }

    /** A struct of ints passed by value (the {@code Shape} and {@code Layout} of common.cuh). */
    KernelArgs struct(int[] fields) {
        long at = slot(4L * fields.length, 4);
        MemorySegment.copy(fields, 0, values, ValueLayout.JAVA_INT, at, fields.length);
        return this;
    }

    /** A struct passed by value, already laid out in {@code bytes} with the given alignment. */
    KernelArgs struct(MemorySegment bytes, long alignment) {
        long at = slot(bytes.byteSize(), alignment);
        MemorySegment.copy(bytes, 0, values, at, bytes.byteSize());
        return this;
    }

    /** The {@code void**} array for {@code cuLaunchKernel}. */
    MemorySegment pointers() {
        return pointers;
    }

    int count() {
        return count;
    }

    /** The size and alignment of each argument, in order (for checks against the kernel's signature). */
    java.util.List<LaunchObserver.Arg> layout() {
        java.util.List<LaunchObserver.Arg> out = new java.util.ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            out.add(new LaunchObserver.Arg(sizes[i], alignments[i]));
        }
        return out;
    }
}
