package org.internlmj.tensor.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.BinaryOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.ReduceOp;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.UnaryOp;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Runs the host side of every CUDA backend operation on a simulated device: argument checks, layout
 * handling, temporaries, launch geometry, and (with nvcc) each launch's argument block against the
 * kernel's PTX signature. Numerics need a GPU and are checked by the gpu-tagged tests and GpuCheck.
 */
class CudaHostSideTest {
    private static final DType[] FLOATS = {DType.F32, DType.BF16, DType.F16};

    @BeforeAll
    static void report() {
        System.out.println("kernel signatures checked against nvcc PTX: " + NvccKernels.nvcc().isPresent());
    }

    @Test
    void fillCopyAndRandomForEveryDtypeAndLayout() {
        SimulatedDevice d = new SimulatedDevice(true);
        CudaBackend b = d.backend;
        for (DType t : DType.values()) {
            Tensor x = d.tensor(t, 7, 33);
            b.fill(x, 1.5);
            b.fill(x.transpose(0, 1), -2);
            b.fillRandom(x, Backend.Distribution.NORMAL, 0, 1, 42, 7);
            for (DType u : DType.values()) {
                Tensor y = d.tensor(u, 33, 7);
                b.copy(x.transpose(0, 1), y);
                b.copy(d.tensor(t, 7), y);          // broadcast a row
            }
        }
        List<String> names = d.drain();
        assertTrue(names.contains("copy/fill_strided"));
        assertTrue(names.contains("copy/copy_raw"));
        assertTrue(names.contains("copy/copy_convert"));
        assertTrue(names.contains("random/philox_fill"));
        assertThrows(IllegalArgumentException.class, () -> b.fillRandom(d.tensor(DType.F32, 4, 4).transpose(0, 1),
                Backend.Distribution.UNIFORM, 0, 1, 1, 0));
    }

    @Test
    void elementwiseWithBroadcastingAndViews() {
        SimulatedDevice d = new SimulatedDevice(true);
        CudaBackend b = d.backend;
        for (DType t : FLOATS) {
            Tensor x = d.tensor(t, 5, 7, 129);
            Tensor row = d.tensor(DType.F32, 129);
            Tensor out = d.tensor(t, 5, 7, 129);
            for (UnaryOp op : UnaryOp.values()) {
                b.unary(op, x, out);
            }
            for (BinaryOp op : BinaryOp.values()) {
                b.binary(op, x, row, out);
                b.binary(op, b.contiguousCopy(x.permute(1, 0, 2)).permute(1, 0, 2), x, out);
            }
            b.affine(x.narrow(2, 1, 64), 2.0, -1.0, out.narrow(2, 0, 64));
        }
        assertEquals(3 * (UnaryOp.values().length + 2 * BinaryOp.values().length + 1),
                d.drain().stream().filter(n -> n.startsWith("elementwise/")).count());
        Tensor a = d.tensor(DType.F32, 3, 4);
        assertThrows(IllegalArgumentException.class, () -> b.binary(BinaryOp.ADD, a, d.tensor(DType.F32, 5), a));
        assertThrows(IllegalArgumentException.class, () -> b.unary(UnaryOp.EXP, d.tensor(DType.F64, 3, 4), a));
        assertThrows(IllegalArgumentException.class, () -> b.unary(UnaryOp.EXP, Tensor.of(new float[12], 3, 4), a));
    }

    @Test
    void reductionsPickRunsOrColumns() {
        SimulatedDevice d = new SimulatedDevice(true);
        CudaBackend b = d.backend;
        Tensor x = d.tensor(DType.BF16, 6, 129, 33);
        for (ReduceOp op : ReduceOp.values()) {
            b.reduce(op, x, 2, d.tensor(DType.F32, 6, 129, 1));
            assertEquals(List.of("reduce/reduce_runs"), d.drain());
            b.reduce(op, x, 1, d.tensor(DType.F32, 6, 1, 33));
            assertEquals(List.of("reduce/reduce_columns"), d.drain());
            b.reduce(op, x.transpose(1, 2), 2, d.tensor(DType.F32, 6, 33, 1));
            assertEquals(List.of("reduce/reduce_columns"), d.drain());
        }
        b.reduce(ReduceOp.MEAN, d.tensor(DType.F32, 4, 0), 1, d.tensor(DType.F32, 4, 1));
        assertEquals(List.of("reduce/reduce_runs"), d.drain());
        b.sumOfSquares(x.narrow(1, 3, 100));
        assertEquals(List.of("reduce/sumsq_partial", "reduce/sumsq_final"), d.drain());
        assertThrows(IllegalArgumentException.class, () -> b.reduce(ReduceOp.SUM, x, 1, d.tensor(DType.F32, 6, 33)));
    }

    @Test
    void rowKernelsAcceptStridedLeadingDimensions() {
        SimulatedDevice d = new SimulatedDevice(true);
        CudaBackend b = d.backend;
        for (DType t : FLOATS) {
            Tensor x = d.tensor(t, 4, 9, 257).permute(1, 0, 2);    // [9, 4, 257], strided rows
            Tensor y = d.tensor(t, 9, 4, 257);
            b.softmax(x, y, false);
            b.softmax(x, y, true);
            b.softmaxBackward(y, x, d.tensor(t, 9, 4, 257), true);
            Tensor w = d.tensor(t, 257);
            Tensor rstd = d.tensor(DType.F32, 36);
            Tensor mean = d.tensor(DType.F32, 36);
            b.rmsNorm(x, w, 1e-6f, y, rstd);
            b.rmsNormBackward(x, w, rstd, y, d.tensor(t, 9, 4, 257), d.tensor(t, 257));
            b.layerNorm(x, w, null, 1e-5f, y, mean, rstd);
            b.layerNorm(x, w, d.tensor(DType.F32, 257), 1e-5f, y, mean, rstd);
            b.layerNormBackward(x, w, mean, rstd, y, d.tensor(t, 9, 4, 257), d.tensor(t, 257), null);
            b.layerNormBackward(x, w, mean, rstd, y, d.tensor(t, 9, 4, 257), d.tensor(t, 257), d.tensor(t, 257));
        }
        List<String> names = d.drain();
        assertTrue(names.contains("rmsnorm/norm_weight_sum"));
        assertEquals(3 * 3, names.stream().filter(n -> n.startsWith("softmax/")).count());
        assertThrows(IllegalArgumentException.class, () -> b.softmax(d.tensor(DType.F32, 4, 6).transpose(0, 1),
                d.tensor(DType.F32, 6, 4), false));
        assertThrows(IllegalArgumentException.class, () -> b.rmsNorm(d.tensor(DType.F32, 4, 6),
                d.tensor(DType.F32, 5), 1e-6f, d.tensor(DType.F32, 4, 6), d.tensor(DType.F32, 4)));
    }

    @Test
    void rotarySwigluEmbedding() {
        SimulatedDevice d = new SimulatedDevice(true);
        CudaBackend b = d.backend;
        Tensor x = d.tensor(DType.BF16, 37, 8, 128);
        b.rotary(x, d.tensor(DType.I32, 37), 10000, false, x);
        b.rotary(x, d.tensor(DType.I64, 37), 10000, true, d.tensor(DType.F32, 37, 8, 128));
        assertThrows(IllegalArgumentException.class, () -> b.rotary(d.tensor(DType.F32, 3, 2, 5),
                d.tensor(DType.I32, 3), 10000, false, d.tensor(DType.F32, 3, 2, 5)));
        Tensor g = d.tensor(DType.BF16, 33, 96);
        b.swiglu(g, b.contiguousCopy(g.transpose(0, 1)).transpose(0, 1), d.tensor(DType.BF16, 33, 96));
        b.swigluBackward(g, g, g, d.tensor(DType.F32, 33, 96), d.tensor(DType.BF16, 33, 96));
        for (int t : new int[] {1, 7, 2048, 5000}) {
            Tensor w = d.tensor(DType.F32, 1000, 64);
            Tensor ids = d.tensor(t % 2 == 0 ? DType.I64 : DType.I32, t);
            b.embedding(w, ids, d.tensor(DType.BF16, t, 64));
            b.embeddingBackward(ids, d.tensor(DType.BF16, t, 64), w);
        }
        List<String> names = d.drain();
        assertTrue(names.contains("embedding/bitonic_merge_global"), "5000 tokens sort across chunks");
        assertTrue(names.contains("embedding/bitonic_merge_local"));
        assertEquals(4, names.stream().filter(n -> n.equals("embedding/embedding_bwd_rows")).count());
    }

    @Test
    void crossEntropySplitsTheVocabulary() {
        SimulatedDevice d = new SimulatedDevice(true);
        CudaBackend b = d.backend;
        for (int v : new int[] {100, 100_003}) {
            Tensor logits = d.tensor(DType.BF16, 9, v);
            Tensor labels = d.tensor(DType.I64, 9);
            Tensor loss = d.tensor(DType.F32, 9);
            Tensor lse = d.tensor(DType.F32, 9);
            b.crossEntropy(logits, labels, -100, 0.1f, loss, lse);
            SimulatedDevice.Launch partial = d.launches.getFirst();
            assertEquals((v + CudaCrossEntropy.CHUNK - 1) / CudaCrossEntropy.CHUNK, partial.grid()[0]);
            assertEquals(9, partial.grid()[1]);
            b.crossEntropyBackward(logits, labels, lse, -100, 0.1f, loss, d.tensor(DType.BF16, 9, v));
            assertEquals(List.of("crossentropy/ce_partial", "crossentropy/ce_finalize", "crossentropy/ce_backward"),
                    d.drain());
            // a vocabulary shard: the same chunk pass, its own finalize, the shared backward
            Tensor shard = logits.narrow(1, v / 3, v / 2);
            b.crossEntropyShardStats(shard, labels, v / 3, lse, d.tensor(DType.F32, 9), d.tensor(DType.F32, 9));
            b.crossEntropyShardBackward(shard, labels, v / 3, v, lse, -100, 0.1f, loss, d.tensor(DType.BF16, 9, v / 2));
            assertEquals(List.of("crossentropy/ce_partial", "crossentropy/ce_shard_finalize", "crossentropy/ce_backward"),
                    d.drain());
            assertThrows(IllegalArgumentException.class, () -> b.crossEntropyShardBackward(shard, labels, v, v, lse,
                    -100, 0.1f, loss, d.tensor(DType.BF16, 9, v / 2)));
        }
    }

    @Test
    void attentionFusedAndReference() {
        for (boolean fused : new boolean[] {true, false}) {
            SimulatedDevice d = new SimulatedDevice(fused);
            CudaBackend b = d.backend;
            for (int dim : new int[] {32, 64, 80, 128, 160}) {
                int t = 300;
                int heads = 3;
                Tensor q = d.tensor(DType.BF16, t, heads, dim);
                Tensor cu = Tensor.ofInts(new int[] {0, 17, 17, 200, 300}, 5);
                Tensor out = d.tensor(DType.BF16, t, heads, dim);
                Tensor lse = d.tensor(DType.F32, heads, t);
                b.attention(q, q, q, cu, 0.125f, true, out, lse);
                b.attentionBackward(q, q, q, out, out, lse, cu, 0.125f, true, d.tensor(DType.BF16, t, heads, dim),
                        d.tensor(DType.BF16, t, heads, dim), d.tensor(DType.F32, t, heads, dim));
                List<String> names = d.drain();
                boolean expectFused = fused && dim <= 128;
                int hd = CudaAttention.kernelHeadDim(dim);
                assertEquals(expectFused, names.contains("attention/attn_fwd_d" + hd), dim + ": " + names);
                assertEquals(!expectFused, names.contains("softmax/attn_masked_softmax"), dim + ": " + names);
                if (expectFused) {
                    assertTrue(names.containsAll(List.of("attention/attn_bwd_dot", "attention/attn_bwd_dkdv_d" + hd,
                            "attention/attn_bwd_dq_d" + hd)), names.toString());
                }
            }
            if (fused) {
                // cu_seqlens already on the device: checked by the kernels, not the host.
                Tensor q = d.tensor(DType.F16, 64, 2, 64);
                b.attention(q, q, q, d.tensor(DType.I32, 3), 0.125f, false, d.tensor(DType.F16, 64, 2, 64),
                        d.tensor(DType.F32, 2, 64));
                assertEquals(List.of("attention/attn_tiles", "attention/attn_fwd_d64"), d.drain());
            }
            Tensor q = d.tensor(DType.BF16, 10, 2, 64);
            Tensor badCu = Tensor.ofInts(new int[] {0, 4, 9}, 3);
            assertThrows(IllegalArgumentException.class, () -> b.attention(q, q, q, badCu, 1f, true,
                    d.tensor(DType.BF16, 10, 2, 64), d.tensor(DType.F32, 2, 10)));
        }
    }

    @Test
    void gemmsPlanEveryTransposeAndBatchLayout() {
        SimulatedDevice d = new SimulatedDevice(true);
        CudaBackend b = d.backend;
        Tensor a = d.tensor(DType.BF16, 64, 32);
        Tensor bt = d.tensor(DType.BF16, 48, 32);
        b.matmul(a, bt.transpose(0, 1), d.tensor(DType.F32, 64, 48), 1f, 0f);
        b.matmul(a, bt.transpose(0, 1), d.tensor(DType.F32, 48, 64).transpose(0, 1), 1f, 1f);
        b.matmul(d.tensor(DType.BF16, 4, 64, 32), d.tensor(DType.BF16, 32, 48), d.tensor(DType.BF16, 4, 64, 48), 1f, 0f);
        assertEquals(3, d.gemms.size());
        assertEquals(List.of(), d.drain(), "describable layouts need no copies");
        b.matmul(a, bt.transpose(0, 1), d.tensor(DType.F16, 64, 48), 1f, 0f);
        assertEquals(List.of("copy/copy_convert"), d.drain(), "BF16 into F16 goes through an F32 temporary");
        // A broadcast batch (stride 0) of a column-major matrix: describable, no copy.
        b.matmul(d.tensor(DType.F32, 32, 64).transpose(0, 1).unsqueeze(0).expand(2, 64, 32).narrow(2, 0, 31),
                d.tensor(DType.F32, 31, 8), d.tensor(DType.F32, 2, 64, 8), 1f, 0f);
        assertEquals(List.of(), d.drain());
        // Every other column: neither stride is 1, so the operand is copied first.
        Tensor everyOther = Tensor.view(d.tensor(DType.F32, 64, 64).storage(), new int[] {64, 32}, new int[] {64, 2}, 0);
        b.matmul(everyOther, d.tensor(DType.F32, 32, 8), d.tensor(DType.F32, 64, 8), 1f, 0f);
        assertEquals(List.of("copy/copy_raw"), d.drain());
        assertThrows(IllegalArgumentException.class, () -> b.matmul(a, a, d.tensor(DType.F32, 64, 32), 1f, 0f));
    }

    @Test
    void adamwCutsManyTensorsIntoLaunches() {
        SimulatedDevice d = new SimulatedDevice(true);
        CudaBackend b = d.backend;
        AdamWStep step = new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0.1, 3, 0.5);
        List<Tensor> ps = new ArrayList<>();
        List<Tensor> gs = new ArrayList<>();
        List<Tensor> ms = new ArrayList<>();
        List<Tensor> vs = new ArrayList<>();
        List<Tensor> cs = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            int n = i == 5 ? 30_000_000 : 1000 + i;
            ps.add(d.tensor(DType.F32, n));
            gs.add(d.tensor(DType.BF16, n));
            ms.add(d.tensor(DType.F32, n));
            vs.add(d.tensor(DType.F32, n));
            cs.add(d.tensor(DType.BF16, n));
        }
        b.adamwMany(ps, gs, ms, vs, cs, step);
        long blocks = d.launches.stream().mapToLong(l -> l.grid()[0]).sum();
        long expected = 29 + (30_000_000L + CudaAdamW.CHUNK - 1) / CudaAdamW.CHUNK;
        assertEquals(expected, blocks, "every chunk of every tensor gets exactly one block");
        assertTrue(d.launches.stream().allMatch(l -> l.grid()[0] <= CudaAdamW.MAX_BLOCKS));
        d.drain();
        b.adamw(ps.get(0), gs.get(0).unsqueeze(1).expand(1000, 2).select(1, 1), ms.get(0), vs.get(0), step, null);
        assertEquals(List.of("adamw/adamw_multi"), d.drain());
        assertThrows(IllegalArgumentException.class, () -> b.adamw(gs.get(0), gs.get(0), ms.get(0), vs.get(0), step,
                null));
    }
}
