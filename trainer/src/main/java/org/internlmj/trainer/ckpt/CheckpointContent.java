package org.internlmj.trainer.ckpt;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.dist.HybridZeroOptimizer;
import org.internlmj.nn.Module;
import org.internlmj.nn.Parameter;
import org.internlmj.nn.TensorSplit;
import org.internlmj.tensor.Tensor;

/**
 * Everything a checkpoint holds, taken at a step boundary. With {@code copy} the tensors are private
 * copies, so an asynchronous writer can save them while training goes on and changes the originals.
 *
 * @param model weights by parameter name, in the model dtype
 * @param optimizer {@code master.<name>}, {@code exp_avg.<name>}, {@code exp_avg_sq.<name>} in fp32 (empty
 *                  for a weights-only checkpoint)
 * @param tensorSplits for the weights that are this tensor rank's part of a larger tensor, how they were cut
 *                     ({@link TensorSplit#describe()}), so the full tensors can be put back together
 */
public record CheckpointContent(TrainState state, Map<String, Tensor> model, Map<String, Tensor> optimizer,
                                long optimizerSteps, JsonNode config, String tokenizer, Map<String, String> tensorSplits) {

    /** Content with no tensor-parallel splits (one tensor rank). */
    public CheckpointContent(TrainState state, Map<String, Tensor> model, Map<String, Tensor> optimizer,
                             long optimizerSteps, JsonNode config, String tokenizer) {
        this(state, model, optimizer, optimizerSteps, config, tokenizer, Map.of());
    }

    public static CheckpointContent capture(TrainState state, Module model, HybridZeroOptimizer optimizer, JsonNode config,
                                            String tokenizer, boolean copy) {
        Map<String, Tensor> weights = new LinkedHashMap<>();
        Map<String, String> splits = new LinkedHashMap<>();
        for (Parameter p : model.parameters()) {
            weights.put(p.name(), copy ? p.data().copy() : p.data());
            if (p.split() != null) {
                splits.put(p.name(), p.split().describe());
            }
        }
        Map<String, Tensor> opt = new LinkedHashMap<>();
        if (optimizer != null) {
            List<Parameter> params = model.parameters();
            for (HybridZeroOptimizer.Shard s : optimizer.shards()) {
                String key = key(s, params.get(s.param()).numel());
                // an fp32 model's master weights are its parameters: stored once, in the model file
                if (s.master() != params.get(s.param()).data()) {
                    opt.put("master." + key, copy ? s.master().copy() : s.master());
                }
                opt.put("exp_avg." + key, copy ? s.expAvg().copy() : s.expAvg());
                opt.put("exp_avg_sq." + key, copy ? s.expAvgSq().copy() : s.expAvgSq());
            }
        }
        return new CheckpointContent(state, weights, opt, optimizer == null ? 0 : optimizer.steps(), config, tokenizer,
                splits);
    }

    /** {@code name} for a whole tensor, {@code name@start-end} for a slice of its flattened elements. */
    static String key(HybridZeroOptimizer.Shard s, int numel) {
        return s.start() == 0 && s.end() == numel ? s.name() : s.name() + "@" + s.start() + "-" + s.end();
    }
}
