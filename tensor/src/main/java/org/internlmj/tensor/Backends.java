package org.internlmj.tensor;

import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;
import org.internlmj.tensor.cpu.CpuBackend;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * Finds the {@link Backend} of a device. The CPU backend is built in; other devices come from
 * {@link BackendProvider}s found with {@link ServiceLoader}, and a device nobody provides is an error
 * that says so (with the provider's reasons, e.g. "libcuda.so.1 not found, looked in ...").
 */
public final class Backends {
    private static final ConcurrentHashMap<Device, Backend> BACKENDS = new ConcurrentHashMap<>();
    private static final ThreadLocal<Backend> CPU_OVERRIDE = new ThreadLocal<>();

    private Backends() {
    }

    /** The backend that computes on {@code device}. */
    public static Backend of(Device device) {
        if (device.isCpu()) {
            Backend o = CPU_OVERRIDE.get();
            return o != null ? o : CpuBackend.shared();
        }
        return BACKENDS.computeIfAbsent(device, Backends::load);
    }

    private static Backend load(Device device) {
        StringBuilder reasons = new StringBuilder();
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
            String why = p.unavailableReason(device);
            if (why == null) {
                return p.create(device);
            }
            reasons.append("\n  ").append(p.name()).append(": ").append(why);
        }
        throw new IllegalStateException("no backend available for device " + device
                + (reasons.isEmpty() ? ": this build has no backend for " + device.kind() : ":" + reasons));
    }

    /**
     * Makes {@code backend} compute every CPU tensor operation of this thread until the returned handle
     * is closed. For tests: running autograd on the float64 {@code ReferenceBackend} gives true float64
     * gradient checks of the backward formulas.
     *
     * <pre>{@code
     * try (var ref = Backends.overrideCpu(new ReferenceBackend())) { ... }
     * }</pre>
     */
    public static CpuOverride overrideCpu(Backend backend) {
        if (!backend.device().isCpu()) {
            throw new IllegalArgumentException("overrideCpu needs a CPU backend, got " + backend.describe());
        }
        Backend previous = CPU_OVERRIDE.get();
        CPU_OVERRIDE.set(backend);
        return () -> {
            if (previous == null) {
                CPU_OVERRIDE.remove();
            } else {
                CPU_OVERRIDE.set(previous);
            }
        };
    }

    /** Restores the previous CPU backend when closed. */
    public interface CpuOverride extends AutoCloseable {
        @Override
        void close();
    }

    /** Copies src into dst across devices (same shape; dtype converted on the way if needed). */
    public static void transfer(Tensor src, Tensor dst) {
        if (!src.sameShape(dst)) {
            throw new IllegalArgumentException("transfer from " + src + " to " + dst + ": shapes differ");
        }
        if (src.device().isCpu() && dst.device().isCpu()) {
            CpuBackend.shared().copy(src, dst);
            return;
        }
        Backend gpu = src.device().isCpu() ? of(dst.device()) : of(src.device());
        if (gpu instanceof DeviceTransfer t) {
            t.transfer(src, dst);
            return;
        }
        throw new IllegalStateException("backend " + gpu.describe() + " cannot copy " + src + " to " + dst);
    }

    /** Implemented by device backends that can copy to and from the CPU. */
    public interface DeviceTransfer {
        void transfer(Tensor src, Tensor dst);
    }

    /** Service interface for non-CPU backends. */
    public interface BackendProvider {
        String name();

        /** Null if this provider can serve {@code device}, else why not. */
        String unavailableReason(Device device);

        Backend create(Device device);
    }

    /** True if {@code t}'s storage is CPU heap storage. */
    static boolean isCpuHeap(Tensor t) {
        return t.storage() instanceof CpuStorage;
    }
}
