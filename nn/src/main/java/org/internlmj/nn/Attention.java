package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;

/**
 * InternLM's attention ("mixer"): a fused {@code Wqkv} projection with bias whose output is laid out
 * {@code (three, heads, head_dim)}, rotary position embedding (rotate-half, base 10000) on q and k at the
 * packed positions, causal attention within each document of the pack, and {@code out_proj} with bias.
 */
public final class Attention extends Module {
    private final Linear wqkv;
    private final Linear outProj;
    private final int heads;
    private final int headDim;
    private final double rotaryBase;

    public Attention(ModelSpec spec, int layerIndex, DType dtype, Device device) {
        int h = spec.hiddenSize();
        this.heads = spec.numHeads();
        this.headDim = spec.headDim();
        this.rotaryBase = spec.rotaryBase();
        this.wqkv = child("Wqkv", new Linear(h, 3 * h, true, new Init.Normal(Init.PROJ_STD), dtype, device));
        this.outProj = child("out_proj", new Linear(h, h, true,
                new Init.Normal(Init.PROJ_STD / Math.sqrt(2.0 * (layerIndex + 1))), dtype, device));
    }

    /** x {@code [T, hidden]} to {@code [T, hidden]}. */
    public Variable forward(Variable x, Tensor positions, Tensor cuSeqlens) {
        int t = x.size(0);
        Variable qkv = F.reshape(wqkv.forward(x), t, 3, heads, headDim);
        Variable q = F.rotary(F.contiguous(F.select(qkv, 1, 0)), positions, rotaryBase);
        Variable k = F.rotary(F.contiguous(F.select(qkv, 1, 1)), positions, rotaryBase);
        Variable v = F.contiguous(F.select(qkv, 1, 2));
        Variable o = F.attention(q, k, v, cuSeqlens, 1.0 / Math.sqrt(headDim), true);
        return outProj.forward(F.reshape(o, t, heads * headDim));
    }
}
