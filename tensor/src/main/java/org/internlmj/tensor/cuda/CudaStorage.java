package org.internlmj.tensor.cuda;

import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Storage;
import org.internlmj.tensor.Tensor;

/**
 * Device memory holding one tensor storage, from the device's stream-ordered pool. Closing it (directly
 * or through its {@link org.internlmj.tensor.MemoryScope}) frees it with {@code cuMemFreeAsync} on the
 * compute stream, so kernels already queued that read or write it finish first. Work on other streams
 * (collectives) registers itself with {@link #recordUse}, and the free then also waits for that.
 */
public final class CudaStorage extends Storage {
    private final CudaContext context;
    private final long pointer;
    private CudaEvent lastForeignUse;

    CudaStorage(CudaContext context, DType dtype, long length, long pointer) {
        super(dtype, Device.cuda(context.ordinal()), length);
        this.context = context;
        this.pointer = pointer;
    }

    /** The device address of element 0 (0 for an empty storage). */
    public long pointer() {
        checkOpen();
        return pointer;
    }

    /** The device address of {@code t}'s first element ({@code t} must live in a CUDA storage). */
    public static long address(Tensor t) {
        if (!(t.storage() instanceof CudaStorage s)) {
            throw new IllegalArgumentException("expected a CUDA tensor, got " + t);
        }
        return s.pointer() + (long) t.offset() * t.dtype().byteSize();
    }

    /**
     * Marks that work on a stream other than the compute stream uses this memory up to {@code event}:
     * the eventual free is ordered after it. Holds a reference to the event until then.
     */
    public synchronized void recordUse(CudaEvent event) {
        event.retain();
        if (lastForeignUse != null) {
            lastForeignUse.close();
        }
        lastForeignUse = event;
    }

    @Override
    protected synchronized void release() {
        if (context.isClosed()) {
            return;
        }
        if (lastForeignUse != null) {
            context.computeStream().waitFor(lastForeignUse);
            lastForeignUse.close();
            lastForeignUse = null;
        }
        context.free(pointer);
    }
}
