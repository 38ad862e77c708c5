package org.internlmj.dist.pipeline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.autograd.NoGrad;
import org.internlmj.autograd.Variable;
import org.internlmj.dist.ProcessGroup;
import org.internlmj.tensor.Tensor;

/**
 * Runs one optimizer step's forward and backward passes on a pipeline rank in the order of its
 * {@link PipelineSchedule}, exchanging activations (forward) and their gradients (backward) with the
 * neighbouring virtual stages by point-to-point send/recv in the pipeline group. Activations go from
 * virtual stage {@code s} to {@code s + 1}: from rank {@code r} to {@code r + 1}, and from the last rank's
 * chunk {@code c} to rank 0's chunk {@code c + 1}; gradients go the opposite way.
 *
 * <p>A message's tag names what it carries: the receiving chunk, the micro-batch and the direction, so
 * every message is matched by content, never by arrival order.
 *
 * <p>Communication ({@code parallel.pipeline.interleaved_overlap}):
 * <ul>
 *   <li>overlap on: sends are posted as soon as a result exists and never waited for until the end of the
 *       step; the receive for the next forward input and the next output gradient are always posted one
 *       ahead, so transfers run while the stage computes, and the stage waits only for data it needs now
 *       (InternLM's {@code AsynCommunicator} pattern). A stage then waits only on the schedule's data
 *       dependencies, which {@link PipelineSchedule#simulate} checks to be acyclic.</li>
 *   <li>overlap off: after each pass (1F1B) or each unit of passes (interleaved: a warm-up forward, a
 *       steady forward-backward pair, a cool-down backward) the stage posts the sends of its results together
 *       with the receives the next pass or unit needs and waits for all of them (InternLM's and Megatron's
 *       fused {@code send_forward_recv_backward} style), so communication and compute alternate.</li>
 * </ul>
 *
 * <pre>{@code
 * PipelineExecutor pp = new PipelineExecutor(ctx.pipeline(), numChunks, true);
 * PipelineExecutor.Result r = pp.train(stage, microNum, lossScale / microNum);
 * }</pre>
 */
public final class PipelineExecutor {
    /** The largest tag MPI guarantees to carry ({@code MPI_TAG_UB} >= 32767). */
    static final int MAX_TAG = 32767;

    private final ProcessGroup group;
    private final int chunks;
    private final boolean overlap;
    private final int rank;
    private final int stages;

    /**
     * @param pipeline this rank's pipeline group (rank = pipeline stage)
     * @param chunks model chunks per stage ({@code model.num_chunks})
     * @param overlap {@code parallel.pipeline.interleaved_overlap}
     */
    public PipelineExecutor(ProcessGroup pipeline, int chunks, boolean overlap) {
        if (chunks < 1) {
            throw new IllegalArgumentException("chunks must be >= 1, got " + chunks);
        }
        if (!pipeline.matchesByTag()) {
            // receives are posted ahead in an order the peer does not share; order-matched P2P would pair them
            // with the wrong messages
            throw new UnsupportedOperationException("pipeline parallelism over " + pipeline.name() + ": its send/recv "
                    + "match by order per pair of ranks, not by tag (NCCL), and the pipeline executor needs tag "
                    + "matching; not implemented for NCCL yet (docs/CUDA.md, known gaps)");
        }
        this.group = pipeline;
        this.chunks = chunks;
        this.overlap = overlap;
        this.rank = pipeline.rank();
        this.stages = pipeline.size();
    }

    /**
     * What a step did on this rank.
     *
     * @param losses each micro-batch's loss on the rank that holds the last virtual stage, NaN elsewhere
     * @param forwardNanos time in the stage's forward passes
     * @param backwardNanos time in the backward passes
     * @param waitNanos time blocked on receives and sends
     * @param wallNanos the whole call
     */
    public record Result(double[] losses, long forwardNanos, long backwardNanos, long waitNanos, long wallNanos) {
        /** Time spent computing. */
        public long computeNanos() {
            return forwardNanos + backwardNanos;
        }

        /** True on the rank holding the last virtual stage. */
        public boolean hasLosses() {
            return losses.length > 0 && !Double.isNaN(losses[0]);
        }
    }

    /**
     * Runs the forward and backward passes of {@code microBatches} micro-batches in schedule order. The
     * last virtual stage's backward starts from {@code lossSeed} (the loss scale over the number of
     * micro-batches: gradients accumulate as for {@code sum(loss_m * lossSeed)}). Tensors it receives and
     * creates belong to the caller's memory scope; every send has completed when it returns.
     */
    public Result train(PipelineStage stage, int microBatches, double lossSeed) {
        long t0 = System.nanoTime();
        PipelineSchedule schedule = PipelineSchedule.of(stages, chunks, microBatches);
        checkTags(microBatches);
        List<PipelineStep> steps = schedule.steps(rank);
        Exchange x = new Exchange(stage);
        Variable[][] inputs = new Variable[chunks][microBatches];
        Variable[][] outputs = new Variable[chunks][microBatches];
        double[] losses = new double[microBatches];
        Arrays.fill(losses, Double.NaN);
        long forward = 0;
        long backward = 0;
        // without overlap each unit's sends go out with the next unit's receives (see units)
        int[] unitEnd = units(schedule, steps.size());
        if (overlap) {
            x.prefetch(steps, -1);
        } else {
            x.exchange(List.of(), steps, 0, unitEnd[0]);
        }
        List<ProcessGroup.Work> unitSends = new ArrayList<>();
        for (int i = 0; i < steps.size(); i++) {
            PipelineStep s = steps.get(i);
            int c = s.chunk();
            int m = s.microBatch();
            if (s.isForward()) {
                Variable in = null;
                if (!isFirst(c)) {
                    in = Variable.parameter(x.take(s, steps, i), "pipeline input of " + s);
                }
                long c0 = System.nanoTime();
                Variable out = stage.forward(c, m, in);
                forward += System.nanoTime() - c0;
                inputs[c][m] = in;
                outputs[c][m] = out;
                if (isLast(c)) {
                    if (out.numel() != 1) {
                        throw new IllegalStateException("the last virtual stage must return the micro-batch's loss (one "
                                + "element), got " + out);
                    }
                    losses[m] = out.data().item();
                } else {
                    unitSends.add(x.send(s, out.data()));
                }
            } else {
                Variable out = outputs[c][m];
                Tensor seed = isLast(c) ? Tensor.full(lossSeed, out.dtype(), out.device(), out.shape())
                        : x.take(s, steps, i);
                stage.beforeBackward(c, m);
                long c0 = System.nanoTime();
                out.backward(seed);
                backward += System.nanoTime() - c0;
                Variable in = inputs[c][m];
                if (in != null) {
                    Tensor g = in.grad();
                    // a chunk whose output ignores its input has a zero input gradient
                    unitSends.add(x.send(s, g != null ? g : Tensor.zeros(in.dtype(), in.device(), in.shape())));
                }
                inputs[c][m] = null;
                outputs[c][m] = null;
            }
            if (!overlap && unitEnd[i] == i + 1) {
                x.exchange(unitSends, steps, i + 1, i + 1 < steps.size() ? unitEnd[i + 1] : i + 1);
            }
            unitSends.clear();
        }
        x.drainSends();
        return new Result(losses, forward, backward, x.waitNanos, System.nanoTime() - t0);
    }

    /**
     * Forward passes only (validation): every micro-batch through every chunk in order, no gradients. The
     * last virtual stage's outputs are the losses.
     */
    public Result forwardOnly(PipelineStage stage, int microBatches) {
        long t0 = System.nanoTime();
        checkTags(microBatches);
        Exchange x = new Exchange(stage);
        double[] losses = new double[microBatches];
        Arrays.fill(losses, Double.NaN);
        long compute = 0;
        try (NoGrad ng = NoGrad.enter()) {
            for (int m = 0; m < microBatches; m++) {
                for (int c = 0; c < chunks; c++) {
                    PipelineStep s = PipelineStep.forward(c, m);
                    Variable in = null;
                    if (!isFirst(c)) {
                        in = Variable.of(x.receive(s));
                    }
                    long c0 = System.nanoTime();
                    Variable out = stage.forward(c, m, in);
                    compute += System.nanoTime() - c0;
                    if (isLast(c)) {
                        losses[m] = out.data().item();
                    } else {
                        x.send(s, out.data());
                    }
                }
            }
        }
        x.drainSends();
        return new Result(losses, compute, 0, x.waitNanos, System.nanoTime() - t0);
    }

    /**
     * For each step index, the end (exclusive) of the unit it belongs to, as InternLM and Megatron-LM group
     * the fused exchanges: 1F1B exchanges after every pass ({@code send_forward_recv_backward} after a
     * forward, {@code send_backward_recv_forward} after a backward), so an activation leaves before the
     * backward that follows it; interleaved 1F1B exchanges after each warm-up forward, each steady
     * forward-backward pair and each cool-down backward (grouping every pass alone deadlocks it: two
     * stages each wait for the other to post a receive).
     */
    private int[] units(PipelineSchedule schedule, int count) {
        int warmup = schedule.warmupSteps(rank);
        int steadyEnd = warmup + 2 * (schedule.microBatches() * chunks - warmup);
        int[] end = new int[count];
        for (int i = 0; i < count; i++) {
            boolean alone = !schedule.interleaved() || i < warmup || i >= steadyEnd;
            end[i] = alone ? i + 1 : warmup + ((i - warmup) / 2 + 1) * 2;
        }
        return end;
    }

    /** Chunk {@code c} of this rank is virtual stage 0. */
    private boolean isFirst(int c) {
        return c == 0 && rank == 0;
    }

    /** Chunk {@code c} of this rank is the last virtual stage. */
    private boolean isLast(int c) {
        return c == chunks - 1 && rank == stages - 1;
    }

    private void checkTags(int microBatches) {
        if ((long) microBatches * chunks * 2 > MAX_TAG) {
            throw new IllegalArgumentException(microBatches + " micro-batches x " + chunks + " chunks need more message "
                    + "tags than MPI guarantees (" + MAX_TAG + " / 2)");
        }
    }

    /** A posted receive into its own buffer. */
    private record Recv(Tensor buffer, ProcessGroup.Work work) {
    }

    /** The sends and receives of one call. */
    private final class Exchange {
        private final PipelineStage stage;
        private final Map<PipelineStep, Recv> posted = new HashMap<>();
        private final List<ProcessGroup.Work> sends = new ArrayList<>();
        /** Tensors being sent, kept reachable until their sends complete. */
        private final List<Tensor> sending = new ArrayList<>();
        private int nextForward;
        private int nextBackward;
        long waitNanos;

        Exchange(PipelineStage stage) {
            this.stage = stage;
        }

        /** Does {@code s} start from data another rank sends? */
        boolean needsRecv(PipelineStep s) {
            return s.isForward() ? !isFirst(s.chunk()) : !isLast(s.chunk());
        }

        /** Posts the receive {@code s} needs (null if it needs none). */
        Recv postRecv(PipelineStep s) {
            if (!needsRecv(s)) {
                return null;
            }
            Recv r = posted.get(s);
            if (r != null) {
                return r;
            }
            Tensor buf = Tensor.empty(stage.activationDType(), stage.device(), stage.activationShape(s.chunk(),
                    s.microBatch()));
            int src = s.isForward() ? (rank + stages - 1) % stages : (rank + 1) % stages;
            r = new Recv(buf, group.recv(buf, src, tag(s.isForward(), s.chunk(), s.microBatch())));
            posted.put(s, r);
            return r;
        }

        /**
         * The received input of step {@code steps[i]}, waiting for it; with overlap, first posts the next
         * receive of the same kind so that it is in flight while this step computes.
         */
        Tensor take(PipelineStep s, List<PipelineStep> steps, int i) {
            if (overlap) {
                postRecv(s);
                prefetch(steps, i);
            }
            return receive(s);
        }

        /** The data step {@code s} receives, posting the receive if it is not yet posted and waiting for it. */
        Tensor receive(PipelineStep s) {
            Recv r = postRecv(s);
            long w0 = System.nanoTime();
            r.work().await();
            waitNanos += System.nanoTime() - w0;
            posted.remove(s);
            return r.buffer();
        }

        /** Posts the receives of the first forward and backward after index {@code after} that need one. */
        void prefetch(List<PipelineStep> steps, int after) {
            nextForward = Math.max(nextForward, after + 1);
            while (nextForward < steps.size() && !(steps.get(nextForward).isForward() && needsRecv(steps.get(nextForward)))) {
                nextForward++;
            }
            if (nextForward < steps.size()) {
                postRecv(steps.get(nextForward));
            }
            nextBackward = Math.max(nextBackward, after + 1);
            while (nextBackward < steps.size()
                    && !(!steps.get(nextBackward).isForward() && needsRecv(steps.get(nextBackward)))) {
                nextBackward++;
            }
            if (nextBackward < steps.size()) {
                postRecv(steps.get(nextBackward));
            }
        }

        /** Sends the result of {@code s} (its output, or its input's gradient) to the neighbouring virtual stage. */
        ProcessGroup.Work send(PipelineStep s, Tensor t) {
            Tensor data = t.isContiguous() ? t : t.contiguous();
            int c = s.chunk();
            ProcessGroup.Work w;
            if (s.isForward()) {
                int dst = (rank + 1) % stages;
                w = group.send(data, dst, tag(true, rank == stages - 1 ? c + 1 : c, s.microBatch()));
            } else {
                int dst = (rank + stages - 1) % stages;
                w = group.send(data, dst, tag(false, rank == 0 ? c - 1 : c, s.microBatch()));
            }
            sends.add(w);
            sending.add(data);
            return w;
        }

        /**
         * Without overlap: the sends just posted and the receives of steps {@code [from, to)} complete
         * together before the next unit computes.
         */
        void exchange(List<ProcessGroup.Work> unitSends, List<PipelineStep> steps, int from, int to) {
            List<Recv> recvs = new ArrayList<>();
            for (int k = from; k < to; k++) {
                Recv r = postRecv(steps.get(k));
                if (r != null) {
                    recvs.add(r);
                }
            }
            long w0 = System.nanoTime();
            for (ProcessGroup.Work w : unitSends) {
                w.await();
            }
            for (Recv r : recvs) {
                r.work().await();
            }
            waitNanos += System.nanoTime() - w0;
        }

        void drainSends() {
            long w0 = System.nanoTime();
            for (ProcessGroup.Work w : sends) {
                w.await();
            }
            waitNanos += System.nanoTime() - w0;
            sends.clear();
            sending.clear();
            if (!posted.isEmpty()) {
                throw new IllegalStateException("pipeline rank " + rank + " posted receives it never used: " + posted.keySet());
            }
        }

        /** The tag of the message entering {@code chunk} for {@code microBatch}: activation (forward) or gradient. */
        private int tag(boolean activation, int chunk, int microBatch) {
            return ((microBatch * chunks + chunk) << 1) | (activation ? 0 : 1);
        }
    }
}
