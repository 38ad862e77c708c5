package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.KernelTesting.assertSameBits;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.internlmj.tensor.Backend.Distribution;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

class RandomFillTest {
    private static final ReferenceBackend REF = new ReferenceBackend();

    @Test
    void numbersAreTheReferencesForEveryDtypeSizeAndThreadCount() {
        KernelTesting.withOneAndTwoThreads((one, two) -> {
            for (Distribution dist : Distribution.values()) {
                for (DType t : DType.values()) {
                    for (int n : new int[] {1, 7, 4095, 4097, 33_333}) {
                        long offset = n * 31L + (1L << 33);
                        Tensor expected = KernelTesting.sentinel(t, n);
                        REF.fillRandom(expected, dist, -0.5, 2.0, 1234567890123L, offset);
                        Tensor a = KernelTesting.sentinel(t, n);
                        Tensor b = KernelTesting.sentinel(t, n);
                        one.fillRandom(a, dist, -0.5, 2.0, 1234567890123L, offset);
                        two.fillRandom(b, dist, -0.5, 2.0, 1234567890123L, offset);
                        assertSameBits(expected, a, dist + " " + t + " n=" + n + " 1 thread");
                        assertSameBits(expected, b, dist + " " + t + " n=" + n + " 2 threads");
                    }
                }
            }
        });
    }

    @Test
    void aContiguousViewUsesCountersFromItsFirstElement() {
        CpuBackend cpu = CpuBackend.shared();
        Tensor base = KernelTesting.sentinel(DType.F32, 10, 8);
        Tensor rows = base.narrow(0, 3, 4);
        cpu.fillRandom(rows, Distribution.NORMAL, 0, 1, 7, 100);
        Tensor expected = KernelTesting.sentinel(DType.F32, 10, 8);
        REF.fillRandom(expected.narrow(0, 3, 4), Distribution.NORMAL, 0, 1, 7, 100);
        assertSameBits(expected, base, "rows 3..6 only");
    }

    @Test
    void aStridedTensorIsAnError() {
        Tensor t = Tensor.zeros(DType.F32, Device.CPU, 4, 5).transpose(0, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CpuBackend.shared().fillRandom(t, Distribution.UNIFORM, 0, 1, 1, 0));
        assertTrue(e.getMessage().contains("contiguous"), e.getMessage());
    }
}
