package org.internlmj.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every kernel family compiles with NVRTC (the run-time compiler the backend uses, whose built-in headers
 * differ from nvcc's) to a CUBIN for sm_90, and the second compile comes from the on-disk cache. Needs
 * the NVRTC library, not a GPU; skipped, saying where NVRTC was looked for, elsewhere.
 */
class NvrtcCompileTest {

    @Test
    void everyFamilyCompilesAndIsCached(@TempDir Path cache) throws Exception {
        NativeLibrary.Lookup nvrtc = NativeLibrary.find(KnownLibraries.NVRTC);
        assumeTrue(nvrtc.found(), "no NVRTC: " + nvrtc.describe());
        String previous = System.getProperty("internlmj.kernel.cache");
        System.setProperty("internlmj.kernel.cache", cache.toString());
        try {
            for (String family : NvccKernels.FAMILIES) {
                KernelCompiler.Image first = KernelCompiler.compile(family, 90);
                assertTrue(!first.ptx() && first.bytes().length > 0 && !first.fromCache(), family);
                KernelCompiler.Image second = KernelCompiler.compile(family, 90);
                assertTrue(second.fromCache(), family + " was compiled again instead of read from the cache");
            }
            try (var files = Files.list(cache)) {
                assertTrue(files.count() >= NvccKernels.FAMILIES.size());
            }
        } finally {
            if (previous == null) {
                System.clearProperty("internlmj.kernel.cache");
            } else {
                System.setProperty("internlmj.kernel.cache", previous);
            }
        }
    }
}
