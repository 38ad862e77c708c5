package org.internlmj.dist;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.internlmj.dist.ProcessGroup.ReduceOp;
import org.internlmj.dist.ProcessGroup.Work;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;

/**
 * One rank of the MPI jobs {@link MpiProcessGroupTest} starts ({@code mpirun ... MpiRankMain <scenario>}).
 * Every expected value is computed locally: each rank can regenerate every other rank's input from its
 * seed. A failed check throws, which makes the JVM exit non-zero and mpirun end the job.
 *
 * <ul>
 *   <li>{@code collectives}: every operation, dtype and reduction on this job's size; prints "PASS rank r".
 *   <li>{@code hang}: the last rank sleeps instead of calling an all-reduce; the others must time out.
 *   <li>{@code kill}: rank 1 SIGKILLs itself during a stream of all-reduces.
 *   <li>{@code bench MB}: times an fp32 all-reduce of MB megabytes (not a test).
 * </ul>
 */
public final class MpiRankMain {
    private static MpiProcessGroup world;
    private static int checks;

    private MpiRankMain() {
    }

    public static void main(String[] args) throws Exception {
        String scenario = args[0];
        switch (scenario) {
            case "collectives" -> collectives();
            case "hang" -> hang();
            case "hang-recv" -> hangRecv();
            case "kill" -> kill();
            case "bench" -> bench(Integer.parseInt(args[1]));
            default -> throw new IllegalArgumentException("unknown scenario " + scenario);
        }
    }

    // ------------------------------------------------------------------ collectives

    private static void collectives() {
        world = MpiProcessGroup.world(MpiProcessGroup.Options.defaults().withTimeout(Duration.ofSeconds(60)));
        try {
            int size = world.size();
            check(("world[" + (size == 2 ? "0,1" : "0-" + (size - 1)) + "]").equals(world.name()), "name " + world.name());
            // Large tensors go through MPI in pieces of about 1 MB: the largest sizes here span several.
            for (int n : new int[] {1, 7, 33, 1000, 300_001}) {
                allReduceF32(n, ReduceOp.SUM);
            }
            allReduceF32(129, ReduceOp.AVG);
            allReduceF32(4099, ReduceOp.MAX);
            for (DType dt : new DType[] {DType.BF16, DType.F16}) {
                for (ReduceOp op : ReduceOp.values()) {
                    allReduceHalfExact(dt, 257, op);
                }
            }
            allReduceBf16Random(300_007);
            allReduceInts();
            reduceScatter(DType.F32, 33, ReduceOp.SUM);
            reduceScatter(DType.F32, 1, ReduceOp.AVG);
            reduceScatter(DType.BF16, 65, ReduceOp.SUM);
            reduceScatter(DType.F32, 17, ReduceOp.MAX);
            reduceScatter(DType.F32, 140_001, ReduceOp.AVG);
            reduceScatter(DType.BF16, 70_001, ReduceOp.SUM);
            allGather(DType.F32, 17);
            allGather(DType.BF16, 5);
            allGather(DType.I64, 3);
            allGather(DType.F32, 150_001);
            allGather(DType.BF16, 300_001);
            for (int root = 0; root < size; root++) {
                broadcast(DType.F32, 1001, root);
                broadcast(DType.BF16, 7, root);
            }
            broadcast(DType.F32, 300_001, size - 1);
            world.barrier();
            sendRecvRing(DType.F32, 1001);
            sendRecvRing(DType.BF16, 33);
            sendRecvRing(DType.F32, 1 << 20);
            sendRecvBothWays();
            identicalOnEveryRank();
            overlap();
            splits();
            argumentErrors();
            System.out.println("PASS rank " + world.rank() + " (" + checks + " checks besides per-element ones)");
        } finally {
            world.close();
        }
    }

    private static float[] data(int rank, int n, long salt) {
        Random r = new Random(rank * 1_000_003L + salt * 7919L + n);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    /** Values whose sums over up to 4 ranks, and their averages, are exact in BF16 and F16. */
    private static float[] halfExactData(int rank, int n, long salt) {
        Random r = new Random(rank * 31L + salt + n);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (r.nextInt(33) - 16) / 2f;
        }
        return a;
    }

    private static void allReduceF32(int n, ReduceOp op) {
        int size = world.size();
        Tensor t = Tensor.of(data(world.rank(), n, 1), n);
        world.allReduce(t, op).await();
        float[] got = t.toFloatArray();
        float[][] inputs = new float[size][];
        Arrays.setAll(inputs, r -> data(r, n, 1));
        checkReduced("allReduce F32 " + op + " n=" + n, got, inputs, 0, op);
    }

    /**
     * {@code got[i]} against the reduction over ranks of {@code inputs[r][from + i]} in float64, within
     * 1e-6 of the sum of magnitudes (MPI adds in an order of its own).
     */
    private static void checkReduced(String what, float[] got, float[][] inputs, int from, ReduceOp op) {
        for (int i = 0; i < got.length; i++) {
            double expected = op == ReduceOp.MAX ? Double.NEGATIVE_INFINITY : 0;
            double scale = 0;
            for (float[] input : inputs) {
                float v = input[from + i];
                expected = op == ReduceOp.MAX ? Math.max(expected, v) : expected + v;
                scale += Math.abs(v);
            }
            if (op == ReduceOp.AVG) {
                expected /= inputs.length;
                scale /= inputs.length;
            }
            if (!(Math.abs(got[i] - expected) <= 1e-6 * scale + 1e-30)) {
                fail(what + " [" + i + "] " + got[i] + " vs " + expected);
            }
        }
    }

    private static void allReduceHalfExact(DType dt, int n, ReduceOp op) {
        int size = world.size();
        Tensor t = Tensor.of(halfExactData(world.rank(), n, dt.ordinal()), dt, n);
        world.allReduce(t, op).await();
        check(t.dtype() == dt, "dtype kept");
        float[] got = t.toFloatArray();
        float[][] inputs = new float[size][];
        Arrays.setAll(inputs, r -> halfExactData(r, n, dt.ordinal()));
        for (int i = 0; i < n; i++) {
            float expected = op == ReduceOp.MAX ? Float.NEGATIVE_INFINITY : 0;
            for (int r = 0; r < size; r++) {
                float v = inputs[r][i];
                expected = op == ReduceOp.MAX ? Math.max(expected, v) : expected + v;
            }
            if (op == ReduceOp.AVG) {
                expected /= size;
            }
            if (!(got[i] == expected)) {
                fail("allReduce " + dt + " " + op + " [" + i + "] " + got[i] + " vs " + expected);
            }
        }
    }

    /** Random BF16: the fp32 sum rounded once, so within half a BF16 step (plus fp32 order effects). */
    private static void allReduceBf16Random(int n) {
        int size = world.size();
        Tensor t = Tensor.of(data(world.rank(), n, 2), DType.BF16, n);
        world.allReduce(t, ReduceOp.SUM).await();
        float[] got = t.toFloatArray();
        float[][] inputs = new float[size][];
        Arrays.setAll(inputs, r -> data(r, n, 2));
        for (int i = 0; i < n; i++) {
            double sum = 0;
            double scale = 0;
            for (int r = 0; r < size; r++) {
                float v = DType.bf16BitsToFloat(DType.toBf16Bits(inputs[r][i]));
                sum += v;
                scale += Math.abs(v);
            }
            double tol = Math.abs(sum) * Math.pow(2, -8) + scale * 1e-6 + 1e-30;
            if (!(Math.abs(got[i] - sum) <= tol)) {
                fail("allReduce BF16 random [" + i + "] " + got[i] + " vs " + sum);
            }
        }
    }

    private static void allReduceInts() {
        int size = world.size();
        int r = world.rank();
        Tensor i32 = Tensor.ofInts(new int[] {r, -r * 1000, 7, r == size - 1 ? 99 : 0}, 4);
        world.allReduce(i32, ReduceOp.SUM).await();
        int tri = size * (size - 1) / 2;
        check(Arrays.equals(i32.toIntArray(), new int[] {tri, -tri * 1000, 7 * size, 99}), "I32 SUM "
                + Arrays.toString(i32.toIntArray()));
        Tensor max = Tensor.ofInts(new int[] {r, -r}, 2);
        world.allReduce(max, ReduceOp.MAX).await();
        check(Arrays.equals(max.toIntArray(), new int[] {size - 1, 0}), "I32 MAX");
        long big = 1L << 40;
        Tensor i64 = Tensor.ofLongs(new long[] {big + r, -big}, 2);
        world.allReduce(i64, ReduceOp.SUM).await();
        check(Arrays.equals(i64.toLongArray(), new long[] {big * size + tri, -big * size}), "I64 SUM");
    }

    private static void reduceScatter(DType dt, int n, ReduceOp op) {
        int size = world.size();
        int me = world.rank();
        float[] mine = dt == DType.F32 ? data(me, n * size, 3) : halfExactData(me, n * size, 3);
        Tensor in = Tensor.of(mine, dt, n * size);
        Tensor out = Tensor.zeros(dt, in.device(), n);
        world.reduceScatter(in, out, op).await();
        check(Arrays.equals(in.toFloatArray(), Tensor.of(mine, dt, n * size).toFloatArray()), "reduceScatter keeps input");
        float[] got = out.toFloatArray();
        float[][] inputs = new float[size][];
        Arrays.setAll(inputs, r -> dt == DType.F32 ? data(r, n * size, 3) : halfExactData(r, n * size, 3));
        checkReduced("reduceScatter " + dt + " " + op + " n=" + n, got, inputs, me * n, op);
    }

    private static void allGather(DType dt, int n) {
        int size = world.size();
        Tensor in;
        if (dt == DType.I64) {
            long[] v = new long[n];
            Arrays.setAll(v, i -> (long) world.rank() << 33 | i);
            in = Tensor.ofLongs(v, n);
        } else {
            in = Tensor.of(data(world.rank(), n, 4), dt, n);
        }
        Tensor out = Tensor.zeros(dt, in.device(), size, n);
        world.allGather(in, out).await();
        for (int r = 0; r < size; r++) {
            if (dt == DType.I64) {
                long[] row = Arrays.copyOfRange(out.toLongArray(), r * n, (r + 1) * n);
                for (int i = 0; i < n; i++) {
                    if (!(row[i] == ((long) r << 33 | i))) {
                        fail("allGather I64 row " + r);
                    }
                }
            } else {
                float[] row = Arrays.copyOfRange(out.toFloatArray(), r * n, (r + 1) * n);
                // Bit-exact: nothing is computed on gathered values.
                check(Arrays.equals(row, Tensor.of(data(r, n, 4), dt, n).toFloatArray()), "allGather " + dt + " row " + r);
            }
        }
    }

    private static void broadcast(DType dt, int n, int root) {
        int me = world.rank();
        Tensor t = Tensor.of(data(me, n, 5 + root), dt, n);
        world.broadcast(t, root).await();
        check(Arrays.equals(t.toFloatArray(), Tensor.of(data(root, n, 5 + root), dt, n).toFloatArray()),
                "broadcast " + dt + " from " + root);
    }

    private static void sendRecvRing(DType dt, int n) {
        int size = world.size();
        int me = world.rank();
        int next = (me + 1) % size;
        int prev = (me + size - 1) % size;
        Tensor out = Tensor.of(data(me, n, 6), dt, n);
        Tensor in = Tensor.zeros(dt, out.device(), n);
        Work r = world.recv(in, prev, 5);
        Work s = world.send(out, next, 5);
        s.await();
        r.await();
        check(Arrays.equals(in.toFloatArray(), Tensor.of(data(prev, n, 6), dt, n).toFloatArray()),
                "send/recv ring " + dt + " n=" + n);
    }

    /** Every rank sends to every other before receiving anything: only nonblocking sends survive this. */
    private static void sendRecvBothWays() {
        int size = world.size();
        int me = world.rank();
        int n = 300_000;
        List<Work> sends = new ArrayList<>();
        for (int p = 0; p < size; p++) {
            if (p != me) {
                sends.add(world.send(Tensor.of(data(me * 100 + p, n, 7), n), p, 9));
            }
        }
        for (int p = 0; p < size; p++) {
            if (p != me) {
                Tensor in = Tensor.zeros(DType.F32, org.internlmj.tensor.Device.CPU, n);
                world.recv(in, p, 9).await();
                check(Arrays.equals(in.toFloatArray(), data(p * 100 + me, n, 7)), "all-to-all sends from " + p);
            }
        }
        sends.forEach(Work::await);
    }

    /** MPI's reductions must give the same bits on every rank: gather everyone's result and compare. */
    private static void identicalOnEveryRank() {
        int size = world.size();
        int n = 50_001;
        Tensor t = Tensor.of(data(world.rank(), n, 8), n);
        world.allReduce(t, ReduceOp.SUM).await();
        Tensor all = Tensor.zeros(DType.F32, t.device(), size, n);
        world.allGather(t, all).await();
        float[] a = all.toFloatArray();
        for (int r = 1; r < size; r++) {
            for (int i = 0; i < n; i++) {
                if (!(Float.floatToRawIntBits(a[i]) == Float.floatToRawIntBits(a[r * n + i]))) {
                    fail("rank " + r
                        + " got different bits at " + i);
                }
            }
        }
    }

    /** Two all-reduces and a broadcast in flight at once, awaited out of order. */
    private static void overlap() {
        int size = world.size();
        int n = 1 << 20;
        Tensor a = Tensor.full(world.rank() + 1, DType.F32, org.internlmj.tensor.Device.CPU, n);
        Tensor b = Tensor.full(2 * (world.rank() + 1), DType.F32, org.internlmj.tensor.Device.CPU, n);
        Tensor c = Tensor.full(world.rank() == 0 ? 42 : -1, DType.F32, org.internlmj.tensor.Device.CPU, 5);
        Work wa = world.allReduce(a, ReduceOp.SUM);
        Work wb = world.allReduce(b, ReduceOp.SUM);
        Work wc = world.broadcast(c, 0);
        wc.await();
        wb.await();
        wa.await();
        check(wa.isDone() && wb.isDone() && wc.isDone(), "isDone after await");
        float tri = size * (size + 1) / 2f;
        check(a.toFloatArray()[n - 1] == tri && a.toFloatArray()[0] == tri, "first of two in flight");
        check(b.toFloatArray()[n / 2] == 2 * tri, "second of two in flight");
        check(c.toFloatArray()[4] == 42, "broadcast in flight");
    }

    private static void splits() {
        int size = world.size();
        int me = world.rank();
        // Reversed order: the subgroup's rank order is the order listed.
        int[][] halves = size == 2 ? new int[][] {{1, 0}} : new int[][] {{0, 2}, {3, 1}};
        ProcessGroup g = world.split(halves, "data");
        check(g != null, "every rank is in some subgroup");
        int[] mineList = halves[0].length == size || contains(halves[0], me) ? halves[0] : halves[1];
        int expectedRank = indexOf(mineList, me);
        check(g.rank() == expectedRank && g.size() == mineList.length, "subgroup rank " + g.rank() + " size " + g.size());
        String expectedName = "data[" + mineList[0] + "," + mineList[1] + "]";
        check(g.name().equals(expectedName), "subgroup name " + g.name() + " vs " + expectedName);
        Tensor t = Tensor.of(new float[] {me, 1}, 2);
        g.allReduce(t, ReduceOp.SUM).await();
        float sum = 0;
        for (int r : mineList) {
            sum += r;
        }
        check(t.toFloatArray()[0] == sum && t.toFloatArray()[1] == mineList.length, "subgroup allReduce");
        // A subgroup's collectives overlap the parent's.
        Tensor u = Tensor.of(new float[] {1}, 1);
        Tensor v = Tensor.of(new float[] {1}, 1);
        Work wu = g.allReduce(u, ReduceOp.SUM);
        Work wv = world.allReduce(v, ReduceOp.SUM);
        wv.await();
        wu.await();
        check(u.toFloatArray()[0] == mineList.length && v.toFloatArray()[0] == size, "parent and child in flight");
        // Point to point inside the subgroup uses subgroup ranks.
        int peer = 1 - g.rank();
        Tensor in = Tensor.zeros(DType.F32, t.device(), 3);
        Work rw = g.recv(in, peer, 0);
        g.send(Tensor.of(new float[] {me, me, me}, 3), peer, 0).await();
        rw.await();
        check(in.toFloatArray()[2] == mineList[peer], "send/recv in a subgroup");
        // Nested split, and ranks left out get null.
        ProcessGroup solo = g.split(new int[][] {{0}}, "solo");
        check((g.rank() == 0) == (solo != null), "left-out ranks get null");
        if (solo != null) {
            Tensor s = Tensor.of(new float[] {5}, 1);
            solo.allReduce(s, ReduceOp.AVG).await();
            check(s.toFloatArray()[0] == 5 && solo.size() == 1, "one-rank group");
            solo.close();
        }
        g.close();
        g.close();
        try {
            g.allReduce(t, ReduceOp.SUM);
            check(false, "a closed group refuses operations");
        } catch (IllegalStateException expected) {
            check(expected.getMessage().contains("closed"), expected.getMessage());
        }
        // A subgroup left open is closed with the world.
        world.split(new int[][] {java.util.stream.IntStream.range(0, size).toArray()}, "left-open");
    }

    private static void argumentErrors() {
        expectIllegal(() -> world.allReduce(Tensor.ofInts(new int[] {1}, 1), ReduceOp.AVG), "AVG of I32");
        expectIllegal(() -> world.reduceScatter(Tensor.of(new float[3], 3), Tensor.of(new float[3], 3), ReduceOp.SUM),
                "expected group size");
        expectIllegal(() -> world.allGather(Tensor.of(new float[2], 2), Tensor.of(new float[3], 3)), "expected group size");
        expectIllegal(() -> world.broadcast(Tensor.of(new float[2], 2), world.size()), "is not a rank");
        expectIllegal(() -> world.send(Tensor.of(new float[2], 2), 0, 40_000), "tag 40000");
        expectIllegal(() -> world.allReduce(Tensor.of(new float[6], 2, 3).transpose(0, 1), ReduceOp.SUM), "contiguous");
        expectIllegal(() -> world.split(new int[][] {{0, 0}}, "x"), "listed twice");
    }

    private static void expectIllegal(Runnable r, String fragment) {
        try {
            r.run();
        } catch (IllegalArgumentException e) {
            check(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' lacks '" + fragment + "'");
            return;
        }
        check(false, "no IllegalArgumentException for " + fragment);
    }

    // ------------------------------------------------------------------ faults

    /**
     * The last rank sleeps where the others call allReduce #3; the others must name it within the
     * timeout. Rank 0 runs without abort-on-timeout, so it must see its group refuse further work while
     * rank 1 (with the default) ends the job.
     */
    private static void hang() throws InterruptedException {
        boolean abort = ProcessEnv.rank() != 0;
        world = MpiProcessGroup.world(MpiProcessGroup.Options.defaults().withTimeout(Duration.ofSeconds(2))
                .withAbortOnTimeout(abort));
        int me = world.rank();
        world.barrier();
        world.allReduce(Tensor.of(new float[] {1}, 1), ReduceOp.SUM).await();
        if (me == world.size() - 1) {
            System.out.println("SLEEPING rank " + me);
            Thread.sleep(120_000);
        }
        System.out.println("ARRIVED rank " + me + " at " + System.currentTimeMillis());
        try {
            world.allReduce(Tensor.of(new float[1000], 1000), ReduceOp.SUM).await();
            System.out.println("UNEXPECTED completion on rank " + me);
        } catch (CollectiveTimeoutException e) {
            System.out.println("CAUGHT rank " + me + " " + e.getClass().getSimpleName() + " at "
                    + System.currentTimeMillis());
        }
        if (!abort) {
            try {
                world.barrier();
            } catch (IllegalStateException e) {
                System.out.println("REFUSED rank " + me + ": " + e.getMessage());
            }
        }
        Thread.sleep(120_000);
    }

    /** The launcher's rank of this process, before MPI is initialized. */
    private static final class ProcessEnv {
        static int rank() {
            String r = System.getenv("OMPI_COMM_WORLD_RANK");
            return r == null ? -1 : Integer.parseInt(r);
        }
    }

    /** Rank 0 waits for a second message rank 1 never sends. */
    private static void hangRecv() throws InterruptedException {
        world = MpiProcessGroup.world(MpiProcessGroup.Options.defaults().withTimeout(Duration.ofSeconds(2)));
        int me = world.rank();
        Tensor t = Tensor.zeros(DType.F32, org.internlmj.tensor.Device.CPU, 10);
        if (me == 1) {
            world.send(t, 0, 7).await();
            System.out.println("SLEEPING rank 1");
            Thread.sleep(120_000);
        } else if (me == 0) {
            world.recv(t, 1, 7).await();
            System.out.println("ARRIVED rank 0 at " + System.currentTimeMillis());
            try {
                world.recv(t, 1, 7).await();
            } catch (CollectiveTimeoutException e) {
                System.out.println("CAUGHT rank 0 " + e.getClass().getSimpleName() + " at " + System.currentTimeMillis());
            }
        }
        Thread.sleep(120_000);
    }

    /** Rank 1 kills itself with SIGKILL while the others are inside an all-reduce. */
    private static void kill() throws Exception {
        world = MpiProcessGroup.world(MpiProcessGroup.Options.defaults().withTimeout(Duration.ofSeconds(2)));
        int n = 1 << 20;
        Tensor t = Tensor.zeros(DType.F32, org.internlmj.tensor.Device.CPU, n);
        for (int i = 0; ; i++) {
            Work w = world.allReduce(t, ReduceOp.SUM);
            if (i == 5 && world.rank() == 1) {
                System.out.println("KILLING rank 1 at " + System.currentTimeMillis());
                System.out.flush();
                new ProcessBuilder("kill", "-9", Long.toString(ProcessHandle.current().pid())).start().waitFor();
            }
            w.await();
        }
    }

    // ------------------------------------------------------------------ measurement

    /**
     * Best-of-N time of an fp32 all-reduce through the group (staging copies, group thread) and, in the
     * same processes, of a bare {@code MPI_Allreduce} on a native buffer from the calling thread.
     */
    private static void bench(int megabytes) {
        world = MpiProcessGroup.world();
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            int n = megabytes * (1 << 20) / 4;
            Tensor t = Tensor.zeros(DType.F32, org.internlmj.tensor.Device.CPU, n);
            java.lang.foreign.MemorySegment raw = arena.allocate(4L * n, 64);
            double group = Double.MAX_VALUE;
            double bare = Double.MAX_VALUE;
            for (int i = 0; i < 10; i++) {
                world.barrier();
                long s = System.nanoTime();
                world.allReduce(t, ReduceOp.SUM).await();
                group = Math.min(group, (System.nanoTime() - s) / 1e6);
                world.barrier();
                s = System.nanoTime();
                int rc = org.internlmj.ffm.Mpi.MPI_Allreduce(org.internlmj.ffm.Mpi.MPI_IN_PLACE, raw, n,
                        org.internlmj.ffm.Mpi.MPI_FLOAT(), org.internlmj.ffm.Mpi.MPI_SUM(),
                        org.internlmj.ffm.Mpi.MPI_COMM_WORLD());
                bare = Math.min(bare, (System.nanoTime() - s) / 1e6);
                check(rc == 0, "MPI_Allreduce rc " + rc);
            }
            if (world.rank() == 0) {
                System.out.printf(java.util.Locale.ROOT, "allReduce F32 %d MB np=%d: group %.2f ms (%.2f GB/s), bare "
                        + "MPI_Allreduce %.2f ms, ratio %.2f%n", megabytes, world.size(), group,
                        megabytes * 1.048576e6 / group / 1e6, bare, group / bare);
            }
            // Latency of a small all-reduce (4 KB): the group adds two thread hand-offs to the MPI call.
            Tensor small = Tensor.zeros(DType.F32, org.internlmj.tensor.Device.CPU, 1024);
            double groupSmall = Double.MAX_VALUE;
            double bareSmall = Double.MAX_VALUE;
            for (int round = 0; round < 5; round++) {
                world.barrier();
                long s = System.nanoTime();
                for (int i = 0; i < 500; i++) {
                    world.allReduce(small, ReduceOp.SUM).await();
                }
                groupSmall = Math.min(groupSmall, (System.nanoTime() - s) / 1e3 / 500);
                world.barrier();
                s = System.nanoTime();
                for (int i = 0; i < 500; i++) {
                    org.internlmj.ffm.Mpi.MPI_Allreduce(org.internlmj.ffm.Mpi.MPI_IN_PLACE, raw, 1024,
                            org.internlmj.ffm.Mpi.MPI_FLOAT(), org.internlmj.ffm.Mpi.MPI_SUM(),
                            org.internlmj.ffm.Mpi.MPI_COMM_WORLD());
                }
                bareSmall = Math.min(bareSmall, (System.nanoTime() - s) / 1e3 / 500);
            }
            if (world.rank() == 0) {
                System.out.printf(java.util.Locale.ROOT, "allReduce F32 4 KB np=%d: group %.1f us, bare %.1f us%n",
                        world.size(), groupSmall, bareSmall);
            }
        } finally {
            world.close();
        }
    }

    // ------------------------------------------------------------------ helpers

    private static boolean contains(int[] a, int v) {
        return indexOf(a, v) >= 0;
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        return -1;
    }

    private static void check(boolean ok, String what) {
        checks++;
        if (!ok) {
            fail(what);
        }
    }

    /** For per-element checks: the message is built only on failure. */
    private static void fail(String what) {
        throw new AssertionError("rank " + (world == null ? "?" : world.rank()) + ": " + what);
    }
}
