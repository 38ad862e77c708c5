package org.internlmj.tensor.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.internlmj.ffm.cuda.Nvrtc;

/**
 * Compiles the backend's CUDA C sources (resources {@code org/internlmj/tensor/cuda/<family>.cu}) with
 * NVRTC for the device's architecture: a CUBIN for {@code sm_XY} when this NVRTC knows the device, else
 * PTX for the newest architecture it knows, which the driver finishes compiling when loading it. The
 * result is cached on disk under a hash of the source, the header, the options, the target and the
 * NVRTC version, so each kernel family compiles once per machine and toolkit.
 *
 * <p>Cache folder: {@code -Dinternlmj.kernel.cache}, else {@code INTERNLMJ_KERNEL_CACHE}, else
 * {@code $XDG_CACHE_HOME/internlmj/kernels}, else {@code ~/.cache/internlmj/kernels}.
 */
final class KernelCompiler {
    /** Where the sources live on the class path. */
    static final String RESOURCE_DIR = "/org/internlmj/tensor/cuda/";
    /** The shared header every family includes. */
    static final String HEADER = "common.cuh";

    /** A compiled image: CUBIN bytes, or PTX text terminated by NUL. */
    record Image(byte[] bytes, boolean ptx, String target, boolean fromCache) {
    }

    private KernelCompiler() {
    }

    /** The text of a kernel resource. */
    static String source(String file) {
        try (InputStream in = KernelCompiler.class.getResourceAsStream(RESOURCE_DIR + file)) {
            if (in == null) {
                throw new IllegalStateException("kernel source " + RESOURCE_DIR + file + " is missing from the class path");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("reading kernel source " + file, e);
        }
    }

    /** The cache folder (not created). */
    static Path cacheDir() {
        String p = System.getProperty("internlmj.kernel.cache");
        if (p == null || p.isBlank()) {
            p = System.getenv("INTERNLMJ_KERNEL_CACHE");
        }
        if (p != null && !p.isBlank()) {
            return Path.of(p);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("internlmj").resolve("kernels");
    }

    /** NVRTC's version as "major.minor". */
    static String nvrtcVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment major = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment minor = arena.allocate(ValueLayout.JAVA_INT);
            Nvrtc.check(Nvrtc.nvrtcVersion(major, minor), "nvrtcVersion");
            return major.get(ValueLayout.JAVA_INT, 0) + "." + minor.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** Architectures NVRTC can emit machine code for (e.g. 75, 80, 86, 89, 90, 100, ...). */
    static int[] supportedArchitectures() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment n = arena.allocate(ValueLayout.JAVA_INT);
            Nvrtc.check(Nvrtc.nvrtcGetNumSupportedArchs(n), "nvrtcGetNumSupportedArchs");
            int count = n.get(ValueLayout.JAVA_INT, 0);
            MemorySegment archs = arena.allocate(ValueLayout.JAVA_INT, Math.max(count, 1));
            Nvrtc.check(Nvrtc.nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs");
            return archs.asSlice(0, 4L * count).toArray(ValueLayout.JAVA_INT);
        }
    }

    /** Compiles (or loads from the cache) {@code family}.cu for compute capability {@code cc} (e.g. 90). */
    static Image compile(String family, int cc) {
        String file = family + ".cu";
        String src = source(file);
        String header = source(HEADER);
        int[] archs = supportedArchitectures();
        int best = -1;
        boolean exact = false;
        for (int a : archs) {
            if (a == cc) {
                exact = true;
            }
            if (a <= cc && a > best) {
                best = a;
            }
        }
        if (best < 0) {
            throw new IllegalStateException("NVRTC " + nvrtcVersion() + " cannot compile for compute capability "
                    + cc / 10 + "." + cc % 10 + " (it supports " + java.util.Arrays.toString(archs) + ")");
        }
        boolean ptx = !exact;
        String target = ptx ? "compute_" + best : "sm_" + cc;
        List<String> options = List.of("--gpu-architecture=" + target, "-std=c++17", "-DINTERNLMJ_NVRTC=1");
        String version = nvrtcVersion();
        String key = hash(src, header, String.join(" ", options), version, ptx ? "ptx" : "cubin");
        Path dir = cacheDir();
        Path cached = dir.resolve(family + "-" + target + "-" + key.substring(0, 24) + (ptx ? ".ptx" : ".cubin"));
        if (Files.isRegularFile(cached)) {
            try {
                return new Image(Files.readAllBytes(cached), ptx, target, true);
            } catch (IOException e) {
                // An unreadable cache entry is recompiled and rewritten below.
            }
        }
        byte[] image = nvrtc(file, src, header, options, ptx);
        store(dir, cached, image);
        return new Image(image, ptx, target, false);
    }

    /** Deletes a cache entry that the driver refused to load, so the next attempt recompiles. */
    static void evict(String family, int cc) {
        Path dir = cacheDir();
        try (var files = Files.list(dir)) {
            for (Path p : files.filter(f -> f.getFileName().toString().startsWith(family + "-")).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // nothing cached or the folder is not writable: nothing to evict
        }
    }

    private static byte[] nvrtc(String file, String src, String header, List<String> options, boolean ptx) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment prog = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment headers = arena.allocate(ValueLayout.ADDRESS, 1);
            headers.setAtIndex(ValueLayout.ADDRESS, 0, arena.allocateFrom(header));
            MemorySegment names = arena.allocate(ValueLayout.ADDRESS, 1);
            names.setAtIndex(ValueLayout.ADDRESS, 0, arena.allocateFrom(HEADER));
            Nvrtc.check(Nvrtc.nvrtcCreateProgram(prog, arena.allocateFrom(src), arena.allocateFrom(file), 1, headers,
                    names), "nvrtcCreateProgram", file);
            MemorySegment p = prog.get(ValueLayout.ADDRESS, 0);
            byte[] image;
            try {
                image = compileAndRead(arena, p, file, options, ptx);
            } catch (RuntimeException e) {
                Nvrtc.nvrtcDestroyProgram(prog);   // its status would only hide the compile error
                throw e;
            }
            Nvrtc.check(Nvrtc.nvrtcDestroyProgram(prog), "nvrtcDestroyProgram", file);
            return image;
        }
    }

    private static byte[] compileAndRead(Arena arena, MemorySegment p, String file, List<String> options, boolean ptx) {
        MemorySegment opts = arena.allocate(ValueLayout.ADDRESS, options.size());
        for (int i = 0; i < options.size(); i++) {
            opts.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(options.get(i)));
        }
        int rc = Nvrtc.nvrtcCompileProgram(p, options.size(), opts);
        String log = log(arena, p);
        Nvrtc.check(rc, "nvrtcCompileProgram", file + " with " + options + (log.isBlank() ? "" : ":\n" + log));
        MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
        if (ptx) {
            Nvrtc.check(Nvrtc.nvrtcGetPTXSize(p, size), "nvrtcGetPTXSize");
        } else {
            Nvrtc.check(Nvrtc.nvrtcGetCUBINSize(p, size), "nvrtcGetCUBINSize");
        }
        MemorySegment out = arena.allocate(size.get(ValueLayout.JAVA_LONG, 0));
        if (ptx) {
            Nvrtc.check(Nvrtc.nvrtcGetPTX(p, out), "nvrtcGetPTX");
        } else {
            Nvrtc.check(Nvrtc.nvrtcGetCUBIN(p, out), "nvrtcGetCUBIN");
        }
        return out.toArray(ValueLayout.JAVA_BYTE);
    }

    /** The compile log; a failure to read it is reported in its place, not thrown over the compile's status. */
    private static String log(Arena arena, MemorySegment prog) {
        MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
        int rc = Nvrtc.nvrtcGetProgramLogSize(prog, size);
        if (rc != Nvrtc.NVRTC_SUCCESS) {
            return "(nvrtcGetProgramLogSize failed: " + Nvrtc.errorString(rc) + ")";
        }
        long n = size.get(ValueLayout.JAVA_LONG, 0);
        if (n <= 1) {
            return "";
        }
        MemorySegment buf = arena.allocate(n + 1);
        rc = Nvrtc.nvrtcGetProgramLog(prog, buf);
        if (rc != Nvrtc.NVRTC_SUCCESS) {
            return "(nvrtcGetProgramLog failed: " + Nvrtc.errorString(rc) + ")";
        }
        return buf.getString(0).strip();
    }

    private static void store(Path dir, Path target, byte[] image) {
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, target.getFileName().toString(), ".tmp");
            Files.write(tmp, image);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            // A read-only home still works: the kernels are compiled again by the next process.
            System.getLogger(KernelCompiler.class.getName()).log(System.Logger.Level.WARNING,
                    "cannot write the kernel cache " + target + ": " + e.getMessage());
        }
    }

    static String hash(String... parts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            List<byte[]> chunks = new ArrayList<>();
            for (String part : parts) {
                chunks.add(part.getBytes(StandardCharsets.UTF_8));
            }
            for (byte[] c : chunks) {
                md.update(Integer.toString(c.length).getBytes(StandardCharsets.US_ASCII));
                md.update((byte) 0);
                md.update(c);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
