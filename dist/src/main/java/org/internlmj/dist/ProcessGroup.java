package org.internlmj.dist;

import org.internlmj.tensor.Tensor;

/**
 * A group of ranks that exchange tensors: collectives (all-reduce, reduce-scatter, all-gather,
 * broadcast, barrier) and point-to-point send/recv. Implementations: in-JVM threads
 * ({@link ThreadWorld}, for tests), TCP processes ({@link TcpProcessGroup}, started by {@code internlmj
 * launch} or torchrun), MPI processes (CPU training across processes and machines), NCCL (GPUs).
 *
 * <p>Every call is made by every rank of the group in the same order (collectives) or by the matching
 * pair (send/recv). Calls return a {@link Work} that completes asynchronously; {@code .await()} waits.
 * Every operation has a timeout: a rank that never arrives makes the others fail with a
 * {@link CollectiveTimeoutException} naming the operation, the group and the ranks that did not arrive,
 * never hang; a rank that dies, fails or closes its group makes them fail at once with a
 * {@link RankFailedException} naming it. After a failed operation a group is unusable (its later
 * operations fail with the first failure as cause).
 *
 * <p>Tensors are contiguous and of the same dtype on all ranks; results of collectives are identical
 * bit for bit on every rank (reductions add in rank order).
 *
 * <pre>{@code
 * group.allReduce(grads, ReduceOp.AVG).await();
 * }</pre>
 */
public interface ProcessGroup extends AutoCloseable {

    /** How a reduction combines the ranks' values. AVG is SUM divided by the group size. */
    enum ReduceOp { SUM, AVG, MAX }

    /** A pending operation. */
    interface Work {
        /** Waits for completion (bounded by the group's timeout); rethrows the operation's failure. */
        void await();

        /** True once the operation finished (successfully or not). */
        boolean isDone();
    }

    /** This process's (thread's) rank in the group, 0-based. */
    int rank();

    int size();

    /** A name for messages, e.g. "data[0,2,4,6]". */
    String name();

    /** In place: every rank's {@code tensor} becomes the reduction over all ranks. */
    Work allReduce(Tensor tensor, ReduceOp op);

    /**
     * {@code input} (size * n elements, the same shape on all ranks) is reduced over ranks and rank r
     * receives elements {@code [r*n, (r+1)*n)} into {@code output} (n elements).
     */
    Work reduceScatter(Tensor input, Tensor output, ReduceOp op);

    /** {@code output} (size * n elements) receives every rank's {@code input} (n elements), in rank order. */
    Work allGather(Tensor input, Tensor output);

    /** In place: every rank's {@code tensor} becomes root's. */
    Work broadcast(Tensor tensor, int root);

    /** Returns when every rank has called it. */
    void barrier();

    /** Sends {@code tensor} to rank {@code dst}; {@code tag} matches it with the receiver's call. */
    Work send(Tensor tensor, int dst, int tag);

    /** Receives into {@code tensor} from rank {@code src} with the given tag. */
    Work recv(Tensor tensor, int src, int tag);

    /**
     * True when {@link #send}/{@link #recv} match by (source, destination, tag), so a rank may post its
     * receives in any order; false when they match only by their order per pair of ranks (NCCL).
     */
    default boolean matchesByTag() {
        return true;
    }

    /**
     * A subgroup of the given ranks (ranks of this group), created collectively: every rank of this group
     * calls it with the same list of lists and gets the subgroup it belongs to (null if none).
     */
    ProcessGroup split(int[][] groups, String name);

    @Override
    void close();
}
