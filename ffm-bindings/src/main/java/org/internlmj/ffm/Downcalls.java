package org.internlmj.ffm;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * Small helpers every binding class shares: resolving a library's handles for its declared functions,
 * turning the checked {@code Throwable} of {@code invokeExact} into an unchecked one, and reading the
 * C strings libraries return.
 */
public final class Downcalls {
    private Downcalls() {
    }

    /** The downcall handle for {@code f} in {@code lib} (a missing symbol names the library and symbol). */
    public static MethodHandle handle(NativeLibrary lib, CFunction f) {
        return lib.downcall(f.name(), f.descriptor());
    }

    /** Checks that {@code lib} exports every function of {@code functions}; returns the missing names. */
    public static List<String> missing(NativeLibrary lib, List<CFunction> functions) {
        return functions.stream().map(CFunction::name).filter(n -> !lib.hasSymbol(n)).toList();
    }

    /**
     * Opens a library on first use and checks that it exports every function a binding declares, so a
     * library too old for the binding fails at once with the missing names instead of at some later call.
     */
    public static final class Loader {
        private final NativeLibrary.Spec spec;
        private final List<CFunction> functions;
        private final String requirement;
        private NativeLibrary library;

        /** {@code requirement} completes the message for missing symbols, e.g. "CUDA 12 or newer is needed". */
        public Loader(NativeLibrary.Spec spec, List<CFunction> functions, String requirement) {
            this.spec = spec;
            this.functions = functions;
            this.requirement = requirement;
        }

        /** The opened library, or a {@link NativeLibraryException} saying why not (asked again each call). */
        public synchronized NativeLibrary get() {
            if (library == null) {
                NativeLibrary lib = NativeLibrary.load(spec);
                List<String> missing = missing(lib, functions);
                if (!missing.isEmpty()) {
                    throw new NativeLibraryException(spec.displayName() + " " + lib.path() + " lacks " + missing + ": "
                            + requirement);
                }
                library = lib;
            }
            return library;
        }
    }

    /** Rethrows errors and runtime exceptions as they are; anything else (impossible for downcalls) wrapped. */
    public static RuntimeException unchecked(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("native call failed: " + t, t);
    }

    /** The NUL-terminated string at {@code p}, or {@code fallback} for NULL. */
    public static String string(MemorySegment p, String fallback) {
        if (p == null || p.equals(MemorySegment.NULL)) {
            return fallback;
        }
        return p.reinterpret(1 << 16).getString(0);
    }
}
