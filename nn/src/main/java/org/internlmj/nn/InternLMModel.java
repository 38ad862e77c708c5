package org.internlmj.nn;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.autograd.Checkpoint;
import org.internlmj.autograd.F;
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
 * }</pre>
 *
 * Parameter names are InternLM's: {@code embedding.weight}, {@code blocks.{i}.mixer.Wqkv.weight},
 * {@code blocks.{i}.mlp.w1.weight}, {@code norm.weight}, {@code head.weight}, ...
 *
 * <p>Under pipeline parallelism a rank builds only its part ({@link #InternLMModel(ModelSpec, Device,
 * PipelinePartition, int)}): the blocks of its chunks, the embedding on the first virtual stage, the final
 * norm and head on the last. Blocks keep their global index in their names, so a stage's parameters are
 * initialised and checkpointed exactly as in the whole model.
 */
public final class InternLMModel extends Module {
    private final ModelSpec spec;
    private final PipelinePartition partition;
    private final int pipelineRank;
    private final Embedding embedding;
    /** This rank's blocks per chunk. */
    private final List<List<DecoderLayer>> chunks = new ArrayList<>();
    private final Norm norm;
    private final Linear head;

    /** The whole model. */
    public InternLMModel(ModelSpec spec, Device device) {
        this(spec, device, PipelinePartition.whole(spec.numLayers()), 0);
    }

    /** The chunks pipeline rank {@code pipelineRank} holds under {@code partition}. */
    public InternLMModel(ModelSpec spec, Device device, PipelinePartition partition, int pipelineRank) {
        if (partition.numLayers() != spec.numLayers()) {
            throw new IllegalArgumentException("the partition splits " + partition.numLayers() + " layers, the model has "
                    + spec.numLayers());
        }
        this.spec = spec;
        this.partition = partition;
        this.pipelineRank = pipelineRank;
        DType dt = spec.dtype();
        boolean first = partition.holdsEmbedding(pipelineRank, 0);
        boolean last = partition.holdsHead(pipelineRank, partition.chunks() - 1);
        this.embedding = first ? child("embedding", new Embedding(spec.vocabSize(), spec.hiddenSize(), dt, device)) : null;
        BlockList list = child("blocks", new BlockList());
        for (int[] layers : partition.chunksOf(pipelineRank)) {
            List<DecoderLayer> chunk = new ArrayList<>();
            for (int i = layers[0]; i < layers[1]; i++) {
                chunk.add(list.add(i, new DecoderLayer(spec, i, dt, device)));
            }
            chunks.add(chunk);
        }
        this.norm = last ? child("norm", new Norm(spec.normType(), spec.hiddenSize(), spec.normEps(), dt, device)) : null;
        this.head = last ? child("head", new Linear(spec.hiddenSize(), spec.vocabSize(), false,
                new Init.Normal(Init.EMBED_STD), dt, device)) : null;
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
     * Logits {@code [T, vocab]} in fp32 (or wider) for one packed micro-batch: ids and positions {@code [T]} (I32),
     * cuSeqlens {@code [B+1]} (I32). The first {@link ModelSpec#checkpointedLayers()} blocks recompute
     * their activations in backward. Only for the whole model (one pipeline stage).
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
     * {@code hidden} ({@code [T, hidden]}, the previous virtual stage's output); to logits when it holds the
     * head, else to its last block's output. The first {@code int(layers_in_chunk * checkpoint)} blocks of
     * the chunk recompute their activations in backward (InternLM).
     */
    public Variable forwardChunk(int chunk, Tensor ids, Variable hidden, Tensor positions, Tensor cuSeqlens) {
        Variable x;
        if (embedsInput(chunk)) {
            x = embedding.forward(ids);
            if (spec.embedGradScale() != 1.0) {
                x = F.scaleGrad(x, spec.embedGradScale());
            }
        } else if (hidden == null) {
            throw new IllegalArgumentException("chunk " + chunk + " of pipeline stage " + pipelineRank
                    + " starts from the previous stage's hidden states, got none");
        } else {
            x = hidden;
        }
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
        if (!producesLogits(chunk)) {
            return x;
        }
        Variable logits = head.forward(norm.forward(x), spec.embedGradScale());
        // InternLM casts the last stage's output to fp32; wider (F64, for reference checks) stays as is
        return logits.dtype() == DType.BF16 || logits.dtype() == DType.F16 ? F.cast(logits, DType.F32) : logits;
    }
}
