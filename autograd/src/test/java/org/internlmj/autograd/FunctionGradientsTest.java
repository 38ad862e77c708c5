package org.internlmj.autograd;

import static org.internlmj.autograd.GradCheck.assertGradients;

import java.util.List;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Float64 gradient checks of every function in {@link F} on random shapes with odd sizes: the analytic
 * backward against central differences, both on the reference backend in float64.
 */
class FunctionGradientsTest {

    // ---------------------------------------------------------------- arithmetic

    @Test
    void binaryOpsOnEqualShapes() {
        Rand r = new Rand(1);
        int m = r.odd(7);
        int n = r.odd(9);
        Tensor a = r.uniform(-1, 1, m, n);
        Tensor b = r.uniform(0.5, 2, m, n);
        assertGradients(v -> F.add(v[0], v[1]), a, b);
        assertGradients(v -> F.sub(v[0], v[1]), a, b);
        assertGradients(v -> F.mul(v[0], v[1]), a, b);
        assertGradients(v -> F.div(v[0], v[1]), a, b);
    }

    @Test
    void binaryOpsBroadcast() {
        Rand r = new Rand(2);
        int t = r.odd(5);
        int m = r.odd(7) + 2;
        int n = r.odd(7) + 2;
        int[][][] pairs = {
                {{m, n}, {n}},           // row vector
                {{m, 1}, {1, n}},        // outer
                {{t, m, n}, {m, 1}},     // leading dimension added, column stretched
                {{}, {m, n}},            // 0-d scalar
                {{t, 1, n}, {t, m, 1}},  // both stretched
        };
        for (int[][] p : pairs) {
            Tensor a = r.uniform(-1, 1, p[0]);
            Tensor b = r.uniform(0.5, 2, p[1]);
            assertGradients(v -> F.add(v[0], v[1]), a, b);
            assertGradients(v -> F.sub(v[0], v[1]), a, b);
            assertGradients(v -> F.mul(v[0], v[1]), a, b);
            assertGradients(v -> F.div(v[0], v[1]), a, b);
            assertGradients(v -> F.div(v[1], v[0]), r.uniform(0.5, 2, p[0]), b);
        }
    }

    @Test
    void scaleAndNeg() {
        Rand r = new Rand(3);
        Tensor x = r.uniform(-2, 2, r.odd(5), r.odd(7));
        assertGradients(v -> F.scale(v[0], -1.75), x);
        assertGradients(v -> F.neg(v[0]), x);
    }

    @Test
    void sameVariableOnBothSides() {
        Tensor x = new Rand(4).uniform(0.5, 2, 3, 5);
        assertGradients(v -> F.mul(v[0], v[0]), x);
        assertGradients(v -> F.div(F.add(v[0], v[0]), F.mul(v[0], v[0])), x);
    }

    // ---------------------------------------------------------------- elementwise

    @Test
    void elementwiseMath() {
        Rand r = new Rand(5);
        int[] shape = {r.odd(5), r.odd(7), r.odd(3)};
        Tensor any = r.uniform(-2, 2, shape);
        Tensor positive = r.uniform(0.3, 3, shape);
        assertGradients(v -> F.exp(v[0]), any);
        assertGradients(v -> F.log(v[0]), positive);
        assertGradients(v -> F.sqrt(v[0]), positive);
        assertGradients(v -> F.rsqrt(v[0]), positive);
        assertGradients(v -> F.square(v[0]), any);
    }

    @Test
    void activations() {
        Rand r = new Rand(6);
        int[] shape = {r.odd(7), r.odd(9)};
        Tensor any = r.uniform(-3, 3, shape);
        assertGradients(v -> F.sigmoid(v[0]), any);
        assertGradients(v -> F.silu(v[0]), any);
        assertGradients(v -> F.tanh(v[0]), any);
        // Away from the kink at 0, where the derivative is not defined.
        assertGradients(v -> F.relu(v[0]), r.awayFromZero(0.05, 2, shape));
    }

    @Test
    void swiglu() {
        Rand r = new Rand(7);
        int[] shape = {r.odd(7), r.odd(11)};
        assertGradients(v -> F.swiglu(v[0], v[1]), r.uniform(-3, 3, shape), r.uniform(-2, 2, shape));
    }

    // ---------------------------------------------------------------- matrix products

    @Test
    void matmulPlainBatchedAndShared() {
        Rand r = new Rand(8);
        int b = r.odd(3) + 1;
        int m = r.odd(7);
        int k = r.odd(9);
        int n = r.odd(5);
        assertGradients(v -> F.matmul(v[0], v[1]), r.uniform(-1, 1, m, k), r.uniform(-1, 1, k, n));
        assertGradients(v -> F.matmul(v[0], v[1]), r.uniform(-1, 1, b, m, k), r.uniform(-1, 1, b, k, n));
        assertGradients(v -> F.matmul(v[0], v[1]), r.uniform(-1, 1, b, m, k), r.uniform(-1, 1, k, n));
    }

    @Test
    void matmulOfTransposedViews() {
        Rand r = new Rand(9);
        int m = r.odd(7);
        int k = r.odd(9);
        int n = r.odd(5);
        assertGradients(v -> F.matmul(F.transpose(v[0], 0, 1), F.transpose(v[1], 0, 1)),
                r.uniform(-1, 1, k, m), r.uniform(-1, 1, n, k));
    }

    @Test
    void linearWithAndWithoutBiasAndBatchedInput() {
        Rand r = new Rand(10);
        int in = r.odd(9);
        int out = r.odd(7);
        Tensor w = r.uniform(-1, 1, out, in);
        Tensor b = r.uniform(-1, 1, out);
        Tensor x2 = r.uniform(-1, 1, r.odd(7), in);
        Tensor x3 = r.uniform(-1, 1, r.odd(3) + 1, r.odd(5), in);
        assertGradients(v -> F.linear(v[0], v[1], v[2]), x2, w, b);
        assertGradients(v -> F.linear(v[0], v[1], null), x2, w);
        assertGradients(v -> F.linear(v[0], v[1], v[2]), x3, w, b);
        assertGradients(v -> F.linear(v[0], v[1], null), x3, w);
        assertGradients(v -> F.linear(v[0], v[1], v[2]), r.uniform(-1, 1, in), w, b);
        // A transposed (non-contiguous) input.
        assertGradients(v -> F.linear(F.transpose(v[0], 0, 1), v[1], v[2]), r.uniform(-1, 1, in, 5), w, b);
    }

    // ---------------------------------------------------------------- shapes

    @Test
    void views() {
        Rand r = new Rand(11);
        int a = r.odd(5) + 2;
        int b = r.odd(5) + 2;
        int c = r.odd(5) + 2;
        Tensor x = r.uniform(-1, 1, a, b, c);
        // Each view is followed by an op that reads it strided, so the gradient path is exercised.
        assertGradients(v -> F.reshape(v[0], b, -1), x);
        assertGradients(v -> F.square(F.reshape(F.transpose(v[0], 0, 2), -1)), x);
        assertGradients(v -> F.exp(F.transpose(v[0], 1, 2)), x);
        assertGradients(v -> F.exp(F.permute(v[0], 2, 0, 1)), x);
        assertGradients(v -> F.exp(F.narrow(v[0], 1, 1, b - 2)), x);
        assertGradients(v -> F.exp(F.select(v[0], 2, c - 1)), x);
        assertGradients(v -> F.exp(F.unsqueeze(v[0], 1)), x);
        assertGradients(v -> F.exp(F.unsqueeze(v[0], -1)), x);
        assertGradients(v -> F.exp(F.squeeze(v[0], 1)), r.uniform(-1, 1, a, 1, c));
        assertGradients(v -> F.exp(F.expand(v[0], a, b, c)), r.uniform(-1, 1, b, 1));
        assertGradients(v -> F.contiguous(F.transpose(v[0], 0, 1)), x);
    }

    @Test
    void catAlongEachDimension() {
        Rand r = new Rand(12);
        int m = r.odd(5);
        int n = r.odd(7);
        Tensor a = r.uniform(-1, 1, m, n);
        Tensor b = r.uniform(-1, 1, m, 2);
        Tensor c = r.uniform(-1, 1, m, 1);
        assertGradients(v -> F.cat(List.of(v[0], v[1], v[2]), 1), a, b, c);
        assertGradients(v -> F.cat(List.of(v[0], v[1], v[0]), 0), a, r.uniform(-1, 1, 3, n));
        // A constant part gets no gradient; the others still do.
        Tensor constant = r.uniform(-1, 1, m, 3);
        assertGradients(v -> F.cat(List.of(v[0], Variable.of(constant)), 1), a);
    }

    @Test
    void splitAndChunkWithUnusedParts() {
        Rand r = new Rand(13);
        int m = r.odd(5);
        Tensor x = r.uniform(-1, 1, m, 11);
        Tensor w = r.uniform(-1, 1, m, 4);
        assertGradients(v -> {
            List<Variable> parts = F.split(v[0], new int[] {4, 3, 4}, 1);
            // The middle part is unused: its gradient slot stays empty.
            return F.add(F.mul(parts.get(0), v[1]), F.square(parts.get(2)));
        }, x, w);
        assertGradients(v -> {
            List<Variable> parts = F.split(v[0], 4, 1);
            return F.cat(List.of(F.exp(parts.get(2)), parts.get(0)), 1);
        }, x);
        assertGradients(v -> {
            List<Variable> parts = F.chunk(v[0], 3, 1);
            return F.cat(List.of(parts.get(2), F.square(parts.get(1)), parts.get(0)), 1);
        }, x);
    }

    // ---------------------------------------------------------------- reductions

    @Test
    void sumAndMean() {
        Rand r = new Rand(14);
        Tensor x = r.uniform(-1, 1, r.odd(5), r.odd(7), r.odd(5));
        for (int dim = -1; dim < 3; dim++) {
            int d = dim;
            assertGradients(v -> F.sum(v[0], d, false), x);
            assertGradients(v -> F.sum(v[0], d, true), x);
            assertGradients(v -> F.mean(v[0], d, false), x);
            assertGradients(v -> F.mean(v[0], d, true), x);
        }
        assertGradients(v -> F.sum(v[0]), x);
        assertGradients(v -> F.mean(v[0]), x);
        assertGradients(v -> F.mean(F.transpose(v[0], 0, 2)), x);
    }

    @Test
    void softmaxAndLogSoftmax() {
        Rand r = new Rand(15);
        Tensor x = r.uniform(-3, 3, r.odd(5), r.odd(3), r.odd(9) + 2);
        assertGradients(v -> F.softmax(v[0]), x);
        assertGradients(v -> F.logSoftmax(v[0]), x);
        assertGradients(v -> F.softmax(F.transpose(v[0], 0, 2)), x);
    }

    // ---------------------------------------------------------------- transformer blocks

    @Test
    void rmsNorm() {
        Rand r = new Rand(16);
        int h = r.odd(9) + 2;
        Tensor x = r.uniform(-2, 2, r.odd(5), r.odd(3), h);
        Tensor w = r.uniform(0.5, 1.5, h);
        assertGradients(v -> F.rmsNorm(v[0], v[1], 1e-5), x, w);
        assertGradients(v -> F.rmsNorm(F.transpose(v[0], 0, 1), v[1], 1e-2), x, w);
    }

    @Test
    void layerNormWithAndWithoutBias() {
        Rand r = new Rand(17);
        int h = r.odd(9) + 2;
        Tensor x = r.uniform(-2, 2, r.odd(5), r.odd(3), h);
        Tensor w = r.uniform(0.5, 1.5, h);
        Tensor b = r.uniform(-1, 1, h);
        assertGradients(v -> F.layerNorm(v[0], v[1], v[2], 1e-5), x, w, b);
        assertGradients(v -> F.layerNorm(v[0], v[1], null, 1e-5), x, w);
    }

    @Test
    void rotaryWithPerDocumentPositions() {
        Rand r = new Rand(18);
        int[] docs = {r.size(1, 5), r.size(1, 5), r.size(1, 5)};
        int t = docs[0] + docs[1] + docs[2];
        int[] pos = new int[t];
        for (int d = 0, i = 0; d < docs.length; d++) {
            for (int p = 0; p < docs[d]; p++) {
                pos[i++] = p;
            }
        }
        Tensor positions = Tensor.ofInts(pos, t);
        Tensor x = r.uniform(-1, 1, t, r.odd(3), 2 * r.size(1, 4));
        assertGradients(v -> F.rotary(v[0], positions, 10000), x);
        assertGradients(v -> F.rotary(v[0], positions, 7.5), x);
    }

    @Test
    void embeddingWithRepeatedIds() {
        Rand r = new Rand(19);
        int vocab = r.odd(11) + 2;
        int h = r.odd(7);
        Tensor w = r.uniform(-1, 1, vocab, h);
        int[] ids = r.ints(9, vocab);
        ids[3] = ids[0];
        Tensor flat = Tensor.ofInts(ids, 9);
        Tensor grid = Tensor.ofInts(ids, 3, 3);
        Tensor longs = Tensor.ofLongs(java.util.Arrays.stream(ids).asLongStream().toArray(), 9);
        assertGradients(v -> F.embedding(v[0], flat), w);
        assertGradients(v -> F.embedding(v[0], grid), w);
        assertGradients(v -> F.embedding(v[0], longs), w);
    }

    @Test
    void crossEntropyWithSmoothingIgnoredLabelsAndEveryReduction() {
        Rand r = new Rand(20);
        int n = r.odd(9) + 2;
        int vocab = r.odd(11) + 2;
        Tensor logits = r.uniform(-3, 3, n, vocab);
        int[] y = r.ints(n, vocab);
        y[1] = -100;
        y[n - 1] = -100;
        Tensor labels = Tensor.ofInts(y, n);
        Tensor longLabels = Tensor.ofLongs(java.util.Arrays.stream(y).asLongStream().toArray(), n);
        for (double smoothing : new double[] {0.0, 0.1}) {
            for (Reduction reduction : Reduction.values()) {
                assertGradients(v -> F.crossEntropy(v[0], labels, -100, smoothing, reduction), logits);
            }
        }
        assertGradients(v -> F.crossEntropy(v[0], longLabels, -100, 0.25, Reduction.MEAN), logits);
        assertGradients(v -> F.crossEntropy(v[0], longLabels), logits);
        // Another ignore index: -100 is then an id out of range, so the labels are remapped.
        int[] z = y.clone();
        z[1] = 0;
        z[n - 1] = 0;
        Tensor zeroIgnored = Tensor.ofInts(z, n);
        assertGradients(v -> F.crossEntropy(v[0], zeroIgnored, 0, 0.1, Reduction.MEAN), logits);
    }

    @Test
    void attentionOverSeveralDocumentsCausalAndNot() {
        Rand r = new Rand(21);
        int[] cu = {0, r.size(1, 4), 0, 0};
        cu[2] = cu[1] + 1;                 // a one-token document
        cu[3] = cu[2] + r.size(2, 5);
        int t = cu[3];
        int heads = r.odd(3);
        int d = r.size(2, 5);
        Tensor cuSeqlens = Tensor.ofInts(cu, cu.length);
        Tensor q = r.uniform(-1, 1, t, heads, d);
        Tensor k = r.uniform(-1, 1, t, heads, d);
        Tensor v = r.uniform(-1, 1, t, heads, d);
        double scale = 1 / Math.sqrt(d);
        assertGradients(in -> F.attention(in[0], in[1], in[2], cuSeqlens, scale, true), q, k, v);
        assertGradients(in -> F.attention(in[0], in[1], in[2], cuSeqlens, scale, false), q, k, v);
        Tensor one = Tensor.ofInts(new int[] {0, t}, 2);
        assertGradients(in -> F.attention(in[0], in[1], in[2], one, 0.7, true), q, k, v);
    }

    // ---------------------------------------------------------------- precision

    @Test
    void castToTheSameDtypeIsTheIdentity() {
        Tensor x = new Rand(22).uniform(-1, 1, 3, 5);
        assertGradients(v -> F.exp(F.cast(v[0], org.internlmj.tensor.DType.F64)), x);
    }

    // ---------------------------------------------------------------- checkpoint

    @Test
    void checkpointOfABlockWithParameters() {
        Rand r = new Rand(23);
        int h = r.odd(5) + 2;
        int f = r.odd(7);
        Tensor x = r.uniform(-1, 1, r.odd(5), h);
        Tensor w1 = r.uniform(-1, 1, f, h);
        Tensor b1 = r.uniform(-1, 1, f);
        Tensor w2 = r.uniform(-1, 1, h, f);
        Tensor norm = r.uniform(0.5, 1.5, h);
        // v[1..4] are parameters the block uses without taking them as inputs.
        assertGradients(v -> F.add(v[0], Checkpoint.apply(
                in -> F.linear(F.silu(F.linear(F.rmsNorm(in[0], v[4], 1e-5), v[1], v[2])), v[3], null), v[0])),
                x, w1, b1, w2, norm);
    }

    @Test
    void checkpointOfABlockThatClosesOverAnOutsideResult() {
        Rand r = new Rand(24);
        Tensor x = r.uniform(-1, 1, 3, 5);
        Tensor y = r.uniform(-1, 1, 3, 5);
        // The block reads exp(v[1]), computed outside, used outside too and not passed in: its gradient
        // from the block must join the one from outside before exp's backward runs, once.
        assertGradients(v -> {
            Variable outside = F.exp(v[1]);
            Variable block = Checkpoint.apply(in -> F.mul(F.tanh(in[0]), outside), v[0]);
            return F.add(block, F.square(outside));
        }, x, y);
    }
}
