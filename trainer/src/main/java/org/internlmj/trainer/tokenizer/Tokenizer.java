package org.internlmj.trainer.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Text to token ids and back.
 *
 * <pre>{@code
 * try (Tokenizer t = Tokenizer.load("byte")) {
 *     int[] ids = t.encode("hello");
 *     String text = t.decode(ids);
 * }
 * }</pre>
 */
public interface Tokenizer extends AutoCloseable {

    /** Token ids of {@code text}, without BOS/EOS. */
    int[] encode(String text);

    /** Text of {@code ids}; special ids (pad, BOS, EOS) are dropped. */
    String decode(int[] ids);

    /** Smallest model vocabulary that holds every id this tokenizer produces. */
    int vocabSize();

    /** Beginning-of-sequence id, or -1 if the tokenizer has none. */
    int bosId();

    /** End-of-sequence id, or -1 if the tokenizer has none. */
    int eosId();

    /** "byte" or the tokenizer.json path. */
    String name();

    @Override
    default void close() {
    }

    /** {@code "byte"} for the built-in byte-level tokenizer, else the path of a HuggingFace tokenizer.json. */
    static Tokenizer load(String spec) {
        if (spec == null || spec.equals("byte")) {
            return new ByteTokenizer();
        }
        Path p = Path.of(spec);
        if (Files.isDirectory(p)) {
            p = p.resolve("tokenizer.json");
        }
        if (!Files.isRegularFile(p)) {
            throw new IllegalArgumentException("tokenizer '" + spec + "': expected \"byte\" or the path of a HuggingFace "
                    + "tokenizer.json (or a folder holding one); " + p + " does not exist");
        }
        return HfTokenizer.open(p);
    }
}
