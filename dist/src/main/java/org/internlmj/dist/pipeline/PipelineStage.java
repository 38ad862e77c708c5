package org.internlmj.dist.pipeline;

import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;

/**
 * What one pipeline rank computes, as {@link PipelineExecutor} drives it: the forward pass of each of its
 * model chunks for a micro-batch. The executor receives the chunk's input from the previous virtual stage,
 * runs the backward pass itself and sends the gradients on.
 *
 * <pre>{@code
 * Variable forward(int chunk, int microBatch, Variable input) {
 *     Variable x = input == null ? embed(ids[microBatch]) : input;   // virtual stage 0 embeds
 *     ...
 * }
 * }</pre>
 */
public interface PipelineStage {

    /**
     * The shape of the activation that enters chunk {@code chunk} for micro-batch {@code microBatch} from the
     * previous virtual stage (every pipeline rank knows the micro-batch's size, so shapes are not sent).
     */
    int[] activationShape(int chunk, int microBatch);

    /** The dtype of the activations between stages (the model's). */
    DType activationDType();

    /** The device activations live on. */
    Device device();

    /**
     * Runs chunk {@code chunk}'s forward pass for micro-batch {@code microBatch}. {@code input} is null on
     * the first virtual stage (which reads its micro-batch itself) and otherwise the received activation, a
     * leaf whose gradient the executor sends back. Returns the output activation, or on the last virtual
     * stage the micro-batch's loss (one element) whose backward the executor seeds.
     */
    Variable forward(int chunk, int microBatch, Variable input);

    /**
     * Called just before the backward pass of chunk {@code chunk} for micro-batch {@code microBatch} (an
     * optimizer syncs gradients in the last micro-batch's backward of each chunk).
     */
    default void beforeBackward(int chunk, int microBatch) {
    }
}
