package org.internlmj.ffm.cuda;

/**
 * A native library call returned an error code: says which library and function, the numeric code,
 * its symbolic name and the library's own explanation, e.g.
 * {@code "cuMemAllocAsync failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory"}.
 */
public abstract class NativeCallException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String function;
    private final int code;
    private final String codeName;

    protected NativeCallException(String function, int code, String codeName, String description, String context) {
        super(function + " failed: " + codeName + " (" + code + ")"
                + (description == null || description.isBlank() ? "" : ": " + description)
                + (context == null || context.isBlank() ? "" : "; " + context));
        this.function = function;
        this.code = code;
        this.codeName = codeName;
    }

    /** The C function that failed. */
    public String function() {
        return function;
    }

    /** The numeric status it returned. */
    public int code() {
        return code;
    }

    /** The status's symbolic name, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY}. */
    public String codeName() {
        return codeName;
    }
}
