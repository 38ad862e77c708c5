package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.Simd.F;
import static org.internlmj.tensor.cpu.Simd.LANES;

import jdk.incubator.vector.FloatVector;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * SwiGLU, forward {@code out = silu(gate) * up} and backward
 * {@code dup = dout * silu(gate)}, {@code dgate = dout * up * sig * (1 + gate * (1 - sig))}, with
 * {@code sig = 1 / (1 + exp(-gate))} from {@link VectorExp#exp} (the same bits in vector lanes and
 * scalar tails, so results do not depend on how the work is split).
 *
 * <p>Tensors are processed as rows of their last dimension, which must be contiguous (the common
 * strided case: gate and up as two halves of one fused projection output {@code [T, 2I]}); rows run
 * in parallel. When every operand is contiguous, the elements are regrouped into rows of a fixed
 * power-of-two block instead, so a 1-D or few-row call still spreads over the cores.
 */
final class SwiGlu {
    private SwiGlu() {
    }

    private static final int GRAIN_ELEMENTS = 16 * 1024;

    static void swiglu(Parallel parallel, Tensor gate, Tensor up, Tensor out) {
        String op = "swiglu";
        OpChecks.sameDevice(op, gate, up, out);
        OpChecks.sameShape(op, gate, "gate", up, "up");
        OpChecks.sameShape(op, gate, "gate", out, "out");
        Tensor[] ts = asRows(op, gate, up, out);
        RowView g = RowView.of(op, "gate", ts[0]);
        RowView u = RowView.of(op, "up", ts[1]);
        RowView o = RowView.of(op, "out", ts[2]);
        int w = g.width;
        parallel.forRange(g.rows, Math.max(1, GRAIN_ELEMENTS / Math.max(1, w)), (start, end) -> {
            float[] gs = g.scratch();
            float[] us = u.scratch();
            float[] os = o.scratch();
            float[] ga = g.array(gs);
            float[] ua = u.array(us);
            float[] oa = o.array(os);
            for (int r = start; r < end; r++) {
                forward(ga, g.load(r, gs), ua, u.load(r, us), oa, o.target(r), w);
                o.store(r, os);
            }
        });
    }

    static void swigluBackward(Parallel parallel, Tensor gate, Tensor up, Tensor dout, Tensor dgate, Tensor dup) {
        String op = "swigluBackward";
        OpChecks.sameDevice(op, gate, up, dout, dgate, dup);
        OpChecks.sameShape(op, gate, "gate", up, "up");
        OpChecks.sameShape(op, gate, "gate", dout, "dout");
        OpChecks.sameShape(op, gate, "gate", dgate, "dgate");
        OpChecks.sameShape(op, gate, "gate", dup, "dup");
        Tensor[] ts = asRows(op, gate, up, dout, dgate, dup);
        RowView g = RowView.of(op, "gate", ts[0]);
        RowView u = RowView.of(op, "up", ts[1]);
        RowView d = RowView.of(op, "dout", ts[2]);
        RowView dg = RowView.of(op, "dgate", ts[3]);
        RowView du = RowView.of(op, "dup", ts[4]);
        int w = g.width;
        parallel.forRange(g.rows, Math.max(1, GRAIN_ELEMENTS / Math.max(1, w)), (start, end) -> {
            float[] gs = g.scratch();
            float[] us = u.scratch();
            float[] ds = d.scratch();
            float[] dgs = dg.scratch();
            float[] dus = du.scratch();
            float[] ga = g.array(gs);
            float[] ua = u.array(us);
            float[] da = d.array(ds);
            float[] dga = dg.array(dgs);
            float[] dua = du.array(dus);
            for (int r = start; r < end; r++) {
                backward(ga, g.load(r, gs), ua, u.load(r, us), da, d.load(r, ds), dga, dg.target(r), dua,
                        du.target(r), w);
                dg.store(r, dgs);
                du.store(r, dus);
            }
        });
    }

    /** Block length when a contiguous tensor is cut into rows: a multiple of every vector width. */
    private static final int BLOCK = 4096;

    /**
     * The tensors as rows of one common shape. Contiguous operands are regrouped into rows of a
     * power-of-two block that divides the element count (so a 1-D or few-row call still spreads over
     * the cores); otherwise each keeps its own last dimension, which must be contiguous.
     */
    private static Tensor[] asRows(String op, Tensor... ts) {
        boolean allContiguous = true;
        for (Tensor t : ts) {
            RowView.computeDType(op, "operand", t);
            allContiguous &= t.isContiguous();
        }
        int n = ts[0].numel();
        int block = 0;
        for (int b = BLOCK; allContiguous && b >= LANES && block == 0; b /= 2) {
            if (n % b == 0 && n > 0) {
                block = b;
            }
        }
        Tensor[] out = new Tensor[ts.length];
        for (int i = 0; i < ts.length; i++) {
            if (block > 0) {
                out[i] = ts[i].reshape(n / block, block);
            } else {
                OpChecks.rows(op, ts[i]);
                out[i] = ts[i].rank() == 0 ? ts[i].reshape(1) : ts[i];
            }
        }
        return out;
    }

    private static void forward(float[] g, int go, float[] u, int uo, float[] out, int oo, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            FloatVector gv = FloatVector.fromArray(F, g, go + i);
            FloatVector sig = VectorExp.exp(gv.neg()).add(1f);
            gv.div(sig).mul(FloatVector.fromArray(F, u, uo + i)).intoArray(out, oo + i);
        }
        for (; i < n; i++) {
            float gi = g[go + i];
            out[oo + i] = gi / (VectorExp.exp(-gi) + 1f) * u[uo + i];
        }
    }

    private static void backward(float[] g, int go, float[] u, int uo, float[] d, int dO, float[] dg, int dgo,
                                 float[] du, int duo, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            FloatVector gv = FloatVector.fromArray(F, g, go + i);
            FloatVector dv = FloatVector.fromArray(F, d, dO + i);
            FloatVector uv = FloatVector.fromArray(F, u, uo + i);
            FloatVector sig = FloatVector.broadcast(F, 1f).div(VectorExp.exp(gv.neg()).add(1f));
            dv.mul(gv.mul(sig)).intoArray(du, duo + i);
            FloatVector dsilu = sig.mul(gv.mul(sig.neg().add(1f)).add(1f));
            dv.mul(uv).mul(dsilu).intoArray(dg, dgo + i);
        }
        for (; i < n; i++) {
            float gi = g[go + i];
            float sig = 1f / (VectorExp.exp(-gi) + 1f);
            du[duo + i] = d[dO + i] * (gi * sig);
            dg[dgo + i] = d[dO + i] * u[uo + i] * (sig * (gi * (1f - sig) + 1f));
        }
    }
}
