package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.time.Duration;
import java.util.List;
import org.internlmj.ffm.NativeLibraryException;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.cuda.CudaProvider;
import org.internlmj.tensor.cuda.GpuCheck;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

class NcclProcessGroupTest {

    @Test
    void withoutNcclTheReasonSaysWhereItLooked() {
        String why = NcclProcessGroup.unavailableReason();
        assumeTrue(why != null, "NCCL is installed here: nothing missing to report");
        assertTrue(why.contains("libnccl.so.2") && why.contains("looked in"), why);
        NativeLibraryException e = assertThrows(NativeLibraryException.class,
                () -> NcclProcessGroup.create(0, 1, Device.cuda(0), id -> id, Duration.ofSeconds(1), "world"));
        assertTrue(e.getMessage().contains("NCCL"), e.getMessage());
    }

    @Test
    void rankOutsideTheGroupIsRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> NcclProcessGroup.create(2, 2, Device.cuda(0), id -> id, Duration.ofSeconds(1), "world"));
    }

    /** One rank per visible GPU (one rank on a one-GPU machine), every collective checked. */
    @Test
    @Tag("gpu")
    void collectivesOnTheVisibleGpus() {
        String gpu = new CudaProvider().unavailableReason(Device.cuda(0));
        assumeTrue(gpu == null, "no CUDA device: " + gpu);
        String nccl = NcclProcessGroup.unavailableReason();
        assumeTrue(nccl == null, "no NCCL: " + nccl);
        int ranks = 1;
        while (new CudaProvider().unavailableReason(Device.cuda(ranks)) == null) {
            ranks++;
        }
        List<GpuCheck.Result> results = NcclCheck.run(ranks, System.out);
        assertNotNull(results);
        assertTrue(results.stream().allMatch(GpuCheck.Result::passed), results.toString());
    }
}
