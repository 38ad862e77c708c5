package org.internlmj.nn;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.autograd.Checkpoint;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Reduction;
import org.internlmj.autograd.Variable;
import org.internlmj.dist.pipeline.PipelinePartition;
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
 * <p><b>Pipeline parts.</b> Under pipeline parallelism a rank builds only its part
 * ({@link #InternLMModel(ModelSpec, Device, TensorParallel, PipelinePartition, int)}): the blocks of its
 * chunks, the embedding on the first virtual stage, the final norm and head on the last, and runs it chunk
 * by chunk ({@link #forwardChunk}, or piecewise: {@link #embed}, {@link #blocks}, {@link #logits},
 * {@link #loss}). Blocks keep their global index in their names, so a stage's parameters are initialised
 * and checkpointed exactly as in the whole model. Hidden states passed between parts are {@code [T, H]}, or
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
    private final PipelinePartition partition;
    private final int pipelineRank;
    private final Embedding embedding;
    /** This rank's blocks per chunk. */
    private final List<List<DecoderLayer>> chunks = new ArrayList<>();
    private final Norm norm;
    private final Linear head;

    /** The whole model on one rank. */
    public InternLMModel(ModelSpec spec, Device device) {
        this(spec, device, TensorParallel.none(), PipelinePartition.whole(spec.numLayers()), 0);
    }

    /** The chunks pipeline rank {@code pipelineRank} holds under {@code partition}, without tensor parallelism. */
    public InternLMModel(ModelSpec spec, Device device, PipelinePartition partition, int pipelineRank) {
        this(spec, device, TensorParallel.none(), partition, pipelineRank);
    }

    /**
     * The chunks pipeline rank {@code pipelineRank} holds under {@code partition}, split over the
     * tensor-parallel group of {@code tp}.
     */
    public InternLMModel(ModelSpec spec, Device device, TensorParallel tp, PipelinePartition partition,
            int pipelineRank) {
        if (partition.numLayers() != spec.numLayers()) {
            throw new IllegalArgumentException("the partition splits " + partition.numLayers() + " layers, the model has "
                    + spec.numLayers());
        }
        if (pipelineRank < 0 || pipelineRank >= partition.stages()) {
            throw new IllegalArgumentException("pipeline rank " + pipelineRank + " is not in 0.." + (partition.stages() - 1));
        }
        spec.checkTensorSplit(tp.size());
        this.spec = spec;
        this.tp = tp;
        this.partition = partition;
        this.pipelineRank = pipelineRank;
        DType dt = spec.dtype();
        boolean first = partition.holdsEmbedding(pipelineRank, 0);
        boolean last = partition.holdsHead(pipelineRank, partition.chunks() - 1);
        this.embedding = first ? child("embedding", new Embedding(spec.vocabSize(), spec.hiddenSize(), dt, device, tp,
                spec.embedSplitHidden())) : null;
        BlockList list = child("blocks", new BlockList());
        for (int[] layers : partition.chunksOf(pipelineRank)) {
            List<DecoderLayer> chunk = new ArrayList<>();
            for (int i = layers[0]; i < layers[1]; i++) {
                chunk.add(list.add(i, new DecoderLayer(spec, i, dt, device, tp)));
            }
            chunks.add(chunk);
        }
        this.norm = last ? child("norm", new Norm(spec.normType(), spec.hiddenSize(), spec.normEps(), dt, device, tp))
                : null;
        this.head = last ? child("head", Linear.column(spec.hiddenSize(), spec.vocabSize(), false,
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

    /** How the layers are split over pipeline ranks (one stage, one chunk for the whole model). */
    public PipelinePartition partition() {
        return partition;
    }

    /** The pipeline rank whose part this is. */
    public int pipelineRank() {
        return pipelineRank;
    }

    /** Model chunks this rank holds ({@code model.num_chunks}). */
    public int numChunks() {
        return chunks.size();
    }

    /** True when chunk {@code chunk} starts from token ids (it holds the embedding). */
    public boolean embedsInput(int chunk) {
        return partition.holdsEmbedding(pipelineRank, chunk);
    }

    /** True when chunk {@code chunk} ends with the final norm and head (it produces logits). */
    public boolean producesLogits(int chunk) {
        return partition.holdsHead(pipelineRank, chunk);
    }

    /**
     * Logits in fp32 (or wider) for one packed micro-batch of the whole model: ids and positions {@code [T]}
     * (I32), cuSeqlens {@code [B+1]} (I32). {@code [T, vocab]}, or {@code [T, vocab/tp]} split along the
     * vocabulary under tensor parallelism with {@code parallel_output}. Only for the whole model (one
     * pipeline stage).
     */
    public Variable forward(Tensor ids, Tensor positions, Tensor cuSeqlens) {
        if (!embedsInput(0) || !producesLogits(0)) {
            throw new IllegalStateException("this model holds pipeline stage " + pipelineRank + " of "
                    + partition.stages() + " (" + chunks.size() + " chunk(s)): run it chunk by chunk with forwardChunk");
        }
        return forwardChunk(0, ids, null, positions, cuSeqlens);
    }

    /**
     * One chunk's forward pass: from token ids {@code ids} when the chunk holds the embedding, else from
     * {@code hidden} (the previous virtual stage's output); to logits when it holds the head, else to its last
     * block's output.
     */
    public Variable forwardChunk(int chunk, Tensor ids, Variable hidden, Tensor positions, Tensor cuSeqlens) {
        Variable x;
        if (embedsInput(chunk)) {
            x = embed(ids);
        } else if (hidden == null) {
            throw new IllegalArgumentException("chunk " + chunk + " of pipeline stage " + pipelineRank
                    + " starts from the previous stage's hidden states, got none");
        } else {
            x = hidden;
        }
        x = blocks(chunk, x, positions, cuSeqlens);
        return producesLogits(chunk) ? logits(x) : x;
    }

    /** The first virtual stage's input: token embeddings of ids {@code [T]}, this rank's tokens under sequence parallelism. */
    public Variable embed(Tensor ids) {
        if (embedding == null) {
            throw new IllegalStateException("pipeline stage " + pipelineRank + " of " + partition.stages()
                    + " holds no embedding");
        }
        if (tp.splitsSequence() && ids.size(0) % tp.size() != 0) {
            throw new IllegalArgumentException("sequence parallelism over " + tp.size() + " ranks needs a token count "
                    + "divisible by " + tp.size() + ", got " + ids.size(0));
        }
        Variable x = embedding.forward(ids);
        return spec.embedGradScale() != 1.0 ? F.scaleGrad(x, spec.embedGradScale()) : x;
    }

    /**
     * Chunk {@code chunk}'s decoder layers on hidden states {@code x}; positions and cuSeqlens describe the whole
     * micro-batch. The first {@code int(layers_in_chunk * checkpoint)} layers of the chunk recompute their
     * activations in backward (InternLM).
     */
    public Variable blocks(int chunk, Variable x, Tensor positions, Tensor cuSeqlens) {
        List<DecoderLayer> blocks = chunks.get(chunk);
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

    /** The last virtual stage's output: final norm and head on hidden states, in fp32 (F64 stays F64). */
    public Variable logits(Variable hidden) {
        if (head == null) {
            throw new IllegalStateException("pipeline stage " + pipelineRank + " of " + partition.stages()
                    + " holds no head");
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
