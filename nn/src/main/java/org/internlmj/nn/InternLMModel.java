package org.internlmj.nn;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.autograd.Checkpoint;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Reduction;
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
 * Variable loss = model.loss(logits, labels, -100, 0.0, Reduction.MEAN);
 * }</pre>
 *
 * Parameter names are InternLM's: {@code embedding.weight}, {@code blocks.{i}.mixer.Wqkv.weight},
 * {@code blocks.{i}.mlp.w1.weight}, {@code norm.weight}, {@code head.weight}, ...
 *
 * <p><b>Parts.</b> A model object may hold only a {@link ModelPart} (a pipeline stage: a range of layers,
 * with the embedding on the first stage and norm + head on the last), run piecewise: {@link #embed},
 * {@link #blocks}, {@link #logits}, {@link #loss}. Hidden states passed between parts are {@code [T, H]}, or
 * this tensor rank's {@code [T/tp, H]} under sequence parallelism.
 *
 * <p><b>Tensor parallelism.</b> Over a {@link TensorParallel} group attention heads, MLP columns, the
 * embedding and the head are split (Megatron's column/row-parallel layers); with {@code parallel_output}
 * the logits stay split along the vocabulary ({@code [T, vocab/tp]}) and {@link #loss} is the
 * vocabulary-parallel cross-entropy, which never gathers whole rows.
 */
public final class InternLMModel extends Module {
    private final ModelSpec spec;
    private final TensorParallel tp;
    private final ModelPart part;
    private final Embedding embedding;
    private final List<DecoderLayer> blocks = new ArrayList<>();
    private final Norm norm;
    private final Linear head;

    /** The whole model on one rank. */
    public InternLMModel(ModelSpec spec, Device device) {
        this(spec, device, TensorParallel.none(), ModelPart.whole(spec));
    }

    /** {@code part} of the model, split over the tensor-parallel group of {@code tp}. */
    public InternLMModel(ModelSpec spec, Device device, TensorParallel tp, ModelPart part) {
        if (part.endLayer() > spec.numLayers()) {
            throw new IllegalArgumentException("layers " + part.firstLayer() + ".." + (part.endLayer() - 1)
                    + " are not all in a model of " + spec.numLayers() + " layers");
        }
        spec.checkTensorSplit(tp.size());
        this.spec = spec;
        this.tp = tp;
        this.part = part;
        DType dt = spec.dtype();
        this.embedding = part.embedding() ? child("embedding", new Embedding(spec.vocabSize(), spec.hiddenSize(), dt,
                device, tp, spec.embedSplitHidden())) : null;
        BlockList list = child("blocks", new BlockList());
        for (int i = part.firstLayer(); i < part.endLayer(); i++) {
            blocks.add(list.add(i, new DecoderLayer(spec, i, dt, device, tp)));
        }
        this.norm = part.head() ? child("norm", new Norm(spec.normType(), spec.hiddenSize(), spec.normEps(), dt, device,
                tp)) : null;
        this.head = part.head() ? child("head", Linear.column(spec.hiddenSize(), spec.vocabSize(), false,
                new Init.Normal(Init.EMBED_STD), dt, device, tp, 1)) : null;
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

    public TensorParallel tensorParallel() {
        return tp;
    }

    public ModelPart part() {
        return part;
    }

    /**
     * Logits in fp32 (or wider) for one packed micro-batch of the whole model: ids and positions {@code [T]}
     * (I32), cuSeqlens {@code [B+1]} (I32). {@code [T, vocab]}, or {@code [T, vocab/tp]} split along the
     * vocabulary under tensor parallelism with {@code parallel_output}.
     */
    public Variable forward(Tensor ids, Tensor positions, Tensor cuSeqlens) {
        return logits(blocks(embed(ids), positions, cuSeqlens));
    }

    /** The first part's input: token embeddings of ids {@code [T]}, this rank's tokens under sequence parallelism. */
    public Variable embed(Tensor ids) {
        if (embedding == null) {
            throw new IllegalStateException("this model part (" + part + ") holds no embedding");
        }
        if (tp.splitsSequence() && ids.size(0) % tp.size() != 0) {
            throw new IllegalArgumentException("sequence parallelism over " + tp.size() + " ranks needs a token count "
                    + "divisible by " + tp.size() + ", got " + ids.size(0));
        }
        Variable x = embedding.forward(ids);
        return spec.embedGradScale() != 1.0 ? F.scaleGrad(x, spec.embedGradScale()) : x;
    }

    /**
     * This part's decoder layers on hidden states {@code x}; positions and cuSeqlens describe the whole
     * micro-batch. The first {@code int(layers * checkpoint)} layers of the part recompute their activations
     * in backward.
     */
    public Variable blocks(Variable x, Tensor positions, Tensor cuSeqlens) {
        int recompute = spec.checkpointedLayers(blocks.size());
        for (int i = 0; i < blocks.size(); i++) {
            DecoderLayer block = blocks.get(i);
            if (i < recompute) {
                x = Checkpoint.apply(in -> block.forward(in[0], positions, cuSeqlens), x);
            } else {
                x = block.forward(x, positions, cuSeqlens);
            }
        }
        return x;
    }

    /** The last part's output: final norm and head on hidden states, in fp32 (F64 stays F64). */
    public Variable logits(Variable hidden) {
        if (head == null) {
            throw new IllegalStateException("this model part (" + part + ") holds no head");
        }
        Variable logits = head.forward(tp.enter(norm.forward(hidden)), spec.embedGradScale());
        if (!spec.parallelOutput()) {
            logits = tp.gatherHidden(logits);
        }
        // InternLM casts the last stage's output to fp32; wider (F64, for reference checks) stays as is
        return logits.dtype() == DType.BF16 || logits.dtype() == DType.F16 ? F.cast(logits, DType.F32) : logits;
    }

    /** True when {@link #logits} are this tensor rank's vocabulary columns rather than whole rows. */
    public boolean vocabParallelLogits() {
        return tp.size() > 1 && spec.parallelOutput();
    }

    /**
     * Cross-entropy of {@link #logits} against labels {@code [T]} (InternLM's {@code FlashGPTLMLoss}, with label
     * smoothing and ignored labels): the vocabulary-parallel loss when the logits are split, else
     * {@link F#crossEntropy}. Every tensor rank gets the same value.
     */
    public Variable loss(Variable logits, Tensor labels, int ignoreIndex, double smoothing, Reduction reduction) {
        if (vocabParallelLogits()) {
            return VocabParallelCrossEntropy.crossEntropy(logits, labels, tp.rank() * logits.size(1), spec.vocabSize(),
                    tp.group(), ignoreIndex, smoothing, reduction);
        }
        return F.crossEntropy(logits, labels, ignoreIndex, smoothing, reduction);
    }
}
