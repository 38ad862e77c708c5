package org.internlmj.tensor.testing;

import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Comparisons for numerical tests (no test framework needed: failures are {@link AssertionError}s,
 * so GPU check scripts use them too). Element tolerance is {@code atol + rtol * |expected|} as in
 * DJL/NumPy's {@code allclose}; the message names the worst element, its index and both values.
 */
public final class TensorAssert {
    private TensorAssert() {
    }

    public static void assertClose(Tensor expected, Tensor actual, double atol, double rtol) {
        assertClose(expected.toDoubleArray(), actual.toDoubleArray(), expected.shape(), actual.shape(), atol, rtol, "");
    }

    public static void assertClose(Tensor expected, Tensor actual, double atol, double rtol, String what) {
        assertClose(expected.toDoubleArray(), actual.toDoubleArray(), expected.shape(), actual.shape(), atol, rtol, what);
    }

    public static void assertClose(double[] expected, double[] actual, double atol, double rtol, String what) {
        assertClose(expected, actual, new int[] {expected.length}, new int[] {actual.length}, atol, rtol, what);
    }

    private static void assertClose(double[] e, double[] a, int[] es, int[] as, double atol, double rtol, String what) {
        String prefix = what.isEmpty() ? "" : what + ": ";
        if (e.length != a.length || !java.util.Arrays.equals(es, as)) {
            throw new AssertionError(prefix + "shape " + Shapes.str(as) + " differs from expected " + Shapes.str(es));
        }
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < e.length; i++) {
            boolean bothNaN = Double.isNaN(e[i]) && Double.isNaN(a[i]);
            boolean sameInf = Double.isInfinite(e[i]) && e[i] == a[i];
            if (bothNaN || sameInf) {
                continue;
            }
            double diff = Math.abs(e[i] - a[i]);
            double tol = atol + rtol * Math.abs(e[i]);
            double excess = Double.isNaN(diff) ? Double.POSITIVE_INFINITY : diff - tol;
            if (excess > 0 && (worst < 0 || excess > worstExcess)) {
                worst = i;
                worstExcess = excess;
            }
        }
        if (worst >= 0) {
            int bad = 0;
            for (int i = 0; i < e.length; i++) {
                double diff = Math.abs(e[i] - a[i]);
                if (!(diff <= atol + rtol * Math.abs(e[i])) && !(Double.isNaN(e[i]) && Double.isNaN(a[i]))
                        && !(Double.isInfinite(e[i]) && e[i] == a[i])) {
                    bad++;
                }
            }
            throw new AssertionError(prefix + bad + " of " + e.length + " elements differ beyond atol " + atol
                    + " + rtol " + rtol + "; worst at flat index " + worst + " (shape " + Shapes.str(es) + "): expected "
                    + e[worst] + ", got " + a[worst] + " (max |diff| " + maxAbsDiff(e, a) + ", relative error "
                    + relativeError(e, a) + ")");
        }
    }

    /** {@code ||actual - expected|| / ||expected||} (the GPU method's measure). */
    public static double relativeError(double[] expected, double[] actual) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    public static double relativeError(Tensor expected, Tensor actual) {
        return relativeError(expected.toDoubleArray(), actual.toDoubleArray());
    }

    /** Fails if the relative error exceeds {@code bound}. */
    public static void assertRelativeError(Tensor expected, Tensor actual, double bound, String what) {
        double r = relativeError(expected, actual);
        if (!(r <= bound)) {
            throw new AssertionError(what + ": relative error ||out-ref||/||ref|| = " + r + " exceeds " + bound);
        }
    }

    public static double maxAbsDiff(double[] e, double[] a) {
        double m = 0;
        for (int i = 0; i < e.length; i++) {
            m = Math.max(m, Math.abs(e[i] - a[i]));
        }
        return m;
    }
}
