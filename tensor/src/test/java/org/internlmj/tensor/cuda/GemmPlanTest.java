package org.internlmj.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.internlmj.ffm.cuda.Cublas;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuStorage;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.internlmj.tensor.testing.TensorAssert;
import org.junit.jupiter.api.Test;

/**
 * The row-major to column-major translation of GEMMs, checked without a GPU: each plan the simulated
 * backend hands to cuBLAS is executed by a CPU model of {@code cublasGemmStridedBatchedEx}'s documented
 * column-major semantics over arrays that mirror the device storages, and compared with the reference
 * backend's row-major matmul of the same views.
 */
class GemmPlanTest {
    private final Random random = new Random(11);

    /** Device storages of the simulated backend and their CPU mirrors, by base address. */
    private final Map<Long, float[]> memory = new HashMap<>();

    private Tensor device(SimulatedDevice d, int... shape) {
        Tensor t = d.tensor(DType.F32, shape);
        float[] data = new float[t.numel()];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) random.nextGaussian();
        }
        memory.put(((CudaStorage) t.storage()).pointer(), data);
        return t;
    }

    /** The same view over the CPU mirror. */
    private Tensor mirror(Tensor t) {
        float[] data = memory.get(((CudaStorage) t.storage()).pointer());
        return Tensor.view(CpuStorage.wrap(data), t.shape(), t.strides(), t.offset());
    }

    private float[] resolve(long address, long[] elementOffset) {
        for (Map.Entry<Long, float[]> e : memory.entrySet()) {
            long base = e.getKey();
            if (address >= base && address < base + 4L * e.getValue().length) {
                elementOffset[0] = (address - base) / 4;
                return e.getValue();
            }
        }
        throw new AssertionError("plan points at unknown memory " + address);
    }

    /** cublasGemmStridedBatchedEx, column-major, as documented. */
    private void execute(GemmPlan p, float alpha, float beta) {
        long[] oa = new long[1];
        long[] ob = new long[1];
        long[] oc = new long[1];
        float[] a = resolve(p.a(), oa);
        float[] b = resolve(p.b(), ob);
        float[] c = resolve(p.c(), oc);
        for (int batch = 0; batch < p.batch(); batch++) {
            for (int i = 0; i < p.m(); i++) {
                for (int j = 0; j < p.n(); j++) {
                    double acc = 0;
                    for (int l = 0; l < p.k(); l++) {
                        long ai = oa[0] + batch * p.strideA() + (p.transA() == Cublas.CUBLAS_OP_N
                                ? i + (long) l * p.lda() : l + (long) i * p.lda());
                        long bi = ob[0] + batch * p.strideB() + (p.transB() == Cublas.CUBLAS_OP_N
                                ? l + (long) j * p.ldb() : j + (long) l * p.ldb());
                        acc += (double) a[(int) ai] * b[(int) bi];
                    }
                    int ci = (int) (oc[0] + batch * p.strideC() + i + (long) j * p.ldc());
                    c[ci] = (float) (alpha * acc + (beta == 0 ? 0 : beta * c[ci]));
                }
            }
        }
    }

    private void check(SimulatedDevice d, Tensor a, Tensor b, Tensor c, float alpha, float beta) {
        Tensor expected = Tensor.view(CpuStorage.wrap(mirror(c).contiguous().toFloatArray()), c.shape(),
                org.internlmj.tensor.Shapes.contiguousStrides(c.shape()), 0);
        new ReferenceBackend().matmul(mirror(a), mirror(b), expected, alpha, beta);
        d.gemms.clear();
        d.backend.matmul(a, b, c, alpha, beta);
        assertEquals(1, d.gemms.size());
        execute(d.gemms.getFirst(), alpha, beta);
        TensorAssert.assertClose(expected, mirror(c), 1e-5, 1e-5);
    }

    @Test
    void everyTransposeCombinationAndOutputOrientation() {
        SimulatedDevice d = new SimulatedDevice(true);
        int m = 7;
        int k = 5;
        int n = 3;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                for (boolean tc : new boolean[] {false, true}) {
                    Tensor a = ta ? device(d, k, m).transpose(0, 1) : device(d, m, k);
                    Tensor b = tb ? device(d, n, k).transpose(0, 1) : device(d, k, n);
                    Tensor c = tc ? device(d, n, m).transpose(0, 1) : device(d, m, n);
                    check(d, a, b, c, 1.5f, 0f);
                    check(d, a, b, c, 0.5f, -2f);
                }
            }
        }
    }

    @Test
    void batchesSharedOperandsAndPaddedRows() {
        SimulatedDevice d = new SimulatedDevice(true);
        // Batched a, shared 2-D b, c rows padded (a view narrower than its storage).
        Tensor a = device(d, 3, 6, 4);
        Tensor b = device(d, 4, 5);
        Tensor c = device(d, 3, 6, 9).narrow(2, 2, 5);
        check(d, a, b, c, 1f, 0f);
        // Batched transposed b and heads-as-batch views of a [T, H, D] tensor.
        Tensor q = device(d, 10, 2, 8);
        Tensor kk = device(d, 10, 2, 8);
        Tensor s = device(d, 2, 10, 10);
        check(d, q.permute(1, 0, 2), kk.permute(1, 2, 0), s, 0.25f, 0f);
        Tensor out = device(d, 10, 2, 8);
        check(d, s, kk.permute(1, 0, 2), out.permute(1, 0, 2), 1f, 0f);
        // Vectors: a single row and a single column with arbitrary strides.
        check(d, device(d, 1, 6), device(d, 6, 1), device(d, 1, 1), 1f, 0f);
        check(d, device(d, 6, 9).narrow(1, 3, 1).transpose(0, 1), device(d, 6, 4), device(d, 1, 4), 1f, 0f);
    }

    @Test
    void viewsWithoutAUnitStrideHaveNoPlan() {
        assertNull(GemmPlan.matrix(4, 4, 8, 2));
        assertEquals(new GemmPlan.Matrix(false, 16), GemmPlan.matrix(4, 4, 16, 1));
        assertEquals(new GemmPlan.Matrix(true, 9), GemmPlan.matrix(4, 4, 1, 9));
        assertEquals(new GemmPlan.Matrix(true, 7), GemmPlan.matrix(1, 4, 100, 7));
    }
}
