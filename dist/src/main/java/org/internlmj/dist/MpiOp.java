package org.internlmj.dist;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One operation of an {@link MpiProcessGroup}, the {@link ProcessGroup.Work} its caller waits on. A
 * collective is numbered by its place among the group's collective calls on this rank (the number is
 * the same on every rank when every rank calls in the same order, which the watchdog checks); a send or
 * receive by its place among this rank's sends to (receives from) the same peer with the same tag.
 */
final class MpiOp implements ProcessGroup.Work {
    /** What an operation is; {@link #label} is the name used in messages (the ProcessGroup method's). */
    enum Kind {
        ALL_REDUCE("allReduce"), REDUCE_SCATTER("reduceScatter"), ALL_GATHER("allGather"), BROADCAST("broadcast"),
        BARRIER("barrier"), SPLIT("split"), CLOSE("close"), SEND("send"), RECV("recv"), FINALIZE("finalize");

        final String label;

        Kind(String label) {
            this.label = label;
        }

        boolean pointToPoint() {
            return this == SEND || this == RECV;
        }
    }

    /** The part of an operation that runs on the group's thread; returns the operation's result. */
    @FunctionalInterface
    interface Body {
        Object run(MpiOp self);
    }

    final MpiProcessGroup group;
    final Kind kind;
    final long seq;
    final String detail;
    /** Peer rank in the group for send/recv, else -1. */
    final int peer;
    final int tag;
    final Body body;

    private final CountDownLatch done = new CountDownLatch(1);
    private final AtomicBoolean finished = new AtomicBoolean();
    private final AtomicBoolean timeoutClaimed = new AtomicBoolean();
    private volatile boolean started;
    private volatile long startNanos;
    private volatile long deadlineNanos;
    private volatile Object result;
    private volatile Throwable failure;

    MpiOp(MpiProcessGroup group, Kind kind, long seq, String detail, int peer, int tag, Body body) {
        this.group = group;
        this.kind = kind;
        this.seq = seq;
        this.detail = detail;
        this.peer = peer;
        this.tag = tag;
        this.body = body;
    }

    /** Starts the clock: the operation is now in MPI's hands and must finish within {@code timeoutNanos}. */
    void started(long timeoutNanos) {
        long now = System.nanoTime();
        startNanos = now;
        deadlineNanos = now + timeoutNanos;
        started = true;
    }

    long startNanos() {
        return startNanos;
    }

    boolean expired(long now) {
        return started && !finished.get() && now - deadlineNanos > 0;
    }

    /** True for the one caller that gets to report this operation's timeout. */
    boolean claimTimeout() {
        return timeoutClaimed.compareAndSet(false, true);
    }

    /** Records the outcome once; later calls (MPI returning after a timeout was reported) are ignored. */
    boolean finish(Object value, Throwable error) {
        if (!finished.compareAndSet(false, true)) {
            return false;
        }
        result = value;
        failure = error;
        done.countDown();
        return true;
    }

    Object result() {
        return result;
    }

    /** "allReduce #3 (F32 x 1000, SUM) on world[0-3]" */
    String describe() {
        String what = kind.label + " #" + seq;
        if (kind.pointToPoint()) {
            what = kind.label + (kind == Kind.SEND ? " to rank " : " from rank ") + peer + " (tag " + tag + ", #" + seq
                    + " with that peer and tag)";
        }
        return what + (detail.isEmpty() ? "" : " (" + detail + ")") + " on " + group.name();
    }

    @Override
    public void await() {
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + describe(), e);
        }
        Throwable f = failure;
        if (f == null) {
            return;
        }
        // A fresh exception, so the waiting thread's stack shows where it waited; the cause has the rest.
        if (f instanceof CollectiveTimeoutException) {
            throw new CollectiveTimeoutException(f.getMessage(), f);
        }
        throw new IllegalStateException(describe() + " failed: " + f.getMessage(), f);
    }

    @Override
    public boolean isDone() {
        return finished.get();
    }

    @Override
    public String toString() {
        return describe();
    }
}
