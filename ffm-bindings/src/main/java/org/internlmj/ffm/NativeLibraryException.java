package org.internlmj.ffm;

/** A native library could not be found or loaded; the message lists where it was looked for and why. */
public final class NativeLibraryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public NativeLibraryException(String message) {
        super(message);
    }
}
