package org.internlmj.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.autograd.Reduction;
import org.internlmj.autograd.Variable;
import org.internlmj.dist.ThreadWorld;
import org.internlmj.dist.pipeline.PipelinePartition;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.testing.TensorAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The model split over tensor-parallel thread ranks computes what the one-rank model computes: the same
 * loss on every rank, each rank's part of the logits, and gradients that are each rank's part of the
 * one-rank gradients (whole ones for replicated parameters), for both embedding splits, parallel or gathered
 * output, with and without sequence parallelism and activation checkpointing. Also: a model cut into parts
 * (pipeline stages) run piecewise is the whole model.
 */
class TensorParallelModelTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    // two documents of 7 and 5 tokens; 12 tokens split over 2 and 4 sequence ranks
    private static final int[] IDS = {1, 7, 3, 9, 4, 11, 2, 1, 5, 5, 8, 0};
    private static final int[] POS = {0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4};
    private static final int[] CU = {0, 7, 12};
    private static final int[] LABELS = {7, 3, 9, 4, 11, 2, -100, 5, 5, 8, 0, -100};
    private static final long SEED = 5;

    private static ModelSpec spec(double checkpoint, boolean splitHidden, boolean parallelOutput) {
        return new ModelSpec(12, 16, 2, 4, 32, ModelSpec.NormType.RMSNORM, 1e-5, DType.F32, 1.0, checkpoint, 10000.0,
                splitHidden, parallelOutput);
    }

    private record Result(double loss, Tensor logits, Map<String, Tensor> grads, Map<String, Parameter> params) {
    }

    private static Result run(InternLMModel m, double smoothing) {
        m.initialize(SEED);
        Variable logits = m.forward(Tensor.ofInts(IDS, IDS.length), Tensor.ofInts(POS, POS.length),
                Tensor.ofInts(CU, CU.length));
        Variable loss = m.loss(logits, Tensor.ofInts(LABELS, LABELS.length), -100, smoothing, Reduction.MEAN);
        loss.backward();
        Map<String, Tensor> grads = new LinkedHashMap<>();
        m.namedParameters().forEach((k, p) -> grads.put(k, p.grad()));
        return new Result(loss.data().item(), logits.data(), grads, m.namedParameters());
    }

    @ParameterizedTest(name = "tp {0}, sp {1}, embed_split_hidden {2}, parallel_output {3}, checkpoint {4}")
    @CsvSource({
        "2, false, true, true, 0.0",
        "2, true, true, true, 0.5",
        "4, true, false, true, 0.0",
        "4, false, false, false, 1.0",
        "2, true, true, false, 0.0",
    })
    void matchesTheOneRankModel(int tp, boolean sp, boolean splitHidden, boolean parallelOutput, double checkpoint) {
        ModelSpec spec = spec(checkpoint, splitHidden, parallelOutput);
        Result one = run(new InternLMModel(spec, Device.CPU), 0.1);
        List<Result> ranks;
        try (ThreadWorld world = new ThreadWorld(tp, TIMEOUT)) {
            ranks = world.run(g -> run(new InternLMModel(spec, Device.CPU, new TensorParallel(g, sp),
                    PipelinePartition.whole(spec.numLayers()), 0),
                    0.1));
        }
        for (int r = 0; r < tp; r++) {
            Result rank = ranks.get(r);
            String at = "rank " + r + " of " + tp + ": ";
            assertEquals(one.loss(), rank.loss(), 1e-6 * Math.abs(one.loss()), at + "loss");
            assertEquals(ranks.get(0).loss(), rank.loss(), 0.0, at + "every rank reports the same loss");
            Tensor logits = parallelOutput ? one.logits().narrow(1, r * 12 / tp, 12 / tp) : one.logits();
            TensorAssert.assertClose(logits, rank.logits(), 1e-6, 1e-4, at + "logits");
            assertEquals(one.grads().keySet(), rank.grads().keySet());
            for (var e : rank.params().entrySet()) {
                Parameter p = e.getValue();
                Tensor full = one.grads().get(e.getKey());
                Tensor expected = full;
                if (p.split() != null) {
                    expected = Tensor.empty(DType.F32, Device.CPU, p.data().shape());
                    p.split().cut(full, expected);
                }
                double rel = TensorAssert.relativeError(expected, rank.grads().get(e.getKey()));
                assertTrue(rel < 1e-4, at + e.getKey() + " gradient: relative error " + rel);
            }
        }
        // the split parameters are the one-rank ones cut; heads, MLP columns and the vocabulary divide by tp
        Parameter wqkv = ranks.get(tp - 1).params().get("blocks.1.mixer.Wqkv.weight");
        assertEquals(List.of(3 * 16 / tp, 16), List.of(wqkv.data().size(0), wqkv.data().size(1)));
        Tensor expected = Tensor.empty(DType.F32, Device.CPU, wqkv.data().shape());
        wqkv.split().cut(one.params().get("blocks.1.mixer.Wqkv.weight").data(), expected);
        TensorAssert.assertClose(expected, wqkv.data(), 0, 0, "Wqkv of the last rank");
        assertNull(ranks.get(0).params().get("blocks.0.norm1.weight").split(), "norms are replicated");
        assertEquals(splitHidden ? 1 : 0, ranks.get(0).params().get("embedding.weight").split().dim());
    }

    @Test
    void sequenceParallelHiddenStatesHoldThisRanksTokens() {
        ModelSpec spec = spec(0.0, true, true);
        try (ThreadWorld world = new ThreadWorld(4, TIMEOUT)) {
            world.run(g -> {
                InternLMModel m = new InternLMModel(spec, Device.CPU, new TensorParallel(g, true),
                        PipelinePartition.whole(spec.numLayers()), 0);
                m.initialize(SEED);
                Variable x = m.embed(Tensor.ofInts(IDS, IDS.length));
                Variable h = m.blocks(0, x, Tensor.ofInts(POS, POS.length), Tensor.ofInts(CU, CU.length));
                Variable logits = m.logits(h);
                // the residual stream (and what norms save) is a quarter of the tokens; the head sees them all
                assertEquals(List.of(3, 16), List.of(x.size(0), x.size(1)));
                assertEquals(List.of(3, 16), List.of(h.size(0), h.size(1)));
                assertEquals(List.of(12, 3), List.of(logits.size(0), logits.size(1)));
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> m.embed(Tensor.ofInts(new int[] {1, 2, 3, 4, 5, 6}, 6)));
                assertTrue(e.getMessage().contains("divisible by 4"), e.getMessage());
                return null;
            });
        }
    }

    @Test
    void wqkvSplitKeepsEachRanksHeadsOfQKAndV() {
        // rows of the full [3h, h] weight are (three, heads, head_dim): h = 16 with 4 heads of 4 on 2 ranks
        Tensor full = Tensor.empty(DType.F32, Device.CPU, 48, 2);
        float[] rows = new float[96];
        for (int i = 0; i < 96; i++) {
            rows[i] = i / 2;
        }
        full.copyFrom(Tensor.of(rows, 48, 2));
        Tensor part = Tensor.empty(DType.F32, Device.CPU, 24, 2);
        new TensorSplit(0, 3, 1, 2).cut(full, part);
        float[] got = part.toFloatArray();
        for (int q = 0; q < 3; q++) {
            for (int i = 0; i < 8; i++) {
                assertEquals(q * 16 + 8 + i, got[(q * 8 + i) * 2], "row " + (q * 8 + i) + " of rank 1's Wqkv");
            }
        }
        Tensor back = Tensor.zeros(DType.F32, Device.CPU, 48, 2);
        new TensorSplit(0, 3, 1, 2).place(part, back);
        assertEquals(8f, back.toFloatArray()[16]);
        assertEquals(0f, back.toFloatArray()[0]);
    }

    @Test
    void partsRunPiecewiseAreTheWholeModel() {
        ModelSpec spec = spec(0.0, true, true);
        Result whole = run(new InternLMModel(spec, Device.CPU), 0.0);
        InternLMModel first = new InternLMModel(spec, Device.CPU, new PipelinePartition(2, 2, 1), 0);
        InternLMModel last = new InternLMModel(spec, Device.CPU, new PipelinePartition(2, 2, 1), 1);
        first.initialize(SEED);
        last.initialize(SEED);
        assertTrue(first.namedParameters().containsKey("blocks.0.norm1.weight"));
        assertTrue(last.namedParameters().containsKey("blocks.1.norm1.weight"), "layer names are global");
        Tensor pos = Tensor.ofInts(POS, POS.length);
        Tensor cu = Tensor.ofInts(CU, CU.length);
        Variable sent = first.blocks(0, first.embed(Tensor.ofInts(IDS, IDS.length)), pos, cu);
        // the next stage receives the activation as a leaf and sends its gradient back
        Variable received = Variable.parameter(sent.data().copy());
        Variable loss = last.loss(last.logits(last.blocks(0, received, pos, cu)), Tensor.ofInts(LABELS, LABELS.length), -100,
                0.0, Reduction.MEAN);
        loss.backward();
        sent.backward(received.grad());
        assertEquals(whole.loss(), loss.data().item(), 1e-7);
        for (InternLMModel part : List.of(first, last)) {
            for (var e : part.namedParameters().entrySet()) {
                TensorAssert.assertClose(whole.grads().get(e.getKey()), e.getValue().grad(), 1e-7, 1e-5, e.getKey());
            }
        }
        IllegalStateException noHead = assertThrows(IllegalStateException.class, () -> first.logits(sent));
        assertTrue(noHead.getMessage().contains("no head"), noHead.getMessage());
        assertNotNull(last.namedParameters().get("head.weight"));
    }

    @Test
    void sizesThatDoNotDivideAreNamed() {
        ModelSpec spec = new ModelSpec(13, 16, 1, 4, 20, ModelSpec.NormType.RMSNORM, 1e-5, DType.F32, 1, 0, 10000);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> spec.checkTensorSplit(4));
        assertTrue(e.getMessage().contains("vocabulary size 13") && !e.getMessage().contains("heads"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> spec.checkTensorSplit(8));
        assertTrue(e.getMessage().contains("attention heads 4") && !e.getMessage().contains("hidden size 16")
                && e.getMessage().contains("MLP hidden size 20"), e.getMessage());
    }
}
