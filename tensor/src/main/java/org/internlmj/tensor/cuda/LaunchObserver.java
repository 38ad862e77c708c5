package org.internlmj.tensor.cuda;

import java.util.List;

/**
 * Sees every launch of a simulated backend ({@link CudaContext#simulated}): kernels with their geometry
 * and the size and alignment of each argument, GEMMs with their cuBLAS plan. Tests use it to check the
 * host side of the CUDA backend on machines without a GPU.
 */
interface LaunchObserver {
    /** One argument as placed in the launch's parameter block. */
    record Arg(long bytes, long alignment) {
    }

    void kernel(String family, String name, int[] grid, int[] block, int sharedBytes, List<Arg> args);

    void gemm(GemmPlan plan, float alpha, float beta);
}
