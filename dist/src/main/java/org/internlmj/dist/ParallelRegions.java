package org.internlmj.dist;

import java.util.Arrays;
import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Tensor;

/**
 * The differentiable collectives of tensor and sequence parallelism (Megatron-LM's "mappings"), each a
 * pair of a forward communication and its adjoint in backward:
 *
 * <table>
 *   <caption>forward and backward of each region boundary</caption>
 *   <tr><th>function</th><th>forward</th><th>backward</th><th>where</th></tr>
 *   <tr><td>{@link #copyToRegion}</td><td>identity</td><td>all-reduce</td>
 *       <td>input of column-parallel linears; replicated weights used on sequence shards</td></tr>
 *   <tr><td>{@link #reduceFromRegion}</td><td>all-reduce</td><td>identity</td>
 *       <td>output of row-parallel linears, of the vocabulary-split embedding</td></tr>
 *   <tr><td>{@link #gatherLastDim}</td><td>all-gather along the last dimension</td><td>this rank's slice</td>
 *       <td>output of the hidden-split embedding, gathered logits</td></tr>
 *   <tr><td>{@link #scatterToSequence}</td><td>this rank's part of the sequence</td><td>all-gather</td>
 *       <td>entering the sequence-parallel region from replicated activations</td></tr>
 *   <tr><td>{@link #gatherFromSequence}</td><td>all-gather along the sequence</td><td>reduce-scatter</td>
 *       <td>input of column-parallel linears under sequence parallelism</td></tr>
 *   <tr><td>{@link #reduceScatterToSequence}</td><td>reduce-scatter along the sequence</td><td>all-gather</td>
 *       <td>output of row-parallel linears under sequence parallelism</td></tr>
 * </table>
 *
 * The sequence is dimension 0 (packed tokens) and is cut into {@code group.size()} equal consecutive parts,
 * rank r holding part r. Reductions are sums. With a group of one rank every function returns its input
 * itself: nothing is recorded or copied.
 *
 * <pre>{@code
 * Variable in = ParallelRegions.copyToRegion(x, tp);             // [T, H] on every rank
 * Variable partial = F.linear(F.linear(in, w1Shard, null), w2Shard, null);
 * Variable y = ParallelRegions.reduceFromRegion(partial, tp);    // [T, H], the sum of the ranks' parts
 * }</pre>
 */
public final class ParallelRegions {
    private ParallelRegions() {
    }

    /** Identity forward; the gradient is all-reduced (summed) over {@code group}. */
    public static Variable copyToRegion(Variable x, ProcessGroup group) {
        if (group.size() == 1) {
            return x;
        }
        return Graph.record("copyToRegion", x.data(), (d, need) -> new Tensor[] {allReduced(d[0], group)}, x);
    }

    /** All-reduce (sum) over {@code group} forward; identity backward. */
    public static Variable reduceFromRegion(Variable x, ProcessGroup group) {
        if (group.size() == 1) {
            return x;
        }
        return Graph.record("reduceFromRegion", allReduced(x.data(), group), (d, need) -> new Tensor[] {d[0]}, x);
    }

    /**
     * All-gather along the last dimension: {@code [..., h]} on each rank to {@code [..., size * h]}, rank r's
     * part at columns {@code [r h, (r+1) h)}; backward keeps this rank's columns of the gradient.
     */
    public static Variable gatherLastDim(Variable x, ProcessGroup group) {
        if (group.size() == 1) {
            return x;
        }
        Tensor in = x.data();
        int h = in.size(-1);
        return Graph.record("gatherLastDim", gatheredLastDim(in, group),
                (d, need) -> new Tensor[] {d[0].narrow(-1, group.rank() * h, h).contiguous()}, x);
    }

    /** This rank's part of dimension 0 (the sequence) forward; the gradient is all-gathered. */
    public static Variable scatterToSequence(Variable x, ProcessGroup group) {
        if (group.size() == 1) {
            return x;
        }
        Tensor in = x.data();
        int part = sequencePart("scatterToSequence", in, group);
        return Graph.record("scatterToSequence", in.narrow(0, group.rank() * part, part).contiguous(),
                (d, need) -> new Tensor[] {gathered(d[0], group)}, x);
    }

    /**
     * All-gather along dimension 0 forward ({@code [T/size, ...]} to {@code [T, ...]}); backward
     * reduce-scatters the gradient, because every rank's column-parallel linears contribute to the
     * gradient of every token.
     */
    public static Variable gatherFromSequence(Variable x, ProcessGroup group) {
        if (group.size() == 1) {
            return x;
        }
        return Graph.record("gatherFromSequence", gathered(x.data(), group),
                (d, need) -> new Tensor[] {reduceScattered(d[0], group)}, x);
    }

    /** Reduce-scatter along dimension 0 forward ({@code [T, ...]} to {@code [T/size, ...]}); all-gather backward. */
    public static Variable reduceScatterToSequence(Variable x, ProcessGroup group) {
        if (group.size() == 1) {
            return x;
        }
        sequencePart("reduceScatterToSequence", x.data(), group);
        return Graph.record("reduceScatterToSequence", reduceScattered(x.data(), group),
                (d, need) -> new Tensor[] {gathered(d[0], group)}, x);
    }

    // ---------------------------------------------------------------- the collectives on tensors

    /** A summed copy: the input may be shared (a saved activation, a gradient another node also receives). */
    private static Tensor allReduced(Tensor t, ProcessGroup group) {
        Tensor out = t.copy();
        group.allReduce(out, ProcessGroup.ReduceOp.SUM).await();
        return out;
    }

    private static Tensor gathered(Tensor t, ProcessGroup group) {
        Tensor in = t.contiguous();
        int[] shape = in.shape();
        shape[0] *= group.size();
        Tensor out = Tensor.empty(in.dtype(), in.device(), shape);
        group.allGather(in, out).await();
        return out;
    }

    private static Tensor reduceScattered(Tensor t, ProcessGroup group) {
        Tensor in = t.contiguous();
        int[] shape = in.shape();
        shape[0] = sequencePart("reduce-scatter", in, group);
        Tensor out = Tensor.empty(in.dtype(), in.device(), shape);
        group.reduceScatter(in, out, ProcessGroup.ReduceOp.SUM).await();
        return out;
    }

    private static Tensor gatheredLastDim(Tensor t, ProcessGroup group) {
        Tensor in = t.contiguous();
        int rank = in.rank();
        int[] stacked = new int[rank + 1];
        stacked[0] = group.size();
        System.arraycopy(in.shape(), 0, stacked, 1, rank);
        Tensor parts = Tensor.empty(in.dtype(), in.device(), stacked);
        group.allGather(in, parts).await();
        // [size, ..., h] -> [..., size, h] -> [..., size * h]
        int[] order = new int[rank + 1];
        for (int i = 0; i < rank - 1; i++) {
            order[i] = i + 1;
        }
        order[rank - 1] = 0;
        order[rank] = rank;
        int[] shape = in.shape();
        shape[rank - 1] *= group.size();
        return parts.permute(order).contiguous().reshape(shape);
    }

    /** Rows of dimension 0 per rank; the sequence must split evenly. */
    private static int sequencePart(String what, Tensor t, ProcessGroup group) {
        if (t.rank() == 0 || t.size(0) % group.size() != 0) {
            throw new IllegalArgumentException(what + ": the sequence (dimension 0 of " + Arrays.toString(t.shape())
                    + ") does not split into " + group.size() + " equal parts over group " + group.name());
        }
        return t.size(0) / group.size();
    }
}
