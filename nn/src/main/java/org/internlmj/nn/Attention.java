package org.internlmj.nn;

import java.util.List;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;

/**
 * InternLM's attention ("mixer"): a fused {@code Wqkv} projection with bias whose output is laid out
 * {@code (three, heads, head_dim)}, rotary position embedding (rotate-half, base 10000) on q and k at the
 * packed positions, causal attention within each document of the pack, and {@code out_proj} with bias.
 * Under tensor parallelism each rank computes {@code heads / size} heads: Wqkv is column-parallel (its
 * heads of q, k and v), out_proj row-parallel.
 */
public final class Attention extends Module {
    private final Linear wqkv;
    private final Linear outProj;
    private final int heads;
    private final int headDim;
    private final double rotaryBase;
    private final TensorParallel tp;

    public Attention(ModelSpec spec, int layerIndex, DType dtype, Device device) {
        this(spec, layerIndex, dtype, device, TensorParallel.none());
    }

    public Attention(ModelSpec spec, int layerIndex, DType dtype, Device device, TensorParallel tp) {
        int h = spec.hiddenSize();
        if (spec.numHeads() % tp.size() != 0) {
            throw new IllegalArgumentException(spec.numHeads() + " attention heads do not split over " + tp.size()
                    + " tensor-parallel ranks");
        }
        this.tp = tp;
        this.heads = spec.numHeads() / tp.size();
        this.headDim = spec.headDim();
        this.rotaryBase = spec.rotaryBase();
        this.wqkv = child("Wqkv", Linear.column(h, 3 * h, true, new Init.Normal(Init.PROJ_STD), dtype, device, tp, 3));
        this.outProj = child("out_proj", Linear.row(h, h, true,
                new Init.Normal(Init.PROJ_STD / Math.sqrt(2.0 * (layerIndex + 1))), dtype, device, tp));
    }

    /**
     * x {@code [T, hidden]} ({@code [T/size, hidden]} under sequence parallelism) to the same shape;
     * positions and cuSeqlens describe the whole micro-batch of T tokens.
     */
    public Variable forward(Variable x, Tensor positions, Tensor cuSeqlens) {
        Variable in = tp.enter(x);
        int t = in.size(0);
        Variable qkv = F.reshape(wqkv.forward(in), t, 3, heads, headDim);
        // One split, not three selects: its backward writes the three gradients into one buffer, where
        // each select's would zero a whole [T, 3, heads, D] gradient and the engine would add the three.
        List<Variable> parts = F.split(qkv, new int[] {1, 1, 1}, 1);
        Variable q = F.rotary(F.contiguous(F.squeeze(parts.get(0), 1)), positions, rotaryBase);
        Variable k = F.rotary(F.contiguous(F.squeeze(parts.get(1), 1)), positions, rotaryBase);
        Variable v = F.contiguous(F.squeeze(parts.get(2), 1));
        Variable o = F.attention(q, k, v, cuSeqlens, 1.0 / Math.sqrt(headDim), true);
        return outProj.forward(F.reshape(o, t, heads * headDim));
    }
}
