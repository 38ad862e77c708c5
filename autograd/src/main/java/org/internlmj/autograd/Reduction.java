package org.internlmj.autograd;

/** How a loss over tokens is reduced. */
public enum Reduction {
    /** The mean over the tokens that count (for cross-entropy: those whose label is not ignored), as InternLM. */
    MEAN,
    /** The sum over tokens. */
    SUM,
    /** One loss per token. */
    NONE
}
