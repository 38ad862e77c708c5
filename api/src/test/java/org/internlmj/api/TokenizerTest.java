package org.internlmj.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerTest {
    /** A five-word WordLevel vocabulary with InternLM's special-token ids. */
    static final String WORD_LEVEL = """
            {"version": "1.0", "truncation": null, "padding": null,
             "added_tokens": [{"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                              {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                              {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
             "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
             "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
             "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "hello": 3, "world": 4}, "unk_token": "<unk>"}}
            """;

    @TempDir
    Path dir;

    @Test
    void byteLevelRoundTripsEveryCharacter() {
        try (Tokenizer t = Tokenizer.byteLevel()) {
            String text = "héllo, 世界 🌍";
            int[] ids = t.encode(text);
            assertEquals(text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, ids.length);
            assertEquals(text, t.decode(ids));
            assertEquals(259, t.vocabSize());
            assertEquals(1, t.bosId());
            assertEquals(2, t.eosId());
            assertEquals("byte", t.name());
            assertEquals("hi", t.decode(new int[] {1, 'h' + 3, 0, 'i' + 3, 2}), "special ids are dropped");
        }
    }

    @Test
    void huggingFaceFileOrFolder() throws Exception {
        Path json = dir.resolve("tokenizer.json");
        Files.writeString(json, WORD_LEVEL);
        for (Path p : new Path[] {json, dir}) {
            try (Tokenizer t = Tokenizer.huggingFace(p)) {
                assertArrayEquals(new int[] {3, 4, 0}, t.encode("hello world other"));
                assertEquals("hello world", t.decode(new int[] {1, 3, 4, 2}));
                assertEquals(5, t.vocabSize());
                assertEquals(1, t.bosId());
                assertEquals(2, t.eosId());
                assertEquals(json.toString(), t.name());
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tokenizer.huggingFace(dir.resolve("none.json")));
        assertTrue(e.getMessage().contains("none.json"), e.getMessage());
    }
}
