package org.internlmj.nn;

/**
 * Which part of the InternLM network a model object holds: decoder layers {@code firstLayer ..
 * firstLayer+numLayers-1} and, on the first pipeline stage, the embedding, on the last the final norm and
 * the head (a pipeline stage or one of its interleaved chunks). Layer indices are global: layer i is named
 * {@code blocks.i} and initialised as layer i of the whole model, whichever part holds it.
 *
 * <pre>{@code
 * ModelPart first = new ModelPart(0, 16, true, false);    // embedding + layers 0..15
 * ModelPart last = new ModelPart(16, 16, false, true);    // layers 16..31 + norm + head
 * }</pre>
 */
public record ModelPart(int firstLayer, int numLayers, boolean embedding, boolean head) {

    public ModelPart {
        if (firstLayer < 0 || numLayers < 0) {
            throw new IllegalArgumentException("a model part needs a non-negative first layer and layer count, got "
                    + firstLayer + " and " + numLayers);
        }
    }

    /** The whole network. */
    public static ModelPart whole(ModelSpec spec) {
        return new ModelPart(0, spec.numLayers(), true, true);
    }

    /** One past the last layer. */
    public int endLayer() {
        return firstLayer + numLayers;
    }
}
