package org.internlmj.dist;

import static org.internlmj.tensor.testing.TensorAssert.assertClose;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.internlmj.autograd.F;
import org.internlmj.autograd.Variable;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Generator;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The region collectives give, on 2 and 3 ranks (threads, and TCP connections), the values and gradients of
 * the same computation on one rank: a two-layer block (column-parallel then row-parallel linear) with and
 * without sequence parallelism, the hidden-dimension gather and the sequence scatter.
 */
class ParallelRegionsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final int T = 6;
    private static final int H = 4;
    private static final int M = 6;

    private static Tensor rand(long seed, int... shape) {
        return Tensor.uniform(new Generator(seed), -1, 1, DType.F32, Device.CPU, shape);
    }

    /** The one-rank block: {@code y = tanh(x W1^T) W2^T}, loss {@code sum(y * c)}; returns y and the grads. */
    private static Tensor[] single() {
        Variable x = Variable.parameter(rand(1, T, H));
        Variable w1 = Variable.parameter(rand(2, M, H));
        Variable w2 = Variable.parameter(rand(3, H, M));
        Variable y = F.linear(F.tanh(F.linear(x, w1, null)), w2, null);
        F.sum(F.mul(y, Variable.of(rand(4, T, H)))).backward();
        return new Tensor[] {y.data(), x.grad(), w1.grad(), w2.grad()};
    }

    @ParameterizedTest(name = "{0}, tp {1}")
    @CsvSource({"THREADS, 1", "THREADS, 2", "THREADS, 3", "TCP, 2"})
    void columnThenRowParallelMatchesOneRank(Worlds.Engine engine, int n) {
        for (boolean sp : new boolean[] {false, true}) {
            Tensor[] ref = single();
            int m = M / n;
            int t = T / n;
            List<Tensor[]> out = Worlds.run(engine, n, TIMEOUT, g -> {
                int r = g.rank();
                // this rank's rows of W1 (column-parallel) and columns of W2 (row-parallel)
                Variable w1 = Variable.parameter(rand(2, M, H).narrow(0, r * m, m).contiguous());
                Variable w2 = Variable.parameter(rand(3, H, M).narrow(1, r * m, m).contiguous());
                Variable x = Variable.parameter(sp ? rand(1, T, H).narrow(0, r * t, t).contiguous() : rand(1, T, H));
                Variable in = sp ? ParallelRegions.gatherFromSequence(x, g) : ParallelRegions.copyToRegion(x, g);
                Variable partial = F.linear(F.tanh(F.linear(in, w1, null)), w2, null);
                Variable y = sp ? ParallelRegions.reduceScatterToSequence(partial, g)
                        : ParallelRegions.reduceFromRegion(partial, g);
                Tensor c = sp ? rand(4, T, H).narrow(0, r * t, t) : rand(4, T, H);
                F.sum(F.mul(y, Variable.of(c))).backward();
                return new Tensor[] {y.data(), x.grad(), w1.grad(), w2.grad()};
            });
            for (int r = 0; r < n; r++) {
                Tensor[] o = out.get(r);
                String at = "rank " + r + " of " + n + (sp ? " with" : " without") + " sequence parallelism: ";
                assertClose(sp ? ref[0].narrow(0, r * t, t) : ref[0], o[0], 1e-6, 1e-5, at + "output");
                assertClose(sp ? ref[1].narrow(0, r * t, t) : ref[1], o[1], 1e-6, 1e-5, at + "input gradient");
                assertClose(ref[2].narrow(0, r * m, m), o[2], 1e-6, 1e-5, at + "W1 rows' gradient");
                assertClose(ref[3].narrow(1, r * m, m), o[3], 1e-6, 1e-5, at + "W2 columns' gradient");
            }
        }
    }

    @Test
    void gatherLastDimAndScatterToSequence() {
        int n = 2;
        Tensor c = rand(7, T, 2 * H);
        try (ThreadWorld world = new ThreadWorld(n, TIMEOUT)) {
            List<Tensor[]> out = world.run(g -> {
                int r = g.rank();
                Variable e = Variable.parameter(rand(10 + r, T, H));
                Variable whole = ParallelRegions.gatherLastDim(e, g);
                F.sum(F.mul(whole, Variable.of(c))).backward();
                Variable z = Variable.parameter(rand(20, T, 2 * H));
                Variable part = ParallelRegions.scatterToSequence(z, g);
                F.sum(F.mul(part, Variable.of(c.narrow(0, r * T / n, T / n)))).backward();
                return new Tensor[] {whole.data(), e.grad(), part.data(), z.grad()};
            });
            for (int r = 0; r < n; r++) {
                Tensor[] o = out.get(r);
                for (int k = 0; k < n; k++) {
                    assertClose(rand(10 + k, T, H), o[0].narrow(1, k * H, H), 0, 0, "rank " + k + "'s columns");
                }
                assertClose(c.narrow(1, r * H, H), o[1], 0, 0, "gatherLastDim backward keeps this rank's columns");
                assertClose(rand(20, T, 2 * H).narrow(0, r * T / n, T / n), o[2], 0, 0, "this rank's tokens");
                assertClose(c, o[3], 0, 0, "scatterToSequence backward gathers every rank's gradient");
            }
        }
    }

    @Test
    void oneRankRecordsNothingAndUnevenSequencesAreErrors() {
        Variable x = Variable.parameter(rand(1, 5, H));
        SoloProcessGroup solo = new SoloProcessGroup("tensor");
        assertSame(x, ParallelRegions.copyToRegion(x, solo));
        assertSame(x, ParallelRegions.reduceScatterToSequence(x, solo));
        assertSame(x, ParallelRegions.gatherLastDim(x, solo));
        try (ThreadWorld world = new ThreadWorld(2, TIMEOUT)) {
            world.run(g -> {
                Variable v = Variable.parameter(rand(1, 5, H));
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> ParallelRegions.reduceScatterToSequence(v, g));
                assertTrue(e.getMessage().contains("[5, 4]") && e.getMessage().contains("2 equal parts"), e.getMessage());
                return null;
            });
        }
    }
}
