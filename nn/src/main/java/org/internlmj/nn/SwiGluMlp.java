package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;

/**
 * InternLM's feed-forward: {@code w3(silu(w1 x) * w2 x)}, no biases; w1 is the gate, w2 the up and w3
 * the down projection (HF: gate_proj, up_proj, down_proj). Note InternLM's init scales w2 (up), not w3.
 */
public final class SwiGluMlp extends Module {
    private final Linear w1;
    private final Linear w2;
    private final Linear w3;

    public SwiGluMlp(ModelSpec spec, int layerIndex, DType dtype, Device device) {
        int h = spec.hiddenSize();
        int m = spec.mlpHidden();
        this.w1 = child("w1", new Linear(h, m, false, new Init.Normal(Init.PROJ_STD), dtype, device));
        this.w2 = child("w2", new Linear(h, m, false,
                new Init.Normal(Init.PROJ_STD / Math.sqrt(2.0 * (layerIndex + 1))), dtype, device));
        this.w3 = child("w3", new Linear(m, h, false, new Init.Normal(Init.DOWN_STD), dtype, device));
    }

    public Variable forward(Variable x) {
        return w3.forward(F.swiglu(w1.forward(x), w2.forward(x)));
    }
}
