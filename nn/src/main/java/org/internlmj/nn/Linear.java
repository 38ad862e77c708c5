package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;

/** {@code y = x W^T + b} with torch's layout: weight {@code [out, in]}, bias {@code [out]} or none. */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;

    public Linear(int in, int out, boolean bias, Init init, DType dtype, Device device) {
        this.weight = parameter("weight", init, dtype, device, out, in);
        this.bias = bias ? parameter("bias", new Init.Constant(0), dtype, device, out) : null;
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    public Variable forward(Variable x) {
        return F.linear(x, weight.variable(), bias == null ? null : bias.variable());
    }

    /** With InternLM's {@code embed_grad_scale} applied to the weight (the output head). */
    public Variable forward(Variable x, double weightGradScale) {
        Variable w = weightGradScale == 1.0 ? weight.variable() : F.scaleGrad(weight.variable(), weightGradScale);
        return F.linear(x, w, bias == null ? null : bias.variable());
    }
}
