package org.internlmj.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuBackend;
import org.internlmj.tensor.cpu.CpuStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel sources themselves, executed without a GPU: src/test/cuda-emu/emu_test.cpp includes the
 * .cu files under a small emulation of CUDA's execution model (cuda_emu.h: blocks run one at a time,
 * their threads as real threads with barriers and warp shuffles) and compares flash attention forward and
 * backward, the softmaxes, RMSNorm, cross-entropy, the embedding sort and scatter, reductions and AdamW
 * with double-precision references. The random kernel's output is checked here against the CPU backend,
 * bit for bit. Needs g++ with C++20; skipped, saying so, without it.
 */
class CudaEmulatedKernelsTest {

    private static Path emuSources() throws URISyntaxException {
        // target/test-classes -> ../../src/test/cuda-emu
        Path testClasses = Path.of(CudaEmulatedKernelsTest.class.getProtectionDomain().getCodeSource().getLocation()
                .toURI());
        return testClasses.getParent().getParent().resolve("src/test/cuda-emu");
    }

    private static String gxx() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isBlank() && Files.isExecutable(Path.of(dir, "g++"))) {
                return Path.of(dir, "g++").toString();
            }
        }
        return null;
    }

    private static String run(List<String> cmd, Path dir, int timeoutSeconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not finish in " + timeoutSeconds + " s");
        }
        if (p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " exited with " + p.exitValue() + ":\n" + out);
        }
        return out;
    }

    @Test
    void kernelsMatchDoubleReferencesUnderEmulation(@TempDir Path work) throws Exception {
        String gxx = gxx();
        assumeTrue(gxx != null, "no g++ on PATH: the kernels are not executed on the CPU");
        Path src = NvccKernels.sourceDir();
        try (var files = Files.list(src)) {
            for (Path f : files.filter(f -> f.toString().endsWith(".cu") || f.toString().endsWith(".cuh")).toList()) {
                // Dynamic shared memory is one emulator buffer; every other line compiles as it is.
                String text = Files.readString(f).replace("extern __shared__ float smem[];",
                        "float* smem = g_dynamic_smem;");
                Files.writeString(work.resolve(f.getFileName()), text);
            }
        }
        try (var files = Files.list(emuSources())) {
            for (Path f : files.toList()) {
                Files.copy(f, work.resolve(f.getFileName()));
            }
        }
        String compile;
        try {
            compile = run(List.of(gxx, "-std=c++20", "-O1", "-pthread", "-ffp-contract=off", "-w", "-I" + work, "-o",
                    "emu", "emu_test.cpp"), work, 600);
        } catch (AssertionError e) {
            assumeTrue(!e.getMessage().contains("barrier") && !e.getMessage().contains("_Float16"),
                    "this g++ lacks C++20 <barrier> or _Float16: " + e.getMessage());
            throw e;
        }
        String out = run(List.of(work.resolve("emu").toString()), work, 900);
        List<String> report = new ArrayList<>();
        List<int[]> random = new ArrayList<>();
        for (String line : out.split("\n")) {
            if (line.startsWith("RANDOM ")) {
                String[] p = line.split(" ");
                random.add(new int[] {Integer.parseUnsignedInt(p[2], 16), Integer.parseUnsignedInt(p[3], 16)});
            } else {
                report.add(line);
            }
        }
        System.out.println(compile + String.join("\n", report));
        assertTrue(report.stream().noneMatch(l -> l.startsWith("FAIL")), String.join("\n", report));
        assertTrue(report.getLast().equals("0 FAILURES"), String.join("\n", report));

        Tensor u = cpu(random.size());
        CpuBackend.shared().fillRandom(u, Backend.Distribution.UNIFORM, -1.0, 3.0, 0x123456789abcdefL, 77);
        Tensor z = cpu(random.size());
        CpuBackend.shared().fillRandom(z, Backend.Distribution.NORMAL, 0.5, 2.0, 42, 5);
        float[] uv = u.toFloatArray();
        float[] zv = z.toFloatArray();
        int normalDiffs = 0;
        for (int i = 0; i < random.size(); i++) {
            assertEquals(Float.floatToRawIntBits(uv[i]), random.get(i)[0], "uniform element " + i);
            int d = Math.abs(Float.floatToRawIntBits(zv[i]) - random.get(i)[1]);
            assertTrue(d <= 1, "normal element " + i + " differs by " + d + " ulp");
            normalDiffs += d;
        }
        System.out.println("philox_fill: uniform bit-identical to the CPU backend; normal: " + normalDiffs
                + " of " + random.size() + " elements one ulp apart (double log/cos of glibc vs Java)");
    }

    private static Tensor cpu(int n) {
        return Tensor.view(CpuStorage.allocate(DType.F32, n), new int[] {n}, Shapes.contiguousStrides(n), 0);
    }
}
