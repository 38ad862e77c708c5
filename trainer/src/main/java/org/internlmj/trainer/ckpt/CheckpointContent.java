package org.internlmj.trainer.ckpt;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.dist.HybridZeroOptimizer;
import org.internlmj.nn.Module;
import org.internlmj.nn.Parameter;
import org.internlmj.tensor.Tensor;

/**
 * Everything a checkpoint holds, taken at a step boundary. With {@code copy} the tensors are private
 * copies, so an asynchronous writer can save them while training goes on and changes the originals.
 *
 * @param model weights by parameter name, in the model dtype
 * @param optimizer {@code master.<name>}, {@code exp_avg.<name>}, {@code exp_avg_sq.<name>} in fp32 (empty
 *                  for a weights-only checkpoint)
 */
public record CheckpointContent(TrainState state, Map<String, Tensor> model, Map<String, Tensor> optimizer,
                                long optimizerSteps, JsonNode config, String tokenizer) {

    public static CheckpointContent capture(TrainState state, Module model, HybridZeroOptimizer optimizer, JsonNode config,
                                            String tokenizer, boolean copy) {
        Map<String, Tensor> weights = new LinkedHashMap<>();
        Map<String, Tensor> opt = new LinkedHashMap<>();
        List<Parameter> params = model.parameters();
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            weights.put(p.name(), copy ? p.data().copy() : p.data());
            if (optimizer != null) {
                // an fp32 model's master weights are its parameters: stored once, under model
                if (optimizer.master(i) != p.data()) {
                    opt.put("master." + p.name(), copy ? optimizer.master(i).copy() : optimizer.master(i));
                }
                opt.put("exp_avg." + p.name(), copy ? optimizer.expAvg(i).copy() : optimizer.expAvg(i));
                opt.put("exp_avg_sq." + p.name(), copy ? optimizer.expAvgSq(i).copy() : optimizer.expAvgSq(i));
            }
        }
        return new CheckpointContent(state, weights, opt, optimizer == null ? 0 : optimizer.steps(), config, tokenizer);
    }
}
