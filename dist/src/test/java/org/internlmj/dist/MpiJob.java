package org.internlmj.dist;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;

/**
 * Starts a real MPI job for a test: {@code mpirun -np N java ... MpiRankMain <scenario>}, each rank a JVM
 * on the test class path, and collects its output. Skips the calling test, saying why, where mpirun or
 * libmpi is missing.
 */
final class MpiJob {
    /** What a finished (or killed) job left. */
    record Result(int exit, String output, long startedMillis, long endedMillis, boolean timedOut) {
        double seconds() {
            return (endedMillis - startedMillis) / 1000.0;
        }
    }

    private MpiJob() {
    }

    static void assumeMpi() {
        assumeTrue(mpirun() != null, "mpirun is not on PATH (install openmpi-bin): MPI jobs cannot be started");
        NativeLibrary.Lookup lib = NativeLibrary.find(KnownLibraries.MPI);
        assumeTrue(lib.found(), () -> "libmpi is missing (install libopenmpi-dev): " + lib.describe());
    }

    static Result run(int ranks, int limitSeconds, String... args) throws IOException, InterruptedException {
        return run(ranks, limitSeconds, List.of(), args);
    }

    /** @param mpirunOptions extra options for mpirun itself, e.g. {@code --enable-recovery} */
    static Result run(int ranks, int limitSeconds, List<String> mpirunOptions, String... args)
            throws IOException, InterruptedException {
        assumeMpi();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(mpirun().toString(), "--allow-run-as-root", "--oversubscribe",
                "-np", Integer.toString(ranks), "--mca", "plm", "isolated", "--bind-to", "none",
                // Containers often forbid the cross-process reads (CMA) shared memory uses for large
                // messages; the tests check results, not speed, so they do without.
                "--mca", "btl_vader_single_copy_mechanism", "none"));
        cmd.addAll(mpirunOptions);
        cmd.addAll(List.of(
                // Through env: Open MPI's mpirun rewrites the arguments of an executable named java (it
                // replaces -cp with the working directory when -D options precede it).
                "/usr/bin/env", java, "--enable-native-access=ALL-UNNAMED", "--add-modules", "jdk.incubator.vector",
                "-XX:+UseSerialGC", "-Xmx512m", "-Xss4m", "-Dinternlmj.cpu.threads=1",
                "-cp", classPath(), MpiRankMain.class.getName()));
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile("internlmj-mpi-job", ".log");
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
            long start = System.currentTimeMillis();
            Process p = pb.start();
            boolean finished = p.waitFor(limitSeconds, TimeUnit.SECONDS);
            if (!finished) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
            long end = System.currentTimeMillis();
            // The command heads the output, so that a failure message shows how to rerun the job by hand.
            String out = "$ " + String.join(" ", cmd) + "\n" + Files.readString(log, StandardCharsets.UTF_8);
            return new Result(finished ? p.exitValue() : -1, out, start, end, !finished);
        } finally {
            Files.deleteIfExists(log);
        }
    }

    private static Path mpirun() {
        String path = System.getenv("PATH");
        if (path == null) {
            return null;
        }
        for (String d : path.split(File.pathSeparator)) {
            Path p = Path.of(d, "mpirun");
            if (!d.isBlank() && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** The test JVM's class path; surefire may hide it behind a manifest-only jar. */
    private static String classPath() {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isBlank()) {
            cp = System.getProperty("java.class.path");
        }
        return cp;
    }
}
