package org.internlmj.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import org.internlmj.ffm.Mpi;

/**
 * The process's MPI progress thread, and the side channel the watchdog uses to ask other ranks where
 * they are.
 *
 * <p>It does two jobs. (1) It tests pending point-to-point requests (posted nonblocking so that
 * pipeline schedules, which send and receive in both directions at once, cannot deadlock) and finishes
 * them: copies a received message into its tensor, returns the staging buffer, completes the Work.
 * (2) It answers queries on a control communicator private to this class: "how many collectives have
 * you called on group G, and which was call #k?". It runs whether or not the application's threads
 * are busy, asleep or waiting inside a blocking collective, so a rank that never arrives at a
 * collective can still say so; a rank that does not answer at all is dead, stopped, or not scheduled.
 * This was preferred over publishing counters in an MPI RMA window because asking never blocks the
 * asker (plain nonblocking send/receive with a deadline, also towards a dead rank) and needs no
 * one-sided support from the network.
 *
 * <p>With nothing pending it polls for queries every {@value #IDLE_POLL_MICROS} microseconds; with
 * requests pending it spins on {@code MPI_Test} for a while after each completion, then backs off to
 * {@value #BUSY_PARK_MICROS}-microsecond naps so that it does not take a core from compute.
 */
final class MpiProgress implements AutoCloseable {
    static final int WORDS = 6;
    private static final int TAG_QUERY = 1;
    private static final int FIRST_REPLY_TAG = 2;
    /** MPI guarantees tags up to 32767; reply tags cycle below that. */
    private static final int REPLY_TAGS = 32000;
    static final long QUERY_STOP = 99;
    private static final int IDLE_POLL_MICROS = 2000;
    private static final int BUSY_PARK_MICROS = 50;
    private static final int SPIN_TESTS = 2000;

    /** A posted point-to-point request and what to do when it completes (on the progress thread). */
    static final class Pending {
        final MpiOp op;
        final MemorySegment request;
        final MemorySegment buffer;
        final int expectedCount;
        final MemorySegment mpiType;
        final Runnable onSuccess;

        Pending(MpiOp op, MemorySegment request, MemorySegment buffer, int expectedCount, MemorySegment mpiType,
                Runnable onSuccess) {
            this.op = op;
            this.request = request;
            this.buffer = buffer;
            this.expectedCount = expectedCount;
            this.mpiType = mpiType;
            this.onSuccess = onSuccess;
        }
    }

    /** A reply in flight; {@code buffer} holds the reply words and, after them, the request handle. */
    private record ReplySend(MemorySegment request, MemorySegment buffer) {
    }

    private final MpiComm control;
    private final MpiStaging staging;
    private final Function<long[], long[]> answer;
    private final Arena arena = Arena.ofShared();
    private final ConcurrentLinkedQueue<Pending> incoming = new ConcurrentLinkedQueue<>();
    private final AtomicInteger replyTags = new AtomicInteger();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile Throwable crashed;

    // Owned by the progress thread.
    private final List<Pending> active = new ArrayList<>();
    private final List<ReplySend> replies = new ArrayList<>();
    private final ArrayDeque<MemorySegment> freeReplyBuffers = new ArrayDeque<>();
    private final MemorySegment queryBuffer;
    private final MemorySegment queryRequest;
    private final MemorySegment flag;
    private final MemorySegment status;
    private final MemorySegment countOut;

    /**
     * @param answer computes the reply to a query ({@value #WORDS} words each); called on the progress thread
     */
    MpiProgress(MpiComm control, MpiStaging staging, Function<long[], long[]> answer) {
        this.control = control;
        this.staging = staging;
        this.answer = answer;
        // Arenas are thread-safe for access, but allocation from several threads is serialised here
        // explicitly (the progress thread and the watchdog both allocate from this one).
        this.queryBuffer = arena.allocate(8L * WORDS, 8);
        this.queryRequest = arena.allocate(Mpi.C_POINTER);
        this.flag = arena.allocate(Mpi.C_INT);
        this.status = arena.allocate(Mpi.SIZEOF_MPI_STATUS, 8);
        this.countOut = arena.allocate(Mpi.C_INT);
        postQueryReceive();
        this.thread = new Thread(this::loop, "internlmj-mpi-progress");
        thread.setDaemon(true);
        thread.start();
    }

    /** Hands a posted request to the progress thread. */
    void add(Pending p) {
        if (!running) {
            throw new IllegalStateException("MPI progress thread has stopped; cannot track " + p.op.describe());
        }
        incoming.add(p);
        LockSupport.unpark(thread);
    }

    /** Null while the thread is healthy, else what killed it. */
    Throwable crashed() {
        return crashed;
    }

    private void postQueryReceive() {
        MpiComm.checkFits("MPI_Irecv of a query", queryBuffer, WORDS, 8);
        MpiException.check(Mpi.MPI_Irecv(queryBuffer, WORDS, Mpi.MPI_INT64_T(), Mpi.MPI_ANY_SOURCE, TAG_QUERY,
                control.handle(), queryRequest), "MPI_Irecv", "the watchdog's side channel");
    }

    private void loop() {
        int idleTests = 0;
        try {
            while (true) {
                for (Pending p; (p = incoming.poll()) != null; ) {
                    active.add(p);
                }
                boolean progressed = testActive();
                int q = testQuery();
                if (q < 0) {
                    break;
                }
                progressed |= q > 0;
                testReplies();
                if (active.isEmpty()) {
                    LockSupport.parkNanos(IDLE_POLL_MICROS * 1000L);
                    continue;
                }
                if (progressed) {
                    idleTests = 0;
                } else if (++idleTests < SPIN_TESTS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(BUSY_PARK_MICROS * 1000L);
                }
            }
            // Stopping. A send or receive still pending is a peer that never matched it before the world
            // group closed; it fails rather than being forgotten.
            failAll(new IllegalStateException("the world group was closed while it was pending"));
            // Let replies already sent go out before the control communicator is freed.
            long until = System.nanoTime() + 1_000_000_000L;
            while (!replies.isEmpty() && System.nanoTime() < until) {
                testReplies();
                Thread.onSpinWait();
            }
        } catch (Throwable t) {
            crashed = t;
            System.err.println("[internlmj mpi] progress thread failed: " + t);
            failAll(new IllegalStateException("the MPI progress thread failed: " + t, t));
        } finally {
            running = false;
        }
    }

    private boolean testActive() {
        boolean any = false;
        for (Iterator<Pending> it = active.iterator(); it.hasNext(); ) {
            Pending p = it.next();
            int rc = Mpi.MPI_Test(p.request, flag, status);
            if (rc != Mpi.MPI_SUCCESS) {
                it.remove();
                any = true;
                staging.release(p.buffer);
                p.op.finish(null, new MpiException("MPI_Test", rc, p.op.describe()));
                p.op.group.pointToPointFinished(p.op);
                continue;
            }
            if (flag.get(Mpi.C_INT, 0) == 0) {
                continue;
            }
            it.remove();
            any = true;
            Throwable error = null;
            try {
                if (p.op.kind == MpiOp.Kind.RECV) {
                    MpiException.check(Mpi.MPI_Get_count(status, p.mpiType, countOut), "MPI_Get_count", p.op.describe());
                    int got = countOut.get(Mpi.C_INT, 0);
                    if (got != p.expectedCount) {
                        throw new IllegalStateException(p.op.describe() + ": received " + got
                                + " elements, the receiving tensor holds " + p.expectedCount
                                + " (send and recv tensors must have the same size and dtype)");
                    }
                }
                p.onSuccess.run();
            } catch (RuntimeException e) {
                error = e;
            } finally {
                staging.release(p.buffer);
            }
            p.op.finish(null, error);
            p.op.group.pointToPointFinished(p.op);
        }
        return any;
    }

    /** 1 if a query was answered, 0 if none arrived, -1 on this process's own stop request. */
    private int testQuery() {
        MpiException.check(Mpi.MPI_Test(queryRequest, flag, status), "MPI_Test", "the watchdog's side channel");
        if (flag.get(Mpi.C_INT, 0) == 0) {
            return 0;
        }
        int source = status.get(ValueLayout.JAVA_INT, Mpi.STATUS_SOURCE_OFFSET);
        long[] query = queryBuffer.toArray(ValueLayout.JAVA_LONG);
        if (query[0] == QUERY_STOP && source == control.rank()) {
            return -1;
        }
        long[] reply = answer.apply(query);
        MemorySegment buf;
        if (freeReplyBuffers.isEmpty()) {
            synchronized (arena) {
                buf = arena.allocate(8L * WORDS + 8, 8);
            }
        } else {
            buf = freeReplyBuffers.pop();
        }
        MemorySegment.copy(reply, 0, buf, ValueLayout.JAVA_LONG, 0, WORDS);
        MemorySegment req = buf.asSlice(8L * WORDS, 8);
        MpiComm.checkFits("MPI_Isend of a reply", buf, WORDS, 8);
        MpiException.check(Mpi.MPI_Isend(buf, WORDS, Mpi.MPI_INT64_T(), source, (int) query[5], control.handle(), req),
                "MPI_Isend", "the watchdog's side channel");
        replies.add(new ReplySend(req, buf));
        postQueryReceive();
        return 1;
    }

    private void testReplies() {
        for (Iterator<ReplySend> it = replies.iterator(); it.hasNext(); ) {
            ReplySend r = it.next();
            MpiException.check(Mpi.MPI_Test(r.request, flag, Mpi.MPI_STATUS_IGNORE), "MPI_Test",
                    "the watchdog's side channel");
            if (flag.get(Mpi.C_INT, 0) != 0) {
                it.remove();
                freeReplyBuffers.push(r.buffer);
            }
        }
    }

    private void failAll(Throwable cause) {
        for (Pending p; (p = incoming.poll()) != null; ) {
            active.add(p);
        }
        for (Pending p : active) {
            // The buffer stays out of the pool: MPI may still write into it.
            p.op.finish(null, new IllegalStateException(p.op.describe() + " failed: " + cause.getMessage(), cause));
            p.op.group.pointToPointFinished(p.op);
        }
        active.clear();
    }

    /**
     * Asks each of {@code worldRanks} the {@code query} (its reply tag is filled in here) and waits
     * until {@code deadlineNanos}; returns one reply per rank, null where none came in time. Called by
     * the watchdog, never by the progress thread.
     */
    long[][] ask(int[] worldRanks, long[] query, long deadlineNanos) {
        int n = worldRanks.length;
        long[][] replies = new long[n][];
        if (n == 0) {
            return replies;
        }
        int tag = FIRST_REPLY_TAG + Math.floorMod(replyTags.getAndIncrement(), REPLY_TAGS);
        long[] q = query.clone();
        q[5] = tag;
        // Buffers of an ask may be left to MPI (a rank that never answers), so they come from the
        // progress channel's arena, which lives until MPI is finalized, and are not reused.
        MemorySegment queryBuf;
        MemorySegment replyBufs;
        MemorySegment sendReqs;
        MemorySegment recvReqs;
        synchronized (arena) {
            queryBuf = arena.allocate(8L * WORDS, 8);
            replyBufs = arena.allocate(8L * WORDS * n, 8);
            sendReqs = arena.allocate(Mpi.C_POINTER.byteSize() * n, 8);
            recvReqs = arena.allocate(Mpi.C_POINTER.byteSize() * n, 8);
        }
        MemorySegment.copy(q, 0, queryBuf, ValueLayout.JAVA_LONG, 0, WORDS);
        try (Arena local = Arena.ofConfined()) {
            MemorySegment done = local.allocate(Mpi.C_INT);
            boolean[] got = new boolean[n];
            MpiComm.checkFits("MPI_Isend of a query", queryBuf, WORDS, 8);
            for (int i = 0; i < n; i++) {
                MpiComm.checkFits("MPI_Irecv of a reply", replyBufs.asSlice(8L * WORDS * i, 8L * WORDS), WORDS, 8);
                MpiException.check(Mpi.MPI_Irecv(replyBufs.asSlice(8L * WORDS * i, 8L * WORDS), WORDS,
                        Mpi.MPI_INT64_T(), worldRanks[i], tag, control.handle(), recvReqs.asSlice(8L * i, 8)),
                        "MPI_Irecv", "asking rank " + worldRanks[i]);
                MpiException.check(Mpi.MPI_Isend(queryBuf, WORDS, Mpi.MPI_INT64_T(), worldRanks[i], TAG_QUERY,
                        control.handle(), sendReqs.asSlice(8L * i, 8)), "MPI_Isend", "asking rank " + worldRanks[i]);
            }
            int remaining = n;
            while (remaining > 0 && System.nanoTime() - deadlineNanos < 0) {
                for (int i = 0; i < n; i++) {
                    if (got[i]) {
                        continue;
                    }
                    MpiException.check(Mpi.MPI_Test(recvReqs.asSlice(8L * i, 8), done, Mpi.MPI_STATUS_IGNORE),
                            "MPI_Test", "asking rank " + worldRanks[i]);
                    if (done.get(Mpi.C_INT, 0) != 0) {
                        got[i] = true;
                        remaining--;
                        replies[i] = replyBufs.asSlice(8L * WORDS * i, 8L * WORDS).toArray(ValueLayout.JAVA_LONG);
                    }
                }
                if (remaining > 0) {
                    LockSupport.parkNanos(100_000);
                }
            }
            for (int i = 0; i < n; i++) {
                if (!got[i]) {
                    // Withdraw the receive so that a late reply cannot land in a reused tag's buffer.
                    Mpi.MPI_Cancel(recvReqs.asSlice(8L * i, 8));
                }
            }
        }
        return replies;
    }

    /** Frees the channel's buffers; only once MPI is finalized, when nothing can touch them. */
    void freeBuffers() {
        arena.close();
    }

    /** Stops the thread (after it has answered what it received) by sending itself a stop query. */
    @Override
    public void close() {
        if (!thread.isAlive()) {
            return;
        }
        try (Arena local = Arena.ofConfined()) {
            MemorySegment stop = local.allocate(8L * WORDS, 8);
            stop.set(ValueLayout.JAVA_LONG, 0, QUERY_STOP);
            MemorySegment req = local.allocate(Mpi.C_POINTER);
            MpiComm.checkFits("MPI_Isend of the stop query", stop, WORDS, 8);
            MpiException.check(Mpi.MPI_Isend(stop, WORDS, Mpi.MPI_INT64_T(), control.rank(), TAG_QUERY, control.handle(),
                    req), "MPI_Isend", "stopping the progress thread");
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                throw new IllegalStateException("the MPI progress thread did not stop within 10 s");
            }
            MpiException.check(Mpi.MPI_Wait(req, Mpi.MPI_STATUS_IGNORE), "MPI_Wait", "stopping the progress thread");
        }
    }
}
