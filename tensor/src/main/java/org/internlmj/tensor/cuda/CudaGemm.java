package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.internlmj.ffm.cuda.Cublas;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * {@code matmul} on the device with cuBLAS ({@code cublasGemmStridedBatchedEx}, fp32 compute, F32/BF16/F16
 * operands). Transposed operands are strided views handled by {@link GemmPlan}; a view cuBLAS cannot
 * describe is made contiguous first, and an output dtype cuBLAS cannot produce from the inputs' dtype
 * (BF16 inputs into F16, F32 inputs into BF16, ...) is computed into an F32 temporary and converted.
 *
 * <p>Reductions stay in fp32 ({@code CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION}); fp32 inputs
 * are computed in full fp32 unless {@code -Dinternlmj.cuda.tf32=true} allows TF32 tensor cores.
 */
final class CudaGemm implements AutoCloseable {
    /** cuBLAS workspace: the size NVIDIA recommends for Hopper. */
    static final long WORKSPACE_BYTES = 32L << 20;

    private final CudaBackend backend;
    private final MemorySegment handle;
    private final long workspace;
    private final boolean tf32;
    private final CudaGemmLt lt;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment alpha;
    private final MemorySegment beta;
    private final LaunchObserver observer;

    CudaGemm(CudaBackend backend, boolean useLt, boolean tf32, LaunchObserver observer) {
        this.backend = backend;
        this.tf32 = tf32;
        this.observer = observer;
        CudaContext ctx = backend.context();
        this.alpha = arena.allocate(ValueLayout.JAVA_FLOAT);
        this.beta = arena.allocate(ValueLayout.JAVA_FLOAT);
        if (ctx.isSimulated()) {
            this.handle = MemorySegment.NULL;
            this.workspace = ctx.allocate(WORKSPACE_BYTES, "the cuBLAS workspace");
            this.lt = null;
            return;
        }
        ctx.makeCurrent();
        Cublas.load();
        MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
        Cublas.check(Cublas.cublasCreate_v2(out), "cublasCreate_v2");
        this.handle = out.get(ValueLayout.ADDRESS, 0);
        this.workspace = ctx.allocate(WORKSPACE_BYTES, "the cuBLAS workspace");
        Cublas.check(Cublas.cublasSetStream_v2(handle, ctx.computeStream().handle()), "cublasSetStream_v2");
        Cublas.check(Cublas.cublasSetWorkspace_v2(handle, MemorySegment.ofAddress(workspace), WORKSPACE_BYTES),
                "cublasSetWorkspace_v2");
        Cublas.check(Cublas.cublasSetPointerMode_v2(handle, Cublas.CUBLAS_POINTER_MODE_HOST),
                "cublasSetPointerMode_v2");
        int math = (tf32 ? Cublas.CUBLAS_TF32_TENSOR_OP_MATH : Cublas.CUBLAS_DEFAULT_MATH)
                | Cublas.CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
        Cublas.check(Cublas.cublasSetMathMode(handle, math), "cublasSetMathMode");
        this.lt = useLt ? new CudaGemmLt(backend, workspace, WORKSPACE_BYTES) : null;
    }

    /** cuBLAS's version number (e.g. 130000 for 13.0.0). */
    int version() {
        if (backend.context().isSimulated()) {
            return 0;
        }
        MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
        Cublas.check(Cublas.cublasGetVersion_v2(handle, v), "cublasGetVersion_v2");
        return v.get(ValueLayout.JAVA_INT, 0);
    }

    /** True when the cuBLASLt path computes GEMMs. */
    boolean usesLt() {
        return lt != null;
    }

    synchronized void matmul(Tensor a, Tensor b, Tensor c, float alphaValue, float betaValue, boolean forceCublas) {
        OpChecks.GemmDims g = OpChecks.matmul(a, b, c);
        backend.checkDevice("matmul", a, b, c);
        backend.checkCompute("matmul", a, b, c);
        if (g.batch() == 0 || g.m() == 0 || g.n() == 0) {
            return;
        }
        if (g.k() == 0) {
            if (betaValue == 0f) {
                backend.fill(c, 0);
            } else {
                backend.affine(c, betaValue, 0, c);
            }
            return;
        }
        Tensor ta = GemmPlan.matrix(a) == null ? backend.contiguousCopy(a) : a;
        Tensor tb = GemmPlan.matrix(b) == null ? backend.contiguousCopy(b) : b;
        boolean direct = GemmPlan.matrix(c) != null && GemmPlan.supported(a.dtype(), c.dtype());
        Tensor tc = c;
        try {
            if (!direct) {
                tc = backend.temporary(DType.F32, c.shape());
                if (betaValue != 0f) {
                    backend.copy(c, tc);
                }
            }
            GemmPlan plan = GemmPlan.describe(ta, tb, tc, g.batch(), g.m(), g.n(), g.k());
            if (lt != null && !forceCublas && lt.matmul(plan, alphaValue, betaValue)) {
                // done by cuBLASLt
            } else {
                run(plan, alphaValue, betaValue);
            }
            if (!direct) {
                backend.copy(tc, c);
            }
        } finally {
            if (ta != a) {
                ta.close();
            }
            if (tb != b) {
                tb.close();
            }
            if (tc != c) {
                tc.close();
            }
        }
    }

    private void run(GemmPlan p, float alphaValue, float betaValue) {
        if (backend.context().isSimulated()) {
            if (observer != null) {
                observer.gemm(p, alphaValue, betaValue);
            }
            return;
        }
        backend.context().makeCurrent();
        alpha.set(ValueLayout.JAVA_FLOAT, 0, alphaValue);
        beta.set(ValueLayout.JAVA_FLOAT, 0, betaValue);
        int compute = tf32 && p.abType() == Cublas.CUDA_R_32F ? Cublas.CUBLAS_COMPUTE_32F_FAST_TF32
                : Cublas.CUBLAS_COMPUTE_32F;
        int rc = Cublas.cublasGemmStridedBatchedEx(handle, p.transA(), p.transB(), p.m(), p.n(), p.k(), alpha,
                MemorySegment.ofAddress(p.a()), p.abType(), p.lda(), p.strideA(), MemorySegment.ofAddress(p.b()),
                p.abType(), p.ldb(), p.strideB(), beta, MemorySegment.ofAddress(p.c()), p.cType(), p.ldc(),
                p.strideC(), p.batch(), compute, Cublas.CUBLAS_GEMM_DEFAULT);
        Cublas.check(rc, "cublasGemmStridedBatchedEx", p.summary());
    }

    @Override
    public synchronized void close() {
        if (backend.context().isClosed() || backend.context().isSimulated()) {
            return;
        }
        backend.context().makeCurrent();
        if (lt != null) {
            lt.close();
        }
        Cublas.check(Cublas.cublasDestroy_v2(handle), "cublasDestroy_v2");
        backend.context().free(workspace);
        arena.close();
    }
}
