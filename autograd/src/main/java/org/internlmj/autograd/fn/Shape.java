package org.internlmj.autograd.fn;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.autograd.Graph;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Shape functions: views (reshape of contiguous data, transpose, permute, narrow, select, unsqueeze,
 * squeeze, expand, split, chunk) share the input's storage; contiguous and cat copy. Gradients are
 * views of the output gradient where the inverse is a view, else written into a fresh buffer.
 */
public final class Shape {
    private Shape() {
    }

    /** A new shape with the same elements (one size may be -1); a view when x is contiguous. */
    public static Variable reshape(Variable x, int... shape) {
        int[] in = x.shape();
        Tensor y = x.data().reshape(shape);
        return Graph.record("reshape", y, (d, need) -> new Tensor[] {d[0].reshape(in)}, x);
    }

    /** Swaps two dimensions (a view). */
    public static Variable transpose(Variable x, int dim0, int dim1) {
        Tensor y = x.data().transpose(dim0, dim1);
        return Graph.record("transpose", y, (d, need) -> new Tensor[] {d[0].transpose(dim0, dim1)}, x);
    }

    /** Reorders dimensions: result dimension i is x's dimension {@code order[i]} (a view). */
    public static Variable permute(Variable x, int... order) {
        Tensor y = x.data().permute(order);
        int[] inverse = new int[order.length];
        for (int i = 0; i < order.length; i++) {
            inverse[Shapes.dim(order[i], order.length)] = i;
        }
        return Graph.record("permute", y, (d, need) -> new Tensor[] {d[0].permute(inverse)}, x);
    }

    /** Elements {@code start .. start+length-1} along {@code dim} (a view). */
    public static Variable narrow(Variable x, int dim, int start, int length) {
        Tensor xd = x.data();
        Tensor y = xd.narrow(dim, start, length);
        return Graph.record("narrow", y, (d, need) -> {
            Tensor g = zerosLike(xd);
            g.narrow(dim, start, length).copyFrom(d[0]);
            return new Tensor[] {g};
        }, x);
    }

    /** The slice at {@code index} along {@code dim}, that dimension removed (a view). */
    public static Variable select(Variable x, int dim, int index) {
        Tensor xd = x.data();
        Tensor y = xd.select(dim, index);
        return Graph.record("select", y, (d, need) -> {
            Tensor g = zerosLike(xd);
            g.select(dim, index).copyFrom(d[0]);
            return new Tensor[] {g};
        }, x);
    }

    /** Inserts a dimension of size 1 at {@code dim} (a view). */
    public static Variable unsqueeze(Variable x, int dim) {
        Tensor y = x.data().unsqueeze(dim);
        int d1 = dim < 0 ? dim + y.rank() : dim;
        return Graph.record("unsqueeze", y, (d, need) -> new Tensor[] {d[0].squeeze(d1)}, x);
    }

    /** Removes dimension {@code dim}, which must have size 1 (a view). */
    public static Variable squeeze(Variable x, int dim) {
        int d1 = Shapes.dim(dim, x.rank());
        Tensor y = x.data().squeeze(d1);
        return Graph.record("squeeze", y, (d, need) -> new Tensor[] {d[0].unsqueeze(d1)}, x);
    }

    /** Broadcasts x to {@code shape} (a view with zero strides); the gradient is summed back. */
    public static Variable expand(Variable x, int... shape) {
        Tensor xd = x.data();
        Tensor y = xd.expand(shape);
        return Graph.record("expand", y, (d, need) -> new Tensor[] {Grads.reduceTo(d[0], xd)}, x);
    }

    /** x itself when its data is contiguous, else a contiguous copy. */
    public static Variable contiguous(Variable x) {
        if (x.data().isContiguous()) {
            return x;
        }
        Tensor y = x.data().contiguous();
        return Graph.record("contiguous", y, (d, need) -> new Tensor[] {d[0]}, x);
    }

    /** Concatenates along {@code dim}; every part has the same dtype and the same size in other dimensions. */
    public static Variable cat(List<Variable> parts, int dim) {
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("cat of no tensors");
        }
        Tensor first = parts.get(0).data();
        int d = Shapes.dim(dim, first.rank());
        int[] shape = first.shape();
        int total = 0;
        for (Variable p : parts) {
            Tensor t = p.data();
            int[] s = t.shape();
            boolean ok = s.length == shape.length && t.dtype() == first.dtype() && t.device().equals(first.device());
            for (int i = 0; ok && i < s.length; i++) {
                ok = i == d || s[i] == shape[i];
            }
            if (!ok) {
                throw new IllegalArgumentException("cat along dimension " + dim + ": " + t + " does not match " + first);
            }
            total += s[d];
        }
        shape[d] = total;
        Tensor out = Tensor.empty(first.dtype(), first.device(), shape);
        int[] starts = new int[parts.size()];
        int[] sizes = new int[parts.size()];
        int offset = 0;
        for (int i = 0; i < parts.size(); i++) {
            Tensor t = parts.get(i).data();
            starts[i] = offset;
            sizes[i] = t.size(d);
            out.narrow(d, offset, sizes[i]).copyFrom(t);
            offset += sizes[i];
        }
        return Graph.record("cat", out, (g, need) -> {
            Tensor[] grads = new Tensor[starts.length];
            for (int i = 0; i < grads.length; i++) {
                grads[i] = need[i] ? g[0].narrow(d, starts[i], sizes[i]) : null;
            }
            return grads;
        }, parts.toArray(new Variable[0]));
    }

    /** Splits along {@code dim} into parts of {@code sizes} (which sum to the dimension); the parts are views. */
    public static List<Variable> split(Variable x, int[] sizes, int dim) {
        Tensor xd = x.data();
        int d = Shapes.dim(dim, xd.rank());
        int sum = 0;
        for (int s : sizes) {
            if (s < 0) {
                throw new IllegalArgumentException("split sizes must be >= 0, got " + Shapes.str(sizes));
            }
            sum += s;
        }
        if (sum != xd.size(d)) {
            throw new IllegalArgumentException("split sizes " + Shapes.str(sizes) + " do not sum to dimension " + dim
                    + " of " + Shapes.str(xd.shape()));
        }
        Tensor[] outs = new Tensor[sizes.length];
        int[] starts = new int[sizes.length];
        for (int i = 0, off = 0; i < sizes.length; off += sizes[i], i++) {
            starts[i] = off;
            outs[i] = xd.narrow(d, off, sizes[i]);
        }
        Variable[] parts = Graph.record("split", outs, (g, need) -> {
            boolean complete = true;
            for (Tensor t : g) {
                complete &= t != null;
            }
            // Parts that got no gradient contribute zeros; when all did, they cover every element.
            Tensor dx = complete ? Grads.newLike(xd) : zerosLike(xd);
            for (int i = 0; i < g.length; i++) {
                if (g[i] != null) {
                    dx.narrow(d, starts[i], sizes[i]).copyFrom(g[i]);
                }
            }
            return new Tensor[] {dx};
        }, x);
        return List.of(parts);
    }

    /** Splits along {@code dim} into parts of {@code size} (the last may be smaller). */
    public static List<Variable> split(Variable x, int size, int dim) {
        if (size <= 0) {
            throw new IllegalArgumentException("split size must be positive, got " + size);
        }
        int n = x.size(dim);
        List<Integer> sizes = new ArrayList<>();
        for (int off = 0; off < n; off += size) {
            sizes.add(Math.min(size, n - off));
        }
        return split(x, sizes.stream().mapToInt(Integer::intValue).toArray(), dim);
    }

    /** Splits along {@code dim} into {@code chunks} parts of equal size, as torch.chunk (the last may be smaller). */
    public static List<Variable> chunk(Variable x, int chunks, int dim) {
        if (chunks <= 0) {
            throw new IllegalArgumentException("chunk count must be positive, got " + chunks);
        }
        int n = x.size(dim);
        return split(x, Math.max(1, (n + chunks - 1) / chunks), dim);
    }

    private static Tensor zerosLike(Tensor t) {
        return Tensor.zeros(t.dtype(), t.device(), t.shape());
    }
}
