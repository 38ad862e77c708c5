package org.internlmj.tensor.cuda;

import org.internlmj.ffm.cuda.Cublas;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;

/**
 * A row-major {@code c = alpha a @ b + beta c} restated as one column-major (strided batched) cuBLAS
 * call. cuBLAS sees a row-major matrix as its column-major transpose, so a C with unit column stride is
 * computed as {@code C^T = B^T A^T} and a C with unit row stride (a transposed view) directly as
 * {@code C = A B}; each operand then needs either no transpose or one, depending on which of its two
 * strides is 1, and its leading dimension is the other stride. A view with neither stride 1 has no such
 * description: {@link #describe} returns null and the caller makes it contiguous first.
 *
 * @param transA  cuBLAS op of the first operand
 * @param transB  cuBLAS op of the second operand
 * @param m       rows of the column-major result
 * @param n       columns of the column-major result
 * @param k       the inner dimension
 * @param a       device address of the first operand (b or a of the row-major call)
 * @param lda     its leading dimension
 * @param strideA its batch stride in elements (0: shared)
 * @param b       device address of the second operand
 * @param ldb     its leading dimension
 * @param strideB its batch stride
 * @param c       device address of the result
 * @param ldc     its leading dimension
 * @param strideC its batch stride
 * @param batch   batch count
 * @param abType  cudaDataType of both inputs
 * @param cType   cudaDataType of the result
 */
record GemmPlan(int transA, int transB, int m, int n, int k, long a, int lda, long strideA, long b, int ldb,
                long strideB, long c, int ldc, long strideC, int batch, int abType, int cType) {

    /** How one operand's last two dimensions map onto a column-major matrix. */
    record Matrix(boolean colMajor, int ld) {
    }

    /** The column-major description of a rows x cols view with strides (sr, sc), or null if there is none. */
    static Matrix matrix(int rows, int cols, int sr, int sc) {
        boolean rowMajor = (sc == 1 || cols == 1) && (rows == 1 || sr >= Math.max(1, cols));
        if (rowMajor) {
            return new Matrix(false, rows == 1 ? Math.max(1, cols) : sr);
        }
        boolean colMajor = (sr == 1 || rows == 1) && (cols == 1 || sc >= Math.max(1, rows));
        if (colMajor) {
            return new Matrix(true, cols == 1 ? Math.max(1, rows) : sc);
        }
        return null;
    }

    /** The matrix of the last two dimensions of {@code t}, or null. */
    static Matrix matrix(Tensor t) {
        return matrix(t.size(-2), t.size(-1), t.stride(-2), t.stride(-1));
    }

    /** The cudaDataType of a floating dtype. */
    static int cudaType(DType d) {
        return switch (d) {
            case F32 -> Cublas.CUDA_R_32F;
            case BF16 -> Cublas.CUDA_R_16BF;
            case F16 -> Cublas.CUDA_R_16F;
            default -> throw new IllegalArgumentException("cuBLAS GEMM operands must be F32, BF16 or F16, got " + d);
        };
    }

    /** True if cuBLAS computes (with fp32 accumulation) inputs of {@code ab} into an output of {@code c}. */
    static boolean supported(DType ab, DType c) {
        return c == DType.F32 || c == ab;
    }

    /**
     * The plan for {@code c = a @ b} with {@code a, b, c} all describable ({@link #matrix} non-null),
     * {@code a} [B, M, K] or [M, K], {@code b} [B, K, N] or [K, N], {@code c} like a.
     */
    static GemmPlan describe(Tensor a, Tensor b, Tensor c, int batch, int m, int n, int k) {
        Matrix ma = matrix(a);
        Matrix mb = matrix(b);
        Matrix mc = matrix(c);
        long sa = a.rank() == 3 ? a.stride(0) : 0;
        long sb = b.rank() == 3 ? b.stride(0) : 0;
        long sc = c.rank() == 3 ? c.stride(0) : 0;
        int ab = cudaType(a.dtype());
        int ct = cudaType(c.dtype());
        long pa = CudaStorage.address(a);
        long pb = CudaStorage.address(b);
        long pc = CudaStorage.address(c);
        if (!mc.colMajor()) {
            // C^T (N x M) = B^T (N x K) . A^T (K x M)
            int opB = mb.colMajor() ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N;
            int opA = ma.colMajor() ? Cublas.CUBLAS_OP_T : Cublas.CUBLAS_OP_N;
            return new GemmPlan(opB, opA, n, m, k, pb, mb.ld(), sb, pa, ma.ld(), sa, pc, mc.ld(), sc, batch, ab, ct);
        }
        // C (M x N) = A (M x K) . B (K x N)
        int opA = ma.colMajor() ? Cublas.CUBLAS_OP_N : Cublas.CUBLAS_OP_T;
        int opB = mb.colMajor() ? Cublas.CUBLAS_OP_N : Cublas.CUBLAS_OP_T;
        return new GemmPlan(opA, opB, m, n, k, pa, ma.ld(), sa, pb, mb.ld(), sb, pc, mc.ld(), sc, batch, ab, ct);
    }

    /** For messages. */
    String summary() {
        return "m " + m + ", n " + n + ", k " + k + ", batch " + batch + ", ops " + (transA == 0 ? "N" : "T")
                + (transB == 0 ? "N" : "T") + ", ld " + lda + "/" + ldb + "/" + ldc + ", types " + abType + "->"
                + cType;
    }
}
