package org.internlmj.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.internlmj.api.InternLM;
import org.internlmj.api.TrainingData;
import org.internlmj.api.Tokenizer;
import org.internlmj.api.Trainer;
import org.internlmj.api.Config;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the application of docs/embedding.md and checks that the document shows its code as it is. */
class FineTuneExampleTest {
    private static final Path DEMO = Path.of("../configs/demo.yaml");

    @TempDir
    Path dir;

    @Test
    void fineTunesSavesReloadsAndGenerates() throws Exception {
        // a "pretrained" base: the demo architecture after a few steps on other text
        Path pretrain = dir.resolve("pretrain");
        TrainingData other = TrainingData.prepare(List.of("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(4),
                "Sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ".repeat(4)),
                pretrain.resolve("data"), Tokenizer.byteLevel(), 0.0);
        Path base;
        try (Trainer t = Trainer.create(Config.fromFile(DEMO).toBuilder().data(other, 0).seqLen(64).microBsz(4)
                .totalSteps(3).saveCkptFolder(pretrain.resolve("ckpt")).runDir(pretrain.resolve("run")).tensorboard(false)
                .build())) {
            base = t.fit().checkpoint();
        }

        Path work = dir.resolve("work");
        FineTuneExample.Outcome o = FineTuneExample.run(DEMO, work, base);

        assertEquals(8, o.losses().size());
        assertEquals(8, o.result().steps());
        assertTrue(o.losses().get(7) < o.losses().get(0) - 0.5, "fine-tuning lowers the loss: " + o.losses());
        assertEquals(work.resolve("ckpt/8").toAbsolutePath(), o.result().checkpoint().toAbsolutePath());
        assertFalse(o.generated().isEmpty());
        assertEquals(o.generated(), String.join("", o.streamed()), "the callback saw the text as returned");

        // the fine-tuned weights predict the lines better than the base they started from
        String line = "Checkpoints are written atomically and resume exactly.";
        try (InternLM before = InternLM.load(base); InternLM after = InternLM.load(o.result().checkpoint())) {
            double pBefore = before.score(line).perplexity();
            double pAfter = after.score(line).perplexity();
            assertTrue(pAfter < 0.7 * pBefore, "perplexity on a training line: base " + pBefore + ", fine-tuned " + pAfter);
        }
    }

    @Test
    void theDocumentShowsTheExampleAsItIs() throws Exception {
        String source = Files.readString(Path.of("src/test/java/org/internlmj/example/FineTuneExample.java"));
        String[] parts = source.split("    // \\[example]\n");
        assertEquals(3, parts.length, "two [example] markers");
        String doc = Files.readString(Path.of("../docs/embedding.md"));
        assertTrue(doc.contains(parts[1]), "docs/embedding.md must contain the example's code between the "
                + "[example] markers of FineTuneExample.java, verbatim");
    }
}
