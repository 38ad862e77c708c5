package org.internlmj.trainer.ckpt;

import java.nio.file.Path;

/** A checkpoint file that cannot be used; the message names the file and the problem. */
public final class CheckpointException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CheckpointException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public CheckpointException(String message) {
        super(message);
    }
}
