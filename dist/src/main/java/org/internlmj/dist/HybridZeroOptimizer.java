package org.internlmj.dist;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;

/**
 * InternLM's hybrid ZeRO optimizer (AdamW, {@code hybrid_zero_optim.py}) over process groups.
 *
 * <p><b>Numerics</b> (the same in every mode): fp32 master weights and Adam moments next to model weights
 * in {@code model.dtype}; the loss is scaled by the {@link GradScaler}; at {@link #step} the global L2
 * norm of the gradients is computed across the owners of the optimizer state (parameters replicated
 * across tensor-parallel ranks counted once); inf/nan skips the update (the scaler backs off; the
 * caller's LR and beta2 schedules must not advance); otherwise the gradients are unscaled and clipped by
 * one factor {@code loss_scale * max(1, (norm + 1e-6) / clip)} inside the AdamW kernel, which also writes
 * the updated weights back in the model dtype.
 *
 * <p><b>Sharding</b> over the ZeRO group ({@code parallel.zero1}):
 * <ul>
 *   <li>whole tensors (InternLM's default): each parameter is owned by one rank of the ZeRO group, assigned
 *       greedily by size (largest first, to the rank with the fewest elements); gradients are averaged over
 *       the whole data-parallel group with all-reduce, in buckets of {@code reduce_bucket_size} elements,
 *       each launched as soon as its last gradient is complete during the last micro-batch's backward
 *       ({@code overlap_sync_grad}; one bucket in flight) or all at {@code step}; owners update their
 *       parameters and broadcast them to the ZeRO group;</li>
 *   <li>split tensors (InternEvo's {@code use_split_tensor_optim}): every parameter is padded to a multiple of
 *       the ZeRO size and split evenly; gradients are reduce-scattered (all-reduced then sliced when the ZeRO
 *       group is smaller than the data-parallel group); updated slices are all-gathered.</li>
 * </ul>
 * Gradients live in flat per-bucket buffers the parameters' {@code grad()} views point into, so the
 * backward pass accumulates straight into the memory the collectives send.
 */
public final class HybridZeroOptimizer {
    private final List<Variable> params;
    private final List<String> names;
    /** Owns every buffer that lives as long as the optimizer, whatever scope is open when it is built or stepped. */
    private final MemoryScope memory = MemoryScope.detached();
    private final boolean[] replicatedAcrossTensor;
    private final Settings settings;
    private final GradScaler scaler;
    private final Groups groups;
    private final int zeroRank;
    private final int zeroSize;
    private final List<Shard> shards = new ArrayList<>();
    private final List<Bucket> buckets = new ArrayList<>();
    private final Bucket[] bucketOf;
    private final int[] owner;
    private volatile boolean gradSync;
    private ProcessGroup.Work inFlight;
    private List<ProcessGroup.Work> pendingParams = List.of();
    private long steps;
    private long commWaitNanos;

    /** AdamW's constant hyper-parameters, clipping (0 = none) and the ZeRO communication settings. */
    public record Settings(double beta1, double eps, double weightDecay, double clipGradNorm, long reduceBucketSize,
                           boolean overlapSyncGrad, boolean overlapSyncParam, boolean splitTensors) {
        /** One-rank settings: no overlap machinery needed. */
        public static Settings local(double beta1, double eps, double weightDecay, double clipGradNorm) {
            return new Settings(beta1, eps, weightDecay, clipGradNorm, 512L * 1024 * 1024, false, false, false);
        }
    }

    /**
     * The groups the optimizer talks to.
     *
     * @param data gradients are averaged over it
     * @param zero optimizer state is sharded over it (a subgroup of {@code data} or the same ranks)
     * @param model the grad-norm partial sums are added over it (tensor x pipeline ranks of one replica)
     * @param tensorRank this rank's tensor-parallel index (replicated parameters count on index 0 only)
     */
    public record Groups(ProcessGroup data, ProcessGroup zero, ProcessGroup model, int tensorRank) {
        public static Groups solo() {
            SoloProcessGroup g = new SoloProcessGroup("solo");
            return new Groups(g, g, g, 0);
        }
    }

    /**
     * The optimizer state this rank holds for one parameter: elements {@code [start, end)} of its flattened
     * data (the whole tensor in whole-tensor mode). {@code master} is the parameter's own tensor when the
     * model is fp32 and the rank owns it whole.
     */
    public record Shard(int param, String name, int start, int end, Tensor master, Tensor expAvg, Tensor expAvgSq) {
        public int length() {
            return end - start;
        }
    }

    /** Outcome of a step. {@code gradNorm}: L2 norm of the unscaled gradients; -1 if inf, -2 if NaN. */
    public record StepResult(boolean applied, double gradNorm, double lossScale) {
    }

    /** One rank's whole model, no communication. */
    public HybridZeroOptimizer(List<Variable> params, List<String> names, Settings settings, GradScaler scaler) {
        this(params, names, new boolean[params.size()], settings, scaler, Groups.solo());
    }

    /**
     * @param names each parameter's unique name (checkpoint keys of its optimizer state)
     * @param replicatedAcrossTensor parameters every tensor-parallel rank holds whole (counted once in the norm)
     */
    public HybridZeroOptimizer(List<Variable> params, List<String> names, boolean[] replicatedAcrossTensor,
                               Settings settings, GradScaler scaler, Groups groups) {
        if (names.size() != params.size() || replicatedAcrossTensor.length != params.size()) {
            throw new IllegalArgumentException(params.size() + " parameters, " + names.size() + " names, "
                    + replicatedAcrossTensor.length + " replication flags: one each expected");
        }
        this.params = List.copyOf(params);
        this.names = List.copyOf(names);
        this.replicatedAcrossTensor = replicatedAcrossTensor.clone();
        this.settings = settings;
        this.scaler = scaler;
        this.groups = groups;
        this.zeroRank = groups.zero().rank();
        this.zeroSize = groups.zero().size();
        this.owner = new int[params.size()];
        this.bucketOf = new Bucket[params.size()];
        if (settings.splitTensors()) {
            Arrays.fill(owner, -1);
            for (int i = 0; i < params.size(); i++) {
                int n = params.get(i).numel();
                int per = (n + zeroSize - 1) / zeroSize;
                int start = Math.min(n, zeroRank * per);
                int end = Math.min(n, start + per);
                if (end > start) {
                    shards.add(newShard(i, start, end));
                }
            }
        } else {
            assignOwners();
            for (int i = 0; i < params.size(); i++) {
                if (owner[i] == zeroRank) {
                    shards.add(newShard(i, 0, params.get(i).numel()));
                }
            }
        }
        buildBuckets();
    }

    /** InternLM's greedy partition: largest tensors first, each to the rank holding the fewest elements. */
    private void assignOwners() {
        Integer[] order = new Integer[params.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingInt((Integer i) -> params.get(i).numel()).reversed());
        long[] load = new long[zeroSize];
        for (int i : order) {
            int best = 0;
            for (int r = 1; r < zeroSize; r++) {
                if (load[r] < load[best]) {
                    best = r;
                }
            }
            owner[i] = best;
            load[best] += params.get(i).numel();
        }
    }

    private Shard newShard(int i, int start, int end) {
        Tensor data = params.get(i).data();
        Tensor flat = data.reshape(-1).narrow(0, start, end - start);
        boolean whole = start == 0 && end == data.numel();
        Tensor master = whole && data.dtype() == DType.F32 ? data
                : keep(flat.dtype() == DType.F32 ? flat.copy() : flat.to(DType.F32));
        return new Shard(i, names.get(i), start, end, master, keep(Tensor.zeros(DType.F32, data.device(), end - start)),
                keep(Tensor.zeros(DType.F32, data.device(), end - start)));
    }

    private Tensor keep(Tensor t) {
        return memory.adopt(t);
    }

    // ---------------------------------------------------------------- gradient buckets

    /** A flat gradient buffer holding several parameters' gradients back to back. */
    private final class Bucket {
        final List<Integer> members = new ArrayList<>();
        final List<Integer> offsets = new ArrayList<>();
        Tensor flat;
        int remaining;
        boolean launched;
        ProcessGroup.Work work;

        void launch() {
            launched = true;
            if (settings.splitTensors() && groups.data().size() == zeroSize) {
                work = reduceScatterSlices();
            } else {
                work = groups.data().allReduce(flat, ProcessGroup.ReduceOp.AVG);
            }
        }

        /** Split mode: each member's padded gradient is reduce-scattered; this rank keeps its slice, in place. */
        private ProcessGroup.Work reduceScatterSlices() {
            List<ProcessGroup.Work> works = new ArrayList<>();
            for (int k = 0; k < members.size(); k++) {
                int i = members.get(k);
                int n = params.get(i).numel();
                int per = (n + zeroSize - 1) / zeroSize;
                Tensor padded = flat.narrow(0, offsets.get(k), per * zeroSize);
                Tensor mine = padded.narrow(0, zeroRank * per, per);
                works.add(groups.data().reduceScatter(padded, sliceBuffer(i, per), ProcessGroup.ReduceOp.AVG));
                works.add(new CopyBack(sliceBuffer(i, per), mine));
            }
            return all(works);
        }
    }

    /** Split mode: per parameter, this rank's reduce-scatter output and the all-gather input and output. */
    private final java.util.Map<Integer, Tensor> sliceBuffers = new java.util.HashMap<>();
    private final java.util.Map<Integer, Tensor> gatherInputs = new java.util.HashMap<>();
    private final java.util.Map<Integer, Tensor> gatherOutputs = new java.util.HashMap<>();

    private Tensor sliceBuffer(int i, int per) {
        return sliceBuffers.get(i);
    }

    /** Completes by copying a received slice back into the bucket once the collective before it finished. */
    private static final class CopyBack implements ProcessGroup.Work {
        private final Tensor from;
        private final Tensor to;
        private boolean done;

        CopyBack(Tensor from, Tensor to) {
            this.from = from;
            this.to = to;
        }

        @Override
        public void await() {
            if (!done) {
                to.copyFrom(from);
                done = true;
            }
        }

        @Override
        public boolean isDone() {
            return done;
        }
    }

    private static ProcessGroup.Work all(List<ProcessGroup.Work> works) {
        return new ProcessGroup.Work() {
            @Override
            public void await() {
                for (ProcessGroup.Work w : works) {
                    w.await();
                }
            }

            @Override
            public boolean isDone() {
                return works.stream().allMatch(ProcessGroup.Work::isDone);
            }
        };
    }

    /**
     * Buckets in reverse parameter order (the order gradients complete in backward), each up to
     * {@code reduce_bucket_size} elements and one dtype; every parameter's grad becomes a view into its
     * bucket (split mode pads each parameter to a multiple of the ZeRO size).
     */
    private void buildBuckets() {
        if (settings.splitTensors()) {
            // allocated here, never during a step: a step's scope would free them
            for (int i = 0; i < params.size(); i++) {
                Variable p = params.get(i);
                int per = (p.numel() + zeroSize - 1) / zeroSize;
                sliceBuffers.put(i, keep(Tensor.zeros(p.dtype(), p.device(), per)));
                gatherInputs.put(i, keep(Tensor.zeros(p.dtype(), p.device(), per)));
                gatherOutputs.put(i, keep(Tensor.zeros(p.dtype(), p.device(), per * zeroSize)));
            }
        }
        Bucket cur = null;
        long curSize = 0;
        for (int i = params.size() - 1; i >= 0; i--) {
            Variable p = params.get(i);
            int n = p.numel();
            int len = settings.splitTensors() ? (n + zeroSize - 1) / zeroSize * zeroSize : n;
            if (cur == null || curSize + len > settings.reduceBucketSize() || params.get(cur.members.get(0)).dtype() != p.dtype()) {
                cur = new Bucket();
                buckets.add(cur);
                curSize = 0;
            }
            cur.members.add(i);
            cur.offsets.add((int) curSize);
            curSize += len;
            bucketOf[i] = cur;
        }
        for (Bucket b : buckets) {
            int total = 0;
            for (int k = 0; k < b.members.size(); k++) {
                int i = b.members.get(k);
                int n = params.get(i).numel();
                total = Math.max(total, b.offsets.get(k) + (settings.splitTensors() ? (n + zeroSize - 1) / zeroSize * zeroSize : n));
            }
            Variable first = params.get(b.members.get(0));
            b.flat = keep(Tensor.zeros(first.dtype(), first.device(), total));
            for (int k = 0; k < b.members.size(); k++) {
                Variable p = params.get(b.members.get(k));
                p.setGrad(b.flat.narrow(0, b.offsets.get(k), p.numel()).view(p.shape()));
                int idx = b.members.get(k);
                p.addGradHook(v -> gradReady(idx));
            }
            b.remaining = b.members.size();
        }
    }

    /**
     * Enables gradient synchronisation for the coming backward pass: InternLM skips it during gradient
     * accumulation and syncs during the last micro-batch's backward.
     */
    public void syncGradientsInNextBackward(boolean on) {
        this.gradSync = on;
    }

    private void gradReady(int i) {
        if (!gradSync || !settings.overlapSyncGrad() || groups.data().size() == 1) {
            return;
        }
        Bucket b = bucketOf[i];
        synchronized (this) {
            if (--b.remaining == 0 && !b.launched) {
                // one bucket in flight: wait for the previous before sending the next
                if (inFlight != null) {
                    awaitTimed(inFlight);
                }
                b.launch();
                inFlight = b.work;
            }
        }
    }

    // ---------------------------------------------------------------- step

    /** The factor the loss is multiplied by before backward. */
    public double lossScale() {
        return scaler.scale();
    }

    public GradScaler scaler() {
        return scaler;
    }

    /** Successful updates so far (AdamW's bias-correction step). */
    public long steps() {
        return steps;
    }

    /** Waits for the parameter broadcasts of the last step (with {@code overlap_sync_param}: before the next forward). */
    public void awaitParameters() {
        for (ProcessGroup.Work w : pendingParams) {
            awaitTimed(w);
        }
        pendingParams = List.of();
    }

    private void awaitTimed(ProcessGroup.Work w) {
        long t = System.nanoTime();
        w.await();
        commWaitNanos += System.nanoTime() - t;
    }

    /**
     * Time this rank spent blocked waiting for gradient and parameter communication (and the norm's
     * all-reduce) since the last {@link #resetCommWait()}: the communication overlap did not hide.
     */
    public long commWaitNanos() {
        return commWaitNanos;
    }

    public void resetCommWait() {
        commWaitNanos = 0;
    }

    /** Applies one update with this step's learning rate and beta2, then zeroes the gradients. */
    public StepResult step(double lr, double beta2) {
        awaitParameters();
        flushGradients();
        double lossScale = scaler.scale();
        double sumSq = 0;
        try (MemoryScope scope = MemoryScope.open()) {
            for (Shard s : shards) {
                if (replicatedAcrossTensor[s.param()] && groups.tensorRank() != 0) {
                    continue;
                }
                Tensor g = gradSlice(s);
                sumSq += g.backend().sumOfSquares(g);
            }
            sumSq = allReduceSum(sumSq);
        }
        boolean overflow = !Double.isFinite(sumSq);
        scaler.update(overflow);
        if (overflow) {
            zeroGrads();
            return new StepResult(false, Double.isNaN(sumSq) ? -2 : -1, lossScale);
        }
        double norm = Math.sqrt(sumSq) / lossScale;
        double combined = lossScale;
        if (settings.clipGradNorm() > 0) {
            combined = lossScale * Math.max(1.0, (norm + 1e-6) / settings.clipGradNorm());
        }
        steps++;
        AdamWStep hp = new AdamWStep(lr, settings.beta1(), beta2, settings.eps(), settings.weightDecay(), steps,
                1.0 / combined);
        for (Shard s : shards) {
            Tensor data = params.get(s.param()).data();
            Tensor modelCopy = s.master() == data ? null : data.reshape(-1).narrow(0, s.start(), s.length());
            s.master().backend().adamw(s.master().reshape(-1), gradSlice(s), s.expAvg(), s.expAvgSq(), hp, modelCopy);
        }
        zeroGrads();
        shareParameters();
        return new StepResult(true, norm, lossScale);
    }

    private Tensor gradSlice(Shard s) {
        Variable p = params.get(s.param());
        return p.grad().reshape(-1).narrow(0, s.start(), s.length());
    }

    /** Launches every bucket not launched by hooks and waits for all. */
    private void flushGradients() {
        if (groups.data().size() > 1) {
            for (Bucket b : buckets) {
                if (!b.launched) {
                    for (int i : b.members) {
                        // a member no pass reached: its lazily cleared buffer becomes real zeros
                        params.get(i).grad();
                    }
                    if (inFlight != null && !settings.overlapSyncGrad()) {
                        awaitTimed(inFlight);
                    }
                    b.launch();
                    inFlight = b.work;
                }
            }
            for (Bucket b : buckets) {
                awaitTimed(b.work);
            }
        }
        inFlight = null;
        for (Bucket b : buckets) {
            b.launched = false;
            b.work = null;
            b.remaining = b.members.size();
        }
    }

    private double allReduceSum(double local) {
        if (groups.model().size() == 1 && groups.zero().size() == 1) {
            return local;
        }
        // fp32 like InternLM's norm all-reduce; every rank gets the same bits, so skip decisions agree
        Tensor t = Tensor.of(new float[] {(float) local}, 1);
        if (groups.model().size() > 1) {
            awaitTimed(groups.model().allReduce(t, ProcessGroup.ReduceOp.SUM));
        }
        if (groups.zero().size() > 1) {
            awaitTimed(groups.zero().allReduce(t, ProcessGroup.ReduceOp.SUM));
        }
        return t.toDoubleArray()[0];
    }

    /** Owners broadcast updated weights (whole tensors) or slices are all-gathered (split tensors). */
    private void shareParameters() {
        if (zeroSize == 1) {
            return;
        }
        List<ProcessGroup.Work> works = new ArrayList<>();
        if (settings.splitTensors()) {
            for (int i = 0; i < params.size(); i++) {
                Tensor data = params.get(i).data();
                int n = data.numel();
                int per = (n + zeroSize - 1) / zeroSize;
                Tensor gathered = gatherOutputs.get(i);
                Tensor mine = gatherInputs.get(i);
                int start = Math.min(n, zeroRank * per);
                int len = Math.min(n, start + per) - start;
                if (len > 0) {
                    mine.narrow(0, 0, len).copyFrom(data.reshape(-1).narrow(0, start, len));
                }
                ProcessGroup.Work w = groups.zero().allGather(mine, gathered);
                works.add(w);
                works.add(new CopyBack(gathered.narrow(0, 0, n), data.reshape(-1)));
            }
        } else {
            for (int i = 0; i < params.size(); i++) {
                works.add(groups.zero().broadcast(params.get(i).data(), owner[i]));
            }
        }
        pendingParams = works;
        if (!settings.overlapSyncParam()) {
            awaitParameters();
        }
    }

    /**
     * Clears every gradient without writing the buckets: the next backward writes over the old values
     * (the weight-gradient GEMMs run with beta = 0 on their first micro-batch), and a gradient no pass
     * reached is zero-filled when read ({@link #flushGradients}, {@link #gradSlice}).
     */
    private void zeroGrads() {
        for (Variable p : params) {
            p.zeroGradLazily();
        }
    }

    // ---------------------------------------------------------------- state

    /** The optimizer state this rank holds. */
    public List<Shard> shards() {
        return List.copyOf(shards);
    }

    /** The ZeRO rank that owns parameter {@code i} in whole-tensor mode (-1 in split mode). */
    public int owner(int i) {
        return owner[i];
    }

    /** Bytes of optimizer state (masters that are not the parameters themselves, and both moments) on this rank. */
    public long stateBytes() {
        long b = 0;
        for (Shard s : shards) {
            b += 8L * s.length();
            if (s.master() != params.get(s.param()).data()) {
                b += 4L * s.length();
            }
        }
        return b;
    }

    /**
     * Copies the model weights into the fp32 master copies (after loading weights only, InternLM's
     * {@code reload_zero_fp32_buff}).
     */
    public void reloadMasters() {
        for (Shard s : shards) {
            Tensor data = params.get(s.param()).data();
            if (s.master() != data) {
                s.master().reshape(-1).copyFrom(data.reshape(-1).narrow(0, s.start(), s.length()));
            }
        }
    }

    /** Restores the step count (masters and moments are copied in by the checkpoint loader). */
    public void restoreSteps(long steps) {
        this.steps = steps;
    }
}
