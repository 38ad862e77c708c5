package org.internlmj.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checks the hand-written OpenBLAS binding against the real header: the C prototypes below are
 * compiled against {@code cblas.h} with {@code gcc -fsyntax-only} (a redeclaration that disagrees with
 * the header is a compile error), each Java {@link FunctionDescriptor} is checked to be the
 * prototype's FFM translation, and every constant of {@link OpenBlas} is a {@code _Static_assert}.
 * Skipped, saying why, where the header (Debian: libopenblas-pthread-dev) or gcc is missing.
 */
class OpenBlasHeaderTest {

    /** The C declarations the binding mirrors, as the header writes them (OPENBLAS_CONST = const). */
    private static final Map<String, String> PROTOTYPES = Map.of(
            "cblas_sgemm", "void cblas_sgemm(const enum CBLAS_ORDER Order, const enum CBLAS_TRANSPOSE TransA, "
                    + "const enum CBLAS_TRANSPOSE TransB, const blasint M, const blasint N, const blasint K, "
                    + "const float alpha, const float *A, const blasint lda, const float *B, const blasint ldb, "
                    + "const float beta, float *C, const blasint ldc)",
            "openblas_set_num_threads", "void openblas_set_num_threads(int num_threads)",
            "openblas_get_num_threads", "int openblas_get_num_threads(void)",
            "openblas_get_config", "char* openblas_get_config(void)");

    private static final Map<String, FunctionDescriptor> DESCRIPTORS = Map.of(
            "cblas_sgemm", OpenBlas.CBLAS_SGEMM,
            "openblas_set_num_threads", OpenBlas.OPENBLAS_SET_NUM_THREADS,
            "openblas_get_num_threads", OpenBlas.OPENBLAS_GET_NUM_THREADS,
            "openblas_get_config", OpenBlas.OPENBLAS_GET_CONFIG);

    private static final List<Path> INCLUDE_DIRS = List.of(
            Path.of("/usr/include/x86_64-linux-gnu/openblas-pthread"),
            Path.of("/usr/include/x86_64-linux-gnu/openblas-openmp"),
            Path.of("/usr/include/x86_64-linux-gnu/openblas-serial"),
            Path.of("/usr/include/openblas"),
            Path.of("/usr/include"),
            Path.of("/usr/local/include"));

    @Test
    void descriptorsAreTheFfmTranslationOfThePrototypes() {
        assertEquals(PROTOTYPES.keySet(), DESCRIPTORS.keySet());
        for (var e : PROTOTYPES.entrySet()) {
            assertEquals(translate(e.getValue()), DESCRIPTORS.get(e.getKey()), e.getValue());
        }
    }

    @Test
    void prototypesAndConstantsCompileAgainstTheHeader(@TempDir Path dir) throws Exception {
        Optional<Path> include = findHeaderDir();
        Assumptions.assumeTrue(include.isPresent(), "cblas.h not found in " + INCLUDE_DIRS + " or $CPATH"
                + " (Debian: apt-get install libopenblas-pthread-dev); the binding is not checked against it here");
        Assumptions.assumeTrue(onPath("gcc"), "gcc not on PATH; the binding is not checked against cblas.h here");
        StringBuilder c = new StringBuilder("#include <cblas.h>\n");
        for (String p : PROTOTYPES.values()) {
            c.append(p).append(";\n");
        }
        // The descriptors pass every int-like parameter as a 32-bit JAVA_INT.
        c.append("_Static_assert(sizeof(blasint) == 4, \"blasint is not 32-bit: INTERFACE64 build\");\n");
        c.append("_Static_assert(sizeof(enum CBLAS_ORDER) == 4 && sizeof(enum CBLAS_TRANSPOSE) == 4, \"enum size\");\n");
        int constants = 0;
        for (Field f : OpenBlas.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class) {
                c.append("_Static_assert(").append(f.getName()).append(" == ").append(f.getInt(null))
                        .append(", \"").append(f.getName()).append("\");\n");
                constants++;
            }
        }
        assertTrue(constants >= 5, "expected the CBLAS enum constants, found " + constants);
        Path src = dir.resolve("openblas_check.c");
        Files.writeString(src, c, StandardCharsets.UTF_8);
        Process p = new ProcessBuilder("gcc", "-fsyntax-only", "-Werror", "-I" + include.get(), src.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "gcc did not finish");
        assertEquals(0, p.exitValue(), "the binding disagrees with " + include.get().resolve("cblas.h") + ":\n" + out
                + "\n--- checked source:\n" + c);
    }

    /** The FFM descriptor a C prototype maps to: int-sized integers and enums, float, pointers. */
    private static FunctionDescriptor translate(String prototype) {
        int open = prototype.indexOf('(');
        String ret = prototype.substring(0, open).trim();
        ret = ret.substring(0, Math.max(ret.lastIndexOf(' '), ret.lastIndexOf('*') + 1)).trim();
        String params = prototype.substring(open + 1, prototype.lastIndexOf(')')).trim();
        List<MemoryLayout> args = new ArrayList<>();
        if (!params.equals("void")) {
            for (String param : params.split(",")) {
                args.add(layout(param.trim().replaceFirst("\\s*\\w+$", "")));
            }
        }
        MemoryLayout[] a = args.toArray(MemoryLayout[]::new);
        return ret.equals("void") ? FunctionDescriptor.ofVoid(a) : FunctionDescriptor.of(layout(ret), a);
    }

    private static MemoryLayout layout(String cType) {
        String t = cType.replace("const ", "").trim();
        if (t.endsWith("*")) {
            return ValueLayout.ADDRESS;
        }
        return switch (t) {
            case "float" -> ValueLayout.JAVA_FLOAT;
            case "int", "blasint", "enum CBLAS_ORDER", "enum CBLAS_TRANSPOSE" -> ValueLayout.JAVA_INT;
            default -> throw new AssertionError("no FFM layout for C type '" + cType + "'");
        };
    }

    private static Optional<Path> findHeaderDir() {
        List<Path> dirs = new ArrayList<>();
        String cpath = System.getenv("CPATH");
        if (cpath != null) {
            for (String d : cpath.split(":")) {
                if (!d.isBlank()) {
                    dirs.add(Path.of(d));
                }
            }
        }
        dirs.addAll(INCLUDE_DIRS);
        return dirs.stream().filter(d -> Files.isRegularFile(d.resolve("cblas.h"))).findFirst();
    }

    private static boolean onPath(String tool) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String d : path.split(":")) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }
}
