package org.internlmj.tensor;

/**
 * A block of memory holding {@link #length()} elements of one {@link DType} on one {@link Device}.
 * Tensors are views over a storage; several views may share one.
 *
 * <p>A storage is owned by at most one {@link MemoryScope}; closing the scope frees it. Any later use
 * through any view fails with a clear error instead of reading freed or recycled memory.
 */
public abstract class Storage {
    private final DType dtype;
    private final Device device;
    private final long length;
    private volatile boolean closed;
    private MemoryScope owner;

    protected Storage(DType dtype, Device device, long length) {
        this.dtype = dtype;
        this.device = device;
        this.length = length;
    }

    public final DType dtype() {
        return dtype;
    }

    public final Device device() {
        return device;
    }

    /** Number of elements. */
    public final long length() {
        return length;
    }

    public final long byteSize() {
        return length * dtype.byteSize();
    }

    public final boolean isClosed() {
        return closed;
    }

    /** Throws if this storage was freed. */
    public final void checkOpen() {
        if (closed) {
            throw new IllegalStateException("tensor storage (" + dtype + ", " + length + " elements on " + device
                    + ") was used after it was freed: its memory scope was closed or it was closed explicitly; "
                    + "keep tensors that must outlive a scope with MemoryScope.keep(tensor) or adopt(tensor)");
        }
    }

    /** Frees the memory now. Idempotent. */
    public final void close() {
        if (!closed) {
            closed = true;
            release();
        }
    }

    /** Returns the memory to its allocator; called once. */
    protected abstract void release();

    final MemoryScope owner() {
        return owner;
    }

    final void owner(MemoryScope scope) {
        this.owner = scope;
    }
}
