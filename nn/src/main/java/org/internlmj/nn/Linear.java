package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;

/**
 * {@code y = x W^T + b} with torch's layout: weight {@code [out, in]}, bias {@code [out]} or none; whole or
 * split over a tensor-parallel group the Megatron way:
 * <ul>
 *   <li>column-parallel ({@link #column}): each rank holds {@code out/size} rows of W (and of b) and computes
 *       its part of the outputs; its input must already be in the parallel region
 *       ({@link TensorParallel#enter}) and its output stays split;</li>
 *   <li>row-parallel ({@link #row}): each rank holds {@code in/size} columns of W and takes its part of the
 *       inputs; the partial products are reduced over the group ({@link TensorParallel#exit}) and the whole,
 *       replicated bias added after.</li>
 * </ul>
 * With one rank both are the plain fused {@code F.linear}.
 */
public final class Linear extends Module {
    private enum Kind { WHOLE, COLUMN, ROW }

    private final Parameter weight;
    private final Parameter bias;
    private final Kind kind;
    private final TensorParallel tp;

    /** A whole (not split) linear layer. */
    public Linear(int in, int out, boolean bias, Init init, DType dtype, Device device) {
        this(in, out, bias, init, dtype, device, Kind.WHOLE, 1, TensorParallel.none());
    }

    private Linear(int in, int out, boolean bias, Init init, DType dtype, Device device, Kind kind, int groups,
                   TensorParallel tp) {
        this.kind = kind;
        this.tp = tp;
        TensorSplit w = switch (kind) {
            case WHOLE -> null;
            case COLUMN -> tp.split(0, groups);
            case ROW -> tp.split(1, 1);
        };
        this.weight = parameter("weight", init, dtype, device, w, out, in);
        this.bias = bias ? parameter("bias", new Init.Constant(0), dtype, device, kind == Kind.COLUMN ? w : null, out)
                : null;
    }

    /**
     * Output-split over {@code tp}: {@code groups} > 1 splits each of that many consecutive blocks of the
     * outputs separately (the fused q/k/v projection: 3).
     */
    public static Linear column(int in, int out, boolean bias, Init init, DType dtype, Device device, TensorParallel tp,
                                int groups) {
        return new Linear(in, out, bias, init, dtype, device, Kind.COLUMN, groups, tp);
    }

    /** Input-split over {@code tp}; the output is reduced over the group. */
    public static Linear row(int in, int out, boolean bias, Init init, DType dtype, Device device, TensorParallel tp) {
        return new Linear(in, out, bias, init, dtype, device, Kind.ROW, 1, tp);
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    public Variable forward(Variable x) {
        return forward(x, 1.0);
    }

    /** With InternLM's {@code embed_grad_scale} applied to the weight (the output head). */
    public Variable forward(Variable x, double weightGradScale) {
        Variable w = weightGradScale == 1.0 ? weight.variable() : F.scaleGrad(weight.variable(), weightGradScale);
        Variable b = bias == null ? null : bias.variable();
        if (kind != Kind.ROW || tp.size() == 1) {
            return F.linear(x, w, b);
        }
        Variable y = tp.exit(F.linear(x, w, null));
        return b == null ? y : F.add(y, tp.sharedWeight(b));
    }
}
