package org.internlmj.trainer.tokenizer;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Byte-level tokenizer: each UTF-8 byte b is id {@code b + 3}; ids 0, 1, 2 are pad, BOS and EOS, the
 * ids InternLM's tokenizer uses for them, so BOS/EOS handling is the same as with the real vocabulary.
 * Vocabulary size 259.
 */
public final class ByteTokenizer implements Tokenizer {
    public static final int OFFSET = 3;
    public static final int VOCAB = 256 + OFFSET;

    @Override
    public int[] encode(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            ids[i] = (b[i] & 0xff) + OFFSET;
        }
        return ids;
    }

    @Override
    public String decode(int[] ids) {
        ByteBuffer buf = ByteBuffer.allocate(ids.length);
        for (int id : ids) {
            if (id >= OFFSET && id < VOCAB) {
                buf.put((byte) (id - OFFSET));
            }
        }
        buf.flip();
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                    .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(buf).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public int vocabSize() {
        return VOCAB;
    }

    @Override
    public int bosId() {
        return 1;
    }

    @Override
    public int eosId() {
        return 2;
    }

    @Override
    public String name() {
        return "byte";
    }
}
