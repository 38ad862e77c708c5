package org.internlmj.dist.pipeline;

/**
 * One entry of a pipeline stage's schedule: the forward or backward pass of one model chunk for one
 * micro-batch. Printed as InternLM's notation {@code F1.2} (forward, chunk 1, micro-batch 2).
 *
 * <pre>{@code
 * PipelineStep s = PipelineStep.forward(0, 3);   // "F0.3"
 * }</pre>
 */
public record PipelineStep(Kind kind, int chunk, int microBatch) {

    /** Forward or backward. */
    public enum Kind { FORWARD, BACKWARD }

    public PipelineStep {
        if (chunk < 0 || microBatch < 0) {
            throw new IllegalArgumentException("chunk and micro-batch ids are >= 0, got chunk " + chunk
                    + ", micro-batch " + microBatch);
        }
    }

    public static PipelineStep forward(int chunk, int microBatch) {
        return new PipelineStep(Kind.FORWARD, chunk, microBatch);
    }

    public static PipelineStep backward(int chunk, int microBatch) {
        return new PipelineStep(Kind.BACKWARD, chunk, microBatch);
    }

    public boolean isForward() {
        return kind == Kind.FORWARD;
    }

    /** Parses {@code F<chunk>.<micro-batch>} or {@code B<chunk>.<micro-batch>}. */
    public static PipelineStep parse(String s) {
        String t = s.trim();
        int dot = t.indexOf('.');
        if (t.length() < 4 || dot < 2 || (t.charAt(0) != 'F' && t.charAt(0) != 'B')) {
            throw new IllegalArgumentException("not a pipeline step: \"" + s + "\" (expected e.g. F0.1 or B1.3)");
        }
        int chunk = Integer.parseInt(t.substring(1, dot));
        int mb = Integer.parseInt(t.substring(dot + 1));
        return t.charAt(0) == 'F' ? forward(chunk, mb) : backward(chunk, mb);
    }

    @Override
    public String toString() {
        return (kind == Kind.FORWARD ? "F" : "B") + chunk + "." + microBatch;
    }
}
