package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicInteger;
import org.internlmj.ffm.cuda.Cuda;

/**
 * A CUDA event: a point in a stream that other streams can wait for and the host can poll. Reference
 * counted because an event may be held by its creator and by every device buffer whose last use it marks
 * ({@link CudaStorage#recordUse}); it is destroyed when the last holder releases it.
 *
 * <pre>{@code
 * try (CudaEvent done = CudaEvent.create(context, false)) {
 *     done.record(commStream);
 *     context.computeStream().waitFor(done);
 * }
 * }</pre>
 */
public final class CudaEvent implements AutoCloseable {
    private final CudaContext context;
    private final MemorySegment handle;
    private final AtomicInteger references = new AtomicInteger(1);

    private CudaEvent(CudaContext context, MemorySegment handle) {
        this.context = context;
        this.handle = handle;
    }

    /** A new event; {@code timing} events can measure elapsed time (and cost a little more to record). */
    public static CudaEvent create(CudaContext context, boolean timing) {
        if (context.isSimulated()) {
            return new CudaEvent(context, MemorySegment.NULL);
        }
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Cuda.check(Cuda.cuEventCreate(out, timing ? Cuda.CU_EVENT_DEFAULT : Cuda.CU_EVENT_DISABLE_TIMING),
                    "cuEventCreate");
            return new CudaEvent(context, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** The driver handle ({@code CUevent}). */
    public MemorySegment handle() {
        return handle;
    }

    /** Marks the current end of {@code stream}'s queue. */
    public void record(CudaStream stream) {
        if (context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        Cuda.check(Cuda.cuEventRecord(handle, stream.handle()), "cuEventRecord");
    }

    /** True once all work before the recorded point is done; throws if the device reported an error. */
    public boolean isDone() {
        if (context.isSimulated()) {
            return true;
        }
        context.makeCurrent();
        int rc = Cuda.cuEventQuery(handle);
        if (rc == Cuda.CUDA_ERROR_NOT_READY) {
            return false;
        }
        Cuda.check(rc, "cuEventQuery");
        return true;
    }

    /** Blocks the calling thread until the recorded point is reached. */
    public void synchronize() {
        if (context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        Cuda.check(Cuda.cuEventSynchronize(handle), "cuEventSynchronize");
    }

    /** Milliseconds between {@code start} and this event (both timing events, both reached). */
    public float elapsedSince(CudaEvent start) {
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ms = arena.allocate(ValueLayout.JAVA_FLOAT);
            Cuda.check(Cuda.cuEventElapsedTime_v2(ms, start.handle, handle), "cuEventElapsedTime_v2");
            return ms.get(ValueLayout.JAVA_FLOAT, 0);
        }
    }

    /** Adds a holder; pair with {@link #close()}. */
    public CudaEvent retain() {
        if (references.getAndIncrement() <= 0) {
            references.decrementAndGet();
            throw new IllegalStateException("CUDA event used after it was destroyed");
        }
        return this;
    }

    /** Drops a holder; the last one destroys the event (the driver frees it once it is reached). */
    @Override
    public void close() {
        if (references.decrementAndGet() == 0 && !context.isClosed() && !context.isSimulated()) {
            context.makeCurrent();
            Cuda.check(Cuda.cuEventDestroy_v2(handle), "cuEventDestroy_v2");
        }
    }
}
