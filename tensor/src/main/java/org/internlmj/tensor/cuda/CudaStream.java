package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.internlmj.ffm.cuda.Cuda;

/**
 * A CUDA stream: a queue of device work that runs in order. The backend computes on one stream per
 * device; collectives run on their own so communication can overlap computation, ordered against it
 * with {@link CudaEvent}s.
 *
 * <pre>{@code
 * try (CudaStream comm = CudaStream.create(context)) { ... }
 * }</pre>
 */
public final class CudaStream implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private boolean closed;

    private CudaStream(CudaContext context, MemorySegment handle) {
        this.context = context;
        this.handle = handle;
    }

    /** A new non-blocking stream (it does not synchronize with the legacy default stream). */
    public static CudaStream create(CudaContext context) {
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Cuda.check(Cuda.cuStreamCreate(out, Cuda.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
            return new CudaStream(context, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** The stream of a simulated context: a NULL handle no driver call ever sees. */
    static CudaStream simulated(CudaContext context) {
        return new CudaStream(context, MemorySegment.NULL);
    }

    /** The driver handle ({@code CUstream}, the same value as a runtime {@code cudaStream_t}). */
    public MemorySegment handle() {
        return handle;
    }

    /** Work queued on this stream after this call starts only once {@code event} is reached. */
    public void waitFor(CudaEvent event) {
        if (context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        Cuda.check(Cuda.cuStreamWaitEvent(handle, event.handle(), 0), "cuStreamWaitEvent");
    }

    /** Blocks until everything queued so far has run. */
    public void synchronize() {
        if (context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        Cuda.check(Cuda.cuStreamSynchronize(handle), "cuStreamSynchronize");
    }

    @Override
    public synchronized void close() {
        if (!closed && !context.isClosed() && !context.isSimulated()) {
            closed = true;
            context.makeCurrent();
            Cuda.check(Cuda.cuStreamDestroy_v2(handle), "cuStreamDestroy_v2");
        }
    }
}
