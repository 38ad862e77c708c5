package org.internlmj.trainer.ckpt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.internlmj.dist.GradScaler;
import org.internlmj.dist.HybridZeroOptimizer;
import org.internlmj.nn.Module;
import org.internlmj.nn.Parameter;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.data.BatchSampler;
import org.internlmj.trainer.data.TokenizedWriter;

/**
 * Checkpoints: one folder per step under the save folder, holding
 * <pre>
 *   model_tp0_pp0.safetensors              model weights in the model dtype, InternLM's parameter names
 *   optimizer_tp0_pp0_zo0.safetensors      fp32 master weights and Adam moments (master.*, exp_avg.*, exp_avg_sq.*)
 *   meta.json                              step, sampler, scaler, optimizer step, config, SHA-256 of every file
 * </pre>
 * Everything is written into {@code <step>.partial-*}, each file fsync'd, {@code meta.json} last, then the
 * folder is renamed to {@code <step>}: a crash at any instant leaves the previous checkpoints intact and
 * the unfinished one recognisable by its name or by a missing or mismatching {@code meta.json}.
 */
public final class CheckpointStore {
    public static final String MODEL_FILE = "model_tp0_pp0.safetensors";
    public static final String OPTIMIZER_FILE = "optimizer_tp0_pp0_zo0.safetensors";
    public static final String META_FILE = "meta.json";
    static final String FORMAT = "internlmj-checkpoint";
    private static final ObjectMapper JSON = new ObjectMapper();

    private CheckpointStore() {
    }

    /** Writes a checkpoint of {@code step} under {@code root}; returns its folder. */
    public static Path save(Path root, TrainState state, Module model, HybridZeroOptimizer optimizer, JsonNode config,
                            String tokenizer) throws IOException {
        Files.createDirectories(root);
        String name = Long.toString(state.step());
        Path tmp = Files.createDirectory(root.resolve(name + ".partial-" + Long.toHexString(System.nanoTime())));
        try {
            Map<String, String> sums = new LinkedHashMap<>();
            Map<String, Tensor> weights = new LinkedHashMap<>();
            for (Parameter p : model.parameters()) {
                weights.put(p.name(), p.data());
            }
            sums.put(MODEL_FILE, SafeTensors.write(tmp.resolve(MODEL_FILE), weights, Map.of("format", "pt")).sha256());
            if (optimizer != null) {
                Map<String, Tensor> opt = new LinkedHashMap<>();
                List<Parameter> params = model.parameters();
                for (int i = 0; i < params.size(); i++) {
                    opt.put("master." + params.get(i).name(), optimizer.master(i));
                    opt.put("exp_avg." + params.get(i).name(), optimizer.expAvg(i));
                    opt.put("exp_avg_sq." + params.get(i).name(), optimizer.expAvgSq(i));
                }
                sums.put(OPTIMIZER_FILE, SafeTensors.write(tmp.resolve(OPTIMIZER_FILE), opt, Map.of()).sha256());
            }
            ObjectNode meta = JSON.createObjectNode();
            meta.put("format", FORMAT);
            meta.put("version", 1);
            meta.put("step", state.step());
            meta.put("batch_count", state.batchCount());
            meta.put("consumed_tokens", state.consumedTokens());
            meta.put("skipped_steps", state.skippedSteps());
            if (optimizer != null) {
                meta.put("optimizer_steps", optimizer.steps());
            }
            BatchSampler.State s = state.sampler();
            if (s != null) {
                ObjectNode sn = meta.putObject("sampler");
                sn.put("epoch", s.epoch());
                sn.put("batch_count", s.batchCount());
                sn.put("consumed_in_epoch", s.consumedInEpoch());
                sn.put("seed", s.seed());
            }
            GradScaler.State g = state.scaler();
            if (g != null) {
                ObjectNode gn = meta.putObject("grad_scaler");
                gn.put("scale", g.scale());
                gn.put("growth_step", g.growthStep());
                gn.put("hysteresis_step", g.hysteresisStep());
            }
            meta.put("tokenizer", tokenizer);
            meta.set("topology", JSON.createObjectNode().put("tensor", 1).put("pipeline", 1).put("zero", 1));
            meta.set("config", config);
            ObjectNode files = meta.putObject("files");
            sums.forEach(files::put);
            Path metaTmp = tmp.resolve(META_FILE + ".tmp");
            Files.write(metaTmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(meta));
            TokenizedWriter.fsync(metaTmp);
            Files.move(metaTmp, tmp.resolve(META_FILE), StandardCopyOption.ATOMIC_MOVE);
            TokenizedWriter.fsync(tmp);
            Path dest = root.resolve(name);
            if (Files.exists(dest)) {
                // the same step saved again (e.g. a final save right after a periodic one): replace it only
                // once the new copy is complete
                Path old = root.resolve(name + ".old-" + Long.toHexString(System.nanoTime()));
                Files.move(dest, old, StandardCopyOption.ATOMIC_MOVE);
                Files.move(tmp, dest, StandardCopyOption.ATOMIC_MOVE);
                deleteTree(old);
            } else {
                Files.move(tmp, dest, StandardCopyOption.ATOMIC_MOVE);
            }
            TokenizedWriter.fsync(root);
            return dest;
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            throw e;
        }
    }

    /** A checkpoint folder that passed validation: its meta and folder. */
    public record Loaded(Path folder, JsonNode meta) {
        public long step() {
            return meta.path("step").asLong();
        }

        public TrainState state() {
            JsonNode s = meta.path("sampler");
            JsonNode g = meta.path("grad_scaler");
            return new TrainState(step(), meta.path("batch_count").asLong(), meta.path("consumed_tokens").asLong(),
                    meta.path("skipped_steps").asLong(),
                    s.isMissingNode() ? null : new BatchSampler.State(s.path("epoch").asInt(),
                            s.path("batch_count").asLong(), s.path("consumed_in_epoch").asInt(), s.path("seed").asLong()),
                    g.isMissingNode() ? null : new GradScaler.State(g.path("scale").asDouble(),
                            g.path("growth_step").asInt(), g.path("hysteresis_step").asInt()));
        }

        public JsonNode config() {
            return meta.path("config");
        }

        public String tokenizer() {
            return meta.path("tokenizer").asText("byte");
        }
    }

    /**
     * Validates a checkpoint folder: meta.json present and well-formed, every listed file present with a
     * matching SHA-256. Errors name the folder, the file and the problem.
     */
    public static Loaded open(Path folder) throws IOException {
        if (!Files.isDirectory(folder)) {
            throw new CheckpointException(folder, "is not a checkpoint folder (does not exist)");
        }
        Path metaPath = folder.resolve(META_FILE);
        if (!Files.isRegularFile(metaPath)) {
            throw new CheckpointException(metaPath, "missing: the checkpoint is incomplete (a save was interrupted?)");
        }
        JsonNode meta;
        try {
            meta = JSON.readTree(metaPath.toFile());
        } catch (IOException e) {
            throw new CheckpointException(metaPath, "is not valid JSON: " + e.getMessage().split("\n")[0]);
        }
        if (!FORMAT.equals(meta.path("format").asText())) {
            throw new CheckpointException(metaPath, "is not an InternLM-J checkpoint (format \"" + meta.path("format").asText()
                    + "\")");
        }
        JsonNode files = meta.path("files");
        if (!files.isObject() || !files.has(MODEL_FILE)) {
            throw new CheckpointException(metaPath, "lists no " + MODEL_FILE);
        }
        for (var it = files.fields(); it.hasNext(); ) {
            var f = it.next();
            Path p = folder.resolve(f.getKey());
            if (!Files.isRegularFile(p)) {
                throw new CheckpointException(p, "missing (listed in meta.json)");
            }
            String sum = SafeTensors.sha256(p);
            if (!sum.equals(f.getValue().asText())) {
                throw new CheckpointException(p, "content checksum mismatch: SHA-256 " + sum + ", meta.json recorded "
                        + f.getValue().asText() + " (the file was changed or damaged)");
            }
        }
        return new Loaded(folder, meta);
    }

    /** Copies weights from a checkpoint into the model; shape mismatches are listed all together. */
    public static void loadModel(Loaded ckpt, Module model) throws IOException {
        try (SafeTensors.Reader r = SafeTensors.open(ckpt.folder().resolve(MODEL_FILE))) {
            Map<String, Parameter> params = model.namedParameters();
            List<String> problems = new ArrayList<>();
            for (Parameter p : params.values()) {
                SafeTensors.Entry e = r.entries().get(p.name());
                if (e == null) {
                    problems.add(p.name() + ": missing from the checkpoint (expected shape " + Shapes.str(p.data().shape()) + ")");
                } else if (!java.util.Arrays.equals(e.shape(), p.data().shape())) {
                    problems.add(p.name() + ": expected shape " + Shapes.str(p.data().shape()) + ", found "
                            + Shapes.str(e.shape()));
                }
            }
            for (String name : r.entries().keySet()) {
                if (!params.containsKey(name)) {
                    problems.add(name + ": in the checkpoint but not in the model");
                }
            }
            if (!problems.isEmpty()) {
                throw new CheckpointException("checkpoint " + ckpt.folder() + " does not fit the model:\n  "
                        + String.join("\n  ", problems));
            }
            for (Parameter p : params.values()) {
                try (MemoryScope scope = MemoryScope.open()) {
                    p.data().copyFrom(r.read(p.name()));
                }
            }
        }
    }

    /** Restores masters and moments from a checkpoint into the optimizer. */
    public static void loadOptimizer(Loaded ckpt, Module model, HybridZeroOptimizer optimizer) throws IOException {
        Path f = ckpt.folder().resolve(OPTIMIZER_FILE);
        if (!Files.isRegularFile(f)) {
            throw new CheckpointException(f, "missing: this checkpoint holds no optimizer state");
        }
        try (SafeTensors.Reader r = SafeTensors.open(f)) {
            List<Parameter> params = model.parameters();
            for (int i = 0; i < params.size(); i++) {
                String n = params.get(i).name();
                try (MemoryScope scope = MemoryScope.open()) {
                    optimizer.master(i).copyFrom(read(r, "master." + n, optimizer.master(i)));
                    optimizer.expAvg(i).copyFrom(read(r, "exp_avg." + n, optimizer.expAvg(i)));
                    optimizer.expAvgSq(i).copyFrom(read(r, "exp_avg_sq." + n, optimizer.expAvgSq(i)));
                }
            }
        }
        optimizer.restoreSteps(ckpt.meta().path("optimizer_steps").asLong(ckpt.step()));
    }

    private static Tensor read(SafeTensors.Reader r, String name, Tensor like) {
        SafeTensors.Entry e = r.entries().get(name);
        if (e == null || !java.util.Arrays.equals(e.shape(), like.shape())) {
            throw new CheckpointException("optimizer state " + name + (e == null ? " is missing" : " has shape "
                    + Shapes.str(e.shape()) + ", expected " + Shapes.str(like.shape())));
        }
        return r.read(name);
    }

    /**
     * The newest complete checkpoint under {@code root}, skipping (with the reason reported to
     * {@code warn}) folders that are incomplete or fail validation.
     */
    public static Optional<Loaded> latest(Path root, java.util.function.Consumer<String> warn) throws IOException {
        if (!Files.isDirectory(root)) {
            return Optional.empty();
        }
        List<Path> candidates = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (Files.isDirectory(p) && n.matches("\\d+")) {
                    candidates.add(p);
                } else if (n.contains(".partial-")) {
                    warn.accept("skipping " + p + ": an interrupted save (incomplete)");
                }
            }
        }
        candidates.sort(Comparator.comparingLong((Path p) -> Long.parseLong(p.getFileName().toString())).reversed());
        for (Path c : candidates) {
            try {
                return Optional.of(open(c));
            } catch (CheckpointException e) {
                warn.accept("skipping " + c + ": " + e.getMessage());
            }
        }
        return Optional.empty();
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }
}
