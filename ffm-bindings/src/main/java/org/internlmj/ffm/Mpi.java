package org.internlmj.ffm;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Open MPI ({@code mpi.h}, libmpi.so.40) through FFM, in jextract's shape: one static method per C
 * function, returning the raw MPI return code; constants as {@code static final int}. Only the calls
 * the engine uses are declared. Error checks and lifetimes are the caller's business (dist's
 * {@code MpiProcessGroup}).
 *
 * <p>MPI handles ({@code MPI_Comm}, {@code MPI_Datatype}, {@code MPI_Op}, {@code MPI_Request}, ...) are
 * pointers in Open MPI and appear here as {@link MemorySegment} addresses. The predefined ones are
 * addresses of global symbols ({@code MPI_COMM_WORLD} is {@code &ompi_mpi_comm_world}): that is Open
 * MPI's ABI, not the MPI standard's (MPICH uses integers), and every such lookup is in
 * {@link #OPEN_MPI_HANDLES} and the accessors below it, nowhere else.
 *
 * <p>The library is opened on first use, {@code RTLD_GLOBAL} (Open MPI's plugins are under-linked);
 * where it is missing every call throws a {@link NativeLibraryException} saying where it was looked for.
 *
 * <pre>{@code
 * try (Arena a = Arena.ofConfined()) {
 *     MemorySegment provided = a.allocate(Mpi.C_INT);
 *     Mpi.MPI_Init_thread(MemorySegment.NULL, MemorySegment.NULL, Mpi.MPI_THREAD_MULTIPLE, provided);
 * }
 * }</pre>
 */
public final class Mpi {
    private Mpi() {
    }

    /** C {@code int}. */
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    /** C {@code double}. */
    public static final ValueLayout.OfDouble C_DOUBLE = ValueLayout.JAVA_DOUBLE;
    /** Any C pointer, including every Open MPI handle type. */
    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS;

    // ------------------------------------------------------------------ constants (Open MPI 4.x values)

    public static final int MPI_SUCCESS = 0;
    public static final int MPI_THREAD_SINGLE = 0;
    public static final int MPI_THREAD_FUNNELED = 1;
    public static final int MPI_THREAD_SERIALIZED = 2;
    public static final int MPI_THREAD_MULTIPLE = 3;
    public static final int MPI_ANY_SOURCE = -1;
    public static final int MPI_ANY_TAG = -1;
    public static final int MPI_UNDEFINED = -32766;
    public static final int MPI_MAX_PROCESSOR_NAME = 256;
    public static final int MPI_MAX_ERROR_STRING = 256;

    /** {@code sizeof(MPI_Status)}: source, tag, error, cancelled (ints), then a {@code size_t} count. */
    public static final int SIZEOF_MPI_STATUS = 24;
    /** {@code sizeof} every handle type ({@code MPI_Comm}, {@code MPI_Request}, ...): a pointer. */
    public static final int SIZEOF_HANDLE = 8;
    /** Byte offset of {@code MPI_SOURCE} in an {@code MPI_Status}. */
    public static final int STATUS_SOURCE_OFFSET = 0;
    /** Byte offset of {@code MPI_TAG} in an {@code MPI_Status}. */
    public static final int STATUS_TAG_OFFSET = 4;
    /** Byte offset of {@code MPI_ERROR} in an {@code MPI_Status}. */
    public static final int STATUS_ERROR_OFFSET = 8;

    /** {@code MPI_IN_PLACE}: the address 1, not a symbol. */
    public static final MemorySegment MPI_IN_PLACE = MemorySegment.ofAddress(1);
    /** {@code MPI_STATUS_IGNORE}: NULL. */
    public static final MemorySegment MPI_STATUS_IGNORE = MemorySegment.NULL;

    /**
     * Every predefined handle this class exposes: the {@code mpi.h} macro and the Open MPI global symbol
     * whose address it is. The header test checks each against the real header's macro expansion.
     */
    public static final Map<String, String> OPEN_MPI_HANDLES = Collections.unmodifiableMap(handles());

    private static Map<String, String> handles() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("MPI_COMM_WORLD", "ompi_mpi_comm_world");
        m.put("MPI_COMM_NULL", "ompi_mpi_comm_null");
        m.put("MPI_REQUEST_NULL", "ompi_request_null");
        m.put("MPI_BYTE", "ompi_mpi_byte");
        m.put("MPI_INT", "ompi_mpi_int");
        m.put("MPI_INT64_T", "ompi_mpi_int64_t");
        m.put("MPI_UINT16_T", "ompi_mpi_uint16_t");
        m.put("MPI_FLOAT", "ompi_mpi_float");
        m.put("MPI_DOUBLE", "ompi_mpi_double");
        m.put("MPI_SUM", "ompi_mpi_op_sum");
        m.put("MPI_MAX", "ompi_mpi_op_max");
        m.put("MPI_ERRORS_RETURN", "ompi_mpi_errors_return");
        m.put("MPI_ERRORS_ARE_FATAL", "ompi_mpi_errors_are_fatal");
        return m;
    }

    private static final Map<String, MemorySegment> HANDLE_CACHE = new ConcurrentHashMap<>();

    /** The address of the predefined handle named by its {@code mpi.h} macro, e.g. {@code "MPI_FLOAT"}. */
    public static MemorySegment predefined(String macro) {
        String symbol = OPEN_MPI_HANDLES.get(macro);
        if (symbol == null) {
            throw new IllegalArgumentException("no predefined Open MPI handle " + macro + " is declared; known: "
                    + OPEN_MPI_HANDLES.keySet());
        }
        return HANDLE_CACHE.computeIfAbsent(macro, k -> {
            NativeLibrary lib = library();
            if (!lib.hasSymbol(symbol)) {
                throw new NativeLibraryException(lib.path() + " has no symbol " + symbol + " (" + macro
                        + "): it is not Open MPI; only Open MPI's ABI (libmpi.so.40) is supported");
            }
            return lib.symbol(symbol);
        });
    }

    public static MemorySegment MPI_COMM_WORLD() {
        return predefined("MPI_COMM_WORLD");
    }

    public static MemorySegment MPI_COMM_NULL() {
        return predefined("MPI_COMM_NULL");
    }

    public static MemorySegment MPI_REQUEST_NULL() {
        return predefined("MPI_REQUEST_NULL");
    }

    public static MemorySegment MPI_BYTE() {
        return predefined("MPI_BYTE");
    }

    public static MemorySegment MPI_INT() {
        return predefined("MPI_INT");
    }

    public static MemorySegment MPI_INT64_T() {
        return predefined("MPI_INT64_T");
    }

    public static MemorySegment MPI_UINT16_T() {
        return predefined("MPI_UINT16_T");
    }

    public static MemorySegment MPI_FLOAT() {
        return predefined("MPI_FLOAT");
    }

    public static MemorySegment MPI_DOUBLE() {
        return predefined("MPI_DOUBLE");
    }

    public static MemorySegment MPI_SUM() {
        return predefined("MPI_SUM");
    }

    public static MemorySegment MPI_MAX() {
        return predefined("MPI_MAX");
    }

    public static MemorySegment MPI_ERRORS_RETURN() {
        return predefined("MPI_ERRORS_RETURN");
    }

    public static MemorySegment MPI_ERRORS_ARE_FATAL() {
        return predefined("MPI_ERRORS_ARE_FATAL");
    }

    // ------------------------------------------------------------------ library

    private static volatile NativeLibrary library;

    /** Opens libmpi (once) or throws {@link NativeLibraryException} saying where it was looked for. */
    public static NativeLibrary library() {
        NativeLibrary lib = library;
        if (lib == null) {
            synchronized (Mpi.class) {
                lib = library;
                if (lib == null) {
                    lib = NativeLibrary.load(KnownLibraries.MPI);
                    library = lib;
                }
            }
        }
        return lib;
    }

    /** Whether libmpi can be found and opened here, without throwing. */
    public static boolean isAvailable() {
        try {
            library();
            return true;
        } catch (NativeLibraryException e) {
            return false;
        }
    }

    /**
     * A declared function: its C prototype with the types {@code mpi.h} gives it, and the FFM descriptor
     * that must agree with it. The header test redeclares the
     * prototype after {@code #include <mpi.h>}, so a mismatch with the header is a compile error, and
     * checks the descriptor against the prototype's C types.
     */
    public static final class Binding {
        private final String name;
        private final String prototype;
        private final FunctionDescriptor descriptor;
        private volatile MethodHandle handle;

        private Binding(String name, String prototype, FunctionDescriptor descriptor) {
            this.name = name;
            this.prototype = prototype;
            this.descriptor = descriptor;
        }

        public String name() {
            return name;
        }

        /** The C prototype, e.g. {@code int MPI_Barrier(MPI_Comm comm)}. */
        public String prototype() {
            return prototype;
        }

        public FunctionDescriptor descriptor() {
            return descriptor;
        }

        MethodHandle handle() {
            MethodHandle h = handle;
            if (h == null) {
                h = library().downcall(name, descriptor);
                handle = h;
            }
            return h;
        }
    }

    private static final List<Binding> BINDINGS = new ArrayList<>();

    private static Binding bind(String prototype, FunctionDescriptor descriptor) {
        int paren = prototype.indexOf('(');
        String head = prototype.substring(0, paren).trim();
        String name = head.substring(head.lastIndexOf(' ') + 1);
        Binding b = new Binding(name, prototype, descriptor);
        BINDINGS.add(b);
        return b;
    }

    /** Every function declared here, in declaration order (for the header test). */
    public static List<Binding> bindings() {
        return Collections.unmodifiableList(BINDINGS);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("MPI downcall failed: " + t, t);
    }

    // ------------------------------------------------------------------ environment

    private static final Binding MPI_Init_thread$ = bind(
            "int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_INT, C_POINTER));

    public static int MPI_Init_thread(MemorySegment argc, MemorySegment argv, int required, MemorySegment provided) {
        try {
            return (int) MPI_Init_thread$.handle().invokeExact(argc, argv, required, provided);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Initialized$ = bind("int MPI_Initialized(int *flag)",
            FunctionDescriptor.of(C_INT, C_POINTER));

    public static int MPI_Initialized(MemorySegment flag) {
        try {
            return (int) MPI_Initialized$.handle().invokeExact(flag);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Finalize$ = bind("int MPI_Finalize(void)", FunctionDescriptor.of(C_INT));

    public static int MPI_Finalize() {
        try {
            return (int) MPI_Finalize$.handle().invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Finalized$ = bind("int MPI_Finalized(int *flag)",
            FunctionDescriptor.of(C_INT, C_POINTER));

    public static int MPI_Finalized(MemorySegment flag) {
        try {
            return (int) MPI_Finalized$.handle().invokeExact(flag);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Query_thread$ = bind("int MPI_Query_thread(int *provided)",
            FunctionDescriptor.of(C_INT, C_POINTER));

    public static int MPI_Query_thread(MemorySegment provided) {
        try {
            return (int) MPI_Query_thread$.handle().invokeExact(provided);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Abort$ = bind("int MPI_Abort(MPI_Comm comm, int errorcode)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_INT));

    public static int MPI_Abort(MemorySegment comm, int errorcode) {
        try {
            return (int) MPI_Abort$.handle().invokeExact(comm, errorcode);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Get_processor_name$ = bind(
            "int MPI_Get_processor_name(char *name, int *resultlen)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER));

    /** {@code name} must hold {@link #MPI_MAX_PROCESSOR_NAME} bytes. */
    public static int MPI_Get_processor_name(MemorySegment name, MemorySegment resultlen) {
        try {
            return (int) MPI_Get_processor_name$.handle().invokeExact(name, resultlen);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Error_string$ = bind(
            "int MPI_Error_string(int errorcode, char *string, int *resultlen)",
            FunctionDescriptor.of(C_INT, C_INT, C_POINTER, C_POINTER));

    /** {@code string} must hold {@link #MPI_MAX_ERROR_STRING} bytes. */
    public static int MPI_Error_string(int errorcode, MemorySegment string, MemorySegment resultlen) {
        try {
            return (int) MPI_Error_string$.handle().invokeExact(errorcode, string, resultlen);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Wtime$ = bind("double MPI_Wtime(void)", FunctionDescriptor.of(C_DOUBLE));

    public static double MPI_Wtime() {
        try {
            return (double) MPI_Wtime$.handle().invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ------------------------------------------------------------------ communicators

    private static final Binding MPI_Comm_rank$ = bind("int MPI_Comm_rank(MPI_Comm comm, int *rank)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER));

    public static int MPI_Comm_rank(MemorySegment comm, MemorySegment rank) {
        try {
            return (int) MPI_Comm_rank$.handle().invokeExact(comm, rank);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Comm_size$ = bind("int MPI_Comm_size(MPI_Comm comm, int *size)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER));

    public static int MPI_Comm_size(MemorySegment comm, MemorySegment size) {
        try {
            return (int) MPI_Comm_size$.handle().invokeExact(comm, size);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Comm_split$ = bind(
            "int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_INT, C_POINTER));

    public static int MPI_Comm_split(MemorySegment comm, int color, int key, MemorySegment newcomm) {
        try {
            return (int) MPI_Comm_split$.handle().invokeExact(comm, color, key, newcomm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Comm_dup$ = bind("int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER));

    public static int MPI_Comm_dup(MemorySegment comm, MemorySegment newcomm) {
        try {
            return (int) MPI_Comm_dup$.handle().invokeExact(comm, newcomm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Comm_free$ = bind("int MPI_Comm_free(MPI_Comm *comm)",
            FunctionDescriptor.of(C_INT, C_POINTER));

    public static int MPI_Comm_free(MemorySegment comm) {
        try {
            return (int) MPI_Comm_free$.handle().invokeExact(comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Comm_set_errhandler$ = bind(
            "int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER));

    public static int MPI_Comm_set_errhandler(MemorySegment comm, MemorySegment errhandler) {
        try {
            return (int) MPI_Comm_set_errhandler$.handle().invokeExact(comm, errhandler);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ------------------------------------------------------------------ collectives

    private static final Binding MPI_Allreduce$ = bind(
            "int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, "
                    + "MPI_Comm comm)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_INT, C_POINTER, C_POINTER, C_POINTER));

    public static int MPI_Allreduce(MemorySegment sendbuf, MemorySegment recvbuf, int count, MemorySegment datatype,
                                    MemorySegment op, MemorySegment comm) {
        try {
            return (int) MPI_Allreduce$.handle().invokeExact(sendbuf, recvbuf, count, datatype, op, comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Iallreduce$ = bind(
            "int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, "
                    + "MPI_Comm comm, MPI_Request *request)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_INT, C_POINTER, C_POINTER, C_POINTER, C_POINTER));

    public static int MPI_Iallreduce(MemorySegment sendbuf, MemorySegment recvbuf, int count, MemorySegment datatype,
                                     MemorySegment op, MemorySegment comm, MemorySegment request) {
        try {
            return (int) MPI_Iallreduce$.handle().invokeExact(sendbuf, recvbuf, count, datatype, op, comm, request);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Reduce_scatter_block$ = bind(
            "int MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount, MPI_Datatype datatype, "
                    + "MPI_Op op, MPI_Comm comm)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_INT, C_POINTER, C_POINTER, C_POINTER));

    public static int MPI_Reduce_scatter_block(MemorySegment sendbuf, MemorySegment recvbuf, int recvcount,
                                               MemorySegment datatype, MemorySegment op, MemorySegment comm) {
        try {
            return (int) MPI_Reduce_scatter_block$.handle().invokeExact(sendbuf, recvbuf, recvcount, datatype, op,
                    comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Ireduce_scatter_block$ = bind(
            "int MPI_Ireduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount, "
                    + "MPI_Datatype datatype, MPI_Op op, MPI_Comm comm, MPI_Request *request)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_INT, C_POINTER, C_POINTER, C_POINTER, C_POINTER));

    public static int MPI_Ireduce_scatter_block(MemorySegment sendbuf, MemorySegment recvbuf, int recvcount,
                                                MemorySegment datatype, MemorySegment op, MemorySegment comm,
                                                MemorySegment request) {
        try {
            return (int) MPI_Ireduce_scatter_block$.handle().invokeExact(sendbuf, recvbuf, recvcount, datatype, op,
                    comm, request);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Allgather$ = bind(
            "int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, "
                    + "int recvcount, MPI_Datatype recvtype, MPI_Comm comm)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_POINTER, C_POINTER, C_INT, C_POINTER, C_POINTER));

    public static int MPI_Allgather(MemorySegment sendbuf, int sendcount, MemorySegment sendtype,
                                    MemorySegment recvbuf, int recvcount, MemorySegment recvtype, MemorySegment comm) {
        try {
            return (int) MPI_Allgather$.handle().invokeExact(sendbuf, sendcount, sendtype, recvbuf, recvcount,
                    recvtype, comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Iallgather$ = bind(
            "int MPI_Iallgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, "
                    + "int recvcount, MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_POINTER, C_POINTER, C_INT, C_POINTER, C_POINTER,
                    C_POINTER));

    public static int MPI_Iallgather(MemorySegment sendbuf, int sendcount, MemorySegment sendtype,
                                     MemorySegment recvbuf, int recvcount, MemorySegment recvtype, MemorySegment comm,
                                     MemorySegment request) {
        try {
            return (int) MPI_Iallgather$.handle().invokeExact(sendbuf, sendcount, sendtype, recvbuf, recvcount,
                    recvtype, comm, request);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Bcast$ = bind(
            "int MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_POINTER, C_INT, C_POINTER));

    public static int MPI_Bcast(MemorySegment buffer, int count, MemorySegment datatype, int root,
                                MemorySegment comm) {
        try {
            return (int) MPI_Bcast$.handle().invokeExact(buffer, count, datatype, root, comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Ibcast$ = bind(
            "int MPI_Ibcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm, "
                    + "MPI_Request *request)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_POINTER, C_INT, C_POINTER, C_POINTER));

    public static int MPI_Ibcast(MemorySegment buffer, int count, MemorySegment datatype, int root,
                                 MemorySegment comm, MemorySegment request) {
        try {
            return (int) MPI_Ibcast$.handle().invokeExact(buffer, count, datatype, root, comm, request);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Barrier$ = bind("int MPI_Barrier(MPI_Comm comm)",
            FunctionDescriptor.of(C_INT, C_POINTER));

    public static int MPI_Barrier(MemorySegment comm) {
        try {
            return (int) MPI_Barrier$.handle().invokeExact(comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Ibarrier$ = bind("int MPI_Ibarrier(MPI_Comm comm, MPI_Request *request)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER));

    public static int MPI_Ibarrier(MemorySegment comm, MemorySegment request) {
        try {
            return (int) MPI_Ibarrier$.handle().invokeExact(comm, request);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ------------------------------------------------------------------ point to point and requests

    private static final Binding MPI_Isend$ = bind(
            "int MPI_Isend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm, "
                    + "MPI_Request *request)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_POINTER, C_INT, C_INT, C_POINTER, C_POINTER));

    public static int MPI_Isend(MemorySegment buf, int count, MemorySegment datatype, int dest, int tag,
                                MemorySegment comm, MemorySegment request) {
        try {
            return (int) MPI_Isend$.handle().invokeExact(buf, count, datatype, dest, tag, comm, request);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Irecv$ = bind(
            "int MPI_Irecv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm, "
                    + "MPI_Request *request)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_POINTER, C_INT, C_INT, C_POINTER, C_POINTER));

    public static int MPI_Irecv(MemorySegment buf, int count, MemorySegment datatype, int source, int tag,
                                MemorySegment comm, MemorySegment request) {
        try {
            return (int) MPI_Irecv$.handle().invokeExact(buf, count, datatype, source, tag, comm, request);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Test$ = bind("int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_POINTER));

    public static int MPI_Test(MemorySegment request, MemorySegment flag, MemorySegment status) {
        try {
            return (int) MPI_Test$.handle().invokeExact(request, flag, status);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Wait$ = bind("int MPI_Wait(MPI_Request *request, MPI_Status *status)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER));

    public static int MPI_Wait(MemorySegment request, MemorySegment status) {
        try {
            return (int) MPI_Wait$.handle().invokeExact(request, status);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Get_count$ = bind(
            "int MPI_Get_count(const MPI_Status *status, MPI_Datatype datatype, int *count)",
            FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_POINTER));

    public static int MPI_Get_count(MemorySegment status, MemorySegment datatype, MemorySegment count) {
        try {
            return (int) MPI_Get_count$.handle().invokeExact(status, datatype, count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final Binding MPI_Cancel$ = bind("int MPI_Cancel(MPI_Request *request)",
            FunctionDescriptor.of(C_INT, C_POINTER));

    public static int MPI_Cancel(MemorySegment request) {
        try {
            return (int) MPI_Cancel$.handle().invokeExact(request);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
