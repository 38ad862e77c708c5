package org.internlmj.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Reduction;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.internlmj.tensor.testing.TensorAssert;
import org.junit.jupiter.api.Test;

class InternLMModelTest {
    // two documents of 5 and 4 tokens packed into 9 tokens; positions restart per document
    static final int[] IDS = {1, 7, 3, 9, 4, 1, 5, 5, 8};
    static final int[] POS = {0, 1, 2, 3, 4, 0, 1, 2, 3};
    static final int[] CU = {0, 5, 9};
    static final int[] LABELS = {7, 3, 9, 4, -100, 5, 5, 8, -100};

    static ModelSpec tiny(DType dtype, ModelSpec.NormType norm) {
        return new ModelSpec(11, 8, 2, 2, 12, norm, 1e-5, dtype, 1.0, 0.0, 10000.0);
    }

    @Test
    void namesAndCountsFollowInternLM() {
        InternLMModel m = new InternLMModel(tiny(DType.F32, ModelSpec.NormType.RMSNORM), Device.CPU);
        List<String> names = new ArrayList<>(m.namedParameters().keySet());
        assertEquals("embedding.weight", names.get(0));
        assertTrue(names.contains("blocks.0.mixer.Wqkv.weight"));
        assertTrue(names.contains("blocks.0.mixer.Wqkv.bias"));
        assertTrue(names.contains("blocks.1.mixer.out_proj.bias"));
        assertTrue(names.contains("blocks.1.norm1.weight"));
        assertTrue(names.contains("blocks.1.mlp.w3.weight"));
        assertEquals("head.weight", names.get(names.size() - 1));
        assertTrue(names.contains("norm.weight"));
        // per layer: Wqkv 3h*h + 3h, out_proj h*h + h, mlp 3*h*m, norms 2h; plus embedding, head and final norm
        long h = 8;
        long perLayer = 3 * h * h + 3 * h + h * h + h + 3 * h * 12 + 2 * h;
        assertEquals(2 * 11 * h + 2 * perLayer + h, m.parameterCount());
    }

    @Test
    void initialisationFollowsInternLMAndDependsOnlyOnSeedAndName() {
        InternLMModel a = new InternLMModel(new ModelSpec(50, 64, 2, 4, 128, ModelSpec.NormType.RMSNORM, 1e-5, DType.F32,
                1, 0, 10000), Device.CPU);
        a.initialize(7);
        Map<String, Parameter> p = a.namedParameters();
        assertEquals(Init.EMBED_STD, std(p.get("embedding.weight")), 0.0006);
        assertEquals(Init.PROJ_STD, std(p.get("blocks.0.mixer.Wqkv.weight")), 0.0004);
        assertEquals(Init.PROJ_STD / Math.sqrt(4), std(p.get("blocks.1.mixer.out_proj.weight")), 0.0003);
        assertEquals(Init.PROJ_STD / Math.sqrt(4), std(p.get("blocks.1.mlp.w2.weight")), 0.0003);
        assertEquals(Init.DOWN_STD, std(p.get("blocks.1.mlp.w3.weight")), 0.0001);
        assertEquals(0.0, p.get("blocks.0.mixer.Wqkv.bias").data().toDoubleArray()[3]);
        assertEquals(1.0, p.get("norm.weight").data().toDoubleArray()[5]);
        InternLMModel b = new InternLMModel(new ModelSpec(50, 64, 3, 4, 128, ModelSpec.NormType.RMSNORM, 1e-5, DType.F32,
                1, 0, 10000), Device.CPU);
        b.initialize(7);
        TensorAssert.assertClose(p.get("blocks.1.mlp.w1.weight").data(),
                b.namedParameters().get("blocks.1.mlp.w1.weight").data(), 0, 0);
    }

    private static double std(Parameter p) {
        double[] d = p.data().toDoubleArray();
        double s = 0;
        for (double v : d) {
            s += v * v;
        }
        return Math.sqrt(s / d.length);
    }

    /** The same network from primitive differentiable ops only (no fused kernel), float64. */
    static Variable referenceLoss(InternLMModel m, ModelSpec spec) {
        Map<String, Parameter> p = m.namedParameters();
        int t = IDS.length;
        int h = spec.hiddenSize();
        int heads = spec.numHeads();
        int hd = spec.headDim();
        double[] onehot = new double[t * spec.vocabSize()];
        for (int i = 0; i < t; i++) {
            onehot[i * spec.vocabSize() + IDS[i]] = 1;
        }
        Variable x = F.matmul(Variable.of(Tensor.of(onehot, t, spec.vocabSize())), v(p, "embedding.weight"));
        double[] cos = new double[t * hd];
        double[] sin = new double[t * hd];
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < hd; j++) {
                double theta = POS[i] * Math.pow(spec.rotaryBase(), -2.0 * (j % (hd / 2)) / hd);
                cos[i * hd + j] = Math.cos(theta);
                sin[i * hd + j] = Math.sin(theta);
            }
        }
        Variable cosV = Variable.of(Tensor.of(cos, t, 1, hd));
        Variable sinV = Variable.of(Tensor.of(sin, t, 1, hd));
        double[] mask = new double[t * t];
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < t; j++) {
                boolean sameDoc = (i < 5) == (j < 5);
                mask[i * t + j] = sameDoc && j <= i ? 0 : -1e30;
            }
        }
        Variable maskV = Variable.of(Tensor.of(mask, t, t));
        for (int l = 0; l < spec.numLayers(); l++) {
            String b = "blocks." + l + ".";
            Variable n1 = rms(x, v(p, b + "norm1.weight"), spec.normEps());
            Variable qkv = F.add(F.matmul(n1, F.transpose(v(p, b + "mixer.Wqkv.weight"), 0, 1)), v(p, b + "mixer.Wqkv.bias"));
            qkv = F.reshape(qkv, t, 3, heads, hd);
            Variable q = rope(F.select(qkv, 1, 0), cosV, sinV, hd);
            Variable k = rope(F.select(qkv, 1, 1), cosV, sinV, hd);
            Variable vv = F.select(qkv, 1, 2);
            Variable scores = F.scale(F.matmul(F.permute(q, 1, 0, 2), F.permute(k, 1, 2, 0)), 1.0 / Math.sqrt(hd));
            Variable probs = F.softmax(F.add(scores, maskV));
            Variable o = F.permute(F.matmul(probs, F.permute(vv, 1, 0, 2)), 1, 0, 2);
            Variable attn = F.add(F.matmul(F.reshape(F.contiguous(o), t, h),
                    F.transpose(v(p, b + "mixer.out_proj.weight"), 0, 1)), v(p, b + "mixer.out_proj.bias"));
            Variable hdn = F.add(x, attn);
            Variable n2 = rms(hdn, v(p, b + "norm2.weight"), spec.normEps());
            Variable gate = F.matmul(n2, F.transpose(v(p, b + "mlp.w1.weight"), 0, 1));
            Variable up = F.matmul(n2, F.transpose(v(p, b + "mlp.w2.weight"), 0, 1));
            Variable mlp = F.matmul(F.mul(F.mul(gate, F.sigmoid(gate)), up), F.transpose(v(p, b + "mlp.w3.weight"), 0, 1));
            x = F.add(hdn, mlp);
        }
        Variable logits = F.matmul(rms(x, v(p, "norm.weight"), spec.normEps()), F.transpose(v(p, "head.weight"), 0, 1));
        double[] target = new double[t * spec.vocabSize()];
        int count = 0;
        for (int i = 0; i < t; i++) {
            if (LABELS[i] >= 0) {
                target[i * spec.vocabSize() + LABELS[i]] = 1;
                count++;
            }
        }
        Variable nll = F.neg(F.sum(F.mul(F.logSoftmax(logits), Variable.of(Tensor.of(target, t, spec.vocabSize())))));
        return F.scale(nll, 1.0 / count);
    }

    private static Variable v(Map<String, Parameter> p, String name) {
        return p.get(name).variable();
    }

    private static Variable rms(Variable x, Variable w, double eps) {
        Variable ms = F.mean(F.square(x), -1, true);
        return F.mul(F.mul(x, F.rsqrt(F.add(ms, Variable.of(Tensor.of(new double[] {eps}, 1))))), w);
    }

    private static Variable rope(Variable x, Variable cos, Variable sin, int hd) {
        Variable x1 = F.narrow(x, -1, 0, hd / 2);
        Variable x2 = F.narrow(x, -1, hd / 2, hd / 2);
        Variable rotated = F.cat(List.of(F.neg(x2), x1), -1);
        return F.add(F.mul(x, cos), F.mul(rotated, sin));
    }

    @Test
    void forwardAndBackwardMatchThePrimitiveReferenceInFloat64() {
        try (var ref = Backends.overrideCpu(new ReferenceBackend())) {
            ModelSpec spec = tiny(DType.F64, ModelSpec.NormType.RMSNORM);
            InternLMModel model = new InternLMModel(spec, Device.CPU);
            model.initialize(3);
            // make biases and norm weights non-trivial so their gradients are exercised
            for (Parameter p : model.parameters()) {
                if (p.name().endsWith("bias") || p.name().contains("norm")) {
                    p.data().copyFrom(Tensor.normal(new org.internlmj.tensor.Generator(p.name().hashCode()), 1, 0.1,
                            DType.F64, Device.CPU, p.data().shape()));
                }
            }
            Variable logits = model.forward(Tensor.ofInts(IDS, IDS.length), Tensor.ofInts(POS, POS.length),
                    Tensor.ofInts(CU, CU.length));
            Variable loss = F.crossEntropy(logits, Tensor.ofInts(LABELS, LABELS.length), -100, 0.0, Reduction.MEAN);
            loss.backward();
            Map<String, Tensor> fusedGrads = new java.util.LinkedHashMap<>();
            for (Parameter p : model.parameters()) {
                fusedGrads.put(p.name(), p.grad().copy());
                p.variable().zeroGrad();
            }
            Variable refLoss = referenceLoss(model, spec);
            refLoss.backward();
            assertEquals(refLoss.data().item(), loss.data().item(), 1e-12 * Math.abs(loss.data().item()));
            for (Parameter p : model.parameters()) {
                TensorAssert.assertClose(p.grad(), fusedGrads.get(p.name()), 1e-13, 1e-9, p.name());
            }
        }
    }
}
