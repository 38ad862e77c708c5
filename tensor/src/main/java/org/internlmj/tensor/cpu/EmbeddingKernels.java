package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.Simd.F;
import static org.internlmj.tensor.cpu.Simd.LANES;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.OpChecks;
import org.internlmj.tensor.Shapes;
import org.internlmj.tensor.Tensor;

/**
 * Embedding lookup (a row gather) and its backward (a scatter-add into the weight gradient).
 *
 * <p>Every id is checked before anything is written, so a bad id leaves the output untouched. The
 * backward must be race-free and deterministic although many tokens share an id: tokens are sorted
 * stably by id, and each task owns a set of distinct ids (and a block of hidden columns), adding that
 * id's gradient rows in token order into an fp32 accumulator that is rounded once into dweight. The
 * order of additions is therefore fixed by the ids alone, whatever the thread count.
 */
final class EmbeddingKernels {
    private EmbeddingKernels() {
    }

    private static final int GRAIN_ELEMENTS = 16 * 1024;
    /** Hidden columns per backward task: a multiple of every vector width. */
    private static final int COLUMN_BLOCK = 512;

    static void embedding(Parallel parallel, Tensor weight, Tensor ids, Tensor out) {
        String op = "embedding";
        OpChecks.sameDevice(op, weight, ids, out);
        int[] vh = table(op, "weight", weight);
        int v = vh[0];
        int h = vh[1];
        int t = tokens(op, ids);
        OpChecks.shape(op, "out", out, t, h);
        OpChecks.rows(op, out);
        int[] id = checkedIds(op, ids, v);
        RowView wv = RowView.of(op, "weight", weight);
        RowView ov = RowView.of(op, "out", out);
        boolean sameBits = weight.dtype() == out.dtype();
        parallel.forRange(t, Math.max(1, GRAIN_ELEMENTS / Math.max(1, h)), (start, end) -> {
            float[] ws = wv.scratch();
            float[] os = ov.scratch();
            for (int i = start; i < end; i++) {
                int src = wv.offset(id[i]);
                int dst = ov.offset(i);
                if (sameBits && wv.f32 != null) {
                    System.arraycopy(wv.f32, src, ov.f32, dst, h);
                } else if (sameBits) {
                    System.arraycopy(wv.bits, src, ov.bits, dst, h);
                } else {
                    float[] wa = wv.array(ws);
                    int wo = wv.load(id[i], ws);
                    System.arraycopy(wa, wo, ov.array(os), ov.target(i), h);
                    ov.store(i, os);
                }
            }
        });
    }

    static void embeddingBackward(Parallel parallel, Tensor ids, Tensor dout, Tensor dweight) {
        String op = "embeddingBackward";
        OpChecks.sameDevice(op, ids, dout, dweight);
        int[] vh = table(op, "dweight", dweight);
        int v = vh[0];
        int h = vh[1];
        int t = tokens(op, ids);
        OpChecks.shape(op, "dout", dout, t, h);
        OpChecks.rows(op, dout);
        int[] id = checkedIds(op, ids, v);
        RowView gv = RowView.of(op, "dout", dout);
        RowView dwv = RowView.of(op, "dweight", dweight);
        if (t == 0 || h == 0) {
            return;
        }
        // Tokens grouped by id, each group in token order: (id << 32 | token) sorts exactly so.
        long[] keys = new long[t];
        for (int i = 0; i < t; i++) {
            keys[i] = ((long) id[i] << 32) | i;
        }
        Arrays.sort(keys);
        int[] groupStart = groupStarts(keys);
        int groups = groupStart.length - 1;
        int columnBlocks = (h + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        int width = Math.min(h, COLUMN_BLOCK);
        // Split the groups into pieces of about equal token counts; the split only balances work, the
        // order of additions inside a group never changes.
        int pieces = Math.max(1, Math.min(groups, (int) Math.min(parallel.threads() * 4L,
                ((long) t * h + GRAIN_ELEMENTS - 1) / GRAIN_ELEMENTS)));
        int[] pieceStart = new int[pieces + 1];
        for (int p = 1; p < pieces; p++) {
            int target = (int) ((long) t * p / pieces);
            int g = Arrays.binarySearch(groupStart, 0, groups, target);
            pieceStart[p] = Math.max(pieceStart[p - 1], g >= 0 ? g : -g - 1);
        }
        pieceStart[pieces] = groups;
        parallel.forEach(pieces * columnBlocks, task -> {
            int piece = task / columnBlocks;
            int lo = (task % columnBlocks) * COLUMN_BLOCK;
            int n = Math.min(h, lo + COLUMN_BLOCK) - lo;
            float[] acc = new float[width];
            for (int g = pieceStart[piece]; g < pieceStart[piece + 1]; g++) {
                int row = (int) (keys[groupStart[g]] >>> 32);
                int dwo = dwv.offset(row) + lo;
                readFloats(dwv, dwo, acc, n);
                for (int k = groupStart[g]; k < groupStart[g + 1]; k++) {
                    int token = (int) keys[k];
                    addRow(gv, gv.offset(token) + lo, acc, n);
                }
                writeFloats(acc, dwv, dwo, n);
            }
        });
    }

    private static int tokens(String op, Tensor ids) {
        if (ids.rank() != 1) {
            throw new IllegalArgumentException(op + ": ids must be 1-D [T], got " + Shapes.str(ids.shape()));
        }
        OpChecks.indices(op, "ids", ids, ids.size(0));
        return ids.size(0);
    }

    /** The [V, H] shape of an embedding table, whose rows must be contiguous. */
    private static int[] table(String op, String what, Tensor w) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException(op + ": " + what + " must be [V, H], got " + Shapes.str(w.shape()));
        }
        OpChecks.rows(op, w);
        return w.shape();
    }

    /** The ids as ints, every one checked against {@code [0, vocab)}. */
    static int[] checkedIds(String op, Tensor ids, int vocab) {
        CpuStorage s = RowView.storage(ids);
        int n = ids.size(0);
        int off = ids.offset();
        int stride = ids.stride(0);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            long id = ids.dtype() == DType.I32 ? s.i32()[off + i * stride] : s.i64()[off + i * stride];
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException(op + ": token id " + id + " at position " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
            out[i] = (int) id;
        }
        return out;
    }

    /** Indices into sorted keys where a new id starts, with {@code keys.length} appended. */
    private static int[] groupStarts(long[] keys) {
        int[] starts = new int[keys.length + 1];
        int groups = 0;
        for (int k = 0; k < keys.length; k++) {
            if (k == 0 || (keys[k] >>> 32) != (keys[k - 1] >>> 32)) {
                starts[groups++] = k;
            }
        }
        starts[groups] = keys.length;
        return Arrays.copyOf(starts, groups + 1);
    }

    private static void readFloats(RowView t, int off, float[] dst, int n) {
        if (t.f32 != null) {
            System.arraycopy(t.f32, off, dst, 0, n);
        } else {
            RowView.toFloats(t.bits, off, t.dtype, dst, 0, n);
        }
    }

    private static void writeFloats(float[] src, RowView t, int off, int n) {
        if (t.f32 != null) {
            System.arraycopy(src, 0, t.f32, off, n);
        } else {
            RowView.fromFloats(src, 0, t.bits, off, t.dtype, n);
        }
    }

    /** {@code acc[0..n) += row}, the row read from an F32/BF16/F16 tensor at {@code off}. */
    private static void addRow(RowView t, int off, float[] acc, int n) {
        if (t.f32 != null) {
            float[] a = t.f32;
            int i = 0;
            for (int bound = F.loopBound(n); i < bound; i += LANES) {
                FloatVector.fromArray(F, acc, i).add(FloatVector.fromArray(F, a, off + i)).intoArray(acc, i);
            }
            for (; i < n; i++) {
                acc[i] = acc[i] + a[off + i];
            }
        } else if (t.dtype == DType.BF16) {
            for (int i = 0; i < n; i++) {
                acc[i] = acc[i] + DType.bf16BitsToFloat(t.bits[off + i]);
            }
        } else {
            for (int i = 0; i < n; i++) {
                acc[i] = acc[i] + Float.float16ToFloat(t.bits[off + i]);
            }
        }
    }
}
