package org.internlmj.trainer.data;

import java.nio.file.Path;

/** A dataset file that cannot be read as expected; names the file and the byte offset of the problem. */
public final class DataFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DataFormatException(Path file, long offset, String problem) {
        super(file + " at byte " + offset + ": " + problem);
    }
}
