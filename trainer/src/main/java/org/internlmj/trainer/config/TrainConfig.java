package org.internlmj.trainer.config;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A whole training config, with InternLM's sections and keys, validated and typed.
 *
 * <pre>{@code
 * TrainConfig cfg = TrainConfig.load(Path.of("configs/demo.yaml"), List.of("data.total_steps=10"));
 * int hidden = cfg.model().hiddenSize();
 * }</pre>
 *
 * Upper-case top-level keys ({@code SEQ_LEN}, {@code HIDDEN_SIZE}, ...) are free constants that
 * {@code ${...}} references use; any other unknown key is an error that names it and suggests the
 * nearest known key.
 */
public record TrainConfig(String jobName, ModelConfig model, DataConfig data, CkptConfig ckpt,
                          OptimConfigs.GradScaler gradScaler, OptimConfigs.HybridZero hybridZero, OptimConfigs.Loss loss,
                          OptimConfigs.Adam adam, OptimConfigs.LrScheduler lrScheduler,
                          OptimConfigs.Beta2Scheduler beta2Scheduler, ParallelConfig parallel, Monitor monitor,
                          EngineConfig engine, boolean cudnnDeterministic, boolean cudnnBenchmark, ConfigTree tree) {

    private static final Pattern CONSTANT = Pattern.compile("[A-Z][A-Z0-9_]*");

    /** The {@code monitor} section: InternLM's Feishu alerts. Accepted; this engine sends no alerts. */
    public record Monitor(boolean enableFeishuAlert, String feishuAlertAddress, String lightMonitorAddress) {
        static Monitor from(Section s) {
            Section alert = s.section("alert");
            Monitor m = new Monitor(alert.getBool("enable_feishu_alert", false),
                    alert.getString("feishu_alert_address", null), alert.getString("light_monitor_address", null));
            alert.accept("alert_file_path");
            alert.finish();
            Section tb = s.section("tensorboard");
            tb.accept("queue_max_length");
            tb.finish();
            s.finish();
            return m;
        }
    }

    public static TrainConfig load(Path file, List<String> overrides) {
        return from(ConfigTree.load(file, overrides));
    }

    public static TrainConfig parse(String yaml, List<String> overrides) {
        return from(ConfigTree.parse(yaml, "config", overrides));
    }

    /** Binds and validates a resolved tree. */
    public static TrainConfig from(ConfigTree tree) {
        Section root = new Section("", tree.node());
        var it = ((ObjectNode) tree.node()).fieldNames();
        while (it.hasNext()) {
            String k = it.next();
            if (CONSTANT.matcher(k).matches() && !k.equals("JOB_NAME")) {
                root.accept(k);
            }
        }
        String jobName = root.getString("JOB_NAME", "internlmj");
        ModelConfig model = ModelConfig.from(root.section("model"));
        DataConfig data = DataConfig.from(root.section("data"));
        OptimConfigs.Adam adam = OptimConfigs.Adam.from(root.section("adam"));
        TrainConfig c = new TrainConfig(jobName, model, data, CkptConfig.from(root.section("ckpt")),
                OptimConfigs.GradScaler.from(root.section("grad_scaler")),
                OptimConfigs.HybridZero.from(root.section("hybrid_zero_optimizer")),
                OptimConfigs.Loss.from(root.section("loss")), adam,
                OptimConfigs.LrScheduler.from(root.section("lr_scheduler"), data.totalSteps()),
                OptimConfigs.Beta2Scheduler.from(root.section("beta2_scheduler"), adam),
                ParallelConfig.from(root.section("parallel")), Monitor.from(root.section("monitor")),
                EngineConfig.from(root.section("internlmj"), jobName), root.getBool("cudnn_deterministic", false),
                root.getBool("cudnn_benchmark", false), tree);
        root.accept("model_type", "enable_tb");
        root.finish();
        c.checkConsistency();
        return c;
    }

    private void checkConsistency() {
        int tp = parallel.tensor();
        if (model.numAttentionHeads() % tp != 0) {
            throw new ConfigException("model.num_attention_heads = " + model.numAttentionHeads()
                    + " is not divisible by parallel.tensor = " + tp + ": each tensor rank needs whole heads");
        }
        if (model.mlpHidden() % tp != 0) {
            throw new ConfigException("the MLP hidden size " + model.mlpHidden() + " (from model.hidden_size and mlp_ratio) "
                    + "is not divisible by parallel.tensor = " + tp);
        }
        if (model.hiddenSize() % tp != 0) {
            throw new ConfigException("model.hidden_size = " + model.hiddenSize() + " is not divisible by parallel.tensor = " + tp);
        }
        if (model.vocabSize() % tp != 0) {
            throw new ConfigException("model.vocab_size = " + model.vocabSize() + " is not divisible by parallel.tensor = " + tp
                    + ": the output head (and the embedding with embed_split_hidden = False) splits the vocabulary; "
                    + "pad vocab_size up to a multiple of " + tp);
        }
        if (parallel.sequenceParallel() && (long) data.microBsz() * data.seqLen() % tp != 0) {
            throw new ConfigException("parallel.sequence_parallel = True splits each micro-batch's data.micro_bsz x "
                    + "data.seq_len = " + (long) data.microBsz() * data.seqLen() + " tokens over parallel.tensor = " + tp
                    + " ranks: not divisible");
        }
        int stages = parallel.pipeline() * model.numChunks();
        if (model.numLayers() % model.numChunks() != 0) {
            throw new ConfigException("model.num_layers = " + model.numLayers() + " is not divisible by model.num_chunks = "
                    + model.numChunks() + ": InternLM cuts the layers into num_chunks equal blocks (then splits each block "
                    + "over the pipeline stages, leftover layers to the later stages)");
        }
        if (model.numLayers() < stages) {
            throw new ConfigException("model.num_layers = " + model.numLayers() + " is fewer than parallel.pipeline.size x "
                    + "model.num_chunks = " + parallel.pipeline() + " x " + model.numChunks() + " = " + stages
                    + ": every pipeline stage needs at least one layer in each chunk");
        }
        if (model.numChunks() > 1) {
            if (parallel.pipeline() == 1) {
                throw new ConfigException("model.num_chunks = " + model.numChunks()
                        + " needs pipeline parallelism (parallel.pipeline.size > 1)");
            }
            if (data.microNum() % parallel.pipeline() != 0) {
                throw new ConfigException("data.micro_num = " + data.microNum() + " must be a multiple of parallel.pipeline.size = "
                        + parallel.pipeline() + " for the interleaved schedule (model.num_chunks = " + model.numChunks()
                        + "): each round of the schedule feeds pipeline.size micro-batches through every chunk");
            }
            int[] rampup = data.rampupBatchSize();
            if (rampup != null && (rampup[0] % parallel.pipeline() != 0 || rampup[1] % parallel.pipeline() != 0)) {
                throw new ConfigException("data.rampup_batch_size = \"" + rampup[0] + " " + rampup[1] + " " + rampup[2]
                        + "\": with the interleaved schedule (model.num_chunks = " + model.numChunks() + ") every step's "
                        + "micro-batch count must be a multiple of parallel.pipeline.size = " + parallel.pipeline()
                        + ": make the start and the increment multiples of it");
            }
            if (!parallel.interleavedOverlap()) {
                throw new ConfigException("model.num_chunks > 1 requires parallel.pipeline.interleaved_overlap = True "
                        + "(InternLM: only the interleaved scheduler with overlap guarantees loss accuracy)");
            }
        }
        if (parallel.sequenceParallel() && !model.useFlashAttn()) {
            throw new ConfigException("parallel.sequence_parallel = True requires model.use_flash_attn = True (packed data)");
        }
        if (lrScheduler.initSteps() + (int) (lrScheduler.totalSteps() * lrScheduler.warmupRatio()) > lrScheduler.totalSteps()) {
            throw new ConfigException("lr_scheduler: init_steps + warmup steps exceed total_steps = " + lrScheduler.totalSteps());
        }
    }
}
