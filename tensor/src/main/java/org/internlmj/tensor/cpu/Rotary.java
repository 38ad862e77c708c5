package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.Simd.F;
import static org.internlmj.tensor.cpu.Simd.LANES;

import jdk.incubator.vector.FloatVector;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Rotary position embedding, rotate-half (GPT-NeoX) form, forward and inverse (the inverse is the
 * backward): {@code out[j] = x[j] cos - x[j+D/2] sin}, {@code out[j+D/2] = x[j+D/2] cos + x[j] sin},
 * {@code theta = pos * base^(-2j/D)}.
 *
 * <p>cos and sin are tabulated once per call, angles in double, for the distinct positions when they
 * span no more values than there are tokens (packed documents restart at 0, so the table is as long as
 * the longest document), else per token. Tokens then run in parallel, each head a vector loop over
 * the pairs. {@code out} may be {@code x}: each pair is read before it is written.
 */
final class Rotary {
    private Rotary() {
    }

    private static final int GRAIN_ELEMENTS = 16 * 1024;

    static void rotary(Parallel parallel, Tensor x, Tensor positions, double base, boolean inverse, Tensor out) {
        String op = "rotary";
        OpChecks.sameDevice(op, x, positions, out);
        if (x.rank() != 3 || x.size(2) % 2 != 0) {
            throw new IllegalArgumentException("rotary expects x [T, H, D] with even D, got " + Shapes.str(x.shape()));
        }
        OpChecks.sameShape(op, x, "x", out, "out");
        OpChecks.rows(op, x);
        OpChecks.rows(op, out);
        if (!(base > 0) || Double.isInfinite(base)) {
            throw new IllegalArgumentException("rotary base must be a positive finite number, got " + base);
        }
        int t = x.size(0);
        int heads = x.size(1);
        int d = x.size(2);
        int half = d / 2;
        OpChecks.indices(op, "positions", positions, t);
        int[] pos = positionsOf(positions);
        RowView xv = RowView.of(op, "x", x);
        RowView ov = RowView.of(op, "out", out);
        if (t == 0 || heads == 0 || d == 0) {
            return;
        }
        Table table = new Table(parallel, pos, base, half);
        float sign = inverse ? -1f : 1f;
        int grain = Math.max(1, GRAIN_ELEMENTS / (heads * d));
        parallel.forRange(t, grain, (start, end) -> {
            float[] xs = xv.scratch();
            float[] os = ov.scratch();
            float[] xa = xv.array(xs);
            float[] oa = ov.array(os);
            for (int ti = start; ti < end; ti++) {
                int row = table.row(ti);
                for (int h = 0; h < heads; h++) {
                    int r = ti * heads + h;
                    int xo = xv.load(r, xs);
                    int oo = ov.target(r);
                    rotate(xa, xo, table.cos, table.sin, row * half, sign, oa, oo, half);
                    ov.store(r, os);
                }
            }
        });
    }

    private static int[] positionsOf(Tensor positions) {
        CpuStorage s = RowView.storage(positions);
        int n = positions.size(0);
        int off = positions.offset();
        int stride = positions.stride(0);
        int[] pos = new int[n];
        if (positions.dtype() == DType.I32) {
            int[] a = s.i32();
            for (int i = 0; i < n; i++) {
                pos[i] = a[off + i * stride];
            }
        } else {
            long[] a = s.i64();
            for (int i = 0; i < n; i++) {
                long p = a[off + i * stride];
                if (p != (int) p) {
                    throw new IllegalArgumentException("rotary: position " + p + " of token " + i
                            + " does not fit in 32 bits");
                }
                pos[i] = (int) p;
            }
        }
        return pos;
    }

    /** {@code out = rotate(x, sign * theta)} for one head: pairs (j, j + half). */
    private static void rotate(float[] x, int xo, float[] cos, float[] sin, int co, float sign, float[] out, int oo,
                               int half) {
        int j = 0;
        for (int bound = F.loopBound(half); j < bound; j += LANES) {
            FloatVector x1 = FloatVector.fromArray(F, x, xo + j);
            FloatVector x2 = FloatVector.fromArray(F, x, xo + half + j);
            FloatVector c = FloatVector.fromArray(F, cos, co + j);
            FloatVector s = FloatVector.fromArray(F, sin, co + j).mul(sign);
            x1.mul(c).sub(x2.mul(s)).intoArray(out, oo + j);
            x2.mul(c).add(x1.mul(s)).intoArray(out, oo + half + j);
        }
        for (; j < half; j++) {
            float x1 = x[xo + j];
            float x2 = x[xo + half + j];
            float c = cos[co + j];
            float s = sin[co + j] * sign;
            out[oo + j] = x1 * c - x2 * s;
            out[oo + half + j] = x2 * c + x1 * s;
        }
    }

    /** cos/sin rows, one per distinct position in [min, max] or one per token when that range is larger. */
    private static final class Table {
        final float[] cos;
        final float[] sin;
        private final int[] pos;
        private final int min;
        private final boolean perToken;

        Table(Parallel parallel, int[] pos, double base, int half) {
            this.pos = pos;
            int lo = Integer.MAX_VALUE;
            int hi = Integer.MIN_VALUE;
            for (int p : pos) {
                lo = Math.min(lo, p);
                hi = Math.max(hi, p);
            }
            long range = (long) hi - lo + 1;
            this.perToken = range > pos.length;
            this.min = lo;
            int rows = perToken ? pos.length : (int) range;
            this.cos = new float[rows * half];
            this.sin = new float[rows * half];
            double[] invFreq = new double[half];
            for (int j = 0; j < half; j++) {
                invFreq[j] = Math.pow(base, -2.0 * j / (2 * half));
            }
            parallel.forRange(rows, Math.max(1, 4096 / half), (start, end) -> {
                for (int r = start; r < end; r++) {
                    double p = perToken ? pos[r] : (double) min + r;
                    for (int j = 0; j < half; j++) {
                        double theta = p * invFreq[j];
                        cos[r * half + j] = (float) Math.cos(theta);
                        sin[r * half + j] = (float) Math.sin(theta);
                    }
                }
            });
        }

        int row(int token) {
            return perToken ? token : pos[token] - min;
        }
    }
}
