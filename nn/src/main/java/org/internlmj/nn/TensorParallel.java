package org.internlmj.nn;

import org.internlmj.autograd.Variable;
import org.internlmj.dist.ParallelRegions;
import org.internlmj.dist.ProcessGroup;
import org.internlmj.dist.SoloProcessGroup;

/**
 * The tensor-parallel group a model is split over and whether activations outside the parallel linears
 * are split along the sequence too (InternLM's {@code parallel.tensor} and {@code sequence_parallel}). The
 * layers call its region boundaries; with one rank every boundary is the identity and nothing is recorded.
 *
 * <p>Without sequence parallelism every tensor rank holds the whole hidden states {@code [T, H]} between the
 * parallel linears; with it, rank r holds tokens {@code [r T/size, (r+1) T/size)}: the norms, residual adds
 * and the activations stored for them shrink by the group size, and the linears' region boundaries become an
 * all-gather before and a reduce-scatter after.
 *
 * <pre>{@code
 * TensorParallel tp = new TensorParallel(ctx.tensor(), true);
 * InternLMModel model = new InternLMModel(spec, Device.CPU, tp, PipelinePartition.whole(spec.numLayers()), 0);
 * }</pre>
 */
public record TensorParallel(ProcessGroup group, boolean sequenceParallel) {

    /** One rank: no split. */
    public static TensorParallel none() {
        return new TensorParallel(new SoloProcessGroup("tensor"), false);
    }

    public int size() {
        return group.size();
    }

    public int rank() {
        return group.rank();
    }

    /** True when hidden states between the parallel regions hold only this rank's part of the sequence. */
    public boolean splitsSequence() {
        return sequenceParallel && group.size() > 1;
    }

    /** The tokens a rank's hidden states hold for a micro-batch of {@code tokens}. */
    public int localTokens(int tokens) {
        return splitsSequence() ? tokens / group.size() : tokens;
    }

    /** This rank's split of a parameter along {@code dim} in {@code groups} groups; null with one rank. */
    TensorSplit split(int dim, int groups) {
        return group.size() == 1 ? null : new TensorSplit(dim, groups, group.rank(), group.size());
    }

    /**
     * Entry of a column-parallel region: the whole sequence, replicated, whose gradient is summed over the
     * ranks (all-gathered from the sequence parts under sequence parallelism).
     */
    public Variable enter(Variable x) {
        return splitsSequence() ? ParallelRegions.gatherFromSequence(x, group) : ParallelRegions.copyToRegion(x, group);
    }

    /** Exit of a row-parallel region: the ranks' partial sums reduced (reduce-scattered along the sequence). */
    public Variable exit(Variable x) {
        return splitsSequence() ? ParallelRegions.reduceScatterToSequence(x, group)
                : ParallelRegions.reduceFromRegion(x, group);
    }

    /**
     * A replicated weight used on this rank's part of the sequence (norms, the row-parallel bias): under
     * sequence parallelism each rank's gradient covers only its tokens, so the gradients are summed over the
     * ranks; otherwise every rank computes the whole gradient and this is the identity.
     */
    public Variable sharedWeight(Variable w) {
        return splitsSequence() ? ParallelRegions.copyToRegion(w, group) : w;
    }

    /** Replicated hidden states entering the sequence-parallel region: this rank's tokens. */
    public Variable scatterSequence(Variable x) {
        return splitsSequence() ? ParallelRegions.scatterToSequence(x, group) : x;
    }

    /** The whole hidden dimension from the ranks' column parts (the hidden-split embedding). */
    public Variable gatherHidden(Variable x) {
        return ParallelRegions.gatherLastDim(x, group);
    }
}
