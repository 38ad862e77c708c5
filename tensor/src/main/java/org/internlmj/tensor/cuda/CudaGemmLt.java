package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.internlmj.ffm.cuda.Cublas;
import org.internlmj.ffm.cuda.CublasLt;

/**
 * The same GEMMs through cuBLASLt ({@code -Dinternlmj.cuda.gemm=cublaslt}): matmul descriptor with the
 * transposes, one matrix layout per operand with its batch count and stride, and the algorithm the
 * heuristic picks for the shape, cached by shape so the heuristic runs once per distinct GEMM. Returns
 * false (and cuBLAS runs the GEMM) when the heuristic finds no algorithm.
 */
final class CudaGemmLt implements AutoCloseable {
    private final CudaBackend backend;
    private final MemorySegment handle;
    private final long workspace;
    private final long workspaceBytes;
    private final Arena arena = Arena.ofShared();
    private final Map<GemmPlan, MemorySegment> algorithms = new ConcurrentHashMap<>();
    private final Map<GemmPlan, Boolean> unsupported = new ConcurrentHashMap<>();

    CudaGemmLt(CudaBackend backend, long workspace, long workspaceBytes) {
        this.backend = backend;
        this.workspace = workspace;
        this.workspaceBytes = workspaceBytes;
        CublasLt.load();
        MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
        Cublas.check(CublasLt.cublasLtCreate(out), "cublasLtCreate");
        this.handle = out.get(ValueLayout.ADDRESS, 0);
    }

    /** Runs the GEMM; false if cuBLASLt has no algorithm for it. */
    boolean matmul(GemmPlan p, float alpha, float beta) {
        GemmPlan shape = new GemmPlan(p.transA(), p.transB(), p.m(), p.n(), p.k(), 0, p.lda(), p.strideA(), 0,
                p.ldb(), p.strideB(), 0, p.ldc(), p.strideC(), p.batch(), p.abType(), p.cType());
        if (unsupported.containsKey(shape)) {
            return false;
        }
        backend.context().makeCurrent();
        try (Arena call = Arena.ofConfined()) {
            MemorySegment desc = create(call, "cublasLtMatmulDescCreate", out -> CublasLt.cublasLtMatmulDescCreate(out,
                    Cublas.CUBLAS_COMPUTE_32F, Cublas.CUDA_R_32F));
            MemorySegment a = layout(call, p.abType(), p.transA() == Cublas.CUBLAS_OP_N ? p.m() : p.k(),
                    p.transA() == Cublas.CUBLAS_OP_N ? p.k() : p.m(), p.lda(), p.batch(), p.strideA());
            MemorySegment b = layout(call, p.abType(), p.transB() == Cublas.CUBLAS_OP_N ? p.k() : p.n(),
                    p.transB() == Cublas.CUBLAS_OP_N ? p.n() : p.k(), p.ldb(), p.batch(), p.strideB());
            MemorySegment c = layout(call, p.cType(), p.m(), p.n(), p.ldc(), p.batch(), p.strideC());
            boolean ran;
            try {
                setInt(call, desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSA, p.transA());
                setInt(call, desc, CublasLt.CUBLASLT_MATMUL_DESC_TRANSB, p.transB());
                MemorySegment algo = algorithms.get(shape);
                if (algo == null) {
                    algo = heuristic(call, desc, a, b, c);
                    if (algo == null) {
                        unsupported.put(shape, Boolean.TRUE);
                    } else {
                        algorithms.put(shape, algo);
                    }
                }
                ran = algo != null;
                if (ran) {
                    run(call, p, desc, a, b, c, algo, alpha, beta);
                }
            } catch (RuntimeException e) {
                destroy(a, b, c, desc);   // their statuses would only hide this failure
                throw e;
            }
            Cublas.check(destroy(a, b, c, desc), "cublasLtMatrixLayoutDestroy/cublasLtMatmulDescDestroy");
            return ran;
        }
    }

    private void run(Arena call, GemmPlan p, MemorySegment desc, MemorySegment a, MemorySegment b, MemorySegment c,
                     MemorySegment algo, float alpha, float beta) {
        MemorySegment al = call.allocateFrom(ValueLayout.JAVA_FLOAT, alpha);
        MemorySegment be = call.allocateFrom(ValueLayout.JAVA_FLOAT, beta);
        MemorySegment cPtr = MemorySegment.ofAddress(p.c());
        int rc = CublasLt.cublasLtMatmul(handle, desc, al, MemorySegment.ofAddress(p.a()), a,
                MemorySegment.ofAddress(p.b()), b, be, cPtr, c, cPtr, c, algo, MemorySegment.ofAddress(workspace),
                workspaceBytes, backend.context().computeStream().handle());
        Cublas.check(rc, "cublasLtMatmul", p.summary());
    }

    /** Destroys the call's descriptors; returns the first failing status (or success). */
    private static int destroy(MemorySegment a, MemorySegment b, MemorySegment c, MemorySegment desc) {
        int[] rcs = {CublasLt.cublasLtMatrixLayoutDestroy(a), CublasLt.cublasLtMatrixLayoutDestroy(b),
                CublasLt.cublasLtMatrixLayoutDestroy(c), CublasLt.cublasLtMatmulDescDestroy(desc)};
        for (int rc : rcs) {
            if (rc != Cublas.CUBLAS_STATUS_SUCCESS) {
                return rc;
            }
        }
        return Cublas.CUBLAS_STATUS_SUCCESS;
    }

    private interface Creator {
        int create(MemorySegment out);
    }

    private static MemorySegment create(Arena call, String what, Creator creator) {
        MemorySegment out = call.allocate(ValueLayout.ADDRESS);
        Cublas.check(creator.create(out), what);
        return out.get(ValueLayout.ADDRESS, 0);
    }

    private static MemorySegment layout(Arena call, int type, int rows, int cols, int ld, int batch, long stride) {
        MemorySegment l = create(call, "cublasLtMatrixLayoutCreate",
                out -> CublasLt.cublasLtMatrixLayoutCreate(out, type, rows, cols, ld));
        if (batch > 1) {
            Cublas.check(CublasLt.cublasLtMatrixLayoutSetAttribute(l, CublasLt.CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                    call.allocateFrom(ValueLayout.JAVA_INT, batch), 4), "cublasLtMatrixLayoutSetAttribute");
            Cublas.check(CublasLt.cublasLtMatrixLayoutSetAttribute(l,
                    CublasLt.CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, call.allocateFrom(ValueLayout.JAVA_LONG,
                            stride), 8), "cublasLtMatrixLayoutSetAttribute");
        }
        return l;
    }

    private static void setInt(Arena call, MemorySegment desc, int attribute, int value) {
        Cublas.check(CublasLt.cublasLtMatmulDescSetAttribute(desc, attribute, call.allocateFrom(ValueLayout.JAVA_INT,
                value), 4), "cublasLtMatmulDescSetAttribute");
    }

    /** The heuristic's first algorithm that fits the workspace, copied into long-lived memory; or null. */
    private MemorySegment heuristic(Arena call, MemorySegment desc, MemorySegment a, MemorySegment b,
                                    MemorySegment c) {
        MemorySegment pref = create(call, "cublasLtMatmulPreferenceCreate", CublasLt::cublasLtMatmulPreferenceCreate);
        try {
            Cublas.check(CublasLt.cublasLtMatmulPreferenceSetAttribute(pref,
                    CublasLt.CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, call.allocateFrom(ValueLayout.JAVA_LONG,
                            workspaceBytes), 8), "cublasLtMatmulPreferenceSetAttribute");
            MemorySegment results = call.allocate(CublasLt.HEURISTIC_RESULT);
            MemorySegment count = call.allocate(ValueLayout.JAVA_INT);
            int rc = CublasLt.cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, c, c, pref, 1, results, count);
            if (rc == Cublas.CUBLAS_STATUS_NOT_SUPPORTED || count.get(ValueLayout.JAVA_INT, 0) == 0) {
                return null;
            }
            Cublas.check(rc, "cublasLtMatmulAlgoGetHeuristic");
            if (results.get(ValueLayout.JAVA_INT, CublasLt.HEURISTIC_STATE_OFFSET) != Cublas.CUBLAS_STATUS_SUCCESS) {
                return null;
            }
            MemorySegment algo = arena.allocate(64, 8);
            MemorySegment.copy(results, 0, algo, 0, 64);
            return algo;
        } finally {
            Cublas.check(CublasLt.cublasLtMatmulPreferenceDestroy(pref), "cublasLtMatmulPreferenceDestroy");
        }
    }

    @Override
    public void close() {
        Cublas.check(CublasLt.cublasLtDestroy(handle), "cublasLtDestroy");
        arena.close();
    }
}
