package org.internlmj.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.internlmj.trainer.data.Prepare;
import org.internlmj.trainer.tokenizer.ByteTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainCommandTest {
    @TempDir
    Path dir;

    @Test
    void trainThenGenerateFromTheCheckpoint() throws IOException {
        Path text = dir.resolve("t.txt");
        Files.writeString(text, "abcabcabc ".repeat(200));
        Prepare.run(List.of(text), dir.resolve("data"), new ByteTokenizer(), 0.0, "text", "d", false, n -> { });
        Path config = dir.resolve("c.yaml");
        Files.writeString(config, """
                model: {num_attention_heads: 2, hidden_size: 16, num_layers: 1, vocab_size: 259, dtype: "torch.float32"}
                data: {seq_len: 16, micro_num: 1, micro_bsz: 2, total_steps: 3}
                ckpt: {enable_save_ckpt: true, checkpoint_every: 100, auto_resume: false}
                internlmj: {sample_prompt: "abc", sample_tokens: 5}
                """);
        MainTest.Result r = MainTest.run("train", config.toString(),
                "--set", "data.train_folder=" + dir.resolve("data/train"),
                "--set", "ckpt.save_ckpt_folder=" + dir.resolve("ckpt"),
                "--set", "internlmj.run_dir=" + dir.resolve("run"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.out().contains("step 2/3 | loss"), r.out());
        assertTrue(r.out().contains("sample (5 tokens"), r.out());
        assertTrue(Files.isRegularFile(dir.resolve("ckpt/3/meta.json")));
        MainTest.Result g = MainTest.run("generate", "--ckpt", dir.resolve("ckpt/3").toString(), "--prompt", "ab",
                "--max-tokens", "4", "--temperature", "0");
        assertEquals(0, g.code(), g.err());
        assertTrue(g.out().startsWith("ab"), g.out());
    }

    @Test
    void configErrorsAreReportedWithoutAStackTrace() throws IOException {
        Path config = dir.resolve("bad.yaml");
        Files.writeString(config, "model: {num_attention_heads: 2, hidden_size: 16, num_layrs: 1, vocab_size: 259}\n");
        MainTest.Result r = MainTest.run("train", config.toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("did you mean 'model.num_layers'"), r.err());
        assertTrue(!r.err().contains("\tat "), r.err());
        MainTest.Result missing = MainTest.run("train", dir.resolve("nope.yaml").toString());
        assertTrue(missing.err().contains("nope.yaml does not exist"), missing.err());
        MainTest.Result ckpt = MainTest.run("generate", "--ckpt", dir.toString(), "--prompt", "x");
        assertTrue(ckpt.err().contains("meta.json") && ckpt.err().contains("missing"), ckpt.err());
    }
}
