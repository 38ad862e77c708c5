package org.internlmj.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;

/**
 * A simulated CUDA backend for host-side tests, recording launches; when nvcc is available every
 * kernel launch's argument block is checked against the kernel's parameter list in the PTX nvcc makes
 * from the same source (the count, size and alignment of each parameter), so a Java call that passes
 * its arguments in the wrong order or of the wrong width fails here, without a GPU.
 */
final class SimulatedDevice implements LaunchObserver {
    record Launch(String family, String name, int[] grid, int[] block, int sharedBytes) {
    }

    final List<Launch> launches = new ArrayList<>();
    final List<GemmPlan> gemms = new ArrayList<>();
    final CudaBackend backend;
    private final boolean checkSignatures = NvccKernels.nvcc().isPresent();
    private final Map<String, Map<String, List<Arg>>> signatures = new ConcurrentHashMap<>();

    SimulatedDevice(boolean fusedAttention) {
        this.backend = CudaBackend.simulated(this, fusedAttention);
    }

    /** True when launches are checked against nvcc's PTX. */
    boolean checksSignatures() {
        return checkSignatures;
    }

    @Override
    public void kernel(String family, String name, int[] grid, int[] block, int sharedBytes, List<Arg> args) {
        launches.add(new Launch(family, name, grid, block, sharedBytes));
        if (!checkSignatures) {
            return;
        }
        Map<String, List<Arg>> sigs = signatures.computeIfAbsent(family, f -> NvccKernels.build(f).signatures());
        List<Arg> expected = sigs.get(name);
        assertNotNull(expected, family + ".cu has no kernel " + name + " (it has " + sigs.keySet() + ")");
        assertEquals(expected, args, "arguments of " + family + "/" + name + " (bytes, alignment) per parameter");
    }

    @Override
    public void gemm(GemmPlan plan, float alpha, float beta) {
        gemms.add(plan);
    }

    /** Names of the kernels launched since the last call, in order; clears the record. */
    List<String> drain() {
        List<String> names = launches.stream().map(l -> l.family() + "/" + l.name()).toList();
        launches.clear();
        return names;
    }

    /** A contiguous device tensor (contents undefined: nothing is computed). */
    Tensor tensor(DType dtype, int... shape) {
        return backend.temporary(dtype, shape);
    }
}
