package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Generator;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The one-rank optimizer's bookkeeping around the gradients: buckets cleared lazily between steps, with
 * the gradient norm checked against float64 sums over the gradients themselves.
 */
class HybridZeroOptimizerTest {

    /** x [5, 4] through w [3, 4] and the rows of e [6, 3] picked by ids; u gets no gradient. */
    private static final class Model {
        final Variable w;
        final Variable e;
        final Variable u;
        final HybridZeroOptimizer opt;

        Model(long seed) {
            Generator g = new Generator(seed);
            w = Variable.parameter(Tensor.normal(g, 0, 1, DType.F32, Device.CPU, 3, 4), "w");
            e = Variable.parameter(Tensor.normal(g, 0, 1, DType.F32, Device.CPU, 6, 3), "e");
            u = Variable.parameter(Tensor.normal(g, 0, 1, DType.F32, Device.CPU, 2), "u");
            opt = new HybridZeroOptimizer(List.of(w, e, u), List.of("w", "e", "u"),
                    HybridZeroOptimizer.Settings.local(0.9, 1e-8, 0.0, 0.0), GradScaler.constant());
        }

        void backward(Tensor x, int[] ids) {
            Variable y = F.linear(Variable.of(x, "x"), w, null);
            Variable emb = F.embedding(e, Tensor.ofInts(ids, ids.length));
            F.sum(F.add(F.square(y), F.scale(emb, 2))).backward();
        }

        double gradNormFromGradients() {
            double s = 0;
            for (Variable v : List.of(w, e, u)) {
                for (float f : v.grad().toFloatArray()) {
                    s += (double) f * f;
                }
            }
            return Math.sqrt(s);
        }
    }

    @Test
    void theNormCoversEveryMicroBatchOfTheStepAndNothingOfTheLastStep() {
        Generator g = new Generator(5);
        Model m = new Model(3);
        int[] ids = {3, 0, 3, 5, 1};
        for (int step = 0; step < 3; step++) {
            // two micro-batches: the first writes over the last step's values, the second adds
            for (int k = 0; k < 2; k++) {
                m.opt.syncGradientsInNextBackward(k == 1);
                m.backward(Tensor.normal(g, 0, 1, DType.F32, Device.CPU, 5, 4), ids);
            }
            double expected = m.gradNormFromGradients();
            assertArrayEquals(new float[] {0, 0}, m.u.grad().toFloatArray(), "no pass reached u");
            HybridZeroOptimizer.StepResult r = m.opt.step(1e-3, 0.95);
            assertTrue(r.applied());
            assertEquals(expected, r.gradNorm(), 1e-6 * expected, "step " + step);
        }
    }

    @Test
    void stepsAreTheSameWithAndWithoutGradientSyncOnOneRank() {
        Generator g = new Generator(6);
        Model m = new Model(4);
        Model n = new Model(4);
        for (int step = 0; step < 2; step++) {
            Tensor x = Tensor.normal(g, 0, 1, DType.F32, Device.CPU, 5, 4);
            m.opt.syncGradientsInNextBackward(true);
            m.backward(x, new int[] {1, 2, 2, 4, 0});
            n.opt.syncGradientsInNextBackward(false);
            n.backward(x, new int[] {1, 2, 2, 4, 0});
            double expected = n.gradNormFromGradients();
            assertEquals(expected, n.opt.step(1e-2, 0.95).gradNorm(), 1e-6 * expected);
            assertEquals(expected, m.opt.step(1e-2, 0.95).gradNorm(), 0.0, "the sync flag changes nothing on one rank");
        }
        assertArrayEquals(n.w.data().toFloatArray(), m.w.data().toFloatArray(), 0f);
    }
}
