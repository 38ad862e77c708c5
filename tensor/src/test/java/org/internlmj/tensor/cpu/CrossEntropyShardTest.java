package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.FusedFixtures.CPU;
import static org.internlmj.tensor.cpu.FusedFixtures.REF;
import static org.internlmj.tensor.cpu.FusedFixtures.poisoned;
import static org.internlmj.tensor.cpu.FusedFixtures.uniform;
import static org.internlmj.tensor.testing.TensorAssert.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The vocabulary-parallel cross-entropy kernels: each shard's statistics (lse, target logit, logit sum)
 * against the reference, the shards' statistics combined as the ranks combine them against the whole-row
 * loss, and each shard's backward against its columns of the whole-row gradient. Shards are column views
 * of the whole logits (rows strided by the whole vocabulary), of unequal widths.
 */
class CrossEntropyShardTest {
    private static final int IGNORE = -100;

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (DType dt : new DType[] {DType.F32, DType.BF16}) {
            for (int v : new int[] {7, 129, 1031}) {
                for (int shards : new int[] {1, 2, 3}) {
                    b.add(Arguments.of(dt, 33, v, shards, shards == 2 ? 0f : 0.1f));
                }
            }
            b.add(Arguments.of(dt, 1, 33, 4, 0.1f));
            b.add(Arguments.of(dt, 5, 20_000, 2, 0.1f));
        }
        return b.build();
    }

    /** Shard boundaries: unequal widths, the last shard taking the remainder. */
    private static int[] bounds(int v, int shards) {
        int[] b = new int[shards + 1];
        for (int s = 1; s < shards; s++) {
            b[s] = Math.max(b[s - 1] + 1, (int) ((long) v * s / shards) - (s % 2 == 0 ? 0 : 1));
        }
        b[shards] = v;
        return b;
    }

    @ParameterizedTest(name = "{0} N={1} V={2} shards={3} s={4}")
    @MethodSource("cases")
    void shardsCombineToTheWholeRowLoss(DType dt, int n, int v, int shards, float smoothing) {
        Tensor logits = uniform(11, -6, 6, dt, n, v);
        Tensor y = CrossEntropyTest.labels(12, n, v, v % 2 == 1);
        int[] b = bounds(v, shards);
        double[][] lse = new double[shards][];
        double[][] target = new double[shards][];
        double[][] sum = new double[shards][];
        for (int s = 0; s < shards; s++) {
            Tensor shard = logits.narrow(1, b[s], b[s + 1] - b[s]);
            Tensor[] ref = stats(REF, shard, y, b[s]);
            Tensor[] cpu = stats(CPU, shard, y, b[s]);
            assertClose(ref[0], cpu[0], 1e-5, 2e-6, "lse of shard " + s);
            assertClose(ref[1], cpu[1], 0, 0, "target logit of shard " + s);
            assertClose(ref[2], cpu[2], 1e-4, 1e-5, "logit sum of shard " + s);
            lse[s] = toDouble(cpu[0]);
            target[s] = toDouble(cpu[1]);
            sum[s] = toDouble(cpu[2]);
        }
        // the ranks' combination: max of the lse, then the log of the sum of exp(lse - max)
        double[] loss = new double[n];
        float[] z = new float[n];
        int[] labels = toInts(y);
        for (int r = 0; r < n; r++) {
            double m = Double.NEGATIVE_INFINITY;
            for (int s = 0; s < shards; s++) {
                m = Math.max(m, lse[s][r]);
            }
            double e = 0;
            double xy = 0;
            double total = 0;
            for (int s = 0; s < shards; s++) {
                e += Math.exp(lse[s][r] - m);
                xy += target[s][r];
                total += sum[s][r];
            }
            z[r] = (float) (m + Math.log(e));
            loss[r] = labels[r] == IGNORE ? 0
                    : (1 - smoothing) * (z[r] - xy) + (smoothing == 0 ? 0 : smoothing * (z[r] - total / v));
        }
        Tensor wholeLoss = poisoned(DType.F32, n);
        Tensor wholeLse = poisoned(DType.F32, n);
        REF.crossEntropy(logits, y, IGNORE, smoothing, wholeLoss, wholeLse);
        assertClose(toDouble(wholeLse), toDoubleF(z), 1e-5, 2e-6, "combined lse");
        assertClose(toDouble(wholeLoss), loss, 1e-5, 2e-5, "combined loss");

        Tensor dloss = uniform(13, 0.5, 2, DType.F32, n);
        Tensor whole = poisoned(dt, n, v);
        REF.crossEntropyBackward(logits, y, wholeLse, IGNORE, smoothing, dloss, whole);
        Tensor lseTensor = Tensor.of(z, n);
        boolean bf16 = dt == DType.BF16;
        for (int s = 0; s < shards; s++) {
            int w = b[s + 1] - b[s];
            Tensor shard = logits.narrow(1, b[s], w);
            Tensor gRef = poisoned(dt, n, w);
            Tensor g = poisoned(dt, n, w);
            REF.crossEntropyShardBackward(shard, y, b[s], v, lseTensor, IGNORE, smoothing, dloss, gRef);
            CPU.crossEntropyShardBackward(shard, y, b[s], v, lseTensor, IGNORE, smoothing, dloss, g);
            assertClose(gRef, g, bf16 ? 1e-4 : 1e-7, bf16 ? 1.6e-2 : 2e-5, "dlogits of shard " + s);
            assertClose(whole.narrow(1, b[s], w).contiguous(), g, bf16 ? 1e-4 : 1e-6, bf16 ? 1.6e-2 : 1e-4,
                    "shard " + s + " against the whole-row gradient");
        }
    }

    @Test
    void gradientIntoAStridedShardOfAWholeBuffer() {
        // dlogits may itself be a column view: each rank could write into its slot of a gathered buffer
        int n = 9;
        int v = 300;
        Tensor logits = uniform(21, -3, 3, DType.F32, n, v);
        Tensor y = CrossEntropyTest.labels(22, n, v, false);
        Tensor lse = poisoned(DType.F32, n);
        REF.crossEntropy(logits, y, IGNORE, 0.1f, poisoned(DType.F32, n), lse);
        Tensor dloss = uniform(23, 0.5, 2, DType.F32, n);
        Tensor whole = poisoned(DType.F32, n, v);
        REF.crossEntropyBackward(logits, y, lse, IGNORE, 0.1f, dloss, whole);
        Tensor out = poisoned(DType.F32, n, v);
        CPU.crossEntropyShardBackward(logits.narrow(1, 0, 100), y, 0, v, lse, IGNORE, 0.1f, dloss, out.narrow(1, 0, 100));
        CPU.crossEntropyShardBackward(logits.narrow(1, 100, 200), y, 100, v, lse, IGNORE, 0.1f, dloss,
                out.narrow(1, 100, 200));
        assertClose(whole, out, 1e-7, 2e-5, "two shards written into one buffer");
    }

    @Test
    void labelsOfOtherShardsAreNotErrorsButLabelsOutsideTheVocabularyAre() {
        Tensor logits = uniform(31, -1, 1, DType.F32, 3, 8);
        Tensor y = Tensor.ofInts(new int[] {2, 12, IGNORE}, 3);
        Tensor[] s = stats(CPU, logits, y, 8);
        assertEquals(0f, s[1].toFloatArray()[0], "label 2 lies in another shard");
        assertEquals((float) logits.get(1, 4), s[1].toFloatArray()[1], "label 12 is column 4 of the shard at 8");
        assertEquals(0f, s[1].toFloatArray()[2], "ignored row");
        Tensor lse = s[0];
        Tensor dloss = Tensor.of(new float[] {1, 1, 1}, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.crossEntropyShardBackward(logits, Tensor.ofInts(new int[] {2, 16, 0}, 3), 8, 16, lse, IGNORE,
                        0f, dloss, poisoned(DType.F32, 3, 8)));
        assertTrue(e.getMessage().contains("label 16") && e.getMessage().contains("[0, 16)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.crossEntropyShardBackward(logits, y, 12, 16, lse,
                IGNORE, 0f, dloss, poisoned(DType.F32, 3, 8)));
        assertTrue(e.getMessage().contains("does not fit a vocabulary of 16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.crossEntropyShardStats(logits, y, 0,
                poisoned(DType.F32, 3), poisoned(DType.BF16, 3), poisoned(DType.F32, 3)));
        assertTrue(e.getMessage().contains("target"), e.getMessage());
    }

    private static Tensor[] stats(org.internlmj.tensor.Backend backend, Tensor logits, Tensor y, int start) {
        int n = logits.size(0);
        Tensor lse = poisoned(DType.F32, n);
        Tensor target = poisoned(DType.F32, n);
        Tensor sum = poisoned(DType.F32, n);
        backend.crossEntropyShardStats(logits, y, start, lse, target, sum);
        return new Tensor[] {lse, target, sum};
    }

    private static double[] toDouble(Tensor t) {
        return t.toDoubleArray();
    }

    private static double[] toDoubleF(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    private static int[] toInts(Tensor y) {
        long[] l = y.toLongArray();
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) {
            out[i] = (int) l[i];
        }
        return out;
    }
}
