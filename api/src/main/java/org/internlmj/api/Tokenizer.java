package org.internlmj.api;

import java.nio.file.Path;

/**
 * Text to token ids and back. Two implementations come with the library: the byte-level tokenizer
 * (each UTF-8 byte is one token; the demo models use it) and HuggingFace {@code tokenizer.json} files
 * (through DJL's binding of the Rust tokenizers library, offline). Applications may implement their own
 * and pass it to {@link LoadOptions#withTokenizer}.
 *
 * <pre>{@code
 * try (Tokenizer t = Tokenizer.byteLevel()) {
 *     int[] ids = t.encode("héllo");          // 6 ids: one per UTF-8 byte
 *     System.out.println(t.decode(ids));       // héllo
 * }
 * }</pre>
 */
public interface Tokenizer extends AutoCloseable {

    /** Token ids of {@code text}, without BOS or EOS. */
    int[] encode(String text);

    /** The text of {@code ids}; special ids (padding, BOS, EOS) are dropped. */
    String decode(int[] ids);

    /** The smallest model vocabulary that holds every id this tokenizer produces. */
    int vocabSize();

    /** The beginning-of-sequence id, or -1 if there is none. */
    int bosId();

    /** The end-of-sequence id (generation stops there), or -1 if there is none. */
    int eosId();

    /** {@code "byte"} or the path of the {@code tokenizer.json}. */
    String name();

    /** Frees native resources (the HuggingFace tokenizer's); the default does nothing. */
    @Override
    default void close() {
    }

    /** The byte-level tokenizer: ids 0, 1, 2 are padding, BOS and EOS, byte {@code b} is id {@code b + 3}; 259 ids. */
    static Tokenizer byteLevel() {
        return new LibraryTokenizer(new org.internlmj.trainer.tokenizer.ByteTokenizer());
    }

    /**
     * A HuggingFace tokenizer: {@code path} is a {@code tokenizer.json} or a folder holding one.
     *
     * @throws IllegalArgumentException if there is no such file or it cannot be loaded
     */
    static Tokenizer huggingFace(Path path) {
        return new LibraryTokenizer(org.internlmj.trainer.tokenizer.Tokenizer.load(path.toString()));
    }
}
