package org.internlmj.dist;

/** A collective or point-to-point operation did not complete in time; names the op, group and missing ranks. */
public final class CollectiveTimeoutException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CollectiveTimeoutException(String message) {
        super(message);
    }

    /** The same report rethrown on a waiting thread; {@code cause} carries the detecting thread's stack. */
    public CollectiveTimeoutException(String message, Throwable cause) {
        super(message, cause);
    }
}
