package org.internlmj.trainer.cli;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.internlmj.dist.ProcessGroup;
import org.internlmj.dist.ProcessGroup.ReduceOp;
import org.internlmj.dist.Rendezvous;
import org.internlmj.dist.ThreadWorld;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code internlmj dist-selftest} (hidden): joins the process group the launcher set up, runs every kind
 * of collective and a ring of sends, checks each result against what it must be, and can time a large
 * all-reduce. It is the worker that tests of {@code internlmj launch} (and of mpirun) start; it also
 * measures the process groups: {@code internlmj launch --nproc 2 -- dist-selftest --bench-mb 64}.
 */
@Command(name = "dist-selftest", hidden = true, mixinStandardHelpOptions = true,
        description = "Join the process group from the environment (launch, torchrun, mpirun), check every "
                + "collective, optionally time an all-reduce.")
final class DistSelftestCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--fail-rank", paramLabel = "RANK", defaultValue = "-1",
            description = "This rank exits with --exit-code right after joining (to test failure handling).")
    int failRank;

    @Option(names = "--exit-code", defaultValue = "3", description = "Exit code of --fail-rank (default 3).")
    int exitCode;

    @Option(names = "--bench-mb", defaultValue = "0", paramLabel = "MB",
            description = "Also time an fp32 all-reduce (SUM) of this many MB.")
    int benchMb;

    @Option(names = "--iters", defaultValue = "10", description = "Timed all-reduces after 2 warm-up ones (default 10).")
    int iters;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
            description = "Run N ranks as threads of this process (the in-JVM group) instead of joining from the environment.")
    int threads;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (threads > 0) {
            try (ThreadWorld world = new ThreadWorld(threads, Rendezvous.timeout(System.getenv()))) {
                List<Integer> codes = world.run(g -> run(g, out));
                return codes.stream().filter(c -> c != 0).findFirst().orElse(0);
            }
        }
        try (ProcessGroup g = Rendezvous.fromEnvironment()) {
            return run(g, out);
        }
    }

    private int run(ProcessGroup g, PrintWriter out) {
        int r = g.rank();
        int n = g.size();
        String me = "rank " + r + "/" + n;
        say(out, me + ": joined " + g.name());
        if (r == failRank) {
            say(spec.commandLine().getErr(), me + ": failing on purpose with exit code " + exitCode);
            return exitCode;
        }
        Tensor t = Tensor.full(r + 1, DType.F32, Device.CPU, 1001);
        g.allReduce(t, ReduceOp.SUM).await();
        expect(me, "allReduce SUM", t.toFloatArray(), n * (n + 1) / 2f);
        Tensor h = Tensor.full(2 * r, DType.BF16, Device.CPU, 33);
        g.allReduce(h, ReduceOp.AVG).await();
        expect(me, "allReduce AVG BF16", h.toFloatArray(), n - 1);
        Tensor m = Tensor.full(-r, DType.F32, Device.CPU, 5);
        g.allReduce(m, ReduceOp.MAX).await();
        expect(me, "allReduce MAX", m.toFloatArray(), 0);
        Tensor all = Tensor.zeros(DType.I64, Device.CPU, n);
        g.allGather(Tensor.ofLongs(new long[] {r}, 1), all).await();
        long[] ranks = all.toLongArray();
        for (int k = 0; k < n; k++) {
            if (ranks[k] != k) {
                throw new IllegalStateException(me + ": allGather gave " + Arrays.toString(ranks));
            }
        }
        Tensor part = Tensor.zeros(DType.F32, Device.CPU, 2);
        g.reduceScatter(Tensor.full(1, DType.F32, Device.CPU, 2 * n), part, ReduceOp.SUM).await();
        expect(me, "reduceScatter", part.toFloatArray(), n);
        Tensor b = Tensor.full(r == n - 1 ? 42 : 0, DType.F32, Device.CPU, 17);
        g.broadcast(b, n - 1).await();
        expect(me, "broadcast", b.toFloatArray(), 42);
        if (n > 1) {
            Tensor got = Tensor.zeros(DType.F32, Device.CPU, 3);
            ProcessGroup.Work s = g.send(Tensor.full(r, DType.F32, Device.CPU, 3), (r + 1) % n, 7);
            g.recv(got, (r + n - 1) % n, 7).await();
            s.await();
            expect(me, "send/recv", got.toFloatArray(), (r + n - 1) % n);
        }
        g.barrier();
        say(out, me + ": allReduce, reduceScatter, allGather, broadcast, send/recv, barrier ok");
        if (benchMb > 0) {
            bench(g, out, me);
        }
        return 0;
    }

    /** Times {@code iters} all-reduces; reports the median, the best, and nccl-tests' bus bandwidth. */
    private void bench(ProcessGroup g, PrintWriter out, String me) {
        int count = (int) (benchMb * (1L << 20) / 4);
        Tensor t = Tensor.full(1, DType.F32, Device.CPU, count);
        for (int i = 0; i < 2; i++) {
            g.allReduce(t, ReduceOp.SUM).await();
        }
        double[] ms = new double[iters];
        for (int i = 0; i < iters; i++) {
            g.barrier();
            long t0 = System.nanoTime();
            g.allReduce(t, ReduceOp.SUM).await();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        double median = ms[iters / 2];
        double bytes = 4.0 * count;
        double busGbs = bytes / (median / 1e3) * 2 * (g.size() - 1) / g.size() / 1e9;
        say(out, String.format(Locale.ROOT, "%s: allReduce of %d MB fp32 over %s: median %.1f ms, best %.1f ms, "
                + "bus bandwidth %.2f GB/s (%d runs)", me, benchMb, g.getClass().getSimpleName(), median, ms[0], busGbs, iters));
    }

    private static void expect(String me, String what, float[] got, float value) {
        for (float v : got) {
            if (v != value) {
                throw new IllegalStateException(me + ": " + what + " gave " + v + ", expected " + value);
            }
        }
    }

    private static void say(PrintWriter out, String line) {
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }
}
