package org.internlmj.trainer.config;

import org.internlmj.tensor.DType;

/**
 * The {@code model} section: InternLM's transformer shape and numerics.
 *
 * @param checkpoint share of each chunk's layers whose activations are recomputed (True = 1, False = 0)
 * @param tf32 {@code dtype: torch.tf32}: fp32 weights with TF32 matmuls on GPUs
 */
public record ModelConfig(double checkpoint, int numAttentionHeads, boolean embedSplitHidden, int vocabSize,
                          double embedGradScale, boolean parallelOutput, int hiddenSize, int numLayers,
                          double mlpRatio, boolean applyPostLayerNorm, DType dtype, boolean tf32, NormType normType,
                          double layerNormEpsilon, boolean useFlashAttn, int numChunks) {

    /** RMSNorm (InternLM's default) or LayerNorm. */
    public enum NormType { RMSNORM, LAYERNORM }

    /** InternLM rounds the SwiGLU hidden size up to a multiple of 256. */
    public static final int MLP_MULTIPLE_OF = 256;

    /** The SwiGLU hidden size: {@code 256 * ceil(int(hidden * mlp_ratio) / 256)} (7B: 11008). */
    public int mlpHidden() {
        int raw = (int) (hiddenSize * mlpRatio);
        return MLP_MULTIPLE_OF * ((raw + MLP_MULTIPLE_OF - 1) / MLP_MULTIPLE_OF);
    }

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Number of layers recomputed in a chunk of {@code layersInChunk} layers (InternLM: int(n * checkpoint)). */
    public int checkpointedLayers(int layersInChunk) {
        return (int) (layersInChunk * checkpoint);
    }

    /** Parameter count: embedding, per-layer attention (with biases) + MLP + 2 norms, final norm, head. */
    public long parameterCount() {
        long h = hiddenSize;
        long perLayer = 3 * h * h + 3 * h + h * h + h + 3 * h * mlpHidden() + 2 * h * (normType == NormType.LAYERNORM ? 2 : 1);
        long finalNorm = h * (normType == NormType.LAYERNORM ? 2 : 1);
        return 2L * vocabSize * h + numLayers * perLayer + finalNorm;
    }

    static ModelConfig from(Section s) {
        JsonCheckpoint ck = JsonCheckpoint.parse(s);
        int heads = s.requireInt("num_attention_heads");
        s.range("num_attention_heads", heads, 1, Integer.MAX_VALUE);
        int hidden = s.requireInt("hidden_size");
        s.range("hidden_size", hidden, 1, Integer.MAX_VALUE);
        if (hidden % heads != 0) {
            throw new ConfigException("model.hidden_size = " + hidden + " is not divisible by model.num_attention_heads = "
                    + heads + ": each head needs hidden_size / num_attention_heads dimensions");
        }
        if ((hidden / heads) % 2 != 0) {
            throw new ConfigException("model.hidden_size / model.num_attention_heads = " + hidden / heads
                    + " must be even for rotary position embedding (rotate-half pairs)");
        }
        int vocab = s.requireInt("vocab_size");
        s.range("vocab_size", vocab, 1, Integer.MAX_VALUE);
        int layers = s.requireInt("num_layers");
        s.range("num_layers", layers, 1, Integer.MAX_VALUE);
        double ratio = s.getDouble("mlp_ratio", 4.0);
        s.range("mlp_ratio", ratio, 1e-6, 64);
        String dtypeName = s.getString("dtype", "torch.float16");
        DType dtype;
        try {
            dtype = DType.parse(dtypeName);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("model.dtype = \"" + dtypeName + "\": expected one of torch.float16, torch.half, "
                    + "torch.bfloat16, torch.float32, torch.tf32");
        }
        if (!dtype.isFloating() || dtype == DType.F64) {
            throw new ConfigException("model.dtype = \"" + dtypeName + "\": expected a 16- or 32-bit float type");
        }
        boolean tf32 = dtypeName.trim().toLowerCase(java.util.Locale.ROOT).endsWith("tf32");
        String norm = s.getString("norm_type", "rmsnorm").toLowerCase(java.util.Locale.ROOT);
        NormType normType = switch (norm) {
            case "rmsnorm" -> NormType.RMSNORM;
            case "layernorm", "layer_norm" -> NormType.LAYERNORM;
            default -> throw new ConfigException("model.norm_type = \"" + norm + "\": expected \"rmsnorm\" or \"layernorm\"");
        };
        double eps = s.getDouble("layer_norm_epsilon", 1e-5);
        s.range("layer_norm_epsilon", eps, 0, 1);
        double gradScale = s.getDouble("embed_grad_scale", 1.0);
        s.range("embed_grad_scale", gradScale, 0, 1);
        int chunks = s.getInt("num_chunks", 1);
        s.range("num_chunks", chunks, 1, layers);
        boolean postNorm = s.getBool("apply_post_layer_norm", false);
        // InternLM's training model is pre-norm only; it accepts the key and ignores it, and so do we.
        s.accept("model_type");
        String modelType = s.getString("model_type", "INTERNLM");
        if (!modelType.equalsIgnoreCase("INTERNLM")) {
            throw new ConfigException("model.model_type = \"" + modelType + "\": this engine builds InternLM (INTERNLM) models");
        }
        ModelConfig m = new ModelConfig(ck.fraction(), heads, s.getBool("embed_split_hidden", true), vocab, gradScale,
                s.getBool("parallel_output", true), hidden, layers, ratio, postNorm, dtype, tf32, normType, eps,
                s.getBool("use_flash_attn", true), chunks);
        s.finish();
        return m;
    }

    /** model.checkpoint: True / False / a fraction in [0, 1]. */
    private record JsonCheckpoint(double fraction) {
        static JsonCheckpoint parse(Section s) {
            var v = s.raw("checkpoint");
            if (v.isNull()) {
                return new JsonCheckpoint(0);
            }
            if (v.isBoolean()) {
                return new JsonCheckpoint(v.booleanValue() ? 1 : 0);
            }
            if (v.isNumber()) {
                s.range("checkpoint", v.doubleValue(), 0, 1);
                return new JsonCheckpoint(v.doubleValue());
            }
            throw new ConfigException("model.checkpoint: expected True, False or a fraction in [0, 1], got "
                    + Section.describe(v));
        }
    }
}
