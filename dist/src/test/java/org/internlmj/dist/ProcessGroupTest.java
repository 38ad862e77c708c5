package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.stream.Stream;
import org.internlmj.dist.ProcessGroup.ReduceOp;
import org.internlmj.dist.ProcessGroup.Work;
import org.internlmj.dist.Worlds.Engine;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every collective and point-to-point operation of both engines (threads, TCP) on 1 to 4 ranks, against
 * results each rank computes locally from every rank's (seeded) data with a plain loop: rank-order fp32
 * sums rounded once to the dtype. Comparisons are bit for bit, so every rank also holds identical bits.
 */
class ProcessGroupTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    /** Over one 1 MiB TCP frame for F32 on every rank count, so multi-frame paths run too. */
    private static final int LARGE = 4 * (TcpFrame.MAX_PAYLOAD / 4) + 12_345;

    static Stream<Arguments> worlds() {
        List<Arguments> a = new ArrayList<>();
        for (Engine e : Engine.values()) {
            for (int n = 1; n <= 4; n++) {
                a.add(Arguments.of(e, n));
            }
        }
        return a.stream();
    }

    /** Rank {@code rank}'s values of test case {@code salt}: every rank can compute every rank's. */
    static float[] values(int rank, int count, long salt) {
        Random rnd = new Random(salt * 1_000_003L + rank * 7919L + count);
        float[] v = new float[count];
        for (int i = 0; i < count; i++) {
            v[i] = rnd.nextFloat() * 6 - 3;
        }
        return v;
    }

    static float[] rounded(float[] v, DType d) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = d.round(v[i]);
        }
        return r;
    }

    /** Reference results, computed once per case for all ranks of a world. */
    private static final java.util.Map<List<Object>, float[]> REDUCED = new java.util.concurrent.ConcurrentHashMap<>();

    /** The reference: x0 op x1 op ... in fp32, AVG divides by n, one rounding to the dtype. */
    static float[] reduced(int n, int count, long salt, ReduceOp op, DType d) {
        return REDUCED.computeIfAbsent(List.of(n, count, salt, op, d), k -> reduce(n, count, salt, op, d));
    }

    private static float[] reduce(int n, int count, long salt, ReduceOp op, DType d) {
        float[] acc = rounded(values(0, count, salt), d);
        for (int k = 1; k < n; k++) {
            float[] x = rounded(values(k, count, salt), d);
            for (int i = 0; i < count; i++) {
                acc[i] = op == ReduceOp.MAX ? Math.max(acc[i], x[i]) : acc[i] + x[i];
            }
        }
        for (int i = 0; i < count; i++) {
            if (op == ReduceOp.AVG) {
                acc[i] = acc[i] / n;
            }
            acc[i] = d.round(acc[i]);
        }
        return acc;
    }

    static void assertBits(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        int bad = 0;
        int first = -1;
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                bad++;
                first = first < 0 ? i : first;
            }
        }
        if (bad > 0) {
            fail(what + ": " + bad + " of " + expected.length + " elements differ, first at " + first + ": expected "
                    + expected[first] + ", got " + actual[first]);
        }
    }

    @ParameterizedTest(name = "{0} x {1}")
    @MethodSource("worlds")
    void allReduceMatchesRankOrderSums(Engine engine, int n) {
        Worlds.run(engine, n, TIMEOUT, g -> {
            long salt = 1;
            for (DType d : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                for (ReduceOp op : ReduceOp.values()) {
                    for (int count : new int[] {1, 7, 33, 1000}) {
                        salt++;
                        Tensor t = Tensor.of(values(g.rank(), count, salt), d, count);
                        g.allReduce(t, op).await();
                        assertBits(reduced(n, count, salt, op, d), t.toFloatArray(),
                                "allReduce " + op + " " + count + " x " + d + " on rank " + g.rank());
                    }
                }
            }
            Tensor big = Tensor.of(values(g.rank(), LARGE, 99), DType.F32, LARGE);
            g.allReduce(big, ReduceOp.SUM).await();
            assertBits(reduced(n, LARGE, 99, ReduceOp.SUM, DType.F32), big.toFloatArray(), "large allReduce");
            return null;
        });
    }

    @ParameterizedTest(name = "{0} x {1}")
    @MethodSource("worlds")
    void allReduceOfViewsAndOtherDtypes(Engine engine, int n) {
        Worlds.run(engine, n, TIMEOUT, g -> {
            // a contiguous view with an offset into a larger storage: only its elements change
            Tensor whole = Tensor.full(-1, DType.F32, Device.CPU, 10, 5);
            Tensor rows = whole.narrow(0, 3, 4);
            rows.copyFrom(Tensor.of(values(g.rank(), 20, 7), 4, 5));
            g.allReduce(rows, ReduceOp.SUM).await();
            assertBits(reduced(n, 20, 7, ReduceOp.SUM, DType.F32), rows.contiguous().toFloatArray(), "view");
            assertEquals(-1.0, whole.get(2, 4));
            assertEquals(-1.0, whole.get(7, 0));

            Tensor ints = Tensor.ofInts(new int[] {g.rank() + 1, -g.rank(), Integer.MAX_VALUE}, 3);
            g.allReduce(ints, ReduceOp.SUM).await();
            int wrapped = 0;
            for (int k = 0; k < n; k++) {
                wrapped += Integer.MAX_VALUE;
            }
            assertArrayEquals(new int[] {n * (n + 1) / 2, -n * (n - 1) / 2, wrapped}, ints.toIntArray());
            Tensor longs = Tensor.ofLongs(new long[] {g.rank() * 10_000_000_000L, -g.rank()}, 2);
            g.allReduce(longs, ReduceOp.MAX).await();
            assertArrayEquals(new long[] {(n - 1) * 10_000_000_000L, 0}, longs.toLongArray());
            Tensor doubles = Tensor.of(new double[] {0.1 * (g.rank() + 1), 1e300}, 2);
            g.allReduce(doubles, ReduceOp.AVG).await();
            double sum = 0;
            for (int k = 0; k < n; k++) {
                sum += 0.1 * (k + 1);
            }
            double big = 1e300;
            for (int k = 1; k < n; k++) {
                big += 1e300;
            }
            assertArrayEquals(new double[] {sum / n, big / n}, doubles.toDoubleArray());
            assertThrows(IllegalArgumentException.class, () -> g.allReduce(Tensor.ofInts(new int[] {1}, 1), ReduceOp.AVG));
            return null;
        });
    }

    @ParameterizedTest(name = "{0} x {1}")
    @MethodSource("worlds")
    void reduceScatterGivesEachRankItsPart(Engine engine, int n) {
        Worlds.run(engine, n, TIMEOUT, g -> {
            long salt = 100;
            for (DType d : new DType[] {DType.F32, DType.BF16}) {
                for (ReduceOp op : ReduceOp.values()) {
                    for (int part : op == ReduceOp.AVG && d == DType.F32 ? new int[] {1, 5, 300_001} : new int[] {1, 5}) {
                        salt++;
                        Tensor in = Tensor.of(values(g.rank(), part * n, salt), d, n, part);
                        Tensor out = Tensor.zeros(d, Device.CPU, part);
                        g.reduceScatter(in, out, op).await();
                        float[] all = reduced(n, part * n, salt, op, d);
                        float[] mine = java.util.Arrays.copyOfRange(all, g.rank() * part, (g.rank() + 1) * part);
                        assertBits(mine, out.toFloatArray(), "reduceScatter " + op + " " + part + " x " + d);
                    }
                }
            }
            // in place: the output is this rank's part of the input
            Tensor in = Tensor.of(values(g.rank(), 6 * n, 1), 6 * n);
            g.reduceScatter(in, in.narrow(0, 6 * g.rank(), 6), ReduceOp.SUM).await();
            float[] all = reduced(n, 6 * n, 1, ReduceOp.SUM, DType.F32);
            assertBits(java.util.Arrays.copyOfRange(all, 6 * g.rank(), 6 * g.rank() + 6),
                    in.narrow(0, 6 * g.rank(), 6).contiguous().toFloatArray(), "in-place reduceScatter");
            assertThrows(IllegalArgumentException.class,
                    () -> g.reduceScatter(Tensor.zeros(DType.F32, Device.CPU, 3 * n + 1), Tensor.zeros(DType.F32, Device.CPU, 3),
                            ReduceOp.SUM));
            return null;
        });
    }

    @ParameterizedTest(name = "{0} x {1}")
    @MethodSource("worlds")
    void allGatherConcatenatesInRankOrder(Engine engine, int n) {
        Worlds.run(engine, n, TIMEOUT, g -> {
            for (DType d : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                for (int part : d == DType.F32 ? new int[] {1, 7, 300_001} : new int[] {1, 7}) {
                    Tensor in = Tensor.of(values(g.rank(), part, part), d, part);
                    Tensor out = Tensor.zeros(d, Device.CPU, n, part);
                    g.allGather(in, out).await();
                    float[] expected = new float[n * part];
                    for (int k = 0; k < n; k++) {
                        System.arraycopy(rounded(values(k, part, part), d), 0, expected, k * part, part);
                    }
                    assertBits(expected, out.toFloatArray(), "allGather " + part + " x " + d);
                }
            }
            Tensor ids = Tensor.ofLongs(new long[] {g.rank(), 1L << 40}, 2);
            Tensor all = Tensor.zeros(DType.I64, Device.CPU, 2 * n);
            g.allGather(ids, all).await();
            long[] expected = new long[2 * n];
            for (int k = 0; k < n; k++) {
                expected[2 * k] = k;
                expected[2 * k + 1] = 1L << 40;
            }
            assertArrayEquals(expected, all.toLongArray());
            // in place: the input is this rank's slot of the output
            Tensor slots = Tensor.zeros(DType.F32, Device.CPU, 3 * n);
            slots.narrow(0, 3 * g.rank(), 3).copyFrom(Tensor.of(values(g.rank(), 3, 5), 3));
            g.allGather(slots.narrow(0, 3 * g.rank(), 3), slots).await();
            for (int k = 0; k < n; k++) {
                assertBits(values(k, 3, 5), slots.narrow(0, 3 * k, 3).contiguous().toFloatArray(), "in-place slot " + k);
            }
            return null;
        });
    }

    @ParameterizedTest(name = "{0} x {1}")
    @MethodSource("worlds")
    void broadcastFromEveryRoot(Engine engine, int n) {
        Worlds.run(engine, n, TIMEOUT, g -> {
            for (int root = 0; root < n; root++) {
                for (DType d : new DType[] {DType.F32, DType.BF16}) {
                    for (int count : d == DType.F32 ? new int[] {1, 7, 700_001} : new int[] {1, 7, 1000}) {
                        Tensor t = Tensor.of(values(g.rank(), count, root), d, count);
                        g.broadcast(t, root).await();
                        assertBits(rounded(values(root, count, root), d), t.toFloatArray(),
                                "broadcast from " + root + " of " + count + " x " + d);
                    }
                }
            }
            return null;
        });
    }

    @ParameterizedTest(name = "{0} x {1}")
    @MethodSource("worlds")
    void barrierWaitsForEveryRank(Engine engine, int n) {
        AtomicIntegerArray arrived = new AtomicIntegerArray(n);
        Worlds.run(engine, n, TIMEOUT, g -> {
            for (int round = 1; round <= 3; round++) {
                Thread.sleep(20L * ((g.rank() + round) % n));
                arrived.set(g.rank(), round);
                g.barrier();
                for (int k = 0; k < n; k++) {
                    assertTrue(arrived.get(k) >= round, "rank " + k + " had not reached round " + round);
                }
                g.barrier();
            }
            return null;
        });
    }

    @ParameterizedTest(name = "{0} x {1}")
    @MethodSource("worlds")
    void sendAndRecvAroundARing(Engine engine, int n) {
        if (n == 1) {
            Worlds.run(engine, 1, TIMEOUT, g -> {
                assertThrows(IllegalArgumentException.class, () -> g.send(Tensor.scalar(1), 0, 0));
                return null;
            });
            return;
        }
        Worlds.run(engine, n, TIMEOUT, g -> {
            int next = (g.rank() + 1) % n;
            int prev = (g.rank() + n - 1) % n;
            for (int count : new int[] {1, 33, 700_001}) {
                Tensor out = Tensor.of(values(g.rank(), count, 3), DType.BF16, count);
                Tensor in = Tensor.zeros(DType.BF16, Device.CPU, count);
                Work s = g.send(out, next, 5);
                Work r = g.recv(in, prev, 5);
                r.await();
                s.await();
                assertBits(rounded(values(prev, count, 3), DType.BF16), in.toFloatArray(), "ring of " + count);
            }
            // tags keep messages apart whatever order they are received in
            if (g.rank() == 0) {
                g.send(Tensor.of(new float[] {1, 2}, 2), 1, 1);
                g.send(Tensor.of(new float[] {3}, 1), 1, 2);
                g.send(Tensor.of(new float[] {4}, 1), 1, 2).await();
            } else if (g.rank() == 1) {
                Tensor b = Tensor.zeros(DType.F32, Device.CPU, 1);
                Tensor c = Tensor.zeros(DType.F32, Device.CPU, 1);
                Tensor a = Tensor.zeros(DType.F32, Device.CPU, 2);
                Work wb = g.recv(b, 0, 2);
                Work wc = g.recv(c, 0, 2);
                g.recv(a, 0, 1).await();
                wb.await();
                wc.await();
                assertArrayEquals(new float[] {1, 2}, a.toFloatArray());
                assertArrayEquals(new float[] {3}, b.toFloatArray());
                assertArrayEquals(new float[] {4}, c.toFloatArray());
            }
            // a size mismatch is reported on the receiving side, naming both shapes
            if (g.rank() == 0) {
                g.send(Tensor.zeros(DType.F32, Device.CPU, 3), 1, 9);
            } else if (g.rank() == 1) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> g.recv(Tensor.zeros(DType.F32, Device.CPU, 4), 0, 9).await());
                assertTrue(e.getMessage().contains("3 x F32") && e.getMessage().contains("4 x F32"), e.getMessage());
            }
            assertThrows(IllegalArgumentException.class, () -> g.recv(Tensor.scalar(0), g.rank(), 0));
            assertThrows(IllegalArgumentException.class, () -> g.send(Tensor.scalar(0), n, 0));
            return null;
        });
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Engine.class)
    void splitMakesSubgroupsThatWorkIndependently(Engine engine) {
        Worlds.run(engine, 4, TIMEOUT, g -> {
            ProcessGroup pair = g.split(new int[][] {{0, 2}, {1, 3}}, "data");
            assertEquals(2, pair.size());
            assertEquals(g.rank() / 2, pair.rank());
            assertEquals(g.rank() % 2 == 0 ? "data[0,2]" : "data[1,3]", pair.name());
            Tensor t = Tensor.of(new float[] {g.rank()}, 1);
            pair.allReduce(t, ReduceOp.SUM).await();
            assertEquals(g.rank() % 2 == 0 ? 2f : 4f, t.item());
            // the world keeps working alongside, with ops in flight on both
            Tensor w = Tensor.of(new float[] {1}, 1);
            Work ww = g.allReduce(w, ReduceOp.SUM);
            Tensor p = Tensor.of(new float[] {10 * g.rank()}, 1);
            pair.broadcast(p, 1).await();
            ww.await();
            assertEquals(4f, w.item());
            assertEquals(g.rank() % 2 == 0 ? 20f : 30f, p.item());
            // a rank outside every list gets null; a split of a split names world ranks
            ProcessGroup three = g.split(new int[][] {{3, 1, 0}}, "tensor");
            if (g.rank() == 2) {
                assertNull(three);
            } else {
                assertNotNull(three);
                assertEquals("tensor[3,1,0]", three.name());
                ProcessGroup inner = three.split(new int[][] {{1, 2}}, "inner");
                if (g.rank() == 3) {
                    assertNull(inner);
                } else {
                    assertEquals("inner[1,0]", inner.name());
                    Tensor x = Tensor.of(new float[] {g.rank() + 1}, 1);
                    inner.allReduce(x, ReduceOp.MAX).await();
                    assertEquals(2f, x.item());
                    inner.close();
                }
                Tensor y = Tensor.of(new float[] {1}, 1);
                three.allReduce(y, ReduceOp.SUM).await();
                assertEquals(3f, y.item());
                three.close();
            }
            pair.close();
            g.barrier();
            return null;
        });
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Engine.class)
    void splitWithDifferentListsFailsNamingTheRank(Engine engine) {
        List<String> messages = java.util.Collections.synchronizedList(new ArrayList<>());
        Worlds.run(engine, 2, TIMEOUT, g -> {
            int[][] lists = g.rank() == 0 ? new int[][] {{0, 1}} : new int[][] {{1, 0}};
            messages.add(assertThrows(IllegalStateException.class, () -> g.split(lists, "x")).getMessage());
            return null;
        });
        assertEquals(2, messages.size());
        for (String m : messages) {
            assertTrue(m.contains("split #0") && m.contains("rank"), m);
        }
        assertThrows(IllegalArgumentException.class, () -> GroupChecks.splitMembership(new int[][] {{0, 1}, {1}}, 2));
        assertThrows(IllegalArgumentException.class, () -> GroupChecks.splitMembership(new int[][] {{0, 2}}, 2));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Engine.class)
    void operationsRunAsynchronouslyInCallOrder(Engine engine) {
        Worlds.run(engine, 2, TIMEOUT, g -> {
            if (g.rank() == 1) {
                Thread.sleep(300);
            }
            long start = System.nanoTime();
            Tensor a = Tensor.of(values(g.rank(), 1000, 1), 1000);
            Tensor b = Tensor.of(values(g.rank(), LARGE, 2), LARGE);
            Tensor c = Tensor.of(values(g.rank(), 10, 3), 10);
            Work wa = g.allReduce(a, ReduceOp.SUM);
            Work wb = g.allReduce(b, ReduceOp.AVG);
            Work wc = g.allReduce(c, ReduceOp.MAX);
            long issued = System.nanoTime() - start;
            if (g.rank() == 0) {
                // rank 1 is still asleep: the calls returned at once and nothing is done yet
                assertTrue(issued < 200_000_000L, "issuing took " + issued / 1e6 + " ms");
                assertFalse(wa.isDone() || wb.isDone() || wc.isDone());
                double busy = 0;
                for (int i = 0; i < 1_000_000; i++) {
                    busy += Math.sqrt(i);
                }
                assertTrue(busy > 0);
            }
            wc.await();
            assertTrue(wa.isDone() && wb.isDone());
            wa.await();
            wb.await();
            assertBits(reduced(2, 1000, 1, ReduceOp.SUM, DType.F32), a.toFloatArray(), "a");
            assertBits(reduced(2, LARGE, 2, ReduceOp.AVG, DType.F32), b.toFloatArray(), "b");
            assertBits(reduced(2, 10, 3, ReduceOp.MAX, DType.F32), c.toFloatArray(), "c");
            return null;
        });
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Engine.class)
    void differentCollectivesOnRanksFailNamingBoth(Engine engine) {
        List<String> messages = java.util.Collections.synchronizedList(new ArrayList<>());
        Worlds.run(engine, 2, TIMEOUT, g -> {
            Tensor t = Tensor.zeros(DType.F32, Device.CPU, 4);
            Work w = g.rank() == 0 ? g.allReduce(t, ReduceOp.SUM) : g.allGather(Tensor.zeros(DType.F32, Device.CPU, 2), t);
            messages.add(assertThrows(IllegalStateException.class, w::await).getMessage());
            // the group is unusable afterwards, and says why
            IllegalStateException again = assertThrows(IllegalStateException.class, () -> g.allReduce(t, ReduceOp.SUM).await());
            assertTrue(again.getMessage().contains("earlier failure"), again.getMessage());
            return null;
        });
        for (String m : messages) {
            assertTrue(m.contains("allReduce(SUM, 4 x F32)") && m.contains("allGather(2 x F32 per rank)"), m);
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Engine.class)
    void aRankThatNeverCallsTimesOutNamingIt(Engine engine) {
        Duration timeout = Duration.ofMillis(600);
        List<String> messages = java.util.Collections.synchronizedList(new ArrayList<>());
        long start = System.nanoTime();
        Worlds.run(engine, 3, timeout, g -> {
            if (g.rank() == 2) {
                Thread.sleep(1_200); // alive, but never calls the all-reduce
                return null;
            }
            Tensor t = Tensor.zeros(DType.F32, Device.CPU, 8);
            CollectiveTimeoutException e = assertThrows(CollectiveTimeoutException.class,
                    () -> g.allReduce(t, ReduceOp.SUM).await());
            messages.add(e.getMessage());
            return null;
        });
        assertEquals(2, messages.size());
        for (String m : messages) {
            assertTrue(m.contains("allReduce #0") && m.contains("world[0-2]") && m.contains("rank 2 did not arrive")
                    && !m.contains("rank 1 did not") && m.contains("600 ms"), m);
        }
        assertTrue(System.nanoTime() - start < 10_000_000_000L);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Engine.class)
    void aRankThatThrowsFailsTheOthersFast(Engine engine) {
        List<RankFailedException> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        long[] waited = new long[3];
        RankFailedException e = assertThrows(RankFailedException.class, () -> Worlds.run(engine, 3, TIMEOUT, g -> {
            if (g.rank() == 1) {
                Thread.sleep(100);
                throw new IllegalStateException("boom on rank 1");
            }
            long start = System.nanoTime();
            Tensor t = Tensor.zeros(DType.F32, Device.CPU, 8);
            seen.add(assertThrows(RankFailedException.class, () -> g.allReduce(t, ReduceOp.SUM).await()));
            waited[g.rank()] = System.nanoTime() - start;
            Tensor r = Tensor.zeros(DType.F32, Device.CPU, 1);
            assertThrows(RuntimeException.class, () -> g.recv(r, 1, 0).await());
            return null;
        }));
        assertEquals(1, e.rank());
        assertTrue(e.getCause().getMessage().contains("boom on rank 1"), e.toString());
        assertEquals(2, seen.size());
        for (RankFailedException f : seen) {
            assertEquals(1, f.rank(), f.getMessage());
            assertTrue(f.getMessage().contains("rank 1") && f.getMessage().contains("allReduce #0"), f.getMessage());
        }
        // far less than the 30 s timeout
        assertTrue(waited[0] < 5_000_000_000L && waited[2] < 5_000_000_000L, waited[0] / 1e6 + " ms, " + waited[2] / 1e6 + " ms");
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Engine.class)
    void aRecvWithNoSenderTimesOutNamingThePeer(Engine engine) {
        List<String> messages = java.util.Collections.synchronizedList(new ArrayList<>());
        Worlds.run(engine, 2, Duration.ofMillis(400), g -> {
            if (g.rank() == 0) {
                messages.add(assertThrows(CollectiveTimeoutException.class,
                        () -> g.recv(Tensor.zeros(DType.F32, Device.CPU, 2), 1, 3).await()).getMessage());
            } else {
                Thread.sleep(800);
            }
            return null;
        });
        assertEquals(1, messages.size());
        assertTrue(messages.get(0).contains("recv from rank 1 (tag 3)") && messages.get(0).contains("rank 1 did not send"),
                messages.get(0));
    }

    @Test
    void threadRanksThatReturnEarlyCountAsGone() {
        List<String> messages = java.util.Collections.synchronizedList(new ArrayList<>());
        try (ThreadWorld w = new ThreadWorld(2, TIMEOUT)) {
            long start = System.nanoTime();
            w.run(g -> {
                if (g.rank() == 0) {
                    Tensor t = Tensor.zeros(DType.F32, Device.CPU, 4);
                    g.allReduce(t, ReduceOp.SUM).await();
                    messages.add(assertThrows(RankFailedException.class, () -> g.allReduce(t, ReduceOp.SUM).await())
                            .getMessage());
                } else {
                    // issues its part without waiting, then returns: the call still runs
                    g.allReduce(Tensor.zeros(DType.F32, Device.CPU, 4), ReduceOp.SUM);
                }
                return null;
            });
            assertTrue(System.nanoTime() - start < 5_000_000_000L);
            // the world can run again afterwards
            List<Integer> ranks = w.run(ProcessGroup::rank);
            assertEquals(List.of(0, 1), ranks);
        }
        assertEquals(1, messages.size());
        assertTrue(messages.get(0).contains("rank 1 returned from its task without calling it"), messages.get(0));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Engine.class)
    void closedGroupsRefuseWork(Engine engine) {
        Worlds.run(engine, 2, TIMEOUT, g -> {
            ProcessGroup sub = g.split(new int[][] {{0, 1}}, "sub");
            sub.close();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> sub.allReduce(Tensor.zeros(DType.F32, Device.CPU, 1), ReduceOp.SUM).await());
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
            g.barrier();
            return null;
        });
    }
}
