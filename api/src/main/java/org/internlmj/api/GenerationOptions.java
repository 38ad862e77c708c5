package org.internlmj.api;

/**
 * How {@link InternLM#generate} picks tokens: at most {@code maxTokens} new tokens (fewer if the model
 * emits EOS), drawn from {@code softmax(logits / temperature)} restricted to the {@code topK} most likely
 * tokens and to the smallest set whose probability reaches {@code topP}; temperature 0 is greedy. The
 * same seed gives the same text.
 *
 * <pre>{@code
 * GenerationOptions greedy = GenerationOptions.defaults().withTemperature(0).withMaxTokens(50);
 * }</pre>
 *
 * @param maxTokens   new tokens at most, &ge; 1
 * @param temperature &ge; 0; 0 picks the most likely token every time
 * @param topK        keep the k most likely tokens; 0 keeps all
 * @param topP        nucleus mass in (0, 1]; 1 keeps all
 * @param seed        sampling seed
 */
public record GenerationOptions(int maxTokens, double temperature, int topK, double topP, long seed) {

    /** Checks the ranges above. */
    public GenerationOptions {
        if (maxTokens < 1) {
            throw new IllegalArgumentException("maxTokens must be >= 1, got " + maxTokens);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("topK must be >= 0 (0 = no limit), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        }
    }

    /** 200 tokens, temperature 0.8, top-k 40, top-p 1, seed 1234 (what {@code internlmj generate} uses). */
    public static GenerationOptions defaults() {
        return new GenerationOptions(200, 0.8, 40, 1.0, 1234);
    }

    /** A copy with another token limit. */
    public GenerationOptions withMaxTokens(int maxTokens) {
        return new GenerationOptions(maxTokens, temperature, topK, topP, seed);
    }

    /** A copy with another temperature. */
    public GenerationOptions withTemperature(double temperature) {
        return new GenerationOptions(maxTokens, temperature, topK, topP, seed);
    }

    /** A copy with another top-k. */
    public GenerationOptions withTopK(int topK) {
        return new GenerationOptions(maxTokens, temperature, topK, topP, seed);
    }

    /** A copy with another top-p. */
    public GenerationOptions withTopP(double topP) {
        return new GenerationOptions(maxTokens, temperature, topK, topP, seed);
    }

    /** A copy with another seed. */
    public GenerationOptions withSeed(long seed) {
        return new GenerationOptions(maxTokens, temperature, topK, topP, seed);
    }
}
