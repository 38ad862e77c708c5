package org.internlmj.ffm.cuda;

/** An NCCL call failed; text from {@code ncclGetErrorString} and, when a communicator is known, {@code ncclGetLastError}. */
public final class NcclException extends NativeCallException {
    private static final long serialVersionUID = 1L;

    public NcclException(String function, int code, String codeName, String description, String context) {
        super(function, code, codeName, description, context);
    }
}
