package org.internlmj.tensor.cuda;

import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * RMSNorm and LayerNorm, forward and backward, on the device (rmsnorm.cu, layernorm.cu). The weight
 * (and bias) gradients are sums over rows: each block of a fixed grid writes its own partial row, and a
 * second kernel adds the partials in block order, so the gradients are the same on every run.
 */
final class CudaNorms {
    private CudaNorms() {
    }

    /** Blocks of the backward grid: enough to fill the device twice, never more than the rows. */
    private static int backwardGrid(CudaBackend b, int rows) {
        return Math.max(1, Math.min(rows, 2 * b.context().multiprocessors()));
    }

    private static void stats(String op, String what, Tensor t, int n) {
        OpChecks.dtype(op, what, t, DType.F32);
        OpChecks.shape(op, what, t, n);
    }

    static void rmsNorm(CudaBackend b, Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd) {
        String op = "rmsNorm";
        b.checkDevice(op, x, weight, y, rstd);
        b.checkCompute(op, x, weight, y);
        int[] nh = CudaRows.check(op, x, y);
        OpChecks.shape(op, "weight", weight, nh[1]);
        stats(op, "rstd", rstd, nh[0]);
        if (nh[0] == 0) {
            return;
        }
        if (nh[1] == 0) {
            b.fill(rstd, Double.NaN);
            return;
        }
        CudaIter rows = CudaRows.of(x, y);
        KernelArgs a = KernelArgs.begin().operand(b.base(x), b.code(x), rows, 0);
        a.pointer(CudaStorage.address(weight)).i32(b.code(weight)).i32(weight.stride(0));
        a.operand(b.base(y), b.code(y), rows, 1);
        a.pointer(CudaStorage.address(rstd)).i32(rstd.stride(0));
        rows.writeShape(a);
        a.i32(nh[0]).i32(nh[1]).f32(eps);
        CudaKernels k = b.kernels();
        k.launch(k.get("rmsnorm", "rmsnorm_fwd"), CudaRows.grid(nh[0]), 1, CudaRows.block(nh[1]), 0, a);
    }

    static void rmsNormBackward(CudaBackend b, Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx,
                                Tensor dweight) {
        String op = "rmsNormBackward";
        b.checkDevice(op, x, weight, rstd, dy, dx, dweight);
        b.checkCompute(op, x, weight, dy, dx, dweight);
        int[] nh = CudaRows.check(op, x, dy, dx);
        OpChecks.shape(op, "weight", weight, nh[1]);
        OpChecks.shape(op, "dweight", dweight, nh[1]);
        stats(op, "rstd", rstd, nh[0]);
        if (nh[1] == 0) {
            return;
        }
        if (nh[0] == 0) {
            b.fill(dweight, 0);
            return;
        }
        int grid = backwardGrid(b, nh[0]);
        try (DeviceBuffer partial = new DeviceBuffer(b.context(), 4L * grid * nh[1], op + " weight partials")) {
            CudaIter rows = CudaRows.of(x, dy, dx);
            KernelArgs a = KernelArgs.begin().operand(b.base(x), b.code(x), rows, 0);
            a.pointer(CudaStorage.address(weight)).i32(b.code(weight)).i32(weight.stride(0));
            a.pointer(CudaStorage.address(rstd)).i32(rstd.stride(0));
            a.operand(b.base(dy), b.code(dy), rows, 1);
            a.operand(b.base(dx), b.code(dx), rows, 2);
            rows.writeShape(a);
            a.i32(nh[0]).i32(nh[1]).pointer(partial.pointer());
            CudaKernels k = b.kernels();
            k.launch(k.get("rmsnorm", "rmsnorm_bwd"), grid, 1, CudaRows.block(nh[1]), 0, a);
            sumPartials(b, partial, grid, nh[1], dweight);
        }
    }

    /** {@code out[j] = sum over blocks of partial[block][j]} (norm_weight_sum). */
    private static void sumPartials(CudaBackend b, DeviceBuffer partial, int blocks, int h, Tensor out) {
        KernelArgs a = KernelArgs.begin().pointer(partial.pointer()).i32(blocks).i32(h)
                .pointer(CudaStorage.address(out)).i32(b.code(out)).i32(out.stride(0));
        CudaKernels k = b.kernels();
        k.launch(k.get("rmsnorm", "norm_weight_sum"), (h + 255) / 256, 1, 256, 0, a);
    }

    static void layerNorm(CudaBackend b, Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean,
                          Tensor rstd) {
        String op = "layerNorm";
        b.checkDevice(op, x, weight, bias, y, mean, rstd);
        b.checkCompute(op, x, weight, bias, y);
        int[] nh = CudaRows.check(op, x, y);
        OpChecks.shape(op, "weight", weight, nh[1]);
        if (bias != null) {
            OpChecks.shape(op, "bias", bias, nh[1]);
        }
        stats(op, "mean", mean, nh[0]);
        stats(op, "rstd", rstd, nh[0]);
        if (nh[0] == 0) {
            return;
        }
        if (nh[1] == 0) {
            b.fill(mean, Double.NaN);
            b.fill(rstd, Double.NaN);
            return;
        }
        CudaIter rows = CudaRows.of(x, y);
        KernelArgs a = KernelArgs.begin().operand(b.base(x), b.code(x), rows, 0);
        a.pointer(CudaStorage.address(weight)).i32(b.code(weight)).i32(weight.stride(0));
        if (bias != null) {
            a.pointer(CudaStorage.address(bias)).i32(b.code(bias)).i32(bias.stride(0)).i32(1);
        } else {
            a.pointer(0).i32(0).i32(0).i32(0);
        }
        a.operand(b.base(y), b.code(y), rows, 1);
        a.pointer(CudaStorage.address(mean)).i32(mean.stride(0));
        a.pointer(CudaStorage.address(rstd)).i32(rstd.stride(0));
        rows.writeShape(a);
        a.i32(nh[0]).i32(nh[1]).f32(eps);
        CudaKernels k = b.kernels();
        k.launch(k.get("layernorm", "layernorm_fwd"), CudaRows.grid(nh[0]), 1, CudaRows.block(nh[1]), 0, a);
    }

    static void layerNormBackward(CudaBackend b, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy,
                                  Tensor dx, Tensor dweight, Tensor dbias) {
        String op = "layerNormBackward";
        b.checkDevice(op, x, weight, mean, rstd, dy, dx, dweight, dbias);
        b.checkCompute(op, x, weight, dy, dx, dweight, dbias);
        int[] nh = CudaRows.check(op, x, dy, dx);
        OpChecks.shape(op, "weight", weight, nh[1]);
        OpChecks.shape(op, "dweight", dweight, nh[1]);
        if (dbias != null) {
            OpChecks.shape(op, "dbias", dbias, nh[1]);
        }
        stats(op, "mean", mean, nh[0]);
        stats(op, "rstd", rstd, nh[0]);
        if (nh[1] == 0) {
            return;
        }
        if (nh[0] == 0) {
            b.fill(dweight, 0);
            if (dbias != null) {
                b.fill(dbias, 0);
            }
            return;
        }
        int grid = backwardGrid(b, nh[0]);
        try (DeviceBuffer pw = new DeviceBuffer(b.context(), 4L * grid * nh[1], op + " weight partials");
             DeviceBuffer pb = new DeviceBuffer(b.context(), 4L * grid * nh[1], op + " bias partials")) {
            CudaIter rows = CudaRows.of(x, dy, dx);
            KernelArgs a = KernelArgs.begin().operand(b.base(x), b.code(x), rows, 0);
            a.pointer(CudaStorage.address(weight)).i32(b.code(weight)).i32(weight.stride(0));
            a.pointer(CudaStorage.address(mean)).i32(mean.stride(0));
            a.pointer(CudaStorage.address(rstd)).i32(rstd.stride(0));
            a.operand(b.base(dy), b.code(dy), rows, 1);
            a.operand(b.base(dx), b.code(dx), rows, 2);
            rows.writeShape(a);
            a.i32(nh[0]).i32(nh[1]).pointer(pw.pointer()).pointer(pb.pointer());
            CudaKernels k = b.kernels();
            k.launch(k.get("layernorm", "layernorm_bwd"), grid, 1, CudaRows.block(nh[1]), 0, a);
            sumPartials(b, pw, grid, nh[1], dweight);
            if (dbias != null) {
                sumPartials(b, pb, grid, nh[1], dbias);
            }
        }
    }
}
