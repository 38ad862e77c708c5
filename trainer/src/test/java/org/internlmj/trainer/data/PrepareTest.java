package org.internlmj.trainer.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.internlmj.trainer.tokenizer.ByteTokenizer;
import org.internlmj.trainer.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrepareTest {
    @TempDir
    Path dir;

    @Test
    void textAndJsonlBecomeTokenizedSplits() throws IOException {
        Files.writeString(dir.resolve("a.txt"), "héllo");
        Files.writeString(dir.resolve("b.jsonl"), "{\"text\": \"one\"}\n\n{\"text\": \"two\", \"meta\": 1}\n");
        Files.write(dir.resolve("c.bin"), new byte[] {1, 0, 2});
        Path out = dir.resolve("out");
        Prepare.Result r = Prepare.run(Prepare.expand(List.of("a.txt", "b.jsonl", "c.bin"), dir), out, new ByteTokenizer(),
                0.0, "text", "data", false, n -> { });
        assertEquals(3, r.trainDocuments());
        assertEquals(0, r.validDocuments());
        assertEquals(1, r.skippedFiles());
        try (TokenizedFile f = TokenizedFile.open(out.resolve("train/data.bin"))) {
            int[] first = f.document(0);
            assertEquals(1, first[0]);
            assertEquals(2, first[first.length - 1]);
            assertEquals("héllo", new ByteTokenizer().decode(first));
            assertArrayEquals(new int[] {1, 'o' + 3, 'n' + 3, 'e' + 3, 2}, f.document(1));
        }
        IllegalArgumentException exists = assertThrows(IllegalArgumentException.class, () -> Prepare.run(
                List.of(dir.resolve("a.txt")), out, new ByteTokenizer(), 0, "text", "data", false, n -> { }));
        assertTrue(exists.getMessage().contains("already exists"), exists.getMessage());
        Prepare.run(List.of(dir.resolve("a.txt")), out, new ByteTokenizer(), 0, "text", "data", true, n -> { });
        try (TokenizedFile f = TokenizedFile.open(out.resolve("train/data.bin"))) {
            assertEquals(1, f.documents());
        }
        try (var s = Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().contains(".partial-")
                    || p.getFileName().toString().contains(".old-")));
        }
    }

    @Test
    void badJsonlNamesFileAndLine() throws IOException {
        Files.writeString(dir.resolve("bad.jsonl"), "{\"text\": \"ok\"}\n{\"body\": \"x\"}\n");
        DataFormatException e = assertThrows(DataFormatException.class, () -> Prepare.run(
                List.of(dir.resolve("bad.jsonl")), dir.resolve("o"), new ByteTokenizer(), 0, "text", "d", false, n -> { }));
        assertTrue(e.getMessage().contains("bad.jsonl") && e.getMessage().contains("line 2"), e.getMessage());
        assertTrue(Files.notExists(dir.resolve("o")));
    }

    @Test
    void validationSplitIsStable() throws IOException {
        StringBuilder jsonl = new StringBuilder();
        for (int i = 0; i < 400; i++) {
            jsonl.append("{\"text\": \"document ").append(i).append("\"}\n");
        }
        Files.writeString(dir.resolve("many.jsonl"), jsonl);
        Prepare.Result a = Prepare.run(List.of(dir.resolve("many.jsonl")), dir.resolve("x"), new ByteTokenizer(), 0.1,
                "text", "d", false, n -> { });
        Prepare.Result b = Prepare.run(List.of(dir.resolve("many.jsonl")), dir.resolve("y"), new ByteTokenizer(), 0.1,
                "text", "d", false, n -> { });
        assertEquals(a.validDocuments(), b.validDocuments());
        assertTrue(a.validDocuments() > 15 && a.validDocuments() < 70, "about 10% held out: " + a.validDocuments());
    }

    @Test
    void huggingFaceTokenizerThroughDjl() throws IOException {
        Path json = dir.resolve("tokenizer.json");
        Files.writeString(json, """
                {"version": "1.0", "truncation": null, "padding": null,
                 "added_tokens": [{"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                                  {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                                  {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
                 "normalizer": null,
                 "pre_tokenizer": {"type": "Whitespace"},
                 "post_processor": null,
                 "decoder": null,
                 "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "hello": 3, "world": 4}, "unk_token": "<unk>"}}
                """);
        try (Tokenizer t = Tokenizer.load(json.toString())) {
            assertArrayEquals(new int[] {3, 4, 0}, t.encode("hello world other"));
            assertEquals(1, t.bosId());
            assertEquals(2, t.eosId());
            assertEquals(5, t.vocabSize());
        }
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> Tokenizer.load(dir.resolve("nope.json").toString()));
        assertTrue(missing.getMessage().contains("nope.json"), missing.getMessage());
    }
}
