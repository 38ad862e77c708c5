package org.internlmj.tensor.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;

/**
 * Elementwise kernels: {@code unary} (every {@link UnaryOp}), {@code binary} (every {@link BinaryOp})
 * and {@code affine}, with NumPy broadcasting of the inputs to the output's shape.
 *
 * <p>The loop nest comes from {@link Strided}; each segment is computed by a vector kernel on
 * {@code float[]} runs. F32 operands with unit stride are used in place; a broadcast (stride 0) input
 * is a scalar operand; anything else (BF16/F16, strided views) is staged through per-thread scratch
 * runs of {@link #BLOCK} elements. Tails use the scalar twins of the vector functions, so an element's
 * result never depends on where a segment or a thread's range starts.
 */
final class Elementwise {
    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.LANES;
    /** Elements per staged block: three blocks stay in L1. */
    private static final int BLOCK = 1024;
    /** Elements per parallel task at least: below this the fork/join costs more than it saves. */
    private static final int GRAIN = 1 << 15;

    private Elementwise() {
    }

    // ---------------------------------------------------------------- entry points

    /** {@code out = op(x)}, x broadcast to out's shape. */
    static void unary(Parallel parallel, UnaryOp op, Tensor x, Tensor out) {
        map(parallel, op.name(), x, out, v -> unaryScalar(op, v), (xa, x0, ya, y0, n) -> unaryRun(op, xa, x0, ya, y0, n));
    }

    /** {@code out = x * scale + shift} (one fused multiply-add in fp32), x broadcast to out's shape. */
    static void affine(Parallel parallel, Tensor x, double scale, double shift, Tensor out) {
        float a = (float) scale;
        float b = (float) shift;
        map(parallel, "affine", x, out, v -> Math.fma(v, a, b), (xa, x0, ya, y0, n) -> affineRun(xa, x0, a, b, ya, y0, n));
    }

    /** A function of one float, for an input broadcast along a whole segment. */
    @FunctionalInterface
    private interface ScalarFunction {
        float apply(float x);
    }

    /** A vector kernel over runs: {@code y[y0+i] = f(x[x0+i])} for {@code i < n}. */
    @FunctionalInterface
    private interface RunFunction {
        void apply(float[] x, int x0, float[] y, int y0, int n);
    }

    /** The one-input loop nest: f on every segment, staging operands that are not F32 with unit stride. */
    private static void map(Parallel parallel, String op, Tensor x, Tensor out, ScalarFunction scalar, RunFunction f) {
        check(op, x, out);
        CpuStorage xs = FloatRuns.storage(op, x);
        CpuStorage ys = FloatRuns.storage(op, out);
        Strided loop = Strided.of(out, x.expand(out.shape()));
        int ys0 = loop.innerStride(0);
        int xs0 = loop.innerStride(1);
        boolean xDirect = direct(xs, xs0);
        boolean yDirect = direct(ys, ys0);
        loop.forEachSegment(parallel, GRAIN, (yo, xo, unused, n) -> {
            if (xs0 == 0) {
                fillRun(ys, yo, ys0, n, scalar.apply(FloatRuns.get(xs, xo)));
                return;
            }
            for (int done = 0; done < n; ) {
                int m = xDirect && yDirect ? n : Math.min(BLOCK, n - done);
                float[] xa = run(xs, xo + done * xs0, xs0, m, 0);
                float[] ya = yDirect ? ys.f32() : Scratch.floats(2, m);
                f.apply(xa, xDirect ? xo + done : 0, ya, yDirect ? yo + done : 0, m);
                if (!yDirect) {
                    FloatRuns.scatter(ya, 0, ys, yo + done * ys0, ys0, m);
                }
                done += m;
            }
        });
    }

    /** {@code out = op(a, b)}, a and b broadcast to out's shape. */
    static void binary(Parallel parallel, BinaryOp op, Tensor a, Tensor b, Tensor out) {
        check(op.name(), a, out);
        check(op.name(), b, out);
        CpuStorage as = FloatRuns.storage(op.name(), a);
        CpuStorage bs = FloatRuns.storage(op.name(), b);
        CpuStorage ys = FloatRuns.storage(op.name(), out);
        Strided loop = Strided.of(out, a.expand(out.shape()), b.expand(out.shape()));
        int ys0 = loop.innerStride(0);
        int as0 = loop.innerStride(1);
        int bs0 = loop.innerStride(2);
        loop.forEachSegment(parallel, GRAIN, (yo, ao, bo, n) -> {
            if (as0 == 0 && bs0 == 0) {
                fillRun(ys, yo, ys0, n, binaryScalar(op, FloatRuns.get(as, ao), FloatRuns.get(bs, bo)));
                return;
            }
            boolean all = (as0 == 0 || direct(as, as0)) && (bs0 == 0 || direct(bs, bs0)) && direct(ys, ys0);
            for (int done = 0; done < n; ) {
                int m = all ? n : Math.min(BLOCK, n - done);
                float[] ya = direct(ys, ys0) ? ys.f32() : Scratch.floats(2, m);
                int ya0 = direct(ys, ys0) ? yo + done : 0;
                if (as0 == 0) {
                    float[] ba = run(bs, bo + done * bs0, bs0, m, 1);
                    binaryRunSV(op, FloatRuns.get(as, ao), ba, direct(bs, bs0) ? bo + done : 0, ya, ya0, m);
                } else if (bs0 == 0) {
                    float[] aa = run(as, ao + done * as0, as0, m, 0);
                    binaryRunVS(op, aa, direct(as, as0) ? ao + done : 0, FloatRuns.get(bs, bo), ya, ya0, m);
                } else {
                    float[] aa = run(as, ao + done * as0, as0, m, 0);
                    float[] ba = run(bs, bo + done * bs0, bs0, m, 1);
                    binaryRun(op, aa, direct(as, as0) ? ao + done : 0, ba, direct(bs, bs0) ? bo + done : 0,
                            ya, ya0, m);
                }
                if (!direct(ys, ys0)) {
                    FloatRuns.scatter(ya, 0, ys, yo + done * ys0, ys0, m);
                }
                done += m;
            }
        });
    }

    private static void check(String op, Tensor x, Tensor out) {
        OpChecks.sameDevice(op, x, out);
        OpChecks.broadcastsTo(op, x, out);
        FloatRuns.checkFloat(op, x, out);
    }

    /** True if the operand's run can be read or written in place: F32 with unit stride. */
    private static boolean direct(CpuStorage s, int stride) {
        return stride == 1 && s.dtype() == org.internlmj.tensor.DType.F32;
    }

    /** The array holding {@code m} elements of an input run: the storage itself, or a staged copy. */
    private static float[] run(CpuStorage s, int off, int stride, int m, int slot) {
        if (direct(s, stride)) {
            return s.f32();
        }
        float[] buf = Scratch.floats(slot, m);
        FloatRuns.gather(s, off, stride, buf, 0, m);
        return buf;
    }

    private static void fillRun(CpuStorage ys, int off, int stride, int n, float v) {
        if (ys.dtype() == org.internlmj.tensor.DType.F32 && stride == 1) {
            java.util.Arrays.fill(ys.f32(), off, off + n, v);
            return;
        }
        for (int i = 0; i < n; i++) {
            FloatRuns.set(ys, off + i * stride, v);
        }
    }

    // ---------------------------------------------------------------- scalar definitions (tails, broadcasts)

    static float unaryScalar(UnaryOp op, float x) {
        return switch (op) {
            case NEG -> -x;
            case ABS -> Math.abs(x);
            case EXP -> VectorMath.exp(x);
            case LOG -> VectorMath.log(x);
            case SQRT -> (float) Math.sqrt(x);
            case RSQRT -> 1f / (float) Math.sqrt(x);
            case RECIPROCAL -> 1f / x;
            case SQUARE -> x * x;
            case SIGMOID -> VectorMath.sigmoid(x);
            case SILU -> VectorMath.silu(x);
            case TANH -> VectorMath.tanh(x);
            case RELU -> x > 0f ? x : 0f;
        };
    }

    static float binaryScalar(BinaryOp op, float a, float b) {
        return switch (op) {
            case ADD -> a + b;
            case SUB -> a - b;
            case MUL -> a * b;
            case DIV -> a / b;
            case MAXIMUM -> Math.max(a, b);
            case MINIMUM -> Math.min(a, b);
        };
    }

    // ---------------------------------------------------------------- vector runs

    /** {@code y[y0+i] = op(x[x0+i])} for {@code i < n}. */
    static void unaryRun(UnaryOp op, float[] x, int x0, float[] y, int y0, int n) {
        int i = 0;
        int bound = n - L;
        switch (op) {
            case NEG -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, x, x0 + i).neg().intoArray(y, y0 + i);
                }
            }
            case ABS -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, x, x0 + i).abs().intoArray(y, y0 + i);
                }
            }
            case EXP -> {
                for (; i <= bound; i += L) {
                    VectorMath.exp(FloatVector.fromArray(F, x, x0 + i)).intoArray(y, y0 + i);
                }
            }
            case LOG -> {
                for (; i <= bound; i += L) {
                    VectorMath.log(FloatVector.fromArray(F, x, x0 + i)).intoArray(y, y0 + i);
                }
            }
            case SQRT -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, x, x0 + i).sqrt().intoArray(y, y0 + i);
                }
            }
            case RSQRT -> {
                FloatVector one = FloatVector.broadcast(F, 1f);
                for (; i <= bound; i += L) {
                    one.div(FloatVector.fromArray(F, x, x0 + i).sqrt()).intoArray(y, y0 + i);
                }
            }
            case RECIPROCAL -> {
                FloatVector one = FloatVector.broadcast(F, 1f);
                for (; i <= bound; i += L) {
                    one.div(FloatVector.fromArray(F, x, x0 + i)).intoArray(y, y0 + i);
                }
            }
            case SQUARE -> {
                for (; i <= bound; i += L) {
                    FloatVector v = FloatVector.fromArray(F, x, x0 + i);
                    v.mul(v).intoArray(y, y0 + i);
                }
            }
            case SIGMOID -> {
                for (; i <= bound; i += L) {
                    VectorMath.sigmoid(FloatVector.fromArray(F, x, x0 + i)).intoArray(y, y0 + i);
                }
            }
            case SILU -> {
                for (; i <= bound; i += L) {
                    VectorMath.silu(FloatVector.fromArray(F, x, x0 + i)).intoArray(y, y0 + i);
                }
            }
            case TANH -> {
                for (; i <= bound; i += L) {
                    VectorMath.tanh(FloatVector.fromArray(F, x, x0 + i)).intoArray(y, y0 + i);
                }
            }
            case RELU -> {
                for (; i <= bound; i += L) {
                    FloatVector v = FloatVector.fromArray(F, x, x0 + i);
                    // compare-and-blend rather than max(v, 0): relu(NaN) is 0 in the reference.
                    v.blend(0f, v.compare(VectorOperators.GT, 0f).not()).intoArray(y, y0 + i);
                }
            }
        }
        for (; i < n; i++) {
            y[y0 + i] = unaryScalar(op, x[x0 + i]);
        }
    }

    /** {@code y[y0+i] = fma(x[x0+i], a, b)} for {@code i < n}. */
    static void affineRun(float[] x, int x0, float a, float b, float[] y, int y0, int n) {
        int i = 0;
        FloatVector va = FloatVector.broadcast(F, a);
        FloatVector vb = FloatVector.broadcast(F, b);
        for (int bound = n - L; i <= bound; i += L) {
            FloatVector.fromArray(F, x, x0 + i).fma(va, vb).intoArray(y, y0 + i);
        }
        for (; i < n; i++) {
            y[y0 + i] = Math.fma(x[x0 + i], a, b);
        }
    }

    /** {@code y[y0+i] = op(a[a0+i], b[b0+i])} for {@code i < n}. */
    static void binaryRun(BinaryOp op, float[] a, int a0, float[] b, int b0, float[] y, int y0, int n) {
        int i = 0;
        int bound = n - L;
        switch (op) {
            case ADD -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).add(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case SUB -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).sub(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case MUL -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).mul(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case DIV -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).div(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case MAXIMUM -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).max(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case MINIMUM -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).min(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
        }
        for (; i < n; i++) {
            y[y0 + i] = binaryScalar(op, a[a0 + i], b[b0 + i]);
        }
    }

    /** {@code y[y0+i] = op(a[a0+i], b)}: the second operand broadcast (e.g. a scalar). */
    static void binaryRunVS(BinaryOp op, float[] a, int a0, float b, float[] y, int y0, int n) {
        int i = 0;
        int bound = n - L;
        FloatVector vb = FloatVector.broadcast(F, b);
        switch (op) {
            case ADD -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).add(vb).intoArray(y, y0 + i);
                }
            }
            case SUB -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).sub(vb).intoArray(y, y0 + i);
                }
            }
            case MUL -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).mul(vb).intoArray(y, y0 + i);
                }
            }
            case DIV -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).div(vb).intoArray(y, y0 + i);
                }
            }
            case MAXIMUM -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).max(vb).intoArray(y, y0 + i);
                }
            }
            case MINIMUM -> {
                for (; i <= bound; i += L) {
                    FloatVector.fromArray(F, a, a0 + i).min(vb).intoArray(y, y0 + i);
                }
            }
        }
        for (; i < n; i++) {
            y[y0 + i] = binaryScalar(op, a[a0 + i], b);
        }
    }

    /** {@code y[y0+i] = op(a, b[b0+i])}: the first operand broadcast. */
    static void binaryRunSV(BinaryOp op, float a, float[] b, int b0, float[] y, int y0, int n) {
        int i = 0;
        int bound = n - L;
        FloatVector va = FloatVector.broadcast(F, a);
        switch (op) {
            case ADD -> {
                for (; i <= bound; i += L) {
                    va.add(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case SUB -> {
                for (; i <= bound; i += L) {
                    va.sub(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case MUL -> {
                for (; i <= bound; i += L) {
                    va.mul(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case DIV -> {
                for (; i <= bound; i += L) {
                    va.div(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case MAXIMUM -> {
                for (; i <= bound; i += L) {
                    va.max(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
            case MINIMUM -> {
                for (; i <= bound; i += L) {
                    va.min(FloatVector.fromArray(F, b, b0 + i)).intoArray(y, y0 + i);
                }
            }
        }
        for (; i < n; i++) {
            y[y0 + i] = binaryScalar(op, a, b[b0 + i]);
        }
    }
}
