package org.internlmj.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.internlmj.autograd.NoGrad;
import org.internlmj.nn.InternLMModel;
import org.internlmj.nn.Parameter;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.ckpt.CheckpointStore;
import org.internlmj.trainer.ckpt.HfCheckpoint;
import org.internlmj.trainer.config.ConfigTree;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.generate.TextGenerator;
import org.internlmj.trainer.tokenizer.ByteTokenizer;
import org.internlmj.trainer.train.ModelFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A trained model loaded for inference: it generates text (streamed as it is produced), scores text
 * (loss, perplexity, per-token log-probabilities) and returns logits. Closing it frees its weights
 * (device memory on a GPU at once). One call runs at a time; calls from several threads wait for each
 * other.
 *
 * <pre>{@code
 * try (InternLM lm = InternLM.load(Path.of("runs/demo/ckpt/2800"))) {
 *     lm.generate("public final class ", GenerationOptions.defaults().withMaxTokens(100), System.out::print);
 *     System.out.println();
 *     System.out.println("perplexity: " + lm.score("public static void main(String[] args)").perplexity());
 * }
 * }</pre>
 */
public final class InternLM implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(InternLM.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Where a model was loaded from. */
    public enum Format {
        /** An InternLM-J checkpoint folder ({@code meta.json} and {@code model_tp0_pp0.safetensors}). */
        NATIVE,
        /** A HuggingFace folder ({@code config.json} and {@code model.safetensors} or a sharded index) in InternLM's layout. */
        HUGGINGFACE
    }

    private final Path source;
    private final Format format;
    private final InternLMModel model;
    private final Device device;
    private final MemoryScope weights;
    private final Tokenizer tokenizer;
    private final boolean ownsTokenizer;
    private final org.internlmj.trainer.tokenizer.Tokenizer engineTokenizer;
    private boolean closed;

    private InternLM(Path source, Format format, InternLMModel model, Device device, MemoryScope weights,
                     Tokenizer tokenizer, boolean ownsTokenizer) {
        this.source = source;
        this.format = format;
        this.model = model;
        this.device = device;
        this.weights = weights;
        this.tokenizer = tokenizer;
        this.ownsTokenizer = ownsTokenizer;
        this.engineTokenizer = LibraryTokenizer.internal(tokenizer);
    }

    /**
     * Loads a model on the CPU with its own tokenizer. {@code folder} is either
     * <ul>
     *   <li>an InternLM-J checkpoint ({@code <save_ckpt_folder>/<step>}, as training writes it): the model
     *       is built from the config recorded in it, and the tokenizer is a {@code tokenizer.json} in the
     *       folder, else the one the run was trained with; or</li>
     *   <li>a HuggingFace folder in InternLM's layout ({@code internlmj convert --to-hf} writes one): the
     *       model is built from {@code config.json}, and the tokenizer is the folder's {@code tokenizer.json},
     *       else the byte-level one when the vocabulary has exactly its 259 ids.</li>
     * </ul>
     *
     * @throws NoSuchFileException      if {@code folder} does not exist
     * @throws IllegalArgumentException if it is neither kind of folder (the message says what it holds),
     *                                  or no tokenizer can be found for it
     * @throws IOException              if reading fails
     */
    public static InternLM load(Path folder) throws IOException {
        return load(folder, LoadOptions.defaults());
    }

    /** As {@link #load(Path)}, on the device and with the tokenizer that {@code options} name. */
    public static InternLM load(Path folder, LoadOptions options) throws IOException {
        Objects.requireNonNull(folder, "folder");
        Objects.requireNonNull(options, "options");
        Path dir = folder.toAbsolutePath().normalize();
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "no such model folder");
        }
        Device device = Device.parse(options.device());
        if (Files.isRegularFile(dir.resolve(CheckpointStore.META_FILE))) {
            CheckpointStore.Loaded c = CheckpointStore.open(dir);
            TrainConfig cfg = TrainConfig.from(ConfigTree.parse(c.config().toString(), dir + "/meta.json config", List.of()));
            MemoryScope weights = MemoryScope.detached();
            try {
                InternLMModel model = build(cfg, device, weights);
                CheckpointStore.loadModel(c, model);
                return withTokenizer(dir, Format.NATIVE, model, device, weights, options, c.tokenizer());
            } catch (IOException | RuntimeException e) {
                weights.close();
                throw e;
            }
        }
        if (Files.isRegularFile(dir.resolve("config.json")) && (Files.isRegularFile(dir.resolve(HfCheckpoint.SINGLE))
                || Files.isRegularFile(dir.resolve(HfCheckpoint.INDEX)))) {
            ObjectNode config = JSON.createObjectNode();
            ObjectNode m = config.putObject("model");
            HfCheckpoint.modelKeys(dir).forEach(m::putPOJO);
            config.putObject("ckpt").put("enable_save_ckpt", false);
            TrainConfig cfg = TrainConfig.from(ConfigTree.parse(config.toString(), dir + "/config.json", List.of()));
            MemoryScope weights = MemoryScope.detached();
            try {
                InternLMModel model = build(cfg, device, weights);
                HfCheckpoint.importInto(dir, model);
                String fallback = cfg.model().vocabSize() == ByteTokenizer.VOCAB ? "byte" : null;
                return withTokenizer(dir, Format.HUGGINGFACE, model, device, weights, options, fallback);
            } catch (IOException | RuntimeException e) {
                weights.close();
                throw e;
            }
        }
        throw new IllegalArgumentException(notAModel(dir));
    }

    /** Builds the model with its weights owned by {@code weights}, so that closing frees them. */
    private static InternLMModel build(TrainConfig cfg, Device device, MemoryScope weights) {
        InternLMModel model = new InternLMModel(ModelFactory.spec(cfg.model()), device);
        for (Parameter p : model.parameters()) {
            weights.adopt(p.data());
        }
        return model;
    }

    /** Picks the tokenizer: the caller's, else the folder's tokenizer.json, else {@code recorded} ("byte" or a path). */
    private static InternLM withTokenizer(Path dir, Format format, InternLMModel model, Device device,
                                          MemoryScope weights, LoadOptions options, String recorded) {
        Tokenizer tok;
        boolean owns = options.tokenizer() == null;
        if (!owns) {
            tok = options.tokenizer();
        } else if (Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            tok = Tokenizer.huggingFace(dir.resolve("tokenizer.json"));
        } else if ("byte".equals(recorded)) {
            if (format == Format.HUGGINGFACE) {
                LOG.info("{} has no tokenizer.json; its 259-id vocabulary is the byte-level tokenizer's, using that", dir);
            }
            tok = Tokenizer.byteLevel();
        } else if (recorded != null && Files.exists(Path.of(recorded))) {
            tok = Tokenizer.huggingFace(Path.of(recorded));
        } else {
            throw new IllegalArgumentException("no tokenizer for " + dir + ": it holds no tokenizer.json"
                    + (recorded == null ? "" : " and the run's tokenizer " + recorded + " does not exist here")
                    + "; pass one with LoadOptions.withTokenizer(Tokenizer.huggingFace(path))");
        }
        int vocab = model.spec().vocabSize();
        if (tok.vocabSize() > vocab) {
            if (owns) {
                tok.close();
            }
            throw new IllegalArgumentException("the tokenizer " + tok.name() + " has " + tok.vocabSize()
                    + " ids but the model in " + dir + " only " + vocab);
        }
        LOG.debug("loaded {} ({}, {} parameters, tokenizer {}) on {}", dir, format, model.parameterCount(), tok.name(), device);
        return new InternLM(dir, format, model, device, weights, tok, owns);
    }

    /** Says what a folder holds when it is not a model, pointing at a checkpoint inside a run's folder. */
    private static String notAModel(Path dir) throws IOException {
        List<String> names = new ArrayList<>();
        Path newest = null;
        long newestStep = -1;
        try (Stream<Path> list = Files.list(dir)) {
            for (Path p : list.sorted().toList()) {
                String n = p.getFileName().toString();
                names.add(n + (Files.isDirectory(p) ? "/" : ""));
                if (n.matches("\\d{1,18}") && Files.isRegularFile(p.resolve(CheckpointStore.META_FILE))
                        && Long.parseLong(n) > newestStep) {
                    newestStep = Long.parseLong(n);
                    newest = p;
                }
            }
        }
        if (newest != null) {
            return dir + " is a folder of checkpoints, not one checkpoint: load one of them, e.g. the newest, " + newest;
        }
        return dir + " is neither an InternLM-J checkpoint (meta.json and " + CheckpointStore.MODEL_FILE
                + ") nor a HuggingFace model folder (config.json and " + HfCheckpoint.SINGLE + " or " + HfCheckpoint.INDEX
                + "); it holds " + (names.isEmpty() ? "nothing" : String.join(", ", names.subList(0, Math.min(12, names.size())))
                + (names.size() > 12 ? ", ..." : ""));
    }

    /**
     * Continues {@code prompt}; {@code onText} receives the new text as it is produced (complete
     * characters only, each call with what was added since the last). Stops after
     * {@code options.maxTokens()} tokens or at EOS.
     *
     * @return the generated continuation (without the prompt)
     * @throws IllegalArgumentException if the prompt is empty and the tokenizer has no BOS token
     */
    public synchronized String generate(String prompt, GenerationOptions options, Consumer<String> onText) {
        checkOpen();
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(onText, "onText");
        return new TextGenerator(model, engineTokenizer, device).generate(prompt, new TextGenerator.Options(
                options.maxTokens(), options.temperature(), options.topK(), options.topP(), options.seed()), onText);
    }

    /** As {@link #generate(String, GenerationOptions, Consumer)}, without streaming. */
    public String generate(String prompt, GenerationOptions options) {
        return generate(prompt, options, s -> { });
    }

    /**
     * Scores {@code text}: the model reads BOS (when the tokenizer has one) and the text's tokens, and
     * every token is scored by the probability the model gave it from the tokens before it.
     *
     * @throws IllegalArgumentException if nothing would be scored (empty text, or one token without BOS)
     */
    public synchronized Score score(String text) {
        checkOpen();
        int[] ids = inputIds(text);
        int vocab = model.spec().vocabSize();
        float[] logits = forward(ids);
        int n = ids.length - 1;
        double[] logProbs = new double[n];
        double sum = 0;
        for (int t = 0; t < n; t++) {
            int row = t * vocab;
            double max = Double.NEGATIVE_INFINITY;
            for (int v = 0; v < vocab; v++) {
                max = Math.max(max, logits[row + v]);
            }
            double z = 0;
            for (int v = 0; v < vocab; v++) {
                z += Math.exp(logits[row + v] - max);
            }
            logProbs[t] = logits[row + ids[t + 1]] - max - Math.log(z);
            sum += logProbs[t];
        }
        double loss = -sum / n;
        return new Score(n, loss, Math.exp(loss), logProbs);
    }

    /**
     * The model's logits for {@code text}: row {@code i} holds the scores of every vocabulary id for the
     * token after input position {@code i}, where the input is BOS (when the tokenizer has one) followed
     * by the text's tokens.
     */
    public synchronized float[][] logits(String text) {
        checkOpen();
        int[] ids = inputIds(text);
        int vocab = model.spec().vocabSize();
        float[] flat = forward(ids);
        float[][] rows = new float[ids.length][];
        for (int i = 0; i < ids.length; i++) {
            rows[i] = java.util.Arrays.copyOfRange(flat, i * vocab, (i + 1) * vocab);
        }
        return rows;
    }

    private int[] inputIds(String text) {
        Objects.requireNonNull(text, "text");
        int[] tokens = engineTokenizer.encode(text);
        int bos = engineTokenizer.bosId();
        int[] ids = new int[tokens.length + (bos >= 0 ? 1 : 0)];
        if (bos >= 0) {
            ids[0] = bos;
        }
        System.arraycopy(tokens, 0, ids, ids.length - tokens.length, tokens.length);
        if (ids.length < 2) {
            throw new IllegalArgumentException("nothing to score in \"" + text + "\": it has " + tokens.length
                    + " token(s)" + (bos >= 0 ? "" : " and the tokenizer has no BOS to predict the first from"));
        }
        return ids;
    }

    /** Logits {@code [ids.length, vocab]}, flattened, for one sequence. */
    private float[] forward(int[] ids) {
        int n = ids.length;
        int[] positions = new int[n];
        for (int i = 0; i < n; i++) {
            positions[i] = i;
        }
        try (NoGrad ng = NoGrad.enter(); MemoryScope scope = MemoryScope.open()) {
            Tensor logits = model.forward(Tensor.ofInts(ids, n).to(device), Tensor.ofInts(positions, n).to(device),
                    Tensor.ofInts(new int[] {0, n}, 2).to(device)).data();
            return logits.toFloatArray();
        }
    }

    /** The tokenizer this model encodes and decodes with. */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** Size of the model's vocabulary (logits per position). */
    public int vocabSize() {
        return model.spec().vocabSize();
    }

    /** Number of weights. */
    public long parameterCount() {
        return model.parameterCount();
    }

    /** What kind of folder the model came from. */
    public Format format() {
        return format;
    }

    /** The folder the model came from (absolute). */
    public Path source() {
        return source;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the model loaded from " + source + " is closed");
        }
    }

    /** Frees the weights (and the tokenizer, unless the caller supplied it); later calls throw. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        weights.close();
        if (ownsTokenizer) {
            tokenizer.close();
        }
    }

    @Override
    public String toString() {
        return "InternLM[" + source + ", " + format + ", " + parameterCount() + " parameters, tokenizer "
                + tokenizer.name() + "]";
    }
}
