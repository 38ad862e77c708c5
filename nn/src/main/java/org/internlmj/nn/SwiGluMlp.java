package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;

/**
 * InternLM's feed-forward: {@code w3(silu(w1 x) * w2 x)}, no biases; w1 is the gate, w2 the up and w3
 * the down projection (HF: gate_proj, up_proj, down_proj). Note InternLM's init scales w2 (up), not w3.
 * Under tensor parallelism w1 and w2 are column-parallel (sharing one region entry) and w3 row-parallel.
 */
public final class SwiGluMlp extends Module {
    private final Linear w1;
    private final Linear w2;
    private final Linear w3;
    private final TensorParallel tp;

    public SwiGluMlp(ModelSpec spec, int layerIndex, DType dtype, Device device) {
        this(spec, layerIndex, dtype, device, TensorParallel.none());
    }

    public SwiGluMlp(ModelSpec spec, int layerIndex, DType dtype, Device device, TensorParallel tp) {
        int h = spec.hiddenSize();
        int m = spec.mlpHidden();
        this.tp = tp;
        this.w1 = child("w1", Linear.column(h, m, false, new Init.Normal(Init.PROJ_STD), dtype, device, tp, 1));
        this.w2 = child("w2", Linear.column(h, m, false,
                new Init.Normal(Init.PROJ_STD / Math.sqrt(2.0 * (layerIndex + 1))), dtype, device, tp, 1));
        this.w3 = child("w3", Linear.row(m, h, false, new Init.Normal(Init.DOWN_STD), dtype, device, tp));
    }

    public Variable forward(Variable x) {
        Variable in = tp.enter(x);
        return w3.forward(F.swiglu(w1.forward(in), w2.forward(in)));
    }
}
