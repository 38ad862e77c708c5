package org.internlmj.trainer.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A HuggingFace {@code tokenizer.json} through DJL's tokenizers binding (which bundles the Rust
 * library). Truncation is off (DJL truncates to 512 tokens by default), special tokens are not added
 * by the tokenizer (BOS/EOS are added by whoever builds documents), and DJL is kept offline (by default
 * it probes the network and may try to download a CUDA build of its native library).
 */
public final class HfTokenizer implements Tokenizer {
    private static final String[] BOS = {"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"};
    private static final String[] EOS = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "<|im_end|>"};

    private final HuggingFaceTokenizer tokenizer;
    private final Path path;
    private final int vocab;
    private final int bos;
    private final int eos;

    private HfTokenizer(HuggingFaceTokenizer tokenizer, Path path) {
        this.tokenizer = tokenizer;
        this.path = path;
        this.bos = firstPresent(BOS);
        this.eos = firstPresent(EOS);
        this.vocab = vocabularySize(path);
    }

    static HfTokenizer open(Path file) {
        if (System.getProperty("ai.djl.offline") == null && System.getenv("DJL_OFFLINE") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        if (System.getProperty("RUST_FLAVOR") == null && System.getenv("RUST_FLAVOR") == null) {
            System.setProperty("RUST_FLAVOR", "cpu");
        }
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
            return new HfTokenizer(t, file);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot load HuggingFace tokenizer " + file + ": " + e.getMessage(), e);
        }
    }

    private int firstPresent(String[] candidates) {
        for (String c : candidates) {
            Encoding e = tokenizer.encode(c, false, false);
            long[] ids = e.getIds();
            if (ids.length == 1 && tokenizer.decode(ids, false).equals(c)) {
                return (int) ids[0];
            }
        }
        return -1;
    }

    /** Largest id in the tokenizer.json's model vocabulary and added tokens, plus one. */
    private static int vocabularySize(Path file) {
        try {
            JsonNode root = new ObjectMapper().readTree(file.toFile());
            int max = -1;
            JsonNode v = root.path("model").path("vocab");
            if (v.isObject()) {
                for (JsonNode id : v) {
                    max = Math.max(max, id.asInt());
                }
            } else if (v.isArray()) {
                max = v.size() - 1; // Unigram: [[piece, score], ...], id = index
            }
            for (JsonNode t : root.path("added_tokens")) {
                max = Math.max(max, t.path("id").asInt());
            }
            if (max < 0) {
                throw new IllegalArgumentException("cannot load HuggingFace tokenizer " + file
                        + ": no model.vocab or added_tokens found");
            }
            return max + 1;
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read HuggingFace tokenizer " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            l[i] = ids[i];
        }
        return tokenizer.decode(l, true);
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    @Override
    public int bosId() {
        return bos;
    }

    @Override
    public int eosId() {
        return eos;
    }

    @Override
    public String name() {
        return path.toString();
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
