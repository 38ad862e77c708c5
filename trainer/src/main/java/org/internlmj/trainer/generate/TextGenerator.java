package org.internlmj.trainer.generate;

import java.util.Arrays;
import java.util.function.Consumer;
import org.internlmj.autograd.NoGrad;
import org.internlmj.autograd.Variable;
import org.internlmj.nn.InternLMModel;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;
import org.internlmj.trainer.tokenizer.Tokenizer;

/**
 * Samples text from a model: {@code [BOS] + prompt} is fed through the model, the next token drawn from
 * the last position's logits, appended, and so on until {@code maxTokens} or EOS. Each step recomputes
 * the whole sequence (there is no key/value cache yet), so cost grows with the square of the length.
 */
public final class TextGenerator {
    private final InternLMModel model;
    private final Tokenizer tokenizer;
    private final Device device;

    public TextGenerator(InternLMModel model, Tokenizer tokenizer, Device device) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.device = device;
    }

    /** Options: how many tokens and how to pick them. */
    public record Options(int maxTokens, double temperature, int topK, double topP, long seed) {
    }

    /**
     * Generates a continuation of {@code prompt}; {@code onText} receives the decoded text as it grows
     * (each call with the new characters only). Returns the continuation.
     */
    public String generate(String prompt, Options o, Consumer<String> onText) {
        int[] promptIds = tokenizer.encode(prompt);
        int bos = tokenizer.bosId();
        int[] ids = new int[(bos >= 0 ? 1 : 0) + promptIds.length + o.maxTokens()];
        int n = 0;
        if (bos >= 0) {
            ids[n++] = bos;
        }
        System.arraycopy(promptIds, 0, ids, n, promptIds.length);
        n += promptIds.length;
        int start = n;
        if (n == 0) {
            throw new IllegalArgumentException("an empty prompt needs a tokenizer with a BOS token");
        }
        int vocab = model.spec().vocabSize();
        int window = Integer.MAX_VALUE;
        TokenSampler sampler = new TokenSampler(o.temperature(), o.topK(), o.topP(), o.seed());
        String emitted = "";
        try (NoGrad ng = NoGrad.enter()) {
            for (int step = 0; step < o.maxTokens(); step++) {
                int from = Math.max(0, n - window);
                int len = n - from;
                float[] last;
                try (MemoryScope scope = MemoryScope.open()) {
                    int[] pos = new int[len];
                    for (int i = 0; i < len; i++) {
                        pos[i] = i;
                    }
                    Tensor idT = Tensor.ofInts(Arrays.copyOfRange(ids, from, n), len).to(device);
                    Tensor posT = Tensor.ofInts(pos, len).to(device);
                    Tensor cu = Tensor.ofInts(new int[] {0, len}, 2).to(device);
                    Variable logits = model.forward(idT, posT, cu);
                    last = logits.data().select(0, len - 1).toFloatArray();
                }
                int next = sampler.next(Arrays.copyOf(last, vocab));
                if (next == tokenizer.eosId()) {
                    break;
                }
                ids[n++] = next;
                String text = tokenizer.decode(Arrays.copyOfRange(ids, start, n));
                // only emit complete characters: a multi-byte character may still be arriving
                String stable = text.endsWith("\uFFFD") ? text.substring(0, text.length() - 1) : text;
                if (stable.length() > emitted.length() && stable.startsWith(emitted)) {
                    onText.accept(stable.substring(emitted.length()));
                    emitted = stable;
                }
            }
        }
        String result = tokenizer.decode(Arrays.copyOfRange(ids, start, n));
        if (result.length() > emitted.length() && result.startsWith(emitted)) {
            onText.accept(result.substring(emitted.length()));
        }
        return result;
    }
}
