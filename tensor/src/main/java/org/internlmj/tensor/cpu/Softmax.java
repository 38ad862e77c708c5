package org.internlmj.tensor.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * Softmax and log-softmax over the last dimension, and their backward; rows spread over the pool.
 *
 * <p>Forward, per row: {@code m = max(x)}; {@code s = sum(exp(x - m))}; softmax writes
 * {@code exp(x - m)} on the way and scales it by {@code 1/s}; log-softmax writes
 * {@code x - (m + log s)}. Subtracting the max keeps every exponent at most 0, so nothing overflows.
 * Backward: softmax {@code dx = y (dy - sum(dy y))}, log-softmax {@code dx = dy - exp(y) sum(dy)}.
 *
 * <p>F32 rows with unit stride are read and written in place (out may be x); other dtypes and
 * layouts are staged row by row in per-thread scratch. A row's sums accumulate in double lanes (a
 * 50k-entry vocabulary row summed in fp32 lanes was off by 6e-6), added in lane order, and exp is
 * {@link VectorMath#exp}, so results are the same for any thread count and in every JIT state.
 */
final class Softmax {
    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.LANES;
    private static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());
    /** Elements of work per parallel task at least. */
    private static final int GRAIN = 1 << 14;

    private Softmax() {
    }

    /** Softmax ({@code log == false}) or log-softmax of x along its last dimension into out. */
    static void softmax(Parallel parallel, Tensor x, Tensor out, boolean log) {
        String op = log ? "logSoftmax" : "softmax";
        OpChecks.sameDevice(op, x, out);
        OpChecks.sameShape(op, x, "x", out, "out");
        int h = rowLength(op, x);
        FloatRuns.checkFloat(op, x, out);
        CpuStorage xs = FloatRuns.storage(op, x);
        CpuStorage ys = FloatRuns.storage(op, out);
        if (x.numel() == 0) {
            return;
        }
        int xStride = x.stride(-1);
        int yStride = out.stride(-1);
        boolean xDirect = direct(xs, xStride, h);
        boolean yDirect = direct(ys, yStride, h);
        Strided rows = Strided.of(x.select(-1, 0), out.select(-1, 0));
        int xRow = rows.innerStride(0);
        int yRow = rows.innerStride(1);
        rows.forEachSegment(parallel, Math.max(1, GRAIN / h), (xStart, yStart, unused, n) -> {
            for (int r = 0; r < n; r++) {
                int xo = xStart + r * xRow;
                int yo = yStart + r * yRow;
                float[] xa = xDirect ? xs.f32() : Scratch.floats(0, h);
                if (!xDirect) {
                    FloatRuns.gather(xs, xo, xStride, xa, 0, h);
                }
                float[] ya = yDirect ? ys.f32() : Scratch.floats(1, h);
                forwardRow(xa, xDirect ? xo : 0, ya, yDirect ? yo : 0, h, log);
                if (!yDirect) {
                    FloatRuns.scatter(ya, 0, ys, yo, yStride, h);
                }
            }
        });
    }

    /** Gradient of {@link #softmax}: from its output y and dy, writes dx. */
    static void softmaxBackward(Parallel parallel, Tensor y, Tensor dy, Tensor dx, boolean log) {
        String op = log ? "logSoftmaxBackward" : "softmaxBackward";
        OpChecks.sameDevice(op, y, dy, dx);
        OpChecks.sameShape(op, y, "y", dy, "dy");
        OpChecks.sameShape(op, y, "y", dx, "dx");
        int h = rowLength(op, y);
        FloatRuns.checkFloat(op, y, dy, dx);
        CpuStorage ys = FloatRuns.storage(op, y);
        CpuStorage gs = FloatRuns.storage(op, dy);
        CpuStorage ds = FloatRuns.storage(op, dx);
        if (y.numel() == 0) {
            return;
        }
        int yStride = y.stride(-1);
        int gStride = dy.stride(-1);
        int dStride = dx.stride(-1);
        boolean yDirect = direct(ys, yStride, h);
        boolean gDirect = direct(gs, gStride, h);
        boolean dDirect = direct(ds, dStride, h);
        Strided rows = Strided.of(y.select(-1, 0), dy.select(-1, 0), dx.select(-1, 0));
        int yRow = rows.innerStride(0);
        int gRow = rows.innerStride(1);
        int dRow = rows.innerStride(2);
        rows.forEachSegment(parallel, Math.max(1, GRAIN / h), (yStart, gStart, dStart, n) -> {
            for (int r = 0; r < n; r++) {
                int yo = yStart + r * yRow;
                int go = gStart + r * gRow;
                int dxo = dStart + r * dRow;
                float[] ya = yDirect ? ys.f32() : Scratch.floats(0, h);
                if (!yDirect) {
                    FloatRuns.gather(ys, yo, yStride, ya, 0, h);
                }
                float[] ga = gDirect ? gs.f32() : Scratch.floats(1, h);
                if (!gDirect) {
                    FloatRuns.gather(gs, go, gStride, ga, 0, h);
                }
                float[] da = dDirect ? ds.f32() : Scratch.floats(2, h);
                backwardRow(ya, yDirect ? yo : 0, ga, gDirect ? go : 0, da, dDirect ? dxo : 0, h, log);
                if (!dDirect) {
                    FloatRuns.scatter(da, 0, ds, dxo, dStride, h);
                }
            }
        });
    }

    private static int rowLength(String op, Tensor t) {
        if (t.rank() < 1) {
            throw new IllegalArgumentException(op + " needs at least one dimension, got a scalar " + t);
        }
        return t.size(-1);
    }

    private static boolean direct(CpuStorage s, int stride, int h) {
        return s.dtype() == DType.F32 && (stride == 1 || h == 1);
    }

    // ---------------------------------------------------------------- row kernels

    /** One row of softmax or log-softmax: {@code y[y0..y0+h) = f(x[x0..x0+h))}; y may be x. */
    static void forwardRow(float[] x, int x0, float[] y, int y0, int h, boolean log) {
        float max = max(x, x0, h);
        if (log) {
            float lse = max + VectorMath.log((float) sumExp(x, x0, h, max));
            int i = 0;
            for (int bound = h - L; i <= bound; i += L) {
                FloatVector.fromArray(F, x, x0 + i).sub(lse).intoArray(y, y0 + i);
            }
            for (; i < h; i++) {
                y[y0 + i] = x[x0 + i] - lse;
            }
        } else {
            float inv = (float) (1.0 / expInto(x, x0, y, y0, h, max));
            int i = 0;
            for (int bound = h - L; i <= bound; i += L) {
                FloatVector.fromArray(F, y, y0 + i).mul(inv).intoArray(y, y0 + i);
            }
            for (; i < h; i++) {
                y[y0 + i] *= inv;
            }
        }
    }

    /** One row of the backward: dx from y and dy. */
    static void backwardRow(float[] y, int y0, float[] g, int g0, float[] dx, int d0, int h, boolean log) {
        int i = 0;
        if (log) {
            float s = (float) sum(g, g0, h);
            FloatVector ns = FloatVector.broadcast(F, -s);
            for (int bound = h - L; i <= bound; i += L) {
                VectorMath.exp(FloatVector.fromArray(F, y, y0 + i)).fma(ns, FloatVector.fromArray(F, g, g0 + i))
                        .intoArray(dx, d0 + i);
            }
            for (; i < h; i++) {
                dx[d0 + i] = Math.fma(VectorMath.exp(y[y0 + i]), -s, g[g0 + i]);
            }
        } else {
            float s = (float) dot(g, g0, y, y0, h);
            for (int bound = h - L; i <= bound; i += L) {
                FloatVector.fromArray(F, g, g0 + i).sub(s).mul(FloatVector.fromArray(F, y, y0 + i))
                        .intoArray(dx, d0 + i);
            }
            for (; i < h; i++) {
                dx[d0 + i] = (g[g0 + i] - s) * y[y0 + i];
            }
        }
    }

    /** Maximum of a run; NaN if any element is NaN (as Math.max). */
    private static float max(float[] x, int x0, int h) {
        int i = 0;
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int bound = h - L; i <= bound; i += L) {
            m = m.max(FloatVector.fromArray(F, x, x0 + i));
        }
        float r = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < L; j++) {
            r = Math.max(r, m.lane(j));
        }
        for (; i < h; i++) {
            r = Math.max(r, x[x0 + i]);
        }
        return r;
    }

    /** {@code sum(exp(x - max))} without storing. */
    private static double sumExp(float[] x, int x0, int h, float max) {
        int i = 0;
        DoubleVector acc0 = DoubleVector.zero(D);
        DoubleVector acc1 = DoubleVector.zero(D);
        for (int bound = h - L; i <= bound; i += L) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(F, x, x0 + i).sub(max));
            acc0 = acc0.add(e.convertShape(VectorOperators.F2D, D, 0));
            acc1 = acc1.add(e.convertShape(VectorOperators.F2D, D, 1));
        }
        double s = lanes(acc0.add(acc1));
        for (; i < h; i++) {
            s += VectorMath.exp(x[x0 + i] - max);
        }
        return s;
    }

    /** {@code y = exp(x - max)}, returning its sum (the same additions as {@link #sumExp}). */
    private static double expInto(float[] x, int x0, float[] y, int y0, int h, float max) {
        int i = 0;
        DoubleVector acc0 = DoubleVector.zero(D);
        DoubleVector acc1 = DoubleVector.zero(D);
        for (int bound = h - L; i <= bound; i += L) {
            FloatVector e = VectorMath.exp(FloatVector.fromArray(F, x, x0 + i).sub(max));
            e.intoArray(y, y0 + i);
            acc0 = acc0.add(e.convertShape(VectorOperators.F2D, D, 0));
            acc1 = acc1.add(e.convertShape(VectorOperators.F2D, D, 1));
        }
        double s = lanes(acc0.add(acc1));
        for (; i < h; i++) {
            float e = VectorMath.exp(x[x0 + i] - max);
            y[y0 + i] = e;
            s += e;
        }
        return s;
    }

    private static double sum(float[] a, int a0, int h) {
        int i = 0;
        DoubleVector acc0 = DoubleVector.zero(D);
        DoubleVector acc1 = DoubleVector.zero(D);
        for (int bound = h - L; i <= bound; i += L) {
            FloatVector v = FloatVector.fromArray(F, a, a0 + i);
            acc0 = acc0.add(v.convertShape(VectorOperators.F2D, D, 0));
            acc1 = acc1.add(v.convertShape(VectorOperators.F2D, D, 1));
        }
        double s = lanes(acc0.add(acc1));
        for (; i < h; i++) {
            s += a[a0 + i];
        }
        return s;
    }

    /** {@code sum(a * b)}; a float product is exact in double. */
    private static double dot(float[] a, int a0, float[] b, int b0, int h) {
        int i = 0;
        DoubleVector acc0 = DoubleVector.zero(D);
        DoubleVector acc1 = DoubleVector.zero(D);
        for (int bound = h - L; i <= bound; i += L) {
            FloatVector va = FloatVector.fromArray(F, a, a0 + i);
            FloatVector vb = FloatVector.fromArray(F, b, b0 + i);
            acc0 = ((DoubleVector) va.convertShape(VectorOperators.F2D, D, 0))
                    .fma((DoubleVector) vb.convertShape(VectorOperators.F2D, D, 0), acc0);
            acc1 = ((DoubleVector) va.convertShape(VectorOperators.F2D, D, 1))
                    .fma((DoubleVector) vb.convertShape(VectorOperators.F2D, D, 1), acc1);
        }
        double s = lanes(acc0.add(acc1));
        for (; i < h; i++) {
            s += (double) a[a0 + i] * b[b0 + i];
        }
        return s;
    }

    /** The lanes of v added in lane order (reduceLanes leaves the floating-point order open). */
    private static double lanes(DoubleVector v) {
        double s = 0;
        for (int j = 0; j < D.length(); j++) {
            s += v.lane(j);
        }
        return s;
    }
}
