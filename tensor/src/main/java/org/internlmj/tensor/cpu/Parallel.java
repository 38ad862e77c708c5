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
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(Task task, int count) {
            this.task = task;
            this.count = count;
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
            Job j = new Job(body, count);
            job = j;
            for (Thread w : workers) {
                LockSupport.unpark(w);
            }
            runTasks(j);
            int spins = 0;
            while (j.done.get() < count) {
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
        } finally {
            busy.unlock();
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
                } finally {
                    j.done.incrementAndGet();
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
