package org.internlmj.ffm.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
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
 * NCCL ({@code nccl.h}, {@code libnccl.so.2}) in jextract's shape: unique ids, communicator creation
 * per rank (and split), the collectives the engine uses (all-reduce, reduce-scatter, all-gather,
 * broadcast), point-to-point send/recv, group calls, asynchronous error queries and abort. Enum
 * constants keep NCCL's own (lower camel case) names, as jextract would.
 *
 * <pre>{@code
 * Nccl.check(Nccl.ncclAllReduce(buf, buf, n, Nccl.ncclFloat32, Nccl.ncclSum, comm, stream), "ncclAllReduce", comm);
 * }</pre>
 */
public final class Nccl {
    private Nccl() {
    }

    public static final int NCCL_UNIQUE_ID_BYTES = 128;
    public static final int NCCL_SPLIT_NOCOLOR = -1;

    public static final int ncclSuccess = 0;
    public static final int ncclUnhandledCudaError = 1;
    public static final int ncclSystemError = 2;
    public static final int ncclInternalError = 3;
    public static final int ncclInvalidArgument = 4;
    public static final int ncclInvalidUsage = 5;
    public static final int ncclRemoteError = 6;
    public static final int ncclInProgress = 7;

    public static final int ncclInt8 = 0;
    public static final int ncclUint8 = 1;
    public static final int ncclInt32 = 2;
    public static final int ncclUint32 = 3;
    public static final int ncclInt64 = 4;
    public static final int ncclUint64 = 5;
    public static final int ncclFloat16 = 6;
    public static final int ncclFloat32 = 7;
    public static final int ncclFloat64 = 8;
    public static final int ncclBfloat16 = 9;

    public static final int ncclSum = 0;
    public static final int ncclProd = 1;
    public static final int ncclMax = 2;
    public static final int ncclMin = 3;
    public static final int ncclAvg = 4;

    /** {@code ncclUniqueId}: 128 opaque bytes, passed by value to {@code ncclCommInitRank}. */
    public static final StructLayout UNIQUE_ID = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(NCCL_UNIQUE_ID_BYTES, JAVA_BYTE).withName("internal"));

    private static final CFunction GET_VERSION = CFunction.of("ncclResult_t ncclGetVersion(int *version)",
            JAVA_INT, ADDRESS);
    private static final CFunction GET_UNIQUE_ID = CFunction.of(
            "ncclResult_t ncclGetUniqueId(ncclUniqueId *uniqueId)", JAVA_INT, ADDRESS);
    private static final CFunction COMM_INIT_RANK = CFunction.of(
            "ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank)",
            JAVA_INT, ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT);
    private static final CFunction COMM_DESTROY = CFunction.of("ncclResult_t ncclCommDestroy(ncclComm_t comm)",
            JAVA_INT, ADDRESS);
    private static final CFunction COMM_ABORT = CFunction.of("ncclResult_t ncclCommAbort(ncclComm_t comm)",
            JAVA_INT, ADDRESS);
    private static final CFunction COMM_FINALIZE = CFunction.of("ncclResult_t ncclCommFinalize(ncclComm_t comm)",
            JAVA_INT, ADDRESS);
    private static final CFunction COMM_SPLIT = CFunction.of(
            "ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm, "
                    + "ncclConfig_t *config)", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction COMM_GET_ASYNC_ERROR = CFunction.of(
            "ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError)", JAVA_INT, ADDRESS,
            ADDRESS);
    private static final CFunction COMM_COUNT = CFunction.of(
            "ncclResult_t ncclCommCount(const ncclComm_t comm, int *count)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction COMM_USER_RANK = CFunction.of(
            "ncclResult_t ncclCommUserRank(const ncclComm_t comm, int *rank)", JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction GET_ERROR_STRING = CFunction.of(
            "const char * ncclGetErrorString(ncclResult_t result)", ADDRESS, JAVA_INT);
    private static final CFunction GET_LAST_ERROR = CFunction.of("const char * ncclGetLastError(ncclComm_t comm)",
            ADDRESS, ADDRESS);
    private static final CFunction ALL_REDUCE = CFunction.of(
            "ncclResult_t ncclAllReduce(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, "
                    + "ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream)",
            JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction REDUCE_SCATTER = CFunction.of(
            "ncclResult_t ncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount, "
                    + "ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream)",
            JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction ALL_GATHER = CFunction.of(
            "ncclResult_t ncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount, "
                    + "ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream)",
            JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction BROADCAST = CFunction.of(
            "ncclResult_t ncclBroadcast(const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, "
                    + "int root, ncclComm_t comm, cudaStream_t stream)",
            JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction SEND = CFunction.of(
            "ncclResult_t ncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype, int peer, "
                    + "ncclComm_t comm, cudaStream_t stream)", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS,
            ADDRESS);
    private static final CFunction RECV = CFunction.of(
            "ncclResult_t ncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer, ncclComm_t comm, "
                    + "cudaStream_t stream)", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    private static final CFunction GROUP_START = CFunction.of("ncclResult_t ncclGroupStart(void)", JAVA_INT);
    private static final CFunction GROUP_END = CFunction.of("ncclResult_t ncclGroupEnd(void)", JAVA_INT);

    private static final List<CFunction> FUNCTIONS = List.of(GET_VERSION, GET_UNIQUE_ID, COMM_INIT_RANK, COMM_DESTROY,
            COMM_ABORT, COMM_FINALIZE, COMM_SPLIT, COMM_GET_ASYNC_ERROR, COMM_COUNT, COMM_USER_RANK, GET_ERROR_STRING,
            GET_LAST_ERROR, ALL_REDUCE, REDUCE_SCATTER, ALL_GATHER, BROADCAST, SEND, RECV, GROUP_START, GROUP_END);

    /** Every C function this class binds, as declared in {@code nccl.h}. */
    public static List<CFunction> functions() {
        return FUNCTIONS;
    }

    /** The header the declarations come from. */
    public static HeaderCheck.Header header() {
        return new HeaderCheck.Header("NCCL", "nccl.h", List.of());
    }

    /** C expressions that must equal these values. */
    public static Map<String, Long> layoutChecks() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("sizeof(ncclUniqueId)", UNIQUE_ID.byteSize());
        return m;
    }

    private static final Downcalls.Loader LOADER = new Downcalls.Loader(KnownLibraries.NCCL, FUNCTIONS,
            "NCCL 2.18 or newer is needed");

    /**
     * Opens NCCL and checks every bound symbol (NCCL 2.18+), or throws {@link NativeLibraryException}.
     */
    public static NativeLibrary load() {
        return LOADER.get();
    }

    private static final class H {
        private static final NativeLibrary LIB = load();
        static final MethodHandle getVersion = Downcalls.handle(LIB, GET_VERSION);
        static final MethodHandle getUniqueId = Downcalls.handle(LIB, GET_UNIQUE_ID);
        static final MethodHandle commInitRank = Downcalls.handle(LIB, COMM_INIT_RANK);
        static final MethodHandle commDestroy = Downcalls.handle(LIB, COMM_DESTROY);
        static final MethodHandle commAbort = Downcalls.handle(LIB, COMM_ABORT);
        static final MethodHandle commFinalize = Downcalls.handle(LIB, COMM_FINALIZE);
        static final MethodHandle commSplit = Downcalls.handle(LIB, COMM_SPLIT);
        static final MethodHandle commGetAsyncError = Downcalls.handle(LIB, COMM_GET_ASYNC_ERROR);
        static final MethodHandle commCount = Downcalls.handle(LIB, COMM_COUNT);
        static final MethodHandle commUserRank = Downcalls.handle(LIB, COMM_USER_RANK);
        static final MethodHandle getErrorString = Downcalls.handle(LIB, GET_ERROR_STRING);
        static final MethodHandle getLastError = Downcalls.handle(LIB, GET_LAST_ERROR);
        static final MethodHandle allReduce = Downcalls.handle(LIB, ALL_REDUCE);
        static final MethodHandle reduceScatter = Downcalls.handle(LIB, REDUCE_SCATTER);
        static final MethodHandle allGather = Downcalls.handle(LIB, ALL_GATHER);
        static final MethodHandle broadcast = Downcalls.handle(LIB, BROADCAST);
        static final MethodHandle send = Downcalls.handle(LIB, SEND);
        static final MethodHandle recv = Downcalls.handle(LIB, RECV);
        static final MethodHandle groupStart = Downcalls.handle(LIB, GROUP_START);
        static final MethodHandle groupEnd = Downcalls.handle(LIB, GROUP_END);
    }

    /**
     * Throws an {@link NcclException} unless {@code status} is ncclSuccess; with a communicator, the
     * message adds NCCL's last error text for it.
     */
    public static void check(int status, String function, MemorySegment comm) {
        if (status != ncclSuccess) {
            String last = null;
            if (comm != null) {
                try {
                    last = Downcalls.string(ncclGetLastError(comm), null);
                } catch (RuntimeException | LinkageError e) {
                    last = null;
                }
            }
            throw new NcclException(function, status, name(status), errorString(status), last);
        }
    }

    /** The symbolic name of an {@code ncclResult_t}. */
    public static String name(int status) {
        return switch (status) {
            case ncclSuccess -> "ncclSuccess";
            case ncclUnhandledCudaError -> "ncclUnhandledCudaError";
            case ncclSystemError -> "ncclSystemError";
            case ncclInternalError -> "ncclInternalError";
            case ncclInvalidArgument -> "ncclInvalidArgument";
            case ncclInvalidUsage -> "ncclInvalidUsage";
            case ncclRemoteError -> "ncclRemoteError";
            case ncclInProgress -> "ncclInProgress";
            default -> "ncclResult_t " + status;
        };
    }

    /** {@code ncclGetErrorString}, or null when NCCL cannot be called. */
    public static String errorString(int status) {
        try {
            return Downcalls.string(ncclGetErrorString(status), null);
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    public static int ncclGetVersion(MemorySegment version) {
        try {
            return (int) H.getVersion.invokeExact(version);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclGetUniqueId(MemorySegment uniqueId) {
        try {
            return (int) H.getUniqueId.invokeExact(uniqueId);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    /** {@code commId} is a {@link #UNIQUE_ID} segment passed by value. */
    public static int ncclCommInitRank(MemorySegment comm, int nranks, MemorySegment commId, int rank) {
        try {
            return (int) H.commInitRank.invokeExact(comm, nranks, commId, rank);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclCommDestroy(MemorySegment comm) {
        try {
            return (int) H.commDestroy.invokeExact(comm);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclCommAbort(MemorySegment comm) {
        try {
            return (int) H.commAbort.invokeExact(comm);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclCommFinalize(MemorySegment comm) {
        try {
            return (int) H.commFinalize.invokeExact(comm);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    /** {@code config} may be NULL: the new communicator inherits the parent's configuration. */
    public static int ncclCommSplit(MemorySegment comm, int color, int key, MemorySegment newcomm,
                                    MemorySegment config) {
        try {
            return (int) H.commSplit.invokeExact(comm, color, key, newcomm, config);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclCommGetAsyncError(MemorySegment comm, MemorySegment asyncError) {
        try {
            return (int) H.commGetAsyncError.invokeExact(comm, asyncError);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclCommCount(MemorySegment comm, MemorySegment count) {
        try {
            return (int) H.commCount.invokeExact(comm, count);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclCommUserRank(MemorySegment comm, MemorySegment rank) {
        try {
            return (int) H.commUserRank.invokeExact(comm, rank);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static MemorySegment ncclGetErrorString(int result) {
        try {
            return (MemorySegment) H.getErrorString.invokeExact(result);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static MemorySegment ncclGetLastError(MemorySegment comm) {
        try {
            return (MemorySegment) H.getLastError.invokeExact(comm);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclAllReduce(MemorySegment sendbuff, MemorySegment recvbuff, long count, int datatype, int op,
                                    MemorySegment comm, MemorySegment stream) {
        try {
            return (int) H.allReduce.invokeExact(sendbuff, recvbuff, count, datatype, op, comm, stream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclReduceScatter(MemorySegment sendbuff, MemorySegment recvbuff, long recvcount, int datatype,
                                        int op, MemorySegment comm, MemorySegment stream) {
        try {
            return (int) H.reduceScatter.invokeExact(sendbuff, recvbuff, recvcount, datatype, op, comm, stream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclAllGather(MemorySegment sendbuff, MemorySegment recvbuff, long sendcount, int datatype,
                                    MemorySegment comm, MemorySegment stream) {
        try {
            return (int) H.allGather.invokeExact(sendbuff, recvbuff, sendcount, datatype, comm, stream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclBroadcast(MemorySegment sendbuff, MemorySegment recvbuff, long count, int datatype, int root,
                                    MemorySegment comm, MemorySegment stream) {
        try {
            return (int) H.broadcast.invokeExact(sendbuff, recvbuff, count, datatype, root, comm, stream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclSend(MemorySegment sendbuff, long count, int datatype, int peer, MemorySegment comm,
                               MemorySegment stream) {
        try {
            return (int) H.send.invokeExact(sendbuff, count, datatype, peer, comm, stream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclRecv(MemorySegment recvbuff, long count, int datatype, int peer, MemorySegment comm,
                               MemorySegment stream) {
        try {
            return (int) H.recv.invokeExact(recvbuff, count, datatype, peer, comm, stream);
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclGroupStart() {
        try {
            return (int) H.groupStart.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }

    public static int ncclGroupEnd() {
        try {
            return (int) H.groupEnd.invokeExact();
        } catch (Throwable t) {
            throw Downcalls.unchecked(t);
        }
    }
}
