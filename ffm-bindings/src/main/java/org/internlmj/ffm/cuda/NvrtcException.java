package org.internlmj.ffm.cuda;

/** An NVRTC call failed; the text comes from {@code nvrtcGetErrorString}, a compile error carries the log. */
public final class NvrtcException extends NativeCallException {
    private static final long serialVersionUID = 1L;

    public NvrtcException(String function, int code, String codeName, String description, String context) {
        super(function, code, codeName, description, context);
    }
}
