package org.internlmj.dist;

import org.internlmj.dist.CollectiveCall.Kind;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * One rank's handle of a group of threads (made by {@link ThreadWorld}). Collectives run in call order on
 * this handle's comm thread, so the calling thread can compute while they complete. The ranks' comm
 * threads meet per call; each computes an equal slice of the result (an all-reduce: slice r of every
 * rank's tensor is reduced by rank r, in rank order, and written to all of them), so every element is
 * reduced exactly once and every rank ends with the same bits.
 *
 * <p>A send completes when the receiver has copied the data; sends and receives match by
 * (source, destination, tag) in posting order.
 *
 * <p>Operations on one handle are issued from one thread at a time (the rank's own).
 */
public final class ThreadProcessGroup implements ProcessGroup {
    private final ThreadGroupState state;
    private final int rank;
    private final CommQueue comm;
    private final Reduction.Scratch scratch = new Reduction.Scratch();
    private long nextSeq;
    /** Sequence number of the last issued collective and its label, read by other ranks' diagnostics. */
    private volatile long issued = -1;
    private volatile String lastIssued;
    private volatile boolean closed;

    ThreadProcessGroup(ThreadGroupState state, int rank) {
        this.state = state;
        this.rank = rank;
        this.comm = new CommQueue("internlmj-comm-rank" + state.worldRanks[rank] + "-" + state.name,
                "rank " + rank + "'s handle of group " + state.name);
        state.handles[rank] = this;
        state.world.register(state.worldRanks[rank], this);
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return state.size();
    }

    @Override
    public String name() {
        return state.name;
    }

    ThreadGroupState state() {
        return state;
    }

    long issued() {
        return issued;
    }

    String lastIssued() {
        return lastIssued;
    }

    boolean isClosed() {
        return closed;
    }

    @Override
    public Work allReduce(Tensor tensor, ReduceOp op) {
        String what = "allReduce in group " + name();
        CpuStorage s = GroupChecks.storage(what, tensor);
        Reduction.check(what, tensor.dtype(), op);
        return submit(new CollectiveCall(Kind.ALL_REDUCE, 0, tensor.dtype(), tensor.numel(), op, 0),
                new Tensor[] {tensor, tensor}, new CpuStorage[] {s, s});
    }

    @Override
    public Work reduceScatter(Tensor input, Tensor output, ReduceOp op) {
        String what = "reduceScatter in group " + name();
        CpuStorage in = GroupChecks.storage(what, input);
        CpuStorage out = GroupChecks.storage(what, output);
        GroupChecks.sameDtype(what, input, output);
        GroupChecks.parts(what, input, "input", output, "output", size());
        Reduction.check(what, input.dtype(), op);
        return submit(new CollectiveCall(Kind.REDUCE_SCATTER, 0, input.dtype(), input.numel(), op, 0),
                new Tensor[] {input, output}, new CpuStorage[] {in, out});
    }

    @Override
    public Work allGather(Tensor input, Tensor output) {
        String what = "allGather in group " + name();
        CpuStorage in = GroupChecks.storage(what, input);
        CpuStorage out = GroupChecks.storage(what, output);
        GroupChecks.sameDtype(what, input, output);
        GroupChecks.parts(what, output, "output", input, "input", size());
        return submit(new CollectiveCall(Kind.ALL_GATHER, 0, input.dtype(), input.numel(), ReduceOp.SUM, 0),
                new Tensor[] {input, output}, new CpuStorage[] {in, out});
    }

    @Override
    public Work broadcast(Tensor tensor, int root) {
        String what = "broadcast in group " + name();
        CpuStorage s = GroupChecks.storage(what, tensor);
        GroupChecks.peer(what, "root", root, rank, size(), true);
        return submit(new CollectiveCall(Kind.BROADCAST, 0, tensor.dtype(), tensor.numel(), ReduceOp.SUM, root),
                new Tensor[] {tensor, tensor}, new CpuStorage[] {s, s});
    }

    @Override
    public void barrier() {
        submit(CollectiveCall.barrier(0), null, null).await();
    }

    @Override
    public Work send(Tensor tensor, int dst, int tag) {
        return post(true, tensor, dst, tag);
    }

    @Override
    public Work recv(Tensor tensor, int src, int tag) {
        return post(false, tensor, src, tag);
    }

    private Work post(boolean send, Tensor tensor, int peer, int tag) {
        CpuStorage s = GroupChecks.p2p(send ? "send" : "recv", name(), tensor, send ? "destination" : "source", peer, rank,
                size());
        String label = (send ? "send to rank " : "recv from rank ") + peer + " (tag " + tag + ") in group " + name();
        PendingWork w = new PendingWork(label);
        if (closed) {
            w.fail(new IllegalStateException(label + ": rank " + rank + "'s handle of the group is closed"));
            return w;
        }
        state.post(new ThreadGroupState.Post(send ? rank : peer, send ? peer : rank, tag, send, tensor, s, w), rank);
        return w;
    }

    @Override
    public ProcessGroup split(int[][] groups, String name) {
        int[] member = GroupChecks.splitMembership(groups, size());
        int[][] copy = new int[groups.length][];
        for (int g = 0; g < groups.length; g++) {
            copy[g] = groups[g].clone();
        }
        SplitResult result = new SplitResult(copy, name, member);
        submit(CollectiveCall.split(0), null, null, result).await();
        return result.mine;
    }

    /** A split's arguments in, this rank's subgroup handle out. */
    private static final class SplitResult {
        final int[][] groups;
        final String name;
        final int[] member;
        ThreadProcessGroup mine;

        SplitResult(int[][] groups, String name, int[] member) {
            this.groups = groups;
            this.name = name;
            this.member = member;
        }
    }

    private Work submit(CollectiveCall call, Tensor[] tensors, CpuStorage[] storages) {
        return submit(call, tensors, storages, null);
    }

    private synchronized Work submit(CollectiveCall template, Tensor[] tensors, CpuStorage[] storages, SplitResult split) {
        CollectiveCall call = template.withSeq(nextSeq++);
        issued = call.seq();
        lastIssued = call.label();
        return comm.submit(call.label() + " in group " + name(), () -> run(call, tensors, storages, split));
    }

    /** Runs one collective on the comm thread: meet, compute this rank's slice, wait for the others'. */
    private void run(CollectiveCall call, Tensor[] tensors, CpuStorage[] storages, SplitResult split)
            throws InterruptedException {
        Object args = split != null ? split.groups : new Object[] {tensors, storages};
        ThreadGroupState.Meeting m = state.arrive(rank, call, args);
        try {
            if (split != null) {
                split.mine = joinSplit(m, split);
            } else {
                compute(call, m);
            }
        } catch (RuntimeException e) {
            state.fail(m, e);
            throw e;
        }
        state.finish(rank, call, m);
    }

    /** This rank's share of the work of a collective whose ranks' arguments are in {@code m}. */
    private void compute(CollectiveCall call, ThreadGroupState.Meeting m) {
        int n = size();
        long count = call.count();
        switch (call.kind()) {
            case ALL_REDUCE -> {
                int lo = (int) (count * rank / n);
                int hi = (int) (count * (rank + 1) / n);
                Reduction.Operand[] in = new Reduction.Operand[n];
                Reduction.Heap[] out = new Reduction.Heap[n];
                for (int k = 0; k < n; k++) {
                    in[k] = out[k] = heap(m, k, 0, lo);
                }
                Reduction.reduce(call.op(), call.dtype(), in, hi - lo, out, scratch);
            }
            case REDUCE_SCATTER -> {
                int part = (int) (count / n);
                Reduction.Operand[] in = new Reduction.Operand[n];
                for (int k = 0; k < n; k++) {
                    in[k] = heap(m, k, 0, rank * part);
                }
                Reduction.reduce(call.op(), call.dtype(), in, part, new Reduction.Heap[] {heap(m, rank, 1, 0)}, scratch);
            }
            case ALL_GATHER -> {
                int part = (int) count;
                Reduction.Heap mine = heap(m, rank, 0, 0);
                for (int k = 0; k < n; k++) {
                    Reduction.Heap dst = heap(m, k, 1, rank * part);
                    StorageBytes.copy(mine.storage(), mine.offset(), dst.storage(), dst.offset(), part);
                }
            }
            case BROADCAST -> {
                int lo = (int) (count * rank / n);
                int hi = (int) (count * (rank + 1) / n);
                Reduction.Heap src = heap(m, call.root(), 0, lo);
                for (int k = 0; k < n; k++) {
                    if (k != call.root()) {
                        Reduction.Heap dst = heap(m, k, 0, lo);
                        StorageBytes.copy(src.storage(), src.offset(), dst.storage(), dst.offset(), hi - lo);
                    }
                }
            }
            case BARRIER, SPLIT -> {
            }
        }
    }

    /** Rank k's tensor {@code which} (0 input, 1 output) at element {@code at}. */
    private static Reduction.Heap heap(ThreadGroupState.Meeting m, int k, int which, int at) {
        Object[] a = (Object[]) m.args[k];
        Tensor t = ((Tensor[]) a[0])[which];
        CpuStorage s = ((CpuStorage[]) a[1])[which];
        return new Reduction.Heap(s, t.offset() + at);
    }

    /** Creates the subgroups once (whichever rank gets here first) and returns this rank's handle. */
    private ThreadProcessGroup joinSplit(ThreadGroupState.Meeting m, SplitResult split) {
        ThreadGroupState[] subgroups;
        state.world.lock.lock();
        try {
            if (m.shared == null) {
                ThreadGroupState[] made = new ThreadGroupState[split.groups.length];
                for (int g = 0; g < made.length; g++) {
                    int[] world = new int[split.groups[g].length];
                    for (int i = 0; i < world.length; i++) {
                        world[i] = state.worldRanks[split.groups[g][i]];
                    }
                    made[g] = new ThreadGroupState(state.world, GroupChecks.groupName(split.name, world), world, false);
                }
                m.shared = made;
            }
            subgroups = (ThreadGroupState[]) m.shared;
        } finally {
            state.world.lock.unlock();
        }
        int g = split.member[rank];
        if (g < 0) {
            return null;
        }
        int[] ranks = split.groups[g];
        int local = 0;
        while (ranks[local] != rank) {
            local++;
        }
        return new ThreadProcessGroup(subgroups[g], local);
    }

    /** Waits until every operation issued so far has run (a rank's task calls this before it counts as gone). */
    void drain() {
        comm.drain();
    }

    /**
     * Closes this handle: operations still waiting on it fail, and other ranks waiting for this one fail
     * fast. Closing a rank's world handle closes its subgroups too and counts the rank as gone.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        comm.close(true);
        state.world.lock.lock();
        try {
            state.peerLeft(rank);
            state.world.changed.signalAll();
        } finally {
            state.world.lock.unlock();
        }
        if (state.isWorld) {
            state.world.leave(state.worldRanks[rank], "closed its process group", false);
            for (ThreadProcessGroup h : state.world.handlesOf(state.worldRanks[rank])) {
                h.close();
            }
        }
    }

    @Override
    public String toString() {
        return "ThreadProcessGroup(" + name() + ", rank " + rank + " of " + size() + ")";
    }
}
