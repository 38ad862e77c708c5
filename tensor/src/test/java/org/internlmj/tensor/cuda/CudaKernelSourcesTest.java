package org.internlmj.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Every kernel source compiles for Hopper with nvcc (no GPU needed), ptxas's register and spill report
 * is printed, and the sources stay compilable by NVRTC (no host headers).
 */
class CudaKernelSourcesTest {

    @Test
    void everyFamilyCompilesForSm90AndReportsResources() {
        assumeTrue(NvccKernels.nvcc().isPresent(), "no nvcc (CUDA_HOME/bin, /usr/local/cuda/bin, PATH): "
                + "kernel sources not compiled");
        StringBuilder report = new StringBuilder("ptxas -v, sm_90:\n");
        for (String family : NvccKernels.FAMILIES) {
            NvccKernels.Build b = NvccKernels.build(family);
            List<String> lines = NvccKernels.resourceLines(b.ptxasLog());
            assertFalse(lines.isEmpty(), family + ".cu: no kernels in the ptxas report:\n" + b.ptxasLog());
            assertEquals(b.signatures().size(), lines.size(), family + ": PTX entries and ptxas report disagree");
            report.append(family).append(".cu\n");
            for (String l : lines) {
                report.append("  ").append(l).append('\n');
                assertTrue(l.contains("spills 0/0 B"), family + ": a kernel spills registers: " + l);
            }
        }
        System.out.println(report);
    }

    @Test
    void sourcesIncludeOnlyWhatNvrtcShips() throws IOException {
        Set<String> allowed = Set.of("\"common.cuh\"", "<cuda_fp16.h>", "<cuda_bf16.h>");
        Pattern include = Pattern.compile("^\\s*#\\s*include\\s+(\\S+)", Pattern.MULTILINE);
        Path dir = NvccKernels.sourceDir();
        for (String family : NvccKernels.FAMILIES) {
            check(dir.resolve(family + ".cu"), include, allowed);
        }
        check(dir.resolve(KernelCompiler.HEADER), include, allowed);
    }

    private static void check(Path file, Pattern include, Set<String> allowed) throws IOException {
        String src = Files.readString(file);
        Matcher m = include.matcher(src);
        while (m.find()) {
            assertTrue(allowed.contains(m.group(1)), file.getFileName() + " includes " + m.group(1)
                    + ": NVRTC compiles without the host's headers; only " + allowed + " may be included");
        }
        assertTrue(src.startsWith("// " + file.getFileName()), file.getFileName()
                + " must open with a header comment naming the file and listing its kernels");
    }
}
