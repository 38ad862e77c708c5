package org.internlmj.dist.pipeline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The order in which each pipeline stage runs its forward and backward passes within one optimizer step,
 * as data: InternLM's and Megatron-LM's 1F1B schedule ({@code num_chunks == 1}) and interleaved 1F1B
 * schedule ({@code num_chunks > 1}).
 *
 * <p>Definitions: {@code p} stages (pipeline ranks), {@code v} model chunks per stage, {@code M}
 * micro-batches, {@code T = M v} forward (and backward) microsteps per stage. Chunk {@code c} of stage
 * {@code r} is virtual stage {@code c p + r}; the first virtual stage embeds, the last computes the loss.
 * <ul>
 *   <li>1F1B: stage {@code r} runs {@code W = min(p - r - 1, M)} warm-up forwards, then alternates one
 *       forward and one backward, then runs the remaining {@code W} backwards.</li>
 *   <li>Interleaved: {@code W = min(2 (p - r - 1) + (v - 1) p, T)}, or {@code T} (all forwards first) when
 *       {@code M == p}; forward microstep {@code k} runs chunk {@code (k mod pv) div p} on micro-batch
 *       {@code (k div pv) p + k mod p}, backward microstep {@code k} the chunk {@code v - 1} minus that on the
 *       same micro-batch; forwards {@code 0..W-1}, then forward {@code W + j} and backward {@code j} for
 *       {@code j < T - W}, then the remaining backwards. Requires {@code M} to be a multiple of {@code p}.</li>
 * </ul>
 * (InternLM {@code pipeline_scheduler.py}, Megatron-LM {@code schedules.py}.)
 *
 * <pre>{@code
 * PipelineSchedule s = PipelineSchedule.of(2, 2, 4);
 * s.format(0);   // "F0.0 F0.1 F1.0 F1.1 | F0.2 B1.0 F0.3 B1.1 F1.2 B0.0 F1.3 B0.1 | B1.2 B1.3 B0.2 B0.3"
 * }</pre>
 */
public final class PipelineSchedule {
    private final int stages;
    private final int chunks;
    private final int microBatches;

    private PipelineSchedule(int stages, int chunks, int microBatches) {
        this.stages = stages;
        this.chunks = chunks;
        this.microBatches = microBatches;
    }

    /**
     * The schedule for {@code stages} pipeline ranks with {@code chunks} model chunks each over
     * {@code microBatches} micro-batches; errors name the numbers that do not fit.
     */
    public static PipelineSchedule of(int stages, int chunks, int microBatches) {
        if (stages < 1 || chunks < 1 || microBatches < 1) {
            throw new IllegalArgumentException("pipeline size, chunks and micro-batches must be >= 1, got " + stages
                    + ", " + chunks + ", " + microBatches);
        }
        if (chunks > 1 && stages == 1) {
            throw new IllegalArgumentException(chunks + " model chunks need pipeline parallelism: with one pipeline stage "
                    + "there is nothing to interleave (use pipeline size > 1 or one chunk)");
        }
        if (chunks > 1 && microBatches % stages != 0) {
            throw new IllegalArgumentException("the interleaved schedule needs a number of micro-batches that is a "
                    + "multiple of the pipeline size: micro_num = " + microBatches + ", pipeline size = " + stages
                    + " (use " + Math.max(stages, microBatches / stages * stages) + " or "
                    + (microBatches / stages + 1) * stages + ")");
        }
        return new PipelineSchedule(stages, chunks, microBatches);
    }

    public int stages() {
        return stages;
    }

    public int chunks() {
        return chunks;
    }

    public int microBatches() {
        return microBatches;
    }

    public boolean interleaved() {
        return chunks > 1;
    }

    /** Forward passes stage {@code rank} runs before its first backward. */
    public int warmupSteps(int rank) {
        checkRank(rank);
        if (!interleaved()) {
            return Math.min(stages - rank - 1, microBatches);
        }
        int total = microBatches * chunks;
        if (microBatches == stages) {
            return total;
        }
        return Math.min((stages - rank - 1) * 2 + (chunks - 1) * stages, total);
    }

    /** Virtual stage of chunk {@code chunk} on stage {@code rank}: {@code chunk * stages + rank}. */
    public int virtualStage(int rank, int chunk) {
        return chunk * stages + rank;
    }

    /** True when chunk {@code chunk} of stage {@code rank} is the model's first virtual stage (it embeds). */
    public boolean isFirstVirtualStage(int rank, int chunk) {
        return virtualStage(rank, chunk) == 0;
    }

    /** True when chunk {@code chunk} of stage {@code rank} is the model's last virtual stage (it computes the loss). */
    public boolean isLastVirtualStage(int rank, int chunk) {
        return virtualStage(rank, chunk) == stages * chunks - 1;
    }

    /** Stage {@code rank}'s steps in the order it runs them. */
    public List<PipelineStep> steps(int rank) {
        checkRank(rank);
        int total = microBatches * chunks;
        int warmup = warmupSteps(rank);
        List<PipelineStep> out = new ArrayList<>(2 * total);
        for (int k = 0; k < warmup; k++) {
            out.add(forwardStep(k));
        }
        for (int j = 0; j < total - warmup; j++) {
            out.add(forwardStep(warmup + j));
            out.add(backwardStep(j));
        }
        for (int j = total - warmup; j < total; j++) {
            out.add(backwardStep(j));
        }
        return out;
    }

    private PipelineStep forwardStep(int k) {
        return PipelineStep.forward(forwardChunk(k), microBatchOf(k));
    }

    private PipelineStep backwardStep(int k) {
        return PipelineStep.backward(chunks - 1 - forwardChunk(k), microBatchOf(k));
    }

    private int forwardChunk(int k) {
        return (k % (stages * chunks)) / stages;
    }

    private int microBatchOf(int k) {
        if (!interleaved()) {
            return k;
        }
        return (k / (stages * chunks)) * stages + (k % (stages * chunks)) % stages;
    }

    /**
     * Stage {@code rank}'s steps as text, warm-up, steady 1F1B and cool-down separated by {@code |}
     * (an empty phase leaves no separator).
     */
    public String format(int rank) {
        List<PipelineStep> s = steps(rank);
        int warmup = warmupSteps(rank);
        int steady = 2 * (microBatches * chunks - warmup);
        List<String> phases = new ArrayList<>();
        phases.add(join(s.subList(0, warmup)));
        phases.add(join(s.subList(warmup, warmup + steady)));
        phases.add(join(s.subList(warmup + steady, s.size())));
        return String.join(" | ", phases.stream().filter(p -> !p.isEmpty()).toList());
    }

    private static String join(List<PipelineStep> steps) {
        return String.join(" ", steps.stream().map(PipelineStep::toString).toList());
    }

    /**
     * The bubble fraction the Megatron-LM paper derives for this schedule: idle time over ideal compute
     * time, {@code (p - 1) / (v M)}.
     */
    public double theoreticalBubble() {
        return (stages - 1) / (double) (chunks * microBatches);
    }

    /**
     * Runs the schedule on an idealised machine: every forward takes {@code forwardCost}, every backward
     * {@code backwardCost}, communication is free, and a step starts as soon as its stage is free and its
     * input exists (the previous virtual stage's forward, the next virtual stage's backward). Fails, naming
     * the steps that wait, if the stages' orders wait on each other in a cycle (a schedule that would hang).
     */
    public Timeline simulate(double forwardCost, double backwardCost) {
        double[] f = new double[stages];
        double[] b = new double[stages];
        Arrays.fill(f, forwardCost);
        Arrays.fill(b, backwardCost);
        return simulate(f, b);
    }

    /**
     * As {@link #simulate(double, double)} with each stage's own forward and backward durations (stages of
     * unequal work: the first embeds, the last computes the loss).
     */
    public Timeline simulate(double[] forwardCost, double[] backwardCost) {
        if (forwardCost.length != stages || backwardCost.length != stages) {
            throw new IllegalArgumentException("one forward and one backward duration per stage expected (" + stages
                    + "), got " + forwardCost.length + " and " + backwardCost.length);
        }
        int vsCount = stages * chunks;
        List<List<PipelineStep>> orders = new ArrayList<>();
        for (int r = 0; r < stages; r++) {
            orders.add(steps(r));
        }
        // finish time per (kind, virtual stage, micro-batch)
        Map<Long, Double> finished = new HashMap<>();
        double[][] start = new double[stages][];
        double[] free = new double[stages];
        int[] next = new int[stages];
        for (int r = 0; r < stages; r++) {
            start[r] = new double[orders.get(r).size()];
        }
        int remaining = orders.stream().mapToInt(List::size).sum();
        while (remaining > 0) {
            boolean progress = false;
            for (int r = 0; r < stages; r++) {
                while (next[r] < orders.get(r).size()) {
                    PipelineStep s = orders.get(r).get(next[r]);
                    int vs = virtualStage(r, s.chunk());
                    double ready;
                    if (s.isForward()) {
                        ready = vs == 0 ? 0 : finished.getOrDefault(key(true, vs - 1, s.microBatch()), -1.0);
                    } else {
                        double own = finished.getOrDefault(key(true, vs, s.microBatch()), -1.0);
                        double downstream = vs == vsCount - 1 ? 0
                                : finished.getOrDefault(key(false, vs + 1, s.microBatch()), -1.0);
                        ready = own < 0 || downstream < 0 ? -1 : Math.max(own, downstream);
                    }
                    if (ready < 0) {
                        break;
                    }
                    double t0 = Math.max(free[r], ready);
                    start[r][next[r]] = t0;
                    free[r] = t0 + (s.isForward() ? forwardCost[r] : backwardCost[r]);
                    finished.put(key(s.isForward(), vs, s.microBatch()), free[r]);
                    next[r]++;
                    remaining--;
                    progress = true;
                }
            }
            if (!progress) {
                StringBuilder waiting = new StringBuilder();
                for (int r = 0; r < stages; r++) {
                    if (next[r] < orders.get(r).size()) {
                        waiting.append(waiting.isEmpty() ? "" : ", ").append("stage ").append(r).append(" at ")
                                .append(orders.get(r).get(next[r]));
                    }
                }
                throw new IllegalStateException("the schedule (pipeline " + stages + ", chunks " + chunks
                        + ", micro-batches " + microBatches + ") waits in a cycle: " + waiting);
            }
        }
        return new Timeline(orders, start, forwardCost.clone(), backwardCost.clone());
    }

    private static long key(boolean forward, int virtualStage, int microBatch) {
        return ((long) virtualStage << 32) | ((long) microBatch << 1) | (forward ? 1 : 0);
    }

    private void checkRank(int rank) {
        if (rank < 0 || rank >= stages) {
            throw new IllegalArgumentException("pipeline rank " + rank + " is not in a pipeline of " + stages + " stages");
        }
    }

    /**
     * When each step of each stage starts on the idealised machine of {@link #simulate}.
     *
     * @param steps each stage's steps in order
     * @param start each step's start time, aligned with {@code steps}
     * @param forwardCost each stage's forward duration
     * @param backwardCost each stage's backward duration
     */
    public record Timeline(List<List<PipelineStep>> steps, double[][] start, double[] forwardCost, double[] backwardCost) {

        /** When the last step of any stage ends. */
        public double makespan() {
            double end = 0;
            for (int r = 0; r < steps.size(); r++) {
                int last = steps.get(r).size() - 1;
                end = Math.max(end, start[r][last] + cost(r, steps.get(r).get(last)));
            }
            return end;
        }

        private double cost(int rank, PipelineStep s) {
            return s.isForward() ? forwardCost[rank] : backwardCost[rank];
        }

        /** Time stage {@code rank} computes. */
        public double busy(int rank) {
            return steps.get(rank).stream().mapToDouble(s -> cost(rank, s)).sum();
        }

        /** Idle time over compute time, averaged over stages (comparable with {@link #theoreticalBubble}). */
        public double bubble() {
            double sum = 0;
            for (int r = 0; r < steps.size(); r++) {
                sum += (makespan() - busy(r)) / busy(r);
            }
            return sum / steps.size();
        }

        /**
         * One row per stage, one column per time unit, {@code --} where the stage idles (integral costs; a
         * step of cost 2 fills two columns).
         */
        public String render() {
            int width = (int) Math.round(makespan());
            StringBuilder sb = new StringBuilder();
            int cell = 2 + String.valueOf(steps.stream().flatMap(List::stream)
                    .mapToInt(s -> Math.max(s.chunk(), s.microBatch())).max().orElse(0)).length() * 2;
            sb.append(String.format(Locale.ROOT, "%-8s", "t"));
            for (int t = 0; t < width; t++) {
                sb.append(pad(Integer.toString(t), cell)).append(' ');
            }
            stripTrailing(sb);
            sb.append('\n');
            for (int r = 0; r < steps.size(); r++) {
                String[] cells = new String[width];
                Arrays.fill(cells, "--");
                for (int i = 0; i < steps.get(r).size(); i++) {
                    PipelineStep s = steps.get(r).get(i);
                    int from = (int) Math.round(start[r][i]);
                    int to = (int) Math.round(start[r][i] + cost(r, s));
                    for (int t = from; t < to; t++) {
                        cells[t] = s.toString();
                    }
                }
                sb.append(String.format(Locale.ROOT, "%-8s", "stage " + r));
                for (String c : cells) {
                    sb.append(pad(c, cell)).append(' ');
                }
                stripTrailing(sb);
                sb.append('\n');
            }
            return sb.toString();
        }

        private static void stripTrailing(StringBuilder sb) {
            while (!sb.isEmpty() && sb.charAt(sb.length() - 1) == ' ') {
                sb.setLength(sb.length() - 1);
            }
        }

        private static String pad(String s, int width) {
            return s.length() >= width ? s : s + " ".repeat(width - s.length());
        }
    }
}
