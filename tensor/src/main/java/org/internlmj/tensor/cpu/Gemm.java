package org.internlmj.tensor.cpu;

import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicBoolean;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * The CPU GEMM, {@code c = alpha * a @ b + beta * c} ({@link org.internlmj.tensor.Backend#matmul}):
 * packed panels and register-blocked Vector API micro-kernels ({@link GemmKernels}) on heap arrays,
 * on every core.
 *
 * <p>Blocking (Goto/BLIS): for each block of {@link #NC} columns and each {@link #KC}-deep slice of K,
 * B's slice is packed into micro-panels {@code NR} columns wide; for each block of {@link #MC} rows,
 * A's slice is packed into micro-panels of 12 (or 6) rows; then each A micro-panel walks along its row
 * of C tiles, which keeps it in L1 while B's micro-panels stream past it. Packing ({@link GemmPacking})
 * absorbs transposed and strided views and BF16/F16 inputs, so every layout runs the same kernels.
 *
 * <p>Threads: when C has enough rows, the threads split C's rows and together pack each B slice into
 * one shared (double-buffered) buffer, meeting at a barrier once per slice; with few rows (M up to
 * about 2 micro-panels per thread) they split B's columns instead and each packs its own. K is never
 * split, and every element is the same chain of fused multiply-adds whatever the tile, kernel or
 * thread, so results are identical run to run and for every thread count.
 *
 * <p>Accumulation is fp32. An F32 C with unit column stride is updated in place; any other C (BF16,
 * F16, or a transposed view) accumulates in an fp32 scratch and is rounded once at the end.
 */
public final class Gemm {
    /*
     * Block sizes. On the 2-core AVX-512 VM of MEASURED.md, interleaved against OpenBLAS in one JVM,
     * 384/96/2048 ran 5-10% faster than the 256/192/1024 found earlier (the difference between
     * neighbouring choices was within that machine's noise). An A micro-panel (12 x 384 floats, 18 KiB)
     * stays in L1 while it walks its row of tiles; an A block (96 x 384, 144 KiB) stays in L2; a packed B
     * slice (384 x 2048, 3 MiB) is shared by the threads from L3.
     */
    /** Depth of a K slice. */
    static final int KC = 384;
    /** Rows of an A block; a multiple of every kernel's row count. */
    static final int MC = 96;
    /** Columns of a B block; a multiple of NR. */
    static final int NC = 2048;
    /** Below this many flops a GEMM runs on the calling thread: waking the pool costs more than it gains. */
    private static final long SINGLE_THREAD_FLOPS = 1L << 21;
    /**
     * Products of at most this many multiply-adds (per batch) run as scalar loops: packing and tiles
     * cost more than they save there, and tests full of tiny products never wait for the JIT.
     */
    static final int SCALAR_MACS = 4096;
    /**
     * Calls per kernel in the one-time warm-up. The Vector API is intrinsified only by C2, which
     * compiles a method after ~5000 calls; until then every vector operation is a boxed Java fallback,
     * hundreds of times slower, and a kernel used only for edge tiles can stay cold for many GEMMs.
     */
    private static final int WARMUP_CALLS = 6000;
    private static final AtomicBoolean WARM = new AtomicBoolean();

    private static final VectorSpecies<Float> S = GemmKernels.S;
    private static final int L = GemmKernels.L;
    private static final int NR = GemmKernels.NR;

    private final Parallel parallel;
    private final int mainRows;
    private final int kcBlock;
    private final int mcBlock;
    private final int ncBlock;
    /** Packing buffers, reused across calls; a caller that finds them in use gets its own set. */
    private final ConcurrentLinkedDeque<Workspace> workspaces = new ConcurrentLinkedDeque<>();

    /** A GEMM that runs on {@code parallel}'s threads with the micro-kernel suited to this CPU. */
    public Gemm(Parallel parallel) {
        this(parallel, GemmKernels.defaultMainRows());
    }

    /** With a chosen main kernel height (12 or 6): tests run both on any CPU. */
    Gemm(Parallel parallel, int mainRows) {
        this(parallel, mainRows, KC, MC, NC);
    }

    /** With chosen block sizes, to compare them in one JVM (on a shared machine, runs apart differ more). */
    Gemm(Parallel parallel, int mainRows, int kc, int mc, int nc) {
        if (mainRows != 12 && mainRows != 6) {
            throw new IllegalArgumentException("main GEMM kernel height must be 12 or 6, got " + mainRows);
        }
        if (kc < 1 || mc < mainRows || mc % 12 != 0 || nc < NR || nc % NR != 0) {
            throw new IllegalArgumentException("GEMM blocks need kc >= 1, mc a multiple of 12, nc a multiple of "
                    + NR + ": got kc " + kc + ", mc " + mc + ", nc " + nc);
        }
        this.parallel = parallel;
        this.mainRows = mainRows;
        this.kcBlock = kc;
        this.mcBlock = mc;
        this.ncBlock = nc;
    }

    /** "512-bit, 12x32 tiles". */
    public String describe() {
        return S.vectorBitSize() + "-bit, " + mainRows + "x" + NR + " tiles";
    }

    /**
     * {@code c = alpha * a @ b + beta * c} with the shapes, dtypes and semantics of
     * {@link org.internlmj.tensor.Backend#matmul}; F64 operands are rejected (this GEMM computes in fp32).
     */
    public void matmul(Tensor a, Tensor b, Tensor c, float alpha, float beta) {
        OpChecks.GemmDims g = OpChecks.matmul(a, b, c);
        if (a.dtype() == DType.F64 || c.dtype() == DType.F64) {
            throw new IllegalArgumentException("the CPU GEMM computes in fp32 and takes F32, BF16 or F16 tensors, got a "
                    + a.dtype() + ", b " + b.dtype() + ", c " + c.dtype());
        }
        int batch = g.batch();
        int m = g.m();
        int n = g.n();
        int k = g.k();
        if (batch == 0 || m == 0 || n == 0) {
            return;
        }
        Operand av = Operand.of(a);
        Operand bv = Operand.of(b);
        Operand cv = Operand.of(c);
        if (k == 0) {
            scale(cv, batch, m, n, beta);
            return;
        }
        // A 2-D b shared by row-stacked batches of a and c is one GEMM with batch * m rows: the usual
        // Linear layer on [B, T, H] activations.
        if (batch > 1 && !g.batchedB() && stacksRows(av, m) && stacksRows(cv, m)) {
            av = av.withRowStride(m == 1 ? av.batchStride() : av.rowStride());
            cv = cv.withRowStride(m == 1 ? cv.batchStride() : cv.rowStride());
            m *= batch;
            batch = 1;
        }
        long flops = 2L * batch * m * n * k;
        if ((long) m * n * k <= SCALAR_MACS) {
            scalarProducts(av, bv, cv, batch, m, n, k, alpha, beta, flops);
            return;
        }
        if (!WARM.get() && WARM.compareAndSet(false, true)) {
            warmUp();
        }
        if (GemmSkinny.applies(av, bv, batch, m)) {
            GemmSkinny.run(parallel, flops >= SINGLE_THREAD_FLOPS, av, bv, cv, m, n, k, alpha, beta);
            return;
        }
        int team = flops < SINGLE_THREAD_FLOPS ? 1 : parallel.threads();
        boolean rowsSplit = team == 1 || ceilDiv(m, mainRows) >= 2 * team;
        boolean direct = cv.f32() != null && cv.colStride() == 1;
        Problem p = new Problem(av, bv, cv, batch, m, n, k, alpha, beta, direct, rowsSplit);

        Workspace ws = workspaces.pollFirst();
        if (ws == null) {
            ws = new Workspace();
        }
        try {
            ws.prepare(p, team, mainRows, kcBlock, mcBlock, ncBlock);
            Workspace w = ws;
            parallel.team(team, (rank, size, barrier) -> run(p, w, rank, size, barrier));
        } finally {
            workspaces.offerFirst(ws);
        }
    }

    /**
     * Small products as plain loops, each element the same chain of fused multiply-adds in k order as
     * the micro-kernels compute (so the same value, for K up to one slice), batches over the pool.
     */
    private void scalarProducts(Operand a, Operand b, Operand c, int batch, int m, int n, int k, float alpha,
                                float beta, long flops) {
        Parallel.RangeTask body = (start, end) -> {
            for (int bi = start; bi < end; bi++) {
                int aBase = a.offset() + bi * a.batchStride();
                int bBase = b.offset() + bi * b.batchStride();
                int cBase = c.offset() + bi * c.batchStride();
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        float acc = 0f;
                        int pa = aBase + i * a.rowStride();
                        int pb = bBase + j * b.colStride();
                        for (int p = 0; p < k; p++) {
                            acc = Math.fma(a.get(pa + p * a.colStride()), b.get(pb + p * b.rowStride()), acc);
                        }
                        int pos = cBase + i * c.rowStride() + j * c.colStride();
                        float v = alpha * acc;
                        if (beta != 0f) {
                            v = Math.fma(beta, c.get(pos), v);
                        }
                        c.set(pos, v);
                    }
                }
            }
        };
        if (flops < SINGLE_THREAD_FLOPS || batch == 1) {
            body.run(0, batch);
        } else {
            parallel.forRange(batch, 1, body);
        }
    }

    /** Runs every kernel, epilogue and vector packing path often enough for C2 to compile them. */
    private static void warmUp() {
        float[] a = new float[12 * 3];
        float[] b = new float[NR * 3];
        float[] t = new float[12 * NR];
        float[] c = new float[12 * NR];
        float[] packed = new float[NR * 3];
        // three k steps of 12 contiguous lanes, L apart: an A^T panel (masked vector copies where L >= 12)
        Operand transposedA = new Operand(new float[2 * L + 12], null, false, 0, 0, L, 1);
        short[] bits = new short[NR * 3];
        Operand bf16 = new Operand(null, bits, true, 0, 0, NR, 1);
        Operand f32 = new Operand(b, null, false, 0, 0, NR, 1);
        float[] rowData = new float[2 * L + 1];
        Operand row = new Operand(rowData, null, false, 0, 0, 1, 1);
        Operand transposed = new Operand(new float[2 * (2 * L + 1)], null, false, 0, 0, 1, 2 * L + 1);
        Operand wide = new Operand(new float[3 * 5 * L], null, false, 0, 0, 5 * L, 1);
        Operand out = new Operand(new float[5 * L], null, false, 0, 0, 5 * L, 1);
        for (int i = 0; i < WARMUP_CALLS; i++) {
            for (int rows : GemmKernels.ROWS) {
                GemmKernels.run(rows, a, 0, b, 0, 3, t);
            }
            storeTile(t, 12, NR, c, 0, NR, 1f, 0f, true);
            storeTile(t, 12, NR, c, 0, NR, 1f, 1f, true);
            storeTile(t, 12, NR, c, 0, NR, 1f, 0f, false);
            storeTile(t, 12, NR - 1, c, 0, NR, 1f, 0f, true);
            storeTile(t, 12, NR - 1, c, 0, NR, 1f, 1f, true);
            storeTile(t, 12, NR - 1, c, 0, NR, 1f, 0f, false);
            GemmPacking.pack(f32, 0, 1, NR, NR, NR, 3, packed, 0);
            GemmPacking.pack(bf16, 0, 1, NR, NR, NR, 3, packed, 0);
            GemmPacking.pack(transposedA, 0, 1, L, 12, 12, 3, packed, 0);
            // one row: five vectors of columns (the four-wide loop and the masked tail), then dot products
            GemmSkinny.run(null, false, row, wide, out, 1, 5 * L - 1, 3, 1f, 0f);
            GemmSkinny.run(null, false, row, transposed, out, 1, 2, 2 * L + 1, 1f, 0f);
        }
    }

    private static boolean stacksRows(Operand o, int m) {
        return m == 1 || o.batchStride() == (long) m * o.rowStride();
    }

    /** One rank's share of the whole (batched) product. */
    private void run(Problem p, Workspace ws, int rank, int size, Parallel.Barrier barrier) {
        int m = p.m;
        int n = p.n;
        int k = p.k;
        int rowLo = 0;
        int rowHi = m;
        if (p.rowsSplit) {
            int panels = ceilDiv(m, mainRows);
            rowLo = share(panels, rank, size) * mainRows;
            rowHi = Math.min(m, share(panels, rank + 1, size) * mainRows);
        }
        float[] aPack = ws.a[rank];
        float[] tile = ws.tile[rank];
        int iteration = 0;
        for (int bi = 0; bi < p.batch; bi++) {
            int aBase = p.a.offset() + bi * p.a.batchStride();
            int bBase = p.b.offset() + bi * p.b.batchStride();
            int cBase = p.c.offset() + bi * p.c.batchStride();
            for (int jc = 0; jc < n; jc += ncBlock) {
                int nc = Math.min(ncBlock, n - jc);
                int panelsN = ceilDiv(nc, NR);
                int q0 = share(panelsN, rank, size);
                int q1 = share(panelsN, rank + 1, size);
                for (int pc = 0; pc < k; pc += kcBlock) {
                    int kc = Math.min(kcBlock, k - pc);
                    float[] bPack = p.rowsSplit ? ws.bShared[iteration & 1] : ws.bOwn[rank];
                    int origin = p.rowsSplit ? 0 : q0;
                    for (int q = q0; q < q1; q++) {
                        int j0 = q * NR;
                        GemmPacking.pack(p.b, bBase + pc * p.b.rowStride() + (jc + j0) * p.b.colStride(),
                                p.b.colStride(), p.b.rowStride(), Math.min(NR, nc - j0), NR, kc,
                                bPack, (q - origin) * kc * NR);
                    }
                    int qa = q0;
                    int qb = q1;
                    if (p.rowsSplit) {
                        // The other half of this slice is packed by the other threads.
                        barrier.await();
                        qa = 0;
                        qb = panelsN;
                    }
                    for (int ic = rowLo; ic < rowHi; ic += mcBlock) {
                        int mc = Math.min(mcBlock, rowHi - ic);
                        packA(p, aBase, ic, mc, pc, kc, aPack);
                        block(p, aPack, bPack, tile, cBase, ic, mc, jc, nc, kc, qa, qb, origin,
                                pc == 0, pc + kc == k);
                    }
                    iteration++;
                }
                if (!p.rowsSplit && !p.direct && size > 1) {
                    // Column shares move with the next block's width; the fp32 scratch must be
                    // written back by every thread before anyone reuses it.
                    barrier.await();
                }
            }
        }
    }

    private void packA(Problem p, int aBase, int ic, int mc, int pc, int kc, float[] aPack) {
        for (int i = 0; i < mc; i += mainRows) {
            int rows = Math.min(mainRows, mc - i);
            int width = rows == mainRows ? mainRows : GemmKernels.kernelRows(rows, mainRows);
            GemmPacking.pack(p.a, aBase + (ic + i) * p.a.rowStride() + pc * p.a.colStride(), p.a.rowStride(),
                    p.a.colStride(), rows, width, kc, aPack, i * kc);
        }
    }

    /** Rows {@code ic..ic+mc} of C times B panels {@code qa..qb-1} of the current block, one tile at a time. */
    private void block(Problem p, float[] aPack, float[] bPack, float[] tile, int cBase, int ic, int mc, int jc,
                       int nc, int kc, int qa, int qb, int origin, boolean first, boolean last) {
        for (int i = 0; i < mc; i += mainRows) {
            int rows = Math.min(mainRows, mc - i);
            int width = rows == mainRows ? mainRows : GemmKernels.kernelRows(rows, mainRows);
            int row = ic + i;
            for (int q = qa; q < qb; q++) {
                int j0 = q * NR;
                int cols = Math.min(NR, nc - j0);
                GemmKernels.run(width, aPack, i * kc, bPack, (q - origin) * kc * NR, kc, tile);
                if (p.direct) {
                    float[] c = p.c.f32();
                    int ldc = p.c.rowStride();
                    storeTile(tile, rows, cols, c, cBase + row * ldc + jc + j0, ldc, p.alpha, p.beta, first);
                } else {
                    float[] s = p.scratch;
                    int lds = p.scratchWidth;
                    storeTile(tile, rows, cols, s, row * lds + j0, lds, p.alpha, 0f, first);
                    if (last) {
                        writeBack(p, s, row * lds + j0, lds, cBase, row, jc + j0, rows, cols);
                    }
                }
            }
        }
    }

    /**
     * Adds a computed tile into C: the first K slice sets {@code alpha*acc + beta*c} (c not read when
     * beta is 0), later slices add {@code alpha*acc}.
     */
    private static void storeTile(float[] t, int rows, int cols, float[] c, int off, int ldc, float alpha,
                                  float beta, boolean first) {
        FloatVector va = FloatVector.broadcast(S, alpha);
        FloatVector vb = FloatVector.broadcast(S, beta);
        if (cols == NR) {
            for (int r = 0; r < rows; r++) {
                int o = off + r * ldc;
                FloatVector lo = FloatVector.fromArray(S, t, r * NR);
                FloatVector hi = FloatVector.fromArray(S, t, r * NR + L);
                if (!first) {
                    lo = lo.fma(va, FloatVector.fromArray(S, c, o));
                    hi = hi.fma(va, FloatVector.fromArray(S, c, o + L));
                } else if (beta == 0f) {
                    lo = lo.mul(va);
                    hi = hi.mul(va);
                } else {
                    lo = FloatVector.fromArray(S, c, o).fma(vb, lo.mul(va));
                    hi = FloatVector.fromArray(S, c, o + L).fma(vb, hi.mul(va));
                }
                lo.intoArray(c, o);
                hi.intoArray(c, o + L);
            }
            return;
        }
        VectorMask<Float> mlo = S.indexInRange(0, cols);
        VectorMask<Float> mhi = S.indexInRange(L, cols);
        for (int r = 0; r < rows; r++) {
            int o = off + r * ldc;
            FloatVector lo = FloatVector.fromArray(S, t, r * NR);
            FloatVector hi = FloatVector.fromArray(S, t, r * NR + L);
            if (!first) {
                lo = lo.fma(va, FloatVector.fromArray(S, c, o, mlo));
                hi = hi.fma(va, FloatVector.fromArray(S, c, o + L, mhi));
            } else if (beta == 0f) {
                lo = lo.mul(va);
                hi = hi.mul(va);
            } else {
                lo = FloatVector.fromArray(S, c, o, mlo).fma(vb, lo.mul(va));
                hi = FloatVector.fromArray(S, c, o + L, mhi).fma(vb, hi.mul(va));
            }
            lo.intoArray(c, o, mlo);
            hi.intoArray(c, o + L, mhi);
        }
    }

    /** Rounds a finished fp32 tile of the scratch into a C that is not a unit-stride F32 view. */
    private static void writeBack(Problem p, float[] s, int off, int lds, int cBase, int row, int col, int rows,
                                  int cols) {
        Operand c = p.c;
        for (int r = 0; r < rows; r++) {
            int base = cBase + (row + r) * c.rowStride() + col * c.colStride();
            for (int j = 0; j < cols; j++) {
                int pos = base + j * c.colStride();
                float v = s[off + r * lds + j];
                if (p.beta != 0f) {
                    v = Math.fma(p.beta, c.get(pos), v);
                }
                c.set(pos, v);
            }
        }
    }

    /** {@code c = beta * c} (zero when beta is 0, whatever c held): the product of an empty K. */
    private static void scale(Operand c, int batch, int m, int n, float beta) {
        for (int bi = 0; bi < batch; bi++) {
            for (int i = 0; i < m; i++) {
                int base = c.offset() + bi * c.batchStride() + i * c.rowStride();
                for (int j = 0; j < n; j++) {
                    int pos = base + j * c.colStride();
                    c.set(pos, beta == 0f ? 0f : beta * c.get(pos));
                }
            }
        }
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /** Start of member {@code rank}'s share when {@code count} items are split over {@code size} members. */
    private static int share(int count, int rank, int size) {
        return (int) ((long) count * rank / size);
    }

    /**
     * One operand as the kernels see it: its heap array (F32, or BF16/F16 bits), offset and the strides
     * of its batch, row and column dimensions (0 for a batch dimension it does not have).
     */
    record Operand(float[] f32, short[] bits, boolean bf16, int offset, int batchStride, int rowStride,
                   int colStride) {
        static Operand of(Tensor t) {
            CpuStorage s = (CpuStorage) t.storage();
            int r = t.rank();
            int batchStride = r == 3 ? t.stride(0) : 0;
            // A dimension of size 1 is never stepped along: a unit stride lets it take the contiguous paths.
            int rowStride = t.size(r - 2) == 1 ? 1 : t.stride(r - 2);
            int colStride = t.size(r - 1) == 1 ? 1 : t.stride(r - 1);
            return switch (t.dtype()) {
                case F32 -> new Operand(s.f32(), null, false, t.offset(), batchStride, rowStride, colStride);
                case BF16 -> new Operand(null, s.bits16(), true, t.offset(), batchStride, rowStride, colStride);
                case F16 -> new Operand(null, s.bits16(), false, t.offset(), batchStride, rowStride, colStride);
                default -> throw new IllegalArgumentException("the CPU GEMM takes F32, BF16 or F16 tensors, got " + t);
            };
        }

        Operand withRowStride(int stride) {
            return new Operand(f32, bits, bf16, offset, batchStride, stride, colStride);
        }

        float get(int pos) {
            return f32 != null ? f32[pos] : GemmPacking.toFloat(bits[pos], bf16);
        }

        /** Stores {@code v} rounded to this operand's dtype (nearest even). */
        void set(int pos, float v) {
            if (f32 != null) {
                f32[pos] = v;
            } else {
                bits[pos] = bf16 ? DType.toBf16Bits(v) : DType.toF16Bits(v);
            }
        }
    }

    /** The arguments of one call, after folding batches. */
    private static final class Problem {
        final Operand a;
        final Operand b;
        final Operand c;
        final int batch;
        final int m;
        final int n;
        final int k;
        final float alpha;
        final float beta;
        final boolean direct;
        final boolean rowsSplit;
        float[] scratch;
        int scratchWidth;

        Problem(Operand a, Operand b, Operand c, int batch, int m, int n, int k, float alpha, float beta,
                boolean direct, boolean rowsSplit) {
            this.a = a;
            this.b = b;
            this.c = c;
            this.batch = batch;
            this.m = m;
            this.n = n;
            this.k = k;
            this.alpha = alpha;
            this.beta = beta;
            this.direct = direct;
            this.rowsSplit = rowsSplit;
        }
    }

    /**
     * Packing buffers of one caller, grown on demand and kept for the next call: per thread an A block
     * and a tile, B slices (two shared, or one per thread), and for outputs that are not unit-stride F32
     * an fp32 scratch of M x min(N, NC) floats (the largest such output so far).
     */
    private static final class Workspace {
        float[][] a = new float[0][];
        float[][] tile = new float[0][];
        float[][] bOwn = new float[0][];
        final float[][] bShared = new float[2][];
        float[] scratch;

        /** Sizes every buffer {@code p} needs for a team of up to {@code team} threads, before they start. */
        void prepare(Problem p, int team, int mainRows, int kcBlock, int mcBlock, int ncBlock) {
            int kc = Math.min(kcBlock, p.k);
            int aLen = Math.min(mcBlock, ceilDiv(p.m, mainRows) * mainRows) * kc;
            int bLen = ceilDiv(Math.min(ncBlock, p.n), NR) * NR * kc;
            if (a.length < team) {
                a = Arrays.copyOf(a, team);
                tile = Arrays.copyOf(tile, team);
            }
            for (int r = 0; r < team; r++) {
                a[r] = grow(a[r], aLen);
                tile[r] = grow(tile[r], 12 * NR);
            }
            if (p.rowsSplit) {
                bShared[0] = grow(bShared[0], bLen);
                bShared[1] = grow(bShared[1], bLen);
            } else {
                if (bOwn.length < team) {
                    bOwn = Arrays.copyOf(bOwn, team);
                }
                for (int r = 0; r < team; r++) {
                    bOwn[r] = grow(bOwn[r], bLen);
                }
            }
            if (!p.direct) {
                int width = Math.min(ncBlock, p.n);
                scratch = grow(scratch, Math.multiplyExact(p.m, width));
                p.scratch = scratch;
                p.scratchWidth = width;
            }
        }

        private static float[] grow(float[] buf, int length) {
            return buf != null && buf.length >= length ? buf : new float[length];
        }
    }
}
