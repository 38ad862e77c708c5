package org.internlmj.ffm;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A native library found on disk and opened: where it came from, and downcall handles to its symbols.
 *
 * <p>Where a library is looked for, in order: {@code LD_LIBRARY_PATH}; {@code CUDA_HOME} and
 * {@code CUDA_PATH} ({@code lib64}, {@code lib}, {@code targets/x86_64-linux/lib}); {@code /usr/local/cuda};
 * Python environments' {@code site-packages/nvidia/<pkg>/lib} (where PyTorch installs put cuBLAS,
 * NVRTC and NCCL: the active virtualenv or conda env, pyenv versions, user and system site-packages);
 * the system library folders; finally the bare soname through the system loader's cache.
 *
 * <pre>{@code
 * NativeLibrary blas = NativeLibrary.load(Spec.of("OpenBLAS", "libopenblas.so.0", "libopenblas.so"));
 * MethodHandle sgemm = blas.downcall("cblas_sgemm", descriptor);
 * }</pre>
 */
public final class NativeLibrary {
    private static final Linker LINKER = Linker.nativeLinker();

    /**
     * What to look for: file names in order of preference, whether Python environments'
     * {@code site-packages/nvidia/<pkg>/lib} folders may hold it, and extra folders specific to this library.
     */
    public record Spec(String displayName, List<String> fileNames, boolean pythonNvidia, List<String> extraDirs,
                       boolean openGlobal) {
        public static Spec of(String displayName, String... fileNames) {
            return new Spec(displayName, List.of(fileNames), false, List.of(), false);
        }

        /** Also search {@code site-packages/nvidia/<pkg>/lib}, where pip-installed CUDA libraries live. */
        public Spec withPythonNvidia() {
            return new Spec(displayName, fileNames, true, extraDirs, openGlobal);
        }

        public Spec withExtraDirs(String... dirs) {
            return new Spec(displayName, fileNames, pythonNvidia, List.of(dirs), openGlobal);
        }

        /** Open with RTLD_GLOBAL so that plugins the library loads see its symbols. */
        public Spec globalSymbols() {
            return new Spec(displayName, fileNames, pythonNvidia, extraDirs, true);
        }
    }

    /** Outcome of a search: the path that loaded, or every place tried and the loader's errors. */
    public record Lookup(Spec spec, Optional<Path> path, List<String> searched, List<String> errors) {
        public boolean found() {
            return path.isPresent();
        }

        /** "OpenBLAS: /usr/lib/.../libopenblas.so.0" or "OpenBLAS: not found (looked in ...)". */
        public String describe() {
            if (found()) {
                return spec.displayName() + ": " + path.get();
            }
            return spec.displayName() + ": not found (" + String.join(" ", spec.fileNames()) + "; looked in "
                    + String.join(", ", searched) + (errors.isEmpty() ? "" : "; loader said: " + String.join("; ", errors))
                    + ")";
        }
    }

    private final Spec spec;
    private final Path path;
    private final MemorySegment handle;

    private NativeLibrary(Spec spec, Path path, MemorySegment handle) {
        this.spec = spec;
        this.path = path;
        this.handle = handle;
    }

    /** Finds and opens the library, or throws {@link NativeLibraryException} listing where it looked. */
    public static NativeLibrary load(Spec spec) {
        Lookup lookup = find(spec);
        if (!lookup.found()) {
            throw new NativeLibraryException(lookup.describe());
        }
        Path p = lookup.path().get();
        Dl.Opened o = Dl.open(p.toString(), Dl.RTLD_NOW | (spec.openGlobal() ? Dl.RTLD_GLOBAL : 0));
        if (!o.ok()) {
            throw new NativeLibraryException(spec.displayName() + ": " + p + " could not be loaded: " + o.error());
        }
        return new NativeLibrary(spec, p, o.handle());
    }

    /** Searches without throwing: tries to dlopen each candidate and keeps the first that loads. */
    public static Lookup find(Spec spec) {
        List<String> searched = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        for (Path dir : searchDirs(spec)) {
            searched.add(dir.toString());
            for (String name : spec.fileNames()) {
                Path candidate = dir.resolve(name);
                if (Files.isRegularFile(candidate)) {
                    Dl.Opened o = Dl.open(candidate.toString(), Dl.RTLD_NOW | (spec.openGlobal() ? Dl.RTLD_GLOBAL : 0));
                    if (o.ok()) {
                        return new Lookup(spec, Optional.of(candidate.toAbsolutePath()), searched, errors);
                    }
                    errors.add(o.error());
                }
            }
        }
        searched.add("the system loader cache (ldconfig)");
        for (String name : spec.fileNames()) {
            Dl.Opened o = Dl.open(name, Dl.RTLD_NOW | (spec.openGlobal() ? Dl.RTLD_GLOBAL : 0));
            if (o.ok()) {
                return new Lookup(spec, Optional.of(Path.of(name)), searched, errors);
            }
            if (!o.error().contains("No such file")) {
                errors.add(o.error());
            }
        }
        return new Lookup(spec, Optional.empty(), searched, errors);
    }

    /** The folders searched for {@code spec}, in order, without duplicates. */
    public static List<Path> searchDirs(Spec spec) {
        Set<Path> dirs = new LinkedHashSet<>();
        for (String d : spec.extraDirs()) {
            dirs.add(Path.of(d));
        }
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            for (String d : ld.split(":")) {
                if (!d.isBlank()) {
                    dirs.add(Path.of(d));
                }
            }
        }
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String home = System.getenv(env);
            if (home != null && !home.isBlank()) {
                addCudaHome(dirs, Path.of(home));
            }
        }
        addCudaHome(dirs, Path.of("/usr/local/cuda"));
        if (spec.pythonNvidia()) {
            for (Path site : sitePackages()) {
                Path nvidia = site.resolve("nvidia");
                if (!Files.isDirectory(nvidia)) {
                    continue;
                }
                try (DirectoryStream<Path> pkgs = Files.newDirectoryStream(nvidia)) {
                    List<Path> sorted = new ArrayList<>();
                    pkgs.forEach(sorted::add);
                    sorted.sort(null);
                    for (Path pkg : sorted) {
                        dirs.add(pkg.resolve("lib"));
                    }
                } catch (IOException e) {
                    // skip unreadable folders
                }
            }
        }
        for (String d : new String[] {"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
                "/usr/local/lib"}) {
            dirs.add(Path.of(d));
        }
        dirs.removeIf(p -> !Files.isDirectory(p));
        return new ArrayList<>(dirs);
    }

    private static void addCudaHome(Set<Path> dirs, Path home) {
        dirs.add(home.resolve("lib64"));
        dirs.add(home.resolve("lib"));
        dirs.add(home.resolve("targets/x86_64-linux/lib"));
    }

    /** Python site-packages folders of the active and installed environments. */
    static List<Path> sitePackages() {
        List<Path> roots = new ArrayList<>();
        for (String env : new String[] {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
            String v = System.getenv(env);
            if (v != null && !v.isBlank()) {
                roots.add(Path.of(v, "lib"));
            }
        }
        String home = System.getProperty("user.home");
        roots.add(Path.of(home, ".local", "lib"));
        Path pyenv = Path.of(home, ".pyenv", "versions");
        if (Files.isDirectory(pyenv)) {
            try (DirectoryStream<Path> versions = Files.newDirectoryStream(pyenv)) {
                for (Path v : versions) {
                    roots.add(v.resolve("lib"));
                }
            } catch (IOException e) {
                // an unreadable pyenv folder is just not searched
            }
        }
        roots.add(Path.of("/usr/local/lib"));
        roots.add(Path.of("/usr/lib"));
        roots.add(Path.of("/opt/conda/lib"));
        List<Path> sites = new ArrayList<>();
        for (Path root : roots) {
            if (!Files.isDirectory(root)) {
                continue;
            }
            try (DirectoryStream<Path> pys = Files.newDirectoryStream(root, "python3*")) {
                for (Path py : pys) {
                    for (String sub : new String[] {"site-packages", "dist-packages"}) {
                        Path s = py.resolve(sub);
                        if (Files.isDirectory(s)) {
                            sites.add(s);
                        }
                    }
                }
            } catch (IOException e) {
                // skip unreadable folders
            }
        }
        return sites;
    }

    public Spec spec() {
        return spec;
    }

    public Path path() {
        return path;
    }

    /** Address of a symbol, or a {@link NativeLibraryException} naming the library and symbol. */
    public MemorySegment symbol(String name) {
        MemorySegment s = Dl.symbol(handle, name);
        if (s == null) {
            throw new NativeLibraryException(spec.displayName() + " (" + path + ") has no symbol " + name);
        }
        return s;
    }

    /** True if the library exports {@code name}. */
    public boolean hasSymbol(String name) {
        return Dl.symbol(handle, name) != null;
    }

    /** A downcall handle for {@code name} with the given C signature. */
    public MethodHandle downcall(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        return LINKER.downcallHandle(symbol(name), descriptor, options);
    }
}
