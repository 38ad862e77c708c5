package org.internlmj.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.autograd.F;
import org.internlmj.autograd.NoGrad;
import org.internlmj.autograd.Reduction;
import org.internlmj.nn.InternLMModel;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.ckpt.CheckpointStore;
import org.internlmj.trainer.ckpt.HfCheckpoint;
import org.internlmj.trainer.ckpt.SafeTensors;
import org.internlmj.trainer.config.ConfigTree;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.generate.TextGenerator;
import org.internlmj.trainer.tokenizer.ByteTokenizer;
import org.internlmj.trainer.train.ModelFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InternLMTest {
    @TempDir
    static Path dir;
    static Path checkpoint;
    static Path hf;

    @BeforeAll
    static void trainAndExport() throws IOException {
        TrainingData data = Tiny.data(dir);
        try (Trainer t = Trainer.builder(Tiny.config(dir, data).totalSteps(3).build()).baseDirectory(dir).build()) {
            checkpoint = t.fit().checkpoint();
        }
        hf = dir.resolve("hf");
        CheckpointStore.Loaded c = CheckpointStore.open(checkpoint);
        TrainConfig cfg = TrainConfig.from(ConfigTree.parse(c.config().toString(), "meta", List.of()));
        try (SafeTensors.Reader r = SafeTensors.open(checkpoint.resolve(CheckpointStore.MODEL_FILE))) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            for (String k : r.entries().keySet()) {
                w.put(k, r.read(k));
            }
            HfCheckpoint.export(w, cfg.model(), hf, 1L << 30);
        }
    }

    /** The engine's model with the checkpoint's weights, for reference values. */
    private static InternLMModel engineModel() throws IOException {
        CheckpointStore.Loaded c = CheckpointStore.open(checkpoint);
        TrainConfig cfg = TrainConfig.from(ConfigTree.parse(c.config().toString(), "meta", List.of()));
        InternLMModel m = new InternLMModel(ModelFactory.spec(cfg.model()), Device.CPU);
        CheckpointStore.loadModel(c, m);
        return m;
    }

    @Test
    void scoreIsTheTrainingLossOfTheText() throws IOException {
        String text = "the lazy dog jumps";
        InternLMModel m = engineModel();
        int[] body = new ByteTokenizer().encode(text);
        int n = body.length + 1;
        int[] ids = new int[n];
        int[] pos = new int[n];
        int[] labels = new int[n];
        ids[0] = 1; // BOS
        System.arraycopy(body, 0, ids, 1, body.length);
        for (int i = 0; i < n; i++) {
            pos[i] = i;
            labels[i] = i + 1 < n ? ids[i + 1] : -100;
        }
        double expected;
        try (NoGrad ng = NoGrad.enter()) {
            expected = F.crossEntropy(m.forward(Tensor.ofInts(ids, n), Tensor.ofInts(pos, n), Tensor.ofInts(new int[] {0, n}, 2)),
                    Tensor.ofInts(labels, n), -100, 0.0, Reduction.MEAN).data().item();
        }
        try (InternLM lm = InternLM.load(checkpoint)) {
            assertEquals(InternLM.Format.NATIVE, lm.format());
            Score s = lm.score(text);
            assertEquals(body.length, s.tokens());
            assertEquals(expected, s.loss(), 1e-5);
            assertEquals(Math.exp(s.loss()), s.perplexity(), 1e-9);
            double sum = 0;
            for (double lp : s.tokenLogProbs()) {
                assertTrue(lp < 0);
                sum += lp;
            }
            assertEquals(-s.loss() * s.tokens(), sum, 1e-9);
            float[][] logits = lm.logits(text);
            assertEquals(n, logits.length);
            assertEquals(259, logits[0].length);
            assertTrue(lm.score("the quick brown fox jumps over the lazy dog").loss()
                    < lm.score("zq xv jj kkqz wvvx qqzj").loss(), "trained text is likelier than noise");
        }
    }

    @Test
    void huggingFaceFolderGivesTheSameModel() throws IOException {
        try (InternLM nat = InternLM.load(checkpoint); InternLM h = InternLM.load(hf)) {
            assertEquals(InternLM.Format.HUGGINGFACE, h.format());
            assertEquals("byte", h.tokenizer().name(), "259 ids and no tokenizer.json: the byte-level tokenizer");
            assertEquals(nat.parameterCount(), h.parameterCount());
            float[][] a = nat.logits("fox");
            float[][] b = h.logits("fox");
            for (int i = 0; i < a.length; i++) {
                assertArrayEquals(a[i], b[i], 0f);
            }
            GenerationOptions greedy = GenerationOptions.defaults().withTemperature(0).withMaxTokens(12);
            assertEquals(nat.generate("the quick", greedy), h.generate("the quick", greedy));
        }
    }

    @Test
    void generationStreamsWhatItReturnsAndMatchesTheEngine() throws IOException {
        GenerationOptions o = GenerationOptions.defaults().withMaxTokens(20).withSeed(5);
        String expected = new TextGenerator(engineModel(), new ByteTokenizer(), Device.CPU)
                .generate("the ", new TextGenerator.Options(20, 0.8, 40, 1.0, 5), s -> { });
        try (InternLM lm = InternLM.load(checkpoint)) {
            List<String> pieces = new ArrayList<>();
            String text = lm.generate("the ", o, pieces::add);
            assertEquals(expected, text);
            assertEquals(text, String.join("", pieces));
            assertFalse(pieces.isEmpty());
            assertEquals(text, lm.generate("the ", o), "same seed, same text");
        }
    }

    @Test
    void aTokenizerOfTheApplicationIsUsed() throws IOException {
        // upper-cases on the way out: a visible trace that generation decoded through it
        Tokenizer shouting = new Tokenizer() {
            final Tokenizer bytes = Tokenizer.byteLevel();

            public int[] encode(String text) {
                return bytes.encode(text);
            }

            public String decode(int[] ids) {
                return bytes.decode(ids).toUpperCase(java.util.Locale.ROOT);
            }

            public int vocabSize() {
                return bytes.vocabSize();
            }

            public int bosId() {
                return bytes.bosId();
            }

            public int eosId() {
                return bytes.eosId();
            }

            public String name() {
                return "shouting";
            }
        };
        GenerationOptions greedy = GenerationOptions.defaults().withTemperature(0).withMaxTokens(10);
        try (InternLM plain = InternLM.load(checkpoint);
             InternLM custom = InternLM.load(checkpoint, LoadOptions.defaults().withTokenizer(shouting))) {
            assertEquals("shouting", custom.tokenizer().name());
            assertEquals(plain.generate("the ", greedy).toUpperCase(java.util.Locale.ROOT), custom.generate("the ", greedy));
        }
    }

    @Test
    void aTokenizerJsonBesideTheWeightsIsTheModelsTokenizer() throws IOException {
        Path copy = dir.resolve("with-tokenizer");
        try (var walk = Files.walk(checkpoint)) {
            for (Path p : walk.toList()) {
                Path target = copy.resolve(checkpoint.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
        Files.writeString(copy.resolve("tokenizer.json"), TokenizerTest.WORD_LEVEL);
        try (InternLM lm = InternLM.load(copy)) {
            assertEquals(copy.resolve("tokenizer.json").toString(), lm.tokenizer().name());
            assertEquals(2, lm.score("hello world").tokens(), "two words, two tokens");
        }
    }

    @Test
    void foldersThatAreNotModelsAreExplained() throws IOException {
        assertThrows(NoSuchFileException.class, () -> InternLM.load(dir.resolve("missing")));
        Path other = Files.createDirectories(dir.resolve("other"));
        Files.writeString(other.resolve("notes.txt"), "x");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InternLM.load(other));
        assertTrue(e.getMessage().contains("neither") && e.getMessage().contains("notes.txt"), e.getMessage());
        IllegalArgumentException runs = assertThrows(IllegalArgumentException.class,
                () -> InternLM.load(checkpoint.getParent()));
        assertTrue(runs.getMessage().contains("folder of checkpoints") && runs.getMessage().contains(checkpoint.toString()),
                runs.getMessage());
    }

    @Test
    void closedModelsRefuseWork() throws IOException {
        InternLM lm = InternLM.load(checkpoint);
        lm.close();
        lm.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> lm.score("fox"));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> lm.generate("fox", GenerationOptions.defaults()));
    }

    @Test
    void emptyTextHasNothingToScore() throws IOException {
        try (InternLM lm = InternLM.load(checkpoint)) {
            assertEquals(1, lm.score("a").tokens(), "with BOS a single byte is scored");
            assertThrows(IllegalArgumentException.class, () -> lm.score(""));
        }
    }
}
