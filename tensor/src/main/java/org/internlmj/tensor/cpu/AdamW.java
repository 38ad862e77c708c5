package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.Simd.F;
import static org.internlmj.tensor.cpu.Simd.LANES;

import jdk.incubator.vector.FloatVector;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * The AdamW update on fp32 master weights, with torch.optim.AdamW's arithmetic ({@link AdamWStep}):
 * the hyper-parameters are combined in double and rounded to float once per call, as torch does with
 * Python-number scalars, and every element then takes the same fp32 steps, in torch's order where the
 * formula leaves it open ({@code addcmul} for v, {@code addcdiv} for p):
 * <pre>
 *   p = p * decay;  g = grad * gradScale;  m = m * b1 + (1 - b1) * g;  v = v * b2 + ((1 - b2) * g) * g;
 *   p = p - (m / (sqrt(v) / sqrt(bc2) + eps)) * stepSize
 * </pre>
 * each a separately rounded IEEE operation (no fused multiply-add), so a vector lane and the scalar tail
 * give the same bits and the result does not depend on how elements are split among threads. The
 * updated weight can be written at once into a BF16/F16/F32 model copy.
 *
 * <p>Optimisers call this once per parameter tensor, many of them tiny (norm weights), so a small call
 * runs on the calling thread with no allocation and no hand-off to the pool.
 */
final class AdamW {
    private AdamW() {
    }

    /** Elements per parallel task; calls with fewer elements run on the calling thread. */
    private static final int BLOCK = 32 * 1024;

    /** One call's fp32 scalars. */
    private record Coefficients(float decay, float gradScale, float beta1, float oneMinusBeta1, float beta2,
                                float oneMinusBeta2, float stepSize, float bc2Sqrt, float eps) {
        static Coefficients of(AdamWStep s) {
            return new Coefficients((float) (1.0 - s.lr() * s.weightDecay()), (float) s.gradScale(),
                    (float) s.beta1(), (float) (1.0 - s.beta1()), (float) s.beta2(), (float) (1.0 - s.beta2()),
                    (float) (s.lr() / s.biasCorrection1()), (float) Math.sqrt(s.biasCorrection2()), (float) s.eps());
        }
    }

    static void adamw(Parallel parallel, CpuBackend backend, Tensor param, Tensor grad, Tensor m, Tensor v,
                      AdamWStep step, Tensor modelCopy) {
        String op = "adamw";
        OpChecks.sameDevice(op, param, grad, m, v, modelCopy);
        OpChecks.dtype(op, "param", param, DType.F32);
        OpChecks.dtype(op, "m", m, DType.F32);
        OpChecks.dtype(op, "v", v, DType.F32);
        OpChecks.sameShape(op, param, "param", grad, "grad");
        OpChecks.sameShape(op, param, "param", m, "m");
        OpChecks.sameShape(op, param, "param", v, "v");
        OpChecks.rowMajor(op, param, m, v);
        RowView.computeDType(op, "grad", grad);
        if (modelCopy != null) {
            OpChecks.sameShape(op, param, "param", modelCopy, "modelCopy");
            RowView.computeDType(op, "modelCopy", modelCopy);
        }
        if (!grad.isContiguous()) {
            Tensor g = Tensor.empty(grad.dtype(), grad.device(), grad.shape());
            try {
                backend.copy(grad, g);
                adamw(parallel, backend, param, g, m, v, step, modelCopy);
            } finally {
                g.close();
            }
            return;
        }
        if (modelCopy != null && !modelCopy.isContiguous()) {
            Tensor c = Tensor.empty(modelCopy.dtype(), modelCopy.device(), modelCopy.shape());
            try {
                adamw(parallel, backend, param, grad, m, v, step, c);
                backend.copy(c, modelCopy);
            } finally {
                c.close();
            }
            return;
        }
        Coefficients k = Coefficients.of(step);
        int n = param.numel();
        float[] p = RowView.storage(param).f32();
        float[] ma = RowView.storage(m).f32();
        float[] va = RowView.storage(v).f32();
        CpuStorage gs = RowView.storage(grad);
        CpuStorage cs = modelCopy == null ? null : RowView.storage(modelCopy);
        Slice s = new Slice(k, p, param.offset(), gs, grad.dtype(), grad.offset(), ma, m.offset(), va, v.offset(),
                cs, modelCopy == null ? null : modelCopy.dtype(), modelCopy == null ? 0 : modelCopy.offset());
        if (n <= BLOCK) {
            s.update(0, n);
            return;
        }
        parallel.forEach((n + BLOCK - 1) / BLOCK, b -> s.update(b * BLOCK, Math.min(n, (b + 1) * BLOCK)));
    }

    /** Per-thread fp32 widening buffer for BF16/F16 gradients, one block long. */
    private static final ThreadLocal<float[]> WIDENED = ThreadLocal.withInitial(() -> new float[BLOCK]);

    /** The arrays and offsets of one call. */
    private record Slice(Coefficients k, float[] p, int po, CpuStorage grad, DType gradType, int go, float[] m,
                         int mo, float[] v, int vo, CpuStorage copy, DType copyType, int co) {

        /** Updates elements {@code [start, end)}, at most {@code BLOCK} of them. */
        void update(int start, int end) {
            int len = end - start;
            float[] g;
            int gOff;
            if (gradType == DType.F32) {
                g = grad.f32();
                gOff = go + start;
            } else {
                g = WIDENED.get();
                RowView.toFloats(grad.bits16(), go + start, gradType, g, 0, len);
                gOff = 0;
            }
            step(k, p, po + start, g, gOff, m, mo + start, v, vo + start, len);
            if (copy == null) {
                return;
            }
            if (copyType == DType.F32) {
                System.arraycopy(p, po + start, copy.f32(), co + start, len);
            } else {
                RowView.fromFloats(p, po + start, copy.bits16(), co + start, copyType, len);
            }
        }
    }

    private static void step(Coefficients k, float[] p, int po, float[] g, int go, float[] m, int mo, float[] v,
                             int vo, int n) {
        float decay = k.decay();
        float gradScale = k.gradScale();
        float b1 = k.beta1();
        float c1 = k.oneMinusBeta1();
        float b2 = k.beta2();
        float c2 = k.oneMinusBeta2();
        float stepSize = k.stepSize();
        float bc2Sqrt = k.bc2Sqrt();
        float eps = k.eps();
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += LANES) {
            FloatVector gv = FloatVector.fromArray(F, g, go + i).mul(gradScale);
            FloatVector mv = FloatVector.fromArray(F, m, mo + i).mul(b1).add(gv.mul(c1));
            FloatVector vv = FloatVector.fromArray(F, v, vo + i).mul(b2).add(gv.mul(c2).mul(gv));
            FloatVector denom = vv.sqrt().div(bc2Sqrt).add(eps);
            FloatVector pv = FloatVector.fromArray(F, p, po + i).mul(decay);
            pv.sub(mv.div(denom).mul(stepSize)).intoArray(p, po + i);
            mv.intoArray(m, mo + i);
            vv.intoArray(v, vo + i);
        }
        for (; i < n; i++) {
            float gi = g[go + i] * gradScale;
            float mi = m[mo + i] * b1 + c1 * gi;
            float vi = v[vo + i] * b2 + c2 * gi * gi;
            float denom = (float) Math.sqrt(vi) / bc2Sqrt + eps;
            p[po + i] = p[po + i] * decay - mi / denom * stepSize;
            m[mo + i] = mi;
            v[vo + i] = vi;
        }
    }
}
