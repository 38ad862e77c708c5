package org.internlmj.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.internlmj.ffm.Mpi;
import org.internlmj.ffm.NativeLibraryException;

/**
 * What one process has of MPI, once: initialization ({@code MPI_THREAD_MULTIPLE}, since the group
 * threads, the progress thread and the watchdog all call MPI), the world and control communicators,
 * every rank's pid and host (for messages), the staging pool, the progress thread, the watchdog, the
 * registry of live groups the side channel answers about, and finalization.
 */
final class MpiRuntime {
    /** Exit code of a job the watchdog aborts (EX_SOFTWARE). */
    static final int ABORT_CODE = 70;
    private static final int IDENTITY_BYTES = 256;

    final MpiComm world;
    final MpiComm control;
    final MpiStaging staging = new MpiStaging();
    final MpiProgress progress;
    final MpiWatchdog watchdog;
    final boolean abortOnTimeout;
    final long[] pids;
    final String[] hosts;
    /** Operations in MPI's hands right now, for the watchdog. */
    final Set<MpiOp> running = ConcurrentHashMap.newKeySet();
    private final Map<Long, MpiProcessGroup> groups = new ConcurrentHashMap<>();
    private final boolean initializedHere;
    private volatile boolean finalized;

    private MpiRuntime(boolean abortOnTimeout) {
        this.abortOnTimeout = abortOnTimeout;
        try {
            Mpi.library();
        } catch (NativeLibraryException e) {
            throw new NativeLibraryException("the MPI process group needs Open MPI's libmpi: " + e.getMessage()
                    + ". Install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev) or put the "
                    + "folder holding libmpi.so.40 on LD_LIBRARY_PATH");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment flag = a.allocate(Mpi.C_INT);
            MpiException.check(Mpi.MPI_Initialized(flag), "MPI_Initialized", "start-up");
            MemorySegment provided = a.allocate(Mpi.C_INT);
            if (flag.get(Mpi.C_INT, 0) == 0) {
                MpiException.check(Mpi.MPI_Init_thread(MemorySegment.NULL, MemorySegment.NULL, Mpi.MPI_THREAD_MULTIPLE,
                        provided), "MPI_Init_thread", "start-up");
                initializedHere = true;
            } else {
                MpiException.check(Mpi.MPI_Query_thread(provided), "MPI_Query_thread", "start-up");
                initializedHere = false;
            }
            if (provided.get(Mpi.C_INT, 0) != Mpi.MPI_THREAD_MULTIPLE) {
                throw new IllegalStateException("MPI provides thread level " + provided.get(Mpi.C_INT, 0)
                        + ", the process group needs MPI_THREAD_MULTIPLE (" + Mpi.MPI_THREAD_MULTIPLE
                        + "): its group threads, progress thread and watchdog call MPI concurrently"
                        + (initializedHere ? "" : " (MPI was initialized by someone else with a lower level)"));
            }
        }
        this.world = MpiComm.dup(Mpi.MPI_COMM_WORLD(), "world");
        this.control = MpiComm.dup(Mpi.MPI_COMM_WORLD(), "the watchdog's side channel");
        this.pids = new long[world.size()];
        this.hosts = new String[world.size()];
        exchangeIdentities();
        this.progress = new MpiProgress(control, staging, this::answer);
        this.watchdog = new MpiWatchdog(this);
    }

    static MpiRuntime start(boolean abortOnTimeout) {
        return new MpiRuntime(abortOnTimeout);
    }

    /** Every rank's pid and processor name, so that a report can say which process to look at. */
    private void exchangeIdentities() {
        int n = world.size();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment all = a.allocate((long) IDENTITY_BYTES * n, 8);
            MemorySegment mine = all.asSlice((long) IDENTITY_BYTES * control.rank(), IDENTITY_BYTES);
            mine.set(ValueLayout.JAVA_LONG, 0, ProcessHandle.current().pid());
            MemorySegment name = a.allocate(Mpi.MPI_MAX_PROCESSOR_NAME);
            MemorySegment length = a.allocate(Mpi.C_INT);
            MpiException.check(Mpi.MPI_Get_processor_name(name, length), "MPI_Get_processor_name", "start-up");
            byte[] host = name.getString(0).getBytes(StandardCharsets.UTF_8);
            int len = Math.min(host.length, IDENTITY_BYTES - 9);
            MemorySegment.copy(host, 0, mine, ValueLayout.JAVA_BYTE, 8, len);
            MpiComm.checkFits("MPI_Allgather of rank identities", all, (long) IDENTITY_BYTES * n, 1);
            MpiException.check(Mpi.MPI_Allgather(Mpi.MPI_IN_PLACE, 0, Mpi.MPI_BYTE(), all, IDENTITY_BYTES, Mpi.MPI_BYTE(),
                    control.handle()), "MPI_Allgather", "exchanging rank identities at start-up");
            for (int r = 0; r < n; r++) {
                MemorySegment rec = all.asSlice((long) IDENTITY_BYTES * r, IDENTITY_BYTES);
                pids[r] = rec.get(ValueLayout.JAVA_LONG, 0);
                hosts[r] = rec.getString(8);
            }
        }
    }

    void register(MpiProcessGroup g) {
        groups.put(g.id(), g);
    }

    void unregister(MpiProcessGroup g) {
        groups.remove(g.id(), g);
    }

    /** Live groups other than the world group, newest first (children close before their parents). */
    java.util.List<MpiProcessGroup> subgroups() {
        java.util.List<MpiProcessGroup> list = new java.util.ArrayList<>();
        for (MpiProcessGroup g : groups.values()) {
            if (g.id() != MpiProcessGroup.WORLD_ID) {
                list.add(g);
            }
        }
        list.sort((x, y) -> Long.compare(y.createdAt(), x.createdAt()));
        return list;
    }

    /** The side channel's answer to another rank's watchdog (runs on the progress thread). */
    private long[] answer(long[] query) {
        MpiProcessGroup g = groups.get(query[1]);
        if (g == null) {
            return new long[MpiProgress.WORDS];
        }
        return g.answer(query);
    }

    /** Ends the whole job from this process: MPI cannot cancel a collective that another rank never joins. */
    void abort() {
        Thread aborter = new Thread(() -> Mpi.MPI_Abort(Mpi.MPI_COMM_WORLD(), ABORT_CODE), "internlmj-mpi-abort");
        aborter.setDaemon(true);
        aborter.start();
        try {
            aborter.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // MPI_Abort normally never returns (the launcher kills every rank); if it hangs or returns, stop
        // this process anyway so that the launcher notices.
        System.err.println("[internlmj mpi] MPI_Abort did not end the process; halting it");
        Runtime.getRuntime().halt(ABORT_CODE);
    }

    /**
     * Stops the progress thread, frees the control communicator and finalizes MPI (if this runtime
     * initialized it), with the watchdog guarding {@code MPI_Finalize}, which waits for every rank.
     */
    void shutdown(MpiProcessGroup worldGroup, boolean anyBroken) {
        if (finalized) {
            return;
        }
        finalized = true;
        progress.close();
        if (anyBroken) {
            // A collective that never completed still holds MPI resources; MPI_Finalize would wait for it.
            System.err.println("[internlmj mpi] not finalizing MPI: an operation timed out and is still pending");
            watchdog.close();
            return;
        }
        control.free();
        if (initializedHere) {
            MpiOp fin = new MpiOp(worldGroup, MpiOp.Kind.FINALIZE, 0, "", -1, 0, null);
            fin.started(worldGroup.timeoutNanos());
            running.add(fin);
            try {
                MpiException.check(Mpi.MPI_Finalize(), "MPI_Finalize", "closing the world group");
            } finally {
                running.remove(fin);
                fin.finish(null, null);
            }
        }
        watchdog.close();
        staging.close();
        progress.freeBuffers();
    }
}
