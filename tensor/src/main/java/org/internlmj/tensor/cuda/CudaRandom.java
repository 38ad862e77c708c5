package org.internlmj.tensor.cuda;

import org.internlmj.tensor.Backend.Distribution;
import org.internlmj.tensor.Tensor;

/**
 * {@code fillRandom} on the device (random.cu): the same Philox4x32-10 stream and double formulas as
 * {@link org.internlmj.tensor.Philox} and the CPU backend, element {@code i} from counter
 * {@code offset + i}, so a tensor drawn on the GPU equals the one drawn on the CPU.
 */
final class CudaRandom {
    private static final int BLOCK = 256;

    private CudaRandom() {
    }

    static void fillRandom(CudaBackend b, Tensor out, Distribution distribution, double lo, double hi, long seed,
                           long offset) {
        b.checkDevice("fillRandom", out);
        if (!out.isContiguous()) {
            throw new IllegalArgumentException("fillRandom needs a contiguous tensor, got " + out);
        }
        int n = out.numel();
        if (n == 0) {
            return;
        }
        // The CPU computes the uniform span once as a double; passing it keeps the arithmetic identical.
        double span = hi - lo;
        KernelArgs a = KernelArgs.begin().pointer(CudaStorage.address(out)).i32(b.code(out)).i32(n).i64(seed)
                .i64(offset).i32(distribution == Distribution.NORMAL ? 1 : 0).f64(lo).f64(hi).f64(span);
        CudaKernels k = b.kernels();
        k.launch(k.get("random", "philox_fill"), k.gridFor(n, BLOCK), 1, BLOCK, 0, a);
    }
}
