package org.internlmj.dist;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.IntUnaryOperator;
import org.internlmj.dist.CollectiveCall.Kind;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * A process group whose ranks are processes (on one or many machines) connected by TCP, one connection
 * per pair, set up through a {@link TcpStore}. Collectives run in call order on a comm thread per handle;
 * sends on a second thread; receives complete on the connection's reader thread.
 *
 * <p>Reductions are deterministic and bit-identical on every rank: an all-reduce is a reduce-scatter,
 * where the owner of each slice receives every rank's raw values and adds them in rank order in fp32
 * (rounding once to BF16/F16), then an all-gather of the owners' results. This moves as many bytes as a
 * ring (each rank sends and receives (n-1)/n of the tensor per phase), sends BF16 as BF16 instead of fp32
 * partial sums, and gives the same bits as {@link ThreadProcessGroup}. Messages travel in 1 MiB frames,
 * so reducing one frame overlaps receiving the next.
 *
 * <p>Waiting for a frame times out after the group's timeout with the ranks that never arrived at the
 * call; a peer whose connection ends fails every wait on it at once, naming it and whether it closed its
 * group or died.
 *
 * <pre>{@code
 * try (TcpStore store = TcpStore.open(addr, port, rank == 0, Duration.ofMinutes(5));
 *      ProcessGroup world = TcpProcessGroup.connect(store, rank, worldSize)) {
 *     world.allReduce(grads, ReduceOp.AVG).await();
 * }
 * }</pre>
 */
public final class TcpProcessGroup implements ProcessGroup {
    /** The store key prefix {@link #connect(TcpStore, int, int)} uses. */
    public static final String DEFAULT_PREFIX = "internlmj/pg";

    private final TcpMesh mesh;
    private final int groupId;
    private final int[] worldRanks;
    private final int rank;
    private final String name;
    private final TcpProcessGroup parent;
    private final List<TcpProcessGroup> children = new ArrayList<>();
    private final CommQueue comm;
    private final CommQueue sender;
    private final Reduction.Scratch scratch = new Reduction.Scratch();
    /** Used only on the comm thread: the outgoing frame's header and payload. */
    private final TcpFrame commHeader = new TcpFrame();
    private final ByteBuffer commStaging = ByteBuffer.allocateDirect(TcpFrame.MAX_PAYLOAD).order(ByteOrder.LITTLE_ENDIAN);
    private final MemorySegment commSegment = MemorySegment.ofBuffer(commStaging);
    /** Used only on the sender thread. */
    private final TcpFrame sendHeader = new TcpFrame();
    private final ByteBuffer sendStaging = ByteBuffer.allocateDirect(TcpFrame.MAX_PAYLOAD).order(ByteOrder.LITTLE_ENDIAN);
    private final MemorySegment sendSegment = MemorySegment.ofBuffer(sendStaging);
    private long nextSeq;
    private volatile boolean closed;

    private TcpProcessGroup(TcpMesh mesh, int groupId, int[] worldRanks, int rank, String name, TcpProcessGroup parent) {
        this.mesh = mesh;
        this.groupId = groupId;
        this.worldRanks = worldRanks;
        this.rank = rank;
        this.name = name;
        this.parent = parent;
        String owner = "rank " + rank + "'s handle of group " + name;
        this.comm = new CommQueue("internlmj-tcp-comm-rank" + mesh.rank + "-" + name, owner);
        this.sender = new CommQueue("internlmj-tcp-send-rank" + mesh.rank + "-" + name, owner);
        // the world's first call is the connection check, numbered -1 so that user calls count from 0
        this.nextSeq = parent == null ? -1 : 0;
    }

    /**
     * Joins a world of {@code size} ranks as {@code rank} through {@code store} (which the caller keeps
     * and closes), with the store's timeout for every operation.
     */
    public static TcpProcessGroup connect(TcpStore store, int rank, int size) {
        return connect(store, rank, size, store.timeout(), DEFAULT_PREFIX, false);
    }

    /**
     * Joins a world through {@code store}: every rank of it must call this with the same {@code size}
     * and {@code prefix} (the store keys it uses, so one store can hold several worlds), and its own
     * {@code rank}. Returns once every rank is connected to every other; fails after {@code timeout}
     * naming the ranks that never joined. With {@code closeStore}, closing the group closes the store.
     */
    public static TcpProcessGroup connect(TcpStore store, int rank, int size, Duration timeout, String prefix,
                                          boolean closeStore) {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " is not in a world of " + size);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        TcpMesh mesh = TcpMesh.connect(store, closeStore, rank, size, timeout, prefix);
        int[] ranks = new int[size];
        Arrays.setAll(ranks, i -> i);
        TcpProcessGroup world = new TcpProcessGroup(mesh, 0, ranks, rank, GroupChecks.groupName("world", ranks), null);
        try {
            // both directions of every connection work before anyone uses the group
            world.barrier();
        } catch (RuntimeException e) {
            world.close();
            throw e;
        }
        return world;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return worldRanks.length;
    }

    @Override
    public String name() {
        return name;
    }

    /** How long any wait of this group may take. */
    public Duration timeout() {
        return mesh.timeout;
    }

    // ---- collectives: argument checks on the caller's thread, the work on the comm thread ----

    @Override
    public Work allReduce(Tensor tensor, ReduceOp op) {
        String what = "allReduce in group " + name;
        CpuStorage s = GroupChecks.storage(what, tensor);
        Reduction.check(what, tensor.dtype(), op);
        int base = tensor.offset();
        int n = size();
        long count = tensor.numel();
        IntUnaryOperator lo = k -> (int) (count * k / n);
        return submit(new CollectiveCall(Kind.ALL_REDUCE, 0, tensor.dtype(), tensor.numel(), op, 0), call -> {
            if (n == 1) {
                return;
            }
            int[] all = everyone();
            reduceScatter(call, 0, all, s, base, lo, s, base + lo.applyAsInt(rank));
            allGather(call, 1, all, rank, s, base + lo.applyAsInt(rank), s, base, lo);
        });
    }

    @Override
    public Work reduceScatter(Tensor input, Tensor output, ReduceOp op) {
        String what = "reduceScatter in group " + name;
        CpuStorage in = GroupChecks.storage(what, input);
        CpuStorage out = GroupChecks.storage(what, output);
        GroupChecks.sameDtype(what, input, output);
        GroupChecks.parts(what, input, "input", output, "output", size());
        Reduction.check(what, input.dtype(), op);
        int part = output.numel();
        int inBase = input.offset();
        int outBase = output.offset();
        return submit(new CollectiveCall(Kind.REDUCE_SCATTER, 0, input.dtype(), input.numel(), op, 0), call -> {
            if (size() == 1) {
                StorageBytes.copy(in, inBase, out, outBase, part);
                return;
            }
            reduceScatter(call, 0, everyone(), in, inBase, k -> k * part, out, outBase);
        });
    }

    @Override
    public Work allGather(Tensor input, Tensor output) {
        String what = "allGather in group " + name;
        CpuStorage in = GroupChecks.storage(what, input);
        CpuStorage out = GroupChecks.storage(what, output);
        GroupChecks.sameDtype(what, input, output);
        GroupChecks.parts(what, output, "output", input, "input", size());
        int part = input.numel();
        int inBase = input.offset();
        int outBase = output.offset();
        return submit(new CollectiveCall(Kind.ALL_GATHER, 0, input.dtype(), input.numel(), ReduceOp.SUM, 0), call -> {
            allGather(call, 0, everyone(), rank, in, inBase, out, outBase, k -> k * part);
            StorageBytes.copy(in, inBase, out, outBase + rank * part, part);
        });
    }

    /**
     * Root sends slice i of the tensor to the i-th other rank, then those ranks all-gather their slices:
     * the root sends the tensor once instead of once per rank. Each other rank also sends the root an
     * empty frame, so the root learns who arrived and that all agree on the root.
     */
    @Override
    public Work broadcast(Tensor tensor, int root) {
        String what = "broadcast in group " + name;
        CpuStorage s = GroupChecks.storage(what, tensor);
        GroupChecks.peer(what, "root", root, rank, size(), true);
        int base = tensor.offset();
        long count = tensor.numel();
        int n = size();
        return submit(new CollectiveCall(Kind.BROADCAST, 0, tensor.dtype(), tensor.numel(), ReduceOp.SUM, root), call -> {
            if (n == 1) {
                return;
            }
            int[] others = new int[n - 1];
            for (int k = 0, i = 0; k < n; k++) {
                if (k != root) {
                    others[i++] = k;
                }
            }
            IntUnaryOperator lo = i -> (int) (count * i / (n - 1));
            int e = call.dtype().byteSize();
            int fe = TcpFrame.perFrame(e);
            if (rank == root) {
                int maxFrames = maxFrames(others.length, lo, e);
                for (int f = 0; f < maxFrames; f++) {
                    for (int i = 0; i < others.length; i++) {
                        int len = lo.applyAsInt(i + 1) - lo.applyAsInt(i);
                        if (f < TcpFrame.frames(len, e)) {
                            sendFrame(others[i], call, 0, s, base + lo.applyAsInt(i) + f * fe, Math.min(fe, len - f * fe));
                        }
                    }
                }
                // every other rank said it arrived (and agreed on the root), so a wrong root cannot pass silently
                for (int k : others) {
                    peer(k).release(receive(k, call, 0, 0));
                }
                return;
            }
            sendFrame(root, call, 0, null, 0, 0);
            int me = Arrays.binarySearch(others, rank);
            int len = lo.applyAsInt(me + 1) - lo.applyAsInt(me);
            for (int f = 0; f < TcpFrame.frames(len, e); f++) {
                int cnt = Math.min(fe, len - f * fe);
                TcpFrame fr = receive(root, call, 0, cnt);
                copyIn(root, fr, s, base + lo.applyAsInt(me) + f * fe, cnt);
            }
            if (n > 2) {
                allGather(call, 1, others, me, s, base + lo.applyAsInt(me), s, base, lo);
            }
        });
    }

    @Override
    public void barrier() {
        submit(CollectiveCall.barrier(0), call -> {
            for (int k = 0; k < size(); k++) {
                if (k != rank) {
                    sendFrame(k, call, 0, null, 0, 0);
                }
            }
            for (int k = 0; k < size(); k++) {
                if (k != rank) {
                    peer(k).release(receive(k, call, 0, 0));
                }
            }
        }).await();
    }

    /**
     * Every rank checks that all passed the same lists; rank 0 of this group takes fresh group ids from
     * the store and tells the others. The subgroups reuse the world's connections.
     */
    @Override
    public ProcessGroup split(int[][] groups, String name) {
        int[] member = GroupChecks.splitMembership(groups, size());
        int[][] lists = new int[groups.length][];
        for (int g = 0; g < groups.length; g++) {
            lists[g] = groups[g].clone();
        }
        int hash = Arrays.deepHashCode(lists);
        TcpProcessGroup[] mine = new TcpProcessGroup[1];
        submit(CollectiveCall.split(0), call -> {
            TcpFrame h = commHeader;
            for (int k = 0; k < size(); k++) {
                if (k != rank) {
                    frameHeader(h, call, 0, 0);
                    h.count = hash;
                    write(k, call, h, null);
                }
            }
            for (int k = 0; k < size(); k++) {
                if (k != rank) {
                    TcpFrame f = await(k, call, 0);
                    peer(k).release(f);
                    if (f.kind != call.packedKind() || f.count != hash) {
                        throw new IllegalStateException(call.label() + " in group " + this.name + ": " + rankName(k)
                                + " passed other group lists than " + rankName(rank) + ", which passed "
                                + Arrays.deepToString(lists) + (f.kind != call.packedKind()
                                ? " (" + rankName(k) + " called " + theirs(call, f).signature() + ")" : ""));
                    }
                }
            }
            int first;
            if (rank == 0) {
                first = mesh.allocateGroupIds(lists.length);
                for (int k = 1; k < size(); k++) {
                    frameHeader(h, call, 1, 0);
                    h.count = first;
                    write(k, call, h, null);
                }
            } else {
                TcpFrame f = await(0, call, 1);
                peer(0).release(f);
                first = f.count;
            }
            int g = member[rank];
            if (g >= 0) {
                int[] world = new int[lists[g].length];
                int local = -1;
                for (int i = 0; i < world.length; i++) {
                    world[i] = worldRanks[lists[g][i]];
                    if (lists[g][i] == rank) {
                        local = i;
                    }
                }
                TcpProcessGroup sub = new TcpProcessGroup(mesh, first + g, world, local,
                        GroupChecks.groupName(name, world), this);
                synchronized (children) {
                    children.add(sub);
                }
                mine[0] = sub;
            }
        }).await();
        return mine[0];
    }

    // ---- point to point ----

    /** Queues the message on this handle's sender thread; completes once it is written to the socket. */
    @Override
    public Work send(Tensor tensor, int dst, int tag) {
        CpuStorage s = GroupChecks.p2p("send", name, tensor, "destination", dst, rank, size());
        String label = "send to rank " + dst + " (tag " + tag + ") in group " + name + " on rank " + rank;
        int base = tensor.offset();
        int count = tensor.numel();
        DType dtype = tensor.dtype();
        return sender.submit(label, () -> {
            int e = dtype.byteSize();
            int fe = TcpFrame.perFrame(e);
            TcpFrame h = sendHeader;
            for (int f = 0, frames = TcpFrame.frames(count, e); f < frames; f++) {
                int cnt = Math.min(fe, count - f * fe);
                h.type = TcpFrame.P2P;
                h.group = groupId;
                h.key = tag;
                h.phase = 0;
                h.kind = dtype.ordinal();
                h.count = count;
                h.root = 0;
                h.length = cnt * e;
                ByteBuffer payload = stage(sendStaging, sendSegment, s, base + f * fe, cnt);
                try {
                    peer(dst).write(h, payload);
                } catch (TcpPeer.Lost l) {
                    throw new RankFailedException(label + ": " + rankName(dst) + " " + l.getMessage(), dst, l.getCause());
                }
            }
        });
    }

    @Override
    public Work recv(Tensor tensor, int src, int tag) {
        CpuStorage s = GroupChecks.p2p("recv", name, tensor, "source", src, rank, size());
        String label = "recv from rank " + src + " (tag " + tag + ") in group " + name + " on rank " + rank;
        PendingWork w = new PendingWork(label);
        if (closed) {
            w.fail(new IllegalStateException(label + ": the group is closed"));
            return w;
        }
        TcpPeer.RecvPost p = new TcpPeer.RecvPost(groupId, tag, s, tensor.offset(), tensor.dtype(), tensor.numel(), w,
                label, src, rankName(src));
        TcpPeer peer = peer(src);
        peer.post(p);
        if (!w.isDone()) {
            p.timer = mesh.timer.schedule(() -> peer.expire(p, GroupChecks.duration(mesh.timeout)), mesh.timeoutNanos,
                    TimeUnit.NANOSECONDS);
        }
        return w;
    }

    // ---- the phases collectives are made of ----

    /** A collective's body on the comm thread, given the call with its sequence number. */
    private interface Body {
        void run(CollectiveCall call) throws InterruptedException;
    }

    private synchronized Work submit(CollectiveCall template, Body body) {
        CollectiveCall call = template.withSeq(nextSeq++);
        return comm.submit(call.label() + " in group " + name + " on rank " + rank, () -> body.run(call));
    }

    private int[] everyone() {
        int[] all = new int[size()];
        Arrays.setAll(all, i -> i);
        return all;
    }

    /**
     * Reduce-scatter among {@code members} (group ranks; this rank is one of them): member i owns elements
     * {@code [lo(i), lo(i+1))} of the input. Frame by frame, this rank sends every other owner its slice
     * of frame f, then reduces frame f of its own slice from every member's values in rank order into
     * {@code out} at {@code outBase}.
     */
    private void reduceScatter(CollectiveCall call, int phase, int[] members, CpuStorage in, int inBase,
                               IntUnaryOperator lo, CpuStorage out, int outBase) throws InterruptedException {
        int n = members.length;
        int me = Arrays.binarySearch(members, rank);
        int e = call.dtype().byteSize();
        int fe = TcpFrame.perFrame(e);
        int mine = lo.applyAsInt(me + 1) - lo.applyAsInt(me);
        int maxFrames = maxFrames(n, lo, e);
        Reduction.Operand[] operands = new Reduction.Operand[n];
        TcpFrame[] got = new TcpFrame[n];
        for (int f = 0; f < maxFrames; f++) {
            for (int j = 1; j < n; j++) {
                int i = (me + j) % n;
                int len = lo.applyAsInt(i + 1) - lo.applyAsInt(i);
                if (f < TcpFrame.frames(len, e)) {
                    sendFrame(members[i], call, phase, in, inBase + lo.applyAsInt(i) + f * fe, Math.min(fe, len - f * fe));
                }
            }
            if (f >= TcpFrame.frames(mine, e)) {
                continue;
            }
            int cnt = Math.min(fe, mine - f * fe);
            try {
                for (int i = 0; i < n; i++) {
                    if (i == me) {
                        operands[i] = new Reduction.Heap(in, inBase + lo.applyAsInt(me) + f * fe);
                    } else {
                        got[i] = receive(members[i], call, phase, cnt);
                        operands[i] = new Reduction.Bytes(got[i].segment == null ? MemorySegment.NULL : got[i].segment);
                    }
                }
                if (cnt > 0) {
                    Reduction.reduce(call.op(), call.dtype(), operands, cnt,
                            new Reduction.Heap[] {new Reduction.Heap(out, outBase + f * fe)}, scratch);
                }
            } finally {
                for (int i = 0; i < n; i++) {
                    if (got[i] != null) {
                        peer(members[i]).release(got[i]);
                        got[i] = null;
                    }
                }
            }
        }
    }

    /**
     * All-gather among {@code members}: member i's slice is {@code [lo(i), lo(i+1))} of {@code dst}; this
     * rank (member {@code me}) sends its slice from {@code src} at {@code srcBase} to every other member,
     * frame by frame, and copies theirs into {@code dst}. Its own slice is not copied.
     */
    private void allGather(CollectiveCall call, int phase, int[] members, int me, CpuStorage src, int srcBase,
                           CpuStorage dst, int dstBase, IntUnaryOperator lo) throws InterruptedException {
        int n = members.length;
        int e = call.dtype().byteSize();
        int fe = TcpFrame.perFrame(e);
        int mine = lo.applyAsInt(me + 1) - lo.applyAsInt(me);
        int maxFrames = maxFrames(n, lo, e);
        for (int f = 0; f < maxFrames; f++) {
            if (f < TcpFrame.frames(mine, e)) {
                for (int j = 1; j < n; j++) {
                    sendFrame(members[(me + j) % n], call, phase, src, srcBase + f * fe, Math.min(fe, mine - f * fe));
                }
            }
            for (int j = 1; j < n; j++) {
                int i = (me - j + n) % n;
                int len = lo.applyAsInt(i + 1) - lo.applyAsInt(i);
                if (f < TcpFrame.frames(len, e)) {
                    int cnt = Math.min(fe, len - f * fe);
                    copyIn(members[i], receive(members[i], call, phase, cnt), dst, dstBase + lo.applyAsInt(i) + f * fe, cnt);
                }
            }
        }
    }

    // ---- frames ----

    /** Frames of the largest of {@code n} slices {@code [lo(i), lo(i+1))} of {@code e}-byte elements. */
    private static int maxFrames(int n, IntUnaryOperator lo, int e) {
        int max = 0;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, TcpFrame.frames(lo.applyAsInt(i + 1) - lo.applyAsInt(i), e));
        }
        return max;
    }

    private TcpPeer peer(int k) {
        return mesh.peer(worldRanks[k]);
    }

    private static ByteBuffer stage(ByteBuffer staging, MemorySegment segment, CpuStorage s, int offset, int count) {
        if (count == 0) {
            return null;
        }
        int bytes = count * s.dtype().byteSize();
        StorageBytes.toBytes(s, offset, count, segment, 0);
        return staging.clear().limit(bytes);
    }

    private void frameHeader(TcpFrame h, CollectiveCall call, int phase, int bytes) {
        h.type = TcpFrame.COLLECTIVE;
        h.group = groupId;
        h.key = call.seq();
        h.phase = phase;
        h.length = bytes;
        h.kind = call.packedKind();
        h.count = call.count();
        h.root = call.root();
    }

    /** Sends {@code count} elements of {@code s} from {@code offset} to group rank {@code k} as one frame. */
    private void sendFrame(int k, CollectiveCall call, int phase, CpuStorage s, int offset, int count) {
        frameHeader(commHeader, call, phase, count * call.dtype().byteSize());
        write(k, call, commHeader, s == null ? null : stage(commStaging, commSegment, s, offset, count));
    }

    private void write(int k, CollectiveCall call, TcpFrame h, ByteBuffer payload) {
        if (closed) {
            throw new IllegalStateException(context(call) + ": the group was closed");
        }
        try {
            peer(k).write(h, payload);
        } catch (TcpPeer.Lost l) {
            throw new RankFailedException(context(call) + ": " + rankName(k) + " " + l.getMessage(), k, l.getCause());
        }
    }

    /** The next frame of this call's phase from group rank {@code k}, checked against this rank's call. */
    private TcpFrame receive(int k, CollectiveCall call, int phase, int count) throws InterruptedException {
        TcpFrame f = await(k, call, phase);
        if (f.kind != call.packedKind() || f.count != call.count() || f.root != call.root()) {
            peer(k).release(f);
            throw new IllegalStateException(call.label() + " in group " + name + ": " + rankName(k) + " called "
                    + theirs(call, f).signature() + " but " + rankName(rank) + " called " + call.signature());
        }
        if (f.length != count * call.dtype().byteSize()) {
            peer(k).release(f);
            throw new IllegalStateException(context(call) + ": " + rankName(k) + " sent a frame of " + f.length
                    + " bytes where " + count * call.dtype().byteSize() + " were due (protocol error)");
        }
        return f;
    }

    private TcpFrame await(int k, CollectiveCall call, int phase) throws InterruptedException {
        TcpPeer p = peer(k);
        TcpFrame f;
        try {
            f = p.take(groupId, call.seq(), phase, System.nanoTime() + mesh.timeoutNanos, () -> closed);
        } catch (TcpPeer.Lost l) {
            throw new RankFailedException(context(call) + ": " + rankName(k) + " " + l.getMessage(), k, l.getCause());
        }
        if (f == null) {
            if (closed) {
                throw new IllegalStateException(context(call) + ": the group was closed");
            }
            throw timeout(call, k);
        }
        return f;
    }

    private void copyIn(int k, TcpFrame f, CpuStorage dst, int offset, int count) {
        try {
            if (count > 0) {
                StorageBytes.fromBytes(f.segment, 0, dst, offset, count);
            }
        } finally {
            peer(k).release(f);
        }
    }

    private CollectiveCall theirs(CollectiveCall call, TcpFrame f) {
        return CollectiveCall.unpack(call.seq(), f.kind, f.count, f.root);
    }

    private CollectiveTimeoutException timeout(CollectiveCall call, int waitedFor) {
        List<Integer> missing = new ArrayList<>();
        for (int k = 0; k < size(); k++) {
            if (k != rank && !peer(k).arrived(groupId, call.seq())) {
                missing.add(k);
            }
        }
        return new CollectiveTimeoutException(context(call) + " timed out after " + GroupChecks.duration(mesh.timeout) + ": "
                + (missing.isEmpty() ? rankName(waitedFor) + " arrived but did not send all its data"
                : GroupChecks.rankNames(missing, worldRanks) + " did not arrive"));
    }

    private String context(CollectiveCall call) {
        return call.label() + " in group " + name + " on rank " + rank;
    }

    private String rankName(int k) {
        return GroupChecks.rankName(k, worldRanks);
    }

    // ---- closing ----

    /**
     * Closes this handle. Sends already issued are written first; collectives still queued fail; the other
     * ranks' waits on this rank fail at once (it tells them). Closing the world handle closes the
     * subgroups and the connections.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<TcpProcessGroup> subs;
        synchronized (children) {
            subs = List.copyOf(children);
        }
        for (TcpProcessGroup c : subs) {
            c.close();
        }
        // sends already issued still go out (a rank may send and close without waiting); each write is
        // bounded by the stalled-write watchdog
        sender.drain();
        // no interrupts: an interrupt during a socket write would close the connection under other groups
        comm.close(false);
        sender.close(false);
        for (int k = 0; k < size(); k++) {
            if (k != rank) {
                peer(k).wake();
            }
        }
        if (parent == null) {
            mesh.close();
        } else {
            for (int k = 0; k < size(); k++) {
                if (k != rank) {
                    peer(k).sendGroupClosed(groupId);
                }
            }
            synchronized (parent.children) {
                parent.children.remove(this);
            }
        }
    }

    @Override
    public String toString() {
        return "TcpProcessGroup(" + name + ", rank " + rank + " of " + size() + ")";
    }
}
