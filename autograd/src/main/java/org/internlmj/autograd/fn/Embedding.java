package org.internlmj.autograd.fn;

import org.internlmj.autograd.AccumulatingBackward;
import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/** Embedding lookup, with a scatter-add backward into a dense weight gradient; saves only the ids. */
public final class Embedding {
    private Embedding() {
    }

    /**
     * Rows of {@code weight [V, H]} picked by {@code ids} (I32 or I64, any shape): the result has shape
     * {@code ids.shape + [H]}. An id outside {@code [0, V)} is an error naming it.
     */
    public static Variable embedding(Variable weight, Tensor ids) {
        Tensor w = weight.data();
        if (w.rank() != 2) {
            throw new IllegalArgumentException("embedding weight must be [V, H], got " + Shapes.str(w.shape()));
        }
        Tensor flatIds = ids.reshape(-1);
        int h = w.size(1);
        Tensor out = Tensor.empty(w.dtype(), w.device(), flatIds.size(0), h);
        w.backend().embedding(w, flatIds, out);
        int[] shape = new int[ids.rank() + 1];
        System.arraycopy(ids.shape(), 0, shape, 0, ids.rank());
        shape[ids.rank()] = h;
        AccumulatingBackward backward = (d, need, acc, zeroed) -> {
            // The scatter-add goes straight into the weight's gradient buffer when the engine offers it.
            Tensor dw = acc[0] != null ? acc[0] : Tensor.zeros(w.dtype(), w.device(), w.shape());
            if (zeroed[0]) {
                dw.backend().fill(dw, 0);
            }
            w.backend().embeddingBackward(flatIds, Grads.dense(d[0]).reshape(-1, h), dw);
            return new Tensor[] {dw};
        };
        return Graph.record("embedding", out.reshape(shape), backward, weight);
    }
}
