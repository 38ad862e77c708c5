package org.internlmj.tensor.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * The AdamW step on the device (adamw.cu), for one tensor or many in one launch. The host cuts each
 * tensor into chunks of {@link #CHUNK} elements and writes a table mapping every block to a (tensor,
 * chunk) pair into the kernel's {@code AdamWList} argument, so a step over hundreds of small tensors
 * costs a few launches. The arithmetic is the CPU backend's, rounded operation by operation: the GPU
 * and CPU steps agree bit for bit.
 */
final class CudaAdamW {
    static final int MAX_TENSORS = 24;
    static final int MAX_BLOCKS = 320;
    static final int CHUNK = 65536;
    private static final int BLOCK = 512;

    /** Byte offsets of {@code AdamWList} (asserted in adamw.cu). */
    static final long LIST_N = 0;
    static final long LIST_P = 192;
    static final long LIST_G = 384;
    static final long LIST_M = 576;
    static final long LIST_V = 768;
    static final long LIST_COPY = 960;
    static final long LIST_GRAD_DTYPE = 1152;
    static final long LIST_COPY_DTYPE = 1156;
    static final long LIST_COUNT = 1160;
    static final long LIST_BLOCK_TENSOR = 1164;
    static final long LIST_BLOCK_CHUNK = 1484;
    static final long LIST_BYTES = 2768;

    private static final ThreadLocal<MemorySegment> LIST = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(LIST_BYTES, 8));

    private CudaAdamW() {
    }

    /** One tensor's operands; {@code copy} may be null. */
    record Slot(Tensor param, Tensor grad, Tensor m, Tensor v, Tensor copy) {
    }

    static void adamw(CudaBackend b, List<Slot> slots, AdamWStep step) {
        String op = "adamw";
        List<Slot> ready = new ArrayList<>();
        List<Tensor> temporaries = new ArrayList<>();
        List<Tensor[]> copyBacks = new ArrayList<>();
        try {
            for (Slot s : slots) {
                b.checkDevice(op, s.param(), s.grad(), s.m(), s.v(), s.copy());
                OpChecks.dtype(op, "param", s.param(), DType.F32);
                OpChecks.dtype(op, "m", s.m(), DType.F32);
                OpChecks.dtype(op, "v", s.v(), DType.F32);
                OpChecks.sameShape(op, s.param(), "param", s.grad(), "grad");
                OpChecks.sameShape(op, s.param(), "param", s.m(), "m");
                OpChecks.sameShape(op, s.param(), "param", s.v(), "v");
                OpChecks.rowMajor(op, s.param(), s.m(), s.v());
                b.checkCompute(op, s.grad(), s.copy());
                Tensor grad = s.grad();
                if (!grad.isContiguous()) {
                    grad = b.temporary(grad.dtype(), grad.shape());
                    temporaries.add(grad);
                    b.copy(s.grad(), grad);
                }
                Tensor copy = s.copy();
                if (copy != null) {
                    OpChecks.sameShape(op, s.param(), "param", copy, "modelCopy");
                    if (!copy.isContiguous()) {
                        copy = b.temporary(copy.dtype(), copy.shape());
                        temporaries.add(copy);
                        copyBacks.add(new Tensor[] {copy, s.copy()});
                    }
                }
                if (s.param().numel() > 0) {
                    ready.add(new Slot(s.param(), grad, s.m(), s.v(), copy));
                }
            }
            launchAll(b, ready, step);
            for (Tensor[] cb : copyBacks) {
                b.copy(cb[0], cb[1]);
            }
        } finally {
            for (Tensor t : temporaries) {
                t.close();
            }
        }
    }

    /** Groups slots by (grad dtype, copy dtype) and fills launches up to the table's limits. */
    private static void launchAll(CudaBackend b, List<Slot> slots, AdamWStep step) {
        List<Slot> remaining = new ArrayList<>(slots);
        while (!remaining.isEmpty()) {
            Slot first = remaining.getFirst();
            DType g = first.grad().dtype();
            DType c = first.copy() == null ? null : first.copy().dtype();
            List<Slot> group = new ArrayList<>();
            for (Slot s : remaining) {
                if (s.grad().dtype() == g && (s.copy() == null ? null : s.copy().dtype()) == c) {
                    group.add(s);
                }
            }
            remaining.removeAll(group);
            launchGroup(b, group, g, c, step);
        }
    }

    private static void launchGroup(CudaBackend b, List<Slot> group, DType gradType, DType copyType,
                                    AdamWStep step) {
        MemorySegment list = LIST.get();
        int tensors = 0;
        int blocks = 0;
        list.fill((byte) 0);
        for (Slot s : group) {
            int n = s.param().numel();
            int chunks = (n + CHUNK - 1) / CHUNK;
            for (int chunk = 0; chunk < chunks; chunk++) {
                if (chunk == 0) {
                    if (tensors == MAX_TENSORS) {
                        flush(b, list, tensors, blocks, gradType, copyType, step);
                        tensors = 0;
                        blocks = 0;
                    }
                    writeTensor(b, list, tensors++, s);
                }
                if (blocks == MAX_BLOCKS) {
                    flush(b, list, tensors, blocks, gradType, copyType, step);
                    // The tensor in progress continues as entry 0 of the next launch.
                    tensors = 0;
                    blocks = 0;
                    writeTensor(b, list, tensors++, s);
                }
                list.set(ValueLayout.JAVA_BYTE, LIST_BLOCK_TENSOR + blocks, (byte) (tensors - 1));
                list.set(ValueLayout.JAVA_INT, LIST_BLOCK_CHUNK + 4L * blocks, chunk);
                blocks++;
            }
        }
        if (blocks > 0) {
            flush(b, list, tensors, blocks, gradType, copyType, step);
        }
    }

    private static void writeTensor(CudaBackend b, MemorySegment list, int i, Slot s) {
        list.set(ValueLayout.JAVA_LONG, LIST_N + 8L * i, s.param().numel());
        list.set(ValueLayout.JAVA_LONG, LIST_P + 8L * i, CudaStorage.address(s.param()));
        list.set(ValueLayout.JAVA_LONG, LIST_G + 8L * i, CudaStorage.address(s.grad()));
        list.set(ValueLayout.JAVA_LONG, LIST_M + 8L * i, CudaStorage.address(s.m()));
        list.set(ValueLayout.JAVA_LONG, LIST_V + 8L * i, CudaStorage.address(s.v()));
        list.set(ValueLayout.JAVA_LONG, LIST_COPY + 8L * i, s.copy() == null ? 0 : CudaStorage.address(s.copy()));
    }

    private static void flush(CudaBackend b, MemorySegment list, int tensors, int blocks, DType gradType,
                              DType copyType, AdamWStep step) {
        list.set(ValueLayout.JAVA_INT, LIST_GRAD_DTYPE, gradType.ordinal());
        list.set(ValueLayout.JAVA_INT, LIST_COPY_DTYPE, copyType == null ? 0 : copyType.ordinal());
        list.set(ValueLayout.JAVA_INT, LIST_COUNT, tensors);
        // torch's (and the CPU backend's) fp32 scalars: combined in double, rounded once.
        KernelArgs a = KernelArgs.begin().struct(list, 8)
                .f32((float) (1.0 - step.lr() * step.weightDecay()))
                .f32((float) step.gradScale())
                .f32((float) step.beta1())
                .f32((float) (1.0 - step.beta1()))
                .f32((float) step.beta2())
                .f32((float) (1.0 - step.beta2()))
                .f32((float) (step.lr() / step.biasCorrection1()))
                .f32((float) Math.sqrt(step.biasCorrection2()))
                .f32((float) step.eps());
        CudaKernels k = b.kernels();
        k.launch(k.get("adamw", "adamw_multi"), blocks, 1, BLOCK, 0, a);
        list.fill((byte) 0);
    }
}
