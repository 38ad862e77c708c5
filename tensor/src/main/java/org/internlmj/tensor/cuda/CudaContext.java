package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.internlmj.ffm.cuda.Cuda;
import org.internlmj.ffm.cuda.CudaException;

/**
 * One CUDA device as the backend uses it: its primary context (made current on whichever thread calls
 * in), its properties, the compute stream every operation is queued on, and device memory from the
 * driver's stream-ordered pool ({@code cuMemAllocAsync}/{@code cuMemFreeAsync} on the compute stream,
 * with a release threshold that keeps freed memory in the pool instead of returning it at every
 * synchronization).
 *
 * <pre>{@code
 * CudaContext ctx = CudaContext.open(0);
 * long p = ctx.allocate(1 << 20, "scratch");
 * ctx.free(p);
 * }</pre>
 */
public final class CudaContext implements AutoCloseable {
    private static final ThreadLocal<CudaContext> CURRENT = new ThreadLocal<>();

    private final int ordinal;
    private final int device;
    private final MemorySegment context;
    private final MemorySegment pool;
    private final CudaStream stream;
    private final String name;
    private final int ccMajor;
    private final int ccMinor;
    private final int multiprocessors;
    private final int maxSharedOptin;
    private final long totalMemory;
    private final boolean simulated;
    private long nextSimulatedAddress = 1L << 32;
    private volatile boolean closed;

    private CudaContext(int ordinal, int device, MemorySegment context, String name, int ccMajor, int ccMinor,
                        int multiprocessors, int maxSharedOptin, long totalMemory) {
        this(ordinal, device, context, name, ccMajor, ccMinor, multiprocessors, maxSharedOptin, totalMemory, false);
    }

    private CudaContext(int ordinal, int device, MemorySegment context, String name, int ccMajor, int ccMinor,
                        int multiprocessors, int maxSharedOptin, long totalMemory, boolean simulated) {
        this.simulated = simulated;
        this.ordinal = ordinal;
        this.device = device;
        this.context = context;
        this.name = name;
        this.ccMajor = ccMajor;
        this.ccMinor = ccMinor;
        this.multiprocessors = multiprocessors;
        this.maxSharedOptin = maxSharedOptin;
        this.totalMemory = totalMemory;
        makeCurrent();
        this.stream = simulated ? CudaStream.simulated(this) : CudaStream.create(this);
        this.pool = simulated ? MemorySegment.NULL : defaultPool(device);
    }

    /**
     * A context that calls no driver: memory addresses are made up, launches are only checked and
     * recorded ({@link CudaKernels}). It lets the host side of every operation run, and its kernel
     * arguments be checked, on machines without a GPU. Nothing is computed.
     */
    static CudaContext simulated(int computeCapability, int multiprocessors) {
        return new CudaContext(0, 0, MemorySegment.NULL, "simulated device", computeCapability / 10,
                computeCapability % 10, multiprocessors, 227 * 1024, 80L << 30, true);
    }

    /** True for a {@link #simulated} context. */
    boolean isSimulated() {
        return simulated;
    }

    /** Initializes the driver, retains device {@code ordinal}'s primary context and creates the compute stream. */
    public static CudaContext open(int ordinal) {
        Cuda.load();
        Cuda.check(Cuda.cuInit(0), "cuInit");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dev = arena.allocate(ValueLayout.JAVA_INT);
            Cuda.check(Cuda.cuDeviceGet(dev, ordinal), "cuDeviceGet", "device " + ordinal);
            int device = dev.get(ValueLayout.JAVA_INT, 0);
            MemorySegment nameBuf = arena.allocate(256);
            Cuda.check(Cuda.cuDeviceGetName(nameBuf, 256, device), "cuDeviceGetName");
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            Cuda.check(Cuda.cuDeviceTotalMem_v2(total, device), "cuDeviceTotalMem_v2");
            MemorySegment ctx = arena.allocate(ValueLayout.ADDRESS);
            Cuda.check(Cuda.cuDevicePrimaryCtxRetain(ctx, device), "cuDevicePrimaryCtxRetain");
            return new CudaContext(ordinal, device, ctx.get(ValueLayout.ADDRESS, 0), nameBuf.getString(0),
                    attribute(device, Cuda.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                    attribute(device, Cuda.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
                    attribute(device, Cuda.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
                    attribute(device, Cuda.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
                    total.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /** {@code cuDeviceGetAttribute}. */
    public static int attribute(int device, int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            Cuda.check(Cuda.cuDeviceGetAttribute(v, attribute, device), "cuDeviceGetAttribute",
                    "attribute " + attribute);
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    private static MemorySegment defaultPool(int device) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Cuda.check(Cuda.cuDeviceGetDefaultMemPool(out, device), "cuDeviceGetDefaultMemPool");
            MemorySegment p = out.get(ValueLayout.ADDRESS, 0);
            // Keep freed blocks cached in the pool: without a threshold every synchronization hands the
            // memory back to the driver and the next step pays for mapping it again.
            MemorySegment threshold = arena.allocate(ValueLayout.JAVA_LONG);
            threshold.set(ValueLayout.JAVA_LONG, 0, -1L);
            Cuda.check(Cuda.cuMemPoolSetAttribute(p, Cuda.CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, threshold),
                    "cuMemPoolSetAttribute");
            return p;
        }
    }

    /** Makes this device's context current on the calling thread (cheap when it already is). */
    public void makeCurrent() {
        if (simulated) {
            return;
        }
        if (CURRENT.get() != this) {
            Cuda.check(Cuda.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            CURRENT.set(this);
        }
    }

    /** The device ordinal ({@code cuda:N}). */
    public int ordinal() {
        return ordinal;
    }

    /** The driver's device handle ({@code CUdevice}). */
    public int device() {
        return device;
    }

    public String name() {
        return name;
    }

    /** Compute capability as {@code major * 10 + minor} (90 for Hopper). */
    public int computeCapability() {
        return ccMajor * 10 + ccMinor;
    }

    public int multiprocessors() {
        return multiprocessors;
    }

    /** The most shared memory one block may opt into, in bytes. */
    public int maxSharedMemoryOptin() {
        return maxSharedOptin;
    }

    public long totalMemory() {
        return totalMemory;
    }

    /** The stream every backend operation runs on. */
    public CudaStream computeStream() {
        return stream;
    }

    public boolean isClosed() {
        return closed;
    }

    /**
     * {@code bytes} of device memory from the pool, ordered on the compute stream; {@code what} names the
     * allocation in the out-of-memory message.
     */
    public long allocate(long bytes, String what) {
        if (bytes <= 0) {
            return 0;
        }
        if (simulated) {
            synchronized (this) {
                long p = nextSimulatedAddress;
                nextSimulatedAddress += (bytes + 255) & -256L;
                return p;
            }
        }
        makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
            int rc = Cuda.cuMemAllocAsync(out, bytes, stream.handle());
            if (rc != Cuda.CUDA_SUCCESS) {
                throw Cuda.exception(rc, "cuMemAllocAsync", "allocating " + bytes + " bytes for " + what + " on cuda:"
                        + ordinal + " (" + memorySummary() + ")");
            }
            return out.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /** Returns {@code pointer} to the pool once the compute stream's queued work is done with it. */
    public void free(long pointer) {
        if (pointer == 0 || closed || simulated) {
            return;
        }
        makeCurrent();
        Cuda.check(Cuda.cuMemFreeAsync(pointer, stream.handle()), "cuMemFreeAsync");
    }

    /** Pool and device memory in use, for messages. */
    public String memorySummary() {
        if (simulated) {
            return "simulated device: no memory state";
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment used = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment reserved = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            Cuda.check(Cuda.cuMemPoolGetAttribute(pool, Cuda.CU_MEMPOOL_ATTR_USED_MEM_CURRENT, used),
                    "cuMemPoolGetAttribute");
            Cuda.check(Cuda.cuMemPoolGetAttribute(pool, Cuda.CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, reserved),
                    "cuMemPoolGetAttribute");
            Cuda.check(Cuda.cuMemGetInfo_v2(free, total), "cuMemGetInfo_v2");
            return String.format("pool: %.2f GiB in use of %.2f GiB reserved; device: %.2f GiB free of %.2f GiB",
                    gib(used.get(ValueLayout.JAVA_LONG, 0)), gib(reserved.get(ValueLayout.JAVA_LONG, 0)),
                    gib(free.get(ValueLayout.JAVA_LONG, 0)), gib(total.get(ValueLayout.JAVA_LONG, 0)));
        } catch (CudaException e) {
            return "memory state unavailable: " + e.getMessage();
        }
    }

    /** Bytes the pool has handed out and not yet taken back. */
    public long poolBytesInUse() {
        if (simulated) {
            return 0;
        }
        makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment used = arena.allocate(ValueLayout.JAVA_LONG);
            Cuda.check(Cuda.cuMemPoolGetAttribute(pool, Cuda.CU_MEMPOOL_ATTR_USED_MEM_CURRENT, used),
                    "cuMemPoolGetAttribute");
            return used.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    private static double gib(long bytes) {
        return bytes / (1024.0 * 1024 * 1024);
    }

    /** Waits for the compute stream, destroys it and releases the primary context. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        if (simulated) {
            closed = true;
            return;
        }
        makeCurrent();
        stream.synchronize();
        stream.close();
        closed = true;
        Cuda.check(Cuda.cuDevicePrimaryCtxRelease_v2(device), "cuDevicePrimaryCtxRelease_v2");
        CURRENT.remove();
    }
}
