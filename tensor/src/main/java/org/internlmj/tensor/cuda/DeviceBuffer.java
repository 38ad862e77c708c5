package org.internlmj.tensor.cuda;

/**
 * Scratch device memory for the duration of one operation (partial sums, sort keys, staging copies).
 * Allocated and freed on the compute stream, so closing it right after queueing the kernels that use
 * it is safe: the pool hands the memory out again only to work queued later.
 */
final class DeviceBuffer implements AutoCloseable {
    private final CudaContext context;
    private final long pointer;
    private final long bytes;

    DeviceBuffer(CudaContext context, long bytes, String what) {
        this.context = context;
        this.bytes = bytes;
        this.pointer = context.allocate(Math.max(bytes, 1), what);
    }

    long pointer() {
        return pointer;
    }

    long bytes() {
        return bytes;
    }

    @Override
    public void close() {
        context.free(pointer);
    }
}
