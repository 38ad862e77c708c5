package org.internlmj.ffm.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.ffm.CFunction;
import org.internlmj.ffm.HeaderCheck;
import org.internlmj.ffm.HeaderCheck.Result;
import org.internlmj.ffm.HeaderCheck.Status;
import org.junit.jupiter.api.Test;

/**
 * Compiles every binding's declarations and constants against the real header with gcc. cuda.h ships
 * with the toolkit on the build machines; cuBLAS, cuBLASLt, NVRTC and NCCL headers exist where those
 * libraries are installed (CUDA_HOME/include or site-packages/nvidia/X/include) and the checks skip,
 * saying where they looked, elsewhere.
 */
class HeaderCheckTest {

    private static Result run(HeaderCheck.Header header, List<CFunction> functions, Map<String, Long> constants) {
        Result r = HeaderCheck.check(header, functions, constants);
        System.out.println(header.file() + ": " + r.status() + ": " + r.message());
        assumeTrue(r.status() != Status.SKIPPED, r.message());
        return r;
    }

    private static void assertPassed(Result r) {
        assertEquals(Status.PASSED, r.status(), () -> r.message() + "\n--- generated source ---\n" + r.source());
    }

    @Test
    void driverApiMatchesCudaH() {
        assertPassed(run(Cuda.header(), Cuda.functions(), HeaderCheck.constantsOf(Cuda.class)));
    }

    @Test
    void nvrtcMatchesNvrtcH() {
        assertPassed(run(Nvrtc.header(), Nvrtc.functions(), HeaderCheck.constantsOf(Nvrtc.class)));
    }

    @Test
    void cublasMatchesCublasH() {
        assertPassed(run(Cublas.header(), Cublas.functions(), HeaderCheck.constantsOf(Cublas.class)));
    }

    @Test
    void cublasLtMatchesCublasLtH() {
        Map<String, Long> checks = new HashMap<>(HeaderCheck.constantsOf(CublasLt.class));
        checks.putAll(CublasLt.layoutChecks());
        assertPassed(run(CublasLt.header(), CublasLt.functions(), checks));
    }

    @Test
    void ncclMatchesNcclH() {
        Map<String, Long> checks = new HashMap<>(HeaderCheck.constantsOf(Nccl.class));
        checks.putAll(Nccl.layoutChecks());
        assertPassed(run(Nccl.header(), Nccl.functions(), checks));
    }

    /** The check must be able to fail: a wrong parameter type, layout, constant each break the compile. */
    @Test
    void mismatchesAreCompileErrors() {
        CFunction wrongCType = CFunction.of("CUresult cuMemAlloc_v2(CUdeviceptr *dptr, unsigned int bytesize)",
                JAVA_INT, ADDRESS, JAVA_INT);
        Result r1 = run(Cuda.header(), List.of(wrongCType), Map.of());
        assertEquals(Status.FAILED, r1.status(), r1.message());
        assertTrue(r1.message().contains("cuMemAlloc_v2"), r1.message());

        CFunction wrongLayout = CFunction.of("CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)",
                JAVA_INT, JAVA_LONG, JAVA_LONG);
        Result r2 = run(Cuda.header(), List.of(wrongLayout), Map.of());
        assertEquals(Status.FAILED, r2.status(), r2.message());
        assertTrue(r2.message().contains("does not match the FFM layout"), r2.message());

        Result r3 = run(Cuda.header(), List.of(), Map.of("CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT", 17L));
        assertEquals(Status.FAILED, r3.status(), r3.message());
        assertTrue(r3.message().contains("CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT"), r3.message());
    }
}
