package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.internlmj.dist.MpiStaging.Wire;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** The staging pool and the heap/native copies, without MPI (wire types carry no MPI handle here). */
class MpiStagingTest {
    private static Wire wire(DType dt, boolean widened) {
        int bytes = widened ? 4 : dt.byteSize();
        return new Wire(dt, widened, MemorySegment.NULL, bytes);
    }

    @Test
    void sizeClassesWasteAtMostAQuarter() {
        assertEquals(4096, MpiStaging.sizeClass(1));
        assertEquals(4096, MpiStaging.sizeClass(4096));
        assertEquals(5120, MpiStaging.sizeClass(4097));
        assertEquals(64L << 20, MpiStaging.sizeClass(64L << 20));
        assertEquals(80L << 20, MpiStaging.sizeClass((64L << 20) + 1));
        Random r = new Random(1);
        for (int i = 0; i < 10_000; i++) {
            long b = 1 + (r.nextLong() & ((1L << 34) - 1));
            long c = MpiStaging.sizeClass(b);
            assertTrue(c >= b && (b <= 4096 || c <= b * 1.25 + 1), b + " -> " + c);
        }
    }

    @Test
    void segmentsAreReusedOnlyAfterRelease() {
        try (MpiStaging pool = new MpiStaging()) {
            MemorySegment a = pool.acquire(10_000);
            MemorySegment b = pool.acquire(10_000);
            assertNotSame(a, b);
            assertEquals(0, a.address() % 64);
            pool.release(a);
            assertSame(a, pool.acquire(9_000), "a segment of the same class comes back");
            assertEquals(2, pool.outstanding());
            pool.release(a);
            pool.release(b);
            assertEquals(0, pool.outstanding());
        }
    }

    @Test
    void closingWithASegmentStillOutLeavesItsMemoryAlone() {
        MpiStaging pool = new MpiStaging();
        MemorySegment held = pool.acquire(100);
        pool.close();
        held.set(ValueLayout.JAVA_INT, 0, 7);
        assertEquals(7, held.get(ValueLayout.JAVA_INT, 0), "a buffer MPI may still own must stay valid");
        assertThrows(IllegalStateException.class, () -> pool.acquire(1));
    }

    @Test
    void roundTripsEveryDtypeAtAnOffset() {
        Random r = new Random(2);
        float[] values = new float[100_003];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) r.nextGaussian() * 100;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(8L * values.length + 64, 64);
            for (DType dt : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F64}) {
                for (boolean widen : dt == DType.BF16 || dt == DType.F16 ? new boolean[] {false, true}
                        : new boolean[] {false}) {
                    Tensor src = Tensor.of(values, dt, values.length);
                    Tensor dst = Tensor.zeros(dt, Device.CPU, values.length);
                    MpiStaging.toWire(src, wire(dt, widen), seg, 16);
                    MpiStaging.fromWire(seg, 16, wire(dt, widen), dst, 1);
                    assertArrayEquals(src.toFloatArray(), dst.toFloatArray(), 0f, dt + " widened " + widen);
                }
            }
            Tensor ints = Tensor.ofLongs(new long[] {1L << 50, -3, 7}, 3);
            Tensor back = Tensor.ofLongs(new long[3], 3);
            MpiStaging.toWire(ints, wire(DType.I64, false), seg, 8);
            MpiStaging.fromWire(seg, 8, wire(DType.I64, false), back, 1);
            assertArrayEquals(ints.toLongArray(), back.toLongArray());
        }
    }

    @Test
    void widenedHalvesAreFp32OnTheWireAndDividedBeforeRounding() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(1 << 20, 64);
            // A view at an offset into a larger tensor: the copies must honour it.
            Tensor big = Tensor.of(new float[] {9, 1.5f, -2.25f, 3}, DType.BF16, 4);
            Tensor view = big.narrow(0, 1, 2);
            MpiStaging.toWire(view, wire(DType.BF16, true), seg, 0);
            assertEquals(1.5f, seg.get(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(-2.25f, seg.get(ValueLayout.JAVA_FLOAT, 4));
            // 1 + 2^-8 + 2^-9 is not a BF16; divided by 3 and rounded once it must match RNE of the quotient.
            seg.set(ValueLayout.JAVA_FLOAT, 0, 3f * (1 + 0x1p-8f + 0x1p-9f));
            seg.set(ValueLayout.JAVA_FLOAT, 4, 7f);
            MpiStaging.fromWire(seg, 0, wire(DType.BF16, true), view, 3);
            float[] got = big.toFloatArray();
            assertEquals(9f, got[0]);
            assertEquals(DType.bf16BitsToFloat(DType.toBf16Bits(3f * (1 + 0x1p-8f + 0x1p-9f) / 3f)), got[1]);
            assertEquals(DType.bf16BitsToFloat(DType.toBf16Bits(7f / 3f)), got[2]);
            assertEquals(3f, got[3]);
        }
    }

    @Test
    void aCopyThatDoesNotFitIsRefusedBeforeTouchingMemory() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(40, 8);
            Tensor t = Tensor.of(new float[11], 11);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> MpiStaging.toWire(t, wire(DType.F32, false), seg, 0));
            assertTrue(e.getMessage().contains("44 bytes"), e.getMessage());
        }
    }

    @Test
    void mpiCallsRefuseCountsThatDoNotFitTheirBuffer() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(4096, 64);
            MpiComm.checkFits("MPI_Allreduce on world[0,1]", seg, 1024, 4);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> MpiComm.checkFits("MPI_Allreduce on world[0,1]", seg, 1025, 4));
            assertEquals("MPI_Allreduce on world[0,1]: 1025 elements of 4 bytes do not fit the 4096-byte buffer",
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> MpiComm.checkFits("x", seg, 1L << 31, 1));
        }
    }

    @Test
    void gpuAndStridedTensorsAreRefusedWithTheReason() {
        Tensor t = Tensor.of(new float[6], 2, 3).transpose(0, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MpiStaging.checkTensor("allReduce", "tensor", t));
        assertTrue(e.getMessage().contains("contiguous"), e.getMessage());
    }
}
