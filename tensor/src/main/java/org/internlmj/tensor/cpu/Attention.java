package org.internlmj.tensor.cpu;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Tensor;

/**
 * Packed-sequence attention on the CPU in the FlashAttention-2 style: forward and backward.
 *
 * <p>Each (document, head) is cut into query blocks of {@link #BLOCK_Q} rows and key blocks of
 * {@link #BLOCK_K} columns. A tile's scores are one small GEMM into per-thread fp32 scratch; the forward
 * keeps a running max and sum-exp per query row (online softmax) and an fp32 output accumulator, so
 * nothing of size T^2 ever exists; key blocks entirely above the causal diagonal are never visited.
 * The backward recomputes each tile's probabilities from q, k and the saved log-sum-exp, with
 * {@code Di = rowsum(dO * O)}, {@code dS = P * (dP - Di)}, {@code dV += P^T dO},
 * {@code dK += scale dS^T Q}, {@code dQ += scale dS K}.
 *
 * <p>Layout: the query block is packed with the scale folded in ({@code scale * q}), K and V both
 * row-major ({@code [keys, Dp]}, for {@code P V} and {@code dS K}) and transposed ({@code [D, keys]},
 * for {@code Q K^T} and {@code dO V^T}), with D padded to a whole number of vectors ({@code Dp}) and
 * key counts to whole vectors, padding zero. Every product is then one register-blocked kernel,
 * {@link #gemm}, that broadcasts elements of its left operand against vector rows of its right one;
 * no horizontal float sums are taken anywhere (their lane order is not fixed by the Vector API).
 *
 * <p>Work is spread over threads in one of two {@link Plan}s. With enough (document, head) pairs to
 * keep every thread busy, each task owns one pair and packs its operands once: K and V for the forward,
 * Q, dO, Di and lse for the backward (which then owns that pair's dQ, dK and dV slices). Otherwise the
 * forward has a task per query block, and the backward runs key-block tasks for dK/dV followed by
 * query-block tasks for dQ (recomputing {@code Q K^T} and {@code dO V^T} once more, but spreading a
 * single long document over all threads); each tile then packs its own operands.
 *
 * <p>Determinism: every output element is produced by one task, from the same tiles in the same order
 * under either plan, and {@link VectorExp} gives the same bits in every JIT tier, so results are
 * bit-identical run to run, for any thread count and either plan.
 *
 * <p>Memory per thread: a few tiles of {@code 64 x Dp} floats, plus, for per-(document, head) tasks,
 * a few {@code docLength x Dp} arrays: O(T), never O(T^2).
 */
final class Attention {
    /** Query rows per tile. A multiple of {@link #ROWS}. */
    static final int BLOCK_Q = 64;
    /** Keys per tile. A multiple of every vector length. */
    static final int BLOCK_K = 64;
    /** Rows of the GEMM micro-kernel; row counts handed to {@link #gemm} are multiples of it. */
    private static final int ROWS = 4;

    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.LANES;
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * How work is spread over threads; {@link #AUTO} picks by the shape of the documents. Both plans
     * give the same bits (tested), so the choice only changes speed.
     */
    enum Plan {
        AUTO,
        /** One task per (document, head): its K/V (forward) or Q/dO (backward) are packed once. */
        PER_HEAD,
        /** Tasks per query block (forward; backward dQ) and per key block (backward dK, dV). */
        BLOCKS
    }

    private Attention() {
    }

    // ================================================================ forward

    /** {@code Backend.attention}: see its contract. */
    static void forward(Parallel parallel, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, float scale,
                        boolean causal, Tensor out, Tensor lse, Plan plan) {
        int[] thd = OpChecks.attention(q, k, v, out, cuSeqlens);
        int t = thd[0];
        int heads = thd[1];
        int d = thd[2];
        OpChecks.shape("attention", "lse", lse, heads, t);
        OpChecks.floating("attention", lse);
        int[] cu = OpChecks.cuSeqlens(readInts(cuSeqlens), t);
        Fwd f = new Fwd(new Rows("q", q), new Rows("k", k), new Rows("v", v), new Rows("out", out), new LseView(lse),
                d, scale, causal);
        if (choose(plan, cu, heads, causal, parallel) == Plan.PER_HEAD) {
            forEachHead(parallel, cu, heads, (sc, start, end, h) -> {
                sc.ensure(d, BLOCK_Q, padded(end - start, BLOCK_K), 0);
                forwardHead(sc, f, start, end, h);
            });
        } else {
            // The last query blocks see the most keys under a causal mask: hand them out first.
            forEachBlock(parallel, cu, heads, BLOCK_Q, true, (sc, start, end, h, qb) -> {
                sc.ensure(d, BLOCK_Q, BLOCK_K, 0);
                forwardBlock(sc, f, start, end, h, qb, false);
            });
        }
    }

    /** Everything a forward tile reads or writes. */
    private record Fwd(Rows q, Rows k, Rows v, Rows out, LseView lse, int d, float scale, boolean causal) {
    }

    /** All query blocks of one (document, head), with its K (transposed, per key block) and V packed once. */
    private static void forwardHead(Scratch sc, Fwd f, int docStart, int docEnd, int h) {
        int len = docEnd - docStart;
        for (int ks = docStart; ks < docEnd; ks += BLOCK_K) {
            int cols = Math.min(BLOCK_K, docEnd - ks);
            packTransposed(f.k(), ks, cols, padded(cols, L), h, sc.kt, (ks - docStart) * f.d());
        }
        packRows(f.v(), docStart, len, len, h, sc.v, 0, padded(f.d(), L), 1f);
        int queryBlocks = (len + BLOCK_Q - 1) / BLOCK_Q;
        for (int qb = 0; qb < queryBlocks; qb++) {
            forwardBlock(sc, f, docStart, docEnd, h, qb, true);
        }
    }

    /**
     * One query block: online softmax over its key blocks. With {@code packed} the document's keys are
     * already in {@code sc.kt} (block kb at {@code kb * BLOCK_K * d}) and {@code sc.v} (row per key);
     * otherwise each key block is packed here.
     */
    private static void forwardBlock(Scratch sc, Fwd f, int docStart, int docEnd, int h, int qb, boolean packed) {
        int d = f.d();
        int dp = padded(d, L);
        int qs = docStart + qb * BLOCK_Q;
        int rows = Math.min(BLOCK_Q, docEnd - qs);
        int mRows = padded(rows, ROWS);
        packRows(f.q(), qs, rows, mRows, h, sc.q, 0, dp, f.scale());
        Arrays.fill(sc.acc, 0, mRows * dp, 0f);
        Arrays.fill(sc.rowMax, 0, mRows, NEG_INF);
        Arrays.fill(sc.rowSum, 0, mRows * L, 0f);
        // Keys past the block's last query are masked for every row: stop there when causal.
        int keyEnd = f.causal() ? qs + rows : docEnd;
        for (int ks = docStart; ks < keyEnd; ks += BLOCK_K) {
            int cols = Math.min(BLOCK_K, keyEnd - ks);
            int n = padded(cols, L);
            int ktOff = 0;
            int ktRow = n;
            int vOff = 0;
            if (packed) {
                ktOff = (ks - docStart) * d;
                ktRow = padded(Math.min(BLOCK_K, docEnd - ks), L);
                vOff = (ks - docStart) * dp;
            } else {
                packTransposed(f.k(), ks, cols, n, h, sc.kt, 0);
                packRows(f.v(), ks, cols, cols, h, sc.v, 0, dp, 1f);
            }
            gemm(sc.q, 0, dp, 1, sc.kt, ktOff, ktRow, sc.s, 0, n, mRows, n, d, false);
            mask(sc.s, n, mRows, cols, f.causal(), qs - ks);
            onlineSoftmax(sc, mRows, n, dp);
            gemm(sc.s, 0, n, 1, sc.v, vOff, dp, sc.acc, 0, dp, mRows, dp, cols, true);
        }
        for (int r = 0; r < rows; r++) {
            float sum = laneSum(sc.rowSum, r * L);
            f.out().write(qs + r, h, sc.acc, r * dp, 1f / sum);
            f.lse().set(h, qs + r, sc.rowMax[r] + (float) StrictMath.log(sum));
        }
    }

    /**
     * Turns the scores of one tile into probabilities relative to each row's running max, rescaling the
     * row's sum-exp and output accumulator when the max grows. The sum is kept per lane ({@code L}
     * partial sums per row) and reduced once, in lane order, at the end.
     */
    private static void onlineSoftmax(Scratch sc, int mRows, int n, int dp) {
        float[] s = sc.s;
        for (int r = 0; r < mRows; r++) {
            int row = r * n;
            FloatVector mv = FloatVector.broadcast(F, NEG_INF);
            for (int c = 0; c < n; c += L) {
                mv = mv.max(FloatVector.fromArray(F, s, row + c));
            }
            float old = sc.rowMax[r];
            float max = Math.max(old, mv.reduceLanes(VectorOperators.MAX));
            // A row with every score masked so far has nothing to rescale; subtracting 0 keeps its
            // probabilities exp(-inf) = 0 instead of exp(-inf - -inf) = NaN.
            float shift = max == NEG_INF ? 0f : max;
            float alpha = old == NEG_INF ? 0f : VectorExp.exp(old - shift);
            FloatVector shiftV = FloatVector.broadcast(F, shift);
            FloatVector sum = FloatVector.fromArray(F, sc.rowSum, r * L).mul(alpha);
            for (int c = 0; c < n; c += L) {
                FloatVector p = VectorExp.exp(FloatVector.fromArray(F, s, row + c).sub(shiftV));
                p.intoArray(s, row + c);
                sum = sum.add(p);
            }
            sum.intoArray(sc.rowSum, r * L);
            sc.rowMax[r] = max;
            if (alpha != 1f) {
                for (int e = r * dp; e < (r + 1) * dp; e += L) {
                    FloatVector.fromArray(F, sc.acc, e).mul(alpha).intoArray(sc.acc, e);
                }
            }
        }
    }

    // ================================================================ backward

    /** {@code Backend.attentionBackward}: see its contract. */
    static void backward(Parallel parallel, Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse,
                         Tensor cuSeqlens, float scale, boolean causal, Tensor dq, Tensor dk, Tensor dv, Plan plan) {
        int[] thd = OpChecks.attentionBackward(q, k, v, out, dout, lse, cuSeqlens, dq, dk, dv);
        int t = thd[0];
        int heads = thd[1];
        int d = thd[2];
        int[] cu = OpChecks.cuSeqlens(readInts(cuSeqlens), t);
        Grad g = new Grad(new Rows("q", q), new Rows("k", k), new Rows("v", v), new Rows("out", out),
                new Rows("dout", dout), new LseView(lse), new Rows("dq", dq), new Rows("dk", dk),
                new Rows("dv", dv), d, scale, causal);
        if (choose(plan, cu, heads, causal, parallel) == Plan.PER_HEAD) {
            forEachHead(parallel, cu, heads, (sc, start, end, h) -> {
                sc.ensure(d, padded(end - start, ROWS), BLOCK_K, padded(end - start, ROWS));
                backwardHead(sc, g, start, end, h);
            });
        } else {
            // dK and dV per key block, then dQ per query block: two passes, so no two tasks share an
            // output. Under a causal mask the first key blocks and the last query blocks do the most work.
            forEachBlock(parallel, cu, heads, BLOCK_K, false, (sc, start, end, h, kb) -> {
                sc.ensure(d, BLOCK_Q, BLOCK_K, 0);
                backwardKeyBlock(sc, g, start, end, h, kb, false);
            });
            forEachBlock(parallel, cu, heads, BLOCK_Q, true, (sc, start, end, h, qb) -> {
                sc.ensure(d, BLOCK_Q, BLOCK_K, BLOCK_Q);
                backwardQueryBlock(sc, g, start, end, h, qb);
            });
        }
    }

    private static Plan choose(Plan plan, int[] cu, int heads, boolean causal, Parallel parallel) {
        if (plan != Plan.AUTO) {
            return plan;
        }
        return perHeadBalances(cu, heads, causal, parallel.threads()) ? Plan.PER_HEAD : Plan.BLOCKS;
    }

    /**
     * Whether one task per (document, head) keeps every thread busy: true when the largest such task
     * is no more than an even share of the total work.
     */
    static boolean perHeadBalances(int[] cu, int heads, boolean causal, int threads) {
        double total = 0;
        double largest = 0;
        for (int doc = 0; doc + 1 < cu.length; doc++) {
            double len = cu[doc + 1] - cu[doc];
            double work = causal ? len * (len + 1) / 2 : len * len;
            total += work * heads;
            largest = Math.max(largest, work);
        }
        return largest * threads <= total;
    }

    /** Everything a backward tile reads or writes. */
    private record Grad(Rows q, Rows k, Rows v, Rows out, Rows dout, LseView lse, Rows dq, Rows dk, Rows dv,
                        int d, float scale, boolean causal) {
        int dp() {
            return padded(d, L);
        }
    }

    /**
     * dQ, dK and dV of one (document, head): the document's queries packed once, key blocks outside,
     * query blocks inside, dQ summed in scratch.
     */
    private static void backwardHead(Scratch sc, Grad g, int docStart, int docEnd, int h) {
        int dp = g.dp();
        int len = docEnd - docStart;
        packQueries(sc, g, docStart, len, padded(len, ROWS), h);
        Arrays.fill(sc.dq, 0, padded(len, ROWS) * dp, 0f);
        int keyBlocks = (len + BLOCK_K - 1) / BLOCK_K;
        for (int kb = 0; kb < keyBlocks; kb++) {
            backwardKeyBlock(sc, g, docStart, docEnd, h, kb, true);
        }
        for (int r = 0; r < len; r++) {
            g.dq().write(docStart + r, h, sc.dq, r * dp, g.scale());
        }
    }

    /**
     * dK and dV of one key block, summed over the query blocks that see it in increasing order. With
     * {@code perHead} the document's queries are already packed (rows relative to its start) and each
     * tile's {@code dS K} is also added into {@code sc.dq}; otherwise each query block is packed here.
     */
    private static void backwardKeyBlock(Scratch sc, Grad g, int docStart, int docEnd, int h, int kb,
                                         boolean perHead) {
        int dp = g.dp();
        int ks = docStart + kb * BLOCK_K;
        int cols = Math.min(BLOCK_K, docEnd - ks);
        int n = padded(cols, L);
        int mCols = padded(cols, ROWS);
        packKeyBlock(sc, g, ks, cols, n, h);
        Arrays.fill(sc.dk, 0, mCols * dp, 0f);
        Arrays.fill(sc.dv, 0, mCols * dp, 0f);
        int firstQb = g.causal() ? (ks - docStart) / BLOCK_Q : 0;
        int queryBlocks = (docEnd - docStart + BLOCK_Q - 1) / BLOCK_Q;
        for (int qb = firstQb; qb < queryBlocks; qb++) {
            int qs = docStart + qb * BLOCK_Q;
            int rows = Math.min(BLOCK_Q, docEnd - qs);
            int mRows = padded(rows, ROWS);
            int row0 = 0;
            if (perHead) {
                row0 = qs - docStart;
            } else {
                packQueries(sc, g, qs, rows, mRows, h);
            }
            tileGradients(sc, g, row0, mRows, cols, n, qs - ks);
            // dV += P^T dO and dK += dS^T (scale Q): the left operands are read transposed.
            gemm(sc.s, 0, 1, n, sc.dO, row0 * dp, dp, sc.dv, 0, dp, mCols, dp, rows, true);
            gemm(sc.dp, 0, 1, n, sc.q, row0 * dp, dp, sc.dk, 0, dp, mCols, dp, rows, true);
            if (perHead) {
                gemm(sc.dp, 0, n, 1, sc.kp, 0, dp, sc.dq, row0 * dp, dp, mRows, dp, cols, true);
            }
        }
        for (int c = 0; c < cols; c++) {
            g.dk().write(ks + c, h, sc.dk, c * dp, 1f);
            g.dv().write(ks + c, h, sc.dv, c * dp, 1f);
        }
    }

    /** dQ of one query block, summed over the key blocks it sees in increasing order. */
    private static void backwardQueryBlock(Scratch sc, Grad g, int docStart, int docEnd, int h, int qb) {
        int dp = g.dp();
        int qs = docStart + qb * BLOCK_Q;
        int rows = Math.min(BLOCK_Q, docEnd - qs);
        int mRows = padded(rows, ROWS);
        packQueries(sc, g, qs, rows, mRows, h);
        Arrays.fill(sc.dq, 0, mRows * dp, 0f);
        int keyEnd = g.causal() ? qs + rows : docEnd;
        for (int ks = docStart; ks < keyEnd; ks += BLOCK_K) {
            // Whole key blocks, as the key-block tasks see them, so that every tile is computed alike.
            int cols = Math.min(BLOCK_K, docEnd - ks);
            int n = padded(cols, L);
            packKeyBlock(sc, g, ks, cols, n, h);
            tileGradients(sc, g, 0, mRows, cols, n, qs - ks);
            gemm(sc.dp, 0, n, 1, sc.kp, 0, dp, sc.dq, 0, dp, mRows, dp, cols, true);
        }
        for (int r = 0; r < rows; r++) {
            g.dq().write(qs + r, h, sc.dq, r * dp, g.scale());
        }
    }

    /** Packs K (transposed and row-major) and V (transposed) of one key block. */
    private static void packKeyBlock(Scratch sc, Grad g, int ks, int cols, int n, int h) {
        packTransposed(g.k(), ks, cols, n, h, sc.kt, 0);
        packRows(g.k(), ks, cols, cols, h, sc.kp, 0, g.dp(), 1f);
        packTransposed(g.v(), ks, cols, n, h, sc.vt, 0);
    }

    /**
     * Packs {@code scale * Q} and dO of {@code rows} queries from token qs (padded to {@code mRows}
     * rows), and per row {@code Di = sum(dO * O)} (in element order) and the saved log-sum-exp; padding
     * rows get {@code lse = +inf}, so their probabilities are 0.
     */
    private static void packQueries(Scratch sc, Grad g, int qs, int rows, int mRows, int h) {
        int dp = g.dp();
        int d = g.d();
        packRows(g.q(), qs, rows, mRows, h, sc.q, 0, dp, g.scale());
        packRows(g.dout(), qs, rows, mRows, h, sc.dO, 0, dp, 1f);
        for (int r = 0; r < rows; r++) {
            g.out().read(qs + r, h, sc.row, 0, 1f);
            float di = 0;
            for (int e = 0; e < d; e++) {
                di += sc.dO[r * dp + e] * sc.row[e];
            }
            sc.di[r] = di;
            sc.lse[r] = g.lse().get(h, qs + r);
        }
        for (int r = rows; r < mRows; r++) {
            sc.di[r] = 0f;
            sc.lse[r] = Float.POSITIVE_INFINITY;
        }
    }

    /**
     * One tile of the backward, for the queries packed at row {@code row0}: {@code P = exp(scale Q K^T
     * - lse)} into {@code sc.s} and {@code dS = P * (dO V^T - Di)} into {@code sc.dp}, masked entries 0.
     */
    private static void tileGradients(Scratch sc, Grad g, int row0, int mRows, int cols, int n, int diagonal) {
        int dp = g.dp();
        gemm(sc.q, row0 * dp, dp, 1, sc.kt, 0, n, sc.s, 0, n, mRows, n, g.d(), false);
        mask(sc.s, n, mRows, cols, g.causal(), diagonal);
        gemm(sc.dO, row0 * dp, dp, 1, sc.vt, 0, n, sc.dp, 0, n, mRows, n, g.d(), false);
        for (int r = 0; r < mRows; r++) {
            FloatVector lse = FloatVector.broadcast(F, sc.lse[row0 + r]);
            FloatVector di = FloatVector.broadcast(F, sc.di[row0 + r]);
            for (int c = r * n; c < (r + 1) * n; c += L) {
                FloatVector p = VectorExp.exp(FloatVector.fromArray(F, sc.s, c).sub(lse));
                p.intoArray(sc.s, c);
                p.mul(FloatVector.fromArray(F, sc.dp, c).sub(di)).intoArray(sc.dp, c);
            }
        }
    }

    // ================================================================ shared pieces

    /**
     * Sets to -inf the scores a row may not see: columns at or past {@code cols} (padding), and with
     * {@code causal} keys after the row's own token; {@code diagonal} is the first query's token minus
     * the first key's.
     */
    private static void mask(float[] s, int n, int mRows, int cols, boolean causal, int diagonal) {
        for (int r = 0; r < mRows; r++) {
            int limit = causal ? Math.min(cols, Math.max(0, diagonal + r + 1)) : cols;
            Arrays.fill(s, r * n + limit, (r + 1) * n, NEG_INF);
        }
    }

    /**
     * {@code C[i, 0:n] (+)= sum_k A(i, k) * B[k, 0:n]} for {@code i < m}, k in order, with
     * {@code A(i, k) = a[aOff + i * aRow + k * aK]} (so A may be read transposed),
     * {@code B[k, j] = b[bOff + k * bRow + j]} and {@code C[i, j] = c[cOff + i * cRow + j]}.
     * {@code m} is a multiple of {@link #ROWS} and {@code n} of the vector length. Each C element is
     * one chain of fused multiply-adds in k order, whichever path of the kernel computes it.
     */
    static void gemm(float[] a, int aOff, int aRow, int aK, float[] b, int bOff, int bRow,
                     float[] c, int cOff, int cRow, int m, int n, int kCount, boolean accumulate) {
        for (int i = 0; i < m; i += ROWS) {
            int a0 = aOff + i * aRow;
            int c0 = cOff + i * cRow;
            int j = 0;
            for (; j + 4 * L <= n; j += 4 * L) {
                tile4x4(a, a0, aRow, aK, b, bOff + j, bRow, c, c0 + j, cRow, kCount, accumulate);
            }
            for (; j < n; j += L) {
                tile4x1(a, a0, aRow, aK, b, bOff + j, bRow, c, c0 + j, cRow, kCount, accumulate);
            }
        }
    }

    /** Four rows by four vectors of C: 16 accumulators, 4 loads of B and 4 broadcasts of A per k. */
    private static void tile4x4(float[] a, int a0, int aRow, int aK, float[] b, int b0, int bRow,
                                float[] c, int c0, int cRow, int kCount, boolean accumulate) {
        int c1 = c0 + cRow;
        int c2 = c1 + cRow;
        int c3 = c2 + cRow;
        FloatVector zero = FloatVector.zero(F);
        FloatVector r00 = accumulate ? FloatVector.fromArray(F, c, c0) : zero;
        FloatVector r01 = accumulate ? FloatVector.fromArray(F, c, c0 + L) : zero;
        FloatVector r02 = accumulate ? FloatVector.fromArray(F, c, c0 + 2 * L) : zero;
        FloatVector r03 = accumulate ? FloatVector.fromArray(F, c, c0 + 3 * L) : zero;
        FloatVector r10 = accumulate ? FloatVector.fromArray(F, c, c1) : zero;
        FloatVector r11 = accumulate ? FloatVector.fromArray(F, c, c1 + L) : zero;
        FloatVector r12 = accumulate ? FloatVector.fromArray(F, c, c1 + 2 * L) : zero;
        FloatVector r13 = accumulate ? FloatVector.fromArray(F, c, c1 + 3 * L) : zero;
        FloatVector r20 = accumulate ? FloatVector.fromArray(F, c, c2) : zero;
        FloatVector r21 = accumulate ? FloatVector.fromArray(F, c, c2 + L) : zero;
        FloatVector r22 = accumulate ? FloatVector.fromArray(F, c, c2 + 2 * L) : zero;
        FloatVector r23 = accumulate ? FloatVector.fromArray(F, c, c2 + 3 * L) : zero;
        FloatVector r30 = accumulate ? FloatVector.fromArray(F, c, c3) : zero;
        FloatVector r31 = accumulate ? FloatVector.fromArray(F, c, c3 + L) : zero;
        FloatVector r32 = accumulate ? FloatVector.fromArray(F, c, c3 + 2 * L) : zero;
        FloatVector r33 = accumulate ? FloatVector.fromArray(F, c, c3 + 3 * L) : zero;
        int ak = a0;
        int bk = b0;
        for (int k = 0; k < kCount; k++, ak += aK, bk += bRow) {
            FloatVector b0v = FloatVector.fromArray(F, b, bk);
            FloatVector b1v = FloatVector.fromArray(F, b, bk + L);
            FloatVector b2v = FloatVector.fromArray(F, b, bk + 2 * L);
            FloatVector b3v = FloatVector.fromArray(F, b, bk + 3 * L);
            FloatVector x = FloatVector.broadcast(F, a[ak]);
            r00 = x.fma(b0v, r00);
            r01 = x.fma(b1v, r01);
            r02 = x.fma(b2v, r02);
            r03 = x.fma(b3v, r03);
            x = FloatVector.broadcast(F, a[ak + aRow]);
            r10 = x.fma(b0v, r10);
            r11 = x.fma(b1v, r11);
            r12 = x.fma(b2v, r12);
            r13 = x.fma(b3v, r13);
            x = FloatVector.broadcast(F, a[ak + 2 * aRow]);
            r20 = x.fma(b0v, r20);
            r21 = x.fma(b1v, r21);
            r22 = x.fma(b2v, r22);
            r23 = x.fma(b3v, r23);
            x = FloatVector.broadcast(F, a[ak + 3 * aRow]);
            r30 = x.fma(b0v, r30);
            r31 = x.fma(b1v, r31);
            r32 = x.fma(b2v, r32);
            r33 = x.fma(b3v, r33);
        }
        r00.intoArray(c, c0);
        r01.intoArray(c, c0 + L);
        r02.intoArray(c, c0 + 2 * L);
        r03.intoArray(c, c0 + 3 * L);
        r10.intoArray(c, c1);
        r11.intoArray(c, c1 + L);
        r12.intoArray(c, c1 + 2 * L);
        r13.intoArray(c, c1 + 3 * L);
        r20.intoArray(c, c2);
        r21.intoArray(c, c2 + L);
        r22.intoArray(c, c2 + 2 * L);
        r23.intoArray(c, c2 + 3 * L);
        r30.intoArray(c, c3);
        r31.intoArray(c, c3 + L);
        r32.intoArray(c, c3 + 2 * L);
        r33.intoArray(c, c3 + 3 * L);
    }

    /** Four rows by one vector of C: the remainder of {@link #tile4x4}, same chain per element. */
    private static void tile4x1(float[] a, int a0, int aRow, int aK, float[] b, int b0, int bRow,
                                float[] c, int c0, int cRow, int kCount, boolean accumulate) {
        int c1 = c0 + cRow;
        int c2 = c1 + cRow;
        int c3 = c2 + cRow;
        FloatVector zero = FloatVector.zero(F);
        FloatVector r0 = accumulate ? FloatVector.fromArray(F, c, c0) : zero;
        FloatVector r1 = accumulate ? FloatVector.fromArray(F, c, c1) : zero;
        FloatVector r2 = accumulate ? FloatVector.fromArray(F, c, c2) : zero;
        FloatVector r3 = accumulate ? FloatVector.fromArray(F, c, c3) : zero;
        int ak = a0;
        int bk = b0;
        for (int k = 0; k < kCount; k++, ak += aK, bk += bRow) {
            FloatVector bv = FloatVector.fromArray(F, b, bk);
            r0 = FloatVector.broadcast(F, a[ak]).fma(bv, r0);
            r1 = FloatVector.broadcast(F, a[ak + aRow]).fma(bv, r1);
            r2 = FloatVector.broadcast(F, a[ak + 2 * aRow]).fma(bv, r2);
            r3 = FloatVector.broadcast(F, a[ak + 3 * aRow]).fma(bv, r3);
        }
        r0.intoArray(c, c0);
        r1.intoArray(c, c1);
        r2.intoArray(c, c2);
        r3.intoArray(c, c3);
    }

    /**
     * Rows {@code t0 .. t0+count-1} of head h into {@code dst[dstOff + r * dp + e]}, multiplied by
     * {@code mul}; columns {@code D..dp} and rows {@code count..padRows} zero.
     */
    private static void packRows(Rows src, int t0, int count, int padRows, int h, float[] dst, int dstOff, int dp,
                                 float mul) {
        for (int r = 0; r < count; r++) {
            int row = dstOff + r * dp;
            src.read(t0 + r, h, dst, row, mul);
            Arrays.fill(dst, row + src.d, row + dp, 0f);
        }
        Arrays.fill(dst, dstOff + count * dp, dstOff + padRows * dp, 0f);
    }

    /**
     * Rows {@code t0 .. t0+count-1} of head h transposed into {@code dst[dstOff + e * n + r]}; columns
     * past count zero.
     */
    private static void packTransposed(Rows src, int t0, int count, int n, int h, float[] dst, int dstOff) {
        for (int r = 0; r < count; r++) {
            src.readTransposed(t0 + r, h, dst, dstOff + r, n);
        }
        for (int e = 0; e < src.d; e++) {
            Arrays.fill(dst, dstOff + e * n + count, dstOff + (e + 1) * n, 0f);
        }
    }

    /** The L partial sums of one row, added in lane order. */
    private static float laneSum(float[] lanes, int off) {
        float sum = 0;
        for (int i = 0; i < L; i++) {
            sum += lanes[off + i];
        }
        return sum;
    }

    /** Document indices ordered by decreasing length (ties by index). */
    private static int[] longestFirst(int[] cu) {
        int docs = cu.length - 1;
        long[] keyed = new long[docs];
        for (int doc = 0; doc < docs; doc++) {
            keyed[doc] = ((long) -(cu[doc + 1] - cu[doc]) << 32) | doc;
        }
        Arrays.sort(keyed);
        int[] order = new int[docs];
        for (int i = 0; i < docs; i++) {
            order[i] = (int) keyed[i];
        }
        return order;
    }

    static int padded(int x, int multiple) {
        return (x + multiple - 1) / multiple * multiple;
    }

    private static int[] readInts(Tensor t) {
        int[] src = ((CpuStorage) t.storage()).i32();
        int[] out = new int[t.size(0)];
        for (int i = 0; i < out.length; i++) {
            out[i] = src[t.offset() + i * t.stride(0)];
        }
        return out;
    }

    // ================================================================ layout helpers

    /** A task over one (document, head), with the running thread's scratch. */
    @FunctionalInterface
    private interface HeadTask {
        void run(Scratch sc, int docStart, int docEnd, int head);
    }

    /** A task over one block of a (document, head). */
    @FunctionalInterface
    private interface BlockTask {
        void run(Scratch sc, int docStart, int docEnd, int head, int block);
    }

    /** Runs {@code body} for every non-empty (document, head), longest documents handed out first. */
    private static void forEachHead(Parallel parallel, int[] cu, int heads, HeadTask body) {
        int[] order = longestFirst(cu);
        parallel.forEach(order.length * heads, task -> {
            int doc = order[task / heads];
            if (cu[doc + 1] > cu[doc]) {
                body.run(SCRATCH.get(), cu[doc], cu[doc + 1], task % heads);
            }
        });
    }

    /**
     * Runs {@code body} for every block of {@code block} tokens of every (document, head); within a
     * document, blocks are handed out in increasing order, or decreasing with {@code lastFirst}.
     */
    private static void forEachBlock(Parallel parallel, int[] cu, int heads, int block, boolean lastFirst,
                                     BlockTask body) {
        int docs = cu.length - 1;
        // Document doc owns task ids first[doc] .. first[doc+1]-1: blocks x heads of them.
        int[] first = new int[docs + 1];
        for (int doc = 0; doc < docs; doc++) {
            int blocks = (cu[doc + 1] - cu[doc] + block - 1) / block;
            first[doc + 1] = Math.addExact(first[doc], Math.multiplyExact(blocks, heads));
        }
        parallel.forEach(first[docs], task -> {
            // The last document whose first task is at or before this one (empty documents own none).
            int lo = 0;
            int hi = docs - 1;
            while (lo < hi) {
                int mid = (lo + hi + 1) >>> 1;
                if (first[mid] <= task) {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            int rem = task - first[lo];
            int b = rem / heads;
            if (lastFirst) {
                b = (first[lo + 1] - first[lo]) / heads - 1 - b;
            }
            body.run(SCRATCH.get(), cu[lo], cu[lo + 1], rem % heads, b);
        });
    }

    /**
     * fp32 reads and writes of the D-vector of (token, head) in a {@code [T, H, D]} tensor of any
     * strides and of dtype F32, BF16 or F16 (exact widening; writes round to nearest even).
     */
    private static final class Rows {
        final int d;
        private final DType dtype;
        private final float[] f32;
        private final short[] bits;
        private final int offset;
        private final int tokenStride;
        private final int headStride;
        private final int elemStride;

        Rows(String name, Tensor t) {
            dtype = t.dtype();
            if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16) {
                throw new IllegalArgumentException("attention on the CPU backend computes F32, BF16 or F16 tensors; "
                        + name + " is " + dtype);
            }
            CpuStorage s = (CpuStorage) t.storage();
            f32 = dtype == DType.F32 ? s.f32() : null;
            bits = dtype == DType.F32 ? null : s.bits16();
            d = t.size(2);
            offset = t.offset();
            tokenStride = t.stride(0);
            headStride = t.stride(1);
            elemStride = t.stride(2);
        }

        void read(int token, int head, float[] dst, int dstOff, float mul) {
            int p = offset + token * tokenStride + head * headStride;
            if (dtype == DType.F32 && elemStride == 1 && mul == 1f) {
                System.arraycopy(f32, p, dst, dstOff, d);
                return;
            }
            switch (dtype) {
                case F32 -> {
                    for (int e = 0; e < d; e++, p += elemStride) {
                        dst[dstOff + e] = f32[p] * mul;
                    }
                }
                case BF16 -> {
                    for (int e = 0; e < d; e++, p += elemStride) {
                        dst[dstOff + e] = Float.intBitsToFloat(bits[p] << 16) * mul;
                    }
                }
                default -> {
                    for (int e = 0; e < d; e++, p += elemStride) {
                        dst[dstOff + e] = DType.f16BitsToFloat(bits[p]) * mul;
                    }
                }
            }
        }

        /** Element e of the row into {@code dst[dstOff + e * n]}. */
        void readTransposed(int token, int head, float[] dst, int dstOff, int n) {
            int p = offset + token * tokenStride + head * headStride;
            switch (dtype) {
                case F32 -> {
                    for (int e = 0; e < d; e++, p += elemStride) {
                        dst[dstOff + e * n] = f32[p];
                    }
                }
                case BF16 -> {
                    for (int e = 0; e < d; e++, p += elemStride) {
                        dst[dstOff + e * n] = Float.intBitsToFloat(bits[p] << 16);
                    }
                }
                default -> {
                    for (int e = 0; e < d; e++, p += elemStride) {
                        dst[dstOff + e * n] = DType.f16BitsToFloat(bits[p]);
                    }
                }
            }
        }

        void write(int token, int head, float[] src, int srcOff, float mul) {
            int p = offset + token * tokenStride + head * headStride;
            switch (dtype) {
                case F32 -> {
                    for (int e = 0; e < d; e++, p += elemStride) {
                        f32[p] = src[srcOff + e] * mul;
                    }
                }
                case BF16 -> {
                    for (int e = 0; e < d; e++, p += elemStride) {
                        bits[p] = DType.toBf16Bits(src[srcOff + e] * mul);
                    }
                }
                default -> {
                    for (int e = 0; e < d; e++, p += elemStride) {
                        bits[p] = DType.toF16Bits(src[srcOff + e] * mul);
                    }
                }
            }
        }
    }

    /** The {@code [H, T]} log-sum-exp tensor, any strides, F32 directly and other float dtypes converted. */
    private static final class LseView {
        private final CpuStorage storage;
        private final float[] f32;
        private final int offset;
        private final int headStride;
        private final int tokenStride;

        LseView(Tensor lse) {
            storage = (CpuStorage) lse.storage();
            f32 = lse.dtype() == DType.F32 ? storage.f32() : null;
            offset = lse.offset();
            headStride = lse.stride(0);
            tokenStride = lse.stride(1);
        }

        float get(int head, int token) {
            int p = offset + head * headStride + token * tokenStride;
            return f32 != null ? f32[p] : (float) storage.get(p);
        }

        void set(int head, int token, float value) {
            int p = offset + head * headStride + token * tokenStride;
            if (f32 != null) {
                f32[p] = value;
            } else {
                storage.set(p, value);
            }
        }
    }

    /** Per-thread tiles, grown to the largest head dim and document seen, then reused. */
    private static final class Scratch {
        final float[] s = new float[BLOCK_Q * BLOCK_K];
        final float[] dp = new float[BLOCK_Q * BLOCK_K];
        final float[] rowMax = new float[BLOCK_Q];
        final float[] rowSum = new float[BLOCK_Q * L];
        float[] q = new float[0];
        float[] dO = new float[0];
        float[] di = new float[0];
        float[] lse = new float[0];
        float[] acc = new float[0];
        float[] kt = new float[0];
        float[] vt = new float[0];
        float[] kp = new float[0];
        float[] v = new float[0];
        float[] dk = new float[0];
        float[] dv = new float[0];
        float[] dq = new float[0];
        float[] row = new float[0];

        /**
         * Sizes the arrays for head dim d, {@code queryRows} packed queries, {@code keyRows} packed keys
         * and a dQ accumulator of {@code dqRows} rows.
         */
        void ensure(int d, int queryRows, int keyRows, int dqRows) {
            int dp = padded(d, L);
            queryRows = Math.max(queryRows, BLOCK_Q);
            keyRows = Math.max(keyRows, BLOCK_K);
            q = grow(q, queryRows * dp);
            dO = grow(dO, queryRows * dp);
            di = grow(di, queryRows);
            lse = grow(lse, queryRows);
            acc = grow(acc, BLOCK_Q * dp);
            kt = grow(kt, d * keyRows);
            vt = grow(vt, d * keyRows);
            kp = grow(kp, keyRows * dp);
            v = grow(v, keyRows * dp);
            dk = grow(dk, BLOCK_K * dp);
            dv = grow(dv, BLOCK_K * dp);
            dq = grow(dq, dqRows * dp);
            row = grow(row, d);
        }

        private static float[] grow(float[] a, int length) {
            return a.length >= length ? a : new float[length];
        }
    }
}
