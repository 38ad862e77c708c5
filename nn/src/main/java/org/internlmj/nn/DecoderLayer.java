package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;

/** One pre-norm block: {@code h = x + attn(norm1(x)); out = h + mlp(norm2(h))}. */
public final class DecoderLayer extends Module {
    private final Norm norm1;
    private final Attention mixer;
    private final Norm norm2;
    private final SwiGluMlp mlp;

    public DecoderLayer(ModelSpec spec, int layerIndex, DType dtype, Device device) {
        this(spec, layerIndex, dtype, device, TensorParallel.none());
    }

    public DecoderLayer(ModelSpec spec, int layerIndex, DType dtype, Device device, TensorParallel tp) {
        this.mixer = child("mixer", new Attention(spec, layerIndex, dtype, device, tp));
        this.norm1 = child("norm1", new Norm(spec.normType(), spec.hiddenSize(), spec.normEps(), dtype, device, tp));
        this.norm2 = child("norm2", new Norm(spec.normType(), spec.hiddenSize(), spec.normEps(), dtype, device, tp));
        this.mlp = child("mlp", new SwiGluMlp(spec, layerIndex, dtype, device, tp));
    }

    public Variable forward(Variable x, Tensor positions, Tensor cuSeqlens) {
        Variable h = F.add(x, mixer.forward(norm1.forward(x), positions, cuSeqlens));
        return F.add(h, mlp.forward(norm2.forward(h)));
    }
}
