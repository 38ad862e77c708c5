package org.internlmj.tensor.reference;

import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Philox;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Storage;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * The scalar oracle: every {@link Backend} operation as plain loops in double precision over CPU
 * tensors of any layout, written for obviousness, not speed. Every optimised kernel (CPU Vector API or
 * CUDA) is tested against it. Results are rounded once, when stored into the output's dtype.
 */
public final class ReferenceBackend implements Backend {

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public String describe() {
        return "reference (scalar float64 oracle)";
    }

    @Override
    public Storage allocate(DType dtype, long length, boolean zeroed) {
        return CpuStorage.allocate(dtype, Math.toIntExact(length));
    }

    // ---------------------------------------------------------------- element access

    /** All elements of t in row-major order as doubles. */
    static double[] read(Tensor t) {
        CpuStorage s = cpu(t);
        int[] shape = t.shape();
        int[] strides = t.strides();
        int n = t.numel();
        double[] out = new double[n];
        int[] idx = new int[shape.length];
        for (int i = 0; i < n; i++) {
            int off = t.offset();
            for (int d = 0; d < shape.length; d++) {
                off += idx[d] * strides[d];
            }
            out[i] = s.get(off);
            increment(idx, shape);
        }
        return out;
    }

    /** Writes values (row-major order) into t, rounding to its dtype. */
    static void write(Tensor t, double[] values) {
        CpuStorage s = cpu(t);
        int[] shape = t.shape();
        int[] strides = t.strides();
        int[] idx = new int[shape.length];
        for (int i = 0; i < values.length; i++) {
            int off = t.offset();
            for (int d = 0; d < shape.length; d++) {
                off += idx[d] * strides[d];
            }
            s.set(off, values[i]);
            increment(idx, shape);
        }
    }

    private static void increment(int[] idx, int[] shape) {
        for (int d = shape.length - 1; d >= 0; d--) {
            if (++idx[d] < shape[d]) {
                return;
            }
            idx[d] = 0;
        }
    }

    private static CpuStorage cpu(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s)) {
            throw new IllegalArgumentException("the reference backend computes on CPU tensors, got " + t);
        }
        s.checkOpen();
        return s;
    }

    private static int[] ints(Tensor t) {
        double[] d = read(t);
        int[] r = new int[d.length];
        for (int i = 0; i < d.length; i++) {
            r[i] = (int) d[i];
        }
        return r;
    }

    // ---------------------------------------------------------------- data movement

    @Override
    public void fill(Tensor out, double value) {
        double[] v = new double[out.numel()];
        java.util.Arrays.fill(v, value);
        write(out, v);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        OpChecks.broadcastsTo("copy", src, dst);
        write(dst, read(src.expand(dst.shape())));
    }

    @Override
    public void fillRandom(Tensor out, Distribution distribution, double a, double b, long seed, long offset) {
        double[] v = new double[out.numel()];
        for (int i = 0; i < v.length; i++) {
            v[i] = distribution == Distribution.UNIFORM
                    ? a + (b - a) * Philox.uniform(seed, offset + i)
                    : a + b * Philox.normal(seed, offset + i);
        }
        write(out, v);
    }

    // ---------------------------------------------------------------- GEMM

    @Override
    public void matmul(Tensor a, Tensor b, Tensor c, float alpha, float beta) {
        OpChecks.GemmDims g = OpChecks.matmul(a, b, c);
        Tensor a3 = a.rank() == 3 ? a : a.unsqueeze(0);
        Tensor b3 = b.rank() == 3 ? b : b.unsqueeze(0).expand(g.batch(), g.k(), g.n());
        Tensor c3 = c.rank() == 3 ? c : c.unsqueeze(0);
        double[] av = read(a3);
        double[] bv = read(b3);
        double[] cv = beta == 0 ? new double[g.batch() * g.m() * g.n()] : read(c3);
        int m = g.m();
        int n = g.n();
        int k = g.k();
        for (int bi = 0; bi < g.batch(); bi++) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        acc += av[(bi * m + i) * k + p] * bv[(bi * k + p) * n + j];
                    }
                    int o = (bi * m + i) * n + j;
                    cv[o] = alpha * acc + (beta == 0 ? 0 : beta * cv[o]);
                }
            }
        }
        write(c3, cv);
    }

    // ---------------------------------------------------------------- elementwise and reductions

    @Override
    public void unary(UnaryOp op, Tensor x, Tensor out) {
        OpChecks.broadcastsTo(op.name(), x, out);
        double[] v = read(x.expand(out.shape()));
        for (int i = 0; i < v.length; i++) {
            v[i] = op.apply(v[i]);
        }
        write(out, v);
    }

    @Override
    public void binary(BinaryOp op, Tensor a, Tensor b, Tensor out) {
        OpChecks.broadcastsTo(op.name(), a, out);
        OpChecks.broadcastsTo(op.name(), b, out);
        double[] av = read(a.expand(out.shape()));
        double[] bv = read(b.expand(out.shape()));
        for (int i = 0; i < av.length; i++) {
            av[i] = op.apply(av[i], bv[i]);
        }
        write(out, av);
    }

    @Override
    public void affine(Tensor x, double scale, double shift, Tensor out) {
        OpChecks.broadcastsTo("affine", x, out);
        double[] v = read(x.expand(out.shape()));
        for (int i = 0; i < v.length; i++) {
            v[i] = v[i] * scale + shift;
        }
        write(out, v);
    }

    @Override
    public void reduce(ReduceOp op, Tensor x, int dim, Tensor out) {
        int d = org.internlmj.tensor.Shapes.dim(dim, x.rank());
        int[] outShape = x.shape();
        outShape[d] = 1;
        OpChecks.shape("reduce", "out", out, outShape);
        int[] shape = x.shape();
        int outer = 1;
        for (int i = 0; i < d; i++) {
            outer *= shape[i];
        }
        int inner = 1;
        for (int i = d + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        int len = shape[d];
        double[] v = read(x);
        double[] r = new double[outer * inner];
        for (int o = 0; o < outer; o++) {
            for (int in = 0; in < inner; in++) {
                double acc = switch (op) {
                    case SUM, MEAN -> 0;
                    case MAX -> Double.NEGATIVE_INFINITY;
                    case MIN -> Double.POSITIVE_INFINITY;
                };
                for (int l = 0; l < len; l++) {
                    double e = v[(o * len + l) * inner + in];
                    acc = switch (op) {
                        case SUM, MEAN -> acc + e;
                        case MAX -> Double.isNaN(e) || Double.isNaN(acc) ? Double.NaN : Math.max(acc, e);
                        case MIN -> Double.isNaN(e) || Double.isNaN(acc) ? Double.NaN : Math.min(acc, e);
                    };
                }
                r[o * inner + in] = op == ReduceOp.MEAN ? acc / len : acc;
            }
        }
        write(out, r);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        double acc = 0;
        for (double e : read(x)) {
            acc += e * e;
        }
        return acc;
    }

    @Override
    public void softmax(Tensor x, Tensor out, boolean log) {
        OpChecks.sameShape("softmax", x, "x", out, "out");
        int h = x.size(-1);
        double[] v = read(x);
        for (int r = 0; r * h < v.length; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < h; j++) {
                max = Math.max(max, v[r * h + j]);
            }
            double sum = 0;
            for (int j = 0; j < h; j++) {
                sum += Math.exp(v[r * h + j] - max);
            }
            double lse = max + Math.log(sum);
            for (int j = 0; j < h; j++) {
                v[r * h + j] = log ? v[r * h + j] - lse : Math.exp(v[r * h + j] - lse);
            }
        }
        write(out, v);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log) {
        OpChecks.sameShape("softmaxBackward", y, "y", dy, "dy");
        OpChecks.sameShape("softmaxBackward", y, "y", dx, "dx");
        int h = y.size(-1);
        double[] yv = read(y);
        double[] g = read(dy);
        double[] r = new double[yv.length];
        for (int row = 0; row * h < yv.length; row++) {
            double s = 0;
            for (int j = 0; j < h; j++) {
                s += log ? g[row * h + j] : g[row * h + j] * yv[row * h + j];
            }
            for (int j = 0; j < h; j++) {
                int i = row * h + j;
                r[i] = log ? g[i] - Math.exp(yv[i]) * s : yv[i] * (g[i] - s);
            }
        }
        write(dx, r);
    }

    // ---------------------------------------------------------------- fused transformer kernels

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd) {
        int[] nh = OpChecks.rows("rmsNorm", x);
        int n = nh[0];
        int h = nh[1];
        OpChecks.sameShape("rmsNorm", x, "x", y, "y");
        OpChecks.shape("rmsNorm", "weight", weight, h);
        OpChecks.shape("rmsNorm", "rstd", rstd, n);
        double[] xv = read(x);
        double[] w = read(weight);
        double[] out = new double[xv.length];
        double[] rs = new double[n];
        for (int r = 0; r < n; r++) {
            double ss = 0;
            for (int j = 0; j < h; j++) {
                ss += xv[r * h + j] * xv[r * h + j];
            }
            rs[r] = 1.0 / Math.sqrt(ss / h + eps);
            for (int j = 0; j < h; j++) {
                out[r * h + j] = w[j] * xv[r * h + j] * rs[r];
            }
        }
        write(y, out);
        write(rstd, rs);
    }

    @Override
    public void rmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight) {
        int[] nh = OpChecks.rows("rmsNormBackward", x);
        int n = nh[0];
        int h = nh[1];
        double[] xv = read(x);
        double[] w = read(weight);
        double[] rs = read(rstd);
        double[] g = read(dy);
        double[] dxv = new double[xv.length];
        double[] dw = new double[h];
        for (int r = 0; r < n; r++) {
            double dot = 0;
            for (int j = 0; j < h; j++) {
                double xhat = xv[r * h + j] * rs[r];
                dot += g[r * h + j] * w[j] * xhat;
                dw[j] += g[r * h + j] * xhat;
            }
            dot /= h;
            for (int j = 0; j < h; j++) {
                double xhat = xv[r * h + j] * rs[r];
                dxv[r * h + j] = rs[r] * (g[r * h + j] * w[j] - xhat * dot);
            }
        }
        write(dx, dxv);
        write(dweight, dw);
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd) {
        int[] nh = OpChecks.rows("layerNorm", x);
        int n = nh[0];
        int h = nh[1];
        OpChecks.sameShape("layerNorm", x, "x", y, "y");
        OpChecks.shape("layerNorm", "weight", weight, h);
        if (bias != null) {
            OpChecks.shape("layerNorm", "bias", bias, h);
        }
        double[] xv = read(x);
        double[] w = read(weight);
        double[] b = bias == null ? new double[h] : read(bias);
        double[] out = new double[xv.length];
        double[] mu = new double[n];
        double[] rs = new double[n];
        for (int r = 0; r < n; r++) {
            double s = 0;
            for (int j = 0; j < h; j++) {
                s += xv[r * h + j];
            }
            mu[r] = s / h;
            double var = 0;
            for (int j = 0; j < h; j++) {
                double c = xv[r * h + j] - mu[r];
                var += c * c;
            }
            rs[r] = 1.0 / Math.sqrt(var / h + eps);
            for (int j = 0; j < h; j++) {
                out[r * h + j] = (xv[r * h + j] - mu[r]) * rs[r] * w[j] + b[j];
            }
        }
        write(y, out);
        write(mean, mu);
        write(rstd, rs);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
                                  Tensor dweight, Tensor dbias) {
        int[] nh = OpChecks.rows("layerNormBackward", x);
        int n = nh[0];
        int h = nh[1];
        double[] xv = read(x);
        double[] w = read(weight);
        double[] mu = read(mean);
        double[] rs = read(rstd);
        double[] g = read(dy);
        double[] dxv = new double[xv.length];
        double[] dw = new double[h];
        double[] db = new double[h];
        for (int r = 0; r < n; r++) {
            double meanG = 0;
            double meanGx = 0;
            for (int j = 0; j < h; j++) {
                double xhat = (xv[r * h + j] - mu[r]) * rs[r];
                double gw = g[r * h + j] * w[j];
                meanG += gw;
                meanGx += gw * xhat;
                dw[j] += g[r * h + j] * xhat;
                db[j] += g[r * h + j];
            }
            meanG /= h;
            meanGx /= h;
            for (int j = 0; j < h; j++) {
                double xhat = (xv[r * h + j] - mu[r]) * rs[r];
                dxv[r * h + j] = rs[r] * (g[r * h + j] * w[j] - meanG - xhat * meanGx);
            }
        }
        write(dx, dxv);
        write(dweight, dw);
        if (dbias != null) {
            write(dbias, db);
        }
    }

    @Override
    public void rotary(Tensor x, Tensor positions, double base, boolean inverse, Tensor out) {
        if (x.rank() != 3 || x.size(2) % 2 != 0) {
            throw new IllegalArgumentException("rotary expects x [T, H, D] with even D, got "
                    + org.internlmj.tensor.Shapes.str(x.shape()));
        }
        OpChecks.sameShape("rotary", x, "x", out, "out");
        int t = x.size(0);
        int heads = x.size(1);
        int d = x.size(2);
        int half = d / 2;
        OpChecks.indices("rotary", "positions", positions, t);
        int[] pos = ints(positions);
        double[] xv = read(x);
        double[] r = new double[xv.length];
        for (int ti = 0; ti < t; ti++) {
            for (int h = 0; h < heads; h++) {
                int base0 = (ti * heads + h) * d;
                for (int j = 0; j < half; j++) {
                    double theta = pos[ti] * Math.pow(base, -2.0 * j / d);
                    double c = Math.cos(theta);
                    double s = inverse ? -Math.sin(theta) : Math.sin(theta);
                    double x1 = xv[base0 + j];
                    double x2 = xv[base0 + j + half];
                    r[base0 + j] = x1 * c - x2 * s;
                    r[base0 + j + half] = x2 * c + x1 * s;
                }
            }
        }
        write(out, r);
    }

    @Override
    public void swiglu(Tensor gate, Tensor up, Tensor out) {
        OpChecks.sameShape("swiglu", gate, "gate", up, "up");
        OpChecks.sameShape("swiglu", gate, "gate", out, "out");
        double[] g = read(gate);
        double[] u = read(up);
        for (int i = 0; i < g.length; i++) {
            g[i] = UnaryOp.SILU.apply(g[i]) * u[i];
        }
        write(out, g);
    }

    @Override
    public void swigluBackward(Tensor gate, Tensor up, Tensor dout, Tensor dgate, Tensor dup) {
        OpChecks.sameShape("swigluBackward", gate, "gate", up, "up");
        OpChecks.sameShape("swigluBackward", gate, "gate", dout, "dout");
        double[] g = read(gate);
        double[] u = read(up);
        double[] d = read(dout);
        double[] dg = new double[g.length];
        double[] du = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            double sig = 1.0 / (1.0 + Math.exp(-g[i]));
            du[i] = d[i] * g[i] * sig;
            dg[i] = d[i] * u[i] * sig * (1.0 + g[i] * (1.0 - sig));
        }
        write(dgate, dg);
        write(dup, du);
    }

    @Override
    public void embedding(Tensor weight, Tensor ids, Tensor out) {
        int v = weight.size(0);
        int h = weight.size(1);
        int t = ids.numel();
        OpChecks.indices("embedding", "ids", ids, t);
        OpChecks.shape("embedding", "out", out, t, h);
        int[] id = ints(ids);
        double[] w = read(weight);
        double[] r = new double[t * h];
        for (int i = 0; i < t; i++) {
            checkId(id[i], i, v);
            System.arraycopy(w, id[i] * h, r, i * h, h);
        }
        write(out, r);
    }

    private static void checkId(int id, int position, int vocab) {
        if (id < 0 || id >= vocab) {
            throw new IllegalArgumentException("token id " + id + " at position " + position
                    + " is outside the vocabulary [0, " + vocab + ")");
        }
    }

    @Override
    public void embeddingBackward(Tensor ids, Tensor dout, Tensor dweight) {
        int v = dweight.size(0);
        int h = dweight.size(1);
        int t = ids.numel();
        OpChecks.shape("embeddingBackward", "dout", dout, t, h);
        int[] id = ints(ids);
        double[] g = read(dout);
        double[] dw = read(dweight);
        for (int i = 0; i < t; i++) {
            checkId(id[i], i, v);
            for (int j = 0; j < h; j++) {
                dw[id[i] * h + j] += g[i * h + j];
            }
        }
        write(dweight, dw);
    }

    @Override
    public void crossEntropy(Tensor logits, Tensor labels, int ignoreIndex, float smoothing, Tensor loss, Tensor lse) {
        int n = logits.size(0);
        int v = logits.size(1);
        OpChecks.indices("crossEntropy", "labels", labels, n);
        OpChecks.shape("crossEntropy", "loss", loss, n);
        OpChecks.shape("crossEntropy", "lse", lse, n);
        double[] x = read(logits);
        int[] y = ints(labels);
        double[] l = new double[n];
        double[] z = new double[n];
        for (int r = 0; r < n; r++) {
            double max = Double.NEGATIVE_INFINITY;
            double sum = 0;
            for (int j = 0; j < v; j++) {
                max = Math.max(max, x[r * v + j]);
                sum += x[r * v + j];
            }
            double se = 0;
            for (int j = 0; j < v; j++) {
                se += Math.exp(x[r * v + j] - max);
            }
            z[r] = max + Math.log(se);
            if (y[r] == ignoreIndex) {
                continue;
            }
            checkId(y[r], r, v);
            // Without smoothing the mean term is absent, not 0 * (lse - mean): a masked (-inf) logit
            // would otherwise turn every loss into NaN.
            l[r] = (1 - smoothing) * (z[r] - x[r * v + y[r]]) + (smoothing == 0 ? 0 : smoothing * (z[r] - sum / v));
        }
        write(loss, l);
        write(lse, z);
    }

    @Override
    public void crossEntropyBackward(Tensor logits, Tensor labels, Tensor lse, int ignoreIndex, float smoothing,
                                     Tensor dloss, Tensor dlogits) {
        crossEntropyShardBackward(logits, labels, 0, logits.size(1), lse, ignoreIndex, smoothing, dloss, dlogits);
    }

    @Override
    public void crossEntropyShardStats(Tensor logits, Tensor labels, int vocabStart, Tensor lse, Tensor target,
                                       Tensor sum) {
        String op = "crossEntropyShardStats";
        int n = logits.size(0);
        int v = logits.size(1);
        OpChecks.indices(op, "labels", labels, n);
        OpChecks.shape(op, "lse", lse, n);
        OpChecks.shape(op, "target", target, n);
        OpChecks.shape(op, "sum", sum, n);
        double[] x = read(logits);
        int[] y = ints(labels);
        double[] z = new double[n];
        double[] t = new double[n];
        double[] s = new double[n];
        for (int r = 0; r < n; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) {
                max = Math.max(max, x[r * v + j]);
                s[r] += x[r * v + j];
            }
            double se = 0;
            for (int j = 0; j < v; j++) {
                se += Math.exp(x[r * v + j] - max);
            }
            z[r] = max + Math.log(se);
            int local = y[r] - vocabStart;
            if (local >= 0 && local < v) {
                t[r] = x[r * v + local];
            }
        }
        write(lse, z);
        write(target, t);
        write(sum, s);
    }

    @Override
    public void crossEntropyShardBackward(Tensor logits, Tensor labels, int vocabStart, int vocabTotal, Tensor lse,
                                          int ignoreIndex, float smoothing, Tensor dloss, Tensor dlogits) {
        int n = logits.size(0);
        int v = logits.size(1);
        OpChecks.sameShape("crossEntropyBackward", logits, "logits", dlogits, "dlogits");
        double[] x = read(logits);
        int[] y = ints(labels);
        double[] z = read(lse);
        double[] dl = read(dloss);
        double[] g = new double[x.length];
        for (int r = 0; r < n; r++) {
            if (y[r] == ignoreIndex) {
                continue;
            }
            checkId(y[r], r, vocabTotal);
            for (int j = 0; j < v; j++) {
                double p = Math.exp(x[r * v + j] - z[r]);
                g[r * v + j] = dl[r] * (p - (vocabStart + j == y[r] ? 1 - smoothing : 0) - smoothing / vocabTotal);
            }
        }
        write(dlogits, g);
    }

    @Override
    public void attention(Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, float scale, boolean causal,
                          Tensor out, Tensor lse) {
        int[] thd = OpChecks.attention(q, k, v, out, cuSeqlens);
        int t = thd[0];
        int heads = thd[1];
        int d = thd[2];
        OpChecks.shape("attention", "lse", lse, heads, t);
        int[] cu = OpChecks.cuSeqlens(ints(cuSeqlens), t);
        double[] qv = read(q);
        double[] kv = read(k);
        double[] vv = read(v);
        double[] o = new double[qv.length];
        double[] z = new double[heads * t];
        for (int doc = 0; doc + 1 < cu.length; doc++) {
            for (int h = 0; h < heads; h++) {
                for (int i = cu[doc]; i < cu[doc + 1]; i++) {
                    int last = causal ? i : cu[doc + 1] - 1;
                    double[] s = new double[last - cu[doc] + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = cu[doc]; j <= last; j++) {
                        double dot = 0;
                        for (int e = 0; e < d; e++) {
                            dot += qv[(i * heads + h) * d + e] * kv[(j * heads + h) * d + e];
                        }
                        s[j - cu[doc]] = dot * scale;
                        max = Math.max(max, dot * scale);
                    }
                    double sum = 0;
                    for (double sj : s) {
                        sum += Math.exp(sj - max);
                    }
                    double lz = max + Math.log(sum);
                    z[h * t + i] = lz;
                    for (int j = cu[doc]; j <= last; j++) {
                        double p = Math.exp(s[j - cu[doc]] - lz);
                        for (int e = 0; e < d; e++) {
                            o[(i * heads + h) * d + e] += p * vv[(j * heads + h) * d + e];
                        }
                    }
                }
            }
        }
        write(out, o);
        write(lse, z);
    }

    @Override
    public void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse, Tensor cuSeqlens,
                                  float scale, boolean causal, Tensor dq, Tensor dk, Tensor dv) {
        int[] thd = OpChecks.attentionBackward(q, k, v, out, dout, lse, cuSeqlens, dq, dk, dv);
        int t = thd[0];
        int heads = thd[1];
        int d = thd[2];
        int[] cu = OpChecks.cuSeqlens(ints(cuSeqlens), t);
        double[] qv = read(q);
        double[] kv = read(k);
        double[] vv = read(v);
        double[] ov = read(out);
        double[] go = read(dout);
        double[] z = read(lse);
        double[] gq = new double[qv.length];
        double[] gk = new double[qv.length];
        double[] gv = new double[qv.length];
        for (int doc = 0; doc + 1 < cu.length; doc++) {
            for (int h = 0; h < heads; h++) {
                for (int i = cu[doc]; i < cu[doc + 1]; i++) {
                    int qi = (i * heads + h) * d;
                    double di = 0;
                    for (int e = 0; e < d; e++) {
                        di += go[qi + e] * ov[qi + e];
                    }
                    int last = causal ? i : cu[doc + 1] - 1;
                    for (int j = cu[doc]; j <= last; j++) {
                        int kj = (j * heads + h) * d;
                        double dot = 0;
                        double dp = 0;
                        for (int e = 0; e < d; e++) {
                            dot += qv[qi + e] * kv[kj + e];
                            dp += go[qi + e] * vv[kj + e];
                        }
                        double p = Math.exp(dot * scale - z[h * t + i]);
                        double ds = p * (dp - di);
                        for (int e = 0; e < d; e++) {
                            gv[kj + e] += p * go[qi + e];
                            gq[qi + e] += scale * ds * kv[kj + e];
                            gk[kj + e] += scale * ds * qv[qi + e];
                        }
                    }
                }
            }
        }
        write(dq, gq);
        write(dk, gk);
        write(dv, gv);
    }

    // ---------------------------------------------------------------- optimizer

    @Override
    public void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step, Tensor modelCopy) {
        OpChecks.dtype("adamw", "param", param, DType.F32);
        OpChecks.sameShape("adamw", param, "param", grad, "grad");
        OpChecks.sameShape("adamw", param, "param", m, "m");
        OpChecks.sameShape("adamw", param, "param", v, "v");
        double[] p = read(param);
        double[] g = read(grad);
        double[] mv = read(m);
        double[] vv = read(v);
        double bc1 = step.biasCorrection1();
        double bc2sqrt = Math.sqrt(step.biasCorrection2());
        for (int i = 0; i < p.length; i++) {
            double gi = g[i] * step.gradScale();
            p[i] *= 1 - step.lr() * step.weightDecay();
            mv[i] = step.beta1() * mv[i] + (1 - step.beta1()) * gi;
            vv[i] = step.beta2() * vv[i] + (1 - step.beta2()) * gi * gi;
            p[i] -= step.lr() / bc1 * mv[i] / (Math.sqrt(vv[i]) / bc2sqrt + step.eps());
        }
        write(param, p);
        write(m, mv);
        write(v, vv);
        if (modelCopy != null) {
            write(modelCopy, p);
        }
    }
}
