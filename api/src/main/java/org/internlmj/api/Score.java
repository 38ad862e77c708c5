package org.internlmj.api;

import java.util.Arrays;

/**
 * How well a model predicts a text ({@link InternLM#score}): each token after the first input position
 * is predicted from the ones before it (the input starts with BOS when the tokenizer has one, so every
 * token of the text is scored then).
 *
 * <pre>{@code
 * Score s = lm.score("the quick brown fox");
 * System.out.printf("%d tokens, %.3f nats/token, perplexity %.1f%n", s.tokens(), s.loss(), s.perplexity());
 * }</pre>
 *
 * @param tokens        number of scored tokens
 * @param loss          mean negative log-likelihood per scored token, in nats (the training loss)
 * @param perplexity    {@code exp(loss)}
 * @param tokenLogProbs natural-log probability of each scored token, in text order
 */
public record Score(int tokens, double loss, double perplexity, double[] tokenLogProbs) {

    /** Copies the array, so the record stays a value. */
    public Score {
        tokenLogProbs = tokenLogProbs.clone();
    }

    /** A copy of the per-token log-probabilities. */
    @Override
    public double[] tokenLogProbs() {
        return tokenLogProbs.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Score s && s.tokens == tokens && Double.compare(s.loss, loss) == 0
                && Double.compare(s.perplexity, perplexity) == 0 && Arrays.equals(s.tokenLogProbs, tokenLogProbs);
    }

    @Override
    public int hashCode() {
        return 31 * Double.hashCode(loss) + Arrays.hashCode(tokenLogProbs);
    }

    @Override
    public String toString() {
        return "Score[tokens=" + tokens + ", loss=" + loss + ", perplexity=" + perplexity + "]";
    }
}
