package org.internlmj.autograd;

import java.util.SplittableRandom;
import java.util.function.Function;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuStorage;
import org.internlmj.tensor.reference.ReferenceBackend;

/**
 * Float64 gradient check (DL4J's and torch's gradcheck): the analytic backward of a function against
 * central finite differences, both in float64. Everything runs on the scalar {@link ReferenceBackend}
 * (installed for the calling thread) on F64 copies of the inputs, so neither side rounds to float32.
 *
 * <pre>{@code
 * GradCheck.assertGradients(in -> F.rmsNorm(in[0], in[1], 1e-5), x, w);
 * }</pre>
 *
 * <p>The function is differentiated as {@code L = sum(f(inputs) * r)} for a fixed random r, so every
 * output element is checked with a distinct weight. Every input is differentiated: integer inputs (ids,
 * labels, positions, cuSeqlens) belong inside the function as constants. An element passes when
 * {@code |analytic - numeric| <= atol + rtol * |numeric|}.
 */
public final class GradCheck {
    private double step = 1e-6;
    private double atol = 1e-7;
    private double rtol = 1e-6;
    private long seed = 0x5EEDL;

    /** A checker with the defaults: step 1e-6, atol 1e-7, rtol 1e-6. */
    public GradCheck() {
    }

    /** Checks with the default settings and throws an {@link AssertionError} naming the worst element on failure. */
    public static Report assertGradients(Function<Variable[], Variable> fn, Tensor... inputs) {
        return new GradCheck().run(fn, inputs).assertPassed();
    }

    /** The finite-difference step h: {@code (L(x + h) - L(x - h)) / 2h}. */
    public GradCheck step(double h) {
        if (!(h > 0)) {
            throw new IllegalArgumentException("step must be positive, got " + h);
        }
        this.step = h;
        return this;
    }

    public GradCheck tolerance(double absolute, double relative) {
        this.atol = absolute;
        this.rtol = relative;
        return this;
    }

    /** Seed of the random output weights r. */
    public GradCheck seed(long seed) {
        this.seed = seed;
        return this;
    }

    /**
     * The worst element of a check.
     *
     * @param input    which input ({@code -1} when there were no elements to check)
     * @param index    its index in that input
     * @param excess   {@code |analytic - numeric| - (atol + rtol |numeric|)}: positive means failure
     */
    public record Report(int input, int[] index, double analytic, double numeric, double excess, int checked,
                         double atol, double rtol) {

        public boolean passed() {
            return !(excess > 0);
        }

        /** Returns this report, or throws an {@link AssertionError} describing the worst element. */
        public Report assertPassed() {
            if (!passed()) {
                throw new AssertionError("gradient check failed: " + this);
            }
            return this;
        }

        @Override
        public String toString() {
            if (input < 0) {
                return "no elements checked";
            }
            return "worst of " + checked + " elements: input " + input + " at " + Shapes.str(index) + ", analytic "
                    + analytic + ", numeric " + numeric + ", |diff| " + Math.abs(analytic - numeric) + " (atol "
                    + atol + ", rtol " + rtol + ")";
        }
    }

    /** Runs the check; see {@link Report#assertPassed()}. */
    @SuppressWarnings("try") // the resources are held for the block, not used in it
    public Report run(Function<Variable[], Variable> fn, Tensor... inputs) {
        try (Backends.CpuOverride ref = Backends.overrideCpu(new ReferenceBackend());
             MemoryScope scope = MemoryScope.open()) {
            Tensor[] x = new Tensor[inputs.length];
            Variable[] leaves = new Variable[inputs.length];
            for (int i = 0; i < inputs.length; i++) {
                if (!inputs[i].dtype().isFloating() || !inputs[i].device().isCpu()) {
                    throw new IllegalArgumentException("gradient check input " + i + " must be a floating CPU tensor, got "
                            + inputs[i] + "; pass integer tensors to the function as constants");
                }
                // A private contiguous F64 copy: perturbed in place below.
                x[i] = inputs[i].to(DType.F64).copy();
                leaves[i] = Variable.parameter(x[i], "input " + i);
            }
            Variable y = fn.apply(leaves);
            if (y.dtype() != DType.F64) {
                throw new IllegalStateException("the function returned " + y + ": a float64 check needs an F64 result "
                        + "(an operation that rounds to another dtype makes it a lower-precision check)");
            }
            double[] weights = new double[y.numel()];
            SplittableRandom random = new SplittableRandom(seed);
            for (int i = 0; i < weights.length; i++) {
                weights[i] = random.nextDouble(-1, 1);
            }
            if (y.requiresGrad()) {
                y.backward(Tensor.of(weights, y.shape()));
            }
            int worstInput = -1;
            int worstFlat = -1;
            double worstAnalytic = 0;
            double worstNumeric = 0;
            double worstExcess = Double.NEGATIVE_INFINITY;
            int checked = 0;
            for (int i = 0; i < x.length; i++) {
                Tensor g = leaves[i].grad();
                if (g != null && g.dtype() != DType.F64) {
                    throw new IllegalStateException("the gradient of input " + i + " is " + g + ", not F64");
                }
                double[] analytic = g == null ? new double[x[i].numel()] : g.toDoubleArray();
                double[] data = ((CpuStorage) x[i].storage()).f64();
                for (int j = 0; j < analytic.length; j++) {
                    double original = data[j];
                    data[j] = original + step;
                    double plus = weightedOutput(fn, x, weights);
                    data[j] = original - step;
                    double minus = weightedOutput(fn, x, weights);
                    data[j] = original;
                    double numeric = (plus - minus) / (2 * step);
                    double diff = Math.abs(analytic[j] - numeric);
                    double excess = Double.isNaN(diff) ? Double.POSITIVE_INFINITY : diff - (atol + rtol * Math.abs(numeric));
                    checked++;
                    if (excess > worstExcess) {
                        worstExcess = excess;
                        worstInput = i;
                        worstFlat = j;
                        worstAnalytic = analytic[j];
                        worstNumeric = numeric;
                    }
                }
            }
            int[] index = worstInput < 0 ? new int[0] : unflatten(worstFlat, x[worstInput].shape());
            return new Report(worstInput, index, worstAnalytic, worstNumeric, worstExcess, checked, atol, rtol);
        }
    }

    /** {@code sum(f(x) * weights)}, computed without recording. */
    @SuppressWarnings("try") // the resources are held for the block, not used in it
    private static double weightedOutput(Function<Variable[], Variable> fn, Tensor[] x, double[] weights) {
        try (NoGrad g = NoGrad.enter(); MemoryScope scope = MemoryScope.open()) {
            Variable[] constants = new Variable[x.length];
            for (int i = 0; i < x.length; i++) {
                constants[i] = Variable.of(x[i]);
            }
            double[] y = fn.apply(constants).data().toDoubleArray();
            double sum = 0;
            for (int i = 0; i < y.length; i++) {
                sum += y[i] * weights[i];
            }
            return sum;
        }
    }

    private static int[] unflatten(int flat, int[] shape) {
        int[] index = new int[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            index[d] = flat % shape[d];
            flat /= shape[d];
        }
        return index;
    }
}
