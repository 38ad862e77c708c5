package org.internlmj.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.internlmj.dist.MpiStaging.Wire;
import org.internlmj.ffm.Mpi;

/**
 * One MPI communicator and the checked calls the process group makes on it. Every call that passes a
 * buffer first checks that {@code count} elements fit the segment: FFM hands MPI a bare pointer, and a
 * wrong count would let MPI write past the buffer into the JVM's memory (MEASURED.md: it crashed the
 * JVM). Every return code is checked and names the call.
 */
final class MpiComm {
    private final MemorySegment handle;
    private final int rank;
    private final int size;
    private final String name;

    private MpiComm(MemorySegment handle, String name) {
        this.handle = handle;
        this.name = name;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(Mpi.C_INT);
            MpiException.check(Mpi.MPI_Comm_rank(handle, out), "MPI_Comm_rank", name);
            this.rank = out.get(Mpi.C_INT, 0);
            MpiException.check(Mpi.MPI_Comm_size(handle, out), "MPI_Comm_size", name);
            this.size = out.get(Mpi.C_INT, 0);
        }
        // Argument errors come back as codes (and so as exceptions naming the call) instead of killing
        // the job; faults of other ranks are not reported this way (MEASURED.md), the watchdog does that.
        MpiException.check(Mpi.MPI_Comm_set_errhandler(handle, Mpi.MPI_ERRORS_RETURN()), "MPI_Comm_set_errhandler", name);
    }

    /** A private duplicate of {@code parent}, so that nothing else's traffic can match ours. */
    static MpiComm dup(MemorySegment parent, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(Mpi.C_POINTER);
            MpiException.check(Mpi.MPI_Comm_dup(parent, out), "MPI_Comm_dup", name);
            return new MpiComm(out.get(Mpi.C_POINTER, 0), name);
        }
    }

    /** {@code MPI_Comm_split}; null where this rank's color is {@code MPI_UNDEFINED}. */
    MpiComm split(int color, int key, String childName) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(Mpi.C_POINTER);
            MpiException.check(Mpi.MPI_Comm_split(handle, color, key, out), "MPI_Comm_split", name);
            MemorySegment child = out.get(Mpi.C_POINTER, 0);
            if (child.equals(Mpi.MPI_COMM_NULL())) {
                return null;
            }
            return new MpiComm(child, childName);
        }
    }

    void free() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(Mpi.C_POINTER);
            slot.set(Mpi.C_POINTER, 0, handle);
            MpiException.check(Mpi.MPI_Comm_free(slot), "MPI_Comm_free", name);
        }
    }

    MemorySegment handle() {
        return handle;
    }

    int rank() {
        return rank;
    }

    int size() {
        return size;
    }

    // ------------------------------------------------------------------ blocking collectives

    void allReduce(MemorySegment buf, int count, Wire wire, MemorySegment op) {
        checkFits("MPI_Allreduce", buf, count, wire);
        MpiException.check(Mpi.MPI_Allreduce(Mpi.MPI_IN_PLACE, buf, count, wire.mpiType(), op, handle),
                "MPI_Allreduce", name);
    }

    /** In place: {@code buf} holds {@code size * count} elements; the first {@code count} become the result. */
    void reduceScatterBlock(MemorySegment buf, int count, Wire wire, MemorySegment op) {
        checkFits("MPI_Reduce_scatter_block", buf, (long) count * size, wire);
        MpiException.check(Mpi.MPI_Reduce_scatter_block(Mpi.MPI_IN_PLACE, buf, count, wire.mpiType(), op, handle),
                "MPI_Reduce_scatter_block", name);
    }

    /** In place: this rank's {@code count} elements already sit at {@code rank * count} in {@code buf}. */
    void allGather(MemorySegment buf, int count, Wire wire) {
        checkFits("MPI_Allgather", buf, (long) count * size, wire);
        MpiException.check(Mpi.MPI_Allgather(Mpi.MPI_IN_PLACE, 0, wire.mpiType(), buf, count, wire.mpiType(), handle),
                "MPI_Allgather", name);
    }

    void broadcast(MemorySegment buf, int count, Wire wire, int root) {
        checkFits("MPI_Bcast", buf, count, wire);
        MpiException.check(Mpi.MPI_Bcast(buf, count, wire.mpiType(), root, handle), "MPI_Bcast", name);
    }

    void barrier() {
        MpiException.check(Mpi.MPI_Barrier(handle), "MPI_Barrier", name);
    }

    // ------------------------------------------------------------------ nonblocking point to point

    /** Posts a send; the request handle is written into {@code request} (an 8-byte slot). */
    void isend(MemorySegment buf, int count, Wire wire, int dest, int tag, MemorySegment request) {
        checkFits("MPI_Isend", buf, count, wire);
        MpiException.check(Mpi.MPI_Isend(buf, count, wire.mpiType(), dest, tag, handle, request), "MPI_Isend", name);
    }

    /** Posts a receive of up to {@code count} elements. */
    void irecv(MemorySegment buf, int count, Wire wire, int source, int tag, MemorySegment request) {
        checkFits("MPI_Irecv", buf, count, wire);
        MpiException.check(Mpi.MPI_Irecv(buf, count, wire.mpiType(), source, tag, handle, request), "MPI_Irecv", name);
    }

    private void checkFits(String function, MemorySegment buf, long count, Wire wire) {
        checkFits(function + " on " + name, buf, count, wire.elementBytes());
    }

    /** Throws unless {@code count} elements of {@code elementBytes} fit {@code buf} and MPI's int count. */
    static void checkFits(String what, MemorySegment buf, long count, int elementBytes) {
        if (count < 0 || count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(what + ": count " + count + " is outside MPI's int range");
        }
        long bytes = count * elementBytes;
        if (bytes > buf.byteSize()) {
            throw new IllegalStateException(what + ": " + count + " elements of " + elementBytes
                    + " bytes do not fit the " + buf.byteSize() + "-byte buffer");
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
