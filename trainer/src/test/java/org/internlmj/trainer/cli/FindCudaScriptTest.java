package org.internlmj.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * scripts/find-cuda.sh, which both launchers source: it finds CUDA libraries in a toolkit ({@code CUDA_HOME}),
 * a conda environment and a Python environment's pip wheels (the interpreter on PATH is asked for its
 * site-packages), puts those folders first on LD_LIBRARY_PATH and reports them. The layout is faked with
 * empty files named as the real libraries.
 */
class FindCudaScriptTest {
    @TempDir
    Path dir;

    private record Result(String ldLibraryPath, String libs, String stderr) {
    }

    private Result run(Map<String, String> env) throws IOException, InterruptedException {
        Path script = Path.of("../scripts/find-cuda.sh").toAbsolutePath().normalize();
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", "set -euo pipefail; source '" + script
                + "'; internlmj_find_cuda; echo \"LD=${LD_LIBRARY_PATH:-}\"; echo \"LIBS=$INTERNLMJ_CUDA_LIBS\"");
        pb.environment().clear();
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), err);
        String ld = out.lines().filter(l -> l.startsWith("LD=")).findFirst().orElseThrow().substring(3);
        String libs = out.lines().filter(l -> l.startsWith("LIBS=")).findFirst().orElseThrow().substring(5);
        return new Result(ld, libs, err);
    }

    private Path lib(String folder, String name) throws IOException {
        Path d = Files.createDirectories(dir.resolve(folder));
        Files.createFile(d.resolve(name));
        return d.toRealPath();
    }

    @Test
    void findsToolkitCondaAndPipLibrariesAndPutsThemFirst() throws Exception {
        Path toolkit = lib("cuda-13.1/lib64", "libnvrtc.so.13");
        Files.createFile(toolkit.resolve("libcublas.so.13"));
        Path conda = lib("conda/lib", "libcublasLt.so.12");
        Path nccl = lib("venv/site-packages/nvidia/nccl/lib", "libnccl.so.2");
        Path cublas = lib("venv/site-packages/nvidia/cublas/lib", "libcublas.so.12");
        Files.createDirectories(dir.resolve("venv/site-packages/nvidia/cuda_nvcc/lib")); // holds none of ours
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path python = bin.resolve("python3");
        Files.writeString(python, "#!/bin/sh\necho " + dir.resolve("venv/site-packages") + "\n");
        python.toFile().setExecutable(true);

        Result r = run(Map.of("PATH", bin + ":/usr/bin:/bin", "CUDA_HOME", dir.resolve("cuda-13.1").toString(),
                "CONDA_PREFIX", dir.resolve("conda").toString(), "LD_LIBRARY_PATH", "/already/there"));

        List<String> ld = List.of(r.ldLibraryPath().split(":"));
        assertEquals(List.of(toolkit.toString(), conda.toString(), cublas.toString(), nccl.toString()),
                ld.subList(0, 4), "toolkit, conda, then pip wheels, in that order, first: " + r.ldLibraryPath());
        assertEquals("/already/there", ld.get(ld.size() - 1), "what was on LD_LIBRARY_PATH stays, after them");
        assertFalse(r.ldLibraryPath().contains("cuda_nvcc"), "a folder with none of the libraries is not added");
        assertTrue(r.libs().contains(toolkit + " (NVRTC, cuBLAS)"), r.libs());
        assertTrue(r.libs().contains(nccl + " (NCCL)") && r.libs().contains(cublas + " (cuBLAS)")
                && r.libs().contains(conda + " (cuBLASLt)"), r.libs());
        assertTrue(r.stderr().startsWith("internlmj: CUDA libraries: ") && r.stderr().contains(toolkit.toString()),
                "says what it found: " + r.stderr());

        Result quiet = run(Map.of("PATH", "/usr/bin:/bin", "CUDA_HOME", dir.resolve("cuda-13.1").toString(),
                "INTERNLMJ_QUIET", "1"));
        assertEquals("", quiet.stderr());
        assertTrue(quiet.ldLibraryPath().startsWith(toolkit.toString()), quiet.ldLibraryPath());
    }

    @Test
    void addsOnlyFoldersThatHoldTheLibraries() throws Exception {
        Files.createDirectories(dir.resolve("empty-toolkit/lib64"));
        Result r = run(Map.of("PATH", "/usr/bin:/bin", "CUDA_HOME", dir.resolve("empty-toolkit").toString()));
        assertFalse(r.ldLibraryPath().contains(dir.toString()), r.ldLibraryPath());
        for (String part : r.ldLibraryPath().isEmpty() ? new String[0] : r.ldLibraryPath().split(":")) {
            // whatever this machine has (a real toolkit, a driver) must hold one of the libraries
            assertTrue(Set.of(Path.of(part).toFile().list()).stream().anyMatch(n -> n.matches(
                    "lib(cuda|nvrtc|cublas|cublasLt|nccl)\\.so.*")), part);
        }
        if (r.libs().equals("none")) {
            assertEquals("", r.stderr(), "nothing found, nothing said");
        }
    }
}
