package org.internlmj.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The CUDA backend on a real GPU: every operation against the CPU backend ({@link GpuCheck}). */
@Tag("gpu")
class CudaBackendGpuTest {

    private static CudaBackend gpu() {
        String why = new CudaProvider().unavailableReason(Device.cuda(0));
        assumeTrue(why == null, "no CUDA device: " + why);
        return (CudaBackend) Backends.of(Device.cuda(0));
    }

    @Test
    void everyOperationMatchesTheCpuBackend() {
        CudaBackend gpu = gpu();
        List<GpuCheck.Result> results = GpuCheck.correctness(gpu, System.out);
        List<GpuCheck.Result> failed = results.stream().filter(r -> !r.passed()).toList();
        assertTrue(failed.isEmpty(), failed.size() + " of " + results.size() + " checks failed: " + failed);
    }

    @Test
    void tensorsRoundTripAndScopesFreeDeviceMemory() {
        CudaBackend gpu = gpu();
        gpu.synchronize();
        long before = gpu.context().poolBytesInUse();
        try (MemoryScope scope = MemoryScope.open()) {
            Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, DType.BF16, 2, 3).to(Device.cuda(0));
            Tensor y = Tensor.zeros(DType.F32, Device.cuda(0), 3, 2);
            gpu.copy(x.transpose(0, 1), y);
            assertEquals(List.of(1f, 4f, 2f, 5f, 3f, 6f), boxed(y.toFloatArray()));
            Tensor r = Tensor.empty(DType.F32, Device.cuda(0), 1000);
            gpu.fillRandom(r, Backend.Distribution.UNIFORM, 0, 1, 7, 0);
            assertTrue(gpu.context().poolBytesInUse() > before);
        }
        gpu.synchronize();
        assertEquals(before, gpu.context().poolBytesInUse(), "closing the scope returns its memory to the pool");
    }

    private static List<Float> boxed(float[] v) {
        Float[] b = new Float[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = v[i];
        }
        return List.of(b);
    }
}
