package org.internlmj.nn;

import org.internlmj.tensor.DType;

/**
 * The shape and numerics of an InternLM transformer (the {@code model} config section, resolved).
 *
 * @param mlpHidden SwiGLU hidden size (InternLM: 256 * ceil(int(hidden * mlp_ratio) / 256))
 * @param checkpointFraction share of layers whose activations are recomputed in backward
 * @param embedGradScale InternLM's {@code embed_grad_scale} (GLM-130B's trick; 1 = off)
 * @param rotaryBase RoPE base (InternLM: 10000)
 */
public record ModelSpec(int vocabSize, int hiddenSize, int numLayers, int numHeads, int mlpHidden, NormType normType,
                        double normEps, DType dtype, double embedGradScale, double checkpointFraction,
                        double rotaryBase) {

    /** RMSNorm (InternLM's default) or LayerNorm. */
    public enum NormType { RMSNORM, LAYERNORM }

    public ModelSpec {
        if (vocabSize < 1 || hiddenSize < 1 || numLayers < 1 || numHeads < 1 || mlpHidden < 1) {
            throw new IllegalArgumentException("model sizes must be positive: vocab " + vocabSize + ", hidden " + hiddenSize
                    + ", layers " + numLayers + ", heads " + numHeads + ", mlp " + mlpHidden);
        }
        if (hiddenSize % numHeads != 0 || (hiddenSize / numHeads) % 2 != 0) {
            throw new IllegalArgumentException("hidden size " + hiddenSize + " must split into " + numHeads
                    + " heads of an even dimension");
        }
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** Layers recomputed in backward: InternLM's {@code int(num_layers * checkpoint)} (first layers first). */
    public int checkpointedLayers() {
        return checkpointedLayers(numLayers);
    }

    /** Layers recomputed in a pipeline chunk of {@code layersInChunk} layers: {@code int(layers_in_chunk * checkpoint)}. */
    public int checkpointedLayers(int layersInChunk) {
        return (int) (layersInChunk * checkpointFraction);
    }
}
