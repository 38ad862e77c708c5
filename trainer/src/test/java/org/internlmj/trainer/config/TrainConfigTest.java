package org.internlmj.trainer.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.internlmj.tensor.DType;
import org.junit.jupiter.api.Test;

class TrainConfigTest {
    static final Path CONFIGS = Path.of("..", "configs");

    private static final String MINIMAL = """
            model:
              num_attention_heads: 4
              hidden_size: 64
              num_layers: 2
              vocab_size: 300
              mlp_ratio: ${8 / 3}
            data:
              seq_len: 32
              micro_num: 2
              micro_bsz: 2
              total_steps: 10
            ckpt:
              enable_save_ckpt: false
            """;

    private static ConfigException error(String yaml, String... overrides) {
        return assertThrows(ConfigException.class, () -> TrainConfig.parse(yaml, List.of(overrides)));
    }

    @Test
    void sevenBMatchesInternLM() {
        TrainConfig c = TrainConfig.load(CONFIGS.resolve("7b.yaml"), List.of());
        assertEquals("7b_train", c.jobName());
        assertEquals(4096, c.model().hiddenSize());
        assertEquals(11008, c.model().mlpHidden());
        assertEquals(128, c.model().headDim());
        assertEquals(7_321_948_160L, c.model().parameterCount());
        assertEquals(DType.BF16, c.model().dtype());
        assertEquals(50000, c.lrScheduler().totalSteps());
        assertEquals(25, c.ckpt().ossSnapshotFreq());
        assertEquals(65536.0, c.gradScaler().initialScale());
        assertEquals(16777216.0, c.gradScaler().maxScale());
        assertEquals(512L * 1024 * 1024, c.hybridZero().reduceBucketSize());
        assertEquals("llm_ckpts", c.ckpt().saveCkptFolder());
        assertEquals("llm_ckpts/xxxx", c.ckpt().loadCkptInfo().path());
        assertEquals(0.95, c.beta2Scheduler().initBeta2());
        assertEquals(8, c.parallel().zero1());
        assertEquals(4096 * 8 / 3.0, c.model().hiddenSize() * c.model().mlpRatio(), 1e-9);
    }

    @Test
    void thirtyBMatchesInternLM() {
        TrainConfig c = TrainConfig.load(CONFIGS.resolve("30b.yaml"), List.of());
        assertEquals(16384, c.model().mlpHidden());
        assertEquals(60, c.model().numLayers());
        assertEquals(28_449_036_288L, c.model().parameterCount());
        assertEquals(8, c.parallel().tensor());
        assertEquals(2, c.parallel().pipeline());
        assertTrue(c.parallel().sequenceParallel());
        assertEquals("llm_ckpts/snapshot", c.ckpt().snapshotCkptFolder());
        assertEquals(1.0, c.model().checkpoint());
    }

    @Test
    void overridesApplyBeforeReferencesResolve() {
        TrainConfig c = TrainConfig.load(CONFIGS.resolve("7b.yaml"),
                List.of("SEQ_LEN=512", "data.total_steps=100", "model.dtype=torch.float32"));
        assertEquals(512, c.data().seqLen());
        assertEquals(100, c.lrScheduler().totalSteps());
        assertEquals(DType.F32, c.model().dtype());
    }

    @Test
    void unknownKeySuggestsTheNearest() {
        ConfigException e = error(MINIMAL.replace("num_layers:", "num_layer:"));
        assertTrue(e.getMessage().contains("unknown key 'model.num_layer'"), e.getMessage());
        assertTrue(e.getMessage().contains("did you mean 'model.num_layers'"), e.getMessage());
        ConfigException top = error(MINIMAL + "lr_schedular:\n  total_steps: 3\n");
        assertTrue(top.getMessage().contains("did you mean 'lr_scheduler'"), top.getMessage());
        ConfigException set = error(MINIMAL, "adam.weight_decy=0.1");
        assertTrue(set.getMessage().contains("did you mean 'adam.weight_decay'"), set.getMessage());
    }

    @Test
    void wrongTypeNamesKeyValueAndExpectation() {
        ConfigException e = error(MINIMAL, "model.num_layers=two");
        assertTrue(e.getMessage().contains("model.num_layers"), e.getMessage());
        assertTrue(e.getMessage().contains("\"two\""), e.getMessage());
        assertTrue(e.getMessage().contains("expected an integer"), e.getMessage());
        ConfigException b = error(MINIMAL, "data.pack_sample_into_one=3");
        assertTrue(b.getMessage().contains("data.pack_sample_into_one: expected true or false"), b.getMessage());
    }

    @Test
    void outOfRangeValues() {
        ConfigException e = error(MINIMAL, "adam.adam_beta1=1.5");
        assertTrue(e.getMessage().contains("adam.adam_beta1 = 1.5"), e.getMessage());
        ConfigException c = error(MINIMAL, "model.checkpoint=1.5");
        assertTrue(c.getMessage().contains("model.checkpoint"), c.getMessage());
        ConfigException d = error(MINIMAL, "model.dtype=torch.int8");
        assertTrue(d.getMessage().contains("model.dtype"), d.getMessage());
    }

    @Test
    void inconsistentSettings() {
        ConfigException heads = error(MINIMAL, "model.num_attention_heads=5");
        assertTrue(heads.getMessage().contains("not divisible by model.num_attention_heads = 5"), heads.getMessage());
        ConfigException tp = error(MINIMAL, "parallel.tensor=8");
        assertTrue(tp.getMessage().contains("model.num_attention_heads = 4 is not divisible by parallel.tensor = 8"),
                tp.getMessage());
        // hidden 64 and MLP 256 split 4 ways, 4 heads too: the vocabulary of 300 does not
        ConfigException vocab = error(MINIMAL, "parallel.tensor=8", "model.num_attention_heads=8");
        assertTrue(vocab.getMessage().contains("model.vocab_size = 300 is not divisible by parallel.tensor = 8"),
                vocab.getMessage());
        ConfigException mlp = error(MINIMAL, "parallel.tensor=3", "model.num_attention_heads=3", "model.hidden_size=48",
                "model.vocab_size=303");
        assertTrue(mlp.getMessage().contains("MLP hidden size 256") && mlp.getMessage().contains("parallel.tensor = 3"),
                mlp.getMessage());
        ConfigException sp = error(MINIMAL, "parallel.tensor=4", "parallel.sequence_parallel=True", "data.seq_len=7",
                "model.vocab_size=304");
        assertTrue(sp.getMessage().contains("14 tokens over parallel.tensor = 4"), sp.getMessage());
        TrainConfig ok = TrainConfig.parse(MINIMAL, List.of("parallel.tensor=4", "parallel.sequence_parallel=True",
                "model.vocab_size=304"));
        assertTrue(ok.parallel().sequenceParallel());
        ConfigException chunks = error(MINIMAL, "model.num_chunks=2");
        assertTrue(chunks.getMessage().contains("pipeline"), chunks.getMessage());
        ConfigException pp = error(MINIMAL, "parallel.pipeline.size=3");
        assertTrue(pp.getMessage().contains("fewer than parallel.pipeline.size"), pp.getMessage());
    }

    @Test
    void referencesAndExpressions() {
        TrainConfig c = TrainConfig.parse("""
                N: 6
                model: {num_attention_heads: 2, hidden_size: "${2**N}", num_layers: "${N // 4}", vocab_size: 300}
                data: {seq_len: 16, total_steps: "${10 * (N - 1)}"}
                ckpt: {enable_save_ckpt: false, save_ckpt_folder: "local:/tmp/x", snapshot_ckpt_folder: "${ckpt.save_ckpt_folder}/snap"}
                """, List.of());
        assertEquals(64, c.model().hiddenSize());
        assertEquals(1, c.model().numLayers());
        assertEquals(50, c.data().totalSteps());
        assertEquals("/tmp/x", c.ckpt().saveCkptFolder());
        assertEquals("local:/tmp/x/snap".substring(6), c.ckpt().snapshotCkptFolder());
        ConfigException cycle = error("A: ${B}\nB: ${A}\n" + MINIMAL);
        assertTrue(cycle.getMessage().contains("circular"), cycle.getMessage());
        ConfigException missing = error(MINIMAL.replace("total_steps: 10", "total_steps: ${TOTAL}"));
        assertTrue(missing.getMessage().contains("${TOTAL}"), missing.getMessage());
    }

    @Test
    void invalidYamlNamesTheLine() {
        ConfigException e = error("model:\n  hidden_size: [1, 2\n");
        assertTrue(e.getMessage().contains("not valid YAML"), e.getMessage());
        assertTrue(e.getMessage().contains("line"), e.getMessage());
    }

    @Test
    void defaultsFollowInternLM() {
        TrainConfig c = TrainConfig.parse(MINIMAL, List.of());
        assertEquals(2, c.data().validMicroNum());
        assertEquals(DType.F16, c.model().dtype());
        assertEquals(0.0, c.model().checkpoint());
        assertNull(c.data().trainFolder());
        assertEquals(1024, c.engine().seed());
        assertEquals(-1, c.parallel().zero1());
    }

    @Test
    void parallelSectionBothSpellings() {
        TrainConfig a = TrainConfig.parse(MINIMAL + "parallel: {zero1: {size: 2, fsdp: false}, tensor: {size: 2, mode: mtp}, pipeline: 2}\n",
                List.of());
        assertEquals(2, a.parallel().zero1());
        assertEquals(2, a.parallel().tensor());
        assertEquals(2, a.parallel().pipeline());
        assertEquals(2, a.parallel().dataParallel(8));
        ConfigException e = assertThrows(ConfigException.class, () -> a.parallel().dataParallel(6));
        assertTrue(e.getMessage().contains("world size 6"), e.getMessage());
    }

    @Test
    void duplicateKeysAreErrors() {
        ConfigException e = error(MINIMAL + "data:\n  seq_len: 64\n");
        assertTrue(e.getMessage().contains("data") && e.getMessage().toLowerCase().contains("duplicate"), e.getMessage());
    }
}
