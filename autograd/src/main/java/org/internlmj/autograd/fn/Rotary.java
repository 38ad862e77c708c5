package org.internlmj.autograd.fn;

import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Tensor;

/**
 * Rotary position embedding (rotate-half form) of {@code x [T, H, D]} at per-token positions. A
 * rotation's gradient is the inverse rotation of the output gradient, so only the positions are saved.
 */
public final class Rotary {
    private Rotary() {
    }

    /**
     * Rotates each head of each token by its position: positions {@code [T]} I32, restarting at 0 for
     * each packed document (InternLM's {@code indexes}); {@code base} is the rotary base (10000).
     */
    public static Variable rotary(Variable x, Tensor positions, double base) {
        Tensor xd = Grads.dense(x.data());
        Tensor y = Grads.newLike(xd);
        xd.backend().rotary(xd, positions, base, false, y);
        return Graph.record("rotary", y, (d, need) -> {
            Tensor dx = Grads.newLike(xd);
            xd.backend().rotary(Grads.dense(d[0]), positions, base, true, dx);
            return new Tensor[] {dx};
        }, x);
    }
}
