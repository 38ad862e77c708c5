package org.internlmj.trainer.train;

import java.util.List;
import org.internlmj.autograd.Reduction;
import org.internlmj.autograd.Variable;
import org.internlmj.dist.HybridZeroOptimizer;
import org.internlmj.dist.ParallelContext;
import org.internlmj.dist.pipeline.PipelineExecutor;
import org.internlmj.dist.pipeline.PipelineStage;
import org.internlmj.nn.InternLMModel;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;

/**
 * A training step and a validation pass of one pipeline rank: the rank's model part as a
 * {@link PipelineStage} over the step's micro-batches (every pipeline rank reads the same micro-batches;
 * the first virtual stage embeds their tokens, the last computes their loss), driven by the
 * {@link PipelineExecutor}; the loss, known on the last stage only, is broadcast to the whole pipeline.
 */
final class PipelineTraining {
    private final ParallelContext ctx;
    private final InternLMModel model;
    private final HybridZeroOptimizer optimizer;
    private final PipelineExecutor executor;
    private final Device device;

    PipelineTraining(ParallelContext ctx, InternLMModel model, HybridZeroOptimizer optimizer, boolean overlap,
                     Device device) {
        this.ctx = ctx;
        this.model = model;
        this.optimizer = optimizer;
        this.executor = new PipelineExecutor(ctx.pipeline(), model.numChunks(), overlap);
        this.device = device;
    }

    /** What a step did: the mean loss over the micro-batches (on every rank) and the executor's timings. */
    record Step(double loss, PipelineExecutor.Result timings) {
    }

    /**
     * Forward and backward of every micro-batch in schedule order, each contributing {@code loss / M} scaled
     * by {@code lossScale}, gradients synced during the last micro-batch's backward of each chunk.
     */
    Step train(List<Trainer.Inputs> inputs, double smoothing, double lossScale) {
        int m = inputs.size();
        Stage stage = new Stage(inputs, smoothing, Reduction.MEAN) {
            @Override
            public void beforeBackward(int chunk, int microBatch) {
                // InternLM syncs a chunk's gradients during its last micro-batch's backward
                optimizer.syncGradientsInNextBackward(microBatch == m - 1);
            }
        };
        PipelineExecutor.Result r = executor.train(stage, m, lossScale / m);
        double loss = 0;
        if (r.hasLosses()) {
            for (double l : r.losses()) {
                loss += l / m;
            }
        }
        return new Step(fromLastStage(loss), r);
    }

    /** The summed loss over one validation micro-batch's targets (no label smoothing), on every rank. */
    double validationSum(Trainer.Inputs in) {
        PipelineExecutor.Result r = executor.forwardOnly(new Stage(List.of(in), 0.0, Reduction.SUM), 1);
        return fromLastStage(r.hasLosses() ? r.losses()[0] : 0);
    }

    private double fromLastStage(double value) {
        Tensor t = Tensor.of(new double[] {value}, 1);
        ctx.pipeline().broadcast(t, ctx.pipeline().size() - 1).await();
        return t.toDoubleArray()[0];
    }

    /** This rank's model part over a list of micro-batches. */
    private class Stage implements PipelineStage {
        private final List<Trainer.Inputs> inputs;
        private final double smoothing;
        private final Reduction reduction;

        Stage(List<Trainer.Inputs> inputs, double smoothing, Reduction reduction) {
            this.inputs = inputs;
            this.smoothing = smoothing;
            this.reduction = reduction;
        }

        @Override
        public int[] activationShape(int chunk, int microBatch) {
            int tokens = inputs.get(microBatch).ids().numel();
            // sequence parallelism: each tensor rank passes on its share of the tokens
            var tp = model.tensorParallel();
            return new int[] {tp.splitsSequence() ? tokens / tp.size() : tokens, model.spec().hiddenSize()};
        }

        @Override
        public DType activationDType() {
            return model.spec().dtype();
        }

        @Override
        public Device device() {
            return device;
        }

        @Override
        public Variable forward(int chunk, int microBatch, Variable input) {
            Trainer.Inputs in = inputs.get(microBatch);
            Variable out = model.forwardChunk(chunk, in.ids(), input, in.positions(), in.cuSeqlens());
            return model.producesLogits(chunk) ? Trainer.loss(model, out, in, smoothing, reduction) : out;
        }
    }
}
