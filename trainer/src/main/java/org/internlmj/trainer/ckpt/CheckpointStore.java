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
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.internlmj.dist.GradScaler;
import org.internlmj.dist.HybridZeroOptimizer;
import org.internlmj.nn.Module;
import org.internlmj.nn.Parameter;
import org.internlmj.nn.TensorSplit;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.data.BatchSampler;
import org.internlmj.trainer.data.TokenizedWriter;

/**
 * Checkpoint folders on disk:
 * <pre>
 *   model_tp{t}_pp{p}.safetensors            model weights in the model dtype, InternLM's parameter names: the
 *                                            layers pipeline stage p holds, tensor rank t's parts of split
 *                                            weights (how each was cut in the file's metadata, "tensor_split")
 *                                            and the replicated ones whole
 *   optimizer_tp{t}_pp{p}_zo{z}.safetensors  fp32 master weights (when the model is not fp32) and Adam moments
 *                                            of tensor rank t's parameters of stage p held by ZeRO rank z
 *   meta.json                                step, sampler, scaler, optimizer step, topology, config, SHA-256
 *                                            of every file
 * </pre>
 * Tensor names are global (layer {@code i} is {@code blocks.i.*} in whichever stage's file holds it), so the
 * weights load on any pipeline and tensor layout, the optimizer state on any pipeline and ZeRO layout of
 * the same tensor size.
 * A checkpoint is written into {@code <name>.partial-*}, every file fsync'd, {@code meta.json} last, and
 * the folder renamed to {@code <name>} (replacing an older one of that name only once the new one is
 * complete): a crash at any instant leaves every earlier checkpoint intact, and an unfinished one is
 * recognisable by its name, a missing {@code meta.json} or a checksum that does not match.
 */
public final class CheckpointStore {
    public static final String MODEL_FILE = "model_tp0_pp0.safetensors";
    public static final String OPTIMIZER_FILE = "optimizer_tp0_pp0_zo0.safetensors";
    /** Model-file metadata: JSON object from parameter name to {@code dim:groups} for split weights. */
    static final String SPLIT_KEY = "tensor_split";
    public static final String META_FILE = "meta.json";
    static final String FORMAT = "internlmj-checkpoint";
    private static final ObjectMapper JSON = new ObjectMapper();

    private CheckpointStore() {
    }

    /** Captures the state and writes it under {@code root/<step>} synchronously. */
    public static Path save(Path root, TrainState state, Module model, HybridZeroOptimizer optimizer, JsonNode config,
                            String tokenizer) throws IOException {
        return write(root, Long.toString(state.step()),
                CheckpointContent.capture(state, model, optimizer, config, tokenizer, false));
    }

    /**
     * What this process writes into a checkpoint and how the ranks meet: the main rank prepares the folder
     * and writes meta.json; the model file comes from one rank per tensor/pipeline shard (data rank 0);
     * the optimizer shards from the first ZeRO group of each shard ({@code zeroIndex} = this rank's index in
     * it, -1 if it writes none); {@code barrier} waits for every rank. {@code tensorRank} and
     * {@code pipelineRank} name this rank's files.
     */
    public record Participation(boolean main, boolean writesModel, int zeroIndex, Runnable barrier, boolean shared,
                                int dataSize, int zeroSize, java.util.function.LongUnaryOperator fromMain,
                                int tensorRank, int tensorSize, int pipelineRank, int pipelineSize) {
        /** A single process writing everything. */
        public static Participation solo() {
            return new Participation(true, true, 0, () -> { }, false, 1, 1, v -> v, 0, 1, 0, 1);
        }
    }

    /** The model file of tensor rank {@code t}, pipeline stage {@code p}. */
    public static String modelFile(int t, int p) {
        return "model_tp" + t + "_pp" + p + ".safetensors";
    }

    /** The optimizer file of tensor rank {@code t}, pipeline stage {@code p}, ZeRO rank {@code z}. */
    public static String optimizerFile(int t, int p, int z) {
        return "optimizer_tp" + t + "_pp" + p + "_zo" + z + ".safetensors";
    }

    /** Writes {@code content} as the checkpoint folder {@code root/name}, atomically (one process). */
    public static Path write(Path root, String name, CheckpointContent content) throws IOException {
        return write(root, name, content, Participation.solo());
    }

    /**
     * Writes {@code content} as the checkpoint folder {@code root/name}, atomically: every file under a
     * temporary folder, fsync'd, meta.json last (with the SHA-256 of every file), then the rename. With
     * several ranks (on a shared file system) each writes its files between barriers.
     */
    public static Path write(Path root, String name, CheckpointContent content, Participation who) throws IOException {
        Path tmp = root.resolve(name + ".partial-" + (who.shared() ? "ranks" : Long.toHexString(System.nanoTime())));
        if (who.main()) {
            Files.createDirectories(root);
            deleteTree(tmp); // left by a crashed earlier attempt at this step
            Files.createDirectory(tmp);
        }
        who.barrier().run();
        try {
            if (who.writesModel()) {
                Map<String, String> metadata = new LinkedHashMap<>();
                metadata.put("format", "pt");
                if (!content.tensorSplits().isEmpty()) {
                    ObjectNode splits = JSON.createObjectNode();
                    content.tensorSplits().forEach(splits::put);
                    metadata.put(SPLIT_KEY, splits.toString());
                }
                SafeTensors.write(tmp.resolve(modelFile(who.tensorRank(), who.pipelineRank())), content.model(), metadata);
            }
            if (who.zeroIndex() >= 0 && !content.optimizer().isEmpty()) {
                SafeTensors.write(tmp.resolve(optimizerFile(who.tensorRank(), who.pipelineRank(), who.zeroIndex())), content.optimizer(),
                        Map.of());
            }
            who.barrier().run();
            Path dest = root.resolve(name);
            if (who.main()) {
                Map<String, String> sums = new LinkedHashMap<>();
                List<Path> files = new ArrayList<>();
                try (DirectoryStream<Path> ds = Files.newDirectoryStream(tmp, "*.safetensors")) {
                    ds.forEach(files::add);
                }
                files.sort(null);
                for (Path f : files) {
                    sums.put(f.getFileName().toString(), SafeTensors.sha256(f));
                }
                Path metaTmp = tmp.resolve(META_FILE + ".tmp");
                Files.write(metaTmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(meta(content, sums, who)));
                TokenizedWriter.fsync(metaTmp);
                Files.move(metaTmp, tmp.resolve(META_FILE), StandardCopyOption.ATOMIC_MOVE);
                TokenizedWriter.fsync(tmp);
                if (Files.exists(dest)) {
                    Path old = root.resolve(name + ".old-" + Long.toHexString(System.nanoTime()));
                    Files.move(dest, old, StandardCopyOption.ATOMIC_MOVE);
                    Files.move(tmp, dest, StandardCopyOption.ATOMIC_MOVE);
                    TokenizedWriter.fsync(root);
                    deleteTree(old);
                } else {
                    Files.move(tmp, dest, StandardCopyOption.ATOMIC_MOVE);
                    TokenizedWriter.fsync(root);
                }
            }
            who.barrier().run();
            return dest;
        } catch (IOException | RuntimeException e) {
            if (who.main()) {
                deleteTree(tmp);
            }
            throw e;
        }
    }

    private static ObjectNode meta(CheckpointContent c, Map<String, String> sums, Participation who) {
        TrainState state = c.state();
        ObjectNode meta = JSON.createObjectNode();
        meta.put("format", FORMAT);
        meta.put("version", 1);
        meta.put("step", state.step());
        meta.put("batch_count", state.batchCount());
        meta.put("consumed_tokens", state.consumedTokens());
        meta.put("skipped_steps", state.skippedSteps());
        meta.put("optimizer_steps", c.optimizerSteps());
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
        meta.put("tokenizer", c.tokenizer());
        meta.set("topology", JSON.createObjectNode().put("tensor", who.tensorSize()).put("pipeline", who.pipelineSize())
                .put("data", who.dataSize()).put("zero", who.zeroSize()));
        meta.set("config", c.config());
        ObjectNode files = meta.putObject("files");
        sums.forEach(files::put);
        return meta;
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

        /** The tensor-parallel size that wrote the checkpoint (1 for checkpoints from before tensor parallelism). */
        public int tensorSize() {
            return meta.path("topology").path("tensor").asInt(1);
        }

        /** The pipeline-parallel size that wrote the checkpoint (1 for checkpoints from before pipeline parallelism). */
        public int pipelineSize() {
            return meta.path("topology").path("pipeline").asInt(1);
        }

        public boolean hasOptimizer() {
            for (var it = meta.path("files").fieldNames(); it.hasNext(); ) {
                if (it.next().startsWith("optimizer_")) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Reads and checks meta.json only (cheap): the folder's claimed step, or an error saying what is wrong. */
    static JsonNode readMeta(Path folder) throws IOException {
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
        if (!meta.path("files").isObject() || !meta.path("files").has(MODEL_FILE) || !meta.path("step").canConvertToLong()) {
            throw new CheckpointException(metaPath, "lacks the step or the list of files with " + MODEL_FILE);
        }
        return meta;
    }

    /**
     * Validates a checkpoint folder: meta.json present and well-formed, every listed file present with a
     * matching SHA-256. Errors name the folder, the file and the problem.
     */
    public static Loaded open(Path folder) throws IOException {
        JsonNode meta = readMeta(folder);
        for (var it = meta.path("files").fields(); it.hasNext(); ) {
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

    /**
     * Copies weights from a checkpoint into the whole model (or a model holding every layer); see
     * {@link #loadModel(Loaded, Module, boolean)}.
     */
    public static void loadModel(Loaded ckpt, Module model) throws IOException {
        loadModel(ckpt, model, true);
    }

    /**
     * Copies weights from a checkpoint into {@code model}; shape mismatches and missing weights are listed
     * all together, and with {@code whole} (the model holds every layer) so are weights the model lacks (a
     * pipeline stage's part holds only some). Each weight is looked up in every pipeline stage's files. A
     * model split over as many tensor ranks as the checkpoint's reads its own tensor rank's files; otherwise
     * the full tensors are put back together from every tensor rank's file and cut as this model is split
     * (a checkpoint of any tensor and pipeline size loads into a model of any other).
     */
    public static void loadModel(Loaded ckpt, Module model, boolean whole) throws IOException {
        int[] tp = tensorLayout(model);
        try (ShardedWeights w = ShardedWeights.open(ckpt)) {
            boolean ownFiles = ckpt.tensorSize() == tp[1];
            List<String> problems = new ArrayList<>();
            Map<String, Parameter> params = model.namedParameters();
            for (Parameter p : params.values()) {
                int[] found = ownFiles ? w.shape(p.name(), tp[0]) : w.fullShape(p.name());
                int[] expected = ownFiles ? p.data().shape() : p.fullShape();
                if (found == null) {
                    problems.add(p.name() + ": missing from the checkpoint (expected shape " + Shapes.str(expected) + ")");
                } else if (!java.util.Arrays.equals(found, expected)) {
                    problems.add(p.name() + ": expected shape " + Shapes.str(expected) + ", found " + Shapes.str(found));
                }
            }
            if (whole) {
                for (String name : w.names()) {
                    if (!params.containsKey(name)) {
                        problems.add(name + ": in the checkpoint but not in the model");
                    }
                }
            }
            if (!problems.isEmpty()) {
                throw new CheckpointException(ckpt.folder() + " (tensor size " + ckpt.tensorSize() + ", pipeline size "
                        + ckpt.pipelineSize() + ") does not fit the model:\n  " + String.join("\n  ", problems));
            }
            for (Parameter p : params.values()) {
                try (MemoryScope scope = MemoryScope.open()) {
                    if (ownFiles) {
                        p.data().copyFrom(w.readPart(p.name(), tp[0]));
                    } else {
                        Tensor full = w.read(p.name());
                        if (p.split() == null) {
                            p.data().copyFrom(full);
                        } else {
                            Tensor part = Tensor.empty(full.dtype(), full.device(), p.data().shape());
                            p.split().cut(full, part);
                            p.data().copyFrom(part);
                        }
                    }
                }
            }
        }
    }

    /**
     * Every weight of a checkpoint as the full tensor (tensor ranks' parts put back together, all pipeline
     * stages), by name, in stage order: for export, or to look at a checkpoint without its model.
     */
    public static Map<String, Tensor> readFullWeights(Loaded ckpt) throws IOException {
        try (ShardedWeights w = ShardedWeights.open(ckpt)) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (String name : w.names()) {
                out.put(name, w.read(name));
            }
            return out;
        }
    }

    /** {rank, size} of the tensor-parallel split of a model's parameters ({0, 1} when nothing is split). */
    private static int[] tensorLayout(Module model) {
        for (Parameter p : model.parameters()) {
            if (p.split() != null) {
                return new int[] {p.split().rank(), p.split().size()};
            }
        }
        return new int[] {0, 1};
    }

    /**
     * The model files of a checkpoint, every tensor rank of every pipeline stage: each weight lives in one
     * stage's files, split over (or replicated in) that stage's tensor ranks.
     */
    private static final class ShardedWeights implements AutoCloseable {
        /** Per pipeline stage, the readers of tensor ranks 0..T-1. */
        private final List<List<SafeTensors.Reader>> stages = new ArrayList<>();
        /** Weight name to the stage holding it, in stage then file order. */
        private final Map<String, Integer> stageOf = new LinkedHashMap<>();
        private final Map<String, String> splits = new LinkedHashMap<>();

        static ShardedWeights open(Loaded ckpt) throws IOException {
            ShardedWeights w = new ShardedWeights();
            try {
                for (int p = 0; p < ckpt.pipelineSize(); p++) {
                    List<SafeTensors.Reader> ranks = new ArrayList<>();
                    w.stages.add(ranks);
                    for (int t = 0; t < ckpt.tensorSize(); t++) {
                        Path f = ckpt.folder().resolve(modelFile(t, p));
                        if (!Files.isRegularFile(f)) {
                            throw new CheckpointException(f, "missing: the checkpoint's topology says " + ckpt.tensorSize()
                                    + " tensor rank(s) x " + ckpt.pipelineSize() + " pipeline stage(s)");
                        }
                        ranks.add(SafeTensors.open(f));
                    }
                    SafeTensors.Reader first = ranks.getFirst();
                    for (String name : first.entries().keySet()) {
                        Integer before = w.stageOf.putIfAbsent(name, p);
                        if (before != null) {
                            throw new CheckpointException(f(ckpt, p), name + " is also in pipeline stage " + before
                                    + "'s file");
                        }
                    }
                    String json = first.metadata().get(SPLIT_KEY);
                    if (json != null) {
                        JSON.readTree(json).fields().forEachRemaining(e -> w.splits.put(e.getKey(), e.getValue().asText()));
                    }
                }
                return w;
            } catch (IOException | RuntimeException e) {
                w.close();
                throw e;
            }
        }

        private static Path f(Loaded ckpt, int p) {
            return ckpt.folder().resolve(modelFile(0, p));
        }

        List<String> names() {
            return List.copyOf(stageOf.keySet());
        }

        /** The shape of tensor rank {@code t}'s part of a weight as stored, or null when the checkpoint has none. */
        int[] shape(String name, int t) {
            Integer p = stageOf.get(name);
            if (p == null) {
                return null;
            }
            SafeTensors.Entry e = stages.get(p).get(t).entries().get(name);
            return e == null ? null : e.shape();
        }

        /** Tensor rank {@code t}'s part of a weight, as stored. */
        Tensor readPart(String name, int t) {
            return stages.get(stageOf.get(name)).get(t).read(name);
        }

        /** The shape of the full tensor, or null when the checkpoint has no such weight. */
        int[] fullShape(String name) {
            int[] shape = shape(name, 0);
            if (shape == null) {
                return null;
            }
            shape = shape.clone();
            String split = splits.get(name);
            if (split != null) {
                shape[Integer.parseInt(split.split(":")[0])] *= stages.get(stageOf.get(name)).size();
            }
            return shape;
        }

        Tensor read(String name) {
            List<SafeTensors.Reader> readers = stages.get(stageOf.get(name));
            String split = splits.get(name);
            if (split == null) {
                return readers.getFirst().read(name); // replicated: every tensor rank holds the same
            }
            String[] dg = split.split(":");
            int dim = Integer.parseInt(dg[0]);
            int groups = Integer.parseInt(dg[1]);
            Tensor first = readers.getFirst().read(name);
            Tensor full = Tensor.empty(first.dtype(), first.device(), fullShape(name));
            for (int t = 0; t < readers.size(); t++) {
                Tensor part = t == 0 ? first : readers.get(t).read(name);
                if (!part.sameShape(first)) {
                    throw new CheckpointException(name + ": tensor rank " + t + " holds shape " + Shapes.str(part.shape())
                            + ", rank 0 holds " + Shapes.str(first.shape()));
                }
                new TensorSplit(dim, groups, t, readers.size()).place(part, full);
            }
            return full;
        }

        @Override
        public void close() {
            for (List<SafeTensors.Reader> ranks : stages) {
                for (SafeTensors.Reader r : ranks) {
                    r.close();
                }
            }
        }
    }

    /**
     * Restores masters and moments from a checkpoint into the optimizer, whatever ZeRO layout wrote it:
     * every optimizer file of this tensor rank (all pipeline stages) is read, and each of this rank's shards is
     * assembled from the whole tensors or slices ({@code name@start-end}) found there, so the pipeline and
     * ZeRO layouts may change (the tensor size may not).
     */
    public static void loadOptimizer(Loaded ckpt, Module model, HybridZeroOptimizer optimizer) throws IOException {
        int[] tp = tensorLayout(model);
        if (ckpt.tensorSize() != tp[1]) {
            throw new CheckpointException(ckpt.folder(), "was written with parallel.tensor = " + ckpt.tensorSize()
                    + " and this run has " + tp[1] + ": optimizer state is only resumed with the same tensor size; "
                    + "load the weights alone (ckpt.load_model_only_folder, or load_ckpt_info with content "
                    + "[\"model\"]), which any tensor size reads");
        }
        List<Path> files = new ArrayList<>();
        String prefix = "optimizer_tp" + tp[0] + "_pp";  // every pipeline stage's: names are global
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(ckpt.folder(), prefix + "*.safetensors")) {
            ds.forEach(files::add);
        }
        if (files.isEmpty()) {
            throw new CheckpointException(ckpt.folder(), "holds no optimizer state of tensor rank " + tp[0] + " ("
                    + prefix + "*.safetensors)");
        }
        files.sort(null);
        List<SafeTensors.Reader> readers = new ArrayList<>();
        try {
            for (Path f : files) {
                readers.add(SafeTensors.open(f));
            }
            List<Parameter> params = model.parameters();
            for (HybridZeroOptimizer.Shard s : optimizer.shards()) {
                Parameter p = params.get(s.param());
                try (MemoryScope scope = MemoryScope.open()) {
                    if (s.master() != p.data()) {
                        Tensor master = assemble(readers, "master.", s, p);
                        s.master().reshape(-1).copyFrom(master != null ? master
                                : p.data().reshape(-1).narrow(0, s.start(), s.length())); // fp32 writer: masters = weights
                    }
                    Tensor m = assemble(readers, "exp_avg.", s, p);
                    Tensor v = assemble(readers, "exp_avg_sq.", s, p);
                    if (m == null || v == null) {
                        throw new CheckpointException("optimizer state of " + p.name() + " [" + s.start() + ", " + s.end()
                                + ") is missing from " + ckpt.folder());
                    }
                    s.expAvg().copyFrom(m);
                    s.expAvgSq().copyFrom(v);
                }
            }
        } finally {
            for (SafeTensors.Reader r : readers) {
                r.close();
            }
        }
        optimizer.restoreSteps(ckpt.meta().path("optimizer_steps").asLong(ckpt.step()));
    }

    /** Elements [start, end) of one kind of state for a parameter, from whole tensors or slices in any file. */
    private static Tensor assemble(List<SafeTensors.Reader> readers, String kind, HybridZeroOptimizer.Shard s,
                                   Parameter p) {
        int n = p.numel();
        Tensor out = null;
        boolean[] covered = new boolean[s.length()];
        int coveredCount = 0;
        for (SafeTensors.Reader r : readers) {
            for (SafeTensors.Entry e : r.entries().values()) {
                String name = e.name();
                if (!name.startsWith(kind)) {
                    continue;
                }
                String rest = name.substring(kind.length());
                int from;
                int to;
                if (rest.equals(p.name())) {
                    from = 0;
                    to = n;
                } else if (rest.startsWith(p.name() + "@")) {
                    String[] range = rest.substring(p.name().length() + 1).split("-");
                    from = Integer.parseInt(range[0]);
                    to = Integer.parseInt(range[1]);
                } else {
                    continue;
                }
                int lo = Math.max(from, s.start());
                int hi = Math.min(to, s.end());
                if (lo >= hi) {
                    continue;
                }
                if (out == null) {
                    out = Tensor.zeros(org.internlmj.tensor.DType.F32, org.internlmj.tensor.Device.CPU, s.length());
                }
                Tensor src = r.read(name).reshape(-1);
                out.narrow(0, lo - s.start(), hi - lo).copyFrom(src.narrow(0, lo - from, hi - lo));
                for (int k = lo; k < hi; k++) {
                    if (!covered[k - s.start()]) {
                        covered[k - s.start()] = true;
                        coveredCount++;
                    }
                }
            }
        }
        if (out != null && coveredCount != s.length()) {
            throw new CheckpointException(kind + p.name() + ": the checkpoint's shards cover " + coveredCount + " of the "
                    + s.length() + " elements [" + s.start() + ", " + s.end() + ") this rank needs");
        }
        return out;
    }

    /**
     * The newest complete checkpoint among the step folders under {@code root} and the snapshot slots
     * under {@code snapshotRoot} (either may be null), newest step first; candidates that are incomplete
     * or fail validation are skipped with the reason sent to {@code warn}.
     */
    public static Optional<Loaded> latest(Path root, Path snapshotRoot, Consumer<String> warn) throws IOException {
        record Candidate(Path folder, long step) {
        }
        List<Candidate> candidates = new ArrayList<>();
        for (Path dir : new Path[] {root, snapshotRoot}) {
            if (dir == null || !Files.isDirectory(dir)) {
                continue;
            }
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
                for (Path p : ds) {
                    String n = p.getFileName().toString();
                    if (n.contains(".partial-")) {
                        warn.accept("skipping " + p + ": an interrupted save (incomplete)");
                    } else if (Files.isDirectory(p) && n.matches("\\d+")) {
                        try {
                            candidates.add(new Candidate(p, readMeta(p).path("step").asLong()));
                        } catch (CheckpointException e) {
                            warn.accept("skipping " + p + ": " + e.getMessage());
                        }
                    }
                }
            }
        }
        candidates.sort(Comparator.comparingLong(Candidate::step).reversed());
        for (Candidate c : candidates) {
            try {
                return Optional.of(open(c.folder()));
            } catch (CheckpointException e) {
                warn.accept("skipping " + c.folder() + ": " + e.getMessage());
            }
        }
        return Optional.empty();
    }

    /** Step folders directly under {@code root}, oldest first. */
    static List<Path> stepFolders(Path root) throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                if (Files.isDirectory(p) && p.getFileName().toString().matches("\\d+")) {
                    out.add(p);
                }
            }
        }
        out.sort(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString())));
        return out;
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
