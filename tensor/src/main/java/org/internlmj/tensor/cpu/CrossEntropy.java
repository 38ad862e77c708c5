package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.Simd.F;
import static org.internlmj.tensor.cpu.Simd.LANES;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Cross-entropy over large vocabularies with label smoothing and an ignore index, forward and
 * backward: {@code loss = (1-s) * (lse - x[y]) + s * (lse - mean(x))},
 * {@code dlogits = dloss * (softmax(x) - (1-s) [j == y] - s/V)}.
 *
 * <p>The forward reads each row once: it walks the row in blocks small enough for L1, takes the block's
 * maximum (and sum, for smoothing), rescales the running sum-exp when the maximum grows (one scalar exp
 * per block, the online softmax), then adds the block's {@code exp(x - max)}. Rows run in parallel;
 * exponentials come from {@link VectorExp#exp} and lane sums are in fixed order, so results are
 * bit-identical for any thread count.
 *
 * <p>The vocabulary-parallel loss uses the same row pass on each rank's shard of the vocabulary
 * ({@link #shardStats}: the shard's log-sum-exp, target logit and logit sum, which the ranks then combine)
 * and one backward for whole rows and shards ({@link #shardBackward}, the label and the smoothing term
 * taken relative to the shard's place in the whole vocabulary).
 */
final class CrossEntropy {
    private CrossEntropy() {
    }

    /** Block of a row processed at a time: 4 KiB of floats, a multiple of every vector width. */
    private static final int BLOCK = 1024;
    private static final int GRAIN_ELEMENTS = 32 * 1024;

    static void crossEntropy(Parallel parallel, Tensor logits, Tensor labels, int ignoreIndex, float smoothing,
                             Tensor loss, Tensor lse) {
        String op = "crossEntropy";
        OpChecks.sameDevice(op, logits, labels, loss, lse);
        int[] nv = logitsShape(op, logits);
        int n = nv[0];
        int v = nv[1];
        int[] y = checkedLabels(op, labels, n, v, ignoreIndex);
        RowView.computeDType(op, "loss", loss);
        OpChecks.shape(op, "loss", loss, n);
        RowView.Statistic z = RowView.statistic(op, "lse", lse, n);
        RowView xv = RowView.of(op, "logits", logits);
        float[] l = new float[n];
        eachRow(parallel, xv, (r, x, off, rowLse, rowSum) -> {
            z.set(r, (float) rowLse);
            if (y[r] == ignoreIndex) {
                l[r] = 0f;
            } else {
                double nll = rowLse - x[off + y[r]];
                // Without smoothing the mean term is left out rather than multiplied by 0, so a masked
                // (-inf) logit does not make the loss NaN.
                l[r] = (float) (smoothing == 0 ? nll : (1.0 - smoothing) * nll + smoothing * (rowLse - rowSum / v));
            }
        });
        RowView.storeVector(l, loss);
    }

    /** What a row pass hands on per row: the row (in {@code x} from {@code off}), its log-sum-exp and sum. */
    @FunctionalInterface
    private interface RowStats {
        void accept(int row, float[] x, int off, double lse, double sum);
    }

    /** One pass over every row of {@code xv}, in parallel: {@link #logSumExp}, then {@code out}. */
    private static void eachRow(Parallel parallel, RowView xv, RowStats out) {
        int v = xv.width;
        parallel.forRange(xv.rows, Math.max(1, GRAIN_ELEMENTS / Math.max(1, v)), (start, end) -> {
            float[] xs = xv.scratch();
            float[] xa = xv.array(xs);
            double[] stats = new double[2];
            for (int r = start; r < end; r++) {
                int xo = xv.load(r, xs);
                logSumExp(xa, xo, v, stats);
                out.accept(r, xa, xo, stats[0], stats[1]);
            }
        });
    }

    /** Writes {@code stats[0] = log(sum(exp(x)))} and {@code stats[1] = sum(x)} of one row. */
    private static void logSumExp(float[] x, int off, int v, double[] stats) {
        float max = Float.NEGATIVE_INFINITY;
        float sumExp = 0f;
        double sum = 0;
        for (int b = 0; b < v; b += BLOCK) {
            int len = Math.min(BLOCK, v - b);
            int o = off + b;
            FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            FloatVector sv = FloatVector.zero(F);
            int i = 0;
            for (int bound = F.loopBound(len); i < bound; i += LANES) {
                FloatVector xv = FloatVector.fromArray(F, x, o + i);
                mv = mv.max(xv);
                sv = sv.add(xv);
            }
            float blockMax = mv.reduceLanes(VectorOperators.MAX);
            float blockSum = VectorMath.sum(sv);
            for (; i < len; i++) {
                blockMax = Math.max(blockMax, x[o + i]);
                blockSum += x[o + i];
            }
            sum += blockSum;
            if (blockMax == Float.NEGATIVE_INFINITY) {
                continue;
            }
            if (blockMax > max) {
                sumExp = max == Float.NEGATIVE_INFINITY ? 0f : sumExp * VectorExp.exp(max - blockMax);
                max = blockMax;
            }
            sumExp += sumExpShifted(x, o, len, max);
        }
        stats[0] = max + Math.log(sumExp);
        stats[1] = sum;
    }

    /** {@code sum(exp(x - m))} over {@code len} elements, lanes summed in fixed order. */
    private static float sumExpShifted(float[] x, int off, int len, float m) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(len); i < bound; i += LANES) {
            acc = acc.add(VectorExp.exp(FloatVector.fromArray(F, x, off + i).sub(m)));
        }
        float s = VectorMath.sum(acc);
        for (; i < len; i++) {
            s += VectorExp.exp(x[off + i] - m);
        }
        return s;
    }

    static void shardStats(Parallel parallel, Tensor logits, Tensor labels, int vocabStart, Tensor lse,
                           Tensor target, Tensor sum) {
        String op = "crossEntropyShardStats";
        OpChecks.sameDevice(op, logits, labels, lse, target, sum);
        int[] nv = logitsShape(op, logits);
        int n = nv[0];
        int v = nv[1];
        OpChecks.indices(op, "labels", labels, n);
        int[] y = labelInts(labels, n);
        RowView.Statistic z = RowView.statistic(op, "lse", lse, n);
        RowView.Statistic t = RowView.statistic(op, "target", target, n);
        RowView.Statistic total = RowView.statistic(op, "sum", sum, n);
        RowView xv = RowView.of(op, "logits", logits);
        eachRow(parallel, xv, (r, x, off, rowLse, rowSum) -> {
            z.set(r, (float) rowLse);
            total.set(r, (float) rowSum);
            // in long: a label far below the shard must not wrap around into it
            long local = (long) y[r] - vocabStart;
            t.set(r, local >= 0 && local < v ? x[off + (int) local] : 0f);
        });
    }

    static void crossEntropyBackward(Parallel parallel, Tensor logits, Tensor labels, Tensor lse, int ignoreIndex,
                                     float smoothing, Tensor dloss, Tensor dlogits) {
        shardBackward("crossEntropyBackward", parallel, logits, labels, 0, logits.rank() == 2 ? logits.size(1) : 0,
                lse, ignoreIndex, smoothing, dloss, dlogits);
    }

    static void shardBackward(String op, Parallel parallel, Tensor logits, Tensor labels, int vocabStart,
                              int vocabTotal, Tensor lse, int ignoreIndex, float smoothing, Tensor dloss,
                              Tensor dlogits) {
        OpChecks.sameDevice(op, logits, labels, lse, dloss, dlogits);
        int[] nv = logitsShape(op, logits);
        int n = nv[0];
        int v = nv[1];
        if (vocabStart < 0 || (long) vocabStart + v > vocabTotal) {
            throw new IllegalArgumentException(op + ": a shard of " + v + " logits at " + vocabStart
                    + " does not fit a vocabulary of " + vocabTotal);
        }
        OpChecks.sameShape(op, logits, "logits", dlogits, "dlogits");
        OpChecks.rows(op, dlogits);
        int[] y = checkedLabels(op, labels, n, vocabTotal, ignoreIndex);
        RowView.statistic(op, "lse", lse, n);
        float[] z = RowView.vector(op, "lse", lse, n);
        float[] dl = RowView.vector(op, "dloss", dloss, n);
        RowView xv = RowView.of(op, "logits", logits);
        RowView gv = RowView.of(op, "dlogits", dlogits);
        float uniform = smoothing / vocabTotal;
        float target = 1f - smoothing;
        parallel.forRange(n, Math.max(1, GRAIN_ELEMENTS / Math.max(1, v)), (start, end) -> {
            float[] xs = xv.scratch();
            float[] gs = gv.scratch();
            float[] xa = xv.array(xs);
            float[] ga = gv.array(gs);
            for (int r = start; r < end; r++) {
                int go = gv.target(r);
                if (y[r] == ignoreIndex) {
                    java.util.Arrays.fill(ga, go, go + v, 0f);
                } else {
                    int xo = xv.load(r, xs);
                    rowGradient(xa, xo, z[r], uniform, dl[r], ga, go, v);
                    int local = y[r] - vocabStart;
                    if (local >= 0 && local < v) {
                        float p = VectorExp.exp(xa[xo + local] - z[r]);
                        ga[go + local] = (p - uniform - target) * dl[r];
                    }
                }
                gv.store(r, gs);
            }
        });
    }

    /** {@code g = (exp(x - lse) - uniform) * dl} over one row. */
    private static void rowGradient(float[] x, int xo, float lse, float uniform, float dl, float[] g, int go, int v) {
        int i = 0;
        for (int bound = F.loopBound(v); i < bound; i += LANES) {
            FloatVector p = VectorExp.exp(FloatVector.fromArray(F, x, xo + i).sub(lse));
            p.sub(uniform).mul(dl).intoArray(g, go + i);
        }
        for (; i < v; i++) {
            g[go + i] = (VectorExp.exp(x[xo + i] - lse) - uniform) * dl;
        }
    }

    private static int[] logitsShape(String op, Tensor logits) {
        if (logits.rank() != 2) {
            throw new IllegalArgumentException(op + ": logits must be [N, V], got " + Shapes.str(logits.shape()));
        }
        OpChecks.rows(op, logits);
        return logits.shape();
    }

    /** Labels as ints; each must be the ignore index or lie in {@code [0, vocab)}. */
    private static int[] checkedLabels(String op, Tensor labels, int n, int vocab, int ignoreIndex) {
        OpChecks.indices(op, "labels", labels, n);
        int[] out = labelInts(labels, n);
        for (int i = 0; i < n; i++) {
            int y = out[i];
            if (y != ignoreIndex && (y < 0 || y >= vocab)) {
                throw new IllegalArgumentException(op + ": label " + labelValue(labels, i) + " of row " + i
                        + " is outside [0, " + vocab + ") and is not the ignore index " + ignoreIndex);
            }
        }
        return out;
    }

    /**
     * Labels (I32 or I64, already shape-checked) as ints; an I64 label beyond the int range becomes
     * {@code Integer.MIN_VALUE}, which no vocabulary or shard contains, so range checks still reject it.
     */
    private static int[] labelInts(Tensor labels, int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            long y = labelValue(labels, i);
            out[i] = y == (int) y ? (int) y : Integer.MIN_VALUE;
        }
        return out;
    }

    private static long labelValue(Tensor labels, int i) {
        CpuStorage s = RowView.storage(labels);
        int at = labels.offset() + i * labels.stride(0);
        return labels.dtype() == DType.I32 ? s.i32()[at] : s.i64()[at];
    }
}
