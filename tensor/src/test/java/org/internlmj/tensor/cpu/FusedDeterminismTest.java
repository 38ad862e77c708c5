package org.internlmj.tensor.cpu;

import static org.internlmj.tensor.cpu.FusedFixtures.bits;
import static org.internlmj.tensor.cpu.FusedFixtures.poisoned;
import static org.internlmj.tensor.cpu.FusedFixtures.random;
import static org.internlmj.tensor.cpu.FusedFixtures.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.internlmj.tensor.AdamWStep;
import org.internlmj.tensor.Backend;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Every fused kernel gives bit-identical results on 1, 2 and 3 threads (different task splits), and
 * again after the JIT has compiled it: the order of floating-point operations never depends on
 * scheduling or compilation.
 */
class FusedDeterminismTest {
    private static final CpuBackend ONE = new CpuBackend(1);
    private static final CpuBackend TWO = new CpuBackend(2);
    private static final CpuBackend THREE = new CpuBackend(3);

    @AfterAll
    static void stopPools() {
        ONE.parallel().close();
        TWO.parallel().close();
        THREE.parallel().close();
    }

    /** Runs {@code op} on each backend and compares every output tensor bit for bit. */
    private static void sameOnAllThreadCounts(String what, Function<Backend, List<Tensor>> op) {
        List<Tensor> one = op.apply(ONE);
        for (Backend b : new Backend[] {TWO, THREE}) {
            List<Tensor> other = op.apply(b);
            for (int i = 0; i < one.size(); i++) {
                assertArrayEquals(bits(one.get(i)), bits(other.get(i)), what + " output " + i + " on " + b.describe());
            }
        }
    }

    @Test
    void norms() {
        int n = 3000;
        int h = 129;
        Tensor x = random(1, DType.F32, n, h);
        Tensor w = uniform(2, 0.5, 1.5, DType.F32, h);
        Tensor bias = random(3, DType.F32, h);
        Tensor dy = random(4, DType.BF16, n, h);
        sameOnAllThreadCounts("rmsNorm", b -> {
            Tensor y = poisoned(DType.F32, n, h);
            Tensor r = poisoned(DType.F32, n);
            b.rmsNorm(x, w, 1e-5f, y, r);
            Tensor dx = poisoned(DType.BF16, n, h);
            Tensor dw = poisoned(DType.F32, h);
            b.rmsNormBackward(x, w, r, dy, dx, dw);
            return List.of(y, r, dx, dw);
        });
        sameOnAllThreadCounts("layerNorm", b -> {
            Tensor y = poisoned(DType.F32, n, h);
            Tensor m = poisoned(DType.F32, n);
            Tensor r = poisoned(DType.F32, n);
            b.layerNorm(x, w, bias, 1e-5f, y, m, r);
            Tensor dx = poisoned(DType.F32, n, h);
            Tensor dw = poisoned(DType.F32, h);
            Tensor db = poisoned(DType.F32, h);
            b.layerNormBackward(x, w, m, r, dy, dx, dw, db);
            return List.of(y, m, r, dx, dw, db);
        });
    }

    @Test
    void rotaryAndSwiGlu() {
        int t = 600;
        int[] pos = new int[t];
        for (int i = 0; i < t; i++) {
            pos[i] = i % 97;
        }
        Tensor positions = Tensor.ofInts(pos, t);
        Tensor x = random(5, DType.F32, t, 4, 64);
        sameOnAllThreadCounts("rotary", b -> {
            Tensor out = poisoned(DType.F32, t, 4, 64);
            b.rotary(x, positions, 10000, false, out);
            Tensor back = poisoned(DType.BF16, t, 4, 64);
            b.rotary(out, positions, 10000, true, back);
            return List.of(out, back);
        });
        Tensor g = uniform(6, -9, 9, DType.F32, 257, 1000);
        Tensor u = random(7, DType.F32, 257, 1000);
        Tensor d = random(8, DType.F32, 257, 1000);
        sameOnAllThreadCounts("swiglu", b -> {
            Tensor out = poisoned(DType.F32, 257, 1000);
            b.swiglu(g, u, out);
            Tensor dg = poisoned(DType.F32, 257, 1000);
            Tensor du = poisoned(DType.F32, 257, 1000);
            b.swigluBackward(g, u, d, dg, du);
            return List.of(out, dg, du);
        });
    }

    @Test
    void embeddingAndCrossEntropy() {
        Tensor ids = EmbeddingKernelsTest.ids(9, 4000, 300, true);
        Tensor dout = random(10, DType.F32, 4000, 700);
        Tensor start = random(11, DType.F32, 300, 700);
        sameOnAllThreadCounts("embeddingBackward", b -> {
            Tensor dw = start.copy();
            b.embeddingBackward(ids, dout, dw);
            Tensor out = poisoned(DType.F32, 4000, 700);
            b.embedding(dw, ids, out);
            return List.of(dw, out);
        });
        Tensor logits = uniform(12, -8, 8, DType.F32, 64, 5000);
        Tensor labels = CrossEntropyTest.labels(13, 64, 5000, false);
        Tensor dloss = random(14, DType.F32, 64);
        sameOnAllThreadCounts("crossEntropy", b -> {
            Tensor loss = poisoned(DType.F32, 64);
            Tensor lse = poisoned(DType.F32, 64);
            b.crossEntropy(logits, labels, -100, 0.1f, loss, lse);
            Tensor g = poisoned(DType.F32, 64, 5000);
            b.crossEntropyBackward(logits, labels, lse, -100, 0.1f, dloss, g);
            return List.of(loss, lse, g);
        });
    }

    @Test
    void adamw() {
        int n = 200_003;
        Tensor p0 = random(15, DType.F32, n);
        sameOnAllThreadCounts("adamw", b -> {
            Tensor p = p0.copy();
            Tensor m = poisoned(DType.F32, n);
            Tensor v = poisoned(DType.F32, n);
            b.fill(m, 0);
            b.fill(v, 0);
            Tensor copy = poisoned(DType.BF16, n);
            for (int t = 1; t <= 3; t++) {
                b.adamw(p, random(16 + t, DType.BF16, n), m, v, new AdamWStep(1e-3, 0.9, 0.95, 1e-8, 0.1, t, 0.7),
                        copy);
            }
            return List.of(p, m, v, copy);
        });
    }

    @Test
    void resultsDoNotChangeOnceTheJitHasCompiledTheKernels() {
        // Decisive when it runs before other tests have warmed the kernels up: lanewise EXP and
        // reduceLanes(ADD) of the Vector API fail it (their compiled and interpreted forms differ).
        Tensor logits = uniform(20, -8, 8, DType.F32, 3, 301);
        Tensor labels = Tensor.ofInts(new int[] {1, 2, 300}, 3);
        Tensor g = uniform(21, -8, 8, DType.F32, 301);
        Tensor x = random(22, DType.F32, 3, 301);
        Tensor w = uniform(23, 0.5, 1.5, DType.F32, 301);
        Function<Backend, List<Tensor>> all = b -> {
            List<Tensor> out = new ArrayList<>();
            Tensor loss = poisoned(DType.F32, 3);
            Tensor lse = poisoned(DType.F32, 3);
            b.crossEntropy(logits, labels, -100, 0.1f, loss, lse);
            Tensor dlogits = poisoned(DType.F32, 3, 301);
            b.crossEntropyBackward(logits, labels, lse, -100, 0.1f, Tensor.of(new float[] {1, 1, 1}, 3), dlogits);
            Tensor s = poisoned(DType.F32, 301);
            b.swiglu(g, g, s);
            Tensor y = poisoned(DType.F32, 3, 301);
            Tensor r = poisoned(DType.F32, 3);
            b.rmsNorm(x, w, 1e-6f, y, r);
            out.add(loss);
            out.add(lse);
            out.add(dlogits);
            out.add(s);
            out.add(y);
            out.add(r);
            return out;
        };
        List<Tensor> cold = all.apply(ONE);
        for (int i = 0; i < 3000; i++) {
            all.apply(ONE);
        }
        List<Tensor> warm = all.apply(ONE);
        for (int i = 0; i < cold.size(); i++) {
            assertArrayEquals(bits(cold.get(i)), bits(warm.get(i)), "output " + i);
        }
    }
}
