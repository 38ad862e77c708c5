package org.internlmj.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.internlmj.trainer.config.ConfigTree;
import org.internlmj.trainer.config.TrainConfig;

/**
 * A validated training config, with the sections and keys of InternLM's Python configs ({@code model},
 * {@code data}, {@code adam}, {@code lr_scheduler}, {@code ckpt}, ...; see {@code configs/demo.yaml}) and
 * this engine's {@code internlmj} section. Made from a YAML file, a YAML string or in code with a
 * {@link Builder}; immutable ({@link #with} returns a changed copy). Every way of making one checks the
 * whole config: an unknown or misspelt key, a wrong type or inconsistent settings throw an
 * {@link IllegalArgumentException} that names the key.
 *
 * <pre>{@code
 * Config demo = Config.fromFile(Path.of("configs/demo.yaml")).with("data.total_steps", 50);
 * Config tiny = Config.builder()
 *         .hiddenSize(64).numLayers(2).numAttentionHeads(4).vocabSize(259).dtype("float32")
 *         .seqLen(64).microBsz(2).totalSteps(20).lr(1e-3)
 *         .trainFolder(Path.of("data/train"))
 *         .build();
 * System.out.println(tiny.get("model.hidden_size")); // 64
 * }</pre>
 */
public final class Config {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER).enable(YAMLGenerator.Feature.MINIMIZE_QUOTES));

    private final TrainConfig typed;
    private final String source;

    private Config(TrainConfig typed, String source) {
        this.typed = typed;
        this.source = source;
    }

    /**
     * Reads a YAML config file. Relative paths inside it are resolved against the trainer's base
     * directory ({@link Trainer.Builder#baseDirectory}), not against the file's folder, as with
     * {@code internlmj train}.
     */
    public static Config fromFile(Path file) {
        return new Config(TrainConfig.load(file, List.of()), file.toString());
    }

    /** Parses a YAML config. */
    public static Config fromYaml(String yaml) {
        return new Config(TrainConfig.parse(yaml, List.of()), "YAML string");
    }

    /**
     * A builder that starts empty: the model's shape ({@code hidden_size}, {@code num_layers},
     * {@code num_attention_heads}, {@code vocab_size}) must be set; every other key not set has InternLM's
     * default (for example {@code model.dtype} {@code torch.float16}, {@code data.seq_len} 2048), except
     * that no checkpoints are saved until {@link Builder#saveCkptFolder} is set.
     */
    public static Builder builder() {
        ObjectNode root = JSON.createObjectNode();
        root.putObject("ckpt").put("enable_save_ckpt", false);
        return new Builder(root);
    }

    /** A builder that starts from this config's keys. */
    public Builder toBuilder() {
        return new Builder(typed.tree().raw().deepCopy());
    }

    /**
     * A copy with {@code key} (dotted: {@code "data.total_steps"}) set to {@code value}: a number, boolean,
     * string, {@link Path}, list or map, or null to remove the key.
     *
     * @throws IllegalArgumentException if the changed config is not valid
     */
    public Config with(String key, Object value) {
        return toBuilder().set(key, value).build();
    }

    /**
     * The value of a dotted key after {@code ${...}} references are resolved: a {@link Number},
     * {@link Boolean}, {@link String}, {@link List} or {@link Map}; null if the key is not set (its
     * default then applies).
     */
    public Object get(String key) {
        JsonNode n = typed.tree().resolved();
        for (String part : key.split("\\.")) {
            n = n.path(part);
        }
        if (n.isMissingNode() || n.isNull()) {
            return null;
        }
        try {
            return JSON.treeToValue(n, Object.class);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot convert " + key + ": " + e.getMessage(), e);
        }
    }

    /** The config as YAML (the keys as written, references unresolved), which {@link #fromYaml} reads back. */
    public String toYaml() {
        try {
            return YAML.writeValueAsString(typed.tree().raw());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The engine's typed view, for the classes of this package. */
    TrainConfig internal() {
        return typed;
    }

    @Override
    public String toString() {
        return "Config[" + typed.jobName() + " from " + source + "]";
    }

    /**
     * Sets keys of a {@link Config} in code. Each typed method sets the key its Javadoc names, with the
     * meaning that key has in a YAML config; {@link #set} reaches every other key.
     *
     * <pre>{@code
     * Config c = Config.builder().hiddenSize(128).numLayers(2).numAttentionHeads(4).vocabSize(259)
     *         .dtype("float32").seqLen(128).trainFolder(Path.of("data/train")).totalSteps(100)
     *         .set("lr_scheduler.warmup_ratio", 0.1)
     *         .build();
     * }</pre>
     */
    public static final class Builder {
        private final ObjectNode root;

        private Builder(ObjectNode root) {
            this.root = root;
        }

        /**
         * Sets a dotted key ({@code "adam.lr"}, {@code "JOB_NAME"}) to a number, boolean, string,
         * {@link Path}, list or map; null removes it. Strings may hold {@code ${...}} references.
         */
        public Builder set(String key, Object value) {
            Objects.requireNonNull(key, "key");
            String[] parts = key.split("\\.");
            ObjectNode section = root;
            for (int i = 0; i < parts.length - 1; i++) {
                JsonNode next = section.get(parts[i]);
                if (next == null || next.isNull()) {
                    next = section.putObject(parts[i]);
                } else if (!next.isObject()) {
                    throw new IllegalArgumentException("cannot set " + key + ": "
                            + String.join(".", List.of(parts).subList(0, i + 1)) + " is a value, not a section");
                }
                section = (ObjectNode) next;
            }
            String last = parts[parts.length - 1];
            if (value == null) {
                section.remove(last);
            } else {
                section.set(last, JSON.valueToTree(plain(value)));
            }
            return this;
        }

        /** Paths as strings, recursively, so that Jackson writes them as the config expects. */
        private static Object plain(Object value) {
            if (value instanceof Path p) {
                return p.toString();
            }
            if (value instanceof List<?> list) {
                List<Object> out = new ArrayList<>();
                for (Object o : list) {
                    out.add(plain(o));
                }
                return out;
            }
            if (value instanceof Map<?, ?> map) {
                Map<String, Object> out = new java.util.LinkedHashMap<>();
                map.forEach((k, v) -> out.put(String.valueOf(k), plain(v)));
                return out;
            }
            return value;
        }

        /** {@code JOB_NAME}: names the run (its default run folder is {@code runs/<JOB_NAME>}). */
        public Builder jobName(String name) {
            return set("JOB_NAME", name);
        }

        /** {@code model.hidden_size}. */
        public Builder hiddenSize(int hidden) {
            return set("model.hidden_size", hidden);
        }

        /** {@code model.num_layers}. */
        public Builder numLayers(int layers) {
            return set("model.num_layers", layers);
        }

        /** {@code model.num_attention_heads}. */
        public Builder numAttentionHeads(int heads) {
            return set("model.num_attention_heads", heads);
        }

        /** {@code model.vocab_size}: at least the tokenizer's vocabulary (259 for the byte-level one). */
        public Builder vocabSize(int vocab) {
            return set("model.vocab_size", vocab);
        }

        /** {@code model.mlp_ratio}: the SwiGLU hidden size over the model's (InternLM rounds it to 256s). */
        public Builder mlpRatio(double ratio) {
            return set("model.mlp_ratio", ratio);
        }

        /**
         * {@code model.dtype}: {@code "float32"}, {@code "bfloat16"} or {@code "float16"} (the
         * {@code torch.} prefix of InternLM's configs may be given or left out).
         */
        public Builder dtype(String dtype) {
            return set("model.dtype", dtype.startsWith("torch.") ? dtype : "torch." + dtype);
        }

        /** {@code model.norm_type}: {@code "rmsnorm"} or {@code "layernorm"}. */
        public Builder normType(String norm) {
            return set("model.norm_type", norm);
        }

        /** {@code model.checkpoint}: the share of layers whose activations are recomputed in backward (0 to 1). */
        public Builder activationCheckpoint(double fraction) {
            return set("model.checkpoint", fraction);
        }

        /** {@code data.seq_len}: tokens per packed sample. */
        public Builder seqLen(int tokens) {
            return set("data.seq_len", tokens);
        }

        /** {@code data.micro_bsz}: samples packed into one micro-batch. */
        public Builder microBsz(int samples) {
            return set("data.micro_bsz", samples);
        }

        /** {@code data.micro_num}: micro-batches accumulated per optimizer step. */
        public Builder microNum(int microBatches) {
            return set("data.micro_num", microBatches);
        }

        /** {@code data.total_steps}: optimizer steps of the run (the LR schedule spans them). */
        public Builder totalSteps(int steps) {
            return set("data.total_steps", steps);
        }

        /** {@code data.train_folder}: tokenized training data ({@link TrainingData#prepare} writes it). */
        public Builder trainFolder(Path folder) {
            return set("data.train_folder", folder);
        }

        /** {@code data.valid_folder} and {@code data.valid_every}: validate every {@code every} steps on this data. */
        public Builder validation(Path folder, int every) {
            return set("data.valid_folder", folder).set("data.valid_every", every);
        }

        /** {@link #trainFolder} and, when the data has a validation part, {@link #validation} every {@code every} steps. */
        public Builder data(TrainingData data, int validEvery) {
            trainFolder(data.trainFolder());
            return data.validFolder() == null ? set("data.valid_folder", null).set("data.valid_every", 0)
                    : validation(data.validFolder(), validEvery);
        }

        /** {@code adam.lr}: the peak learning rate. */
        public Builder lr(double lr) {
            return set("adam.lr", lr);
        }

        /** {@code adam.weight_decay}. */
        public Builder weightDecay(double decay) {
            return set("adam.weight_decay", decay);
        }

        /** {@code lr_scheduler.warmup_ratio}: share of the steps with a linearly rising LR. */
        public Builder warmupRatio(double ratio) {
            return set("lr_scheduler.warmup_ratio", ratio);
        }

        /** {@code lr_scheduler.eta_min}: the LR the cosine decay ends at. */
        public Builder etaMin(double lr) {
            return set("lr_scheduler.eta_min", lr);
        }

        /** {@code hybrid_zero_optimizer.clip_grad_norm}: global gradient-norm clipping (0 = off). */
        public Builder clipGradNorm(double norm) {
            return set("hybrid_zero_optimizer.clip_grad_norm", norm);
        }

        /** {@code loss.label_smoothing}. */
        public Builder labelSmoothing(double smoothing) {
            return set("loss.label_smoothing", smoothing);
        }

        /**
         * {@code ckpt.save_ckpt_folder} (and {@code ckpt.enable_save_ckpt: true}): checkpoints go to
         * {@code <folder>/<step>}, one at the end of training and every {@link #checkpointEvery} steps.
         */
        public Builder saveCkptFolder(Path folder) {
            return set("ckpt.save_ckpt_folder", folder).set("ckpt.enable_save_ckpt", true);
        }

        /** {@code ckpt.checkpoint_every}. */
        public Builder checkpointEvery(int steps) {
            return set("ckpt.checkpoint_every", steps);
        }

        /** {@code ckpt.load_model_only_folder}: start from the weights of this checkpoint (fine-tuning). */
        public Builder loadModelOnlyFolder(Path checkpoint) {
            return set("ckpt.load_model_only_folder", checkpoint);
        }

        /** {@code ckpt.auto_resume}: continue from the newest checkpoint in the save folder when there is one. */
        public Builder autoResume(boolean resume) {
            return set("ckpt.auto_resume", resume);
        }

        /** {@code internlmj.device}: {@code "cpu"}, {@code "cuda"} or {@code "cuda:N"}. */
        public Builder device(String device) {
            return set("internlmj.device", device);
        }

        /** {@code internlmj.seed}: model initialisation and data order. */
        public Builder seed(long seed) {
            return set("internlmj.seed", seed);
        }

        /** {@code internlmj.tokenizer}: {@code "byte"} or the path of a HuggingFace {@code tokenizer.json}. */
        public Builder tokenizer(String tokenizer) {
            return set("internlmj.tokenizer", tokenizer);
        }

        /** {@code internlmj.run_dir}: where {@code metrics.jsonl} and TensorBoard events go. */
        public Builder runDir(Path folder) {
            return set("internlmj.run_dir", folder);
        }

        /** {@code internlmj.log_every}: a log line every N steps. */
        public Builder logEvery(int steps) {
            return set("internlmj.log_every", steps);
        }

        /** {@code internlmj.tensorboard}: write TensorBoard event files into the run folder. */
        public Builder tensorboard(boolean on) {
            return set("internlmj.tensorboard", on);
        }

        /**
         * Checks and returns the config.
         *
         * @throws IllegalArgumentException naming the key when a key is unknown, has the wrong type or does
         *                                  not fit the others
         */
        public Config build() {
            return new Config(TrainConfig.from(ConfigTree.parse(root.toString(), "Config.builder()", List.of())),
                    "Config.builder()");
        }
    }
}
