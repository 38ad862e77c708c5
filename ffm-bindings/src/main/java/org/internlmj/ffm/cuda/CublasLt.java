package org.internlmj.ffm.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.ffm.CFunction;
import org.internlmj.ffm.Downcalls;
import org.internlmj.ffm.HeaderCheck;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.ffm.NativeLibraryException;

/**
 * cuBLASLt ({@code cublasLt.h}, {@code libcublasLt.so.13}) in jextract's shape: matmul descriptors,
 * matrix layouts (with batch count and stride), preferences (workspace limit), the algorithm heuristic
 * and {@code cublasLtMatmul}. Statuses are {@code cublasStatus_t}, checked like cuBLAS's.
 *
 * <pre>{@code
 * CublasLt.check(CublasLt.cublasLtMatmulDescCreate(desc, Cublas.CUBLAS_COMPUTE_32F, Cublas.CUDA_R_32F), "...");
 * }</pre>
 */
public final class CublasLt {
    private CublasLt() {
    }

    public static final int CUBLASLT_MATMUL_DESC_TRANSA = 3;
    public static final int CUBLASLT_MATMUL_DESC_TRANSB = 4;
    public static final int CUBLASLT_MATRIX_LAYOUT_TYPE = 0;
    public static final int CUBLASLT_MATRIX_LAYOUT_ORDER = 1;
    public static final int CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5;
    public static final int CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6;
    public static final int CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1;
    public static final int CUBLASLT_ORDER_COL = 0;
    public static final int CUBLASLT_ORDER_ROW = 1;

    /** {@code cublasLtMatmulHeuristicResult_t}: the chosen algorithm and the workspace it needs. */
    public static final StructLayout HEURISTIC_RESULT = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(8, JAVA_LONG).withName("algo"),
            JAVA_LONG.withName("workspaceSize"),
            JAVA_INT.withName("state"),
            JAVA_FLOAT.withName("wavesCount"),
            MemoryLayout.sequenceLayout(4, JAVA_INT).withName("reserved"));

    /** Byte offset of {@code workspaceSize} in {@link #HEURISTIC_RESULT}. */
    public static final long HEURISTIC_WORKSPACE_OFFSET =
            HEURISTIC_RESULT.byteOffset(MemoryLayout.PathElement.groupElement("workspaceSize"));
    /** Byte offset of {@code state} in {@link #HEURISTIC_RESULT}. */
    public static final long HEURISTIC_STATE_OFFSET =
            HEURISTIC_RESULT.byteOffset(MemoryLayout.PathElement.groupElement("state"));

    private static final CFunction CREATE = CFunction.of("cublasStatus_t cublasLtCreate(cublasLtHandle_t *lightHandle)",
            JAVA_INT, ADDRESS);
    private static final CFunction DESTROY = CFunction.of(
            "cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle)", JAVA_INT, ADDRESS);
    private static final CFunction GET_VERSION = CFunction.of("size_t cublasLtGetVersion(void)", JAVA_LONG);
    private static final CFunction DESC_CREATE = CFunction.of(
            "cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc, "
                    + "cublasComputeType_t computeType, cudaDataType_t scaleType)", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final CFunction DESC_DESTROY = CFunction.of(
            "cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc)", JAVA_INT, ADDRESS);
    private static final CFunction DESC_SET_ATTRIBUTE = CFunction.of(
            "cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc, "
                    + "cublasLtMatmulDescAttributes_t attr, const void *buf, size_t sizeInBytes)",
            JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final CFunction LAYOUT_CREATE = CFunction.of(
            "cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout, cudaDataType type, "
                    + "uint64_t rows, uint64_t cols, int64_t ld)", JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG,
            JAVA_LONG);
    private static final CFunction LAYOUT_DESTROY = CFunction.of(
            "cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout)", JAVA_INT, ADDRESS);
    private static final CFunction LAYOUT_SET_ATTRIBUTE = CFunction.of(
            "cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout, "
                    + "cublasLtMatrixLayoutAttribute_t attr, const void *buf, size_t sizeInBytes)",
            JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final CFunction PREF_CREATE = CFunction.of(
            "cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref)", JAVA_INT, ADDRESS);
    private static final CFunction PREF_DESTROY = CFunction.of(
            "cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref)", JAVA_INT, ADDRESS);
    private static final CFunction PREF_SET_ATTRIBUTE = CFunction.of(
            "cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref, "
                    + "cublasLtMatmulPreferenceAttributes_t attr, const void *buf, size_t sizeInBytes)",
            JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final CFunction ALGO_GET_HEURISTIC = CFunction.of(
            "cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t lightHandle, "
                    + "cublasLtMatmulDesc_t operationDesc, cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc, "
                    + "cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc, cublasLtMatmulPreference_t preference, "
                    + "int requestedAlgoCount, cublasLtMatmulHeuristicResult_t *heuristicResultsArray, "
                    + "int *returnAlgoCount)",
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction MATMUL = CFunction.of(
            "cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, "
                    + "const void *alpha, const void *A, cublasLtMatrixLayout_t Adesc, const void *B, "
                    + "cublasLtMatrixLayout_t Bdesc, const void *beta, const void *C, cublasLtMatrixLayout_t Cdesc, "
                    + "void *D, cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo, void *workspace, "
                    + "size_t workspaceSizeInBytes, cudaStream_t stream)",
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);

    private static final List<CFunction> FUNCTIONS = List.of(CREATE, DESTROY, GET_VERSION, DESC_CREATE, DESC_DESTROY,
            DESC_SET_ATTRIBUTE, LAYOUT_CREATE, LAYOUT_DESTROY, LAYOUT_SET_ATTRIBUTE, PREF_CREATE, PREF_DESTROY,
            PREF_SET_ATTRIBUTE, ALGO_GET_HEURISTIC, MATMUL);

    /** Every C function this class binds, as declared in {@code cublasLt.h}. */
    public static List<CFunction> functions() {
        return FUNCTIONS;
    }

    /** The header the declarations come from. */
    public static HeaderCheck.Header header() {
        return new HeaderCheck.Header("cuBLASLt", "cublasLt.h", List.of());
    }

    /** C expressions that must equal these values: the heuristic result's size and field offsets. */
    public static Map<String, Long> layoutChecks() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("sizeof(cublasLtMatmulHeuristicResult_t)", HEURISTIC_RESULT.byteSize());
        m.put("offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize)", HEURISTIC_WORKSPACE_OFFSET);
        m.put("offsetof(cublasLtMatmulHeuristicResult_t, state)", HEURISTIC_STATE_OFFSET);
        m.put("sizeof(cublasLtMatmulAlgo_t)", 64L);
        return m;
    }

    private static final Downcalls.Loader LOADER = new Downcalls.Loader(KnownLibraries.CUBLAS_LT, FUNCTIONS,
            "cuBLASLt 12 or newer is needed");

    /**
     * Opens cuBLASLt and checks every bound symbol, or throws {@link NativeLibraryException} saying why not.
     */
    public static NativeLibrary load() {
        return LOADER.get();
    }

    private static final class H {
        private static final NativeLibrary LIB = load();
        static final MethodHandle create = Downcalls.handle(LIB, CREATE);
        static final MethodHandle destroy = Downcalls.handle(LIB, DESTROY);
        static final MethodHandle getVersion = Downcalls.handle(LIB, GET_VERSION);
        static final MethodHandle descCreate = Downcalls.handle(LIB, DESC_CREATE);
        static final MethodHandle descDestroy = Downcalls.handle(LIB, DESC_DESTROY);
        static final MethodHandle descSetAttribute = Downcalls.handle(LIB, DESC_SET_ATTRIBUTE);
        static final MethodHandle layoutCreate = Downcalls.handle(LIB, LAYOUT_CREATE);
        static final MethodHandle layoutDestroy = Downcalls.handle(LIB, LAYOUT_DESTROY);
        static final MethodHandle layoutSetAttribute = Downcalls.handle(LIB, LAYOUT_SET_ATTRIBUTE);
        static final MethodHandle prefCreate = Downcalls.handle(LIB, PREF_CREATE);
        static final MethodHandle prefDestroy = Downcalls.handle(LIB, PREF_DESTROY);
        static final MethodHandle prefSetAttribute = Downcalls.handle(LIB, PREF_SET_ATTRIBUTE);
        static final MethodHandle algoGetHeuristic = Downcalls.handle(LIB, ALGO_GET_HEURISTIC);
        static final MethodHandle matmul = Downcalls.handle(LIB, MATMUL);
    }

    /** Throws a {@link CublasException} unless {@code status} is CUBLAS_STATUS_SUCCESS. */
    public static void check(int status, String function, String context) {
        Cublas.check(status, function, context);
    }

    public static int cublasLtCreate(MemorySegment lightHandle) {
        try {
            return (int) H.create.invokeExact(lightHandle);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtDestroy(MemorySegment lightHandle) {
        try {
            return (int) H.destroy.invokeExact(lightHandle);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static long cublasLtGetVersion() {
        try {
            return (long) H.getVersion.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatmulDescCreate(MemorySegment matmulDesc, int computeType, int scaleType) {
        try {
            return (int) H.descCreate.invokeExact(matmulDesc, computeType, scaleType);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatmulDescDestroy(MemorySegment matmulDesc) {
        try {
            return (int) H.descDestroy.invokeExact(matmulDesc);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatmulDescSetAttribute(MemorySegment matmulDesc, int attr, MemorySegment buf,
                                                     long sizeInBytes) {
        try {
            return (int) H.descSetAttribute.invokeExact(matmulDesc, attr, buf, sizeInBytes);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatrixLayoutCreate(MemorySegment matLayout, int type, long rows, long cols, long ld) {
        try {
            return (int) H.layoutCreate.invokeExact(matLayout, type, rows, cols, ld);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatrixLayoutDestroy(MemorySegment matLayout) {
        try {
            return (int) H.layoutDestroy.invokeExact(matLayout);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatrixLayoutSetAttribute(MemorySegment matLayout, int attr, MemorySegment buf,
                                                       long sizeInBytes) {
        try {
            return (int) H.layoutSetAttribute.invokeExact(matLayout, attr, buf, sizeInBytes);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatmulPreferenceCreate(MemorySegment pref) {
        try {
            return (int) H.prefCreate.invokeExact(pref);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatmulPreferenceDestroy(MemorySegment pref) {
        try {
            return (int) H.prefDestroy.invokeExact(pref);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatmulPreferenceSetAttribute(MemorySegment pref, int attr, MemorySegment buf,
                                                           long sizeInBytes) {
        try {
            return (int) H.prefSetAttribute.invokeExact(pref, attr, buf, sizeInBytes);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatmulAlgoGetHeuristic(MemorySegment lightHandle, MemorySegment operationDesc,
                                                     MemorySegment aDesc, MemorySegment bDesc, MemorySegment cDesc,
                                                     MemorySegment dDesc, MemorySegment preference,
                                                     int requestedAlgoCount, MemorySegment heuristicResults,
                                                     MemorySegment returnAlgoCount) {
        try {
            return (int) H.algoGetHeuristic.invokeExact(lightHandle, operationDesc, aDesc, bDesc, cDesc, dDesc,
                    preference, requestedAlgoCount, heuristicResults, returnAlgoCount);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cublasLtMatmul(MemorySegment lightHandle, MemorySegment computeDesc, MemorySegment alpha,
                                     MemorySegment a, MemorySegment aDesc, MemorySegment b, MemorySegment bDesc,
                                     MemorySegment beta, MemorySegment c, MemorySegment cDesc, MemorySegment d,
                                     MemorySegment dDesc, MemorySegment algo, MemorySegment workspace,
                                     long workspaceSizeInBytes, MemorySegment stream) {
        try {
            return (int) H.matmul.invokeExact(lightHandle, computeDesc, alpha, a, aDesc, b, bDesc, beta, c, cDesc, d,
                    dDesc, algo, workspace, workspaceSizeInBytes, stream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }
}
