package org.internlmj.ffm.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
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
 * The CUDA driver API ({@code cuda.h}, {@code libcuda.so.1}) in jextract's shape: one static method per
 * C function, taking handles as {@link MemorySegment}s and device pointers ({@code CUdeviceptr}) as
 * {@code long}, returning the {@code CUresult}; constants as {@code static final int} with their C names.
 * Versioned symbols are bound by the names {@code cuda.h} maps them to for CUDA 12/13
 * ({@code cuMemAlloc_v2}, {@code cuStreamDestroy_v2}, {@code cuEventElapsedTime_v2}, ...).
 *
 * <p>The library is opened on first use; {@link #load()} reports where it was looked for when it is
 * missing. {@link #check} turns a status into a {@link CudaException} with the function, the code and
 * the driver's name and explanation. Every declaration here is compiled against the real
 * {@code cuda.h} by a test ({@link #functions()}, {@link HeaderCheck}).
 *
 * <pre>{@code
 * Cuda.check(Cuda.cuInit(0), "cuInit");
 * }</pre>
 */
public final class Cuda {
    private Cuda() {
    }

    // ---------------------------------------------------------------- constants (cuda.h)

    public static final int CUDA_SUCCESS = 0;
    public static final int CUDA_ERROR_INVALID_VALUE = 1;
    public static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    public static final int CUDA_ERROR_STUB_LIBRARY = 34;
    public static final int CUDA_ERROR_NO_DEVICE = 100;
    public static final int CUDA_ERROR_INVALID_DEVICE = 101;
    public static final int CUDA_ERROR_NOT_READY = 600;
    public static final int CUDA_ERROR_ILLEGAL_ADDRESS = 700;
    public static final int CUDA_ERROR_LAUNCH_FAILED = 719;

    public static final int CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1;
    public static final int CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10;
    public static final int CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13;
    public static final int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    public static final int CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36;
    public static final int CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37;
    public static final int CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38;
    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    public static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81;
    public static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    public static final int CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED = 115;

    public static final int CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0;
    public static final int CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1;
    public static final int CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3;
    public static final int CU_FUNC_ATTRIBUTE_NUM_REGS = 4;
    public static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

    public static final int CU_STREAM_DEFAULT = 0;
    public static final int CU_STREAM_NON_BLOCKING = 1;
    public static final int CU_EVENT_DEFAULT = 0;
    public static final int CU_EVENT_DISABLE_TIMING = 2;
    public static final int CU_MEMHOSTALLOC_PORTABLE = 1;
    public static final int CU_STREAM_CAPTURE_MODE_GLOBAL = 0;
    public static final int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

    public static final int CU_MEMPOOL_ATTR_RELEASE_THRESHOLD = 4;
    public static final int CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT = 5;
    public static final int CU_MEMPOOL_ATTR_USED_MEM_CURRENT = 7;
    public static final int CU_MEMPOOL_ATTR_USED_MEM_HIGH = 8;

    // ---------------------------------------------------------------- declarations

    private static final CFunction CU_INIT = CFunction.of("CUresult cuInit(unsigned int Flags)", JAVA_INT, JAVA_INT);
    private static final CFunction CU_DRIVER_GET_VERSION = CFunction.of(
            "CUresult cuDriverGetVersion(int *driverVersion)", JAVA_INT, ADDRESS);
    private static final CFunction CU_DEVICE_GET_COUNT = CFunction.of("CUresult cuDeviceGetCount(int *count)",
            JAVA_INT, ADDRESS);
    private static final CFunction CU_DEVICE_GET = CFunction.of("CUresult cuDeviceGet(CUdevice *device, int ordinal)",
            JAVA_INT, ADDRESS, JAVA_INT);
    private static final CFunction CU_DEVICE_GET_NAME = CFunction.of(
            "CUresult cuDeviceGetName(char *name, int len, CUdevice dev)", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final CFunction CU_DEVICE_GET_ATTRIBUTE = CFunction.of(
            "CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)",
            JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final CFunction CU_DEVICE_TOTAL_MEM = CFunction.of(
            "CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)", JAVA_INT, ADDRESS, JAVA_INT);
    private static final CFunction CU_DEVICE_PRIMARY_CTX_RETAIN = CFunction.of(
            "CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)", JAVA_INT, ADDRESS, JAVA_INT);
    private static final CFunction CU_DEVICE_PRIMARY_CTX_RELEASE = CFunction.of(
            "CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)", JAVA_INT, JAVA_INT);
    private static final CFunction CU_CTX_SET_CURRENT = CFunction.of("CUresult cuCtxSetCurrent(CUcontext ctx)",
            JAVA_INT, ADDRESS);
    private static final CFunction CU_CTX_GET_CURRENT = CFunction.of("CUresult cuCtxGetCurrent(CUcontext *pctx)",
            JAVA_INT, ADDRESS);
    private static final CFunction CU_CTX_GET_DEVICE = CFunction.of("CUresult cuCtxGetDevice(CUdevice *device)",
            JAVA_INT, ADDRESS);
    private static final CFunction CU_CTX_SYNCHRONIZE = CFunction.of("CUresult cuCtxSynchronize(void)", JAVA_INT);
    private static final CFunction CU_GET_ERROR_NAME = CFunction.of(
            "CUresult cuGetErrorName(CUresult error, const char **pStr)", JAVA_INT, JAVA_INT, ADDRESS);
    private static final CFunction CU_GET_ERROR_STRING = CFunction.of(
            "CUresult cuGetErrorString(CUresult error, const char **pStr)", JAVA_INT, JAVA_INT, ADDRESS);

    private static final CFunction CU_STREAM_CREATE = CFunction.of(
            "CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)", JAVA_INT, ADDRESS, JAVA_INT);
    private static final CFunction CU_STREAM_CREATE_WITH_PRIORITY = CFunction.of(
            "CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority)",
            JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final CFunction CU_STREAM_DESTROY = CFunction.of("CUresult cuStreamDestroy_v2(CUstream hStream)",
            JAVA_INT, ADDRESS);
    private static final CFunction CU_STREAM_SYNCHRONIZE = CFunction.of(
            "CUresult cuStreamSynchronize(CUstream hStream)", JAVA_INT, ADDRESS);
    private static final CFunction CU_STREAM_QUERY = CFunction.of("CUresult cuStreamQuery(CUstream hStream)",
            JAVA_INT, ADDRESS);
    private static final CFunction CU_STREAM_WAIT_EVENT = CFunction.of(
            "CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)",
            JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);

    private static final CFunction CU_EVENT_CREATE = CFunction.of(
            "CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)", JAVA_INT, ADDRESS, JAVA_INT);
    private static final CFunction CU_EVENT_DESTROY = CFunction.of("CUresult cuEventDestroy_v2(CUevent hEvent)",
            JAVA_INT, ADDRESS);
    private static final CFunction CU_EVENT_RECORD = CFunction.of(
            "CUresult cuEventRecord(CUevent hEvent, CUstream hStream)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction CU_EVENT_SYNCHRONIZE = CFunction.of(
            "CUresult cuEventSynchronize(CUevent hEvent)", JAVA_INT, ADDRESS);
    private static final CFunction CU_EVENT_QUERY = CFunction.of("CUresult cuEventQuery(CUevent hEvent)",
            JAVA_INT, ADDRESS);
    private static final CFunction CU_EVENT_ELAPSED_TIME = CFunction.of(
            "CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)",
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS);

    private static final CFunction CU_DEVICE_GET_DEFAULT_MEM_POOL = CFunction.of(
            "CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)", JAVA_INT, ADDRESS, JAVA_INT);
    private static final CFunction CU_MEM_POOL_SET_ATTRIBUTE = CFunction.of(
            "CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)",
            JAVA_INT, ADDRESS, JAVA_INT, ADDRESS);
    private static final CFunction CU_MEM_POOL_GET_ATTRIBUTE = CFunction.of(
            "CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)",
            JAVA_INT, ADDRESS, JAVA_INT, ADDRESS);
    private static final CFunction CU_MEM_POOL_TRIM_TO = CFunction.of(
            "CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)", JAVA_INT, ADDRESS, JAVA_LONG);
    private static final CFunction CU_MEM_ALLOC_ASYNC = CFunction.of(
            "CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)",
            JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS);
    private static final CFunction CU_MEM_FREE_ASYNC = CFunction.of(
            "CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)", JAVA_INT, JAVA_LONG, ADDRESS);
    private static final CFunction CU_MEM_ALLOC = CFunction.of(
            "CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)", JAVA_INT, ADDRESS, JAVA_LONG);
    private static final CFunction CU_MEM_FREE = CFunction.of("CUresult cuMemFree_v2(CUdeviceptr dptr)",
            JAVA_INT, JAVA_LONG);
    private static final CFunction CU_MEM_GET_INFO = CFunction.of(
            "CUresult cuMemGetInfo_v2(size_t *free, size_t *total)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction CU_MEMCPY_HTOD_ASYNC = CFunction.of(
            "CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount, "
                    + "CUstream hStream)", JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS);
    private static final CFunction CU_MEMCPY_DTOH_ASYNC = CFunction.of(
            "CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream)",
            JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
    private static final CFunction CU_MEMCPY_DTOD_ASYNC = CFunction.of(
            "CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, "
                    + "CUstream hStream)", JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS);
    private static final CFunction CU_MEMSET_D8_ASYNC = CFunction.of(
            "CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)",
            JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS);
    private static final CFunction CU_MEMSET_D32_ASYNC = CFunction.of(
            "CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)",
            JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG, ADDRESS);
    private static final CFunction CU_MEM_HOST_ALLOC = CFunction.of(
            "CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)", JAVA_INT, ADDRESS, JAVA_LONG,
            JAVA_INT);
    private static final CFunction CU_MEM_FREE_HOST = CFunction.of("CUresult cuMemFreeHost(void *p)", JAVA_INT,
            ADDRESS);
    private static final CFunction CU_MEM_HOST_REGISTER = CFunction.of(
            "CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)", JAVA_INT, ADDRESS,
            JAVA_LONG, JAVA_INT);
    private static final CFunction CU_MEM_HOST_UNREGISTER = CFunction.of("CUresult cuMemHostUnregister(void *p)",
            JAVA_INT, ADDRESS);

    private static final CFunction CU_MODULE_LOAD_DATA = CFunction.of(
            "CUresult cuModuleLoadData(CUmodule *module, const void *image)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction CU_MODULE_UNLOAD = CFunction.of("CUresult cuModuleUnload(CUmodule hmod)",
            JAVA_INT, ADDRESS);
    private static final CFunction CU_MODULE_GET_FUNCTION = CFunction.of(
            "CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)",
            JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final CFunction CU_FUNC_SET_ATTRIBUTE = CFunction.of(
            "CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)",
            JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final CFunction CU_FUNC_GET_ATTRIBUTE = CFunction.of(
            "CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)",
            JAVA_INT, ADDRESS, JAVA_INT, ADDRESS);
    private static final CFunction CU_LAUNCH_KERNEL = CFunction.of(
            "CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, "
                    + "unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, "
                    + "unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)",
            JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS,
            ADDRESS, ADDRESS);

    private static final CFunction CU_STREAM_BEGIN_CAPTURE = CFunction.of(
            "CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)", JAVA_INT, ADDRESS,
            JAVA_INT);
    private static final CFunction CU_STREAM_END_CAPTURE = CFunction.of(
            "CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction CU_GRAPH_INSTANTIATE = CFunction.of(
            "CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags)",
            JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG);
    private static final CFunction CU_GRAPH_LAUNCH = CFunction.of(
            "CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction CU_GRAPH_EXEC_DESTROY = CFunction.of(
            "CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)", JAVA_INT, ADDRESS);
    private static final CFunction CU_GRAPH_DESTROY = CFunction.of("CUresult cuGraphDestroy(CUgraph hGraph)",
            JAVA_INT, ADDRESS);

    private static final List<CFunction> FUNCTIONS = List.of(CU_INIT, CU_DRIVER_GET_VERSION, CU_DEVICE_GET_COUNT,
            CU_DEVICE_GET, CU_DEVICE_GET_NAME, CU_DEVICE_GET_ATTRIBUTE, CU_DEVICE_TOTAL_MEM,
            CU_DEVICE_PRIMARY_CTX_RETAIN, CU_DEVICE_PRIMARY_CTX_RELEASE, CU_CTX_SET_CURRENT, CU_CTX_GET_CURRENT,
            CU_CTX_GET_DEVICE, CU_CTX_SYNCHRONIZE, CU_GET_ERROR_NAME, CU_GET_ERROR_STRING, CU_STREAM_CREATE,
            CU_STREAM_CREATE_WITH_PRIORITY, CU_STREAM_DESTROY, CU_STREAM_SYNCHRONIZE, CU_STREAM_QUERY,
            CU_STREAM_WAIT_EVENT, CU_EVENT_CREATE, CU_EVENT_DESTROY, CU_EVENT_RECORD, CU_EVENT_SYNCHRONIZE,
            CU_EVENT_QUERY, CU_EVENT_ELAPSED_TIME, CU_DEVICE_GET_DEFAULT_MEM_POOL, CU_MEM_POOL_SET_ATTRIBUTE,
            CU_MEM_POOL_GET_ATTRIBUTE, CU_MEM_POOL_TRIM_TO, CU_MEM_ALLOC_ASYNC, CU_MEM_FREE_ASYNC, CU_MEM_ALLOC,
            CU_MEM_FREE, CU_MEM_GET_INFO, CU_MEMCPY_HTOD_ASYNC, CU_MEMCPY_DTOH_ASYNC, CU_MEMCPY_DTOD_ASYNC,
            CU_MEMSET_D8_ASYNC, CU_MEMSET_D32_ASYNC, CU_MEM_HOST_ALLOC, CU_MEM_FREE_HOST, CU_MEM_HOST_REGISTER,
            CU_MEM_HOST_UNREGISTER, CU_MODULE_LOAD_DATA, CU_MODULE_UNLOAD, CU_MODULE_GET_FUNCTION,
            CU_FUNC_SET_ATTRIBUTE, CU_FUNC_GET_ATTRIBUTE, CU_LAUNCH_KERNEL, CU_STREAM_BEGIN_CAPTURE,
            CU_STREAM_END_CAPTURE, CU_GRAPH_INSTANTIATE, CU_GRAPH_LAUNCH, CU_GRAPH_EXEC_DESTROY, CU_GRAPH_DESTROY);

    /** Every C function this class binds, as declared in {@code cuda.h}. */
    public static List<CFunction> functions() {
        return FUNCTIONS;
    }

    /** The header the declarations come from. */
    public static HeaderCheck.Header header() {
        return new HeaderCheck.Header("CUDA driver API", "cuda.h", List.of());
    }

    // ---------------------------------------------------------------- loading

    private static final Downcalls.Loader LOADER = new Downcalls.Loader(KnownLibraries.CUDA_DRIVER, FUNCTIONS,
            "the driver is too old for this engine (CUDA 12 or newer is needed)");

    /**
     * Opens {@code libcuda.so.1} and resolves every bound symbol, or throws {@link NativeLibraryException}
     * saying where it looked, what the loader said, or which symbol is missing (a driver too old).
     */
    public static NativeLibrary load() {
        return LOADER.get();
    }

    /** Handles, resolved when first used; {@link #load()} must have succeeded. */
    private static final class H {
        private static final NativeLibrary LIB = load();
        static final MethodHandle cuInit = Downcalls.handle(LIB, CU_INIT);
        static final MethodHandle cuDriverGetVersion = Downcalls.handle(LIB, CU_DRIVER_GET_VERSION);
        static final MethodHandle cuDeviceGetCount = Downcalls.handle(LIB, CU_DEVICE_GET_COUNT);
        static final MethodHandle cuDeviceGet = Downcalls.handle(LIB, CU_DEVICE_GET);
        static final MethodHandle cuDeviceGetName = Downcalls.handle(LIB, CU_DEVICE_GET_NAME);
        static final MethodHandle cuDeviceGetAttribute = Downcalls.handle(LIB, CU_DEVICE_GET_ATTRIBUTE);
        static final MethodHandle cuDeviceTotalMem = Downcalls.handle(LIB, CU_DEVICE_TOTAL_MEM);
        static final MethodHandle cuDevicePrimaryCtxRetain = Downcalls.handle(LIB, CU_DEVICE_PRIMARY_CTX_RETAIN);
        static final MethodHandle cuDevicePrimaryCtxRelease = Downcalls.handle(LIB, CU_DEVICE_PRIMARY_CTX_RELEASE);
        static final MethodHandle cuCtxSetCurrent = Downcalls.handle(LIB, CU_CTX_SET_CURRENT);
        static final MethodHandle cuCtxGetCurrent = Downcalls.handle(LIB, CU_CTX_GET_CURRENT);
        static final MethodHandle cuCtxGetDevice = Downcalls.handle(LIB, CU_CTX_GET_DEVICE);
        static final MethodHandle cuCtxSynchronize = Downcalls.handle(LIB, CU_CTX_SYNCHRONIZE);
        static final MethodHandle cuGetErrorName = Downcalls.handle(LIB, CU_GET_ERROR_NAME);
        static final MethodHandle cuGetErrorString = Downcalls.handle(LIB, CU_GET_ERROR_STRING);
        static final MethodHandle cuStreamCreate = Downcalls.handle(LIB, CU_STREAM_CREATE);
        static final MethodHandle cuStreamCreateWithPriority = Downcalls.handle(LIB, CU_STREAM_CREATE_WITH_PRIORITY);
        static final MethodHandle cuStreamDestroy = Downcalls.handle(LIB, CU_STREAM_DESTROY);
        static final MethodHandle cuStreamSynchronize = Downcalls.handle(LIB, CU_STREAM_SYNCHRONIZE);
        static final MethodHandle cuStreamQuery = Downcalls.handle(LIB, CU_STREAM_QUERY);
        static final MethodHandle cuStreamWaitEvent = Downcalls.handle(LIB, CU_STREAM_WAIT_EVENT);
        static final MethodHandle cuEventCreate = Downcalls.handle(LIB, CU_EVENT_CREATE);
        static final MethodHandle cuEventDestroy = Downcalls.handle(LIB, CU_EVENT_DESTROY);
        static final MethodHandle cuEventRecord = Downcalls.handle(LIB, CU_EVENT_RECORD);
        static final MethodHandle cuEventSynchronize = Downcalls.handle(LIB, CU_EVENT_SYNCHRONIZE);
        static final MethodHandle cuEventQuery = Downcalls.handle(LIB, CU_EVENT_QUERY);
        static final MethodHandle cuEventElapsedTime = Downcalls.handle(LIB, CU_EVENT_ELAPSED_TIME);
        static final MethodHandle cuDeviceGetDefaultMemPool = Downcalls.handle(LIB, CU_DEVICE_GET_DEFAULT_MEM_POOL);
        static final MethodHandle cuMemPoolSetAttribute = Downcalls.handle(LIB, CU_MEM_POOL_SET_ATTRIBUTE);
        static final MethodHandle cuMemPoolGetAttribute = Downcalls.handle(LIB, CU_MEM_POOL_GET_ATTRIBUTE);
        static final MethodHandle cuMemPoolTrimTo = Downcalls.handle(LIB, CU_MEM_POOL_TRIM_TO);
        static final MethodHandle cuMemAllocAsync = Downcalls.handle(LIB, CU_MEM_ALLOC_ASYNC);
        static final MethodHandle cuMemFreeAsync = Downcalls.handle(LIB, CU_MEM_FREE_ASYNC);
        static final MethodHandle cuMemAlloc = Downcalls.handle(LIB, CU_MEM_ALLOC);
        static final MethodHandle cuMemFree = Downcalls.handle(LIB, CU_MEM_FREE);
        static final MethodHandle cuMemGetInfo = Downcalls.handle(LIB, CU_MEM_GET_INFO);
        static final MethodHandle cuMemcpyHtoDAsync = Downcalls.handle(LIB, CU_MEMCPY_HTOD_ASYNC);
        static final MethodHandle cuMemcpyDtoHAsync = Downcalls.handle(LIB, CU_MEMCPY_DTOH_ASYNC);
        static final MethodHandle cuMemcpyDtoDAsync = Downcalls.handle(LIB, CU_MEMCPY_DTOD_ASYNC);
        static final MethodHandle cuMemsetD8Async = Downcalls.handle(LIB, CU_MEMSET_D8_ASYNC);
        static final MethodHandle cuMemsetD32Async = Downcalls.handle(LIB, CU_MEMSET_D32_ASYNC);
        static final MethodHandle cuMemHostAlloc = Downcalls.handle(LIB, CU_MEM_HOST_ALLOC);
        static final MethodHandle cuMemFreeHost = Downcalls.handle(LIB, CU_MEM_FREE_HOST);
        static final MethodHandle cuMemHostRegister = Downcalls.handle(LIB, CU_MEM_HOST_REGISTER);
        static final MethodHandle cuMemHostUnregister = Downcalls.handle(LIB, CU_MEM_HOST_UNREGISTER);
        static final MethodHandle cuModuleLoadData = Downcalls.handle(LIB, CU_MODULE_LOAD_DATA);
        static final MethodHandle cuModuleUnload = Downcalls.handle(LIB, CU_MODULE_UNLOAD);
        static final MethodHandle cuModuleGetFunction = Downcalls.handle(LIB, CU_MODULE_GET_FUNCTION);
        static final MethodHandle cuFuncSetAttribute = Downcalls.handle(LIB, CU_FUNC_SET_ATTRIBUTE);
        static final MethodHandle cuFuncGetAttribute = Downcalls.handle(LIB, CU_FUNC_GET_ATTRIBUTE);
        static final MethodHandle cuLaunchKernel = Downcalls.handle(LIB, CU_LAUNCH_KERNEL);
        static final MethodHandle cuStreamBeginCapture = Downcalls.handle(LIB, CU_STREAM_BEGIN_CAPTURE);
        static final MethodHandle cuStreamEndCapture = Downcalls.handle(LIB, CU_STREAM_END_CAPTURE);
        static final MethodHandle cuGraphInstantiate = Downcalls.handle(LIB, CU_GRAPH_INSTANTIATE);
        static final MethodHandle cuGraphLaunch = Downcalls.handle(LIB, CU_GRAPH_LAUNCH);
        static final MethodHandle cuGraphExecDestroy = Downcalls.handle(LIB, CU_GRAPH_EXEC_DESTROY);
        static final MethodHandle cuGraphDestroy = Downcalls.handle(LIB, CU_GRAPH_DESTROY);
    }

    // ---------------------------------------------------------------- status checks

    /** Throws a {@link CudaException} naming {@code function} unless {@code status} is CUDA_SUCCESS. */
    public static void check(int status, String function) {
        if (status != CUDA_SUCCESS) {
            throw exception(status, function, null);
        }
    }

    /** Like {@link #check(int, String)}, adding {@code context} (what was being done) to the message. */
    public static void check(int status, String function, String context) {
        if (status != CUDA_SUCCESS) {
            throw exception(status, function, context);
        }
    }

    /** The exception for a failed status, with the driver's name and explanation and optional context. */
    public static CudaException exception(int status, String function, String context) {
        return new CudaException(function, status, errorName(status), errorString(status), context);
    }

    /** {@code cuGetErrorName}, or "CUresult N" when the driver does not know the code. */
    public static String errorName(int status) {
        return describe(status, true);
    }

    /** {@code cuGetErrorString}, or null when the driver does not know the code. */
    public static String errorString(int status) {
        return describe(status, false);
    }

    private static String describe(int status, boolean name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = arena.allocate(ADDRESS);
            int rc = name ? cuGetErrorName(status, p) : cuGetErrorString(status, p);
            if (rc != CUDA_SUCCESS) {
                return name ? "CUresult " + status : null;
            }
            return Downcalls.string(p.get(ADDRESS, 0), name ? "CUresult " + status : null);
        } catch (RuntimeException | LinkageError e) {
            return name ? "CUresult " + status : null;
        }
    }

    // ---------------------------------------------------------------- functions

    public static int cuInit(int flags) {
        try {
            return (int) H.cuInit.invokeExact(flags);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuDriverGetVersion(MemorySegment driverVersion) {
        try {
            return (int) H.cuDriverGetVersion.invokeExact(driverVersion);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuDeviceGetCount(MemorySegment count) {
        try {
            return (int) H.cuDeviceGetCount.invokeExact(count);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuDeviceGet(MemorySegment device, int ordinal) {
        try {
            return (int) H.cuDeviceGet.invokeExact(device, ordinal);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuDeviceGetName(MemorySegment name, int len, int dev) {
        try {
            return (int) H.cuDeviceGetName.invokeExact(name, len, dev);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuDeviceGetAttribute(MemorySegment pi, int attrib, int dev) {
        try {
            return (int) H.cuDeviceGetAttribute.invokeExact(pi, attrib, dev);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuDeviceTotalMem_v2(MemorySegment bytes, int dev) {
        try {
            return (int) H.cuDeviceTotalMem.invokeExact(bytes, dev);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuDevicePrimaryCtxRetain(MemorySegment pctx, int dev) {
        try {
            return (int) H.cuDevicePrimaryCtxRetain.invokeExact(pctx, dev);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuDevicePrimaryCtxRelease_v2(int dev) {
        try {
            return (int) H.cuDevicePrimaryCtxRelease.invokeExact(dev);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuCtxSetCurrent(MemorySegment ctx) {
        try {
            return (int) H.cuCtxSetCurrent.invokeExact(ctx);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuCtxGetCurrent(MemorySegment pctx) {
        try {
            return (int) H.cuCtxGetCurrent.invokeExact(pctx);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuCtxGetDevice(MemorySegment device) {
        try {
            return (int) H.cuCtxGetDevice.invokeExact(device);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuCtxSynchronize() {
        try {
            return (int) H.cuCtxSynchronize.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuGetErrorName(int error, MemorySegment pStr) {
        try {
            return (int) H.cuGetErrorName.invokeExact(error, pStr);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuGetErrorString(int error, MemorySegment pStr) {
        try {
            return (int) H.cuGetErrorString.invokeExact(error, pStr);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuStreamCreate(MemorySegment phStream, int flags) {
        try {
            return (int) H.cuStreamCreate.invokeExact(phStream, flags);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuStreamCreateWithPriority(MemorySegment phStream, int flags, int priority) {
        try {
            return (int) H.cuStreamCreateWithPriority.invokeExact(phStream, flags, priority);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuStreamDestroy_v2(MemorySegment hStream) {
        try {
            return (int) H.cuStreamDestroy.invokeExact(hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuStreamSynchronize(MemorySegment hStream) {
        try {
            return (int) H.cuStreamSynchronize.invokeExact(hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuStreamQuery(MemorySegment hStream) {
        try {
            return (int) H.cuStreamQuery.invokeExact(hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuStreamWaitEvent(MemorySegment hStream, MemorySegment hEvent, int flags) {
        try {
            return (int) H.cuStreamWaitEvent.invokeExact(hStream, hEvent, flags);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuEventCreate(MemorySegment phEvent, int flags) {
        try {
            return (int) H.cuEventCreate.invokeExact(phEvent, flags);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuEventDestroy_v2(MemorySegment hEvent) {
        try {
            return (int) H.cuEventDestroy.invokeExact(hEvent);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuEventRecord(MemorySegment hEvent, MemorySegment hStream) {
        try {
            return (int) H.cuEventRecord.invokeExact(hEvent, hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuEventSynchronize(MemorySegment hEvent) {
        try {
            return (int) H.cuEventSynchronize.invokeExact(hEvent);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuEventQuery(MemorySegment hEvent) {
        try {
            return (int) H.cuEventQuery.invokeExact(hEvent);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuEventElapsedTime_v2(MemorySegment pMilliseconds, MemorySegment hStart, MemorySegment hEnd) {
        try {
            return (int) H.cuEventElapsedTime.invokeExact(pMilliseconds, hStart, hEnd);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuDeviceGetDefaultMemPool(MemorySegment poolOut, int dev) {
        try {
            return (int) H.cuDeviceGetDefaultMemPool.invokeExact(poolOut, dev);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemPoolSetAttribute(MemorySegment pool, int attr, MemorySegment value) {
        try {
            return (int) H.cuMemPoolSetAttribute.invokeExact(pool, attr, value);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemPoolGetAttribute(MemorySegment pool, int attr, MemorySegment value) {
        try {
            return (int) H.cuMemPoolGetAttribute.invokeExact(pool, attr, value);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemPoolTrimTo(MemorySegment pool, long minBytesToKeep) {
        try {
            return (int) H.cuMemPoolTrimTo.invokeExact(pool, minBytesToKeep);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemAllocAsync(MemorySegment dptr, long bytesize, MemorySegment hStream) {
        try {
            return (int) H.cuMemAllocAsync.invokeExact(dptr, bytesize, hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemFreeAsync(long dptr, MemorySegment hStream) {
        try {
            return (int) H.cuMemFreeAsync.invokeExact(dptr, hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemAlloc_v2(MemorySegment dptr, long bytesize) {
        try {
            return (int) H.cuMemAlloc.invokeExact(dptr, bytesize);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemFree_v2(long dptr) {
        try {
            return (int) H.cuMemFree.invokeExact(dptr);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemGetInfo_v2(MemorySegment free, MemorySegment total) {
        try {
            return (int) H.cuMemGetInfo.invokeExact(free, total);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemcpyHtoDAsync_v2(long dstDevice, MemorySegment srcHost, long byteCount,
                                           MemorySegment hStream) {
        try {
            return (int) H.cuMemcpyHtoDAsync.invokeExact(dstDevice, srcHost, byteCount, hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemcpyDtoHAsync_v2(MemorySegment dstHost, long srcDevice, long byteCount,
                                           MemorySegment hStream) {
        try {
            return (int) H.cuMemcpyDtoHAsync.invokeExact(dstHost, srcDevice, byteCount, hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemcpyDtoDAsync_v2(long dstDevice, long srcDevice, long byteCount, MemorySegment hStream) {
        try {
            return (int) H.cuMemcpyDtoDAsync.invokeExact(dstDevice, srcDevice, byteCount, hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemsetD8Async(long dstDevice, byte uc, long n, MemorySegment hStream) {
        try {
            return (int) H.cuMemsetD8Async.invokeExact(dstDevice, uc, n, hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemsetD32Async(long dstDevice, int ui, long n, MemorySegment hStream) {
        try {
            return (int) H.cuMemsetD32Async.invokeExact(dstDevice, ui, n, hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemHostAlloc(MemorySegment pp, long bytesize, int flags) {
        try {
            return (int) H.cuMemHostAlloc.invokeExact(pp, bytesize, flags);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemFreeHost(MemorySegment p) {
        try {
            return (int) H.cuMemFreeHost.invokeExact(p);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemHostRegister_v2(MemorySegment p, long bytesize, int flags) {
        try {
            return (int) H.cuMemHostRegister.invokeExact(p, bytesize, flags);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuMemHostUnregister(MemorySegment p) {
        try {
            return (int) H.cuMemHostUnregister.invokeExact(p);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuModuleLoadData(MemorySegment module, MemorySegment image) {
        try {
            return (int) H.cuModuleLoadData.invokeExact(module, image);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuModuleUnload(MemorySegment hmod) {
        try {
            return (int) H.cuModuleUnload.invokeExact(hmod);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuModuleGetFunction(MemorySegment hfunc, MemorySegment hmod, MemorySegment name) {
        try {
            return (int) H.cuModuleGetFunction.invokeExact(hfunc, hmod, name);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuFuncSetAttribute(MemorySegment hfunc, int attrib, int value) {
        try {
            return (int) H.cuFuncSetAttribute.invokeExact(hfunc, attrib, value);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuFuncGetAttribute(MemorySegment pi, int attrib, MemorySegment hfunc) {
        try {
            return (int) H.cuFuncGetAttribute.invokeExact(pi, attrib, hfunc);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuLaunchKernel(MemorySegment f, int gridDimX, int gridDimY, int gridDimZ, int blockDimX,
                                     int blockDimY, int blockDimZ, int sharedMemBytes, MemorySegment hStream,
                                     MemorySegment kernelParams, MemorySegment extra) {
        try {
            return (int) H.cuLaunchKernel.invokeExact(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
                    sharedMemBytes, hStream, kernelParams, extra);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuStreamBeginCapture_v2(MemorySegment hStream, int mode) {
        try {
            return (int) H.cuStreamBeginCapture.invokeExact(hStream, mode);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuStreamEndCapture(MemorySegment hStream, MemorySegment phGraph) {
        try {
            return (int) H.cuStreamEndCapture.invokeExact(hStream, phGraph);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuGraphInstantiateWithFlags(MemorySegment phGraphExec, MemorySegment hGraph, long flags) {
        try {
            return (int) H.cuGraphInstantiate.invokeExact(phGraphExec, hGraph, flags);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuGraphLaunch(MemorySegment hGraphExec, MemorySegment hStream) {
        try {
            return (int) H.cuGraphLaunch.invokeExact(hGraphExec, hStream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuGraphExecDestroy(MemorySegment hGraphExec) {
        try {
            return (int) H.cuGraphExecDestroy.invokeExact(hGraphExec);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int cuGraphDestroy(MemorySegment hGraph) {
        try {
            return (int) H.cuGraphDestroy.invokeExact(hGraph);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }
}
