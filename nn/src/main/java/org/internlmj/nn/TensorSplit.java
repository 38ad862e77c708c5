package org.internlmj.nn;

import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * How a tensor-parallel rank's parameter is cut from the full tensor: dimension {@code dim} is viewed as
 * {@code (groups, size, chunk)} and rank {@code rank} keeps index {@code rank} of the middle. A plain
 * column- or row-parallel weight has {@code groups = 1} (rank r keeps the r-th of {@code size} equal
 * blocks); the fused {@code Wqkv} weight {@code [3h, h]}, laid out (three, heads, head_dim), has
 * {@code groups = 3}, so each rank keeps its heads of q, of k and of v, laid out (three, heads/size,
 * head_dim) as InternLM's tensor-parallel checkpoints hold them.
 *
 * <pre>{@code
 * TensorSplit s = new TensorSplit(0, 3, 1, 2);      // Wqkv on tensor rank 1 of 2
 * s.localShape(new int[] {96, 32});                  // [48, 32]
 * s.cut(full, shard);                                 // rows 16..31, 48..63, 80..95 of full
 * }</pre>
 */
public record TensorSplit(int dim, int groups, int rank, int size) {

    public TensorSplit {
        if (dim < 0 || groups < 1 || size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("invalid split: dim " + dim + ", groups " + groups + ", rank " + rank
                    + " of " + size);
        }
    }

    /** The shape a rank holds of a tensor whose full shape is {@code full}. */
    public int[] localShape(int[] full) {
        if (dim >= full.length || full[dim] % (groups * size) != 0) {
            throw new IllegalArgumentException("a tensor of shape " + Shapes.str(full) + " does not split along dimension "
                    + dim + " into " + groups + " x " + size + " equal parts");
        }
        int[] local = full.clone();
        local[dim] = full[dim] / size;
        return local;
    }

    /** Copies this rank's part of {@code full} (contiguous, the full shape) into {@code local}. */
    public void cut(Tensor full, Tensor local) {
        asParts(local).copyFrom(slot(full));
    }

    /** Copies {@code local} into this rank's part of {@code full} (contiguous, the full shape). */
    public void place(Tensor local, Tensor full) {
        slot(full).copyFrom(asParts(local));
    }

    /** This rank's elements of {@code full} as a strided view {@code [outer, groups, chunk * inner]}. */
    private Tensor slot(Tensor full) {
        int[] s = full.shape();
        localShape(s);
        int chunk = s[dim] / (groups * size);
        return full.reshape(outer(s), groups, size, chunk * inner(s)).select(2, rank);
    }

    private Tensor asParts(Tensor local) {
        int[] s = local.shape();
        return local.reshape(outer(s), groups, s[dim] / groups * inner(s));
    }

    private int outer(int[] s) {
        int n = 1;
        for (int i = 0; i < dim; i++) {
            n *= s[i];
        }
        return n;
    }

    private int inner(int[] s) {
        int n = 1;
        for (int i = dim + 1; i < s.length; i++) {
            n *= s[i];
        }
        return n;
    }

    /** {@code dim:groups}, how checkpoints record the split (the rank and size are the file's). */
    public String describe() {
        return dim + ":" + groups;
    }
}
