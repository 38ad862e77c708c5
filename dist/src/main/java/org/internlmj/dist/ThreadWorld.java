package org.internlmj.dist;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * N ranks as threads of one JVM: the process group for fast tests of distributed code. {@link #group(int)}
 * is rank r's handle of the world group; {@link #run} runs one task per rank on its own thread and fails
 * with every rank's failure if any rank throws.
 *
 * <p>Ranks that throw, return from their task or close their group count as gone: collectives and
 * receives waiting for them fail at once with a {@link RankFailedException} naming them, instead of
 * waiting out the timeout.
 *
 * <pre>{@code
 * try (ThreadWorld world = new ThreadWorld(4, Duration.ofSeconds(30))) {
 *     world.run(group -> {
 *         Tensor t = Tensor.full(group.rank(), DType.F32, Device.CPU, 8);
 *         group.allReduce(t, ReduceOp.SUM).await();   // every element is 0 + 1 + 2 + 3
 *         return null;
 *     });
 * }
 * }</pre>
 */
public final class ThreadWorld implements AutoCloseable {
    /** Used when no timeout is given. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);

    /** One rank's work, given its handle of the world group. */
    @FunctionalInterface
    public interface RankTask<T> {
        T run(ProcessGroup group) throws Exception;
    }

    /** Guards every group's meetings and mailboxes and the gone marks; signalled on every change. */
    final ReentrantLock lock = new ReentrantLock();
    final Condition changed = lock.newCondition();
    final long timeoutNanos;
    final ScheduledExecutorService timer;

    private final int size;
    private final Duration timeout;
    private final ThreadProcessGroup[] world;
    /** Why each world rank left (null while it is present), guarded by {@link #lock}. */
    private final String[] gone;
    private final boolean[] failed;
    /** Every group handle of each world rank, so a leaving rank's groups learn of it. */
    private final List<List<ThreadProcessGroup>> handles = new ArrayList<>();
    private boolean closed;

    /** A world of {@code size} ranks whose operations time out after {@link #DEFAULT_TIMEOUT}. */
    public ThreadWorld(int size) {
        this(size, DEFAULT_TIMEOUT);
    }

    public ThreadWorld(int size, Duration timeout) {
        if (size < 1) {
            throw new IllegalArgumentException("a world needs at least one rank, got " + size);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        this.size = size;
        this.timeout = timeout;
        this.timeoutNanos = timeout.toNanos();
        this.gone = new String[size];
        this.failed = new boolean[size];
        this.timer = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("internlmj-thread-world-timer").factory());
        for (int r = 0; r < size; r++) {
            handles.add(new ArrayList<>());
        }
        int[] ranks = new int[size];
        Arrays.setAll(ranks, i -> i);
        ThreadGroupState state = new ThreadGroupState(this, GroupChecks.groupName("world", ranks), ranks, true);
        this.world = new ThreadProcessGroup[size];
        for (int r = 0; r < size; r++) {
            world[r] = new ThreadProcessGroup(state, r);
        }
    }

    public int size() {
        return size;
    }

    public Duration timeout() {
        return timeout;
    }

    /** Rank {@code rank}'s handle of the world group. */
    public ProcessGroup group(int rank) {
        if (rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " is not in a world of " + size);
        }
        return world[rank];
    }

    /**
     * Runs {@code task} for every rank on a thread of its own ("rank-0", "rank-1", ...) and returns the
     * results in rank order. A rank that throws is marked failed at once (the others' operations that
     * wait for it fail fast); if any rank failed, this throws a {@link RankFailedException} for the first
     * failure with the other ranks' failures suppressed.
     */
    public <T> List<T> run(RankTask<T> task) {
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("this thread world is closed");
            }
            for (int r = 0; r < size; r++) {
                if (failed[r]) {
                    throw new IllegalStateException("rank " + r + " of this thread world " + gone[r]
                            + "; a world whose rank failed cannot run again");
                }
                gone[r] = null;
            }
        } finally {
            lock.unlock();
        }
        List<T> results = new ArrayList<>(java.util.Collections.nCopies(size, null));
        Throwable[] errors = new Throwable[size];
        long[] failedAt = new long[size];
        Thread[] threads = new Thread[size];
        for (int r = 0; r < size; r++) {
            int rank = r;
            threads[r] = Thread.ofPlatform().name("rank-" + r).start(() -> {
                try {
                    results.set(rank, task.run(world[rank]));
                    for (ThreadProcessGroup h : handlesOf(rank)) {
                        h.drain();
                    }
                    leave(rank, "returned from its task", false);
                } catch (Throwable t) {
                    errors[rank] = t;
                    failedAt[rank] = System.nanoTime();
                    leave(rank, "failed (" + t + ")", true);
                }
            });
        }
        boolean interrupted = false;
        for (Thread t : threads) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        int first = -1;
        for (int r = 0; r < size; r++) {
            if (errors[r] != null && (first < 0 || failedAt[r] < failedAt[first])) {
                first = r;
            }
        }
        if (first >= 0) {
            Throwable e = errors[first];
            RankFailedException f = new RankFailedException("rank " + first + " failed: " + e, first, e);
            for (int r = 0; r < size; r++) {
                if (errors[r] != null && r != first) {
                    f.addSuppressed(new RankFailedException("rank " + r + " failed: " + errors[r], r, errors[r]));
                }
            }
            throw f;
        }
        return results;
    }

    /** Why world rank {@code rank} left, or null while it is present. Call with {@link #lock} held. */
    String goneReason(int worldRank) {
        return gone[worldRank];
    }

    void register(int worldRank, ThreadProcessGroup handle) {
        lock.lock();
        try {
            handles.get(worldRank).add(handle);
        } finally {
            lock.unlock();
        }
    }

    List<ThreadProcessGroup> handlesOf(int worldRank) {
        lock.lock();
        try {
            return List.copyOf(handles.get(worldRank));
        } finally {
            lock.unlock();
        }
    }

    /** Marks a world rank gone and fails what waits for it in every group. */
    void leave(int worldRank, String why, boolean failure) {
        lock.lock();
        try {
            if (gone[worldRank] == null) {
                gone[worldRank] = why;
                failed[worldRank] |= failure;
            }
            for (ThreadProcessGroup h : handles.get(worldRank)) {
                h.state().peerLeft(h.rank());
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Closes every rank's handles: operations still waiting fail, naming the world as closed. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
        } finally {
            lock.unlock();
        }
        for (int r = 0; r < size; r++) {
            world[r].close();
        }
        timer.shutdownNow();
    }

    long deadline() {
        return System.nanoTime() + timeoutNanos;
    }

    static long remaining(long deadline) {
        return deadline - System.nanoTime();
    }

}
