package org.internlmj.tensor.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Compiles the backend's kernel sources with nvcc the way CI can without a GPU ({@code -cubin
 * -arch=sm_90 -Xptxas -v}, keeping the PTX) and reads two things back: ptxas's resource report per
 * kernel and each kernel's parameter list (size and alignment of every parameter) from the PTX. Results
 * are cached per family for the JVM, since the attention family alone takes seconds to compile.
 */
final class NvccKernels {
    /** Every kernel family (resource {@code <family>.cu}). */
    static final List<String> FAMILIES = List.of("copy", "random", "elementwise", "reduce", "softmax", "rmsnorm",
            "layernorm", "rotary", "swiglu", "embedding", "crossentropy", "adamw", "attention");

    /** ptxas's report and the PTX parameter lists of one family. */
    record Build(String family, String ptxasLog, Map<String, List<LaunchObserver.Arg>> signatures) {
    }

    private static final Map<String, Build> CACHE = new ConcurrentHashMap<>();

    private NvccKernels() {
    }

    /** nvcc from CUDA_HOME, /usr/local/cuda or PATH. */
    static Optional<Path> nvcc() {
        List<Path> candidates = new ArrayList<>();
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String home = System.getenv(env);
            if (home != null && !home.isBlank()) {
                candidates.add(Path.of(home, "bin", "nvcc"));
            }
        }
        candidates.add(Path.of("/usr/local/cuda/bin/nvcc"));
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(":")) {
                if (!dir.isBlank()) {
                    candidates.add(Path.of(dir, "nvcc"));
                }
            }
        }
        return candidates.stream().filter(Files::isExecutable).findFirst();
    }

    /** The folder holding the kernel sources (target/classes/org/internlmj/tensor/cuda). */
    static Path sourceDir() {
        try {
            return Path.of(NvccKernels.class.getResource(KernelCompiler.RESOURCE_DIR + KernelCompiler.HEADER).toURI())
                    .getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Build build(String family) {
        return CACHE.computeIfAbsent(family, NvccKernels::compile);
    }

    private static Build compile(String family) {
        Path nvcc = nvcc().orElseThrow(() -> new IllegalStateException("no nvcc"));
        try {
            Path out = Files.createTempDirectory("internlmj-nvcc-" + family);
            Path src = sourceDir().resolve(family + ".cu");
            List<String> cmd = List.of(nvcc.toString(), "-cubin", "-arch=sm_90", "-std=c++17", "-Xptxas", "-v",
                    "--keep", "--keep-dir", out.toString(), "-I" + sourceDir(), "-o",
                    out.resolve(family + ".cubin").toString(), src.toString());
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(600, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("nvcc did not finish compiling " + family + ".cu in 10 minutes");
            }
            if (p.exitValue() != 0) {
                throw new AssertionError(family + ".cu does not compile:\n" + String.join(" ", cmd) + "\n" + log);
            }
            Path ptx;
            try (var files = Files.list(out)) {
                ptx = files.filter(f -> f.toString().endsWith(".ptx")).findFirst()
                        .orElseThrow(() -> new IllegalStateException("nvcc --keep left no PTX in " + out));
            }
            Map<String, List<LaunchObserver.Arg>> sigs = parsePtx(Files.readString(ptx));
            try (var files = Files.list(out)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(out);
            return new Build(family, log, sigs);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static final Pattern ENTRY = Pattern.compile("\\.entry\\s+(\\w+)\\s*\\(([^)]*)\\)", Pattern.DOTALL);
    private static final Pattern PARAM = Pattern.compile(
            "\\.param\\s+(?:\\.align\\s+(\\d+)\\s+)?\\.(\\w+)\\s+\\w+(?:\\[(\\d+)])?");

    /** Kernel name -> parameters (bytes, alignment) from a PTX module. */
    static Map<String, List<LaunchObserver.Arg>> parsePtx(String ptx) {
        Map<String, List<LaunchObserver.Arg>> out = new LinkedHashMap<>();
        Matcher m = ENTRY.matcher(ptx);
        while (m.find()) {
            List<LaunchObserver.Arg> args = new ArrayList<>();
            Matcher p = PARAM.matcher(m.group(2));
            while (p.find()) {
                String type = p.group(2);
                long scalar = switch (type.substring(1)) {
                    case "8" -> 1;
                    case "16" -> 2;
                    case "32" -> 4;
                    case "64" -> 8;
                    default -> throw new IllegalStateException("PTX parameter type ." + type + " in " + m.group(1));
                };
                if (p.group(3) != null) {
                    long align = p.group(1) == null ? scalar : Long.parseLong(p.group(1));
                    args.add(new LaunchObserver.Arg(scalar * Long.parseLong(p.group(3)), align));
                } else {
                    args.add(new LaunchObserver.Arg(scalar, scalar));
                }
            }
            out.put(m.group(1), args);
        }
        return out;
    }

    /** "kernel: regs N, spills S/L bytes, stack F bytes, smem M bytes" lines from ptxas's -v output. */
    static List<String> resourceLines(String ptxasLog) {
        List<String> lines = new ArrayList<>();
        String kernel = null;
        String spills = "";
        for (String line : ptxasLog.split("\n")) {
            Matcher entry = Pattern.compile("Compiling entry function '(\\w+)'").matcher(line);
            if (entry.find()) {
                kernel = entry.group(1);
                continue;
            }
            Matcher spill = Pattern.compile("(\\d+) bytes stack frame, (\\d+) bytes spill stores, (\\d+) bytes spill loads")
                    .matcher(line);
            if (spill.find() && kernel != null) {
                spills = "stack " + spill.group(1) + " B, spills " + spill.group(2) + "/" + spill.group(3) + " B";
                continue;
            }
            Matcher used = Pattern.compile("Used (\\d+) registers(?:.*?(\\d+) bytes smem)?").matcher(line);
            if (used.find() && kernel != null) {
                lines.add(String.format("%-22s regs %3s, %s%s", kernel, used.group(1), spills,
                        used.group(2) == null ? "" : ", static smem " + used.group(2) + " B"));
                kernel = null;
            }
        }
        return lines;
    }
}
