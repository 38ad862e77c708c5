package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;

/**
 * The normalisation InternLM's {@code norm_type} selects: RMSNorm {@code w * x / sqrt(mean(x^2) + eps)}
 * (weight only) or LayerNorm (weight and bias), over the last dimension, statistics in fp32.
 */
public final class Norm extends Module {
    private final ModelSpec.NormType type;
    private final double eps;
    private final Parameter weight;
    private final Parameter bias;

    public Norm(ModelSpec.NormType type, int hidden, double eps, DType dtype, Device device) {
        this.type = type;
        this.eps = eps;
        this.weight = parameter("weight", new Init.Constant(1), dtype, device, hidden);
        this.bias = type == ModelSpec.NormType.LAYERNORM
                ? parameter("bias", new Init.Constant(0), dtype, device, hidden) : null;
    }

    public Variable forward(Variable x) {
        return type == ModelSpec.NormType.RMSNORM
                ? F.rmsNorm(x, weight.variable(), eps)
                : F.layerNorm(x, weight.variable(), bias.variable(), eps);
    }
}
