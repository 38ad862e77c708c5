package org.internlmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.ffm.NativeLibraryException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Discovery and error reporting of the CUDA libraries, with or without them installed. */
class CudaLibrariesTest {

    @Test
    void aMissingLibraryIsReportedWithWhereItWasLookedFor() {
        NativeLibrary.Lookup nccl = NativeLibrary.find(KnownLibraries.NCCL);
        assumeTrue(!nccl.found(), "NCCL is installed here (" + nccl.describe() + "): nothing missing to report");
        NativeLibraryException e = assertThrows(NativeLibraryException.class, Nccl::load);
        assertTrue(e.getMessage().contains("NCCL: not found"), e.getMessage());
        assertTrue(e.getMessage().contains("libnccl.so.2"), e.getMessage());
        assertTrue(e.getMessage().contains("looked in"), e.getMessage());
    }

    @Test
    void errorNamesDoNotNeedTheLibrary() {
        // Without NCCL the status still gets its symbolic name; with it, NCCL's own text is added.
        NcclException e = assertThrows(NcclException.class, () -> Nccl.check(Nccl.ncclInvalidArgument,
                "ncclAllReduce", null));
        assertTrue(e.getMessage().startsWith("ncclAllReduce failed: ncclInvalidArgument (4)"), e.getMessage());
        NvrtcException n = assertThrows(NvrtcException.class, () -> Nvrtc.check(Nvrtc.NVRTC_ERROR_COMPILATION,
                "nvrtcCompileProgram", "kernel.cu(3): error: identifier \"x\" is undefined"));
        assertTrue(n.getMessage().contains("NVRTC_ERROR_COMPILATION (6)"), n.getMessage());
        assertTrue(n.getMessage().contains("identifier \"x\" is undefined"), n.getMessage());
    }

    /** With a driver: cuInit and the device query work through the bindings, and an error is named. */
    @Test
    @Tag("gpu")
    void driverCallsWork() {
        NativeLibrary.Lookup driver = NativeLibrary.find(KnownLibraries.CUDA_DRIVER);
        assumeTrue(driver.found(), "no CUDA driver: " + driver.describe());
        Cuda.load();
        int rc = Cuda.cuInit(0);
        assumeTrue(rc == Cuda.CUDA_SUCCESS, "no CUDA device: cuInit returned " + Cuda.errorName(rc));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(ValueLayout.JAVA_INT);
            Cuda.check(Cuda.cuDeviceGetCount(count), "cuDeviceGetCount");
            assertTrue(count.get(ValueLayout.JAVA_INT, 0) > 0);
            CudaException e = assertThrows(CudaException.class,
                    () -> Cuda.check(Cuda.cuDeviceGet(arena.allocate(ValueLayout.JAVA_INT), 1 << 20), "cuDeviceGet"));
            assertTrue(e.getMessage().contains("CUDA_ERROR_INVALID_DEVICE"), e.getMessage());
            assertNotNull(Cuda.errorString(Cuda.CUDA_ERROR_OUT_OF_MEMORY));
            assertFalse(Cuda.errorName(Cuda.CUDA_ERROR_OUT_OF_MEMORY).startsWith("CUresult"));
        }
    }
}
