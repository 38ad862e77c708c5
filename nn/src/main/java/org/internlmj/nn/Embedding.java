package org.internlmj.nn;

import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;

/**
 * Token embedding: weight {@code [vocab, hidden]}, lookup by id. Over a tensor-parallel group InternLM
 * splits it one of two ways ({@code embed_split_hidden}):
 * <ul>
 *   <li>along the hidden dimension: each rank holds {@code [vocab, hidden/size]}, looks up every token and
 *       the ranks' columns are all-gathered;</li>
 *   <li>along the vocabulary: each rank holds {@code [vocab/size, hidden]}, looks up the tokens of its
 *       vocabulary range (zero rows for the others) and the ranks' rows are summed.</li>
 * </ul>
 * The result is {@code [T, hidden]}, or this rank's {@code [T/size, hidden]} under sequence parallelism.
 */
public final class Embedding extends Module {
    private final Parameter weight;
    private final TensorParallel tp;
    private final boolean splitHidden;
    private final int vocab;

    public Embedding(int vocab, int hidden, DType dtype, Device device) {
        this(vocab, hidden, dtype, device, TensorParallel.none(), true);
    }

    public Embedding(int vocab, int hidden, DType dtype, Device device, TensorParallel tp, boolean splitHidden) {
        this.tp = tp;
        this.splitHidden = splitHidden;
        this.vocab = vocab;
        this.weight = parameter("weight", new Init.Normal(Init.EMBED_STD), dtype, device,
                tp.split(splitHidden ? 1 : 0, 1), vocab, hidden);
    }

    public Parameter weight() {
        return weight;
    }

    /** ids {@code [T]} (I32) to {@code [T, hidden]} ({@code [T/size, hidden]} under sequence parallelism). */
    public Variable forward(Tensor ids) {
        if (tp.size() == 1) {
            return F.embedding(weight.variable(), ids);
        }
        if (splitHidden) {
            return tp.scatterSequence(tp.gatherHidden(F.embedding(weight.variable(), ids)));
        }
        return tp.exit(vocabShardLookup(ids));
    }

    /** This rank's rows for the ids in its vocabulary range, zero rows for the others. */
    private Variable vocabShardLookup(Tensor ids) {
        int part = vocab / tp.size();
        int start = tp.rank() * part;
        long[] all = ids.toLongArray();
        int[] local = new int[all.length];
        float[] mask = new float[all.length];
        for (int i = 0; i < all.length; i++) {
            if (all[i] < 0 || all[i] >= vocab) {
                throw new IllegalArgumentException("token id " + all[i] + " at position " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
            boolean mine = all[i] >= start && all[i] < start + part;
            local[i] = mine ? (int) (all[i] - start) : 0;
            mask[i] = mine ? 1f : 0f;
        }
        Device d = ids.device();
        Variable rows = F.embedding(weight.variable(), Tensor.ofInts(local, local.length).to(d));
        Tensor keep = Tensor.of(mask, mask.length, 1).to(weight.data().dtype()).to(d);
        return F.mul(rows, Variable.of(keep));
    }
}
