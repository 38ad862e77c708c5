package org.internlmj.trainer.train;

import org.internlmj.nn.ModelSpec;
import org.internlmj.trainer.config.ModelConfig;

/** The model spec a config describes. */
public final class ModelFactory {
    /** InternLM's RoPE base. */
    public static final double ROTARY_BASE = 10000.0;

    private ModelFactory() {
    }

    public static ModelSpec spec(ModelConfig m) {
        return new ModelSpec(m.vocabSize(), m.hiddenSize(), m.numLayers(), m.numAttentionHeads(), m.mlpHidden(),
                m.normType() == ModelConfig.NormType.RMSNORM ? ModelSpec.NormType.RMSNORM : ModelSpec.NormType.LAYERNORM,
                m.layerNormEpsilon(), m.dtype(), m.embedGradScale(), m.checkpoint(), ROTARY_BASE, m.embedSplitHidden(),
                m.parallelOutput());
    }
}
