package org.internlmj.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.internlmj.ffm.NativeLibraryException;
import org.internlmj.ffm.cuda.Nccl;
import org.internlmj.ffm.cuda.NcclException;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cuda.CudaBackend;
import org.internlmj.tensor.cuda.CudaContext;
import org.internlmj.tensor.cuda.CudaEvent;
import org.internlmj.tensor.cuda.CudaStorage;
import org.internlmj.tensor.cuda.CudaStream;

/**
 * A {@link ProcessGroup} over NCCL, one rank per GPU. Collectives run on the group's own communication
 * stream so they can overlap computation: each waits (on the device) for the compute stream's work
 * queued before it, records a completion event, and marks the tensors it touches so that freeing them
 * waits for it too ({@link CudaStorage#recordUse}). {@link Work#await()} polls that event and NCCL's
 * asynchronous error state; past the group's timeout it aborts the communicator
 * ({@code ncclCommAbort}) and throws {@link CollectiveTimeoutException}, so a rank that died or never
 * arrived makes the others fail instead of hang.
 *
 * <p>Rendezvous: rank 0 creates NCCL's unique id and every rank must receive it; how is the caller's
 * business (a TCP store, MPI, a file), passed in as {@code exchange}: rank 0 calls it with its id and gets
 * it back, the other ranks call it with null and get rank 0's.
 *
 * <p>NCCL matches point-to-point messages by their order per pair of ranks, not by tag: {@code send}
 * and {@code recv} ignore the tag, and a pair of ranks must issue them in matching order. Reductions
 * are NCCL's, identical on every rank; their order across ranks is NCCL's choice (ring or tree), not
 * rank order.
 *
 * <pre>{@code
 * try (NcclProcessGroup world = NcclProcessGroup.create(rank, size, Device.cuda(localRank), store::shareNcclId,
 *         Duration.ofMinutes(5), "world")) {
 *     world.allReduce(grads, ProcessGroup.ReduceOp.AVG).await();
 * }
 * }</pre>
 */
public final class NcclProcessGroup implements ProcessGroup {
    private static final long POLL_NANOS_MAX = TimeUnit.MILLISECONDS.toNanos(1);

    private final int rank;
    private final int size;
    private final String name;
    private final CudaBackend backend;
    private final CudaContext context;
    private final CudaStream stream;
    private final MemorySegment comm;
    private final Duration timeout;
    private final Tensor barrierWord;
    /** While {@link #group} runs: the tensors its calls touch, completed by one event after ncclGroupEnd. */
    private List<Tensor> grouped;
    private List<GroupedWork> groupedWorks;
    private volatile boolean broken;
    private boolean closed;

    private NcclProcessGroup(int rank, int size, String name, CudaBackend backend, MemorySegment comm,
                             Duration timeout) {
        this.rank = rank;
        this.size = size;
        this.name = name;
        this.backend = backend;
        this.context = backend.context();
        this.comm = comm;
        this.timeout = timeout;
        this.stream = CudaStream.create(context);
        this.barrierWord = Tensor.view(backend.allocate(DType.I32, 1, true), new int[] {1}, new int[] {1}, 0);
    }

    /** Null if NCCL can be loaded, else why not (where it was looked for, what the loader said). */
    public static String unavailableReason() {
        NativeLibrary.Lookup lookup = NativeLibrary.find(KnownLibraries.NCCL);
        if (!lookup.found()) {
            return lookup.describe();
        }
        try {
            Nccl.load();
            return null;
        } catch (NativeLibraryException e) {
            return e.getMessage();
        }
    }

    /** NCCL's version code (e.g. 22703 for 2.27.3). */
    public static int version() {
        Nccl.load();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
            Nccl.check(Nccl.ncclGetVersion(v), "ncclGetVersion", null);
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /**
     * Joins a group of {@code size} ranks as {@code rank}, computing on {@code device}; blocks until every
     * rank has joined or {@code timeout} passes.
     */
    public static NcclProcessGroup create(int rank, int size, Device device, Function<byte[], byte[]> exchange,
                                          Duration timeout, String name) {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " of a group of " + size);
        }
        Nccl.load();
        if (!(Backends.of(device) instanceof CudaBackend backend)) {
            throw new IllegalArgumentException("NCCL groups need a CUDA device, got " + device);
        }
        byte[] id;
        try (Arena a = Arena.ofConfined()) {
            if (rank == 0) {
                MemorySegment u = a.allocate(Nccl.UNIQUE_ID);
                Nccl.check(Nccl.ncclGetUniqueId(u), "ncclGetUniqueId", null);
                byte[] mine = u.toArray(ValueLayout.JAVA_BYTE);
                id = exchange.apply(mine);
            } else {
                id = exchange.apply(null);
            }
        }
        if (id == null || id.length != Nccl.NCCL_UNIQUE_ID_BYTES) {
            throw new IllegalStateException("group " + name + ": the id exchange gave rank " + rank + " "
                    + (id == null ? "nothing" : id.length + " bytes") + "; NCCL's unique id has "
                    + Nccl.NCCL_UNIQUE_ID_BYTES);
        }
        byte[] uid = id;
        MemorySegment comm = blockingWithTimeout("ncclCommInitRank", name, rank, timeout, () -> {
            backend.context().makeCurrent();
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(ValueLayout.ADDRESS);
                MemorySegment idSeg = a.allocate(Nccl.UNIQUE_ID);
                MemorySegment.copy(uid, 0, idSeg, ValueLayout.JAVA_BYTE, 0, uid.length);
                Nccl.check(Nccl.ncclCommInitRank(out, size, idSeg, rank), "ncclCommInitRank",
                        null);
                return out.get(ValueLayout.ADDRESS, 0);
            }
        });
        return new NcclProcessGroup(rank, size, name, backend, comm, timeout);
    }

    private interface Blocking<T> {
        T run();
    }

    /**
     * Runs a call that blocks until the other ranks arrive on a helper thread, failing after
     * {@code timeout}: a rank that never arrives cannot be aborted (there is no communicator yet), so the
     * helper thread is left behind, daemon, and the caller gets the timeout.
     */
    private static <T> T blockingWithTimeout(String call, String group, int rank, Duration timeout, Blocking<T> body) {
        FutureTask<T> task = new FutureTask<>(body::run);
        Thread t = new Thread(task, "nccl-" + call + "-" + group + "-" + rank);
        t.setDaemon(true);
        t.start();
        try {
            return task.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new CollectiveTimeoutException(call + " of group " + group + ": rank " + rank + " waited "
                    + timeout + " for the other ranks to join (NCCL cannot tell which are missing)");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(call + " failed: " + cause, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(call + " interrupted", e);
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public String name() {
        return name;
    }

    /** The communication stream (for profiling tools). */
    public CudaStream stream() {
        return stream;
    }

    private static int ncclType(DType d) {
        return switch (d) {
            case F32 -> Nccl.ncclFloat32;
            case F64 -> Nccl.ncclFloat64;
            case BF16 -> Nccl.ncclBfloat16;
            case F16 -> Nccl.ncclFloat16;
            case I32 -> Nccl.ncclInt32;
            case I64 -> Nccl.ncclInt64;
        };
    }

    private static int ncclOp(ReduceOp op, DType d) {
        if (op == ReduceOp.AVG && !d.isFloating()) {
            throw new IllegalArgumentException("AVG of " + d + " tensors: NCCL averages floating types only");
        }
        return switch (op) {
            case SUM -> Nccl.ncclSum;
            case AVG -> Nccl.ncclAvg;
            case MAX -> Nccl.ncclMax;
        };
    }

    private void checkTensor(String op, Tensor t) {
        if (closed || broken) {
            throw new IllegalStateException(op + " on group " + name + ": the group is "
                    + (broken ? "broken by an earlier failure or timeout" : "closed"));
        }
        if (!(t.storage() instanceof CudaStorage) || !t.device().equals(backend.device())) {
            throw new IllegalArgumentException(op + " on group " + name + " needs tensors on " + backend.device()
                    + ", got " + t);
        }
        if (!t.isContiguous()) {
            throw new IllegalArgumentException(op + " on group " + name + " needs a contiguous tensor, got " + t);
        }
    }

    private static MemorySegment address(Tensor t) {
        return MemorySegment.ofAddress(CudaStorage.address(t));
    }

    /** Enqueues one NCCL call on the communication stream, ordered after the compute stream's work. */
    private synchronized Work enqueue(String op, Runnable call, Tensor... touched) {
        context.makeCurrent();
        try (CudaEvent ready = CudaEvent.create(context, false)) {
            ready.record(context.computeStream());
            stream.waitFor(ready);
        }
        call.run();
        if (grouped != null) {
            // Inside ncclGroupStart/End nothing is launched yet: the completion event comes after the end.
            grouped.addAll(List.of(touched));
            GroupedWork w = new GroupedWork(op);
            groupedWorks.add(w);
            return w;
        }
        return new NcclWork(op, completion(List.of(touched)));
    }

    /** An event at the current end of the communication stream, marking {@code touched} as used until it. */
    private CudaEvent completion(List<Tensor> touched) {
        CudaEvent done = CudaEvent.create(context, false);
        done.record(stream);
        for (Tensor t : touched) {
            ((CudaStorage) t.storage()).recordUse(done);
        }
        return done;
    }

    @Override
    public Work allReduce(Tensor tensor, ReduceOp op) {
        checkTensor("allReduce", tensor);
        int type = ncclType(tensor.dtype());
        int redOp = ncclOp(op, tensor.dtype());
        return enqueue("allReduce", () -> Nccl.check(Nccl.ncclAllReduce(address(tensor), address(tensor),
                tensor.numel(), type, redOp, comm, stream.handle()), "ncclAllReduce", comm), tensor);
    }

    @Override
    public Work reduceScatter(Tensor input, Tensor output, ReduceOp op) {
        checkTensor("reduceScatter", input);
        checkTensor("reduceScatter", output);
        sameType("reduceScatter", input, output);
        if ((long) output.numel() * size != input.numel()) {
            throw new IllegalArgumentException("reduceScatter on group " + name + ": input has " + input.numel()
                    + " elements, output " + output.numel() + "; need input = " + size + " x output");
        }
        int type = ncclType(input.dtype());
        int redOp = ncclOp(op, input.dtype());
        return enqueue("reduceScatter", () -> Nccl.check(Nccl.ncclReduceScatter(address(input), address(output),
                output.numel(), type, redOp, comm, stream.handle()), "ncclReduceScatter", comm), input, output);
    }

    @Override
    public Work allGather(Tensor input, Tensor output) {
        checkTensor("allGather", input);
        checkTensor("allGather", output);
        sameType("allGather", input, output);
        if ((long) input.numel() * size != output.numel()) {
            throw new IllegalArgumentException("allGather on group " + name + ": input has " + input.numel()
                    + " elements, output " + output.numel() + "; need output = " + size + " x input");
        }
        int type = ncclType(input.dtype());
        return enqueue("allGather", () -> Nccl.check(Nccl.ncclAllGather(address(input), address(output),
                input.numel(), type, comm, stream.handle()), "ncclAllGather", comm), input, output);
    }

    @Override
    public Work broadcast(Tensor tensor, int root) {
        checkTensor("broadcast", tensor);
        checkPeer("broadcast", root);
        int type = ncclType(tensor.dtype());
        return enqueue("broadcast", () -> Nccl.check(Nccl.ncclBroadcast(address(tensor), address(tensor),
                tensor.numel(), type, root, comm, stream.handle()), "ncclBroadcast", comm), tensor);
    }

    @Override
    public void barrier() {
        allReduce(barrierWord, ReduceOp.SUM).await();
    }

    @Override
    public boolean matchesByTag() {
        return false;
    }

    @Override
    public Work send(Tensor tensor, int dst, int tag) {
        checkTensor("send", tensor);
        checkPeer("send", dst);
        int type = ncclType(tensor.dtype());
        return enqueue("send to " + dst, () -> Nccl.check(Nccl.ncclSend(address(tensor), tensor.numel(), type, dst,
                comm, stream.handle()), "ncclSend", comm), tensor);
    }

    @Override
    public Work recv(Tensor tensor, int src, int tag) {
        checkTensor("recv", tensor);
        checkPeer("recv", src);
        int type = ncclType(tensor.dtype());
        return enqueue("recv from " + src, () -> Nccl.check(Nccl.ncclRecv(address(tensor), tensor.numel(), type, src,
                comm, stream.handle()), "ncclRecv", comm), tensor);
    }

    /**
     * Runs several calls as one NCCL group ({@code ncclGroupStart}/{@code ncclGroupEnd}): sends and receives
     * between the same ranks issued inside cannot deadlock on each other.
     */
    public synchronized List<Work> group(List<java.util.function.Supplier<Work>> calls) {
        if (grouped != null) {
            throw new IllegalStateException("group() calls do not nest");
        }
        context.makeCurrent();
        grouped = new ArrayList<>();
        groupedWorks = new ArrayList<>();
        List<Work> works = new ArrayList<>();
        try {
            Nccl.check(Nccl.ncclGroupStart(), "ncclGroupStart", comm);
            try {
                for (java.util.function.Supplier<Work> c : calls) {
                    works.add(c.get());
                }
            } finally {
                Nccl.check(Nccl.ncclGroupEnd(), "ncclGroupEnd", comm);
            }
            CudaEvent done = completion(grouped);
            for (GroupedWork w : groupedWorks) {
                w.bind(new NcclWork(w.op, done.retain()));
            }
            done.close();
            return works;
        } finally {
            grouped = null;
            groupedWorks = null;
        }
    }

    /** A call made inside {@link #group}: its completion is known once the group has ended. */
    private static final class GroupedWork implements Work {
        private final String op;
        private volatile Work bound;

        GroupedWork(String op) {
            this.op = op;
        }

        void bind(Work w) {
            bound = w;
        }

        private Work bound() {
            Work w = bound;
            if (w == null) {
                throw new IllegalStateException(op + " was issued inside group() and cannot be awaited before the "
                        + "group has ended");
            }
            return w;
        }

        @Override
        public void await() {
            bound().await();
        }

        @Override
        public boolean isDone() {
            return bound().isDone();
        }
    }

    private void checkPeer(String op, int peer) {
        if (peer < 0 || peer >= size) {
            throw new IllegalArgumentException(op + " on group " + name + ": rank " + peer + " outside [0, " + size + ")");
        }
    }

    private void sameType(String op, Tensor a, Tensor b) {
        if (a.dtype() != b.dtype()) {
            throw new IllegalArgumentException(op + " on group " + name + ": input " + a.dtype() + ", output "
                    + b.dtype());
        }
    }

    @Override
    public ProcessGroup split(int[][] groups, String subName) {
        int color = Nccl.NCCL_SPLIT_NOCOLOR;
        int key = 0;
        int[] mine = null;
        for (int g = 0; g < groups.length; g++) {
            for (int i = 0; i < groups[g].length; i++) {
                if (groups[g][i] == rank) {
                    if (mine != null) {
                        throw new IllegalArgumentException("split of " + name + ": rank " + rank
                                + " is in more than one group");
                    }
                    color = g;
                    key = i;
                    mine = groups[g];
                }
            }
        }
        int c = color;
        int k = key;
        MemorySegment sub = blockingWithTimeout("ncclCommSplit", name, rank, timeout, () -> {
            context.makeCurrent();
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(ValueLayout.ADDRESS);
                Nccl.check(Nccl.ncclCommSplit(comm, c, k, out, MemorySegment.NULL), "ncclCommSplit", comm);
                return out.get(ValueLayout.ADDRESS, 0);
            }
        });
        if (mine == null) {
            return null;
        }
        return new NcclProcessGroup(key, mine.length, subName, backend, sub, timeout);
    }

    /** Asks NCCL whether the communicator has failed asynchronously; throws if it has. */
    private void checkAsync(String op) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment err = a.allocate(ValueLayout.JAVA_INT);
            Nccl.check(Nccl.ncclCommGetAsyncError(comm, err), "ncclCommGetAsyncError", comm);
            int e = err.get(ValueLayout.JAVA_INT, 0);
            if (e != Nccl.ncclSuccess && e != Nccl.ncclInProgress) {
                abort();
                Nccl.check(e, op + " on group " + name + " (rank " + rank + ", asynchronous)", null);
            }
        }
    }

    private synchronized void abort() {
        if (!broken) {
            broken = true;
            Nccl.check(Nccl.ncclCommAbort(comm), "ncclCommAbort", null);
        }
    }

    /** A queued NCCL call: done when its event is reached. */
    private final class NcclWork implements Work {
        private final String op;
        private final CudaEvent done;
        private volatile boolean finished;

        NcclWork(String op, CudaEvent done) {
            this.op = op;
            this.done = done;
        }

        @Override
        public void await() {
            if (finished) {
                return;
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            long pause = 1_000;
            try {
                while (!done.isDone()) {
                    checkAsync(op);
                    if (System.nanoTime() > deadline) {
                        abort();
                        throw new CollectiveTimeoutException(op + " on group " + name + " (" + size + " ranks): rank "
                                + rank + " waited " + timeout + "; the communicator was aborted (NCCL cannot tell "
                                + "which ranks did not arrive)");
                    }
                    java.util.concurrent.locks.LockSupport.parkNanos(pause);
                    pause = Math.min(POLL_NANOS_MAX, pause * 2);
                }
            } catch (NcclException e) {
                finished = true;
                done.close();
                throw e;
            }
            finished = true;
            done.close();
        }

        @Override
        public boolean isDone() {
            return finished || done.isDone();
        }
    }

    /** Destroys the communicator (aborting it if a failure left it broken) and the stream. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        context.makeCurrent();
        if (broken) {
            return;
        }
        stream.synchronize();
        barrierWord.close();
        Nccl.check(Nccl.ncclCommDestroy(comm), "ncclCommDestroy", null);
        stream.close();
    }
}
