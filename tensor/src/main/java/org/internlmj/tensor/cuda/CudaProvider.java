package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.ffm.NativeLibraryException;
import org.internlmj.ffm.cuda.Cublas;
import org.internlmj.ffm.cuda.Cuda;
import org.internlmj.ffm.cuda.Nvrtc;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.Device;

/**
 * Provides {@link CudaBackend} for {@code cuda:N} devices through {@link java.util.ServiceLoader}. A
 * machine without a GPU loads it fine: {@link #unavailableReason} then says why no backend can be made
 * (the driver library not found and where it was looked for, no device, a driver older than CUDA 12,
 * NVRTC or cuBLAS missing), and nothing fails until a CUDA tensor is asked for.
 */
public final class CudaProvider implements Backends.BackendProvider {
    /** Oldest driver API this backend runs on (12.0). */
    static final int MIN_DRIVER = 12000;

    private static final Map<Device, String> REASONS = new ConcurrentHashMap<>();

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String unavailableReason(Device device) {
        if (device.kind() != Device.Kind.CUDA) {
            return "serves CUDA devices, not " + device;
        }
        return REASONS.computeIfAbsent(device, CudaProvider::probe).transform(r -> r.isEmpty() ? null : r);
    }

    /** Why {@code device} cannot be used, or "" when it can. */
    private static String probe(Device device) {
        NativeLibrary.Lookup driver = NativeLibrary.find(KnownLibraries.CUDA_DRIVER);
        if (!driver.found()) {
            return driver.describe();
        }
        try {
            Cuda.load();
        } catch (NativeLibraryException e) {
            return e.getMessage();
        }
        int rc = Cuda.cuInit(0);
        if (rc != Cuda.CUDA_SUCCESS) {
            String what = rc == Cuda.CUDA_ERROR_NO_DEVICE ? "no CUDA device is visible"
                    : rc == Cuda.CUDA_ERROR_STUB_LIBRARY ? driver.path().orElseThrow()
                    + " is the toolkit's stub, not a driver" : "the driver could not be initialized";
            return what + " (cuInit: " + Cuda.errorName(rc) + ", " + Cuda.errorString(rc) + ")";
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            Cuda.check(Cuda.cuDriverGetVersion(v), "cuDriverGetVersion");
            int version = v.get(ValueLayout.JAVA_INT, 0);
            if (version < MIN_DRIVER) {
                return "the driver supports CUDA " + version / 1000 + "." + version % 1000 / 10
                        + "; this backend needs CUDA 12.0 or newer";
            }
            Cuda.check(Cuda.cuDeviceGetCount(v), "cuDeviceGetCount");
            int count = v.get(ValueLayout.JAVA_INT, 0);
            if (device.index() >= count) {
                return device + " asked for but " + (count == 1 ? "1 CUDA device is" : count + " CUDA devices are")
                        + " visible (CUDA_VISIBLE_DEVICES=" + System.getenv("CUDA_VISIBLE_DEVICES") + ")";
            }
            Cuda.check(Cuda.cuDeviceGet(v, device.index()), "cuDeviceGet");
            int cc = CudaContext.attribute(v.get(ValueLayout.JAVA_INT, 0), Cuda.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
            if (cc < 7) {
                return device + " has compute capability " + cc + ".x; the kernels need 7.0 or newer";
            }
        } catch (RuntimeException e) {
            return "querying the CUDA driver failed: " + e.getMessage();
        }
        for (NativeLibrary.Spec spec : new NativeLibrary.Spec[] {KnownLibraries.NVRTC, KnownLibraries.CUBLAS}) {
            NativeLibrary.Lookup l = NativeLibrary.find(spec);
            if (!l.found()) {
                return l.describe();
            }
        }
        try {
            Nvrtc.load();
            Cublas.load();
        } catch (NativeLibraryException e) {
            return e.getMessage();
        }
        return "";
    }

    @Override
    public Backend create(Device device) {
        return new CudaBackend(device);
    }
}
