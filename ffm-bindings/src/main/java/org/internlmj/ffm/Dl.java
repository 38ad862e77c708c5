package org.internlmj.ffm;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The dynamic loader through FFM: {@code dlopen}, {@code dlerror}, {@code dlsym} from libc. Used
 * instead of {@code SymbolLookup.libraryLookup} so that a failure shows the loader's real message
 * (missing dependency, wrong ELF class, ...) and so libraries can be opened {@code RTLD_GLOBAL}
 * (Open MPI's plugins need their parent's symbols).
 */
public final class Dl {
    public static final int RTLD_LAZY = 0x1;
    public static final int RTLD_NOW = 0x2;
    public static final int RTLD_GLOBAL = 0x100;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle DLOPEN = libc("dlopen",
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle DLERROR = libc("dlerror", FunctionDescriptor.of(ValueLayout.ADDRESS));
    private static final MethodHandle DLSYM = libc("dlsym",
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS));

    private Dl() {
    }

    private static MethodHandle libc(String name, FunctionDescriptor fd) {
        MemorySegment addr = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new IllegalStateException("libc has no " + name + " (glibc >= 2.34 expected)"));
        return LINKER.downcallHandle(addr, fd);
    }

    /** Result of {@link #open}: a handle, or the loader's error message. */
    public record Opened(MemorySegment handle, String error) {
        public boolean ok() {
            return handle != null;
        }
    }

    /** {@code dlopen(path, flags)}; never throws for a missing library, returns the loader's reason instead. */
    public static synchronized Opened open(String path, int flags) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment h = (MemorySegment) DLOPEN.invokeExact(arena.allocateFrom(path), flags);
            if (h.equals(MemorySegment.NULL)) {
                return new Opened(null, lastError());
            }
            return new Opened(h, null);
        } catch (Throwable t) {
            throw new IllegalStateException("dlopen(" + path + ") failed: " + t, t);
        }
    }

    /** Address of {@code symbol} in an opened library, or null. */
    public static MemorySegment symbol(MemorySegment handle, String symbol) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = (MemorySegment) DLSYM.invokeExact(handle, arena.allocateFrom(symbol));
            return s.equals(MemorySegment.NULL) ? null : s;
        } catch (Throwable t) {
            throw new IllegalStateException("dlsym(" + symbol + ") failed: " + t, t);
        }
    }

    private static String lastError() throws Throwable {
        MemorySegment e = (MemorySegment) DLERROR.invokeExact();
        if (e.equals(MemorySegment.NULL)) {
            return "unknown dlopen error";
        }
        return e.reinterpret(4096).getString(0);
    }
}
