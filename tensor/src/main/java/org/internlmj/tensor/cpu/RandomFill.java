package org.internlmj.tensor.cpu;

import org.internlmj.tensor.Backend.Distribution;
import org.internlmj.tensor.Philox;
import org.internlmj.tensor.Tensor;

/**
 * {@code fillRandom}: element {@code i} (row-major) is a pure function of (seed, offset + i) through
 * {@link Philox}, computed with the same double formula as the reference backend
 * ({@code a + (b - a) * uniform}, {@code a + b * normal}) and stored as {@link CpuStorage#set} stores,
 * so the numbers are bit-identical to the reference's for every thread count. Work is split into
 * fixed chunks over the pool; each chunk stages its doubles in a per-thread block.
 */
final class RandomFill {
    /** Elements per task: Philox costs tens of nanoseconds per element, so small chunks pay off. */
    private static final int CHUNK = 4096;
    private static final ThreadLocal<double[]> STAGE = ThreadLocal.withInitial(() -> new double[CHUNK]);

    private RandomFill() {
    }

    static void fillRandom(Parallel parallel, Tensor out, Distribution distribution, double a, double b, long seed,
                           long offset) {
        CpuStorage s = FloatRuns.storage("fillRandom", out);
        if (!out.isContiguous()) {
            throw new IllegalArgumentException("fillRandom needs a contiguous tensor, got " + out);
        }
        int n = out.numel();
        Object array = Copy.array(s);
        int base = out.offset();
        int chunks = (n + CHUNK - 1) / CHUNK;
        boolean uniform = distribution == Distribution.UNIFORM;
        double span = b - a;
        parallel.forEach(chunks, c -> {
            int start = c * CHUNK;
            int m = Math.min(CHUNK, n - start);
            double[] v = STAGE.get();
            for (int i = 0; i < m; i++) {
                long counter = offset + start + i;
                v[i] = uniform ? a + span * Philox.uniform(seed, counter) : a + b * Philox.normal(seed, counter);
            }
            Copy.encode(v, 0, s.dtype(), array, base + start, 1, m);
        });
    }
}
