package org.internlmj.tensor.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A fixed pool of kernel threads with low-latency fork/join for data-parallel loops: the caller runs
 * tasks too, idle workers spin briefly before parking, and tasks are handed out dynamically.
 *
 * <p>One parallel loop runs at a time. A loop started while another is running (another rank's
 * thread in an in-JVM process group) or from inside a task runs on the calling thread alone, so
 * concurrent callers never deadlock and never oversubscribe the cores.
 *
 * <p>{@link #team} runs one task per thread at the same time, with a barrier between them, for kernels
 * whose threads share a buffer they fill together (the GEMM's packed B panel).
 */
public final class Parallel implements AutoCloseable {
    /** A body over task indices. */
    @FunctionalInterface
    public interface Task {
        void run(int index);
    }

    private static final int SPIN_ITERATIONS = 20_000;

    private final int threads;
    private final Thread[] workers;
    private final ReentrantLock busy = new ReentrantLock();
    private final ThreadLocal<Boolean> inTask = ThreadLocal.withInitial(() -> false);
    private volatile Job job;
    private volatile boolean closed;

    private static final class Job {
        final Task task;
        final int count;
        /** Team jobs: each thread runs at most one index, so that all indices run at the same time. */
        final boolean oneEach;
        final Barrier barrier;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(Task task, int count, boolean oneEach, Barrier barrier) {
            this.task = task;
            this.count = count;
            this.oneEach = oneEach;
            this.barrier = barrier;
        }
    }

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Thread(this::workerLoop, "internlmj-cpu-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /** Number of threads a loop uses, the caller included. */
    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body.run(i)} for every {@code i} in {@code [0, count)}, spread over the pool; returns
     * when all are done, rethrowing the first failure.
     */
    public void forEach(int count, Task body) {
        if (count <= 0) {
            return;
        }
        if (count == 1 || workers.length == 0 || inTask.get() || !busy.tryLock()) {
            for (int i = 0; i < count; i++) {
                body.run(i);
            }
            return;
        }
        try {
            run(new Job(body, count, false, null));
        } finally {
            busy.unlock();
        }
    }

    /** A body run by each member of a {@link #team}. */
    @FunctionalInterface
    public interface TeamTask {
        /**
         * @param rank    this member's index in {@code [0, size)}
         * @param size    the number of members running at the same time
         * @param barrier waits until all {@code size} members reach it
         */
        void run(int rank, int size, Barrier barrier);
    }

    /**
     * Runs {@code body} on up to {@code maxSize} pool threads at once (the caller included), each with
     * its own rank; returns when all are done, rethrowing the first failure. Members may wait for each
     * other at the barrier, so, unlike {@link #forEach}, every rank runs on its own thread at the same
     * time. Where the pool is busy (another caller, or a call from inside a task) the team has one
     * member: the calling thread. A member that fails breaks the barrier so the others do not wait forever.
     */
    public void team(int maxSize, TeamTask body) {
        int size = Math.min(maxSize, threads);
        if (size <= 1 || inTask.get() || !busy.tryLock()) {
            body.run(0, 1, Barrier.SOLO);
            return;
        }
        try {
            Barrier barrier = new Barrier(size);
            run(new Job(rank -> body.run(rank, size, barrier), size, true, barrier));
        } finally {
            busy.unlock();
        }
    }

    /**
     * A reusable barrier for the members of a {@link #team}: members spin briefly and then yield, as
     * the wait between packing and computing is short and a park/unpark round trip is not.
     */
    public static final class Barrier {
        static final Barrier SOLO = new Barrier(1);

        private final int parties;
        private final AtomicInteger arrived = new AtomicInteger();
        private volatile int generation;
        private volatile boolean broken;

        Barrier(int parties) {
            this.parties = parties;
        }

        /** Number of members that must arrive before any is released. */
        public int parties() {
            return parties;
        }

        /** Waits until every member has called this for the current round. */
        public void await() {
            if (parties == 1) {
                return;
            }
            int gen = generation;
            if (arrived.incrementAndGet() == parties) {
                arrived.set(0);
                generation = gen + 1;
                return;
            }
            int spins = 0;
            while (generation == gen) {
                if (broken) {
                    throw new IllegalStateException("a parallel team member failed; barrier broken");
                }
                if (++spins < SPIN_ITERATIONS) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();
                }
            }
        }

        void breakBarrier() {
            broken = true;
        }
    }

    /** Publishes a job, works on it from the calling thread and waits for it; the caller holds {@code busy}. */
    private void run(Job j) {
        job = j;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        runTasks(j);
        int spins = 0;
        while (j.done.get() < j.count) {
            if (++spins < SPIN_ITERATIONS) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
        job = null;
        Throwable t = j.failure.get();
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error e) {
            throw e;
        }
        if (t != null) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * Splits {@code [0, n)} into about {@code threads * 4} contiguous ranges of at least {@code grain}
     * elements and runs {@code body.run(start, end)} on each.
     */
    public void forRange(int n, int grain, RangeTask body) {
        if (n <= 0) {
            return;
        }
        int chunks = Math.max(1, Math.min(threads * 4, n / Math.max(1, grain)));
        if (chunks == 1) {
            body.run(0, n);
            return;
        }
        int base = n / chunks;
        int rem = n % chunks;
        forEach(chunks, c -> {
            int start = c * base + Math.min(c, rem);
            int end = start + base + (c < rem ? 1 : 0);
            body.run(start, end);
        });
    }

    /** A body over a contiguous index range. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int start, int end);
    }

    private void runTasks(Job j) {
        inTask.set(true);
        try {
            int i;
            while ((i = j.next.getAndIncrement()) < j.count) {
                try {
                    if (j.failure.get() == null) {
                        j.task.run(i);
                    }
                } catch (Throwable t) {
                    j.failure.compareAndSet(null, t);
                    if (j.barrier != null) {
                        j.barrier.breakBarrier();
                    }
                } finally {
                    j.done.incrementAndGet();
                }
                if (j.oneEach) {
                    break;
                }
            }
        } finally {
            inTask.set(false);
        }
    }

    private void workerLoop() {
        Job last = null;
        while (!closed) {
            Job j = job;
            int spins = 0;
            while (j == null || j == last) {
                if (closed) {
                    return;
                }
                if (++spins < SPIN_ITERATIONS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                    spins = 0;
                }
                j = job;
            }
            last = j;
            runTasks(j);
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
