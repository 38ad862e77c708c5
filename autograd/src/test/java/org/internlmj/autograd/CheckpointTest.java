package org.internlmj.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** Checkpointing on the real CPU backend in F32: the same gradients as the plain graph, bit for bit. */
@SuppressWarnings("try") // scopes and modes held for a block, not referenced in it
class CheckpointTest {

    /** A decoder-like block: {@code x + W2 silu(W1 rmsNorm(x) + b1)}, W1 used twice via a gate. */
    private static final class Block {
        final Variable norm;
        final Variable w1;
        final Variable b1;
        final Variable w2;
        final AtomicInteger calls = new AtomicInteger();
        final List<Tensor> activations = new ArrayList<>();

        Block(Rand r, int h, int f) {
            norm = Variable.parameter(r.uniform(0.5, 1.5, h).to(DType.F32), "norm");
            w1 = Variable.parameter(r.uniform(-0.5, 0.5, f, h).to(DType.F32), "w1");
            b1 = Variable.parameter(r.uniform(-0.5, 0.5, f).to(DType.F32), "b1");
            w2 = Variable.parameter(r.uniform(-0.5, 0.5, h, f).to(DType.F32), "w2");
        }

        Variable apply(Variable x) {
            calls.incrementAndGet();
            Variable n = F.rmsNorm(x, norm, 1e-5);
            Variable up = F.linear(n, w1, b1);
            Variable gate = F.linear(n, w1, null);
            Variable inner = F.swiglu(gate, up);
            activations.add(inner.data());
            return F.add(x, F.linear(inner, w2, null));
        }

        List<Variable> parameters() {
            return List.of(norm, w1, b1, w2);
        }
    }

    private record Grads(List<float[]> values) {
    }

    private static Grads run(Rand r, boolean checkpoint, Function<Block, Void> inspect) {
        Variable x0 = Variable.parameter(r.uniform(-1, 1, 7, 6).to(DType.F32), "x0");
        Block a = new Block(r, 6, 5);
        Block b = new Block(r, 6, 5);
        Variable x = F.scale(x0, 1.5);             // the checkpoint's input is a result: gradients flow on
        Variable h1 = checkpoint ? Checkpoint.apply(in -> a.apply(in[0]), x) : a.apply(x);
        Variable h2 = checkpoint ? Checkpoint.apply(in -> b.apply(in[0]), h1) : b.apply(h1);
        F.sum(F.square(h2)).backward();
        if (inspect != null) {
            inspect.apply(a);
        }
        List<float[]> grads = new ArrayList<>();
        grads.add(x0.grad().toFloatArray());
        for (Block blk : List.of(a, b)) {
            for (Variable p : blk.parameters()) {
                grads.add(p.grad().toFloatArray());
            }
        }
        return new Grads(grads);
    }

    @Test
    void gradientsEqualThePlainGraphBitForBitAndTheBlockRunsTwice() {
        AtomicInteger plainCalls = new AtomicInteger();
        AtomicInteger checkpointCalls = new AtomicInteger();
        Grads plain = run(new Rand(1), false, blk -> {
            plainCalls.set(blk.calls.get());
            return null;
        });
        Grads recomputed = run(new Rand(1), true, blk -> {
            checkpointCalls.set(blk.calls.get());
            return null;
        });
        assertEquals(1, plainCalls.get());
        assertEquals(2, checkpointCalls.get());
        assertEquals(plain.values().size(), recomputed.values().size());
        for (int i = 0; i < plain.values().size(); i++) {
            assertArrayEquals(plain.values().get(i), recomputed.values().get(i), "gradient " + i);
        }
    }

    @Test
    void theRecomputedActivationsAreFreedAfterTheBlocksBackward() {
        run(new Rand(2), true, blk -> {
            assertEquals(2, blk.activations.size());
            assertFalse(blk.activations.get(0).isClosed(), "the forward's activations are the caller's");
            assertTrue(blk.activations.get(1).isClosed(), "the recomputation's are freed with its scope");
            return null;
        });
    }

    @Test
    void parametersUsedInsideFireTheirHooksOnceWithTheCompleteGradientBeforeEarlierOpsRun() {
        Tensor x = new Rand(30).uniform(-1, 1, 5, 4).to(DType.F32);
        List<String> events = new ArrayList<>();
        Block checkpointed = new Block(new Rand(3), 4, 3);
        List<float[]> atHook = new ArrayList<>();
        checkpointed.w1.addGradHook(v -> {
            events.add("w1");
            atHook.add(v.grad().toFloatArray());
        });
        Variable in = Graph.record("probe", x, (d, need) -> {
            events.add("probe");
            return new Tensor[] {d[0]};
        }, Variable.parameter(x));
        F.sum(Checkpoint.apply(v -> checkpointed.apply(v[0]), in)).backward();
        assertEquals(List.of("w1", "probe"), events);
        assertArrayEquals(checkpointed.w1.grad().toFloatArray(), atHook.get(0));

        // The plain block, whose two uses of w1 are summed before its hook, gives the same gradient.
        Block plain = new Block(new Rand(3), 4, 3);
        List<float[]> plainHook = new ArrayList<>();
        plain.w1.addGradHook(v -> plainHook.add(v.grad().toFloatArray()));
        F.sum(plain.apply(Variable.parameter(x))).backward();
        assertEquals(1, plainHook.size());
        assertArrayEquals(plainHook.get(0), atHook.get(0));
    }

    @Test
    void aParameterUsedInsideAndOutsideFiresItsHookOnceWhenBothPartsArrived() {
        Tensor x = new Rand(31).uniform(-1, 1, 5, 4).to(DType.F32);
        float[][] results = new float[2][];
        for (int run = 0; run < 2; run++) {
            boolean checkpoint = run == 1;
            Block blk = new Block(new Rand(3), 4, 3);
            List<float[]> atHook = new ArrayList<>();
            blk.w2.addGradHook(v -> atHook.add(v.grad().toFloatArray()));
            Variable in = Variable.parameter(x);
            Variable h = checkpoint ? Checkpoint.apply(v -> blk.apply(v[0]), in) : blk.apply(in);
            // w2 [4, 3] is used again after the block, like tied input and output embeddings.
            Variable tied = F.linear(F.narrow(h, 1, 0, 3), blk.w2, null);
            F.sum(F.square(tied)).backward();
            assertEquals(1, atHook.size(), "hook calls with checkpoint=" + checkpoint);
            assertArrayEquals(blk.w2.grad().toFloatArray(), atHook.get(0));
            results[run] = atHook.get(0);
        }
        assertArrayEquals(results[0], results[1]);
    }

    @Test
    void nestedCheckpointsMatchThePlainGraph() {
        Rand r = new Rand(4);
        Block a = new Block(r, 6, 5);
        Block b = new Block(r, 6, 5);
        Tensor x = r.uniform(-1, 1, 3, 6).to(DType.F32);
        Variable plainIn = Variable.parameter(x);
        F.sum(b.apply(a.apply(plainIn))).backward();
        List<float[]> plain = new ArrayList<>();
        for (Variable p : a.parameters()) {
            plain.add(p.grad().toFloatArray());
            p.setGrad(null);
        }
        for (Variable p : b.parameters()) {
            plain.add(p.grad().toFloatArray());
            p.setGrad(null);
        }
        Variable nestedIn = Variable.parameter(x);
        Variable y = Checkpoint.apply(in -> b.apply(Checkpoint.apply(inner -> a.apply(inner[0]), in[0])), nestedIn);
        F.sum(y).backward();
        assertArrayEquals(plainIn.grad().toFloatArray(), nestedIn.grad().toFloatArray());
        int i = 0;
        for (Variable p : a.parameters()) {
            assertArrayEquals(plain.get(i++), p.grad().toFloatArray());
        }
        for (Variable p : b.parameters()) {
            assertArrayEquals(plain.get(i++), p.grad().toFloatArray());
        }
    }

    @Test
    void underNoGradTheBlockRunsOnceAndRecordsNothing() {
        Block blk = new Block(new Rand(5), 4, 3);
        Variable x = Variable.parameter(new Rand(6).uniform(-1, 1, 2, 4).to(DType.F32));
        Variable y;
        try (NoGrad g = NoGrad.enter()) {
            y = Checkpoint.apply(in -> blk.apply(in[0]), x);
        }
        assertFalse(y.requiresGrad());
        assertEquals(1, blk.calls.get());
    }

    @Test
    void aBlockOfConstantsRecordsNothing() {
        Variable c = Variable.of(Tensor.of(new float[] {1, 2}, 2));
        Variable y = Checkpoint.apply(in -> F.exp(in[0]), c);
        assertFalse(y.requiresGrad());
    }

    @Test
    void theBackwardRunsInTheCallersScopeAndKeepsTheInputGradients() {
        Block blk = new Block(new Rand(7), 4, 3);
        Variable x0 = Variable.parameter(new Rand(8).uniform(-1, 1, 2, 4).to(DType.F32));
        try (MemoryScope step = MemoryScope.open()) {
            Variable x = F.scale(x0, 2);
            F.sum(Checkpoint.apply(in -> blk.apply(in[0]), x)).backward();
            assertFalse(x0.grad().isClosed());
        }
        assertFalse(x0.grad().isClosed());
        assertFalse(blk.w2.grad().isClosed());
    }
}
