package org.internlmj.autograd;

/** Thrown when a backward pass reaches an operation whose backward already ran. */
final class GraphFreed extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    private GraphFreed(String message) {
        super(message);
    }

    static GraphFreed at(Node node) {
        return new GraphFreed("graph already freed: the backward of '" + node.name + "' already ran and released "
                + "the tensors its forward saved; run the forward again before another backward "
                + "(or wrap the block in Checkpoint.apply to recompute it)");
    }
}
