package org.internlmj.ffm.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;
import org.internlmj.ffm.CFunction;
import org.internlmj.ffm.Downcalls;
import org.internlmj.ffm.HeaderCheck;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.ffm.NativeLibraryException;

/**
 * cuBLAS ({@code cublas_v2.h}, {@code libcublas.so.13}) in jextract's shape: the handle, stream and
 * workspace calls and the mixed-precision GEMMs ({@code cublasGemmEx}, {@code cublasGemmStridedBatchedEx})
 * the CUDA backend runs with BF16/F16/F32 operands and fp32 accumulation. Matrices are column-major, as
 * cuBLAS defines them; device and host pointers are segments (a device pointer: {@code MemorySegment.ofAddress(ptr)}).
 *
 * <pre>{@code
 * Cublas.check(Cublas.cublasSetStream_v2(handle, stream), "cublasSetStream_v2");
 * }</pre>
 */
public final class Cublas {
    private Cublas() {
    }

    public static final int CUBLAS_STATUS_SUCCESS = 0;
    public static final int CUBLAS_STATUS_NOT_INITIALIZED = 1;
    public static final int CUBLAS_STATUS_ALLOC_FAILED = 3;
    public static final int CUBLAS_STATUS_INVALID_VALUE = 7;
    public static final int CUBLAS_STATUS_ARCH_MISMATCH = 8;
    public static final int CUBLAS_STATUS_MAPPING_ERROR = 11;
    public static final int CUBLAS_STATUS_EXECUTION_FAILED = 13;
    public static final int CUBLAS_STATUS_INTERNAL_ERROR = 14;
    public static final int CUBLAS_STATUS_NOT_SUPPORTED = 15;

    public static final int CUBLAS_OP_N = 0;
    public static final int CUBLAS_OP_T = 1;
    public static final int CUBLAS_POINTER_MODE_HOST = 0;
    public static final int CUBLAS_GEMM_DEFAULT = -1;
    public static final int CUBLAS_DEFAULT_MATH = 0;
    public static final int CUBLAS_PEDANTIC_MATH = 2;
    public static final int CUBLAS_TF32_TENSOR_OP_MATH = 3;
    public static final int CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16;
    public static final int CUBLAS_COMPUTE_32F = 68;
    public static final int CUBLAS_COMPUTE_32F_PEDANTIC = 69;
    public static final int CUBLAS_COMPUTE_32F_FAST_TF32 = 77;

    /** cudaDataType values (library_types.h). */
    public static final int CUDA_R_32F = 0;
    public static final int CUDA_R_16F = 2;
    public static final int CUDA_R_16BF = 14;

    private static final CFunction CREATE = CFunction.of("cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)",
            JAVA_INT, ADDRESS);
    private static final CFunction DESTROY = CFunction.of("cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)",
            JAVA_INT, ADDRESS);
    private static final CFunction GET_VERSION = CFunction.of(
            "cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction SET_STREAM = CFunction.of(
            "cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)", JAVA_INT, ADDRESS,
            ADDRESS);
    private static final CFunction SET_WORKSPACE = CFunction.of(
            "cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes)",
            JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);
    private static final CFunction SET_MATH_MODE = CFunction.of(
            "cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)", JAVA_INT, ADDRESS, JAVA_INT);
    private static final CFunction SET_POINTER_MODE = CFunction.of(
            "cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode)", JAVA_INT,
            ADDRESS, JAVA_INT);
    private static final CFunction GET_STATUS_NAME = CFunction.of(
            "const char * cublasGetStatusName(cublasStatus_t status)", ADDRESS, JAVA_INT);
    private static final CFunction GET_STATUS_STRING = CFunction.of(
            "const char * cublasGetStatusString(cublasStatus_t status)", ADDRESS, JAVA_INT);
    private static final CFunction GEMM_EX = CFunction.of(
            "cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, "
                    + "int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, "
                    + "const void *B, cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, "
                    + "int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo)",
            JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT,
            JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final CFunction GEMM_STRIDED_BATCHED_EX = CFunction.of(
            "cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, "
                    + "cublasOperation_t transb, int m, int n, int k, const void *alpha, const void *A, "
                    + "cudaDataType Atype, int lda, long long int strideA, const void *B, cudaDataType Btype, int ldb, "
                    + "long long int strideB, const void *beta, void *C, cudaDataType Ctype, int ldc, "
                    + "long long int strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo)",
            JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT,
            JAVA_INT, JAVA_LONG, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
            JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT);

    private static final List<CFunction> FUNCTIONS = List.of(CREATE, DESTROY, GET_VERSION, SET_STREAM, SET_WORKSPACE,
            SET_MATH_MODE, SET_POINTER_MODE, GET_STATUS_NAME, GET_STATUS_STRING, GEMM_EX, GEMM_STRIDED_BATCHED_EX);

    /** Every C function this class binds, as declared in {@code cublas_api.h}. */
    public static List<CFunction> functions() {
        return FUNCTIONS;
    }

    /** The header the declarations come from. */
    public static HeaderCheck.Header header() {
        return new HeaderCheck.Header("cuBLAS", "cublas_v2.h", List.of());
    }

    private static final Downcalls.Loader LOADER = new Downcalls.Loader(KnownLibraries.CUBLAS, FUNCTIONS,
            "cuBLAS 12 or newer is needed");

    /**
     * Opens cuBLAS and checks every bound symbol, or throws {@link NativeLibraryException} saying why not.
     */
    public static NativeLibrary load() {
        return LOADER.get();
    }

    private static final class H {
        private static final NativeLibrary LIB = load();
        static final MethodHandle create = Downcalls.handle(LIB, CREATE);
        static final MethodHandle destroy = Downcalls.handle(LIB, DESTROY);
        static final MethodHandle getVersion = Downcalls.handle(LIB, GET_VERSION);
        static final MethodHandle setStream = Downcalls.handle(LIB, SET_STREAM);
        static final MethodHandle setWorkspace = Downcalls.handle(LIB, SET_WORKSPACE);
        static final MethodHandle setMathMode = Downcalls.handle(LIB, SET_MATH_MODE);
        static final MethodHandle setPointerMode = Downcalls.handle(LIB, SET_POINTER_MODE);
        static final MethodHandle getStatusName = Downcalls.handle(LIB, GET_STATUS_NAME);
        static final MethodHandle getStatusString = Downcalls.handle(LIB, GET_STATUS_STRING);
        static final MethodHandle gemmEx = Downcalls.handle(LIB, GEMM_EX);
        static final MethodHandle gemmStridedBatchedEx = Downcalls.handle(LIB, GEMM_STRIDED_BATCHED_EX);
    }

    /** Throws a {@link CublasException} unless {@code status} is CUBLAS_STATUS_SUCCESS. */
    public static void check(int status, String function) {
        check(status, function, null);
    }

    /** Like {@link #check(int, String)}, adding {@code context} (shapes, dtypes) to the message. */
    public static void check(int status, String function, String context) {
        if (status != CUBLAS_STATUS_SUCCESS) {
            throw new CublasException(function, status, statusName(status), statusString(status), context);
        }
    }

    /** {@code cublasGetStatusName}, or "cublasStatus_t N" when cuBLAS cannot be called. */
    public static String statusName(int status) {
        try {
            return Downcalls.string(cublasGetStatusName(status), "cublasStatus_t " + status);
        } catch (RuntimeException | LinkageError e) {
            return "cublasStatus_t " + status;
        }
    }

    /** {@code cublasGetStatusString}, or null when cuBLAS cannot be called. */
    public static String statusString(int status) {
        try {
            return Downcalls.string(cublasGetStatusString(status), null);
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    public static int cublasCreate_v2(MemorySegment handle) {
        try {
            return (int) H.create.invokeExact(handle);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasDestroy_v2(MemorySegment handle) {
        try {
            return (int) H.destroy.invokeExact(handle);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasGetVersion_v2(MemorySegment handle, MemorySegment version) {
        try {
            return (int) H.getVersion.invokeExact(handle, version);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasSetStream_v2(MemorySegment handle, MemorySegment stream) {
        try {
            return (int) H.setStream.invokeExact(handle, stream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    /** {@code workspace} is a device pointer. */
    public static int cublasSetWorkspace_v2(MemorySegment handle, MemorySegment workspace, long workspaceSizeInBytes) {
        try {
            return (int) H.setWorkspace.invokeExact(handle, workspace, workspaceSizeInBytes);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasSetMathMode(MemorySegment handle, int mode) {
        try {
            return (int) H.setMathMode.invokeExact(handle, mode);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasSetPointerMode_v2(MemorySegment handle, int mode) {
        try {
            return (int) H.setPointerMode.invokeExact(handle, mode);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static MemorySegment cublasGetStatusName(int status) {
        try {
            return (MemorySegment) H.getStatusName.invokeExact(status);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static MemorySegment cublasGetStatusString(int status) {
        try {
            return (MemorySegment) H.getStatusString.invokeExact(status);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    /** A, B, C are device pointers; alpha and beta host pointers to floats (compute type 32F). */
    public static int cublasGemmEx(MemorySegment handle, int transa, int transb, int m, int n, int k,
                                   MemorySegment alpha, MemorySegment a, int aType, int lda, MemorySegment b,
                                   int bType, int ldb, MemorySegment beta, MemorySegment c, int cType, int ldc,
                                   int computeType, int algo) {
        try {
            return (int) H.gemmEx.invokeExact(handle, transa, transb, m, n, k, alpha, a, aType, lda, b, bType, ldb,
                    beta, c, cType, ldc, computeType, algo);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    /** Strides are in elements; a stride of 0 shares one matrix across the batch. */
    public static int cublasGemmStridedBatchedEx(MemorySegment handle, int transa, int transb, int m, int n, int k,
                                                 MemorySegment alpha, MemorySegment a, int aType, int lda,
                                                 long strideA, MemorySegment b, int bType, int ldb, long strideB,
                                                 MemorySegment beta, MemorySegment c, int cType, int ldc,
                                                 long strideC, int batchCount, int computeType, int algo) {
        try {
            return (int) H.gemmStridedBatchedEx.invokeExact(handle, transa, transb, m, n, k, alpha, a, aType, lda,
                    strideA, b, bType, ldb, strideB, beta, c, cType, ldc, strideC, batchCount, computeType, algo);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }
}
