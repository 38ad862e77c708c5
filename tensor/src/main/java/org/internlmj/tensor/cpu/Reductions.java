package org.internlmj.tensor.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Reductions: {@code reduce} (SUM, MEAN, MAX, MIN along one dimension) and {@code sumOfSquares}.
 *
 * <p>x is seen as {@code [outer, len, inner]} around the reduced dimension. Two kernels:
 * <ul>
 *   <li><b>runs</b>: each output reduces one run of {@code len} elements (the last dimension, or any
 *       dimension of a view whose reduced elements are adjacent, e.g. a transposed one). The run is
 *       cut into blocks of {@link #RUN_BLOCK}; a block reduces in fp32 vector lanes, blocks combine in
 *       double. Few long rows (a full sum) spread their blocks over the pool.</li>
 *   <li><b>columns</b>: the reduced dimension is strided and the trailing ones contiguous (column
 *       sums of {@code [N, H]}, the bias gradient): vector accumulators span adjacent outputs and walk
 *       down the rows, flushing to a second fp32 accumulator every {@link #COLUMN_BLOCK} rows.</li>
 * </ul>
 * Every output is a fixed function of its input values and the layout: block boundaries depend on
 * the shape only and partial results combine in index order, never in completion order, so the bits
 * do not depend on the thread count. Lanes are summed one by one in lane order rather than with
 * {@code reduceLanes}, whose floating-point order the Vector API leaves to the platform.
 */
final class Reductions {
    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.LANES;
    private static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());
    /** Elements of a run reduced in fp32 before the partial joins the double total. */
    static final int RUN_BLOCK = 4096;
    /** Rows a column accumulator sums before it is flushed into the column total. */
    static final int COLUMN_BLOCK = 256;
    /** Columns per column-kernel task: four vector accumulators. */
    private static final int COLUMN_WIDTH = 4 * L;
    /** Elements per sumOfSquares chunk: fixed so the partials never depend on the thread count. */
    static final int SQUARES_CHUNK = 1 << 14;
    /** Elements of work per parallel task at least. */
    private static final int GRAIN = 1 << 14;

    private Reductions() {
    }

    // ---------------------------------------------------------------- reduce

    /** Reduces x along {@code dim} into out (x's shape with that dimension 1). */
    static void reduce(Parallel parallel, ReduceOp op, Tensor x, int dim, Tensor out) {
        int d = Shapes.dim(dim, x.rank());
        int[] outShape = x.shape();
        outShape[d] = 1;
        OpChecks.sameDevice("reduce", x, out);
        OpChecks.shape("reduce", "out", out, outShape);
        FloatRuns.checkFloat("reduce", x, out);
        CpuStorage xs = FloatRuns.storage("reduce", x);
        CpuStorage ys = FloatRuns.storage("reduce", out);
        int[] shape = x.shape();
        int[] xst = x.strides();
        int[] yst = out.strides();
        int rank = shape.length;
        int outer = 1;
        for (int i = 0; i < d; i++) {
            outer *= shape[i];
        }
        int inner = 1;
        for (int i = d + 1; i < rank; i++) {
            inner *= shape[i];
        }
        int len = shape[d];
        int outputs = outer * inner;
        if (outputs == 0) {
            return;
        }
        Layout lx = new Layout(shape, xst, x.offset(), d);
        Layout ly = new Layout(shape, yst, out.offset(), d);
        int lenStride = xst[d];
        int innerStride = groupStride(shape, xst, d + 1, rank);
        if (inner > 1 && innerStride == 1 && lenStride != 1 && len > 0) {
            reduceColumns(parallel, op, xs, lx, ys, ly, outer, len, inner, lenStride);
        } else {
            reduceRuns(parallel, op, xs, lx, ys, ly, inner, outputs, len, lenStride);
        }
    }

    /** Offsets of the element (o, l, in) of a tensor seen as [outer, len, inner] (any strides). */
    private record Layout(int[] shape, int[] strides, int offset, int dim) {
        int base(int o, int in) {
            int off = offset;
            for (int i = shape.length - 1; i > dim; i--) {
                off += (in % shape[i]) * strides[i];
                in /= shape[i];
            }
            for (int i = dim - 1; i >= 0; i--) {
                off += (o % shape[i]) * strides[i];
                o /= shape[i];
            }
            return off;
        }
    }

    /**
     * The stride of dimensions {@code [from, to)} taken together if they are evenly spaced (one
     * merged dimension), 0 if all have size 1, else -1.
     */
    private static int groupStride(int[] shape, int[] strides, int from, int to) {
        int stride = 0;
        long span = 0;
        for (int i = to - 1; i >= from; i--) {
            if (shape[i] == 1) {
                continue;
            }
            if (span == 0) {
                stride = strides[i];
                span = shape[i];
            } else if (strides[i] != stride * span) {
                return -1;
            } else {
                span *= shape[i];
            }
        }
        return stride;
    }

    private static double identity(ReduceOp op) {
        return switch (op) {
            case SUM, MEAN -> 0;
            case MAX -> Double.NEGATIVE_INFINITY;
            case MIN -> Double.POSITIVE_INFINITY;
        };
    }

    private static double combine(ReduceOp op, double acc, double v) {
        return switch (op) {
            case SUM, MEAN -> acc + v;
            case MAX -> Math.max(acc, v);
            case MIN -> Math.min(acc, v);
        };
    }

    private static void reduceRuns(Parallel parallel, ReduceOp op, CpuStorage xs, Layout lx, CpuStorage ys, Layout ly,
                                   int inner, int outputs, int len, int lenStride) {
        int blocks = (len + RUN_BLOCK - 1) / RUN_BLOCK;
        if (blocks <= 1 || outputs >= 4 * parallel.threads()) {
            int grain = Math.max(1, GRAIN / Math.max(1, len));
            parallel.forRange(outputs, grain, (start, end) -> {
                for (int k = start; k < end; k++) {
                    int off = lx.base(k / inner, k % inner);
                    double acc = identity(op);
                    for (int b = 0; b < blocks; b++) {
                        acc = combine(op, acc, runBlock(op, xs, off, lenStride, len, b));
                    }
                    store(op, ys, ly.base(k / inner, k % inner), acc, len);
                }
            });
            return;
        }
        // Few long runs: blocks in parallel, partials combined below in block order (the same sums
        // the loop above would form).
        int tasks = outputs * blocks;
        double[] partial = Scratch.doubles(tasks);
        parallel.forEach(tasks, t -> {
            int k = t / blocks;
            partial[t] = runBlock(op, xs, lx.base(k / inner, k % inner), lenStride, len, t % blocks);
        });
        for (int k = 0; k < outputs; k++) {
            double acc = identity(op);
            for (int b = 0; b < blocks; b++) {
                acc = combine(op, acc, partial[k * blocks + b]);
            }
            store(op, ys, ly.base(k / inner, k % inner), acc, len);
        }
    }

    private static void store(ReduceOp op, CpuStorage ys, int off, double acc, int len) {
        FloatRuns.set(ys, off, (float) (op == ReduceOp.MEAN ? acc / len : acc));
    }

    /** Reduction of block {@code b} of the run starting at {@code off} (elements {@code stride} apart). */
    private static double runBlock(ReduceOp op, CpuStorage xs, int off, int stride, int len, int b) {
        int start = b * RUN_BLOCK;
        int n = Math.min(RUN_BLOCK, len - start);
        if (stride == 1 && xs.dtype() == DType.F32) {
            return reduceF32(op, xs.f32(), off + start, n);
        }
        float[] buf = Scratch.floats(0, n);
        FloatRuns.gather(xs, off + start * stride, stride, buf, 0, n);
        return reduceF32(op, buf, 0, n);
    }

    /** SUM (for MEAN too), MAX or MIN of {@code a[a0 .. a0+n)} in fp32 lanes, lanes combined in order. */
    static float reduceF32(ReduceOp op, float[] a, int a0, int n) {
        int i = 0;
        int bound = n - 2 * L;
        switch (op) {
            case SUM, MEAN -> {
                FloatVector acc0 = FloatVector.zero(F);
                FloatVector acc1 = FloatVector.zero(F);
                for (; i <= bound; i += 2 * L) {
                    acc0 = acc0.add(FloatVector.fromArray(F, a, a0 + i));
                    acc1 = acc1.add(FloatVector.fromArray(F, a, a0 + i + L));
                }
                FloatVector acc = acc0.add(acc1);
                float s = 0f;
                for (int j = 0; j < L; j++) {
                    s += acc.lane(j);
                }
                for (; i < n; i++) {
                    s += a[a0 + i];
                }
                return s;
            }
            case MAX -> {
                FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
                for (; i <= bound + L; i += L) {
                    acc = acc.max(FloatVector.fromArray(F, a, a0 + i));
                }
                float m = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < L; j++) {
                    m = Math.max(m, acc.lane(j));
                }
                for (; i < n; i++) {
                    m = Math.max(m, a[a0 + i]);
                }
                return m;
            }
            case MIN -> {
                FloatVector acc = FloatVector.broadcast(F, Float.POSITIVE_INFINITY);
                for (; i <= bound + L; i += L) {
                    acc = acc.min(FloatVector.fromArray(F, a, a0 + i));
                }
                float m = Float.POSITIVE_INFINITY;
                for (int j = 0; j < L; j++) {
                    m = Math.min(m, acc.lane(j));
                }
                for (; i < n; i++) {
                    m = Math.min(m, a[a0 + i]);
                }
                return m;
            }
        }
        throw new AssertionError(op);
    }

    /**
     * Column kernel: outputs {@code (o, c .. c+w)} are adjacent in x's rows, which are
     * {@code lenStride} apart. One task per (outer index, block of COLUMN_WIDTH columns).
     */
    private static void reduceColumns(Parallel parallel, ReduceOp op, CpuStorage xs, Layout lx, CpuStorage ys,
                                      Layout ly, int outer, int len, int inner, int lenStride) {
        int colBlocks = (inner + COLUMN_WIDTH - 1) / COLUMN_WIDTH;
        int tasks = outer * colBlocks;
        int perTask = Math.max(1, GRAIN / Math.max(1, len * COLUMN_WIDTH));
        parallel.forEach((tasks + perTask - 1) / perTask, t -> {
            float[] sums = Scratch.floats(1, COLUMN_WIDTH);
            for (int u = t * perTask, end = Math.min(tasks, u + perTask); u < end; u++) {
                int o = u / colBlocks;
                int c0 = (u % colBlocks) * COLUMN_WIDTH;
                int w = Math.min(COLUMN_WIDTH, inner - c0);
                int off = lx.base(o, c0);
                columnBlock(op, xs, off, lenStride, len, w, sums);
                for (int j = 0; j < w; j++) {
                    float v = sums[j];
                    FloatRuns.set(ys, ly.base(o, c0 + j), op == ReduceOp.MEAN ? v / len : v);
                }
            }
        });
    }

    /**
     * {@code sums[j] = op over l of x[off + l*lenStride + j]} for {@code j < w <= COLUMN_WIDTH}. Each
     * column is reduced in row order, sums in blocks of COLUMN_BLOCK rows, whichever of the variants
     * below handles it, so a column's result does not depend on its neighbours.
     */
    private static void columnBlock(ReduceOp op, CpuStorage xs, int off, int lenStride, int len, int w, float[] sums) {
        if (w == COLUMN_WIDTH) {
            columns4(op, xs, off, lenStride, len, sums);
            return;
        }
        int vecs = w / L;
        for (int v = 0; v < vecs; v++) {
            columns1(op, xs, off + v * L, lenStride, len, sums, v * L);
        }
        for (int j = vecs * L; j < w; j++) {
            sums[j] = columnScalar(op, xs, off + j, lenStride, len);
        }
    }

    /** One row of a column block: the storage itself for F32, else the row widened into scratch. */
    private static float[] rowOf(CpuStorage xs, int off, int w) {
        if (xs.dtype() == DType.F32) {
            return xs.f32();
        }
        float[] row = Scratch.floats(0, COLUMN_WIDTH);
        FloatRuns.gather(xs, off, 1, row, 0, w);
        return row;
    }

    private static void columns4(ReduceOp op, CpuStorage xs, int off, int lenStride, int len, float[] sums) {
        boolean direct = xs.dtype() == DType.F32;
        FloatVector init = FloatVector.broadcast(F, (float) identity(op));
        FloatVector t0 = init;
        FloatVector t1 = init;
        FloatVector t2 = init;
        FloatVector t3 = init;
        if (op == ReduceOp.SUM || op == ReduceOp.MEAN) {
            for (int l0 = 0; l0 < len; l0 += COLUMN_BLOCK) {
                FloatVector b0 = init;
                FloatVector b1 = init;
                FloatVector b2 = init;
                FloatVector b3 = init;
                for (int l = l0, l1 = Math.min(len, l0 + COLUMN_BLOCK); l < l1; l++) {
                    float[] row = rowOf(xs, off + l * lenStride, COLUMN_WIDTH);
                    int r0 = direct ? off + l * lenStride : 0;
                    b0 = b0.add(FloatVector.fromArray(F, row, r0));
                    b1 = b1.add(FloatVector.fromArray(F, row, r0 + L));
                    b2 = b2.add(FloatVector.fromArray(F, row, r0 + 2 * L));
                    b3 = b3.add(FloatVector.fromArray(F, row, r0 + 3 * L));
                }
                t0 = t0.add(b0);
                t1 = t1.add(b1);
                t2 = t2.add(b2);
                t3 = t3.add(b3);
            }
        } else {
            boolean max = op == ReduceOp.MAX;
            for (int l = 0; l < len; l++) {
                float[] row = rowOf(xs, off + l * lenStride, COLUMN_WIDTH);
                int r0 = direct ? off + l * lenStride : 0;
                FloatVector v0 = FloatVector.fromArray(F, row, r0);
                FloatVector v1 = FloatVector.fromArray(F, row, r0 + L);
                FloatVector v2 = FloatVector.fromArray(F, row, r0 + 2 * L);
                FloatVector v3 = FloatVector.fromArray(F, row, r0 + 3 * L);
                t0 = max ? t0.max(v0) : t0.min(v0);
                t1 = max ? t1.max(v1) : t1.min(v1);
                t2 = max ? t2.max(v2) : t2.min(v2);
                t3 = max ? t3.max(v3) : t3.min(v3);
            }
        }
        t0.intoArray(sums, 0);
        t1.intoArray(sums, L);
        t2.intoArray(sums, 2 * L);
        t3.intoArray(sums, 3 * L);
    }

    private static void columns1(ReduceOp op, CpuStorage xs, int off, int lenStride, int len, float[] sums, int s0) {
        boolean direct = xs.dtype() == DType.F32;
        FloatVector t = FloatVector.broadcast(F, (float) identity(op));
        if (op == ReduceOp.SUM || op == ReduceOp.MEAN) {
            for (int l0 = 0; l0 < len; l0 += COLUMN_BLOCK) {
                FloatVector b = FloatVector.zero(F);
                for (int l = l0, l1 = Math.min(len, l0 + COLUMN_BLOCK); l < l1; l++) {
                    float[] row = rowOf(xs, off + l * lenStride, L);
                    b = b.add(FloatVector.fromArray(F, row, direct ? off + l * lenStride : 0));
                }
                t = t.add(b);
            }
        } else {
            boolean max = op == ReduceOp.MAX;
            for (int l = 0; l < len; l++) {
                float[] row = rowOf(xs, off + l * lenStride, L);
                FloatVector v = FloatVector.fromArray(F, row, direct ? off + l * lenStride : 0);
                t = max ? t.max(v) : t.min(v);
            }
        }
        t.intoArray(sums, s0);
    }

    /** Scalar twin of the column kernels for the columns left over after whole vectors. */
    private static float columnScalar(ReduceOp op, CpuStorage xs, int off, int lenStride, int len) {
        float t = (float) identity(op);
        if (op == ReduceOp.SUM || op == ReduceOp.MEAN) {
            for (int l0 = 0; l0 < len; l0 += COLUMN_BLOCK) {
                float b = 0f;
                for (int l = l0, l1 = Math.min(len, l0 + COLUMN_BLOCK); l < l1; l++) {
                    b += FloatRuns.get(xs, off + l * lenStride);
                }
                t += b;
            }
        } else {
            for (int l = 0; l < len; l++) {
                float v = FloatRuns.get(xs, off + l * lenStride);
                t = op == ReduceOp.MAX ? Math.max(t, v) : Math.min(t, v);
            }
        }
        return t;
    }

    // ---------------------------------------------------------------- sumOfSquares

    /**
     * Sum of squares of all elements in double: each float is widened and squared exactly, a chunk of
     * SQUARES_CHUNK elements (row-major) accumulates in double lanes, chunk sums add in chunk order.
     */
    static double sumOfSquares(Parallel parallel, Tensor x) {
        FloatRuns.checkFloat("sumOfSquares", x);
        CpuStorage xs = FloatRuns.storage("sumOfSquares", x);
        Strided loop = Strided.of(x);
        int n = loop.total();
        int chunks = (n + SQUARES_CHUNK - 1) / SQUARES_CHUNK;
        if (chunks == 0) {
            return 0;
        }
        double[] partial = Scratch.doubles(chunks);
        if (x.isContiguous() && xs.dtype() == DType.F32) {
            // the common case (gradients): each task takes a run of chunks, no per-chunk segment walk
            float[] a = xs.f32();
            int offset = x.offset();
            parallel.forRange(chunks, 4, (c0, c1) -> {
                for (int c = c0; c < c1; c++) {
                    int from = c * SQUARES_CHUNK;
                    partial[c] = squares(a, offset + from, Math.min(n, from + SQUARES_CHUNK) - from);
                }
            });
            return sumInOrder(partial, chunks);
        }
        int stride = loop.innerStride(0);
        parallel.forEach(chunks, c -> {
            double[] acc = {0};
            loop.segments(c * SQUARES_CHUNK, Math.min(n, (c + 1) * SQUARES_CHUNK), (off, u1, u2, m) -> {
                if (stride == 1 && xs.dtype() == DType.F32) {
                    acc[0] += squares(xs.f32(), off, m);
                    return;
                }
                float[] buf = Scratch.floats(0, Math.min(m, RUN_BLOCK));
                for (int done = 0; done < m; done += RUN_BLOCK) {
                    int k = Math.min(RUN_BLOCK, m - done);
                    FloatRuns.gather(xs, off + done * stride, stride, buf, 0, k);
                    acc[0] += squares(buf, 0, k);
                }
            });
            partial[c] = acc[0];
        });
        return sumInOrder(partial, chunks);
    }

    private static double sumInOrder(double[] partial, int chunks) {
        double total = 0;
        for (int c = 0; c < chunks; c++) {
            total += partial[c];
        }
        return total;
    }

    /** Sum of {@code a[i]^2} over a run, in double lanes (a float's square is exact in double). */
    static double squares(float[] a, int a0, int n) {
        int i = 0;
        DoubleVector acc0 = DoubleVector.zero(D);
        DoubleVector acc1 = DoubleVector.zero(D);
        for (int bound = n - L; i <= bound; i += L) {
            FloatVector v = FloatVector.fromArray(F, a, a0 + i);
            DoubleVector lo = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 0);
            DoubleVector hi = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 1);
            acc0 = lo.fma(lo, acc0);
            acc1 = hi.fma(hi, acc1);
        }
        DoubleVector acc = acc0.add(acc1);
        double s = 0;
        for (int j = 0; j < D.length(); j++) {
            s += acc.lane(j);
        }
        for (; i < n; i++) {
            double v = a[a0 + i];
            s += v * v;
        }
        return s;
    }
}
