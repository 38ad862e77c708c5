package org.internlmj.ffm.cuda;

/** A cuBLAS or cuBLASLt call failed; name and text from {@code cublasGetStatusName}/{@code cublasGetStatusString}. */
public final class CublasException extends NativeCallException {
    private static final long serialVersionUID = 1L;

    public CublasException(String function, int code, String codeName, String description, String context) {
        super(function, code, codeName, description, context);
    }
}
