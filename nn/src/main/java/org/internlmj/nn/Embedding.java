package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;

/** Token embedding: weight {@code [vocab, hidden]}, lookup by id. */
public final class Embedding extends Module {
    private final Parameter weight;

    public Embedding(int vocab, int hidden, DType dtype, Device device) {
        this.weight = parameter("weight", new Init.Normal(Init.EMBED_STD), dtype, device, vocab, hidden);
    }

    public Parameter weight() {
        return weight;
    }

    /** ids {@code [T]} (I32) to {@code [T, hidden]}. */
    public Variable forward(Tensor ids) {
        return F.embedding(weight.variable(), ids);
    }
}
