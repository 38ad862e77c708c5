package org.internlmj.nn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Reduction;
import org.internlmj.autograd.Variable;
import org.internlmj.dist.ProcessGroup;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Ops;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;

/**
 * Cross-entropy over logits split along the vocabulary across a tensor-parallel group (Megatron's and
 * flash-attn's vocabulary-parallel loss, InternLM's {@code parallel_output}), with label smoothing and an
 * ignore index, that never gathers a whole row of logits:
 * <ol>
 *   <li>each rank reduces its shard to three numbers per row (the backend's {@code crossEntropyShardStats}):
 *       the shard's log-sum-exp {@code l_r}, the target logit if the label is in the shard (else 0) and the
 *       sum of its logits;</li>
 *   <li>one all-reduce (max) of {@code l_r} and one (sum) of {@code exp(l_r - max)}, the target logits and
 *       the sums give every rank the row's log-sum-exp {@code lse = max + log(sum_r exp(l_r - max))}, its
 *       target logit and its logit sum;</li>
 *   <li>{@code loss = (1-s)(lse - x[y]) + s(lse - sum/V)}; rows labelled with the ignore index count for
 *       nothing.</li>
 * </ol>
 * The backward needs no communication: each rank writes its columns
 * {@code dloss (exp(x - lse) - (1-s)[j == y] - s/V)} ({@code crossEntropyShardBackward}). The forward saves
 * only the row log-sum-exp. Every rank returns the same loss.
 */
public final class VocabParallelCrossEntropy {
    private VocabParallelCrossEntropy() {
    }

    /**
     * The loss of this rank's logits {@code [N, V/size]}, columns {@code vocabStart ..} of a vocabulary of
     * {@code vocabTotal}, against labels {@code [N]} (I32/I64: ids of the whole vocabulary or
     * {@code ignoreIndex}). MEAN divides by the rows not ignored (NaN when all are, as torch).
     */
    public static Variable crossEntropy(Variable logits, Tensor labels, int vocabStart, int vocabTotal,
                                        ProcessGroup group, int ignoreIndex, double smoothing, Reduction reduction) {
        Tensor x = logits.data().contiguous();
        if (x.rank() != 2) {
            throw new IllegalArgumentException("vocabulary-parallel cross-entropy expects logits [N, V/tp], got "
                    + Shapes.str(x.shape()));
        }
        if (!(smoothing >= 0 && smoothing <= 1)) {
            throw new IllegalArgumentException("label smoothing must be in [0, 1], got " + smoothing);
        }
        int n = x.size(0);
        if (labels.rank() != 1 || labels.size(0) != n) {
            throw new IllegalArgumentException("labels must be [" + n + "], got " + Shapes.str(labels.shape()));
        }
        float[] keep = keptRows(labels, ignoreIndex, vocabTotal);
        long kept = 0;
        for (float k : keep) {
            kept += (long) k;
        }
        DType st = x.dtype() == DType.F64 ? DType.F64 : DType.F32;
        Tensor shardLse = Tensor.empty(st, x.device(), n);
        Tensor stats = Tensor.empty(st, x.device(), 3, n);
        Tensor target = stats.select(0, 1);
        Tensor sum = stats.select(0, 2);
        x.backend().crossEntropyShardStats(x, labels, vocabStart, shardLse, target, sum);

        Tensor max = shardLse.copy();
        group.allReduce(max, ProcessGroup.ReduceOp.MAX).await();
        Tensor expShard = stats.select(0, 0);
        x.backend().binary(BinaryOp.SUB, shardLse, max, expShard);
        x.backend().unary(UnaryOp.EXP, expShard, expShard);
        group.allReduce(stats, ProcessGroup.ReduceOp.SUM).await();
        Tensor lse = Ops.add(max, Ops.unary(UnaryOp.LOG, expShard));

        // (1-s)(lse - x[y]) + s(lse - sum/V), the mean term left out without smoothing (a masked -inf
        // logit must not turn the loss into NaN), then zero for ignored rows; s as the kernels take it (a
        // float), so forward and backward differentiate the same function
        float s = (float) smoothing;
        Tensor rows = Ops.affine(Ops.sub(lse, target), 1 - (double) s, 0);
        if (s != 0) {
            rows = Ops.add(rows, Ops.affine(Ops.sub(lse, Ops.affine(sum, 1.0 / vocabTotal, 0)), s, 0));
        }
        rows = Ops.mul(rows, Tensor.of(keep, n).to(st).to(x.device()));
        Tensor y = reduction.apply(rows, kept);
        double scale = reduction.rowScale(kept);
        return Graph.record("vocabParallelCrossEntropy", y, (d, need) -> {
            Tensor dloss = Tensor.empty(st, x.device(), n);
            dloss.backend().affine(d[0].to(st), scale, 0, dloss);
            Tensor dx = Tensor.empty(x.dtype(), x.device(), x.shape());
            x.backend().crossEntropyShardBackward(x, labels, vocabStart, vocabTotal, lse, ignoreIndex, s, dloss, dx);
            return new Tensor[] {dx};
        }, logits);
    }

    /** 1 for rows that count, 0 for ignored ones; any other label outside the vocabulary is an error. */
    private static float[] keptRows(Tensor labels, int ignoreIndex, int vocabTotal) {
        long[] y = labels.toLongArray();
        float[] keep = new float[y.length];
        for (int i = 0; i < y.length; i++) {
            if (y[i] == ignoreIndex) {
                continue;
            }
            if (y[i] < 0 || y[i] >= vocabTotal) {
                throw new IllegalArgumentException("vocabParallelCrossEntropy: label " + y[i] + " of row " + i
                        + " is outside [0, " + vocabTotal + ") and is not the ignore index " + ignoreIndex);
            }
            keep[i] = 1;
        }
        return keep;
    }
}
