package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.internlmj.ffm.cuda.Cuda;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuBackend;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * Copies between CPU heap tensors and device tensors. Heap arrays cannot be handed to the driver, so
 * bytes travel through two pinned host buffers in turns: while the DMA engine moves one chunk, the CPU
 * fills (or drains) the other, each buffer guarded by an event. Layout and dtype changes happen on the
 * side where they are cheap: a strided or converted CPU source is densified by the CPU backend first, a
 * strided device destination is filled by a device copy from a contiguous staging tensor.
 */
final class CudaTransfer implements AutoCloseable {
    /** Bytes per pinned buffer. */
    static final long CHUNK = 8L << 20;

    private final CudaBackend backend;
    private final CudaContext context;
    private final MemorySegment[] pinned = new MemorySegment[2];
    private final CudaEvent[] drained = new CudaEvent[2];

    CudaTransfer(CudaBackend backend) {
        this.backend = backend;
        this.context = backend.context();
        if (context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 0; i < 2; i++) {
                MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
                Cuda.check(Cuda.cuMemHostAlloc(out, CHUNK, Cuda.CU_MEMHOSTALLOC_PORTABLE), "cuMemHostAlloc",
                        "pinned staging buffer of " + CHUNK + " bytes");
                pinned[i] = out.get(ValueLayout.ADDRESS, 0).reinterpret(CHUNK);
                drained[i] = CudaEvent.create(context, false);
            }
        }
    }

    /** {@code dst} (on this device) = {@code src} (on the CPU), same shape, converting the dtype. */
    synchronized void toDevice(Tensor src, Tensor dst) {
        checkShapes(src, dst);
        if (dst.numel() == 0) {
            return;
        }
        Tensor host = src;
        if (!src.isContiguous() || src.dtype() != dst.dtype()) {
            host = Tensor.view(CpuStorage.allocate(dst.dtype(), src.numel()), src.shape(),
                    Shapes.contiguousStrides(src.shape()), 0);
            CpuBackend.shared().copy(src, host);
        }
        long bytes = (long) host.numel() * dst.dtype().byteSize();
        MemorySegment heap = heapSegment((CpuStorage) host.storage());
        long heapOffset = (long) host.offset() * dst.dtype().byteSize();
        if (dst.isContiguous()) {
            upload(heap, heapOffset, CudaStorage.address(dst), bytes);
            return;
        }
        Tensor staging = backend.temporary(dst.dtype(), dst.shape());
        try {
            upload(heap, heapOffset, CudaStorage.address(staging), bytes);
            backend.copy(staging, dst);
        } finally {
            staging.close();
        }
    }

    /** {@code dst} (on the CPU) = {@code src} (on this device), same shape, converting the dtype. */
    synchronized void toHost(Tensor src, Tensor dst) {
        checkShapes(src, dst);
        if (src.numel() == 0) {
            backend.errors().check();
            return;
        }
        Tensor device = src;
        boolean ownDevice = false;
        if (!src.isContiguous()) {
            device = backend.temporary(src.dtype(), src.shape());
            ownDevice = true;
            backend.copy(src, device);
        }
        try {
            long bytes = (long) src.numel() * src.dtype().byteSize();
            Tensor host = dst;
            if (!dst.isContiguous() || dst.dtype() != src.dtype()) {
                host = Tensor.view(CpuStorage.allocate(src.dtype(), src.numel()), src.shape(),
                        Shapes.contiguousStrides(src.shape()), 0);
            }
            download(CudaStorage.address(device), heapSegment((CpuStorage) host.storage()),
                    (long) host.offset() * src.dtype().byteSize(), bytes);
            backend.errors().check();
            if (host != dst) {
                CpuBackend.shared().copy(host, dst);
            }
        } finally {
            if (ownDevice) {
                device.close();
            }
        }
    }

    private static void checkShapes(Tensor src, Tensor dst) {
        if (!src.sameShape(dst)) {
            throw new IllegalArgumentException("transfer from " + src + " to " + dst + ": shapes differ");
        }
    }

    /** The heap array behind a CPU storage as a memory segment. */
    static MemorySegment heapSegment(CpuStorage s) {
        return switch (s.dtype()) {
            case F32 -> MemorySegment.ofArray(s.f32());
            case F64 -> MemorySegment.ofArray(s.f64());
            case BF16, F16 -> MemorySegment.ofArray(s.bits16());
            case I32 -> MemorySegment.ofArray(s.i32());
            case I64 -> MemorySegment.ofArray(s.i64());
        };
    }

    /** Host bytes {@code [offset, offset + bytes)} of {@code heap} to device address {@code dst}. */
    synchronized void upload(MemorySegment heap, long offset, long dst, long bytes) {
        if (context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        MemorySegment stream = context.computeStream().handle();
        for (long done = 0, chunk = 0; done < bytes; done += CHUNK, chunk++) {
            int b = (int) (chunk & 1);
            long n = Math.min(CHUNK, bytes - done);
            drained[b].synchronize();
            MemorySegment.copy(heap, offset + done, pinned[b], 0, n);
            Cuda.check(Cuda.cuMemcpyHtoDAsync_v2(dst + done, pinned[b], n, stream), "cuMemcpyHtoDAsync_v2",
                    n + " bytes");
            drained[b].record(context.computeStream());
        }
    }

    /** Device bytes at {@code src} into host bytes {@code [offset, offset + bytes)} of {@code heap}. */
    synchronized void download(long src, MemorySegment heap, long offset, long bytes) {
        if (context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        long chunks = (bytes + CHUNK - 1) / CHUNK;
        if (chunks == 0) {
            return;
        }
        issueDownload(src, bytes, 0);
        for (long c = 0; c < chunks; c++) {
            if (c + 1 < chunks) {
                issueDownload(src, bytes, c + 1);
            }
            int b = (int) (c & 1);
            drained[b].synchronize();
            long n = Math.min(CHUNK, bytes - c * CHUNK);
            MemorySegment.copy(pinned[b], 0, heap, offset + c * CHUNK, n);
        }
    }

    private void issueDownload(long src, long bytes, long chunk) {
        int b = (int) (chunk & 1);
        long at = chunk * CHUNK;
        long n = Math.min(CHUNK, bytes - at);
        Cuda.check(Cuda.cuMemcpyDtoHAsync_v2(pinned[b], src + at, n, context.computeStream().handle()),
                "cuMemcpyDtoHAsync_v2", n + " bytes");
        drained[b].record(context.computeStream());
    }

    /** Reads {@code count} elements of a small device array of ints (e.g. cu_seqlens) to the host. */
    synchronized int[] readInts(long src, int count) {
        int[] out = new int[count];
        download(src, MemorySegment.ofArray(out), 0, 4L * count);
        return out;
    }

    /** Reads one double from the device. */
    synchronized double readDouble(long src) {
        double[] out = new double[1];
        download(src, MemorySegment.ofArray(out), 0, 8);
        return out[0];
    }

    @Override
    public synchronized void close() {
        if (context.isClosed() || context.isSimulated()) {
            return;
        }
        context.makeCurrent();
        for (int i = 0; i < 2; i++) {
            drained[i].synchronize();
            drained[i].close();
            Cuda.check(Cuda.cuMemFreeHost(pinned[i]), "cuMemFreeHost");
        }
    }
}
