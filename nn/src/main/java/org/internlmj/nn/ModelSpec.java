package org.internlmj.nn;

import org.internlmj.tensor.DType;

/**
 * The shape and numerics of an InternLM transformer (the {@code model} config section, resolved).
 *
 * @param mlpHidden SwiGLU hidden size (InternLM: 256 * ceil(int(hidden * mlp_ratio) / 256))
 * @param checkpointFraction share of layers whose activations are recomputed in backward
 * @param embedGradScale InternLM's {@code embed_grad_scale} (GLM-130B's trick; 1 = off)
 * @param rotaryBase RoPE base (InternLM: 10000)
 * @param embedSplitHidden under tensor parallelism, split the embedding along the hidden dimension (InternLM's
 *                         {@code embed_split_hidden}, its default) rather than along the vocabulary
 * @param parallelOutput under tensor parallelism, leave the logits split along the vocabulary for the
 *                       vocabulary-parallel loss (InternLM's {@code parallel_output}, its default) rather than
 *                       gathering whole rows
 */
public record ModelSpec(int vocabSize, int hiddenSize, int numLayers, int numHeads, int mlpHidden, NormType normType,
                        double normEps, DType dtype, double embedGradScale, double checkpointFraction,
                        double rotaryBase, boolean embedSplitHidden, boolean parallelOutput) {

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

    /** With InternLM's defaults for the tensor-parallel layout (hidden-split embedding, parallel output). */
    public ModelSpec(int vocabSize, int hiddenSize, int numLayers, int numHeads, int mlpHidden, NormType normType,
                     double normEps, DType dtype, double embedGradScale, double checkpointFraction, double rotaryBase) {
        this(vocabSize, hiddenSize, numLayers, numHeads, mlpHidden, normType, normEps, dtype, embedGradScale,
                checkpointFraction, rotaryBase, true, true);
    }

    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** Layers recomputed in backward: InternLM's {@code int(num_layers * checkpoint)} (first layers first). */
    public int checkpointedLayers() {
        return checkpointedLayers(numLayers);
    }

    /** Of a chunk of {@code layers} consecutive layers, how many (its first) recompute their activations. */
    public int checkpointedLayers(int layers) {
        return (int) (layers * checkpointFraction);
    }

    /**
     * Fails with a message naming the size unless heads, hidden size, MLP hidden size and vocabulary all
     * split evenly over {@code tensor} ranks.
     */
    public void checkTensorSplit(int tensor) {
        StringBuilder bad = new StringBuilder();
        int[] sizes = {numHeads, hiddenSize, mlpHidden, vocabSize};
        String[] names = {"attention heads", "hidden size", "MLP hidden size", "vocabulary size"};
        for (int i = 0; i < sizes.length; i++) {
            if (sizes[i] % tensor != 0) {
                bad.append(bad.isEmpty() ? "" : ", ").append(names[i]).append(' ').append(sizes[i]);
            }
        }
        if (!bad.isEmpty()) {
            throw new IllegalArgumentException("tensor parallelism over " + tensor + " ranks needs sizes divisible by "
                    + tensor + "; not divisible: " + bad);
        }
    }
}
