package org.internlmj.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.cuda.CudaProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GpuCheckCommandTest {

    @Test
    void withoutAGpuItChecksTheHeadersThenStopsWithTheReason(@TempDir Path out) throws Exception {
        String why = new CudaProvider().unavailableReason(Device.cuda(0));
        assumeTrue(why != null, "a CUDA device is available: the full check runs in GPU sessions instead");
        MainTest.Result r = MainTest.run("gpu-check", "--out", out.toString(), "--no-bench");
        assertEquals(1, r.code(), r.out() + r.err());
        String log = Files.readString(out.resolve("gpu-check.log"));
        assertTrue(log.contains("== bindings against the real headers"), log);
        assertTrue(log.contains("cuda.h: "), log);
        assertFalse(log.contains("cuda.h: FAILED"), log);
        assertTrue(r.out().contains("cuda:0 unavailable: " + why), r.out());
    }

    @Test
    void hiddenFromHelpButInfoNamesTheCudaBackend() {
        MainTest.Result help = MainTest.run("--help");
        assertFalse(help.out().contains("gpu-check"), help.out());
        MainTest.Result info = MainTest.run("info");
        assertTrue(info.out().contains("cuda backend: "), info.out());
    }
}
