package org.internlmj.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigTest {
    @TempDir
    Path dir;

    @Test
    void builderSetsTheKeysItsMethodsName() {
        Config c = Config.builder().hiddenSize(64).numLayers(3).numAttentionHeads(4).vocabSize(259).dtype("bfloat16")
                .seqLen(32).microBsz(2).microNum(3).totalSteps(11).lr(2e-3).trainFolder(Path.of("d/train"))
                .saveCkptFolder(Path.of("ck")).device("cpu").tokenizer("byte").set("lr_scheduler.warmup_ratio", 0.25)
                .build();
        assertEquals(64, c.get("model.hidden_size"));
        assertEquals(3, c.get("model.num_layers"));
        assertEquals("torch.bfloat16", c.get("model.dtype"));
        assertEquals(11, c.get("data.total_steps"));
        assertEquals(2e-3, c.get("adam.lr"));
        assertEquals("d/train", c.get("data.train_folder"));
        assertEquals(true, c.get("ckpt.enable_save_ckpt"));
        assertEquals(0.25, c.get("lr_scheduler.warmup_ratio"));
        assertNull(c.get("data.valid_folder"));
        assertEquals(11, c.internal().lrScheduler().totalSteps(), "lr_scheduler.total_steps follows data.total_steps");
    }

    @Test
    void aFreshBuilderSavesNothingUntilAFolderIsSet() {
        Config c = Config.builder().hiddenSize(32).numLayers(1).numAttentionHeads(2).vocabSize(259).build();
        assertEquals(false, c.internal().ckpt().enableSaveCkpt());
        assertEquals(2048, c.internal().data().seqLen(), "InternLM's default");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Config.builder().build());
        assertTrue(e.getMessage().contains("model."), e.getMessage());
    }

    private static Config.Builder shaped() {
        return Config.builder().hiddenSize(32).numLayers(1).numAttentionHeads(2).vocabSize(259);
    }

    @Test
    void mistakesNameTheKeyAndSuggestTheNearestOne() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> shaped().set("model.hiden_size", 64).build());
        assertTrue(e.getMessage().contains("hiden_size") && e.getMessage().contains("hidden_size"), e.getMessage());
        IllegalArgumentException t = assertThrows(IllegalArgumentException.class,
                () -> shaped().set("data.seq_len", "long").build());
        assertTrue(t.getMessage().contains("seq_len"), t.getMessage());
        IllegalArgumentException s = assertThrows(IllegalArgumentException.class,
                () -> Config.builder().set("data.seq_len", 8).set("data.seq_len.x", 1));
        assertTrue(s.getMessage().contains("data.seq_len is a value"), s.getMessage());
    }

    @Test
    void fileYamlWithAndToYamlAgree() throws Exception {
        Path file = dir.resolve("c.yaml");
        Files.writeString(file, """
                SEQ: 64
                model: {hidden_size: 32, num_layers: 2, num_attention_heads: 2, vocab_size: 259, dtype: "torch.float32"}
                data: {seq_len: "${SEQ}", total_steps: 5}
                ckpt: {enable_save_ckpt: false}
                """);
        Config c = Config.fromFile(file);
        assertEquals(64, ((Number) c.get("data.seq_len")).intValue(), "references are resolved");
        Config changed = c.with("data.total_steps", 9).with("internlmj.run_dir", dir.resolve("r"));
        assertEquals(5, c.get("data.total_steps"), "with() leaves the original alone");
        assertEquals(9, changed.get("data.total_steps"));
        assertEquals(dir.resolve("r").toString(), changed.get("internlmj.run_dir"));
        Config again = Config.fromYaml(changed.toYaml());
        assertEquals(changed.toYaml(), again.toYaml());
        assertEquals(64, ((Number) again.get("data.seq_len")).intValue());
        assertTrue(again.toYaml().contains("${SEQ}"), "references survive as written:\n" + again.toYaml());
        assertEquals(Map.of("hidden_size", 32, "num_layers", 2, "num_attention_heads", 2, "vocab_size", 259,
                "dtype", "torch.float32"), again.get("model"));
        Config lists = shaped().set("internlmj.auto_prepare.sources", List.of(Path.of("a.txt"), "b/*.md"))
                .trainFolder(Path.of("p/train")).build();
        assertEquals(List.of("a.txt", "b/*.md"), lists.get("internlmj.auto_prepare.sources"));
    }

    @Test
    void missingFileIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Config.fromFile(dir.resolve("none.yaml")));
        assertTrue(e.getMessage().contains("none.yaml"), e.getMessage());
    }
}
