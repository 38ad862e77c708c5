package org.internlmj.dist;

/**
 * An operation could not complete because another rank failed, closed its group or lost its connection;
 * names the operation, the group and that rank ({@link #rank()}, a rank of the group).
 */
public final class RankFailedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int rank;

    public RankFailedException(String message, int rank, Throwable cause) {
        super(message, cause);
        this.rank = rank;
    }

    /** The rank (in the group the message names) that failed or left. */
    public int rank() {
        return rank;
    }
}
