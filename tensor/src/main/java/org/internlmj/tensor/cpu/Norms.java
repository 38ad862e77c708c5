package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.Simd.F;
import static org.internlmj.tensor.cpu.Simd.LANES;

import jdk.incubator.vector.FloatVector;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * RMSNorm and LayerNorm over the last dimension, forward and backward (llm.c's layernorm.cuh split:
 * the forward saves only rstd, and the mean for LayerNorm; the backward recomputes x-hat from them).
 *
 * <p>Rows run in parallel. The weight and bias gradients are column sums over rows: rows are cut into
 * chunks whose size depends only on the row count, each chunk sums its rows in order into its own
 * partial row, and the partials are added in chunk order, so results are bit-identical for any thread
 * count. All arithmetic is fp32; BF16/F16 rows are widened on load and rounded on store.
 */
final class Norms {
    private Norms() {
    }

    /** Elements a forward task should at least cover, so tiny calls stay on the calling thread. */
    private static final int GRAIN_ELEMENTS = 16 * 1024;
    /** Upper bound on the number of row chunks of a gradient column sum (bounds the partial buffer). */
    private static final int MAX_CHUNKS = 128;
    private static final int MIN_CHUNK_ROWS = 8;

    private static int rowGrain(int h) {
        return Math.max(1, GRAIN_ELEMENTS / Math.max(1, h));
    }

    // ---------------------------------------------------------------- RMSNorm

    static void rmsNorm(Parallel parallel, Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd) {
        String op = "rmsNorm";
        OpChecks.sameDevice(op, x, weight, y, rstd);
        int[] nh = OpChecks.rows(op, x);
        OpChecks.sameShape(op, x, "x", y, "y");
        OpChecks.rows(op, y);
        int n = nh[0];
        int h = nh[1];
        float[] w = RowView.vector(op, "weight", weight, h);
        RowView.Statistic rs = RowView.statistic(op, "rstd", rstd, n);
        RowView xv = RowView.of(op, "x", x);
        RowView yv = RowView.of(op, "y", y);
        parallel.forRange(n, rowGrain(h), (start, end) -> {
            float[] xs = xv.scratch();
            float[] ys = yv.scratch();
            float[] xa = xv.array(xs);
            float[] ya = yv.array(ys);
            for (int r = start; r < end; r++) {
                int xo = xv.load(r, xs);
                int yo = yv.target(r);
                float rstdR = rstd(sumOfSquares(xa, xo, h), h, eps);
                rs.set(r, rstdR);
                scaleByWeight(xa, xo, w, rstdR, ya, yo, h);
                yv.store(r, ys);
            }
        });
    }

    private static float rstd(float sumSquares, int h, float eps) {
        return 1f / (float) Math.sqrt(sumSquares / h + eps);
    }

    /** {@code y = w * (x * s)}. */
    private static void scaleByWeight(float[] x, int xo, float[] w, float s, float[] y, int yo, int h) {
        int i = 0;
        for (int bound = F.loopBound(h); i < bound; i += LANES) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            FloatVector wv = FloatVector.fromArray(F, w, i);
            wv.mul(xv.mul(s)).intoArray(y, yo + i);
        }
        for (; i < h; i++) {
            y[yo + i] = w[i] * (x[xo + i] * s);
        }
    }

    static void rmsNormBackward(Parallel parallel, Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx,
                                Tensor dweight) {
        String op = "rmsNormBackward";
        OpChecks.sameDevice(op, x, weight, rstd, dy, dx, dweight);
        int[] nh = OpChecks.rows(op, x);
        OpChecks.sameShape(op, x, "x", dy, "dy");
        OpChecks.sameShape(op, x, "x", dx, "dx");
        OpChecks.rows(op, dy);
        OpChecks.rows(op, dx);
        int n = nh[0];
        int h = nh[1];
        float[] w = RowView.vector(op, "weight", weight, h);
        RowView.Statistic rs = RowView.statistic(op, "rstd", rstd, n);
        checkGradient(op, "dweight", dweight, h);
        RowView xv = RowView.of(op, "x", x);
        RowView gv = RowView.of(op, "dy", dy);
        RowView dxv = RowView.of(op, "dx", dx);
        Chunks chunks = new Chunks(n, h);
        parallel.forEach(chunks.count, c -> {
            float[] xs = xv.scratch();
            float[] gs = gv.scratch();
            float[] dxs = dxv.scratch();
            float[] xa = xv.array(xs);
            float[] ga = gv.array(gs);
            float[] dxa = dxv.array(dxs);
            float[] dw = chunks.partials;
            int dwo = c * h;
            for (int r = chunks.start(c), end = chunks.end(c); r < end; r++) {
                int xo = xv.load(r, xs);
                int go = gv.load(r, gs);
                int dxo = dxv.target(r);
                float s = rs.get(r);
                // dx = s * (g*w - xhat * mean(g*w*xhat)); mean(g*w*xhat) = s * mean(g*w*x) needs no xhat row.
                float dot = s * dotProduct3(ga, go, w, xa, xo, h) / h;
                rmsRowBackward(xa, xo, ga, go, w, s, dot, dxa, dxo, dw, dwo, h);
                dxv.store(r, dxs);
            }
        });
        RowView.storeVector(chunks.sumColumns(parallel), dweight);
    }

    private static void rmsRowBackward(float[] x, int xo, float[] g, int go, float[] w, float s, float dot,
                                       float[] dx, int dxo, float[] dw, int dwo, int h) {
        int i = 0;
        for (int bound = F.loopBound(h); i < bound; i += LANES) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            FloatVector gv = FloatVector.fromArray(F, g, go + i);
            FloatVector wv = FloatVector.fromArray(F, w, i);
            FloatVector xhat = xv.mul(s);
            gv.mul(wv).sub(xhat.mul(dot)).mul(s).intoArray(dx, dxo + i);
            FloatVector.fromArray(F, dw, dwo + i).add(gv.mul(xhat)).intoArray(dw, dwo + i);
        }
        for (; i < h; i++) {
            float xhat = x[xo + i] * s;
            dx[dxo + i] = (g[go + i] * w[i] - xhat * dot) * s;
            dw[dwo + i] = dw[dwo + i] + g[go + i] * xhat;
        }
    }

    // ---------------------------------------------------------------- LayerNorm

    static void layerNorm(Parallel parallel, Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean,
                          Tensor rstd) {
        String op = "layerNorm";
        OpChecks.sameDevice(op, x, weight, bias, y, mean, rstd);
        int[] nh = OpChecks.rows(op, x);
        OpChecks.sameShape(op, x, "x", y, "y");
        OpChecks.rows(op, y);
        int n = nh[0];
        int h = nh[1];
        float[] w = RowView.vector(op, "weight", weight, h);
        float[] b = bias == null ? new float[h] : RowView.vector(op, "bias", bias, h);
        RowView.Statistic mu = RowView.statistic(op, "mean", mean, n);
        RowView.Statistic rs = RowView.statistic(op, "rstd", rstd, n);
        RowView xv = RowView.of(op, "x", x);
        RowView yv = RowView.of(op, "y", y);
        parallel.forRange(n, rowGrain(h), (start, end) -> {
            float[] xs = xv.scratch();
            float[] ys = yv.scratch();
            float[] xa = xv.array(xs);
            float[] ya = yv.array(ys);
            for (int r = start; r < end; r++) {
                int xo = xv.load(r, xs);
                int yo = yv.target(r);
                float m = sum(xa, xo, h) / h;
                float s = rstd(centredSumOfSquares(xa, xo, m, h), h, eps);
                mu.set(r, m);
                rs.set(r, s);
                normalizeAffine(xa, xo, m, s, w, b, ya, yo, h);
                yv.store(r, ys);
            }
        });
    }

    /** {@code y = (x - m) * s * w + b}. */
    private static void normalizeAffine(float[] x, int xo, float m, float s, float[] w, float[] b, float[] y, int yo,
                                        int h) {
        int i = 0;
        for (int bound = F.loopBound(h); i < bound; i += LANES) {
            FloatVector xhat = FloatVector.fromArray(F, x, xo + i).sub(m).mul(s);
            xhat.fma(FloatVector.fromArray(F, w, i), FloatVector.fromArray(F, b, i)).intoArray(y, yo + i);
        }
        for (; i < h; i++) {
            y[yo + i] = Math.fma((x[xo + i] - m) * s, w[i], b[i]);
        }
    }

    static void layerNormBackward(Parallel parallel, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy,
                                  Tensor dx, Tensor dweight, Tensor dbias) {
        String op = "layerNormBackward";
        OpChecks.sameDevice(op, x, weight, mean, rstd, dy, dx, dweight, dbias);
        int[] nh = OpChecks.rows(op, x);
        OpChecks.sameShape(op, x, "x", dy, "dy");
        OpChecks.sameShape(op, x, "x", dx, "dx");
        OpChecks.rows(op, dy);
        OpChecks.rows(op, dx);
        int n = nh[0];
        int h = nh[1];
        float[] w = RowView.vector(op, "weight", weight, h);
        RowView.Statistic mu = RowView.statistic(op, "mean", mean, n);
        RowView.Statistic rs = RowView.statistic(op, "rstd", rstd, n);
        checkGradient(op, "dweight", dweight, h);
        if (dbias != null) {
            checkGradient(op, "dbias", dbias, h);
        }
        RowView xv = RowView.of(op, "x", x);
        RowView gv = RowView.of(op, "dy", dy);
        RowView dxv = RowView.of(op, "dx", dx);
        // Partials of dweight and dbias side by side: chunk c owns [c*2h, c*2h + 2h).
        Chunks chunks = new Chunks(n, 2 * h);
        parallel.forEach(chunks.count, c -> {
            float[] xs = xv.scratch();
            float[] gs = gv.scratch();
            float[] dxs = dxv.scratch();
            float[] xa = xv.array(xs);
            float[] ga = gv.array(gs);
            float[] dxa = dxv.array(dxs);
            float[] part = chunks.partials;
            int dwo = c * 2 * h;
            for (int r = chunks.start(c), end = chunks.end(c); r < end; r++) {
                int xo = xv.load(r, xs);
                int go = gv.load(r, gs);
                int dxo = dxv.target(r);
                float m = mu.get(r);
                float s = rs.get(r);
                // mean(g*w) and mean(g*w*xhat) with xhat = (x - m) * s.
                float meanG = dotProduct(ga, go, w, 0, h) / h;
                float meanGx = s * centredDotProduct3(ga, go, w, xa, xo, m, h) / h;
                layerRowBackward(xa, xo, ga, go, w, m, s, meanG, meanGx, dxa, dxo, part, dwo, dwo + h, h);
                dxv.store(r, dxs);
            }
        });
        float[] sums = chunks.sumColumns(parallel);
        RowView.storeVector(java.util.Arrays.copyOfRange(sums, 0, h), dweight);
        if (dbias != null) {
            RowView.storeVector(java.util.Arrays.copyOfRange(sums, h, 2 * h), dbias);
        }
    }

    private static void layerRowBackward(float[] x, int xo, float[] g, int go, float[] w, float m, float s,
                                         float meanG, float meanGx, float[] dx, int dxo, float[] part, int dwo,
                                         int dbo, int h) {
        int i = 0;
        for (int bound = F.loopBound(h); i < bound; i += LANES) {
            FloatVector gv = FloatVector.fromArray(F, g, go + i);
            FloatVector xhat = FloatVector.fromArray(F, x, xo + i).sub(m).mul(s);
            FloatVector gw = gv.mul(FloatVector.fromArray(F, w, i));
            gw.sub(meanG).sub(xhat.mul(meanGx)).mul(s).intoArray(dx, dxo + i);
            FloatVector.fromArray(F, part, dwo + i).add(gv.mul(xhat)).intoArray(part, dwo + i);
            FloatVector.fromArray(F, part, dbo + i).add(gv).intoArray(part, dbo + i);
        }
        for (; i < h; i++) {
            float gi = g[go + i];
            float xhat = (x[xo + i] - m) * s;
            dx[dxo + i] = (gi * w[i] - meanG - xhat * meanGx) * s;
            part[dwo + i] = part[dwo + i] + gi * xhat;
            part[dbo + i] = part[dbo + i] + gi;
        }
    }

    // ---------------------------------------------------------------- shared pieces

    private static void checkGradient(String op, String what, Tensor t, int h) {
        RowView.computeDType(op, what, t);
        if (t.rank() != 1 || t.size(0) != h) {
            throw new IllegalArgumentException(op + ": " + what + " must have shape [" + h + "], got "
                    + org.internlmj.tensor.Shapes.str(t.shape()));
        }
        RowView.storage(t);
    }

    /**
     * Fixed row chunks of a column sum and their partial rows: the chunk size depends only on the row
     * count, never on the thread count, so the order of every addition is fixed.
     */
    private static final class Chunks {
        final int rows;
        final int width;
        final int size;
        final int count;
        final float[] partials;

        Chunks(int rows, int width) {
            this.rows = rows;
            this.width = width;
            this.size = Math.max(MIN_CHUNK_ROWS, (rows + MAX_CHUNKS - 1) / MAX_CHUNKS);
            this.count = rows == 0 ? 0 : (rows + size - 1) / size;
            this.partials = new float[Math.max(1, count) * width];
        }

        int start(int c) {
            return c * size;
        }

        int end(int c) {
            return Math.min(rows, (c + 1) * size);
        }

        /** Column sums of the partial rows, added in chunk order (columns in parallel). */
        float[] sumColumns(Parallel parallel) {
            float[] out = new float[width];
            if (count == 0) {
                return out;
            }
            int blocks = (width + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
            Parallel.Task body = blk -> {
                int lo = blk * COLUMN_BLOCK;
                int hi = Math.min(width, lo + COLUMN_BLOCK);
                System.arraycopy(partials, lo, out, lo, hi - lo);
                for (int c = 1; c < count; c++) {
                    addInto(partials, c * width + lo, out, lo, hi - lo);
                }
            };
            if ((long) count * width < GRAIN_ELEMENTS) {
                for (int blk = 0; blk < blocks; blk++) {
                    body.run(blk);
                }
            } else {
                parallel.forEach(blocks, body);
            }
            return out;
        }
    }

    /** Columns per task of a column sum: a multiple of every vector width. */
    private static final int COLUMN_BLOCK = 1024;

    /** {@code dst[dstOff..] += src[srcOff..]} for {@code len} elements. */
    private static void addInto(float[] src, int srcOff, float[] dst, int dstOff, int len) {
        int i = 0;
        for (int bound = F.loopBound(len); i < bound; i += LANES) {
            FloatVector.fromArray(F, dst, dstOff + i).add(FloatVector.fromArray(F, src, srcOff + i))
                    .intoArray(dst, dstOff + i);
        }
        for (; i < len; i++) {
            dst[dstOff + i] = dst[dstOff + i] + src[srcOff + i];
        }
    }

    // ---------------------------------------------------------------- row reductions (fixed order)

    private static float sum(float[] a, int off, int n) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 2 * LANES; i <= bound; i += 2 * LANES) {
            acc0 = acc0.add(FloatVector.fromArray(F, a, off + i));
            acc1 = acc1.add(FloatVector.fromArray(F, a, off + i + LANES));
        }
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            acc0 = acc0.add(FloatVector.fromArray(F, a, off + i));
        }
        float s = VectorMath.sum(acc0.add(acc1));
        for (; i < n; i++) {
            s += a[off + i];
        }
        return s;
    }

    private static float sumOfSquares(float[] a, int off, int n) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 2 * LANES; i <= bound; i += 2 * LANES) {
            FloatVector v0 = FloatVector.fromArray(F, a, off + i);
            FloatVector v1 = FloatVector.fromArray(F, a, off + i + LANES);
            acc0 = v0.fma(v0, acc0);
            acc1 = v1.fma(v1, acc1);
        }
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            FloatVector v0 = FloatVector.fromArray(F, a, off + i);
            acc0 = v0.fma(v0, acc0);
        }
        float s = VectorMath.sum(acc0.add(acc1));
        for (; i < n; i++) {
            s = Math.fma(a[off + i], a[off + i], s);
        }
        return s;
    }

    /** {@code sum((a - m)^2)}. */
    private static float centredSumOfSquares(float[] a, int off, float m, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            FloatVector d = FloatVector.fromArray(F, a, off + i).sub(m);
            acc = d.fma(d, acc);
        }
        float s = VectorMath.sum(acc);
        for (; i < n; i++) {
            float d = a[off + i] - m;
            s = Math.fma(d, d, s);
        }
        return s;
    }

    /** {@code sum(a * b)}. */
    private static float dotProduct(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
        }
        float s = VectorMath.sum(acc);
        for (; i < n; i++) {
            s = Math.fma(a[ao + i], b[bo + i], s);
        }
        return s;
    }

    /** {@code sum(g * w * x)}. */
    private static float dotProduct3(float[] g, int go, float[] w, float[] x, int xo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            FloatVector gw = FloatVector.fromArray(F, g, go + i).mul(FloatVector.fromArray(F, w, i));
            acc = gw.fma(FloatVector.fromArray(F, x, xo + i), acc);
        }
        float s = VectorMath.sum(acc);
        for (; i < n; i++) {
            s = Math.fma(g[go + i] * w[i], x[xo + i], s);
        }
        return s;
    }

    /** {@code sum(g * w * (x - m))}. */
    private static float centredDotProduct3(float[] g, int go, float[] w, float[] x, int xo, float m, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            FloatVector gw = FloatVector.fromArray(F, g, go + i).mul(FloatVector.fromArray(F, w, i));
            acc = gw.fma(FloatVector.fromArray(F, x, xo + i).sub(m), acc);
        }
        float s = VectorMath.sum(acc);
        for (; i < n; i++) {
            s = Math.fma(g[go + i] * w[i], x[xo + i] - m, s);
        }
        return s;
    }
}
