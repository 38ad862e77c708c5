package org.internlmj.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.internlmj.tensor.testing.TensorAssert;
import org.junit.jupiter.api.Test;

/**
 * Forward and backward on the real CPU backend in F32 and BF16 against the float64 reference on the
 * same (rounded) inputs: the dtype paths the CPU kernels serve, within float tolerances measured as
 * {@code ||cpu - ref|| / ||ref||}.
 */
@SuppressWarnings("try") // scopes and modes held for a block, not referenced in it
class CpuDtypeTest {
    private static final double F32_BOUND = 1e-5;
    private static final double BF16_BOUND = 1e-2;

    /** Output and input gradients of {@code fn} as doubles. */
    private record Run(double[] output, List<double[]> grads) {
    }

    private static void agree(String what, Function<Variable[], Variable> fn, Tensor... inputs) {
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            double bound = dtype == DType.F32 ? F32_BOUND : BF16_BOUND;
            Tensor[] rounded = new Tensor[inputs.length];
            for (int i = 0; i < inputs.length; i++) {
                rounded[i] = inputs[i].to(dtype);
            }
            Variable[] leaves = new Variable[inputs.length];
            for (int i = 0; i < inputs.length; i++) {
                leaves[i] = Variable.parameter(rounded[i]);
            }
            Variable y = fn.apply(leaves);
            Tensor seed = seedFor(y.shape()).to(y.dtype());
            y.backward(seed);
            Run cpu = collect(y, leaves, dtype, what);

            Run ref;
            try (Backends.CpuOverride o = Backends.overrideCpu(new ReferenceBackend())) {
                Variable[] exact = new Variable[inputs.length];
                for (int i = 0; i < inputs.length; i++) {
                    exact[i] = Variable.parameter(rounded[i].to(DType.F64));
                }
                Variable yRef = fn.apply(exact);
                yRef.backward(seed.to(DType.F64));
                ref = collect(yRef, exact, DType.F64, what);
            }
            check(what + " " + dtype + " output", ref.output(), cpu.output(), bound);
            for (int i = 0; i < inputs.length; i++) {
                check(what + " " + dtype + " gradient of input " + i, ref.grads().get(i), cpu.grads().get(i), bound);
            }
        }
    }

    private static Run collect(Variable y, Variable[] leaves, DType dtype, String what) {
        List<double[]> grads = new ArrayList<>();
        for (Variable v : leaves) {
            assertEquals(dtype, v.grad().dtype(), what + ": gradient dtype");
            grads.add(v.grad().toDoubleArray());
        }
        return new Run(y.data().toDoubleArray(), grads);
    }

    private static void check(String what, double[] ref, double[] actual, double bound) {
        double err = TensorAssert.relativeError(ref, actual);
        if (!(err <= bound)) {
            throw new AssertionError(what + ": relative error " + err + " exceeds " + bound);
        }
    }

    private static Tensor seedFor(int[] shape) {
        SplittableRandom random = new SplittableRandom(99);
        double[] v = new double[org.internlmj.tensor.Shapes.numel(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = random.nextDouble(-1, 1);
        }
        return Tensor.of(v, shape).to(DType.F32);
    }

    @Test
    void linearAndMatmul() {
        Rand r = new Rand(1);
        agree("linear", v -> F.linear(v[0], v[1], v[2]),
                r.uniform(-1, 1, 3, 7, 33), r.uniform(-0.2, 0.2, 17, 33), r.uniform(-1, 1, 17));
        agree("batched matmul", v -> F.matmul(v[0], v[1]), r.uniform(-1, 1, 3, 9, 33), r.uniform(-1, 1, 3, 33, 5));
    }

    @Test
    void norms() {
        Rand r = new Rand(2);
        Tensor x = r.uniform(-2, 2, 7, 33);
        Tensor w = r.uniform(0.5, 1.5, 33);
        agree("rmsNorm", v -> F.rmsNorm(v[0], v[1], 1e-5), x, w);
        agree("layerNorm", v -> F.layerNorm(v[0], v[1], v[2], 1e-5), x, w, r.uniform(-1, 1, 33));
    }

    @Test
    void softmaxAndActivations() {
        Rand r = new Rand(3);
        Tensor x = r.uniform(-3, 3, 9, 33);
        agree("softmax", v -> F.softmax(v[0]), x);
        agree("logSoftmax", v -> F.logSoftmax(v[0]), x);
        agree("silu", v -> F.silu(v[0]), x);
        agree("swiglu", v -> F.swiglu(v[0], v[1]), x, r.uniform(-2, 2, 9, 33));
        agree("broadcast mul and mean", v -> F.mean(F.mul(v[0], v[1]), 0, false), x, r.uniform(-1, 1, 33));
    }

    @Test
    void rotaryAndAttention() {
        Rand r = new Rand(4);
        int[] cu = {0, 5, 6, 13};
        int[] pos = {0, 1, 2, 3, 4, 0, 0, 1, 2, 3, 4, 5, 6};
        Tensor cuSeqlens = Tensor.ofInts(cu, cu.length);
        Tensor positions = Tensor.ofInts(pos, pos.length);
        agree("rotary", v -> F.rotary(v[0], positions, 10000), r.uniform(-1, 1, 13, 3, 8));
        agree("attention", v -> F.attention(F.rotary(v[0], positions, 10000), v[1], v[2], cuSeqlens,
                        1 / Math.sqrt(8), true),
                r.uniform(-1, 1, 13, 3, 8), r.uniform(-1, 1, 13, 3, 8), r.uniform(-1, 1, 13, 3, 8));
    }

    @Test
    void embeddingAndCrossEntropy() {
        Rand r = new Rand(5);
        int[] y = r.ints(11, 37);
        y[2] = -100;
        Tensor labels = Tensor.ofInts(y, y.length);
        Tensor ids = Tensor.ofInts(r.ints(11, 37), 11);
        agree("crossEntropy", v -> F.crossEntropy(v[0], labels, -100, 0.1, Reduction.MEAN), r.uniform(-4, 4, 11, 37));
        agree("embedding", v -> F.embedding(v[0], ids), r.uniform(-1, 1, 37, 9));
    }

    @Test
    void castRoundsForwardAndCastsTheGradientBack() {
        Variable x = Variable.parameter(Tensor.of(new float[] {1.00390625f, -3.3f, 7f}, 3));
        Variable y = F.cast(x, DType.BF16);
        assertEquals(DType.BF16, y.dtype());
        assertArrayEquals(new float[] {1f, DType.bf16BitsToFloat(DType.toBf16Bits(-3.3f)), 7f}, y.data().toFloatArray());
        y.backward(Tensor.of(new float[] {0.5f, 2f, -1f}, DType.BF16, 3));
        assertEquals(DType.F32, x.grad().dtype());
        assertArrayEquals(new float[] {0.5f, 2f, -1f}, x.grad().toFloatArray());
        assertSame(x, F.cast(x, DType.F32));
    }

    @Test
    void scaleGradKeepsTheValueAndScalesTheGradient() {
        Variable x = Variable.parameter(Tensor.of(new float[] {1.5f, -2f}, 2));
        Variable y = F.scaleGrad(x, 0.25);
        assertSame(x.data(), y.data());
        F.sum(F.mul(y, Variable.of(Tensor.of(new float[] {4f, 8f}, 2)))).backward();
        assertArrayEquals(new float[] {1f, 2f}, x.grad().toFloatArray());
    }
}
