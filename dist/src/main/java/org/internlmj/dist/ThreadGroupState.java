package org.internlmj.dist;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * What the ranks of one thread group share: a meeting per collective (keyed by the call's sequence number,
 * where the ranks' comm threads find each other's tensors) and the mailboxes that match sends with
 * receives. Everything here is guarded by the world's lock; waits are bounded by the world's timeout and
 * end early when a rank they wait for is gone.
 */
final class ThreadGroupState {
    final ThreadWorld world;
    final String name;
    final int[] worldRanks;
    final ThreadProcessGroup[] handles;
    /** The world group: closing a rank's handle of it means the rank left. */
    final boolean isWorld;
    private final Map<Long, Meeting> meetings = new HashMap<>();
    private final Map<P2pKey, ArrayDeque<Post>> sends = new HashMap<>();
    private final Map<P2pKey, ArrayDeque<Post>> recvs = new HashMap<>();
    private RuntimeException broken;

    ThreadGroupState(ThreadWorld world, String name, int[] worldRanks, boolean isWorld) {
        this.world = world;
        this.isWorld = isWorld;
        this.name = name;
        this.worldRanks = worldRanks;
        this.handles = new ThreadProcessGroup[worldRanks.length];
    }

    int size() {
        return worldRanks.length;
    }

    /** One collective call of every rank: their calls and arguments, and how far each got. */
    static final class Meeting {
        final CollectiveCall[] calls;
        final Object[] args;
        int arrived;
        int finished;
        int left;
        RuntimeException failure;
        /** A result computed once for all ranks (split's subgroups). */
        Object shared;

        Meeting(int n) {
            calls = new CollectiveCall[n];
            args = new Object[n];
        }
    }

    /**
     * Rank {@code rank} arrives at {@code call} with its arguments; returns once every rank has arrived.
     * Fails with a mismatch if ranks called different collectives, with a {@link RankFailedException} if
     * a rank it waits for is gone, and with a {@link CollectiveTimeoutException} naming the missing ranks.
     */
    Meeting arrive(int rank, CollectiveCall call, Object args) throws InterruptedException {
        int n = size();
        world.lock.lock();
        try {
            Meeting m = meetings.get(call.seq());
            if (m == null) {
                if (broken != null) {
                    throw new IllegalStateException(call.label() + " in group " + name + " on rank " + rank
                            + ": the group is unusable after an earlier failure: " + broken.getMessage(), broken);
                }
                m = new Meeting(n);
                meetings.put(call.seq(), m);
            }
            if (m.failure == null) {
                for (int k = 0; k < n; k++) {
                    if (m.calls[k] != null && (!m.calls[k].matches(call) || !sameArgs(call, m.args[k], args))) {
                        fail(m, new IllegalStateException(call.label() + " in group " + name + ": " + rankName(k)
                                + " called " + describe(m.calls[k], m.args[k]) + " but " + rankName(rank) + " called "
                                + describe(call, args)));
                        break;
                    }
                }
            }
            m.calls[rank] = call;
            m.args[rank] = args;
            m.arrived++;
            world.changed.signalAll();
            long deadline = world.deadline();
            while (m.failure == null && m.arrived < n) {
                List<Integer> missing = new ArrayList<>();
                for (int k = 0; k < n; k++) {
                    if (m.calls[k] == null) {
                        missing.add(k);
                        String why = goneFor(k, call.seq());
                        if (why != null) {
                            fail(m, new RankFailedException(call.label() + " in group " + name + " on rank " + rank
                                    + ": " + rankName(k) + " " + why + " without calling it", k, null));
                            break;
                        }
                    }
                }
                if (m.failure != null) {
                    break;
                }
                long left = ThreadWorld.remaining(deadline);
                if (left <= 0) {
                    fail(m, new CollectiveTimeoutException(call.label() + " in group " + name + " timed out after "
                            + GroupChecks.duration(world.timeout()) + " on rank " + rank + ": "
                            + GroupChecks.rankNames(missing, worldRanks) + " did not arrive (" + lastCalls(missing) + ")"));
                    break;
                }
                awaitOrFail(m, call, rank, left);
            }
            if (m.failure != null) {
                throw m.failure;
            }
            return m;
        } finally {
            world.lock.unlock();
        }
    }

    /** Rank {@code rank} finished its part; returns once every rank has (their writes are then visible). */
    void finish(int rank, CollectiveCall call, Meeting m) throws InterruptedException {
        int n = size();
        world.lock.lock();
        try {
            m.finished++;
            world.changed.signalAll();
            long deadline = world.deadline();
            while (m.failure == null && m.finished < n) {
                long left = ThreadWorld.remaining(deadline);
                if (left <= 0) {
                    fail(m, new CollectiveTimeoutException(call.label() + " in group " + name + " timed out after "
                            + GroupChecks.duration(world.timeout()) + " on rank " + rank + ": every rank arrived but "
                            + (n - m.finished) + " did not finish its part"));
                    break;
                }
                awaitOrFail(m, call, rank, left);
            }
            if (m.failure != null) {
                throw m.failure;
            }
            if (++m.left == n) {
                meetings.remove(call.seq());
            }
        } finally {
            world.lock.unlock();
        }
    }

    /** Waits for a change; if this rank's comm thread is interrupted (its group closed), fails the meeting for all. */
    private void awaitOrFail(Meeting m, CollectiveCall call, int rank, long nanos) throws InterruptedException {
        try {
            world.changed.awaitNanos(nanos);
        } catch (InterruptedException e) {
            fail(m, new RankFailedException(call.label() + " in group " + name + ": " + rankName(rank)
                    + " closed its group during the call", rank, null));
            throw e;
        }
    }

    /** Fails a meeting for every rank (a rank's part threw, or it was interrupted) and breaks the group. */
    void fail(Meeting m, RuntimeException failure) {
        world.lock.lock();
        try {
            if (m.failure == null) {
                m.failure = failure;
            }
            if (broken == null) {
                broken = failure;
            }
            world.changed.signalAll();
        } finally {
            world.lock.unlock();
        }
    }

    /** Why group rank {@code k} will not arrive at the call numbered {@code seq}, or null if it may. */
    private String goneFor(int k, long seq) {
        ThreadProcessGroup h = handles[k];
        if (h != null && h.isClosed()) {
            return "closed its handle of group " + name;
        }
        String why = world.goneReason(worldRanks[k]);
        // a rank that left may still have this call queued on its comm thread
        return why != null && (h == null || h.issued() < seq) ? why : null;
    }

    private String goneNow(int k) {
        ThreadProcessGroup h = handles[k];
        if (h != null && h.isClosed()) {
            return "closed its handle of group " + name;
        }
        return world.goneReason(worldRanks[k]);
    }

    private String lastCalls(List<Integer> missing) {
        StringBuilder b = new StringBuilder();
        for (int k : missing) {
            if (!b.isEmpty()) {
                b.append("; ");
            }
            ThreadProcessGroup h = handles[k];
            String last = h == null ? null : h.lastIssued();
            b.append(rankName(k)).append(last == null ? " has not called any collective in this group"
                    : "'s last call in this group was " + last);
        }
        return b.toString();
    }

    private String rankName(int k) {
        return GroupChecks.rankName(k, worldRanks);
    }

    private static boolean sameArgs(CollectiveCall call, Object a, Object b) {
        return call.kind() != CollectiveCall.Kind.SPLIT || Arrays.deepEquals((int[][]) a, (int[][]) b);
    }

    private static String describe(CollectiveCall call, Object args) {
        return call.kind() == CollectiveCall.Kind.SPLIT ? "split(" + Arrays.deepToString((int[][]) args) + ")"
                : call.signature();
    }

    // ---- point to point ----

    private record P2pKey(int src, int dst, int tag) {
    }

    /** A send or receive waiting for its match. */
    static final class Post {
        final int src;
        final int dst;
        final int tag;
        final boolean send;
        final Tensor tensor;
        final CpuStorage storage;
        final PendingWork work;
        java.util.concurrent.ScheduledFuture<?> timer;

        Post(int src, int dst, int tag, boolean send, Tensor tensor, CpuStorage storage, PendingWork work) {
            this.src = src;
            this.dst = dst;
            this.tag = tag;
            this.send = send;
            this.tensor = tensor;
            this.storage = storage;
            this.work = work;
        }

        String label() {
            return send ? "send to rank " + dst + " (tag " + tag + ")" : "recv from rank " + src + " (tag " + tag + ")";
        }
    }

    /**
     * Posts a send or receive: matches it with the oldest waiting counterpart (and copies the data on this
     * thread) or queues it until one comes, failing it after the timeout.
     */
    void post(Post p, int self) {
        P2pKey key = new P2pKey(p.src, p.dst, p.tag);
        int peer = p.send ? p.dst : p.src;
        Post match = null;
        world.lock.lock();
        try {
            if (broken != null) {
                p.work.fail(new IllegalStateException(p.label() + " in group " + name + " on rank " + self
                        + ": the group is unusable after an earlier failure: " + broken.getMessage(), broken));
                return;
            }
            ArrayDeque<Post> other = (p.send ? recvs : sends).get(key);
            if (other != null && !other.isEmpty()) {
                match = other.poll();
            } else {
                String why = goneNow(peer);
                if (why != null) {
                    p.work.fail(new RankFailedException(p.label() + " in group " + name + " on rank " + self + ": "
                            + rankName(peer) + " " + why, peer, null));
                    return;
                }
                (p.send ? sends : recvs).computeIfAbsent(key, k -> new ArrayDeque<>()).add(p);
                p.timer = world.timer.schedule(() -> expire(p, self), world.timeoutNanos, TimeUnit.NANOSECONDS);
            }
        } finally {
            world.lock.unlock();
        }
        if (match != null) {
            match.timer.cancel(false);
            deliver(p.send ? p : match, p.send ? match : p);
        }
    }

    private void deliver(Post send, Post recv) {
        if (send.tensor.dtype() != recv.tensor.dtype() || send.tensor.numel() != recv.tensor.numel()) {
            String what = "rank " + send.src + " sent " + send.tensor.numel() + " x " + send.tensor.dtype() + " (tag "
                    + send.tag + ") but rank " + recv.dst + " receives " + recv.tensor.numel() + " x " + recv.tensor.dtype()
                    + " in group " + name;
            send.work.fail(new IllegalArgumentException(what));
            recv.work.fail(new IllegalArgumentException(what));
            return;
        }
        try {
            StorageBytes.copy(send.storage, send.tensor.offset(), recv.storage, recv.tensor.offset(), send.tensor.numel());
        } catch (RuntimeException e) {
            send.work.fail(e);
            recv.work.fail(e);
            return;
        }
        send.work.complete();
        recv.work.complete();
    }

    private void expire(Post p, int self) {
        world.lock.lock();
        try {
            ArrayDeque<Post> q = (p.send ? sends : recvs).get(new P2pKey(p.src, p.dst, p.tag));
            if (q == null || !q.remove(p)) {
                return;
            }
            int peer = p.send ? p.dst : p.src;
            p.work.fail(new CollectiveTimeoutException(p.label() + " in group " + name + " timed out after "
                    + GroupChecks.duration(world.timeout()) + " on rank " + self + ": " + rankName(peer)
                    + (p.send ? " posted no matching recv" : " did not send")));
        } finally {
            world.lock.unlock();
        }
    }

    /** Group rank {@code k} left: fails the sends and receives that wait for it. Call with the lock held. */
    void peerLeft(int k) {
        String why = goneNow(k);
        for (Map<P2pKey, ArrayDeque<Post>> posts : List.of(sends, recvs)) {
            for (ArrayDeque<Post> q : posts.values()) {
                for (Iterator<Post> it = q.iterator(); it.hasNext(); ) {
                    Post p = it.next();
                    int self = p.send ? p.src : p.dst;
                    int peer = p.send ? p.dst : p.src;
                    if (peer == k || self == k && handles[k] != null && handles[k].isClosed()) {
                        it.remove();
                        p.timer.cancel(false);
                        p.work.fail(self == k
                                ? new IllegalStateException(p.label() + " in group " + name + ": rank " + k + " closed its group")
                                : new RankFailedException(p.label() + " in group " + name + " on rank " + self + ": "
                                        + rankName(k) + " " + why, k, null));
                    }
                }
            }
        }
    }
}
