package org.internlmj.trainer.ckpt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.internlmj.nn.Module;
import org.internlmj.nn.Parameter;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.config.ModelConfig;
import org.internlmj.trainer.data.TokenizedWriter;

/**
 * HuggingFace checkpoints in the layout of InternLM's HF release ({@code internlm/internlm-7b}: LLaMA names
 * with attention biases): {@code model.embed_tokens.weight}, {@code model.layers.{i}.self_attn.{q,k,v,o}_proj.
 * {weight,bias}}, {@code self_attn.rotary_emb.inv_freq}, {@code mlp.{gate,up,down}_proj.weight},
 * {@code input_layernorm.weight}, {@code post_attention_layernorm.weight}, {@code model.norm.weight},
 * {@code lm_head.weight}, plus {@code config.json}; sharded as {@code model-0000x-of-0000y.safetensors}
 * with {@code model.safetensors.index.json}.
 *
 * <p>Mapping: InternLM's fused {@code Wqkv} lays its outputs out as (three, heads, head_dim), so q, k and v
 * are its first, second and third blocks of {@code hidden} rows; w1/w2/w3 are gate/up/down; norm1/norm2
 * are input/post-attention layer norms. {@code rms_norm_eps} is written as the training epsilon (InternLM's
 * own converter writes 1e-6 while training with 1e-5; keeping the training value keeps the function the
 * same).
 */
public final class HfCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper();
    public static final String INDEX = "model.safetensors.index.json";
    public static final String SINGLE = "model.safetensors";

    private HfCheckpoint() {
    }

    /** InternLM parameter names and tensors to HF names and tensors (views; q/k/v split from Wqkv). */
    static Map<String, Tensor> toHf(Map<String, Tensor> native_, int numLayers, int hidden, int heads) {
        Map<String, Tensor> hf = new LinkedHashMap<>();
        hf.put("model.embed_tokens.weight", need(native_, "embedding.weight"));
        int hd = hidden / heads;
        for (int i = 0; i < numLayers; i++) {
            String n = "blocks." + i + ".";
            String h = "model.layers." + i + ".";
            Tensor wqkv = need(native_, n + "mixer.Wqkv.weight");
            Tensor bqkv = need(native_, n + "mixer.Wqkv.bias");
            String[] qkv = {"q_proj", "k_proj", "v_proj"};
            for (int j = 0; j < 3; j++) {
                hf.put(h + "self_attn." + qkv[j] + ".weight", wqkv.narrow(0, j * hidden, hidden));
                hf.put(h + "self_attn." + qkv[j] + ".bias", bqkv.narrow(0, j * hidden, hidden));
            }
            hf.put(h + "self_attn.o_proj.weight", need(native_, n + "mixer.out_proj.weight"));
            hf.put(h + "self_attn.o_proj.bias", need(native_, n + "mixer.out_proj.bias"));
            hf.put(h + "self_attn.rotary_emb.inv_freq", invFreq(hd));
            hf.put(h + "mlp.gate_proj.weight", need(native_, n + "mlp.w1.weight"));
            hf.put(h + "mlp.up_proj.weight", need(native_, n + "mlp.w2.weight"));
            hf.put(h + "mlp.down_proj.weight", need(native_, n + "mlp.w3.weight"));
            hf.put(h + "input_layernorm.weight", need(native_, n + "norm1.weight"));
            hf.put(h + "post_attention_layernorm.weight", need(native_, n + "norm2.weight"));
        }
        hf.put("model.norm.weight", need(native_, "norm.weight"));
        hf.put("lm_head.weight", need(native_, "head.weight"));
        return hf;
    }

    /** RoPE inverse frequencies {@code 1 / 10000^(2j / head_dim)} in fp32, as HF's InternLM stores them. */
    static Tensor invFreq(int headDim) {
        float[] f = new float[headDim / 2];
        for (int j = 0; j < f.length; j++) {
            f[j] = (float) (1.0 / Math.pow(10000.0, (2.0 * j) / headDim));
        }
        return Tensor.of(f, f.length);
    }

    private static Tensor need(Map<String, Tensor> m, String name) {
        Tensor t = m.get(name);
        if (t == null) {
            throw new CheckpointException("the checkpoint has no tensor '" + name + "'");
        }
        return t;
    }

    /**
     * Writes {@code weights} (InternLM names) as a HuggingFace folder: shards of at most
     * {@code maxShardBytes}, the index, and config.json. The folder is built under a temporary name.
     */
    public static Path export(Map<String, Tensor> weights, ModelConfig m, Path out, long maxShardBytes) throws IOException {
        if (Files.exists(out)) {
            throw new IllegalArgumentException("output folder " + out + " already exists");
        }
        Map<String, Tensor> hf = toHf(weights, m.numLayers(), m.hiddenSize(), m.numAttentionHeads());
        List<Map<String, Tensor>> shards = new ArrayList<>();
        Map<String, Tensor> cur = new LinkedHashMap<>();
        long curBytes = 0;
        long total = 0;
        for (Map.Entry<String, Tensor> e : hf.entrySet()) {
            long b = (long) e.getValue().numel() * e.getValue().dtype().byteSize();
            if (!cur.isEmpty() && curBytes + b > maxShardBytes) {
                shards.add(cur);
                cur = new LinkedHashMap<>();
                curBytes = 0;
            }
            cur.put(e.getKey(), e.getValue());
            curBytes += b;
            total += b;
        }
        shards.add(cur);
        Path parent = out.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createDirectory(parent.resolve(out.getFileName() + ".partial-" + Long.toHexString(System.nanoTime())));
        try {
            ObjectNode weightMap = JSON.createObjectNode();
            for (int s = 0; s < shards.size(); s++) {
                String file = shards.size() == 1 ? SINGLE
                        : String.format("model-%05d-of-%05d.safetensors", s + 1, shards.size());
                SafeTensors.write(tmp.resolve(file), shards.get(s), Map.of("format", "pt"));
                for (String k : shards.get(s).keySet()) {
                    weightMap.put(k, file);
                }
            }
            if (shards.size() > 1) {
                ObjectNode index = JSON.createObjectNode();
                index.putObject("metadata").put("total_size", total);
                index.set("weight_map", weightMap);
                Files.write(tmp.resolve(INDEX), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(index));
            }
            Files.write(tmp.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config(m)));
            TokenizedWriter.fsync(tmp);
            Files.move(tmp, out, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return out;
        } catch (IOException | RuntimeException e) {
            CheckpointStore.deleteTree(tmp);
            throw e;
        }
    }

    /** HF config.json of InternLM's release, for these model settings. */
    static ObjectNode config(ModelConfig m) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("InternLMForCausalLM");
        ObjectNode autoMap = c.putObject("auto_map");
        autoMap.put("AutoConfig", "configuration_internlm.InternLMConfig");
        autoMap.put("AutoModel", "modeling_internlm.InternLMForCausalLM");
        autoMap.put("AutoModelForCausalLM", "modeling_internlm.InternLMForCausalLM");
        c.put("model_type", "internlm");
        c.put("bias", true);
        c.put("hidden_act", "silu");
        c.put("hidden_size", m.hiddenSize());
        c.put("intermediate_size", m.mlpHidden());
        c.put("num_attention_heads", m.numAttentionHeads());
        c.put("num_hidden_layers", m.numLayers());
        c.put("vocab_size", m.vocabSize());
        c.put("rms_norm_eps", m.layerNormEpsilon());
        c.put("max_position_embeddings", 2048);
        c.put("initializer_range", 0.02);
        c.put("pad_token_id", 0);
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        c.put("tie_word_embeddings", false);
        c.put("use_cache", true);
        c.put("torch_dtype", switch (m.dtype()) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            default -> "float32";
        });
        return c;
    }

    /** Reads a HF folder (single file or sharded with an index) into InternLM names. */
    public static Map<String, Tensor> read(Path folder, int numLayers, int hidden) throws IOException {
        Map<String, Path> where = new LinkedHashMap<>();
        Path index = folder.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            JsonNode map = JSON.readTree(index.toFile()).path("weight_map");
            if (!map.isObject()) {
                throw new CheckpointException(index, "has no weight_map");
            }
            map.fields().forEachRemaining(e -> where.put(e.getKey(), folder.resolve(e.getValue().asText())));
        } else if (Files.isRegularFile(folder.resolve(SINGLE))) {
            try (SafeTensors.Reader r = SafeTensors.open(folder.resolve(SINGLE))) {
                for (String k : r.entries().keySet()) {
                    where.put(k, folder.resolve(SINGLE));
                }
            }
        } else {
            throw new CheckpointException(folder, "holds neither " + SINGLE + " nor " + INDEX);
        }
        Map<String, Tensor> hf = new LinkedHashMap<>();
        Map<Path, List<String>> byFile = new LinkedHashMap<>();
        where.forEach((k, f) -> byFile.computeIfAbsent(f, x -> new ArrayList<>()).add(k));
        for (Map.Entry<Path, List<String>> e : byFile.entrySet()) {
            if (!Files.isRegularFile(e.getKey())) {
                throw new CheckpointException(e.getKey(), "missing (named in " + INDEX + ")");
            }
            try (SafeTensors.Reader r = SafeTensors.open(e.getKey())) {
                for (String k : e.getValue()) {
                    hf.put(k, r.read(k));
                }
            }
        }
        return fromHf(hf, numLayers, hidden);
    }

    /** HF names to InternLM names, concatenating q/k/v back into Wqkv. */
    static Map<String, Tensor> fromHf(Map<String, Tensor> hf, int numLayers, int hidden) {
        Map<String, Tensor> n = new LinkedHashMap<>();
        TreeSet<String> used = new TreeSet<>();
        java.util.function.Function<String, Tensor> take = k -> {
            used.add(k);
            return need(hf, k);
        };
        n.put("embedding.weight", take.apply("model.embed_tokens.weight"));
        for (int i = 0; i < numLayers; i++) {
            String h = "model.layers." + i + ".";
            String b = "blocks." + i + ".";
            n.put(b + "mixer.Wqkv.weight", cat(take.apply(h + "self_attn.q_proj.weight"),
                    take.apply(h + "self_attn.k_proj.weight"), take.apply(h + "self_attn.v_proj.weight")));
            n.put(b + "mixer.Wqkv.bias", cat(take.apply(h + "self_attn.q_proj.bias"),
                    take.apply(h + "self_attn.k_proj.bias"), take.apply(h + "self_attn.v_proj.bias")));
            n.put(b + "mixer.out_proj.weight", take.apply(h + "self_attn.o_proj.weight"));
            n.put(b + "mixer.out_proj.bias", take.apply(h + "self_attn.o_proj.bias"));
            n.put(b + "norm1.weight", take.apply(h + "input_layernorm.weight"));
            n.put(b + "norm2.weight", take.apply(h + "post_attention_layernorm.weight"));
            n.put(b + "mlp.w1.weight", take.apply(h + "mlp.gate_proj.weight"));
            n.put(b + "mlp.w2.weight", take.apply(h + "mlp.up_proj.weight"));
            n.put(b + "mlp.w3.weight", take.apply(h + "mlp.down_proj.weight"));
            used.add(h + "self_attn.rotary_emb.inv_freq");
        }
        n.put("norm.weight", take.apply("model.norm.weight"));
        n.put("head.weight", take.apply("lm_head.weight"));
        List<String> extra = hf.keySet().stream().filter(k -> !used.contains(k)).toList();
        if (!extra.isEmpty()) {
            throw new CheckpointException("the HuggingFace checkpoint holds tensors this model does not have ("
                    + numLayers + " layers): " + extra.subList(0, Math.min(5, extra.size())));
        }
        return n;
    }

    private static Tensor cat(Tensor q, Tensor k, Tensor v) {
        if (!q.sameShape(k) || !q.sameShape(v) || q.dtype() != k.dtype() || q.dtype() != v.dtype()) {
            throw new CheckpointException("q/k/v projections differ in shape or dtype: " + Shapes.str(q.shape()) + ", "
                    + Shapes.str(k.shape()) + ", " + Shapes.str(v.shape()));
        }
        int[] shape = q.shape();
        shape[0] *= 3;
        Tensor out = Tensor.empty(q.dtype(), Device.CPU, shape);
        out.narrow(0, 0, q.size(0)).copyFrom(q);
        out.narrow(0, q.size(0), q.size(0)).copyFrom(k);
        out.narrow(0, 2 * q.size(0), q.size(0)).copyFrom(v);
        return out;
    }

    /**
     * Loads a HF folder's weights into the whole {@code model} (shape mismatches listed together); a
     * tensor-parallel model takes its part of each split weight.
     */
    public static void importInto(Path folder, Module model) throws IOException {
        int layers = (int) model.parameters().stream().filter(p -> p.name().endsWith("norm1.weight")).count();
        int hidden = model.namedParameters().get("embedding.weight").fullShape()[1];
        importInto(folder, model, layers, hidden);
    }

    /**
     * Loads a HF folder's weights for a model of {@code numLayers} layers and {@code hidden} size into
     * {@code model}, which may be one pipeline stage's part (it takes the tensors it holds) and split over
     * tensor ranks (it takes its part of each split weight).
     */
    public static void importInto(Path folder, Module model, int numLayers, int hidden) throws IOException {
        try (MemoryScope scope = MemoryScope.open()) {
            Map<String, Tensor> w = read(folder, numLayers, hidden);
            List<String> problems = new ArrayList<>();
            for (Parameter p : model.parameters()) {
                Tensor t = w.get(p.name());
                if (t == null) {
                    problems.add(p.name() + ": missing");
                } else if (!java.util.Arrays.equals(t.shape(), p.fullShape())) {
                    problems.add(p.name() + ": expected shape " + Shapes.str(p.fullShape()) + ", found "
                            + Shapes.str(t.shape()));
                }
            }
            if (!problems.isEmpty()) {
                throw new CheckpointException(folder + " does not fit the model:\n  " + String.join("\n  ", problems));
            }
            for (Parameter p : model.parameters()) {
                Tensor t = w.get(p.name());
                if (p.split() == null) {
                    p.data().copyFrom(t);
                } else {
                    Tensor part = Tensor.empty(t.dtype(), Device.CPU, p.data().shape());
                    p.split().cut(t.contiguous(), part);
                    p.data().copyFrom(part);
                }
            }
        }
    }

    /** The model settings a HF config.json describes (for importing without a YAML config). */
    public static Map<String, Object> modelKeys(Path folder) throws IOException {
        Path cfg = folder.resolve("config.json");
        if (!Files.isRegularFile(cfg)) {
            throw new CheckpointException(cfg, "missing");
        }
        JsonNode c = JSON.readTree(cfg.toFile());
        Map<String, Object> m = new LinkedHashMap<>();
        int hidden = c.path("hidden_size").asInt();
        m.put("hidden_size", hidden);
        m.put("num_layers", c.path("num_hidden_layers").asInt());
        m.put("num_attention_heads", c.path("num_attention_heads").asInt());
        m.put("vocab_size", c.path("vocab_size").asInt());
        m.put("mlp_ratio", c.path("intermediate_size").asDouble() / hidden);
        m.put("layer_norm_epsilon", c.path("rms_norm_eps").asDouble(1e-6));
        m.put("dtype", switch (c.path("torch_dtype").asText("float32")) {
            case "bfloat16" -> "torch.bfloat16";
            case "float16" -> "torch.float16";
            default -> "torch.float32";
        });
        return m;
    }
}
