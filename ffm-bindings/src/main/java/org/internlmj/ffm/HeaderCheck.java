package org.internlmj.ffm;

import java.io.IOException;
import java.lang.foreign.AddressLayout;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Checks hand-written bindings against the real C header: writes a C file that includes the header,
 * redeclares every bound function exactly as the binding spells it (a redeclaration that disagrees with
 * the header is a compile error), asserts at compile time that each parameter and return type has the
 * size and kind (integer, pointer, floating, struct) of the FFM layout the downcall passes, and that
 * every constant the binding defines equals the header's; then compiles it with {@code gcc -fsyntax-only}.
 *
 * <p>Headers are looked for under {@code INTERNLMJ_CUDA_INCLUDE}, {@code CUDA_HOME}/{@code CUDA_PATH}
 * {@code include}, {@code /usr/local/cuda/include} and the {@code include} folders of pip's NVIDIA
 * packages ({@code site-packages/nvidia/*}/include, found through {@code NVIDIA_PYPI_ROOT}, the active
 * environment or {@code python3}). Where the header or a C compiler is missing the result is SKIPPED
 * with the reason, never a silent pass.
 *
 * <pre>{@code
 * HeaderCheck.Result r = HeaderCheck.check(new HeaderCheck.Header("CUDA driver", "cuda.h", List.of()),
 *         Cuda.functions(), HeaderCheck.constantsOf(Cuda.class));
 * }</pre>
 */
public final class HeaderCheck {
    private HeaderCheck() {
    }

    /**
     * A header to check against.
     *
     * @param displayName for messages
     * @param file        the header file name, e.g. {@code "cublas_v2.h"}
     * @param prelude     lines emitted before the {@code #include} (e.g. macro definitions)
     */
    public record Header(String displayName, String file, List<String> prelude) {
    }

    /** Outcome of a check. */
    public enum Status { PASSED, FAILED, SKIPPED }

    /**
     * @param status   passed, failed or skipped
     * @param message  why it was skipped or failed (the compiler's output), or what was checked
     * @param source   the generated C source (for the failure report)
     */
    public record Result(Status status, String message, String source) {
    }

    /** The {@code public static final int} fields of a binding class: its C constants, by C name. */
    public static Map<String, Long> constantsOf(Class<?> binding) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Field f : binding.getDeclaredFields()) {
            int mod = f.getModifiers();
            if (Modifier.isPublic(mod) && Modifier.isStatic(mod) && Modifier.isFinal(mod) && f.getType() == int.class) {
                try {
                    out.put(f.getName(), (long) f.getInt(null));
                } catch (IllegalAccessException e) {
                    throw new IllegalStateException("cannot read " + binding.getName() + "." + f.getName(), e);
                }
            }
        }
        return out;
    }

    /** Folders that may hold CUDA library headers, in search order (existing ones only). */
    public static List<Path> includeDirs() {
        Set<Path> dirs = new LinkedHashSet<>();
        String explicit = System.getenv("INTERNLMJ_CUDA_INCLUDE");
        if (explicit != null) {
            for (String d : explicit.split(":")) {
                if (!d.isBlank()) {
                    dirs.add(Path.of(d));
                }
            }
        }
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String home = System.getenv(env);
            if (home != null && !home.isBlank()) {
                dirs.add(Path.of(home, "include"));
                dirs.add(Path.of(home, "targets", "x86_64-linux", "include"));
            }
        }
        dirs.add(Path.of("/usr/local/cuda/include"));
        for (Path nvidia : nvidiaPackageRoots()) {
            try (DirectoryStream<Path> pkgs = Files.newDirectoryStream(nvidia)) {
                List<Path> sorted = new ArrayList<>();
                pkgs.forEach(sorted::add);
                sorted.sort(null);
                for (Path pkg : sorted) {
                    dirs.add(pkg.resolve("include"));
                }
            } catch (IOException e) {
                // an unreadable folder is not searched
            }
        }
        dirs.removeIf(p -> !Files.isDirectory(p));
        return new ArrayList<>(dirs);
    }

    /** {@code site-packages/nvidia} folders: NVIDIA_PYPI_ROOT, known environments, then python3's own. */
    static List<Path> nvidiaPackageRoots() {
        Set<Path> roots = new LinkedHashSet<>();
        String pypi = System.getenv("NVIDIA_PYPI_ROOT");
        if (pypi != null && !pypi.isBlank()) {
            roots.add(Path.of(pypi));
        }
        for (Path site : NativeLibrary.sitePackages()) {
            roots.add(site.resolve("nvidia"));
        }
        for (Path site : python3SitePackages()) {
            roots.add(site.resolve("nvidia"));
        }
        roots.removeIf(p -> !Files.isDirectory(p));
        return new ArrayList<>(roots);
    }

    private static List<Path> python3SitePackages() {
        List<Path> out = new ArrayList<>();
        try {
            Process p = new ProcessBuilder("python3", "-c", "import site; print('\\n'.join(site.getsitepackages()))")
                    .redirectErrorStream(true).start();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return out;
            }
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.exitValue() == 0) {
                for (String line : text.split("\n")) {
                    if (!line.isBlank()) {
                        out.add(Path.of(line.strip()));
                    }
                }
            }
        } catch (IOException e) {
            // no python3: nothing to add
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return out;
    }

    /** The first include folder holding {@code header.file()}, if any. */
    public static Optional<Path> locate(Header header) {
        for (Path dir : includeDirs()) {
            if (Files.isRegularFile(dir.resolve(header.file()))) {
                return Optional.of(dir);
            }
        }
        return Optional.empty();
    }

    /** Writes the C source that checks {@code functions} and {@code constants} against {@code header}. */
    public static String source(Header header, List<CFunction> functions, Map<String, Long> constants) {
        StringBuilder c = new StringBuilder();
        c.append("/* Generated by org.internlmj.ffm.HeaderCheck: the bindings' view of ").append(header.file())
                .append(". */\n");
        for (String line : header.prelude()) {
            c.append(line).append('\n');
        }
        c.append("#include <").append(header.file()).append(">\n\n");
        for (CFunction f : functions) {
            c.append(f.declaration()).append(";\n");
        }
        c.append('\n');
        for (CFunction f : functions) {
            if (!f.returnType().equals("void")) {
                typeAssert(c, f.name() + " return", f.returnType(), f.descriptor().returnLayout().orElseThrow());
            }
            List<MemoryLayout> args = f.descriptor().argumentLayouts();
            for (int i = 0; i < args.size(); i++) {
                typeAssert(c, f.name() + " parameter " + (i + 1), f.paramTypes().get(i), args.get(i));
            }
        }
        c.append('\n');
        for (Map.Entry<String, Long> e : constants.entrySet()) {
            c.append("_Static_assert((long long)(").append(e.getKey()).append(") == ").append(e.getValue())
                    .append("LL, \"").append(e.getKey()).append(" is ").append(e.getValue())
                    .append(" in the Java binding\");\n");
        }
        return c.toString();
    }

    private static void typeAssert(StringBuilder c, String what, String cType, MemoryLayout layout) {
        int[] kinds = kinds(layout);
        StringBuilder kindTest = new StringBuilder();
        for (int k : kinds) {
            if (!kindTest.isEmpty()) {
                kindTest.append(" || ");
            }
            kindTest.append("__builtin_classify_type(*(").append(cType).append(" *)0) == ").append(k);
        }
        c.append("_Static_assert(sizeof(").append(cType).append(") == ").append(layout.byteSize())
                .append(" && (").append(kindTest).append("), \"").append(what).append(": C type ")
                .append(cType.replace("\"", "")).append(" does not match the FFM layout ").append(layout)
                .append("\");\n");
    }

    /** gcc's type classes a layout may stand for: 1 integer, 2 char, 3 enum, 5 pointer, 8 real, 12 struct. */
    private static int[] kinds(MemoryLayout layout) {
        if (layout instanceof AddressLayout) {
            return new int[] {5};
        }
        if (layout instanceof GroupLayout) {
            return new int[] {12};
        }
        if (layout instanceof ValueLayout v) {
            Class<?> carrier = v.carrier();
            if (carrier == float.class || carrier == double.class) {
                return new int[] {8};
            }
            return new int[] {1, 2, 3};
        }
        throw new IllegalArgumentException("no C type class for layout " + layout);
    }

    /** Compiles the check with gcc (or cc); SKIPPED when the header or a compiler is missing. */
    public static Result check(Header header, List<CFunction> functions, Map<String, Long> constants) {
        String src = source(header, functions, constants);
        Optional<Path> found = locate(header);
        if (found.isEmpty()) {
            return new Result(Status.SKIPPED, header.displayName() + ": " + header.file() + " not found (looked in "
                    + String.join(", ", includeDirs().stream().map(Path::toString).toList())
                    + (includeDirs().isEmpty() ? "no existing include folder" : "")
                    + "; set INTERNLMJ_CUDA_INCLUDE or CUDA_HOME to check it)", src);
        }
        String compiler = findCompiler();
        if (compiler == null) {
            return new Result(Status.SKIPPED, "no C compiler (gcc or cc) on PATH to check " + header.file(), src);
        }
        try {
            Path dir = Files.createTempDirectory("internlmj-header-check");
            Path file = dir.resolve("check.c");
            Files.writeString(file, src);
            List<String> cmd = new ArrayList<>(List.of(compiler, "-fsyntax-only", "-std=gnu11", "-Werror=implicit",
                    "-I" + found.get()));
            for (Path inc : includeDirs()) {
                if (!inc.equals(found.get())) {
                    cmd.add("-I" + inc);
                }
            }
            cmd.add(file.toString());
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(Status.FAILED, compiler + " did not finish in 120 s", src);
            }
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
            if (p.exitValue() != 0) {
                return new Result(Status.FAILED, header.displayName() + " bindings disagree with " + found.get()
                        .resolve(header.file()) + ":\n" + out, src);
            }
            return new Result(Status.PASSED, functions.size() + " functions and " + constants.size()
                    + " constants agree with " + found.get().resolve(header.file()), src);
        } catch (IOException e) {
            return new Result(Status.FAILED, "could not run " + compiler + ": " + e.getMessage(), src);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(Status.FAILED, "interrupted while compiling the check", src);
        }
    }

    private static String findCompiler() {
        String path = System.getenv("PATH");
        if (path == null) {
            return null;
        }
        for (String name : new String[] {"gcc", "cc"}) {
            for (String dir : path.split(":")) {
                if (!dir.isBlank() && Files.isExecutable(Path.of(dir, name))) {
                    return Path.of(dir, name).toString();
                }
            }
        }
        return null;
    }
}
