package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.internlmj.ffm.cuda.Cuda;

/**
 * The loaded kernel modules of one device: each family is compiled ({@link KernelCompiler}) and loaded
 * with {@code cuModuleLoadData} on first use, its functions looked up once, and launched on the compute
 * stream. Launch geometry is checked here, before the driver sees it, with messages naming the kernel.
 */
final class CudaKernels implements AutoCloseable {
    /** A kernel function and the largest dynamic shared memory it has been allowed so far. */
    static final class Kernel {
        final String family;
        final String name;
        final MemorySegment function;
        volatile int dynamicSharedAllowed = 48 * 1024;

        Kernel(String family, String name, MemorySegment function) {
            this.family = family;
            this.name = name;
            this.function = function;
        }
    }

    private final CudaContext context;
    private final boolean synchronous;
    private final LaunchObserver observer;
    private final Map<String, MemorySegment> modules = new ConcurrentHashMap<>();
    private final Map<String, Kernel> kernels = new ConcurrentHashMap<>();

    CudaKernels(CudaContext context, boolean synchronous, LaunchObserver observer) {
        this.context = context;
        this.synchronous = synchronous;
        this.observer = observer;
    }

    /** The function {@code name} of {@code family}.cu, compiling and loading the module on first use. */
    Kernel get(String family, String name) {
        String key = family + "/" + name;
        Kernel k = kernels.get(key);
        if (k != null) {
            return k;
        }
        if (context.isSimulated()) {
            return kernels.computeIfAbsent(key, unused -> new Kernel(family, name, MemorySegment.NULL));
        }
        return kernels.computeIfAbsent(key, unused -> lookup(module(family), family, name));
    }

    private MemorySegment module(String family) {
        return modules.computeIfAbsent(family, this::load);
    }

    private MemorySegment load(String family) {
        context.makeCurrent();
        KernelCompiler.Image image = KernelCompiler.compile(family, context.computeCapability());
        Loaded loaded = loadImage(image);
        if (loaded.status() != Cuda.CUDA_SUCCESS && image.fromCache()) {
            // A stale or damaged cache entry: compile afresh once.
            KernelCompiler.evict(family, context.computeCapability());
            image = KernelCompiler.compile(family, context.computeCapability());
            loaded = loadImage(image);
        }
        Cuda.check(loaded.status(), "cuModuleLoadData", family + ".cu compiled for " + image.target());
        return loaded.module();
    }

    private record Loaded(int status, MemorySegment module) {
    }

    private static Loaded loadImage(KernelCompiler.Image image) {
        try (Arena arena = Arena.ofConfined()) {
            // PTX must be NUL-terminated; a CUBIN does not mind the extra byte.
            MemorySegment bytes = arena.allocate(image.bytes().length + 1L, 16);
            MemorySegment.copy(image.bytes(), 0, bytes, ValueLayout.JAVA_BYTE, 0, image.bytes().length);
            bytes.set(ValueLayout.JAVA_BYTE, image.bytes().length, (byte) 0);
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int rc = Cuda.cuModuleLoadData(out, bytes);
            return new Loaded(rc, rc == Cuda.CUDA_SUCCESS ? out.get(ValueLayout.ADDRESS, 0) : MemorySegment.NULL);
        }
    }

    private Kernel lookup(MemorySegment module, String family, String name) {
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Cuda.check(Cuda.cuModuleGetFunction(out, module, arena.allocateFrom(name)), "cuModuleGetFunction",
                    name + " in " + family + ".cu");
            return new Kernel(family, name, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** Registers, local memory and shared memory the compiler gave {@code kernel} (for reports). */
    String resources(Kernel kernel) {
        if (context.isSimulated()) {
            return "simulated";
        }
        context.makeCurrent();
        return "regs " + attribute(kernel, Cuda.CU_FUNC_ATTRIBUTE_NUM_REGS) + ", local "
                + attribute(kernel, Cuda.CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES) + " B, static smem "
                + attribute(kernel, Cuda.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES) + " B";
    }

    private int attribute(Kernel kernel, int attribute) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            Cuda.check(Cuda.cuFuncGetAttribute(v, attribute, kernel.function), "cuFuncGetAttribute", kernel.name);
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** Launches {@code kernel} on the compute stream with a 1-D block. */
    void launch(Kernel kernel, int gridX, int gridY, int blockX, int sharedBytes, KernelArgs args) {
        launch(kernel, gridX, gridY, 1, blockX, 1, 1, sharedBytes, args);
    }

    /** Launches {@code kernel} on the compute stream. */
    void launch(Kernel kernel, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
                KernelArgs args) {
        if (gridX < 1 || gridY < 1 || gridZ < 1 || gridY > 65535 || gridZ > 65535) {
            throw new IllegalArgumentException(kernel.name + ": grid (" + gridX + ", " + gridY + ", " + gridZ
                    + ") outside the device's limits");
        }
        if (blockX < 1 || blockY < 1 || blockZ < 1 || (long) blockX * blockY * blockZ > 1024) {
            throw new IllegalArgumentException(kernel.name + ": block (" + blockX + ", " + blockY + ", " + blockZ
                    + ") outside the device's limits");
        }
        if (context.isSimulated()) {
            if (sharedBytes > context.maxSharedMemoryOptin()) {
                throw new IllegalArgumentException(kernel.name + " needs " + sharedBytes + " bytes of shared memory");
            }
            if (observer != null) {
                observer.kernel(kernel.family, kernel.name, new int[] {gridX, gridY, gridZ},
                        new int[] {blockX, blockY, blockZ}, sharedBytes, args.layout());
            }
            return;
        }
        context.makeCurrent();
        if (sharedBytes > kernel.dynamicSharedAllowed) {
            if (sharedBytes > context.maxSharedMemoryOptin()) {
                throw new IllegalArgumentException(kernel.name + " needs " + sharedBytes + " bytes of shared memory; "
                        + context.name() + " allows a block " + context.maxSharedMemoryOptin());
            }
            Cuda.check(Cuda.cuFuncSetAttribute(kernel.function, Cuda.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    sharedBytes), "cuFuncSetAttribute", kernel.name);
            kernel.dynamicSharedAllowed = sharedBytes;
        }
        int rc = Cuda.cuLaunchKernel(kernel.function, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
                context.computeStream().handle(), args.pointers(), MemorySegment.NULL);
        Cuda.check(rc, "cuLaunchKernel", kernel.name);
        if (synchronous) {
            int s = Cuda.cuStreamSynchronize(context.computeStream().handle());
            Cuda.check(s, "cuStreamSynchronize", "after " + kernel.name + " (internlmj.cuda.sync=true)");
        }
    }

    /** Grid size for a grid-stride loop over {@code n} elements with {@code block} threads per block. */
    int gridFor(long n, int block) {
        long blocks = (n + block - 1) / block;
        long cap = (long) context.multiprocessors() * 32;
        return (int) Math.max(1, Math.min(blocks, cap));
    }

    @Override
    public void close() {
        if (context.isClosed() || context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        for (MemorySegment m : modules.values()) {
            Cuda.check(Cuda.cuModuleUnload(m), "cuModuleUnload");
        }
        modules.clear();
        kernels.clear();
    }
}
