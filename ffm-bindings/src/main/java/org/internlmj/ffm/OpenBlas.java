package org.internlmj.ffm;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Downcalls into OpenBLAS ({@code cblas.h} and {@code openblas_config.h}), in jextract's shape: one
 * static method per C function, the enums' values as {@code static final int}. Only what the GEMM
 * benchmarks use: OpenBLAS is their baseline, never a dependency of the engine.
 *
 * <p>The library is loaded on the first call ({@link KnownLibraries#OPENBLAS}); where it is missing,
 * that call throws {@link NativeLibraryException} listing where it was looked for. Assumes the 32-bit
 * integer interface ({@code blasint} = {@code int}) of the distributions' {@code libopenblas.so.0}.
 *
 * <pre>{@code
 * OpenBlas.openblas_set_num_threads(2);
 * OpenBlas.cblas_sgemm(OpenBlas.CblasRowMajor, OpenBlas.CblasNoTrans, OpenBlas.CblasTrans,
 *         m, n, k, 1f, a, k, b, k, 0f, c, n);   // c[m,n] = a[m,k] @ b[n,k]^T
 * }</pre>
 */
public final class OpenBlas {
    /** {@code enum CBLAS_ORDER}. */
    public static final int CblasRowMajor = 101;
    public static final int CblasColMajor = 102;
    /** {@code enum CBLAS_TRANSPOSE}. */
    public static final int CblasNoTrans = 111;
    public static final int CblasTrans = 112;
    public static final int CblasConjTrans = 113;

    private OpenBlas() {
    }

    /** The C signatures, checked against {@code cblas.h} by {@code OpenBlasHeaderTest}. */
    static final FunctionDescriptor CBLAS_SGEMM = FunctionDescriptor.ofVoid(
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
            ValueLayout.JAVA_FLOAT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
            ValueLayout.JAVA_FLOAT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT);
    static final FunctionDescriptor OPENBLAS_SET_NUM_THREADS = FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT);
    static final FunctionDescriptor OPENBLAS_GET_NUM_THREADS = FunctionDescriptor.of(ValueLayout.JAVA_INT);
    static final FunctionDescriptor OPENBLAS_GET_CONFIG = FunctionDescriptor.of(ValueLayout.ADDRESS);

    /**
     * Handles resolved on first use, so that a machine without OpenBLAS fails only if it calls it. Not a
     * holder class: a failed class initialisation would turn every later call's error into a bare
     * NoClassDefFoundError instead of the loader's "looked in ..." message.
     */
    private static final class Handles {
        final NativeLibrary lib;
        final MethodHandle cblas_sgemm;
        final MethodHandle openblas_set_num_threads;
        final MethodHandle openblas_get_num_threads;
        final MethodHandle openblas_get_config;

        Handles(NativeLibrary lib) {
            this.lib = lib;
            cblas_sgemm = lib.downcall("cblas_sgemm", CBLAS_SGEMM);
            openblas_set_num_threads = lib.downcall("openblas_set_num_threads", OPENBLAS_SET_NUM_THREADS);
            openblas_get_num_threads = lib.downcall("openblas_get_num_threads", OPENBLAS_GET_NUM_THREADS);
            openblas_get_config = lib.downcall("openblas_get_config", OPENBLAS_GET_CONFIG);
        }
    }

    private static volatile Handles handles;

    private static Handles handles() {
        Handles h = handles;
        if (h == null) {
            synchronized (OpenBlas.class) {
                h = handles;
                if (h == null) {
                    h = new Handles(NativeLibrary.load(KnownLibraries.OPENBLAS));
                    handles = h;
                }
            }
        }
        return h;
    }

    /** The library that was loaded (loading it if needed). */
    public static NativeLibrary library() {
        return handles().lib;
    }

    /**
     * {@code void cblas_sgemm(enum CBLAS_ORDER Order, enum CBLAS_TRANSPOSE TransA, enum CBLAS_TRANSPOSE
     * TransB, blasint M, blasint N, blasint K, float alpha, const float *A, blasint lda, const float *B,
     * blasint ldb, float beta, float *C, blasint ldc)}.
     *
     * <p>FFM does not bounds-check the native side, so before the call each matrix's extent (from the
     * order, transposes and leading dimensions) is checked against its segment's size; a mismatch
     * throws {@link IllegalArgumentException} instead of corrupting memory.
     */
    public static void cblas_sgemm(int Order, int TransA, int TransB, int M, int N, int K, float alpha,
                                   MemorySegment A, int lda, MemorySegment B, int ldb, float beta,
                                   MemorySegment C, int ldc) {
        boolean rowMajor = switch (Order) {
            case CblasRowMajor -> true;
            case CblasColMajor -> false;
            default -> throw new IllegalArgumentException("cblas_sgemm: Order must be CblasRowMajor or CblasColMajor, got "
                    + Order);
        };
        if (M < 0 || N < 0 || K < 0) {
            throw new IllegalArgumentException("cblas_sgemm: negative size M=" + M + " N=" + N + " K=" + K);
        }
        boolean ta = transposed(TransA);
        boolean tb = transposed(TransB);
        // op(A) is M x K and op(B) is K x N; stored, each is (rows x cols) with rows along the leading dimension.
        checkMatrix("A", A, lda, ta ? K : M, ta ? M : K, rowMajor);
        checkMatrix("B", B, ldb, tb ? N : K, tb ? K : N, rowMajor);
        checkMatrix("C", C, ldc, M, N, rowMajor);
        try {
            handles().cblas_sgemm.invokeExact(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        } catch (Throwable t) {
            throw rethrow("cblas_sgemm", t);
        }
    }

    /** {@code void openblas_set_num_threads(int num_threads)}. */
    public static void openblas_set_num_threads(int num_threads) {
        try {
            handles().openblas_set_num_threads.invokeExact(num_threads);
        } catch (Throwable t) {
            throw rethrow("openblas_set_num_threads", t);
        }
    }

    /** {@code int openblas_get_num_threads(void)}. */
    public static int openblas_get_num_threads() {
        try {
            return (int) handles().openblas_get_num_threads.invokeExact();
        } catch (Throwable t) {
            throw rethrow("openblas_get_num_threads", t);
        }
    }

    /** {@code char *openblas_get_config(void)}: a static string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ...". */
    public static MemorySegment openblas_get_config() {
        try {
            return (MemorySegment) handles().openblas_get_config.invokeExact();
        } catch (Throwable t) {
            throw rethrow("openblas_get_config", t);
        }
    }

    /** {@link #openblas_get_config} as a Java string. */
    public static String config() {
        return openblas_get_config().reinterpret(4096).getString(0);
    }

    private static boolean transposed(int trans) {
        return switch (trans) {
            case CblasNoTrans -> false;
            case CblasTrans, CblasConjTrans -> true;
            default -> throw new IllegalArgumentException("cblas_sgemm: a transpose flag must be CblasNoTrans, CblasTrans or "
                    + "CblasConjTrans, got " + trans);
        };
    }

    /**
     * Checks that a stored {@code rows x cols} matrix with leading dimension {@code ld} fits in
     * {@code seg}: row-major, element (i, j) is at {@code i*ld + j}; column-major, at {@code i + j*ld}.
     */
    private static void checkMatrix(String name, MemorySegment seg, int ld, int rows, int cols, boolean rowMajor) {
        int inner = rowMajor ? cols : rows;
        int outer = rowMajor ? rows : cols;
        if (ld < Math.max(1, inner)) {
            throw new IllegalArgumentException("cblas_sgemm: ld" + name.toLowerCase() + "=" + ld + " is less than "
                    + Math.max(1, inner) + " for a " + rows + "x" + cols + " " + (rowMajor ? "row" : "column")
                    + "-major " + name);
        }
        long count = rows == 0 || cols == 0 ? 0 : (long) (outer - 1) * ld + inner;
        if (count * Float.BYTES > seg.byteSize()) {
            throw new IllegalArgumentException("cblas_sgemm: " + name + " needs " + count + " floats (" + rows + "x"
                    + cols + ", ld " + ld + ") but its segment holds " + seg.byteSize() + " bytes");
        }
        if (count > 0 && !seg.isNative()) {
            throw new IllegalArgumentException("cblas_sgemm: " + name + " must be a native segment, got a heap segment");
        }
    }

    private static RuntimeException rethrow(String function, Throwable t) {
        if (t instanceof RuntimeException re) {
            return re;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(function + " failed: " + t, t);
    }
}
