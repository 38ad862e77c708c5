package org.internlmj.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.internlmj.dist.MpiStaging.Wire;
import org.internlmj.ffm.Mpi;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;

/**
 * A {@link ProcessGroup} over an MPI communicator (Open MPI through FFM): CPU training across processes
 * and machines started by {@code mpirun} or {@code srun}.
 *
 * <pre>{@code
 * try (MpiProcessGroup world = MpiProcessGroup.world()) {       // rank and size from the launcher
 *     world.allReduce(grads, ReduceOp.AVG).await();
 * }
 * }</pre>
 *
 * <p><b>Asynchrony.</b> Collectives run Open MPI's blocking collectives on a thread of their own per
 * group, in call order, so they overlap the caller's compute and groups never wait for each other. The
 * blocking ones, because Open MPI's nonblocking collectives (libnbc) reduce to one rank and broadcast
 * below four ranks and for in-place calls, and reduce to one rank and scatter for reduce-scatter: its
 * nonblocking all-reduce measured 2.4-2.7x slower than the blocking one at np=2 (docs/MPI.md). Large tensors go through MPI in pieces of about 1 MB, each
 * staged in and out while it is in cache. Send and receive are posted nonblocking at once and finished
 * by a progress thread, so opposite sends of a pipeline schedule cannot deadlock. Collectives read their
 * tensors on the group's thread, so those must not be touched until the {@link Work} completes; a send
 * copies its tensor before it returns, so a sent tensor may be reused at once. While a collective waits
 * for a late rank, MPI keeps its thread busy polling (one core).
 *
 * <p><b>Numbers.</b> F32, F64, BF16, F16, I32 and I64. BF16 and F16 are reduced in fp32 and rounded once;
 * AVG is SUM then a division by the group size (floating dtypes only). MPI's reductions give the same
 * bits on every rank.
 *
 * <p><b>Timeouts.</b> Every operation must finish within the group's {@link #timeout()} (300 s unless set;
 * subgroups inherit it). One that does not fails with a {@link CollectiveTimeoutException} naming the
 * operation, the group and the ranks that did not arrive (asked over a side channel the ranks answer even
 * while their main thread sleeps), printed on stderr, and then the job is aborted with
 * {@code MPI_Abort}: MPI cannot cancel a collective, so nothing else could recover. A rank that dies is
 * noticed by the launcher, which ends the job itself.
 *
 * <p>The world group is created once per process; closing it finalizes MPI, which cannot be started
 * again in that process, so close it last, from the thread that created it.
 */
public final class MpiProcessGroup implements ProcessGroup {
    /** Process-wide settings, fixed when the world group is created. */
    public record Options(Duration timeout, boolean abortOnTimeout) {
        /** The default timeout of every operation: long enough for a slow checkpoint on another rank. */
        public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(300);

        public Options {
            Objects.requireNonNull(timeout, "timeout");
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("the collective timeout must be positive, got " + timeout);
            }
        }

        /** 300 s, abort the job on a timeout. */
        public static Options defaults() {
            return new Options(DEFAULT_TIMEOUT, true);
        }

        public Options withTimeout(Duration t) {
            return new Options(t, abortOnTimeout);
        }

        /**
         * Whether a timeout aborts the job (the default). Without it the operation fails, the group is
         * unusable and the process must end itself: the collective can never be cancelled.
         */
        public Options withAbortOnTimeout(boolean abort) {
            return new Options(timeout, abort);
        }
    }

    static final long WORLD_ID = 1;
    static final long QUERY_COLLECTIVE = 1;
    static final long QUERY_POINT_TO_POINT = 2;
    /** How many past collectives each group remembers the kind of, to spot calls made in different orders. */
    private static final int HISTORY = 256;
    /** The largest tag MPI guarantees. */
    public static final int MAX_TAG = 32767;
    private static final AtomicLong CREATION = new AtomicLong();

    private static MpiProcessGroup world;

    private final MpiRuntime runtime;
    private final MpiComm comm;
    private final long id;
    private final String name;
    private final int[] worldRanks;
    private final long createdAt = CREATION.incrementAndGet();
    private volatile Duration timeout;

    // Guarded by this.
    private long submitted;
    private long completed;
    private final byte[] history = new byte[HISTORY];
    private final Map<Long, long[]> posted = new HashMap<>();
    private final LinkedBlockingQueue<MpiOp> queue = new LinkedBlockingQueue<>();
    private Thread worker;
    private boolean closed;
    private RuntimeException broken;

    private MpiProcessGroup(MpiRuntime runtime, MpiComm comm, long id, String name, int[] worldRanks,
                            Duration timeout) {
        this.runtime = runtime;
        this.comm = comm;
        this.id = id;
        this.name = name + "[" + formatRanks(worldRanks) + "]";
        this.worldRanks = worldRanks;
        this.timeout = timeout;
        if (comm.size() != worldRanks.length) {
            throw new IllegalStateException("communicator of " + this.name + " has " + comm.size() + " ranks, expected "
                    + worldRanks.length);
        }
    }

    // ------------------------------------------------------------------ rendezvous

    /** The launcher that started this process ("mpirun", "PMIx", "PMI"), or null if none did. */
    public static String launcher() {
        if (System.getenv("OMPI_COMM_WORLD_RANK") != null) {
            return "mpirun";
        }
        if (System.getenv("PMIX_RANK") != null) {
            return "PMIx";
        }
        if (System.getenv("PMI_RANK") != null) {
            return "PMI";
        }
        return null;
    }

    /** True when {@code mpirun} or {@code srun} started this process. */
    public static boolean launchedByMpi() {
        return launcher() != null;
    }

    /** {@link #world(Options)} with {@link Options#defaults()}. */
    public static MpiProcessGroup world() {
        return world(Options.defaults());
    }

    /**
     * Every process of the job, in launcher rank order; initializes MPI on the first call (later calls
     * return the same group and ignore {@code options}). Fails with a clear message when the process was
     * not started by {@code mpirun}/{@code srun} or libmpi cannot be loaded.
     */
    public static synchronized MpiProcessGroup world(Options options) {
        Objects.requireNonNull(options, "options");
        if (world != null) {
            if (world.isClosed()) {
                throw new IllegalStateException("the MPI world group was closed, which finalized MPI; MPI cannot be "
                        + "initialized twice in one process");
            }
            return world;
        }
        if (!launchedByMpi()) {
            throw new IllegalStateException("this process was not started by mpirun or srun (none of "
                    + "OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK is set): start it as `mpirun -np N java ...` "
                    + "or `srun -n N java ...`");
        }
        MpiRuntime rt = MpiRuntime.start(options.abortOnTimeout());
        int[] ranks = new int[rt.world.size()];
        Arrays.setAll(ranks, i -> i);
        MpiProcessGroup g = new MpiProcessGroup(rt, rt.world, WORLD_ID, "world", ranks, options.timeout());
        rt.register(g);
        world = g;
        return g;
    }

    // ------------------------------------------------------------------ identity and settings

    @Override
    public int rank() {
        return comm.rank();
    }

    @Override
    public int size() {
        return comm.size();
    }

    @Override
    public String name() {
        return name;
    }

    /** The world rank of {@code groupRank}. */
    public int worldRank(int groupRank) {
        Objects.checkIndex(groupRank, worldRanks.length);
        return worldRanks[groupRank];
    }

    /**
     * How long any operation of this group may take before the watchdog ends the job, counted from when
     * it starts in MPI (a collective queued behind this group's earlier ones starts when they are done).
     */
    public Duration timeout() {
        return timeout;
    }

    /** Sets this group's timeout for operations started from now on; subgroups created later inherit it. */
    public void setTimeout(Duration t) {
        Objects.requireNonNull(t, "timeout");
        if (t.isNegative() || t.isZero()) {
            throw new IllegalArgumentException("the collective timeout must be positive, got " + t);
        }
        this.timeout = t;
    }

    long timeoutNanos() {
        return timeout.toNanos();
    }

    long id() {
        return id;
    }

    long createdAt() {
        return createdAt;
    }

    synchronized boolean isClosed() {
        return closed;
    }

    // ------------------------------------------------------------------ collectives

    @Override
    public Work allReduce(Tensor tensor, ReduceOp op) {
        MpiStaging.checkTensor("allReduce", "tensor", tensor);
        MemorySegment mpiOp = reduction("allReduce", tensor.dtype(), op);
        Wire wire = Wire.of(tensor.dtype(), true);
        int n = tensor.numel();
        int divisor = op == ReduceOp.AVG ? size() : 1;
        int step = chunk(wire, 1);
        return submit(MpiOp.Kind.ALL_REDUCE, describe(tensor, op), self -> staged(wire.bytes(Math.min(n, step)), buf -> {
            for (int o = 0; o < n; o += step) {
                Tensor part = slice(tensor, o, Math.min(step, n - o));
                MpiStaging.toWire(part, wire, buf, 0);
                comm.allReduce(buf, part.numel(), wire, mpiOp);
                MpiStaging.fromWire(buf, 0, wire, part, divisor);
            }
        }));
    }

    @Override
    public Work reduceScatter(Tensor input, Tensor output, ReduceOp op) {
        MpiStaging.checkTensor("reduceScatter", "input", input);
        MpiStaging.checkTensor("reduceScatter", "output", output);
        sameDtype("reduceScatter", input, output);
        int size = size();
        if ((long) output.numel() * size != input.numel()) {
            throw new IllegalArgumentException("reduceScatter on " + name + ": input has " + input.numel()
                    + " elements, expected group size " + size + " x output's " + output.numel());
        }
        MemorySegment mpiOp = reduction("reduceScatter", input.dtype(), op);
        Wire wire = Wire.of(input.dtype(), true);
        int n = output.numel();
        int divisor = op == ReduceOp.AVG ? size : 1;
        int step = chunk(wire, size);
        return submit(MpiOp.Kind.REDUCE_SCATTER, describe(input, op),
                self -> staged(wire.bytes((long) size * Math.min(n, step)), buf -> {
                    for (int o = 0; o < n; o += step) {
                        int len = Math.min(step, n - o);
                        for (int r = 0; r < size; r++) {
                            MpiStaging.toWire(slice(input, r * n + o, len), wire, buf, wire.bytes((long) r * len));
                        }
                        comm.reduceScatterBlock(buf, len, wire, mpiOp);
                        MpiStaging.fromWire(buf, 0, wire, slice(output, o, len), divisor);
                    }
                }));
    }

    @Override
    public Work allGather(Tensor input, Tensor output) {
        MpiStaging.checkTensor("allGather", "input", input);
        MpiStaging.checkTensor("allGather", "output", output);
        sameDtype("allGather", input, output);
        int size = size();
        if ((long) input.numel() * size != output.numel()) {
            throw new IllegalArgumentException("allGather on " + name + ": output has " + output.numel()
                    + " elements, expected group size " + size + " x input's " + input.numel());
        }
        Wire wire = Wire.of(input.dtype(), false);
        int n = input.numel();
        int me = rank();
        int step = chunk(wire, size);
        return submit(MpiOp.Kind.ALL_GATHER, input.dtype() + " x " + n,
                self -> staged(wire.bytes((long) size * Math.min(n, step)), buf -> {
                    for (int o = 0; o < n; o += step) {
                        int len = Math.min(step, n - o);
                        MpiStaging.toWire(slice(input, o, len), wire, buf, wire.bytes((long) me * len));
                        comm.allGather(buf, len, wire);
                        for (int r = 0; r < size; r++) {
                            MpiStaging.fromWire(buf, wire.bytes((long) r * len), wire, slice(output, r * n + o, len), 1);
                        }
                    }
                }));
    }

    @Override
    public Work broadcast(Tensor tensor, int root) {
        MpiStaging.checkTensor("broadcast", "tensor", tensor);
        checkRank("broadcast", "root", root);
        Wire wire = Wire.of(tensor.dtype(), false);
        int n = tensor.numel();
        boolean isRoot = root == rank();
        int step = chunk(wire, 1);
        return submit(MpiOp.Kind.BROADCAST, tensor.dtype() + " x " + n + " from rank " + root,
                self -> staged(wire.bytes(Math.min(n, step)), buf -> {
                    for (int o = 0; o < n; o += step) {
                        Tensor part = slice(tensor, o, Math.min(step, n - o));
                        if (isRoot) {
                            MpiStaging.toWire(part, wire, buf, 0);
                        }
                        comm.broadcast(buf, part.numel(), wire, root);
                        if (!isRoot) {
                            MpiStaging.fromWire(buf, 0, wire, part, 1);
                        }
                    }
                }));
    }

    /**
     * Elements per MPI call when one call moves {@code parts} blocks (the group size for reduce-scatter
     * and all-gather). Large tensors go through MPI in pieces of about {@value #CHUNK_BYTES} bytes (more
     * in large groups, so that each rank's share of a piece stays around {@value #CHUNK_BYTES_PER_RANK}):
     * each piece is copied in, reduced and copied out while it is still in cache, which hides the staging
     * copies (a 64 MB all-reduce at np=2 staged whole took ~1.6x the bare MPI call, in 1 MB pieces about
     * the same as the bare call), and the staging buffer stays small whatever the tensor size.
     */
    private int chunk(Wire wire, int parts) {
        long target = Math.max(CHUNK_BYTES, (long) size() * CHUNK_BYTES_PER_RANK);
        return (int) Math.max(1, target / ((long) parts * wire.elementBytes()));
    }

    private static final long CHUNK_BYTES = 1 << 20;
    private static final long CHUNK_BYTES_PER_RANK = 256 << 10;

    /** Elements {@code [from, from + len)} of a contiguous tensor, as a 1-d view. */
    private static Tensor slice(Tensor t, int from, int len) {
        return Tensor.view(t.storage(), new int[] {len}, new int[] {1}, t.offset() + from);
    }

    @Override
    public void barrier() {
        submit(MpiOp.Kind.BARRIER, "", self -> {
            comm.barrier();
            return null;
        }).await();
    }

    @Override
    public ProcessGroup split(int[][] groups, String childName) {
        Objects.requireNonNull(childName, "name");
        int color = Mpi.MPI_UNDEFINED;
        int key = 0;
        boolean[] seen = new boolean[size()];
        for (int gi = 0; gi < groups.length; gi++) {
            if (groups[gi] == null || groups[gi].length == 0) {
                throw new IllegalArgumentException("split of " + name + ": subgroup " + gi + " is empty");
            }
            for (int j = 0; j < groups[gi].length; j++) {
                int r = groups[gi][j];
                checkRank("split", "subgroup " + gi + " member", r);
                if (seen[r]) {
                    throw new IllegalArgumentException("split of " + name + ": rank " + r
                            + " is listed twice in " + Arrays.deepToString(groups));
                }
                seen[r] = true;
                if (r == rank()) {
                    color = gi;
                    key = j;
                }
            }
        }
        int myColor = color;
        int myKey = key;
        int[] members = myColor == Mpi.MPI_UNDEFINED ? null : groups[myColor].clone();
        MpiOp op = submit(MpiOp.Kind.SPLIT, childName, self -> {
            int[] childWorld = null;
            String label = childName;
            if (members != null) {
                childWorld = new int[members.length];
                for (int j = 0; j < members.length; j++) {
                    childWorld[j] = worldRanks[members[j]];
                }
                label = childName + "[" + formatRanks(childWorld) + "]";
            }
            MpiComm child = comm.split(myColor, myKey, label);
            if (child == null) {
                return null;
            }
            MpiProcessGroup g = new MpiProcessGroup(runtime, child, childId(id, self.seq, myColor), childName, childWorld,
                    timeout);
            runtime.register(g);
            return g;
        });
        op.await();
        return (ProcessGroup) op.result();
    }

    /** The id every member computes alike for the subgroup: the side channel names groups by it. */
    private static long childId(long parent, long seq, int color) {
        long z = parent * 0x9E3779B97F4A7C15L + seq * 0xBF58476D1CE4E5B9L + color + 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return z == WORLD_ID ? z + 1 : z;
    }

    // ------------------------------------------------------------------ point to point

    @Override
    public Work send(Tensor tensor, int dst, int tag) {
        return pointToPoint(MpiOp.Kind.SEND, tensor, dst, tag);
    }

    @Override
    public Work recv(Tensor tensor, int src, int tag) {
        return pointToPoint(MpiOp.Kind.RECV, tensor, src, tag);
    }

    private Work pointToPoint(MpiOp.Kind kind, Tensor tensor, int peer, int tag) {
        String what = kind.label;
        MpiStaging.checkTensor(what, "tensor", tensor);
        checkRank(what, kind == MpiOp.Kind.SEND ? "dst" : "src", peer);
        if (tag < 0 || tag > MAX_TAG) {
            throw new IllegalArgumentException(what + " on " + name + ": tag " + tag + " is outside [0, " + MAX_TAG + "]");
        }
        Wire wire = Wire.of(tensor.dtype(), false);
        int n = tensor.numel();
        MemorySegment buf = runtime.staging.acquire(wire.bytes(n));
        if (kind == MpiOp.Kind.SEND) {
            // The data is taken now: the caller may reuse a sent tensor as soon as send returns.
            MpiStaging.toWire(tensor, wire, buf, 0);
        }
        // The request slot is read by MPI only during our calls, so a GC-managed segment is safe.
        MemorySegment request = Arena.ofAuto().allocate(Mpi.C_POINTER);
        MpiOp op;
        synchronized (this) {
            try {
                checkUsable(what);
            } catch (RuntimeException e) {
                runtime.staging.release(buf);
                throw e;
            }
            long[] counts = posted.computeIfAbsent(peerKey(peer, tag), k -> new long[2]);
            long nth = ++counts[kind == MpiOp.Kind.SEND ? 0 : 1];
            op = new MpiOp(this, kind, nth, tensor.dtype() + " x " + n, peer, tag, null);
            op.started(timeoutNanos());
            runtime.running.add(op);
            try {
                if (kind == MpiOp.Kind.SEND) {
                    comm.isend(buf, n, wire, peer, tag, request);
                } else {
                    comm.irecv(buf, n, wire, peer, tag, request);
                }
            } catch (RuntimeException e) {
                runtime.running.remove(op);
                runtime.staging.release(buf);
                op.finish(null, e);
                throw e;
            }
        }
        Runnable onSuccess = kind == MpiOp.Kind.SEND ? () -> { }
                : () -> MpiStaging.fromWire(buf, 0, wire, tensor, 1);
        runtime.progress.add(new MpiProgress.Pending(op, request, buf, n, wire.mpiType(), onSuccess));
        return op;
    }

    private static long peerKey(int peer, int tag) {
        return ((long) peer << 32) | tag;
    }

    /** Called by the progress thread when a send or receive finished. */
    void pointToPointFinished(MpiOp op) {
        runtime.running.remove(op);
    }

    // ------------------------------------------------------------------ the group's thread

    private MpiOp submit(MpiOp.Kind kind, String detail, MpiOp.Body body) {
        synchronized (this) {
            checkUsable(kind.label);
            return enqueue(kind, detail, body);
        }
    }

    private MpiOp enqueue(MpiOp.Kind kind, String detail, MpiOp.Body body) {
        long seq = ++submitted;
        history[(int) (seq % HISTORY)] = (byte) kind.ordinal();
        MpiOp op = new MpiOp(this, kind, seq, detail, -1, 0, body);
        if (worker == null) {
            worker = new Thread(this::work, "internlmj-mpi-" + name);
            worker.setDaemon(true);
            worker.start();
        }
        queue.add(op);
        return op;
    }

    /**
     * Runs {@code use} with a staging buffer of {@code bytes}. A blocking MPI call that returns, even with
     * an error, is done with its buffer, so the buffer goes back to the pool; one that never returns
     * never reaches the {@code finally}, so a hung collective's buffer is never handed out again.
     */
    private Object staged(long bytes, java.util.function.Consumer<MemorySegment> use) {
        MemorySegment buf = runtime.staging.acquire(bytes);
        try {
            use.accept(buf);
        } finally {
            runtime.staging.release(buf);
        }
        return null;
    }

    private void work() {
        while (true) {
            MpiOp op;
            try {
                op = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            RuntimeException b;
            synchronized (this) {
                b = broken;
            }
            if (b != null) {
                op.finish(null, new IllegalStateException(name + " is unusable: " + b.getMessage(), b));
                continue;
            }
            op.started(timeoutNanos());
            runtime.running.add(op);
            Object result = null;
            Throwable error = null;
            try {
                result = op.body.run(op);
            } catch (Throwable t) {
                error = t;
            }
            runtime.running.remove(op);
            synchronized (this) {
                completed++;
            }
            op.finish(result, error);
            if (op.kind == MpiOp.Kind.CLOSE) {
                return;
            }
        }
    }

    /** The watchdog's verdict: fail the operation, and everything queued behind it, for good. */
    void timedOut(MpiOp op, CollectiveTimeoutException e) {
        synchronized (this) {
            if (broken == null) {
                broken = e;
            }
        }
        op.finish(null, e);
        for (MpiOp queued; (queued = queue.poll()) != null; ) {
            queued.finish(null, new IllegalStateException(queued.describe() + " was not started: " + e.getMessage(), e));
        }
    }

    /** Answers another rank's watchdog (on the progress thread); see {@link MpiTimeoutReport}. */
    synchronized long[] answer(long[] query) {
        long[] reply = new long[MpiProgress.WORDS];
        reply[MpiTimeoutReport.KNOWN] = 1;
        if (query[0] == QUERY_COLLECTIVE) {
            long seq = query[2];
            reply[MpiTimeoutReport.SUBMITTED] = submitted;
            reply[MpiTimeoutReport.COMPLETED] = completed;
            reply[MpiTimeoutReport.KIND_OF_SEQ] = kindAt(seq);
            reply[MpiTimeoutReport.KIND_OF_LAST] = kindAt(submitted);
        } else if (query[0] == QUERY_POINT_TO_POINT) {
            // The asker's send is matched by our receives from it, and the other way round.
            boolean askerSends = query[2] == MpiOp.Kind.SEND.ordinal();
            long[] counts = posted.get(peerKey((int) query[3], (int) query[4]));
            reply[MpiTimeoutReport.POSTED] = counts == null ? 0 : counts[askerSends ? 1 : 0];
        }
        return reply;
    }

    private long kindAt(long seq) {
        if (seq < 1 || seq > submitted || submitted - seq >= HISTORY) {
            return -1;
        }
        return history[(int) (seq % HISTORY)];
    }

    // ------------------------------------------------------------------ closing

    /**
     * Frees the communicator once the operations already called have finished; closing the world group
     * closes every subgroup still open and finalizes MPI. Idempotent.
     */
    @Override
    public void close() {
        boolean isWorld = id == WORLD_ID;
        if (isWorld) {
            for (MpiProcessGroup g : runtime.subgroups()) {
                g.close();
            }
        }
        MpiOp op = null;
        boolean wasBroken;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            wasBroken = broken != null;
            if (!wasBroken) {
                if (worker == null) {
                    comm.free();
                } else {
                    op = enqueue(MpiOp.Kind.CLOSE, "", self -> {
                        comm.free();
                        return null;
                    });
                }
            }
        }
        try {
            if (op != null) {
                op.await();
            }
        } finally {
            runtime.unregister(this);
            if (isWorld) {
                runtime.shutdown(this, wasBroken || anyBroken());
            }
        }
    }

    private boolean anyBroken() {
        return runtime.running.stream().anyMatch(o -> o.group.isBroken());
    }

    private synchronized boolean isBroken() {
        return broken != null;
    }

    // ------------------------------------------------------------------ checks and names

    private void checkUsable(String op) {
        if (closed) {
            throw new IllegalStateException(op + " on " + name + ": the group is closed");
        }
        if (broken != null) {
            throw new IllegalStateException(op + " on " + name + ": the group is unusable after an earlier failure: "
                    + broken.getMessage(), broken);
        }
        Throwable crashed = runtime.progress.crashed();
        if (crashed != null) {
            throw new IllegalStateException(op + " on " + name + ": the MPI progress thread failed: " + crashed, crashed);
        }
    }

    private void checkRank(String op, String role, int r) {
        if (r < 0 || r >= size()) {
            throw new IllegalArgumentException(op + " on " + name + ": " + role + " " + r + " is not a rank of this group "
                    + "(size " + size() + ")");
        }
    }

    private void sameDtype(String op, Tensor a, Tensor b) {
        if (a.dtype() != b.dtype()) {
            throw new IllegalArgumentException(op + " on " + name + ": input is " + a.dtype() + ", output is " + b.dtype());
        }
    }

    private MemorySegment reduction(String op, DType dtype, ReduceOp reduceOp) {
        Objects.requireNonNull(reduceOp, "op");
        if (reduceOp == ReduceOp.AVG && !dtype.isFloating()) {
            throw new IllegalArgumentException(op + " on " + name + ": AVG of " + dtype
                    + " would truncate; use SUM and divide where the rounding is wanted");
        }
        return reduceOp == ReduceOp.MAX ? Mpi.MPI_MAX() : Mpi.MPI_SUM();
    }

    private static String describe(Tensor t, ReduceOp op) {
        return t.dtype() + " x " + t.numel() + ", " + op;
    }

    /** "0-3", "0,2,4,6", "0-3,8-11": runs of three or more consecutive ranks are shortened. */
    static String formatRanks(int[] ranks) {
        StringBuilder sb = new StringBuilder();
        int i = 0;
        while (i < ranks.length) {
            int j = i;
            while (j + 1 < ranks.length && ranks[j + 1] == ranks[j] + 1) {
                j++;
            }
            if (sb.length() > 0) {
                sb.append(',');
            }
            if (j - i >= 2) {
                sb.append(ranks[i]).append('-').append(ranks[j]);
                i = j + 1;
            } else {
                sb.append(ranks[i]);
                i++;
            }
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return name + " rank " + rank() + " of " + size();
    }
}
