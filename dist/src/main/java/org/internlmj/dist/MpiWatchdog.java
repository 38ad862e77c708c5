package org.internlmj.dist;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Fails every MPI operation that outlives its group's timeout, with a report naming the operation, the
 * group and the ranks that did not arrive, then (by default) aborts the job.
 *
 * <p>Aborting is not optional in substance: MPI cannot cancel a collective, so the operation's buffer
 * and the group's thread stay in MPI's hands, and the ranks that did arrive wait forever (a rank that
 * hangs makes the others wait forever, MEASURED.md). The report is printed to stderr before the abort,
 * because {@code MPI_Abort} kills the process before any caller could print the exception; the waiting
 * thread gets the exception {@value #GRACE_MILLIS} ms before the abort.
 */
final class MpiWatchdog implements AutoCloseable {
    private static final long SCAN_NANOS = 20_000_000L;
    static final long GRACE_MILLIS = 500;

    private final MpiRuntime runtime;
    private final Thread thread;
    private volatile boolean running = true;

    MpiWatchdog(MpiRuntime runtime) {
        this.runtime = runtime;
        this.thread = new Thread(this::loop, "internlmj-mpi-watchdog");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        while (running) {
            LockSupport.parkNanos(SCAN_NANOS);
            long now = System.nanoTime();
            List<MpiOp> expired = new ArrayList<>();
            for (MpiOp op : runtime.running) {
                if (op.expired(now) && op.claimTimeout()) {
                    expired.add(op);
                }
            }
            for (MpiOp op : expired) {
                try {
                    timedOut(op);
                } catch (Throwable t) {
                    // The report is best effort; the operation must fail (and the job end) regardless.
                    System.err.println("[internlmj mpi] watchdog could not diagnose " + op.describe() + ": " + t);
                    fail(op, new CollectiveTimeoutException(op.describe() + " did not complete within "
                            + MpiTimeoutReport.text(op.group.timeout()) + "; which ranks did not arrive could not be "
                            + "determined (" + t + ")"));
                }
            }
        }
    }

    private void timedOut(MpiOp op) {
        String report = diagnose(op);
        String tail = runtime.abortOnTimeout ? " MPI cannot cancel a collective: aborting the job."
                : " The group is unusable from now on.";
        CollectiveTimeoutException e = new CollectiveTimeoutException(report + tail);
        fail(op, e);
    }

    private void fail(MpiOp op, CollectiveTimeoutException e) {
        System.err.println("[internlmj mpi rank " + runtime.world.rank() + "] " + e.getMessage());
        System.err.flush();
        op.group.timedOut(op, e);
        if (runtime.abortOnTimeout) {
            try {
                Thread.sleep(GRACE_MILLIS);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            runtime.abort();
        }
    }

    /** Asks the other ranks over the side channel where they are, and words the answer. */
    private String diagnose(MpiOp op) {
        MpiProcessGroup g = op.group;
        Duration timeout = g.timeout();
        Duration ask = askTime(timeout);
        if (op.kind == MpiOp.Kind.FINALIZE) {
            return "MPI_Finalize on rank " + g.rank() + " did not return within " + MpiTimeoutReport.text(timeout)
                    + ": it waits for every rank to close its world group; which ranks have not cannot be determined "
                    + "(the side channel closes before finalizing).";
        }
        long deadline = System.nanoTime() + ask.toNanos();
        if (op.kind.pointToPoint()) {
            int peerWorld = g.worldRank(op.peer);
            long[] query = {MpiProcessGroup.QUERY_POINT_TO_POINT, g.id(), op.kind.ordinal(), g.rank(), op.tag, 0};
            long[] reply = peerWorld == runtime.world.rank() ? g.answer(query)
                    : runtime.progress.ask(new int[] {peerWorld}, query, deadline)[0];
            return MpiTimeoutReport.pointToPoint(op.describe(), op.kind, op.seq, timeout, answer(g, op.peer, reply), ask);
        }
        int size = g.size();
        int[] others = new int[size - 1];
        int[] otherWorld = new int[size - 1];
        for (int r = 0, i = 0; r < size; r++) {
            if (r != g.rank()) {
                others[i] = r;
                otherWorld[i++] = g.worldRank(r);
            }
        }
        long[] query = {MpiProcessGroup.QUERY_COLLECTIVE, g.id(), op.seq, 0, 0, 0};
        long[][] replies = runtime.progress.ask(otherWorld, query, deadline);
        List<MpiTimeoutReport.Answer> answers = new ArrayList<>();
        for (int i = 0; i < others.length; i++) {
            answers.add(answer(g, others[i], replies[i]));
        }
        return MpiTimeoutReport.collective(op.describe(), op.kind, op.seq, g.rank(), timeout, answers, ask);
    }

    private MpiTimeoutReport.Answer answer(MpiProcessGroup g, int groupRank, long[] reply) {
        int w = g.worldRank(groupRank);
        return new MpiTimeoutReport.Answer(groupRank, w, runtime.hosts[w], runtime.pids[w], reply);
    }

    /** How long to wait for answers: a live rank answers within milliseconds; a dead one never does. */
    static Duration askTime(Duration timeout) {
        long ms = Math.max(200, Math.min(1000, timeout.toMillis() / 4));
        return Duration.ofMillis(ms);
    }

    @Override
    public void close() {
        running = false;
        LockSupport.unpark(thread);
        if (Thread.currentThread() != thread) {
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
