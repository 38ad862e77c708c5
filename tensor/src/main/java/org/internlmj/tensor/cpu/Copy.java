package org.internlmj.tensor.cpu;

import java.util.Arrays;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * {@code fill} and {@code copy} for every dtype (F32, F64, BF16, F16, I32, I64) and every layout:
 * src is broadcast to dst's shape and converted to dst's dtype, both sides may be any strided view.
 *
 * <p>Conversions are those of {@link CpuStorage#set} applied to the source value as a double, so the
 * CPU backend converts exactly like the reference backend: floats round to nearest even
 * ({@link DType#toBf16Bits}, {@link DType#toF16Bits}, NaN included), floats to integers truncate toward
 * zero and saturate like a Java cast (NaN becomes 0). A copy within one dtype moves the bits unchanged.
 *
 * <p>Fast paths: same-dtype unit-stride runs are {@link System#arraycopy} (parallel for large
 * tensors); F32 to and from BF16/F16 convert with {@link FloatRuns} (vectorised for BF16); a broadcast
 * row is copied once per destination row; a transposed (or otherwise strided) 2-D pattern is copied in
 * square tiles staged through an L1-resident buffer. src and dst must not partially overlap.
 */
final class Copy {
    /** Elements per parallel task at least. */
    private static final int GRAIN = 1 << 16;
    /** Tile edge of the blocked (transposed) copy: a 64 x 64 float tile is 16 KiB, half of L1. */
    private static final int TILE = 64;
    /** Elements staged at a time by the generic converting path. */
    private static final int BLOCK = 512;
    private static final ThreadLocal<double[]> STAGE = ThreadLocal.withInitial(() -> new double[BLOCK]);
    private static final ThreadLocal<CpuStorage[]> TILES = ThreadLocal.withInitial(() -> new CpuStorage[DType.values().length]);

    private Copy() {
    }

    // ---------------------------------------------------------------- fill

    /** {@code out[...] = value}, converted to out's dtype as {@link CpuStorage#set} does. */
    static void fill(Parallel parallel, Tensor out, double value) {
        CpuStorage s = FloatRuns.storage("fill", out);
        Object array = array(s);
        Object one = newArray(s.dtype(), 1);
        encode(new double[] {value}, 0, s.dtype(), one, 0, 1, 1);
        Strided loop = Strided.of(out);
        int stride = loop.innerStride(0);
        loop.forEachSegment(parallel, GRAIN, (off, unused1, unused2, n) -> fillRun(array, one, off, stride, n));
    }

    private static void fillRun(Object array, Object one, int off, int stride, int n) {
        switch (array) {
            case float[] a -> {
                float v = ((float[]) one)[0];
                if (stride == 1) {
                    Arrays.fill(a, off, off + n, v);
                } else {
                    for (int i = 0; i < n; i++) {
                        a[off + i * stride] = v;
                    }
                }
            }
            case double[] a -> {
                double v = ((double[]) one)[0];
                if (stride == 1) {
                    Arrays.fill(a, off, off + n, v);
                } else {
                    for (int i = 0; i < n; i++) {
                        a[off + i * stride] = v;
                    }
                }
            }
            case short[] a -> {
                short v = ((short[]) one)[0];
                if (stride == 1) {
                    Arrays.fill(a, off, off + n, v);
                } else {
                    for (int i = 0; i < n; i++) {
                        a[off + i * stride] = v;
                    }
                }
            }
            case int[] a -> {
                int v = ((int[]) one)[0];
                if (stride == 1) {
                    Arrays.fill(a, off, off + n, v);
                } else {
                    for (int i = 0; i < n; i++) {
                        a[off + i * stride] = v;
                    }
                }
            }
            case long[] a -> {
                long v = ((long[]) one)[0];
                if (stride == 1) {
                    Arrays.fill(a, off, off + n, v);
                } else {
                    for (int i = 0; i < n; i++) {
                        a[off + i * stride] = v;
                    }
                }
            }
            default -> throw new IllegalStateException("not a storage array: " + array.getClass());
        }
    }

    // ---------------------------------------------------------------- copy

    /** {@code dst = src}, src broadcast to dst's shape and converted to dst's dtype. */
    static void copy(Parallel parallel, Tensor src, Tensor dst) {
        OpChecks.sameDevice("copy", src, dst);
        OpChecks.broadcastsTo("copy", src, dst);
        CpuStorage ss = FloatRuns.storage("copy", src);
        CpuStorage ds = FloatRuns.storage("copy", dst);
        Strided loop = Strided.of(dst, src.expand(dst.shape()));
        if (loop.total() == 0) {
            return;
        }
        int dStride = loop.innerStride(0);
        int sStride = loop.innerStride(1);
        int r = loop.rank();
        boolean strided = (sStride != 1 && sStride != 0) || dStride != 1;
        if (strided && r >= 2 && loop.size(r - 2) > 1 && loop.inner() > 1) {
            copyTiled(parallel, loop, ss, ds);
            return;
        }
        loop.forEachSegment(parallel, GRAIN, (dOff, sOff, unused, n) -> copyRun(ss, sOff, sStride, ds, dOff, dStride, n));
    }

    /**
     * The two innermost merged dimensions in TILE x TILE blocks, each staged through a per-thread tile
     * buffer of dst's dtype: the block is read along the side where src's stride is small and written
     * along the side where dst's is, so both sides move whole cache lines. (Walking straight down a
     * column of a 1024-wide float matrix instead touches lines 4 KiB apart, which share one L1 set
     * and evict each other: measured 8 ns per element.) Parallel over (outer index, row block).
     */
    private static void copyTiled(Parallel parallel, Strided loop, CpuStorage ss, CpuStorage ds) {
        int r = loop.rank();
        int rows = loop.size(r - 2);
        int cols = loop.size(r - 1);
        int dRow = loop.stride(0, r - 2);
        int dCol = loop.stride(0, r - 1);
        int sRow = loop.stride(1, r - 2);
        int sCol = loop.stride(1, r - 1);
        // read down columns (along rows) when that is src's short stride and dst writes along rows of the tile
        boolean readDown = Math.abs((long) sRow) + Math.abs((long) dCol) <= Math.abs((long) sCol) + Math.abs((long) dRow);
        int outer = loop.total() / (rows * cols);
        int rowBlocks = (rows + TILE - 1) / TILE;
        int tasks = outer * rowBlocks;
        int chunk = Math.max(1, GRAIN / Math.max(1, TILE * cols));
        parallel.forEach((tasks + chunk - 1) / chunk, t -> {
            CpuStorage tile = tile(ds.dtype());
            for (int u = t * chunk, end = Math.min(tasks, u + chunk); u < end; u++) {
                int o = u / rowBlocks;
                int i0 = (u % rowBlocks) * TILE;
                int h = Math.min(TILE, rows - i0);
                int dBase = loop.offset(0);
                int sBase = loop.offset(1);
                for (int d = r - 3, rem = o; d >= 0; d--) {
                    int idx = rem % loop.size(d);
                    rem /= loop.size(d);
                    dBase += idx * loop.stride(0, d);
                    sBase += idx * loop.stride(1, d);
                }
                for (int j0 = 0; j0 < cols; j0 += TILE) {
                    int w = Math.min(TILE, cols - j0);
                    int s0 = sBase + i0 * sRow + j0 * sCol;
                    int d0 = dBase + i0 * dRow + j0 * dCol;
                    if (readDown) {
                        // tile[j][i]: columns in, rows out
                        for (int j = 0; j < w; j++) {
                            copyRun(ss, s0 + j * sCol, sRow, tile, j * TILE, 1, h);
                        }
                        for (int i = 0; i < h; i++) {
                            copyRun(tile, i, TILE, ds, d0 + i * dRow, dCol, w);
                        }
                    } else {
                        // tile[i][j]: rows in, columns out
                        for (int i = 0; i < h; i++) {
                            copyRun(ss, s0 + i * sRow, sCol, tile, i * TILE, 1, w);
                        }
                        for (int j = 0; j < w; j++) {
                            copyRun(tile, j, TILE, ds, d0 + j * dCol, dRow, h);
                        }
                    }
                }
            }
        });
    }

    /** The calling thread's tile buffer of one dtype. */
    private static CpuStorage tile(DType t) {
        CpuStorage[] tiles = TILES.get();
        CpuStorage s = tiles[t.ordinal()];
        if (s == null) {
            s = CpuStorage.allocate(t, TILE * TILE);
            tiles[t.ordinal()] = s;
        }
        return s;
    }

    /** Copies one run of {@code n} elements: {@code dst[dOff + i*dStride] = src[sOff + i*sStride]}. */
    static void copyRun(CpuStorage ss, int sOff, int sStride, CpuStorage ds, int dOff, int dStride, int n) {
        DType st = ss.dtype();
        DType dt = ds.dtype();
        if (st == dt) {
            copySame(array(ss), sOff, sStride, array(ds), dOff, dStride, n);
        } else if (dt == DType.F32 && isHalf(st) && dStride == 1) {
            FloatRuns.gather(ss, sOff, sStride, ds.f32(), dOff, n);
        } else if (st == DType.F32 && isHalf(dt) && sStride == 1) {
            FloatRuns.scatter(ss.f32(), sOff, ds, dOff, dStride, n);
        } else {
            double[] stage = STAGE.get();
            Object sa = array(ss);
            Object da = array(ds);
            for (int done = 0; done < n; done += BLOCK) {
                int m = Math.min(BLOCK, n - done);
                decode(sa, st, sOff + done * sStride, sStride, stage, m);
                encode(stage, 0, dt, da, dOff + done * dStride, dStride, m);
            }
        }
    }

    private static boolean isHalf(DType t) {
        return t == DType.BF16 || t == DType.F16;
    }

    private static void copySame(Object src, int sOff, int sStride, Object dst, int dOff, int dStride, int n) {
        if (sStride == 1 && dStride == 1) {
            System.arraycopy(src, sOff, dst, dOff, n);
            return;
        }
        switch (src) {
            case float[] s -> {
                float[] d = (float[]) dst;
                for (int i = 0; i < n; i++) {
                    d[dOff + i * dStride] = s[sOff + i * sStride];
                }
            }
            case double[] s -> {
                double[] d = (double[]) dst;
                for (int i = 0; i < n; i++) {
                    d[dOff + i * dStride] = s[sOff + i * sStride];
                }
            }
            case short[] s -> {
                short[] d = (short[]) dst;
                for (int i = 0; i < n; i++) {
                    d[dOff + i * dStride] = s[sOff + i * sStride];
                }
            }
            case int[] s -> {
                int[] d = (int[]) dst;
                for (int i = 0; i < n; i++) {
                    d[dOff + i * dStride] = s[sOff + i * sStride];
                }
            }
            case long[] s -> {
                long[] d = (long[]) dst;
                for (int i = 0; i < n; i++) {
                    d[dOff + i * dStride] = s[sOff + i * sStride];
                }
            }
            default -> throw new IllegalStateException("not a storage array: " + src.getClass());
        }
    }

    /** {@code out[i] = src[off + i*stride]} as doubles (exact except I64 beyond 2^53, as the reference). */
    private static void decode(Object src, DType t, int off, int stride, double[] out, int n) {
        switch (t) {
            case F32 -> {
                float[] s = (float[]) src;
                for (int i = 0; i < n; i++) {
                    out[i] = s[off + i * stride];
                }
            }
            case F64 -> {
                double[] s = (double[]) src;
                for (int i = 0; i < n; i++) {
                    out[i] = s[off + i * stride];
                }
            }
            case BF16 -> {
                short[] s = (short[]) src;
                for (int i = 0; i < n; i++) {
                    out[i] = DType.bf16BitsToFloat(s[off + i * stride]);
                }
            }
            case F16 -> {
                short[] s = (short[]) src;
                for (int i = 0; i < n; i++) {
                    out[i] = Float.float16ToFloat(s[off + i * stride]);
                }
            }
            case I32 -> {
                int[] s = (int[]) src;
                for (int i = 0; i < n; i++) {
                    out[i] = s[off + i * stride];
                }
            }
            case I64 -> {
                long[] s = (long[]) src;
                for (int i = 0; i < n; i++) {
                    out[i] = s[off + i * stride];
                }
            }
        }
    }

    /** {@code dst[off + i*stride] = values[v0 + i]} converted as {@link CpuStorage#set} converts. */
    static void encode(double[] values, int v0, DType t, Object dst, int off, int stride, int n) {
        switch (t) {
            case F32 -> {
                float[] d = (float[]) dst;
                for (int i = 0; i < n; i++) {
                    d[off + i * stride] = (float) values[v0 + i];
                }
            }
            case F64 -> {
                double[] d = (double[]) dst;
                for (int i = 0; i < n; i++) {
                    d[off + i * stride] = values[v0 + i];
                }
            }
            case BF16 -> {
                short[] d = (short[]) dst;
                for (int i = 0; i < n; i++) {
                    d[off + i * stride] = DType.toBf16Bits((float) values[v0 + i]);
                }
            }
            case F16 -> {
                short[] d = (short[]) dst;
                for (int i = 0; i < n; i++) {
                    d[off + i * stride] = Float.floatToFloat16((float) values[v0 + i]);
                }
            }
            case I32 -> {
                int[] d = (int[]) dst;
                for (int i = 0; i < n; i++) {
                    d[off + i * stride] = (int) values[v0 + i];
                }
            }
            case I64 -> {
                long[] d = (long[]) dst;
                for (int i = 0; i < n; i++) {
                    d[off + i * stride] = (long) values[v0 + i];
                }
            }
        }
    }

    /** The heap array behind a storage, whatever its dtype. */
    static Object array(CpuStorage s) {
        return s.array();
    }

    private static Object newArray(DType t, int n) {
        return switch (t) {
            case F32 -> new float[n];
            case F64 -> new double[n];
            case BF16, F16 -> new short[n];
            case I32 -> new int[n];
            case I64 -> new long[n];
        };
    }
}
