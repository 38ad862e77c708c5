package org.internlmj.ffm.cuda;

/** A CUDA driver API call failed; the name and text come from {@code cuGetErrorName}/{@code cuGetErrorString}. */
public final class CudaException extends NativeCallException {
    private static final long serialVersionUID = 1L;

    public CudaException(String function, int code, String codeName, String description, String context) {
        super(function, code, codeName, description, context);
    }
}
