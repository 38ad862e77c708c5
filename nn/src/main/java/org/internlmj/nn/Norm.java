package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;

/**
 * The normalisation InternLM's {@code norm_type} selects: RMSNorm {@code w * x / sqrt(mean(x^2) + eps)}
 * (weight only) or LayerNorm (weight and bias), over the last dimension, statistics in fp32. Its weights
 * are whole on every tensor rank; under sequence parallelism each rank normalises its own tokens and the
 * weights' gradients are summed over the group.
 */
public final class Norm extends Module {
    private final ModelSpec.NormType type;
    private final double eps;
    private final Parameter weight;
    private final Parameter bias;
    private final TensorParallel tp;

    public Norm(ModelSpec.NormType type, int hidden, double eps, DType dtype, Device device) {
        this(type, hidden, eps, dtype, device, TensorParallel.none());
    }

    public Norm(ModelSpec.NormType type, int hidden, double eps, DType dtype, Device device, TensorParallel tp) {
        this.type = type;
        this.eps = eps;
        this.tp = tp;
        this.weight = parameter("weight", new Init.Constant(1), dtype, device, hidden);
        this.bias = type == ModelSpec.NormType.LAYERNORM
                ? parameter("bias", new Init.Constant(0), dtype, device, hidden) : null;
    }

    public Variable forward(Variable x) {
        Variable w = tp.sharedWeight(weight.variable());
        return type == ModelSpec.NormType.RMSNORM
                ? F.rmsNorm(x, w, eps)
                : F.layerNorm(x, w, tp.sharedWeight(bias.variable()), eps);
    }
}
