package org.internlmj.ffm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
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
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checks {@link Mpi} against the real {@code mpi.h}: every prototype is redeclared after the header (a
 * type that differs is a "conflicting types" compile error), every descriptor against its prototype's
 * C types, every int constant and struct size with {@code _Static_assert}, and every predefined handle
 * against the header's macro expansion. Skipped, saying why, where gcc or mpi.h is missing.
 */
class MpiHeaderTest {
    private static Path include;

    @TempDir
    Path dir;

    @BeforeAll
    static void findHeader() {
        include = findMpiInclude();
    }

    private static void requireToolchain() {
        assumeTrue(onPath("gcc"), "gcc is not on PATH: cannot check the MPI bindings against mpi.h");
        assumeTrue(include != null, "mpi.h not found (install libopenmpi-dev): cannot check the MPI bindings");
    }

    @Test
    void prototypesCompileAgainstTheHeader() throws Exception {
        StringBuilder c = new StringBuilder("#include <mpi.h>\n");
        for (Mpi.Binding b : Mpi.bindings()) {
            c.append(b.prototype()).append(";\n");
        }
        Result r = gcc(c.toString(), "-fsyntax-only");
        assertEquals(0, r.exit, "the declared prototypes do not match mpi.h:\n" + r.output);
    }

    @Test
    void aWrongPrototypeIsRejected() throws Exception {
        // The mechanism itself: a parameter whose type differs from the header's must not compile.
        Result r = gcc("#include <mpi.h>\nint MPI_Barrier(int comm);\n", "-fsyntax-only");
        assertNotEquals(0, r.exit, "gcc accepted a redeclaration that conflicts with mpi.h: the check proves nothing");
        Result qualifier = gcc("#include <mpi.h>\nint MPI_Allreduce(void *s, void *r, int n, MPI_Datatype d, MPI_Op o, "
                + "MPI_Comm c);\n", "-fsyntax-only");
        assertNotEquals(0, qualifier.exit, "a dropped const went unnoticed");
    }

    @Test
    void descriptorsMatchTheirPrototypes() {
        List<String> problems = new ArrayList<>();
        for (Mpi.Binding b : Mpi.bindings()) {
            Matcher m = Pattern.compile("^(.+?)\\s*\\b(\\w+)\\s*\\((.*)\\)$").matcher(b.prototype().trim());
            assertTrue(m.matches(), "unparsable prototype " + b.prototype());
            assertEquals(b.name(), m.group(2));
            List<MemoryLayout> expected = new ArrayList<>();
            String params = m.group(3).trim();
            if (!params.equals("void")) {
                for (String p : params.split(",")) {
                    expected.add(layoutOf(typeOfParameter(p.trim())));
                }
            }
            MemoryLayout ret = layoutOf(m.group(1).trim());
            if (!b.descriptor().argumentLayouts().equals(expected)) {
                problems.add(b.name() + ": arguments " + b.descriptor().argumentLayouts() + " but the prototype says "
                        + expected);
            }
            if (!b.descriptor().returnLayout().orElseThrow().equals(ret)) {
                problems.add(b.name() + ": returns " + b.descriptor().returnLayout() + " but the prototype says " + ret);
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    @Test
    void constantsAndSizesMatchTheHeader() throws Exception {
        StringBuilder c = new StringBuilder("#include <mpi.h>\n#include <stddef.h>\n#include <stdint.h>\n");
        int checked = 0;
        for (Field f : Mpi.class.getFields()) {
            if (f.getType() == int.class && Modifier.isStatic(f.getModifiers()) && f.getName().startsWith("MPI_")) {
                c.append("_Static_assert(").append(f.getName()).append(" == ").append(f.getInt(null))
                        .append(", \"").append(f.getName()).append("\");\n");
                checked++;
            }
        }
        assertTrue(checked >= 8, "expected the MPI_* int constants to be found by reflection, got " + checked);
        c.append("_Static_assert(sizeof(MPI_Status) == ").append(Mpi.SIZEOF_MPI_STATUS).append(", \"MPI_Status\");\n");
        c.append("_Static_assert(offsetof(MPI_Status, MPI_SOURCE) == ").append(Mpi.STATUS_SOURCE_OFFSET)
                .append(", \"MPI_SOURCE\");\n");
        c.append("_Static_assert(offsetof(MPI_Status, MPI_TAG) == ").append(Mpi.STATUS_TAG_OFFSET)
                .append(", \"MPI_TAG\");\n");
        c.append("_Static_assert(offsetof(MPI_Status, MPI_ERROR) == ").append(Mpi.STATUS_ERROR_OFFSET)
                .append(", \"MPI_ERROR\");\n");
        for (String handle : List.of("MPI_Comm", "MPI_Datatype", "MPI_Op", "MPI_Request", "MPI_Errhandler")) {
            c.append("_Static_assert(sizeof(").append(handle).append(") == ").append(Mpi.SIZEOF_HANDLE)
                    .append(" && __builtin_classify_type((").append(handle).append(") 0) == 5, \"")
                    .append(handle).append(" is a pointer\");\n");
        }
        c.append("_Static_assert(sizeof(MPI_Aint) == 8, \"MPI_Aint\");\n");
        Result r = gcc(c.toString(), "-fsyntax-only");
        assertEquals(0, r.exit, "constants or sizes differ from mpi.h:\n" + r.output);
    }

    @Test
    void predefinedHandlesAreTheGlobalsTheHeaderNames() throws Exception {
        StringBuilder c = new StringBuilder("#include <mpi.h>\n");
        for (String macro : Mpi.OPEN_MPI_HANDLES.keySet()) {
            // The label is lower case so that the preprocessor leaves it alone.
            c.append("handle_").append(macro.toLowerCase(java.util.Locale.ROOT)).append(": ").append(macro).append('\n');
        }
        c.append("handle_mpi_in_place: MPI_IN_PLACE\nhandle_mpi_status_ignore: MPI_STATUS_IGNORE\n");
        Result r = gcc(c.toString(), "-E", "-P");
        assertEquals(0, r.exit, r.output);
        Map<String, String> expansions = new java.util.HashMap<>();
        for (String line : r.output.split("\n")) {
            Matcher m = Pattern.compile("^handle_(\\w+): (.*)$").matcher(line.trim());
            if (m.matches()) {
                expansions.put(m.group(1).toUpperCase(java.util.Locale.ROOT), m.group(2));
            }
        }
        for (Map.Entry<String, String> e : Mpi.OPEN_MPI_HANDLES.entrySet()) {
            String expansion = expansions.get(e.getKey());
            assertTrue(expansion != null && Pattern.compile("&\\s*\\(?\\s*" + e.getValue() + "\\b").matcher(expansion)
                    .find(), e.getKey() + " expands to '" + expansion + "', not the address of " + e.getValue());
        }
        assertEquals("((void *) 1)", expansions.get("MPI_IN_PLACE"));
        assertEquals(1L, Mpi.MPI_IN_PLACE.address());
        assertEquals("((MPI_Status *) 0)", expansions.get("MPI_STATUS_IGNORE"));
        assertEquals(0L, Mpi.MPI_STATUS_IGNORE.address());
    }

    @Test
    void everyHandleSymbolIsExportedByTheLibrary() {
        assumeTrue(Mpi.isAvailable(), () -> "libmpi not loadable: " + NativeLibrary.find(KnownLibraries.MPI).describe());
        for (String macro : Mpi.OPEN_MPI_HANDLES.keySet()) {
            assertNotEquals(0L, Mpi.predefined(macro).address(), macro);
        }
        for (Mpi.Binding b : Mpi.bindings()) {
            assertTrue(Mpi.library().hasSymbol(b.name()), b.name() + " is not exported by " + Mpi.library().path());
        }
    }

    // ------------------------------------------------------------------ helpers

    /** The C type of a parameter declaration: everything but the trailing name. */
    private static String typeOfParameter(String declaration) {
        Matcher m = Pattern.compile("^(.*?[\\s*])(\\w+)$").matcher(declaration);
        assertTrue(m.matches(), "parameter without a name: " + declaration);
        return m.group(1).trim();
    }

    private static MemoryLayout layoutOf(String cType) {
        String t = cType.replace("const ", "").trim();
        if (t.contains("*") || t.matches("MPI_(Comm|Datatype|Op|Request|Errhandler|Win|Info|Group)")) {
            return ValueLayout.ADDRESS;
        }
        return switch (t) {
            case "int" -> ValueLayout.JAVA_INT;
            case "double" -> ValueLayout.JAVA_DOUBLE;
            case "MPI_Aint" -> ValueLayout.JAVA_LONG;
            default -> throw new AssertionError("no FFM layout is known for the C type '" + cType + "'");
        };
    }

    private record Result(int exit, String output) {
    }

    private Result gcc(String source, String... flags) throws IOException, InterruptedException {
        requireToolchain();
        Path file = dir.resolve("check.c");
        Files.writeString(file, source);
        List<String> cmd = new ArrayList<>(List.of("gcc", "-std=c11", "-Wall", "-Werror", "-I" + include));
        cmd.addAll(List.of(flags));
        cmd.add(file.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "gcc did not finish");
        return new Result(p.exitValue(), out);
    }

    private static Path findMpiInclude() {
        List<Path> candidates = new ArrayList<>();
        String env = System.getenv("MPI_INCLUDE");
        if (env != null && !env.isBlank()) {
            candidates.add(Path.of(env));
        }
        candidates.add(Path.of("/usr/lib/x86_64-linux-gnu/openmpi/include"));
        candidates.add(Path.of("/usr/include/openmpi"));
        candidates.add(Path.of("/usr/include"));
        candidates.add(Path.of("/usr/local/include"));
        candidates.add(Path.of("/opt/openmpi/include"));
        for (Path p : candidates) {
            if (Files.isRegularFile(p.resolve("mpi.h"))) {
                return p;
            }
        }
        return null;
    }

    private static boolean onPath(String exe) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String d : path.split(":")) {
            if (!d.isBlank() && Files.isExecutable(Path.of(d, exe))) {
                return true;
            }
        }
        return false;
    }
}
