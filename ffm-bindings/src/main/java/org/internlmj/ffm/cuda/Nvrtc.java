package org.internlmj.ffm.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

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
 * NVRTC, CUDA's run-time compiler ({@code nvrtc.h}, {@code libnvrtc.so.13}), in jextract's shape. The
 * CUDA backend compiles its kernel sources with it to a CUBIN for the device's {@code sm_XX} (or to PTX
 * for an architecture newer than this NVRTC knows).
 *
 * <pre>{@code
 * Nvrtc.check(Nvrtc.nvrtcCompileProgram(prog, n, options), "nvrtcCompileProgram");
 * }</pre>
 */
public final class Nvrtc {
    private Nvrtc() {
    }

    public static final int NVRTC_SUCCESS = 0;
    public static final int NVRTC_ERROR_OUT_OF_MEMORY = 1;
    public static final int NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2;
    public static final int NVRTC_ERROR_INVALID_INPUT = 3;
    public static final int NVRTC_ERROR_INVALID_PROGRAM = 4;
    public static final int NVRTC_ERROR_INVALID_OPTION = 5;
    public static final int NVRTC_ERROR_COMPILATION = 6;
    public static final int NVRTC_ERROR_BUILTIN_OPERATION_FAILURE = 7;
    public static final int NVRTC_ERROR_INTERNAL_ERROR = 11;

    private static final CFunction VERSION = CFunction.of("nvrtcResult nvrtcVersion(int *major, int *minor)",
            JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction GET_NUM_SUPPORTED_ARCHS = CFunction.of(
            "nvrtcResult nvrtcGetNumSupportedArchs(int *numArchs)", JAVA_INT, ADDRESS);
    private static final CFunction GET_SUPPORTED_ARCHS = CFunction.of(
            "nvrtcResult nvrtcGetSupportedArchs(int *supportedArchs)", JAVA_INT, ADDRESS);
    private static final CFunction CREATE_PROGRAM = CFunction.of(
            "nvrtcResult nvrtcCreateProgram(nvrtcProgram *prog, const char *src, const char *name, int numHeaders, "
                    + "const char * const *headers, const char * const *includeNames)",
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction DESTROY_PROGRAM = CFunction.of(
            "nvrtcResult nvrtcDestroyProgram(nvrtcProgram *prog)", JAVA_INT, ADDRESS);
    private static final CFunction COMPILE_PROGRAM = CFunction.of(
            "nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int numOptions, const char * const *options)",
            JAVA_INT, ADDRESS, JAVA_INT, ADDRESS);
    private static final CFunction GET_PTX_SIZE = CFunction.of(
            "nvrtcResult nvrtcGetPTXSize(nvrtcProgram prog, size_t *ptxSizeRet)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction GET_PTX = CFunction.of("nvrtcResult nvrtcGetPTX(nvrtcProgram prog, char *ptx)",
            JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction GET_CUBIN_SIZE = CFunction.of(
            "nvrtcResult nvrtcGetCUBINSize(nvrtcProgram prog, size_t *cubinSizeRet)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction GET_CUBIN = CFunction.of(
            "nvrtcResult nvrtcGetCUBIN(nvrtcProgram prog, char *cubin)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction GET_PROGRAM_LOG_SIZE = CFunction.of(
            "nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram prog, size_t *logSizeRet)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction GET_PROGRAM_LOG = CFunction.of(
            "nvrtcResult nvrtcGetProgramLog(nvrtcProgram prog, char *log)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction GET_ERROR_STRING = CFunction.of(
            "const char * nvrtcGetErrorString(nvrtcResult result)", ADDRESS, JAVA_INT);

    private static final List<CFunction> FUNCTIONS = List.of(VERSION, GET_NUM_SUPPORTED_ARCHS, GET_SUPPORTED_ARCHS,
            CREATE_PROGRAM, DESTROY_PROGRAM, COMPILE_PROGRAM, GET_PTX_SIZE, GET_PTX, GET_CUBIN_SIZE, GET_CUBIN,
            GET_PROGRAM_LOG_SIZE, GET_PROGRAM_LOG, GET_ERROR_STRING);

    /** Every C function this class binds, as declared in {@code nvrtc.h}. */
    public static List<CFunction> functions() {
        return FUNCTIONS;
    }

    /** The header the declarations come from. */
    public static HeaderCheck.Header header() {
        return new HeaderCheck.Header("NVRTC", "nvrtc.h", List.of());
    }

    private static final Downcalls.Loader LOADER = new Downcalls.Loader(KnownLibraries.NVRTC, FUNCTIONS,
            "NVRTC from CUDA 12 or newer is needed");

    /**
     * Opens NVRTC and checks every bound symbol, or throws {@link NativeLibraryException} saying why not.
     */
    public static NativeLibrary load() {
        return LOADER.get();
    }

    private static final class H {
        private static final NativeLibrary LIB = load();
        static final MethodHandle version = Downcalls.handle(LIB, VERSION);
        static final MethodHandle getNumSupportedArchs = Downcalls.handle(LIB, GET_NUM_SUPPORTED_ARCHS);
        static final MethodHandle getSupportedArchs = Downcalls.handle(LIB, GET_SUPPORTED_ARCHS);
        static final MethodHandle createProgram = Downcalls.handle(LIB, CREATE_PROGRAM);
        static final MethodHandle destroyProgram = Downcalls.handle(LIB, DESTROY_PROGRAM);
        static final MethodHandle compileProgram = Downcalls.handle(LIB, COMPILE_PROGRAM);
        static final MethodHandle getPtxSize = Downcalls.handle(LIB, GET_PTX_SIZE);
        static final MethodHandle getPtx = Downcalls.handle(LIB, GET_PTX);
        static final MethodHandle getCubinSize = Downcalls.handle(LIB, GET_CUBIN_SIZE);
        static final MethodHandle getCubin = Downcalls.handle(LIB, GET_CUBIN);
        static final MethodHandle getProgramLogSize = Downcalls.handle(LIB, GET_PROGRAM_LOG_SIZE);
        static final MethodHandle getProgramLog = Downcalls.handle(LIB, GET_PROGRAM_LOG);
        static final MethodHandle getErrorString = Downcalls.handle(LIB, GET_ERROR_STRING);
    }

    /** Throws an {@link NvrtcException} unless {@code status} is NVRTC_SUCCESS. */
    public static void check(int status, String function) {
        check(status, function, null);
    }

    /** Like {@link #check(int, String)}, adding {@code context} (e.g. the compile log) to the message. */
    public static void check(int status, String function, String context) {
        if (status != NVRTC_SUCCESS) {
            throw new NvrtcException(function, status, name(status), errorString(status), context);
        }
    }

    private static String name(int status) {
        return switch (status) {
            case NVRTC_ERROR_OUT_OF_MEMORY -> "NVRTC_ERROR_OUT_OF_MEMORY";
            case NVRTC_ERROR_PROGRAM_CREATION_FAILURE -> "NVRTC_ERROR_PROGRAM_CREATION_FAILURE";
            case NVRTC_ERROR_INVALID_INPUT -> "NVRTC_ERROR_INVALID_INPUT";
            case NVRTC_ERROR_INVALID_PROGRAM -> "NVRTC_ERROR_INVALID_PROGRAM";
            case NVRTC_ERROR_INVALID_OPTION -> "NVRTC_ERROR_INVALID_OPTION";
            case NVRTC_ERROR_COMPILATION -> "NVRTC_ERROR_COMPILATION";
            case NVRTC_ERROR_BUILTIN_OPERATION_FAILURE -> "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE";
            case NVRTC_ERROR_INTERNAL_ERROR -> "NVRTC_ERROR_INTERNAL_ERROR";
            default -> "nvrtcResult " + status;
        };
    }

    /** {@code nvrtcGetErrorString}, or null when NVRTC cannot be called. */
    public static String errorString(int status) {
        try {
            return Downcalls.string(nvrtcGetErrorString(status), null);
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    public static int nvrtcVersion(MemorySegment major, MemorySegment minor) {
        try {
            return (int) H.version.invokeExact(major, minor);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcGetNumSupportedArchs(MemorySegment numArchs) {
        try {
            return (int) H.getNumSupportedArchs.invokeExact(numArchs);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcGetSupportedArchs(MemorySegment supportedArchs) {
        try {
            return (int) H.getSupportedArchs.invokeExact(supportedArchs);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcCreateProgram(MemorySegment prog, MemorySegment src, MemorySegment name, int numHeaders,
                                         MemorySegment headers, MemorySegment includeNames) {
        try {
            return (int) H.createProgram.invokeExact(prog, src, name, numHeaders, headers, includeNames);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcDestroyProgram(MemorySegment prog) {
        try {
            return (int) H.destroyProgram.invokeExact(prog);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcCompileProgram(MemorySegment prog, int numOptions, MemorySegment options) {
        try {
            return (int) H.compileProgram.invokeExact(prog, numOptions, options);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcGetPTXSize(MemorySegment prog, MemorySegment ptxSizeRet) {
        try {
            return (int) H.getPtxSize.invokeExact(prog, ptxSizeRet);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcGetPTX(MemorySegment prog, MemorySegment ptx) {
        try {
            return (int) H.getPtx.invokeExact(prog, ptx);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcGetCUBINSize(MemorySegment prog, MemorySegment cubinSizeRet) {
        try {
            return (int) H.getCubinSize.invokeExact(prog, cubinSizeRet);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcGetCUBIN(MemorySegment prog, MemorySegment cubin) {
        try {
            return (int) H.getCubin.invokeExact(prog, cubin);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcGetProgramLogSize(MemorySegment prog, MemorySegment logSizeRet) {
        try {
            return (int) H.getProgramLogSize.invokeExact(prog, logSizeRet);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int nvrtcGetProgramLog(MemorySegment prog, MemorySegment log) {
        try {
            return (int) H.getProgramLog.invokeExact(prog, log);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static MemorySegment nvrtcGetErrorString(int result) {
        try {
            return (MemorySegment) H.getErrorString.invokeExact(result);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }
}
