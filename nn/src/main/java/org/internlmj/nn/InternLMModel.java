package org.internlmj.nn;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.autograd.Checkpoint;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;

/**
 * The InternLM transformer, as InternLM's training code builds it: token embedding, {@code num_layers}
 * pre-norm decoder blocks, a final norm and an untied output head, over packed sequences.
 *
 * <pre>{@code
 * InternLMModel model = new InternLMModel(spec, Device.CPU);
 * model.initialize(1024);
 * Variable logits = model.forward(ids, positions, cuSeqlens);     // [T, vocab], fp32
 * }</pre>
 *
 * Parameter names are InternLM's: {@code embedding.weight}, {@code blocks.{i}.mixer.Wqkv.weight},
 * {@code blocks.{i}.mlp.w1.weight}, {@code norm.weight}, {@code head.weight}, ...
 */
public final class InternLMModel extends Module {
    private final ModelSpec spec;
    private final Embedding embedding;
    private final List<DecoderLayer> blocks = new ArrayList<>();
    private final Norm norm;
    private final Linear head;

    public InternLMModel(ModelSpec spec, Device device) {
        this.spec = spec;
        DType dt = spec.dtype();
        this.embedding = child("embedding", new Embedding(spec.vocabSize(), spec.hiddenSize(), dt, device));
        BlockList list = child("blocks", new BlockList());
        for (int i = 0; i < spec.numLayers(); i++) {
            blocks.add(list.add(i, new DecoderLayer(spec, i, dt, device)));
        }
        this.norm = child("norm", new Norm(spec.normType(), spec.hiddenSize(), spec.normEps(), dt, device));
        this.head = child("head", new Linear(spec.hiddenSize(), spec.vocabSize(), false,
                new Init.Normal(Init.EMBED_STD), dt, device));
    }

    /** Holds the blocks under numeric names ({@code blocks.0}, {@code blocks.1}, ...). */
    private static final class BlockList extends Module {
        DecoderLayer add(int index, DecoderLayer layer) {
            return child(Integer.toString(index), layer);
        }
    }

    public ModelSpec spec() {
        return spec;
    }

    /**
     * Logits {@code [T, vocab]} in fp32 (or wider) for one packed micro-batch: ids and positions {@code [T]} (I32),
     * cuSeqlens {@code [B+1]} (I32). The first {@link ModelSpec#checkpointedLayers()} blocks recompute
     * their activations in backward.
     */
    public Variable forward(Tensor ids, Tensor positions, Tensor cuSeqlens) {
        Variable x = embedding.forward(ids);
        if (spec.embedGradScale() != 1.0) {
            x = F.scaleGrad(x, spec.embedGradScale());
        }
        int recompute = spec.checkpointedLayers();
        for (int i = 0; i < blocks.size(); i++) {
            DecoderLayer block = blocks.get(i);
            if (i < recompute) {
                x = Checkpoint.apply(in -> block.forward(in[0], positions, cuSeqlens), x);
            } else {
                x = block.forward(x, positions, cuSeqlens);
            }
        }
        Variable logits = head.forward(norm.forward(x), spec.embedGradScale());
        // InternLM casts the last stage's output to fp32; wider (F64, for reference checks) stays as is
        return logits.dtype() == DType.BF16 || logits.dtype() == DType.F16 ? F.cast(logits, DType.F32) : logits;
    }
}
