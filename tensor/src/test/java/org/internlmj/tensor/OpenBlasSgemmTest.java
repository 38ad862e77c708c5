package org.internlmj.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.ffm.OpenBlas;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.internlmj.tensor.testing.TensorAssert;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The OpenBLAS binding (the GEMM benchmarks' baseline) against the float64 reference: every transpose,
 * both storage orders, alpha/beta, padded leading dimensions; and its size checks, which stand in for
 * the bounds checks FFM cannot make on native pointers. Skipped, saying why, without OpenBLAS.
 */
class OpenBlasSgemmTest {
    private static final ReferenceBackend REF = new ReferenceBackend();

    @BeforeAll
    static void needOpenBlas() {
        NativeLibrary.Lookup l = NativeLibrary.find(KnownLibraries.OPENBLAS);
        Assumptions.assumeTrue(l.found(), () -> "OpenBLAS is not installed (apt-get install libopenblas0-pthread): "
                + l.describe());
    }

    private static float[] random(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = rnd.nextFloat() * 2 - 1;
        }
        return v;
    }

    @Test
    void matchesTheReferenceForEveryTransposeAndOrder() {
        Random rnd = new Random(21);
        int m = 37;
        int n = 29;
        int k = 45;
        int pad = 3;
        try (Arena arena = Arena.ofConfined()) {
            for (boolean rowMajor : new boolean[] {true, false}) {
                for (int t = 0; t < 4; t++) {
                    boolean ta = (t & 1) != 0;
                    boolean tb = (t & 2) != 0;
                    // Each buffer as a row-major tensor T: a column-major matrix is T's transpose, and
                    // op(a) is T or T^T accordingly.
                    int aRows = ta == rowMajor ? k : m;
                    int aCols = ta == rowMajor ? m : k;
                    int bRows = tb == rowMajor ? n : k;
                    int bCols = tb == rowMajor ? k : n;
                    int cRows = rowMajor ? m : n;
                    int cCols = rowMajor ? n : m;
                    int lda = aCols + pad;
                    int ldb = bCols + pad;
                    int ldc = cCols + pad;
                    Tensor aStore = Tensor.of(random(rnd, aRows * lda), aRows, lda).narrow(1, 0, aCols);
                    Tensor bStore = Tensor.of(random(rnd, bRows * ldb), bRows, ldb).narrow(1, 0, bCols);
                    Tensor cStore = Tensor.of(random(rnd, cRows * ldc), cRows, ldc).narrow(1, 0, cCols);
                    // op(a) [m,k], op(b) [k,n], c [m,n] as views of the stored data
                    Tensor a = ta == rowMajor ? aStore.transpose(0, 1) : aStore;
                    Tensor b = tb == rowMajor ? bStore.transpose(0, 1) : bStore;
                    Tensor c = rowMajor ? cStore : cStore.transpose(0, 1);
                    Tensor expected = c.copy();
                    REF.matmul(a, b, expected, 0.75f, -0.5f);

                    MemorySegment sa = arena.allocateFrom(ValueLayout.JAVA_FLOAT, storage(aStore));
                    MemorySegment sb = arena.allocateFrom(ValueLayout.JAVA_FLOAT, storage(bStore));
                    MemorySegment sc = arena.allocateFrom(ValueLayout.JAVA_FLOAT, storage(cStore));
                    OpenBlas.cblas_sgemm(rowMajor ? OpenBlas.CblasRowMajor : OpenBlas.CblasColMajor,
                            ta ? OpenBlas.CblasTrans : OpenBlas.CblasNoTrans, tb ? OpenBlas.CblasTrans : OpenBlas.CblasNoTrans,
                            m, n, k, 0.75f, sa, lda, sb, ldb, -0.5f, sc, ldc);
                    Tensor got = Tensor.of(sc.toArray(ValueLayout.JAVA_FLOAT), cRows, ldc).narrow(1, 0, cCols);
                    TensorAssert.assertClose(expected, rowMajor ? got : got.transpose(0, 1), 1e-4, 1e-5,
                            (rowMajor ? "row" : "column") + "-major ta=" + ta + " tb=" + tb);
                    // the padding past each row of c is not written
                    float[] all = sc.toArray(ValueLayout.JAVA_FLOAT);
                    float[] before = storage(cStore);
                    for (int r = 0; r < cRows; r++) {
                        for (int j = cCols; j < ldc; j++) {
                            assertEquals(before[r * ldc + j], all[r * ldc + j], "padding of c written");
                        }
                    }
                }
            }
        }
    }

    /** The whole padded storage behind a narrowed view, in order. */
    private static float[] storage(Tensor view) {
        int rows = view.size(0);
        int ld = view.stride(0);
        return Tensor.view(view.storage(), new int[] {rows, ld}, new int[] {ld, 1}, view.offset()).toFloatArray();
    }

    @Test
    void threadCountAndConfig() {
        int before = OpenBlas.openblas_get_num_threads();
        OpenBlas.openblas_set_num_threads(1);
        assertEquals(1, OpenBlas.openblas_get_num_threads());
        OpenBlas.openblas_set_num_threads(before);
        assertTrue(OpenBlas.config().startsWith("OpenBLAS"), OpenBlas.config());
    }

    @Test
    void sizesAreCheckedBeforeTheCall() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(4L * 6 * 5);
            MemorySegment b = arena.allocate(4L * 5 * 4);
            MemorySegment c = arena.allocate(4L * 6 * 4);
            MemorySegment small = arena.allocate(4L * 6 * 4 - 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OpenBlas.cblas_sgemm(
                    OpenBlas.CblasRowMajor, OpenBlas.CblasNoTrans, OpenBlas.CblasNoTrans, 6, 4, 5, 1f, a, 5, b, 4, 0f,
                    small, 4));
            assertTrue(e.getMessage().contains("C needs 24 floats"), e.getMessage());
            // a transposed is stored [5, 6]: its rows hold 6 floats, so lda 5 is too small
            e = assertThrows(IllegalArgumentException.class, () -> OpenBlas.cblas_sgemm(OpenBlas.CblasRowMajor,
                    OpenBlas.CblasTrans, OpenBlas.CblasNoTrans, 6, 4, 5, 1f, a, 5, b, 4, 0f, c, 4));
            assertTrue(e.getMessage().contains("lda=5"), e.getMessage());
            // column-major b [5, 4] with ldb 5 needs 4*5 = 20 floats: exactly what it has, so this call runs
            OpenBlas.cblas_sgemm(OpenBlas.CblasColMajor, OpenBlas.CblasNoTrans, OpenBlas.CblasNoTrans, 6, 4, 5, 1f,
                    a, 6, b, 5, 0f, c, 6);
            e = assertThrows(IllegalArgumentException.class, () -> OpenBlas.cblas_sgemm(OpenBlas.CblasRowMajor,
                    OpenBlas.CblasNoTrans, OpenBlas.CblasNoTrans, 6, 4, 5, 1f, a, 4, b, 4, 0f, c, 4));
            assertTrue(e.getMessage().contains("lda=4"), e.getMessage());
            MemorySegment heap = MemorySegment.ofArray(new float[30]);
            e = assertThrows(IllegalArgumentException.class, () -> OpenBlas.cblas_sgemm(OpenBlas.CblasRowMajor,
                    OpenBlas.CblasNoTrans, OpenBlas.CblasNoTrans, 6, 4, 5, 1f, heap, 5, b, 4, 0f, c, 4));
            assertTrue(e.getMessage().contains("native"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> OpenBlas.cblas_sgemm(7, OpenBlas.CblasNoTrans,
                    OpenBlas.CblasNoTrans, 6, 4, 5, 1f, a, 5, b, 4, 0f, c, 4));
            assertTrue(e.getMessage().contains("Order"), e.getMessage());
        }
    }
}
