package org.internlmj.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.internlmj.ffm.Mpi;

/** An MPI call returned an error code: says which call, the code, MPI's text for it and what was being done. */
public final class MpiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int code;

    MpiException(String function, int code, String context) {
        super(function + " failed with error " + code + " (" + describe(code) + ")"
                + (context == null || context.isEmpty() ? "" : " during " + context));
        this.code = code;
    }

    /** MPI's error code. */
    public int code() {
        return code;
    }

    /** Throws unless {@code rc} is {@code MPI_SUCCESS}. */
    static void check(int rc, String function, String context) {
        if (rc != Mpi.MPI_SUCCESS) {
            throw new MpiException(function, rc, context);
        }
    }

    private static String describe(int code) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(Mpi.MPI_MAX_ERROR_STRING);
            MemorySegment length = arena.allocate(Mpi.C_INT);
            if (Mpi.MPI_Error_string(code, text, length) != Mpi.MPI_SUCCESS) {
                return "no description";
            }
            return text.getString(0);
        } catch (RuntimeException | LinkageError e) {
            return "no description: " + e.getMessage();
        }
    }
}
