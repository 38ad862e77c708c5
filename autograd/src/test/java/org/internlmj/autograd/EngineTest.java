package org.internlmj.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Generator;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** The backward engine: accumulation, ordering, hooks, no-grad, freed graphs, reentrancy, memory. */
@SuppressWarnings("try") // scopes and modes held for a block, not referenced in it
class EngineTest {

    private static Tensor f32(float... v) {
        return Tensor.of(v, v.length);
    }

    /** An identity op whose backward appends {@code event} to {@code events} when it runs. */
    private static Variable probe(Variable x, String event, List<String> events) {
        return Graph.record("probe", x.data(), (d, need) -> {
            events.add(event);
            return new Tensor[] {d[0]};
        }, x);
    }

    @Test
    void aVariableUsedTwiceAccumulates() {
        Variable x = Variable.parameter(f32(1, -2, 3));
        F.sum(F.mul(x, x)).backward();
        assertArrayEquals(new float[] {2, -4, 6}, x.grad().toFloatArray());

        Variable y = Variable.parameter(f32(1, -2, 3));
        F.sum(F.add(F.add(y, y), y)).backward();
        assertArrayEquals(new float[] {3, 3, 3}, y.grad().toFloatArray());
    }

    @Test
    void diamondSumsBothBranchesBeforeTheSharedNodeRuns() {
        Variable x = Variable.parameter(f32(0.5f, -1, 2));
        List<String> events = new ArrayList<>();
        List<float[]> seen = new ArrayList<>();
        Variable shared = Graph.record("shared", F.scale(x, 2).data(), (d, need) -> {
            events.add("shared");
            seen.add(d[0].toFloatArray());
            return new Tensor[] {org.internlmj.tensor.Ops.scale(d[0], 2)};
        }, x);
        Variable left = F.square(shared);
        Variable right = F.scale(shared, 3);
        F.sum(F.add(left, right)).backward();
        assertEquals(List.of("shared"), events);
        // d/dshared = 2 * shared + 3, shared = 2x; dx = 2 * that.
        assertArrayEquals(new float[] {2 * 1 + 3, 2 * -2 + 3, 2 * 4 + 3}, seen.get(0));
        assertArrayEquals(new float[] {10, -2, 22}, x.grad().toFloatArray());
    }

    @Test
    void gradientsAccumulateAcrossPassesUntilZeroed() {
        Variable w = Variable.parameter(f32(1, 2));
        F.sum(F.scale(w, 3)).backward();
        Tensor first = w.grad();
        F.sum(F.square(w)).backward();
        assertSame(first, w.grad(), "the gradient buffer is reused");
        assertArrayEquals(new float[] {3 + 2, 3 + 4}, w.grad().toFloatArray());
        w.zeroGrad();
        assertSame(first, w.grad());
        assertArrayEquals(new float[] {0, 0}, w.grad().toFloatArray());
        F.sum(w).backward();
        assertArrayEquals(new float[] {1, 1}, w.grad().toFloatArray());
    }

    @Test
    void aGivenBufferIsAccumulatedInPlace() {
        Variable w = Variable.parameter(f32(1, 2, 3));
        Tensor bucket = Tensor.zeros(DType.F32, Device.CPU, 10);
        Tensor view = bucket.narrow(0, 4, 3);
        w.setGrad(view);
        F.sum(F.scale(w, 2)).backward();
        F.sum(F.scale(w, 5)).backward();
        assertSame(view, w.grad());
        assertArrayEquals(new float[] {0, 0, 0, 0, 7, 7, 7, 0, 0, 0}, bucket.toFloatArray());
        assertThrows(IllegalArgumentException.class, () -> w.setGrad(Tensor.zeros(DType.F32, Device.CPU, 4)));
        assertThrows(IllegalArgumentException.class, () -> w.setGrad(Tensor.zeros(DType.BF16, Device.CPU, 3)));
        w.setGrad(null);
        assertNull(w.grad());
    }

    /** x [5, 4] through linear's weight w [3, 4] (twice if asked) and rows of an embedding e [6, 3]. */
    private record LinearAndEmbedding(Variable w, Variable x, Variable e) {
        static LinearAndEmbedding of(float[] w, float[] x, float[] e) {
            return new LinearAndEmbedding(Variable.parameter(Tensor.of(w, 3, 4)), Variable.parameter(Tensor.of(x, 5, 4)),
                    Variable.parameter(Tensor.of(e, 6, 3)));
        }

        /** One forward and backward pass of sum(y^2 + 2 emb). */
        void pass(int[] ids, boolean weightTwice) {
            Variable y = F.linear(x, w, null);
            if (weightTwice) {
                y = F.add(y, F.linear(F.scale(x, 0.5), w, null));
            }
            Variable emb = F.embedding(e, Tensor.ofInts(ids, ids.length));
            F.sum(F.add(F.square(y), F.scale(emb, 2))).backward();
        }
    }

    private static float[] normal(Generator g, int n) {
        return Tensor.normal(g, 0, 1, DType.F32, Device.CPU, n).toFloatArray();
    }

    /** The gradients of linear's weight and input, of embedding's weight, from a separate plain pass. */
    private static float[][] plainGradients(float[] w, float[] x, float[] e, int[] ids, boolean weightTwice) {
        LinearAndEmbedding m = LinearAndEmbedding.of(w, x, e);
        m.pass(ids, weightTwice);
        return new float[][] {m.w().grad().toFloatArray(), m.x().grad().toFloatArray(), m.e().grad().toFloatArray()};
    }

    @Test
    void weightGradientsAreAddedStraightIntoExistingBuffersWithTheSameResult() {
        Generator g = new Generator(11);
        float[] w = normal(g, 12);
        float[] x = normal(g, 20);
        float[] e = normal(g, 18);
        int[] ids = {3, 0, 3, 5, 1};
        for (boolean twice : new boolean[] {false, true}) {
            float[][] plain = plainGradients(w, x, e, ids, twice);
            // The same pass with the weights' gradients already in (bucket) buffers holding earlier values.
            LinearAndEmbedding m = LinearAndEmbedding.of(w, x, e);
            Tensor bucket = Tensor.full(0.25, DType.F32, Device.CPU, 12 + 18 + 2);
            Tensor wBuf = bucket.narrow(0, 1, 12).reshape(3, 4);
            Tensor eBuf = bucket.narrow(0, 13, 18).reshape(6, 3);
            m.w().setGrad(wBuf);
            m.e().setGrad(eBuf);
            List<float[]> atHook = new ArrayList<>();
            m.w().addGradHook(v -> atHook.add(v.grad().toFloatArray()));
            m.pass(ids, twice);
            assertSame(wBuf, m.w().grad());
            assertSame(eBuf, m.e().grad());
            float[] all = bucket.toFloatArray();
            assertEquals(0.25f, all[0]);
            assertEquals(0.25f, all[31], "the buffers' neighbours are untouched");
            for (int i = 0; i < 12; i++) {
                assertEquals(0.25f + plain[0][i], all[1 + i], 1e-5f, "w grad " + i + (twice ? " (used twice)" : ""));
            }
            for (int i = 0; i < 18; i++) {
                assertEquals(0.25f + plain[2][i], all[13 + i], 1e-5f, "embedding grad " + i);
            }
            assertArrayEquals(plain[1], m.x().grad().toFloatArray(), 1e-5f);
            assertEquals(1, atHook.size(), "the hook runs once, after the gradient is complete");
            assertArrayEquals(wBuf.toFloatArray(), atHook.get(0));
        }
    }

    @Test
    void lazilyClearedBuffersAreWrittenOverByTheNextPassAndReadAsZeroUntilThen() {
        Generator g = new Generator(12);
        float[] w = normal(g, 12);
        float[] x = normal(g, 20);
        float[] e = normal(g, 18);
        int[] ids = {3, 0, 3, 5, 1};
        // once: the accumulator paths (GEMM with beta 0, embedding scatter-add into a zero-filled buffer);
        // twice: w has two contributions, summed by the engine and copied over the stale values
        for (boolean twice : new boolean[] {false, true}) {
            float[][] plain = plainGradients(w, x, e, ids, twice);
            LinearAndEmbedding m = LinearAndEmbedding.of(w, x, e);
            Variable unused = Variable.parameter(Tensor.of(new float[] {1, 2}, 2));
            Tensor bucket = Tensor.full(0.25, DType.F32, Device.CPU, 12 + 18 + 2);
            Tensor wBuf = bucket.narrow(0, 0, 12).reshape(3, 4);
            Tensor uBuf = bucket.narrow(0, 30, 2);
            m.w().setGrad(wBuf);
            m.e().setGrad(bucket.narrow(0, 12, 18).reshape(6, 3));
            unused.setGrad(uBuf);
            for (Variable v : List.of(m.w(), m.e(), unused)) {
                v.zeroGradLazily();
            }
            assertEquals(0.25f, bucket.toFloatArray()[0], "nothing is written when clearing");
            List<float[]> atHook = new ArrayList<>();
            m.w().addGradHook(v -> atHook.add(v.grad().toFloatArray()));
            for (int pass = 1; pass <= 2; pass++) {
                m.pass(ids, twice);
                float[] all = bucket.toFloatArray();
                for (int i = 0; i < 12; i++) {
                    assertEquals(pass * plain[0][i], all[i], 1e-5f, "w grad " + i + " after pass " + pass
                            + (twice ? " (used twice)" : ""));
                }
                for (int i = 0; i < 18; i++) {
                    assertEquals(pass * plain[2][i], all[12 + i], 1e-5f, "embedding grad " + i + " after pass " + pass);
                }
                assertArrayEquals(wBuf.toFloatArray(), atHook.get(pass - 1), "the hook sees the pass's gradient");
            }
            assertEquals(0.25f, bucket.toFloatArray()[30], "a gradient no pass reached is not written...");
            assertArrayEquals(new float[] {0, 0}, unused.grad().toFloatArray(), "...until it is read");
            assertSame(uBuf, unused.grad());
            assertArrayEquals(new float[] {0, 0}, uBuf.toFloatArray());
        }
    }

    @Test
    void hooksFireOncePerPassWithTheSummedGradientAsSoonAsItIsComplete() {
        Variable w1 = Variable.parameter(f32(0.5f, -0.25f), "w1");
        Variable w2 = Variable.parameter(f32(2, 3), "w2");
        List<String> events = new ArrayList<>();
        List<float[]> w2Grads = new ArrayList<>();
        w1.addGradHook(v -> events.add("w1"));
        w2.addGradHook(v -> {
            events.add("w2");
            w2Grads.add(v.grad().toFloatArray());
        });
        Variable x = Variable.of(f32(1, 2));
        // w1 is used first in the forward, w2 last (twice): its gradient is complete early in the backward.
        Variable h = probe(F.mul(x, w1), "early op", events);
        for (int i = 0; i < 4; i++) {
            h = F.tanh(h);
        }
        Variable hFinal = h;
        Variable loss = F.sum(F.add(F.mul(h, w2), w2));
        loss.backward();
        assertEquals(List.of("w2", "early op", "w1"), events);
        float[] h1 = hFinal.data().toFloatArray();
        assertArrayEquals(new float[] {h1[0] + 1, h1[1] + 1}, w2Grads.get(0), 1e-6f);

        events.clear();
        Variable again = F.sum(F.add(F.mul(probe(F.mul(x, w1), "early op", events), w2), w2));
        again.backward();
        assertEquals(List.of("w2", "early op", "w1"), events);
        assertEquals(2, w2Grads.size());
    }

    @Test
    void hooksAreOnlyForLeavesThatRequireGrad() {
        Variable w = Variable.parameter(f32(1));
        assertThrows(IllegalStateException.class, () -> Variable.of(f32(1)).addGradHook(v -> { }));
        assertThrows(IllegalStateException.class, () -> F.exp(w).addGradHook(v -> { }));
    }

    @Test
    void noGradRecordsNothing() {
        Variable w = Variable.parameter(f32(1, 2));
        Variable y;
        try (NoGrad g = NoGrad.enter()) {
            assertFalse(NoGrad.isGradEnabled());
            y = F.sum(F.mul(w, w));
            try (NoGrad e = NoGrad.enableGrad()) {
                assertTrue(F.exp(w).requiresGrad());
            }
            assertFalse(F.exp(w).requiresGrad());
        }
        assertTrue(NoGrad.isGradEnabled());
        assertFalse(y.requiresGrad());
        assertTrue(y.isLeaf());
        assertNull(y.producerName());
        assertThrows(IllegalStateException.class, y::backward);
        assertNull(w.grad());
        assertTrue(F.exp(w).requiresGrad());
    }

    @Test
    void noGradBlocksCloseInnermostFirst() {
        NoGrad outer = NoGrad.enter();
        NoGrad inner = NoGrad.enter();
        assertThrows(IllegalStateException.class, outer::close);
        inner.close();
        outer.close();
        assertTrue(NoGrad.isGradEnabled());
    }

    @Test
    void constantsGetNoGradient() {
        Variable w = Variable.parameter(f32(1, 2));
        Variable c = Variable.of(f32(3, 4));
        assertFalse(F.mul(c, c).requiresGrad());
        F.sum(F.mul(w, c)).backward();
        assertNull(c.grad());
        assertFalse(w.detach().requiresGrad());
        assertSame(w.data(), w.detach().data());
    }

    @Test
    void aSecondBackwardThroughTheSameGraphIsAClearErrorAndChangesNothing() {
        Variable w = Variable.parameter(f32(1, 2));
        Variable loss = F.sum(F.exp(w));
        loss.backward();
        float[] after = w.grad().toFloatArray();
        IllegalStateException e = assertThrows(IllegalStateException.class, loss::backward);
        assertTrue(e.getMessage().startsWith("graph already freed"), e.getMessage());
        assertArrayEquals(after, w.grad().toFloatArray());

        Variable y = F.exp(w);
        F.sum(y).backward();
        IllegalStateException shared = assertThrows(IllegalStateException.class, () -> F.sum(F.square(y)).backward());
        assertTrue(shared.getMessage().contains("'exp'"), shared.getMessage());
    }

    @Test
    void backwardNeedsAGradientForNonScalarsAndAVariableThatRequiresGrad() {
        Variable w = Variable.parameter(f32(1, 2));
        Variable y = F.exp(w);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, y::backward);
        assertTrue(e.getMessage().contains("[2]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> y.backward(f32(1, 2, 3)));
        y.backward(f32(1, 0));
        assertArrayEquals(new float[] {(float) Math.E, 0}, w.grad().toFloatArray(), 1e-6f);
        assertThrows(IllegalStateException.class, () -> Variable.of(f32(1)).backward());
    }

    @Test
    void aSeedOfAnotherDtypeIsConverted() {
        Variable w = Variable.parameter(Tensor.of(new float[] {1, 2}, DType.BF16, 2));
        F.scale(w, 3).backward(f32(1, 2));
        assertEquals(DType.BF16, w.grad().dtype());
        assertArrayEquals(new float[] {3, 6}, w.grad().toFloatArray());
    }

    @Test
    void aGradientOfTheWrongShapeNamesTheFunction() {
        Variable w = Variable.parameter(f32(1, 2));
        Variable bad = Graph.record("bad", f32(5), (d, need) -> new Tensor[] {f32(1, 2, 3)}, w);
        IllegalStateException e = assertThrows(IllegalStateException.class, bad::backward);
        assertTrue(e.getMessage().contains("'bad'"), e.getMessage());
    }

    @Test
    void aFailingBackwardNamesTheFunction() {
        Variable w = Variable.parameter(f32(1, 2));
        Variable bad = Graph.record("broken", f32(5), (d, need) -> {
            throw new IllegalArgumentException("shapes disagree");
        }, w);
        IllegalStateException e = assertThrows(IllegalStateException.class, bad::backward);
        assertTrue(e.getMessage().contains("backward of 'broken' failed: shapes disagree"), e.getMessage());
    }

    @Test
    void deepGraphsNeedNoRecursion() {
        Variable w = Variable.parameter(f32(1));
        Variable h = w;
        int depth = 100_000;
        for (int i = 0; i < depth; i++) {
            h = F.scale(h, i % 2 == 0 ? 2.0 : 0.5);
        }
        h.backward();
        assertArrayEquals(new float[] {1}, w.grad().toFloatArray());
    }

    @Test
    void aBackwardMayRunAnotherBackward() {
        Variable outer = Variable.parameter(f32(1, 2));
        Variable inner = Variable.parameter(f32(3, 4));
        Variable y = Graph.record("nested", F.scale(outer, 2).data(), (d, need) -> {
            F.sum(F.square(inner)).backward();
            return new Tensor[] {org.internlmj.tensor.Ops.scale(d[0], 2)};
        }, outer);
        F.sum(y).backward();
        assertArrayEquals(new float[] {2, 2}, outer.grad().toFloatArray());
        assertArrayEquals(new float[] {6, 8}, inner.grad().toFloatArray());
    }

    @Test
    void severalRootsInOnePass() {
        Variable w = Variable.parameter(f32(1, 2));
        Variable a = F.scale(w, 2);
        Variable b = F.square(w);
        Engine.backward(new Variable[] {a, b}, new Tensor[] {f32(1, 1), f32(1, 1)});
        assertArrayEquals(new float[] {4, 6}, w.grad().toFloatArray());
    }

    @Test
    void aParametersGradientLivesInTheScopeOfItsData() {
        MemoryScope params = MemoryScope.detached();
        Variable w = Variable.parameter(params.adopt(f32(1, 2)));
        Variable unscoped = Variable.parameter(f32(3));
        try (MemoryScope step = MemoryScope.open()) {
            F.sum(F.add(F.square(w), F.sum(F.scale(unscoped, 2)))).backward();
        }
        assertFalse(w.grad().isClosed());
        assertFalse(unscoped.grad().isClosed());
        assertArrayEquals(new float[] {2, 4}, w.grad().toFloatArray());
        assertArrayEquals(new float[] {4}, unscoped.grad().toFloatArray());
        params.close();
        assertTrue(w.grad().isClosed());
    }

    @Test
    void unusedOutputsOfAMultiOutputFunctionGetNoGradient() {
        Variable x = Variable.parameter(f32(1, 2, 3, 4, 5));
        List<Variable> parts = F.split(x, new int[] {2, 3}, 0);
        F.sum(F.scale(parts.get(1), 3)).backward();
        assertArrayEquals(new float[] {0, 0, 3, 3, 3}, x.grad().toFloatArray());
    }
}
