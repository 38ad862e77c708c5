package org.internlmj.trainer.ckpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.internlmj.trainer.cli.MainTestAccess;
import org.internlmj.trainer.config.TrainConfig;
import org.internlmj.trainer.train.TinyRun;
import org.internlmj.trainer.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfCheckpointTest {
    @TempDir
    Path dir;

    @Test
    void exportImportRoundTripIsExactAndFollowsTheHfLayout() throws IOException {
        TinyRun.prepareData(dir);
        try (Trainer t = new Trainer(TrainConfig.parse(TinyRun.CONFIG, List.of("ckpt.auto_resume=false",
                "model.dtype=torch.bfloat16")), dir, s -> { })) {
            t.fit(2);
        }
        Path ck = dir.resolve("ckpt/2");
        Path hf = dir.resolve("hf");
        assertEquals(0, MainTestAccess.run("convert", "--ckpt", ck.toString(), "--to-hf", hf.toString(),
                "--max-shard-size", "4KB"));
        JsonNode index = new ObjectMapper().readTree(hf.resolve(HfCheckpoint.INDEX).toFile());
        String q = index.path("weight_map").path("model.layers.1.self_attn.q_proj.weight").asText();
        assertTrue(q.matches("model-000\\d\\d-of-000\\d\\d\\.safetensors"), q);
        JsonNode config = new ObjectMapper().readTree(hf.resolve("config.json").toFile());
        assertEquals(16, config.path("hidden_size").asInt());
        assertEquals(256, config.path("intermediate_size").asInt()); // InternLM rounds up to a multiple of 256
        assertEquals("bfloat16", config.path("torch_dtype").asText());
        assertTrue(config.path("bias").asBoolean());
        try (SafeTensors.Reader r = SafeTensors.open(hf.resolve(q))) {
            SafeTensors.Entry e = r.entries().get("model.layers.1.self_attn.q_proj.weight");
            assertArrayEquals(new int[] {16, 16}, e.shape());
            assertEquals("BF16", e.dtype().safetensorsName());
            // q is the first block of 16 rows of Wqkv
            try (SafeTensors.Reader n = SafeTensors.open(ck.resolve(CheckpointStore.MODEL_FILE))) {
                assertArrayEquals(n.read("blocks.1.mixer.Wqkv.weight").narrow(0, 0, 16).toFloatArray(),
                        r.read("model.layers.1.self_attn.q_proj.weight").toFloatArray());
            }
        }
        Path back = dir.resolve("back");
        assertEquals(0, MainTestAccess.run("convert", "--from-hf", hf.toString(), "--to", back.toString()));
        try (SafeTensors.Reader a = SafeTensors.open(ck.resolve(CheckpointStore.MODEL_FILE));
             SafeTensors.Reader b = SafeTensors.open(back.resolve(CheckpointStore.MODEL_FILE))) {
            assertEquals(a.entries().keySet(), b.entries().keySet());
            for (String k : a.entries().keySet()) {
                assertArrayEquals(a.read(k).toFloatArray(), b.read(k).toFloatArray(), k);
                assertEquals(a.entries().get(k).dtype(), b.entries().get(k).dtype(), k);
            }
        }
        // a HF folder as initial weights of a training run (ckpt_type hf)
        List<String> console = new java.util.ArrayList<>();
        try (Trainer t = new Trainer(TrainConfig.parse(TinyRun.CONFIG, List.of("ckpt.auto_resume=false",
                "model.dtype=torch.bfloat16", "ckpt.save_ckpt_folder=ckpt2",
                "ckpt.load_ckpt_info={path: hf, content: [model], ckpt_type: hf}")), dir, console::add)) {
            try (SafeTensors.Reader a = SafeTensors.open(ck.resolve(CheckpointStore.MODEL_FILE))) {
                assertArrayEquals(a.read("norm.weight").toFloatArray(),
                        t.model().namedParameters().get("norm.weight").data().toFloatArray());
            }
        }
        assertTrue(console.get(0).contains("HuggingFace"), console.toString());
    }

    @Test
    void extraOrMissingTensorsAreNamed() throws IOException {
        TinyRun.prepareData(dir);
        try (Trainer t = new Trainer(TrainConfig.parse(TinyRun.CONFIG, List.of("ckpt.auto_resume=false")), dir, s -> { })) {
            t.fit(1);
        }
        Path hf = dir.resolve("hf");
        MainTestAccess.run("convert", "--ckpt", dir.resolve("ckpt/1").toString(), "--to-hf", hf.toString());
        CheckpointException e = org.junit.jupiter.api.Assertions.assertThrows(CheckpointException.class,
                () -> HfCheckpoint.read(hf, 1, 16));
        assertTrue(e.getMessage().contains("model.layers.1"), e.getMessage());
    }
}
