package org.internlmj.dist;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;

/**
 * One rank's operations of one group, run in call order on a thread of their own, so the caller computes
 * while they complete. After an operation fails the queue is broken: later operations fail at once with
 * the first failure as their cause, instead of waiting for ranks that gave up on the group.
 */
final class CommQueue {
    /** An operation body; it may block, bounded by the group's timeout. */
    interface Task {
        void run() throws Exception;
    }

    private final ExecutorService executor;
    private final String owner;
    private volatile RuntimeException broken;
    private volatile boolean closed;

    /** @param owner "rank 0's handle of group world[0-3]", for messages */
    CommQueue(String threadName, String owner) {
        this.executor = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon().name(threadName).factory());
        this.owner = owner;
    }

    /** Queues {@code task}; the returned work completes when it has run. */
    PendingWork submit(String label, Task task) {
        PendingWork w = new PendingWork(label);
        if (closed) {
            w.fail(new IllegalStateException(label + ": " + owner + " is closed"));
            return w;
        }
        try {
            executor.execute(new Job(label, task, w));
        } catch (RejectedExecutionException e) {
            w.fail(new IllegalStateException(label + ": " + owner + " is closed"));
        }
        return w;
    }

    /** A queued operation, kept whole so that closing can fail the ones that never ran. */
    private final class Job implements Runnable {
        final String label;
        final Task task;
        final PendingWork work;

        Job(String label, Task task, PendingWork work) {
            this.label = label;
            this.task = task;
            this.work = work;
        }

        @Override
        public void run() {
            CommQueue.this.run(label, task, work);
        }
    }

    private void run(String label, Task task, PendingWork w) {
        RuntimeException b = broken;
        if (b != null) {
            w.fail(new IllegalStateException(label + ": " + owner + " is unusable after an earlier failure: "
                    + b.getMessage(), b));
            return;
        }
        if (closed) {
            w.fail(new IllegalStateException(label + ": " + owner + " was closed"));
            return;
        }
        try {
            task.run();
            w.complete();
        } catch (InterruptedException e) {
            RuntimeException f = new IllegalStateException(label + ": " + owner + " was closed during the call", e);
            broken = f;
            w.fail(f);
        } catch (RuntimeException e) {
            broken = e;
            w.fail(e);
        } catch (Exception | Error e) {
            RuntimeException f = new IllegalStateException(label + " failed: " + e, e);
            broken = f;
            w.fail(f);
        }
    }

    /** Waits until everything queued so far has run. */
    void drain() {
        if (closed) {
            return;
        }
        try {
            executor.submit(() -> { }).get();
        } catch (RejectedExecutionException | java.util.concurrent.ExecutionException e) {
            // closed meanwhile: nothing is left to wait for
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Stops taking operations; queued ones fail. With {@code interrupt}, the running one is interrupted
     * too (never do that to a thread that may be writing to a socket channel: the interrupt closes it).
     */
    void close(boolean interrupt) {
        closed = true;
        if (interrupt) {
            for (Runnable r : executor.shutdownNow()) {
                Job j = (Job) r;
                j.work.fail(new IllegalStateException(j.label + ": " + owner + " was closed"));
            }
        } else {
            executor.shutdown();
        }
    }
}
