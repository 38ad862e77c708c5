package org.internlmj.api;

/**
 * Adapters between the API's {@link Tokenizer} and the engine's own interface of the same shape: the
 * engine's tokenizers are exposed through this class, and an application's tokenizer is wrapped for the
 * engine by {@link #internal}.
 */
final class LibraryTokenizer implements Tokenizer {
    private final org.internlmj.trainer.tokenizer.Tokenizer inner;

    LibraryTokenizer(org.internlmj.trainer.tokenizer.Tokenizer inner) {
        this.inner = inner;
    }

    /** The engine's view of {@code t}: the wrapped tokenizer itself for ours, a forwarding adapter for others. */
    static org.internlmj.trainer.tokenizer.Tokenizer internal(Tokenizer t) {
        if (t instanceof LibraryTokenizer l) {
            return l.inner;
        }
        return new org.internlmj.trainer.tokenizer.Tokenizer() {
            @Override
            public int[] encode(String text) {
                return t.encode(text);
            }

            @Override
            public String decode(int[] ids) {
                return t.decode(ids);
            }

            @Override
            public int vocabSize() {
                return t.vocabSize();
            }

            @Override
            public int bosId() {
                return t.bosId();
            }

            @Override
            public int eosId() {
                return t.eosId();
            }

            @Override
            public String name() {
                return t.name();
            }
        };
    }

    @Override
    public int[] encode(String text) {
        return inner.encode(text);
    }

    @Override
    public String decode(int[] ids) {
        return inner.decode(ids);
    }

    @Override
    public int vocabSize() {
        return inner.vocabSize();
    }

    @Override
    public int bosId() {
        return inner.bosId();
    }

    @Override
    public int eosId() {
        return inner.eosId();
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public void close() {
        inner.close();
    }

    @Override
    public String toString() {
        return "Tokenizer[" + name() + ", " + vocabSize() + " ids]";
    }
}
