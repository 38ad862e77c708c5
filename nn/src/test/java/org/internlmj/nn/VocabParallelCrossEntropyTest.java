package org.internlmj.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Reduction;
import org.internlmj.autograd.Variable;
import org.internlmj.dist.ThreadWorld;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Generator;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.internlmj.tensor.testing.TensorAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The vocabulary-parallel loss in float64 (every rank on the scalar reference backend) is the whole-row
 * loss: the same value on every rank, and each rank's logit gradient is its columns of
 * {@code F.crossEntropy}'s, which the autograd tests check against finite differences. In float32 on the CPU
 * backend it agrees to float tolerance.
 */
class VocabParallelCrossEntropyTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final int N = 7;
    private static final int V = 12;
    private static final int[] LABELS = {3, 11, -100, 0, 6, 6, -100};

    private static Tensor logits(DType dtype) {
        return Tensor.uniform(new Generator(9), -4, 4, DType.F32, Device.CPU, N, V).to(dtype);
    }

    private record Out(double loss, Tensor grad) {
    }

    private static Out whole(DType dtype, double smoothing, Reduction reduction) {
        Variable x = Variable.parameter(logits(dtype));
        Variable loss = F.crossEntropy(x, Tensor.ofInts(LABELS, N), -100, smoothing, reduction);
        backward(loss);
        return new Out(sum(loss), x.grad());
    }

    /** A fixed weighting of the per-row losses for NONE, so every row's gradient is checked. */
    private static void backward(Variable loss) {
        if (loss.numel() == 1) {
            loss.backward();
        } else {
            double[] w = new double[loss.numel()];
            for (int i = 0; i < w.length; i++) {
                w[i] = 0.5 + i;
            }
            loss.backward(Tensor.of(w, w.length).to(loss.dtype()));
        }
    }

    private static double sum(Variable loss) {
        double s = 0;
        for (double v : loss.data().toDoubleArray()) {
            s += v;
        }
        return s;
    }

    // float64 cases smooth by fractions exact in float: the backends take s as a float and round 1 - s
    // differently (the reference in float, the CPU kernel in double), which float64 comparisons would see
    @ParameterizedTest(name = "tp {0}, smoothing {1}, {2}, {3}")
    @CsvSource({
        "2, 0.0, MEAN, F64", "2, 0.125, SUM, F64", "3, 0.125, NONE, F64", "4, 0.25, MEAN, F64",
        "3, 0.1, MEAN, F32", "2, 0.0, NONE, F32",
    })
    void isTheWholeRowLoss(int tp, double smoothing, Reduction reduction, DType dtype) {
        boolean f64 = dtype == DType.F64;
        Out expected;
        try (Backends.CpuOverride ref = f64 ? Backends.overrideCpu(new ReferenceBackend()) : null) {
            expected = whole(dtype, smoothing, reduction);
        }
        int part = V / tp;
        List<Out> ranks;
        try (ThreadWorld world = new ThreadWorld(tp, TIMEOUT)) {
            ranks = world.run(g -> {
                try (Backends.CpuOverride ref = f64 ? Backends.overrideCpu(new ReferenceBackend()) : null) {
                    Variable x = Variable.parameter(logits(dtype).narrow(1, g.rank() * part, part).contiguous());
                    Variable loss = VocabParallelCrossEntropy.crossEntropy(x, Tensor.ofInts(LABELS, N), g.rank() * part, V,
                            g, -100, smoothing, reduction);
                    backward(loss);
                    return new Out(sum(loss), x.grad());
                }
            });
        }
        double tol = f64 ? 1e-12 : 1e-6;
        for (int r = 0; r < tp; r++) {
            assertEquals(expected.loss(), ranks.get(r).loss(), tol * Math.max(1, Math.abs(expected.loss())), "rank " + r);
            TensorAssert.assertClose(expected.grad().narrow(1, r * part, part), ranks.get(r).grad(), f64 ? 1e-14 : 1e-7,
                    f64 ? 1e-11 : 1e-5, "rank " + r + "'s logit gradient");
        }
    }

    @Test
    void labelsOutsideTheVocabularyAreErrors() {
        try (ThreadWorld world = new ThreadWorld(2, TIMEOUT)) {
            world.run(g -> {
                Variable x = Variable.parameter(logits(DType.F32).narrow(1, g.rank() * 6, 6).contiguous());
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> VocabParallelCrossEntropy.crossEntropy(x, Tensor.ofInts(new int[] {1, 2, 12, 0, 0, 0, 0}, N),
                                g.rank() * 6, V, g, -100, 0.0, Reduction.MEAN));
                assertTrue(e.getMessage().contains("label 12 of row 2") && e.getMessage().contains("[0, 12)"), e.getMessage());
                return null;
            });
        }
    }
}
