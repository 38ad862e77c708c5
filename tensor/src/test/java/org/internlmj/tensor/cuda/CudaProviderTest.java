package org.internlmj.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ServiceLoader;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** The provider is found by ServiceLoader and explains, without failing, why a device is unavailable. */
class CudaProviderTest {

    @Test
    void registeredWithServiceLoader() {
        boolean found = ServiceLoader.load(Backends.BackendProvider.class).stream()
                .anyMatch(p -> p.type() == CudaProvider.class);
        assertTrue(found, "META-INF/services must list CudaProvider");
    }

    @Test
    void cpuDevicesAreNotServed() {
        assertTrue(new CudaProvider().unavailableReason(Device.CPU).contains("CUDA devices"));
    }

    @Test
    void withoutADriverTheReasonSaysWhereItLooked() {
        NativeLibrary.Lookup driver = NativeLibrary.find(KnownLibraries.CUDA_DRIVER);
        assumeTrue(!driver.found(), "a CUDA driver is installed here (" + driver.describe() + ")");
        String why = new CudaProvider().unavailableReason(Device.cuda(0));
        assertTrue(why.contains("libcuda.so.1") && why.contains("looked in"), why);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Tensor.zeros(DType.F32, Device.cuda(0), 4));
        assertTrue(e.getMessage().contains("no backend available for device cuda:0") && e.getMessage().contains(why),
                e.getMessage());
    }

    @Test
    void aDeviceBeyondTheLastIsExplained() {
        NativeLibrary.Lookup driver = NativeLibrary.find(KnownLibraries.CUDA_DRIVER);
        assumeTrue(driver.found(), "no CUDA driver: " + driver.describe());
        CudaProvider p = new CudaProvider();
        String first = p.unavailableReason(Device.cuda(0));
        assumeTrue(first == null, "cuda:0 unavailable: " + first);
        assertNull(first);
        assertTrue(p.unavailableReason(Device.cuda(4096)).contains("visible"));
    }
}
