package org.internlmj.dist;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * A {@link ProcessGroup.Work} completed by whichever thread finishes the operation. {@link #await()}
 * rethrows a failure as a new exception of the same kind and message whose cause is the original, so the
 * stack trace shows both where the caller waited and where the operation failed.
 */
final class PendingWork implements ProcessGroup.Work {
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    private final String what;

    PendingWork(String what) {
        this.what = what;
    }

    void complete() {
        done.complete(null);
    }

    /** Fails the work; false if it had already completed or failed. */
    boolean fail(Throwable cause) {
        return done.completeExceptionally(cause);
    }

    @Override
    public void await() {
        try {
            done.get();
        } catch (ExecutionException e) {
            throw rethrown(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + what, e);
        }
    }

    @Override
    public boolean isDone() {
        return done.isDone();
    }

    private static RuntimeException rethrown(Throwable t) {
        String m = t.getMessage();
        return switch (t) {
            case CollectiveTimeoutException c -> {
                CollectiveTimeoutException e = new CollectiveTimeoutException(m);
                e.initCause(c);
                yield e;
            }
            case RankFailedException r -> new RankFailedException(m, r.rank(), r);
            case IllegalArgumentException a -> new IllegalArgumentException(m, a);
            case IllegalStateException s -> new IllegalStateException(m, s);
            default -> new IllegalStateException(m == null ? t.toString() : m, t);
        };
    }
}
