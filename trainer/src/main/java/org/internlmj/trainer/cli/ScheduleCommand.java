package org.internlmj.trainer.cli;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.internlmj.dist.pipeline.PipelineSchedule;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code internlmj schedule}: the pipeline schedule each stage runs in one optimizer step, as InternLM and
 * Megatron-LM define it, with its bubble fraction and optionally the idealised timeline.
 *
 * <pre>{@code internlmj schedule --pp 4 --chunks 2 --micro 8 --timeline}</pre>
 */
@Command(name = "schedule", mixinStandardHelpOptions = true,
        description = {"Print each pipeline stage's sequence of forward (F) and backward (B) steps for one optimizer "
                + "step: Fc.m is chunk c on micro-batch m; warm-up | steady 1F1B | cool-down.",
                "1F1B with one chunk, interleaved 1F1B with more (InternLM/Megatron warm-up counts)."})
final class ScheduleCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--pp", required = true, paramLabel = "P", description = "Pipeline stages (parallel.pipeline.size).")
    int stages;

    @Option(names = "--chunks", defaultValue = "1", paramLabel = "V",
            description = "Model chunks per stage (model.num_chunks; default: ${DEFAULT-VALUE}).")
    int chunks;

    @Option(names = "--micro", required = true, paramLabel = "M", description = "Micro-batches per step (data.micro_num).")
    int microBatches;

    @Option(names = "--timeline", description = "Also draw the idealised timeline (free communication).")
    boolean timeline;

    @Option(names = "--backward-cost", defaultValue = "1", paramLabel = "UNITS",
            description = "Duration of a backward step in the timeline, forward = 1 (default: ${DEFAULT-VALUE}).")
    int backwardCost;

    @Override
    public Integer call() {
        if (backwardCost < 1) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--backward-cost must be >= 1");
        }
        PipelineSchedule s;
        try {
            s = PipelineSchedule.of(stages, chunks, microBatches);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "%s: %d stages x %d chunk%s, %d micro-batches (%d forward and %d backward steps per stage)%n",
                s.interleaved() ? "interleaved 1F1B" : "1F1B", stages, chunks, chunks == 1 ? "" : "s", microBatches,
                microBatches * chunks, microBatches * chunks);
        int width = Integer.toString(stages - 1).length();
        for (int r = 0; r < stages; r++) {
            out.printf(Locale.ROOT, "stage %" + width + "d (warm-up %2d): %s%n", r, s.warmupSteps(r), s.format(r));
        }
        PipelineSchedule.Timeline t = s.simulate(1, backwardCost);
        out.printf(Locale.ROOT, "bubble: (p-1)/(v*m) = %d/%d = %.4f; idealised timeline (backward = %d x forward): %.4f%n",
                stages - 1, chunks * microBatches, s.theoreticalBubble(), backwardCost, t.bubble());
        if (timeline) {
            out.print(t.render());
        }
        return 0;
    }
}
