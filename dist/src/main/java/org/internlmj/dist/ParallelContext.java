package org.internlmj.dist;

/**
 * This rank's process groups for a {@link ParallelLayout}, made from the world group with collective
 * {@link ProcessGroup#split} calls (every rank builds the same context at the same time).
 *
 * <pre>{@code
 * ParallelContext ctx = ParallelContext.create(world, new ParallelLayout(world.size(), tp, pp, zero1));
 * ctx.data().allReduce(grads, ProcessGroup.ReduceOp.AVG);
 * }</pre>
 */
public record ParallelContext(ParallelLayout layout, ProcessGroup world, ProcessGroup data, ProcessGroup zero,
                              ProcessGroup model, ProcessGroup tensor, ProcessGroup pipeline) implements AutoCloseable {

    /** One process, no parallelism. */
    public static ParallelContext solo() {
        SoloProcessGroup g = new SoloProcessGroup("world");
        return new ParallelContext(new ParallelLayout(1, 1, 1, 1), g, g, g, g, g, g);
    }

    public static ParallelContext create(ProcessGroup world, ParallelLayout layout) {
        if (world.size() != layout.world()) {
            throw new IllegalArgumentException("the world group has " + world.size() + " ranks, the layout expects "
                    + layout.world());
        }
        ProcessGroup data = world.split(layout.dataGroups(), "data");
        ProcessGroup zero = world.split(layout.zeroGroups(), "zero");
        ProcessGroup model = world.split(layout.modelGroups(), "model");
        ProcessGroup tensor = world.split(layout.tensorGroups(), "tensor");
        ProcessGroup pipeline = world.split(layout.pipelineGroups(), "pipeline");
        return new ParallelContext(layout, world, data, zero, model, tensor, pipeline);
    }

    public int rank() {
        return world.rank();
    }

    public int dataRank() {
        return layout.dataRank(world.rank());
    }

    public int tensorRank() {
        return layout.tensorRank(world.rank());
    }

    public int pipelineRank() {
        return layout.pipelineRank(world.rank());
    }

    /** True on the rank that logs and writes run-wide files (global rank 0). */
    public boolean isMain() {
        return world.rank() == 0;
    }

    /** The optimizer's view of these groups. */
    public HybridZeroOptimizer.Groups optimizerGroups() {
        return new HybridZeroOptimizer.Groups(data, zero, model, tensorRank());
    }

    @Override
    public void close() {
        for (ProcessGroup g : new ProcessGroup[] {pipeline, tensor, model, zero, data}) {
            if (g != world) {
                g.close();
            }
        }
    }
}
