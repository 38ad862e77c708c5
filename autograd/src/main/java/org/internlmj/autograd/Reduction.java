package org.internlmj.autograd;

import org.internlmj.tensor.Ops;
import org.internlmj.tensor.Tensor;

/** How a loss over tokens is reduced. */
public enum Reduction {
    /** The mean over the tokens that count (for cross-entropy: those whose label is not ignored), as InternLM. */
    MEAN,
    /** The sum over tokens. */
    SUM,
    /** One loss per token. */
    NONE;

    /**
     * Per-token losses {@code [N]} reduced: as they are (NONE), their sum (SUM, 0-dimensional) or their sum
     * times {@link #rowScale} (MEAN); {@code kept} is the number of tokens that count (read for MEAN only).
     */
    public Tensor apply(Tensor perToken, long kept) {
        return switch (this) {
            case NONE -> perToken;
            case SUM -> Ops.sumAll(perToken);
            case MEAN -> Ops.affine(Ops.sumAll(perToken), rowScale(kept), 0);
        };
    }

    /**
     * The factor by which the reduced loss's gradient reaches each token's loss: {@code 1 / kept} for MEAN
     * (infinite for none kept, so the mean is NaN as torch's), else 1.
     */
    public double rowScale(long kept) {
        return this == MEAN ? 1.0 / kept : 1;
    }
}
