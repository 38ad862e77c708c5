package org.internlmj.dist.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.dist.ProcessGroup;
import org.internlmj.dist.ThreadWorld;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Generator;
import org.internlmj.tensor.MemoryScope;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A chain of tanh layers split over pipeline ranks (threads) gives the same losses and the same gradients,
 * bit for bit, as the whole chain on one rank: every pass sees the same inputs and each gradient
 * accumulates over the micro-batches in the same order, whatever the schedule.
 */
class PipelineExecutorTest {
    static final int HIDDEN = 6;
    static final int TOKENS = 5;
    static final int LAYERS = 12;

    /** Weights and per-micro-batch inputs/targets, the same on every rank. */
    static final class Chain {
        final Variable[] weights = new Variable[LAYERS];
        final Tensor[] inputs;
        final Tensor[] targets;

        Chain(int microBatches, DType dtype) {
            Generator g = new Generator(11);
            for (int l = 0; l < LAYERS; l++) {
                weights[l] = Variable.parameter(Tensor.normal(g, 0, 0.6, dtype, Device.CPU, HIDDEN, HIDDEN), "w" + l);
            }
            inputs = new Tensor[microBatches];
            targets = new Tensor[microBatches];
            for (int m = 0; m < microBatches; m++) {
                inputs[m] = Tensor.normal(g, 0, 1, dtype, Device.CPU, TOKENS, HIDDEN);
                targets[m] = Tensor.normal(g, 0, 1, dtype, Device.CPU, TOKENS, HIDDEN);
            }
        }

        Variable layers(Variable x, int from, int to) {
            for (int l = from; l < to; l++) {
                x = F.tanh(F.matmul(x, weights[l]));
            }
            return x;
        }

        Variable loss(Variable y, int m) {
            return F.mean(F.square(F.sub(y, Variable.of(targets[m]))));
        }
    }

    /** The chain's chunks on one pipeline rank; records the order of backward calls. */
    static final class ChainStage implements PipelineStage {
        final Chain chain;
        final PipelinePartition partition;
        final int rank;
        final List<String> backwards = new ArrayList<>();

        ChainStage(Chain chain, PipelinePartition partition, int rank) {
            this.chain = chain;
            this.partition = partition;
            this.rank = rank;
        }

        @Override
        public int[] activationShape(int chunk, int microBatch) {
            return new int[] {TOKENS, HIDDEN};
        }

        @Override
        public DType activationDType() {
            return chain.weights[0].dtype();
        }

        @Override
        public Device device() {
            return Device.CPU;
        }

        @Override
        public Variable forward(int chunk, int microBatch, Variable input) {
            int[] l = partition.layers(rank, chunk);
            Variable x = partition.holdsEmbedding(rank, chunk) ? Variable.of(chain.inputs[microBatch]) : input;
            Variable y = chain.layers(x, l[0], l[1]);
            return partition.holdsHead(rank, chunk) ? chain.loss(y, microBatch) : y;
        }

        @Override
        public void beforeBackward(int chunk, int microBatch) {
            backwards.add("B" + chunk + "." + microBatch);
        }
    }

    /** Gradient of every layer and each micro-batch's loss, computed on one rank. */
    record Reference(float[][] grads, double[] losses) {
    }

    static Reference reference(int microBatches, double seed, DType dtype) {
        Chain c = new Chain(microBatches, dtype);
        double[] losses = new double[microBatches];
        try (MemoryScope scope = MemoryScope.open()) {
            for (int m = 0; m < microBatches; m++) {
                Variable loss = c.loss(c.layers(Variable.of(c.inputs[m]), 0, LAYERS), m);
                losses[m] = loss.data().item();
                loss.backward(Tensor.full(seed, loss.dtype(), Device.CPU, loss.shape()));
            }
        }
        float[][] g = new float[LAYERS][];
        for (int l = 0; l < LAYERS; l++) {
            g[l] = c.weights[l].grad().toFloatArray();
        }
        return new Reference(g, losses);
    }

    @ParameterizedTest(name = "pp {0}, chunks {1}, micro-batches {2}, overlap {3}, {4}")
    @CsvSource({
        "2, 1, 4, true, F32",
        "2, 1, 4, false, F32",
        "3, 1, 2, true, F32",
        "3, 1, 2, false, F32",
        "4, 1, 8, true, F32",
        "4, 1, 8, false, F32",
        "2, 2, 2, true, F32",
        "2, 2, 4, true, F32",
        "2, 2, 4, false, F32",
        "2, 3, 6, true, F32",
        "2, 3, 6, false, F32",
        "3, 2, 6, true, F32",
        "3, 2, 6, false, F32",
        "4, 2, 8, true, F32",
        "4, 2, 8, false, F32",
        "4, 3, 4, false, F32",
        "2, 2, 4, true, BF16",
    })
    void matchesTheWholeChainOnOneRank(int pp, int chunks, int microBatches, boolean overlap, DType dtype) throws Exception {
        double seed = 1.0 / microBatches;
        Reference ref = reference(microBatches, seed, dtype);
        PipelinePartition partition = new PipelinePartition(LAYERS, pp, chunks);
        record RankResult(float[][] grads, double[] losses, List<String> backwards, PipelineExecutor.Result result) {
        }
        List<RankResult> results;
        try (ThreadWorld world = new ThreadWorld(pp, Duration.ofSeconds(30))) {
            results = world.run(group -> {
                Chain chain = new Chain(microBatches, dtype);
                ChainStage stage = new ChainStage(chain, partition, group.rank());
                PipelineExecutor.Result r;
                try (MemoryScope scope = MemoryScope.open()) {
                    r = new PipelineExecutor(group, chunks, overlap).train(stage, microBatches, seed);
                }
                float[][] g = new float[LAYERS][];
                for (int c = 0; c < chunks; c++) {
                    int[] l = partition.layers(group.rank(), c);
                    for (int i = l[0]; i < l[1]; i++) {
                        g[i] = chain.weights[i].grad().toFloatArray();
                    }
                }
                return new RankResult(g, r.losses(), stage.backwards, r);
            });
        }
        PipelineSchedule schedule = PipelineSchedule.of(pp, chunks, microBatches);
        for (int r = 0; r < pp; r++) {
            RankResult rr = results.get(r);
            for (int c = 0; c < chunks; c++) {
                int[] l = partition.layers(r, c);
                for (int i = l[0]; i < l[1]; i++) {
                    assertArrayEquals(ref.grads()[i], rr.grads()[i], "gradient of layer " + i + " on rank " + r);
                }
            }
            // backward passes ran in the schedule's order
            assertEquals(schedule.steps(r).stream().filter(s -> !s.isForward()).map(PipelineStep::toString).toList(),
                    rr.backwards());
            assertEquals(r == pp - 1, rr.result().hasLosses());
            assertTrue(rr.result().wallNanos() >= rr.result().computeNanos());
        }
        assertArrayEquals(ref.losses(), results.get(pp - 1).losses());
    }

    @ParameterizedTest(name = "pp {0}, chunks {1}")
    @CsvSource({"2, 1", "3, 2", "4, 3"})
    void forwardOnlyGivesTheLosses(int pp, int chunks) throws Exception {
        int microBatches = 5;
        Reference ref = reference(microBatches, 1, DType.F32);
        PipelinePartition partition = new PipelinePartition(LAYERS, pp, chunks);
        List<double[]> losses;
        try (ThreadWorld world = new ThreadWorld(pp, Duration.ofSeconds(30))) {
            losses = world.run(group -> {
                Chain chain = new Chain(microBatches, DType.F32);
                try (MemoryScope scope = MemoryScope.open()) {
                    return new PipelineExecutor(group, chunks, true)
                            .forwardOnly(new ChainStage(chain, partition, group.rank()), microBatches).losses();
                }
            });
        }
        assertArrayEquals(ref.losses(), losses.get(pp - 1));
        assertFalse(Double.isFinite(losses.get(0)[0]));
    }

    @org.junit.jupiter.api.Test
    void refusesAGroupThatMatchesMessagesByOrderOnly() {
        // NCCL's send/recv ignore tags; receives posted ahead would take the wrong messages
        ProcessGroup byOrder = (ProcessGroup) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {ProcessGroup.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "matchesByTag" -> false;
                    case "name" -> "nccl-like[0,1]";
                    case "rank" -> 0;
                    case "size" -> 2;
                    default -> throw new AssertionError(method.getName() + " should not be called");
                });
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> new PipelineExecutor(byOrder, 1, true));
        assertTrue(e.getMessage().contains("nccl-like[0,1]") && e.getMessage().contains("tag"), e.getMessage());
    }
}
