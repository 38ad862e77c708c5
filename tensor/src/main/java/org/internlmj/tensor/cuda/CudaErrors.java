package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.internlmj.ffm.cuda.Cuda;

/**
 * Argument errors found on the device. Values that live in device memory (token ids, labels, positions,
 * cu_seqlens) cannot be checked before a launch without a round trip that would stall the stream, so
 * kernels check them as they read them, skip what is invalid (never reading or writing out of bounds),
 * and record the first violation in a status word ({@code Status} in common.cuh). The host reads it at
 * {@link CudaBackend#synchronize()} and before every copy to the CPU and throws then, naming the
 * operation and the offending value: the same errors the CPU backend raises, reported asynchronously,
 * as CUDA reports its own faults. {@code -Dinternlmj.cuda.sync=true} synchronizes after every kernel.
 */
final class CudaErrors implements AutoCloseable {
    static final int INDEX_OUT_OF_RANGE = 1;
    static final int BAD_CU_SEQLENS = 2;
    static final int POSITION_RANGE = 3;

    /** {@code sizeof(Status)}: int code, int op, long long a, long long b. */
    static final int STATUS_BYTES = 24;

    private final CudaContext context;
    private final long status;

    CudaErrors(CudaContext context) {
        this.context = context;
        this.status = context.allocate(STATUS_BYTES, "the device error word");
        clear();
    }

    /** The device address kernels report to. */
    long address() {
        return status;
    }

    private void clear() {
        if (context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        Cuda.check(Cuda.cuMemsetD8Async(status, (byte) 0, STATUS_BYTES, context.computeStream().handle()),
                "cuMemsetD8Async");
    }

    /** Waits for the compute stream and throws the first recorded error, if any (then clears it). */
    void check() {
        if (context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(STATUS_BYTES, 8);
            Cuda.check(Cuda.cuMemcpyDtoHAsync_v2(host, status, STATUS_BYTES, context.computeStream().handle()),
                    "cuMemcpyDtoHAsync_v2", "reading the device error word");
            context.computeStream().synchronize();
            int code = host.get(ValueLayout.JAVA_INT, 0);
            if (code == 0) {
                return;
            }
            int op = host.get(ValueLayout.JAVA_INT, 4);
            long a = host.get(ValueLayout.JAVA_LONG, 8);
            long b = host.get(ValueLayout.JAVA_LONG, 16);
            clear();
            throw new IllegalArgumentException(message(code, op, a, b)
                    + " (found on the device by a kernel queued before this synchronization)");
        }
    }

    static String message(int code, int op, long a, long b) {
        return switch (code) {
            case INDEX_OUT_OF_RANGE -> switch (op) {
                case 0 -> "embedding: token id " + b + " at position " + a + " is outside the vocabulary";
                case 1 -> "embeddingBackward: token id " + b + " at position " + a + " is outside the vocabulary";
                case 2 -> "crossEntropy: label " + b + " of row " + a + " is outside the vocabulary";
                default -> "crossEntropyBackward: label " + b + " of row " + a + " is outside the vocabulary";
            };
            case BAD_CU_SEQLENS -> "attention: cuSeqlens must start at 0, never decrease and end at the token count; "
                    + "it starts at " + a + " and ends at " + b;
            case POSITION_RANGE -> "rotary: position " + b + " of token " + a + " does not fit in 32 bits";
            default -> "device error code " + code + " (op " + op + ", " + a + ", " + b + ")";
        };
    }

    @Override
    public void close() {
        context.free(status);
    }
}
