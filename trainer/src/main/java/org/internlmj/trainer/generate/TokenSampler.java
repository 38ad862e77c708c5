package org.internlmj.trainer.generate;

import java.util.Arrays;
import org.internlmj.tensor.Generator;

/**
 * Picks the next token from logits: greedy at temperature 0, else softmax(logits / temperature)
 * restricted to the {@code topK} most likely tokens and to the smallest set whose probability reaches
 * {@code topP}, sampled with a seeded {@link Generator} so a run is reproducible.
 */
public final class TokenSampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final Generator generator;

    public TokenSampler(double temperature, int topK, double topP, long seed) {
        if (!(temperature >= 0)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be >= 0 (0 = no limit), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.generator = new Generator(seed);
    }

    /** The next token id given the logits over the vocabulary. */
    public int next(float[] logits) {
        int v = logits.length;
        if (temperature == 0) {
            int best = 0;
            for (int i = 1; i < v; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
        Integer[] idx = new Integer[v];
        for (int i = 0; i < v; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = topK == 0 ? v : Math.min(topK, v);
        double max = logits[idx[0]];
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp((logits[idx[i]] - max) / temperature);
            sum += p[i];
        }
        double cumulative = 0;
        int cut = keep;
        for (int i = 0; i < keep; i++) {
            cumulative += p[i] / sum;
            if (cumulative >= topP) {
                cut = i + 1;
                break;
            }
        }
        double mass = 0;
        for (int i = 0; i < cut; i++) {
            mass += p[i];
        }
        double u = generator.nextUniform() * mass;
        for (int i = 0; i < cut; i++) {
            u -= p[i];
            if (u < 0) {
                return idx[i];
            }
        }
        return idx[cut - 1];
    }
}
