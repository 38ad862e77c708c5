package org.internlmj.dist;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.internlmj.tensor.Backends;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cuda.CudaBackend;
import org.internlmj.tensor.cuda.GpuCheck;

/**
 * The GPU session's check of {@link NcclProcessGroup}: a group of one rank per visible GPU (threads of
 * this JVM, one device each), every collective checked against the values it must produce, and the
 * all-reduce bus bandwidth. On a one-GPU machine the group has one rank: the collectives are identities
 * then, which still checks the bindings, the stream ordering and the completion polling.
 *
 * <pre>{@code
 * List<GpuCheck.Result> r = NcclCheck.run(1, System.out);
 * }</pre>
 */
public final class NcclCheck {
    private NcclCheck() {
    }

    /** Runs the checks with {@code ranks} ranks on devices cuda:0 .. cuda:ranks-1. */
    public static List<GpuCheck.Result> run(int ranks, PrintStream log) {
        log.println("NCCL version " + NcclProcessGroup.version() + ", " + ranks + " rank(s)");
        CompletableFuture<byte[]> id = new CompletableFuture<>();
        List<CompletableFuture<List<GpuCheck.Result>>> futures = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            int rank = r;
            futures.add(CompletableFuture.supplyAsync(() -> rank(rank, ranks, id, log)));
        }
        List<GpuCheck.Result> all = new ArrayList<>();
        for (CompletableFuture<List<GpuCheck.Result>> f : futures) {
            all.addAll(f.join());
        }
        return all;
    }

    private static List<GpuCheck.Result> rank(int rank, int ranks, CompletableFuture<byte[]> id, PrintStream log) {
        List<GpuCheck.Result> out = new ArrayList<>();
        Device device = Device.cuda(rank);
        CudaBackend gpu = (CudaBackend) Backends.of(device);
        try (NcclProcessGroup group = NcclProcessGroup.create(rank, ranks, device, mine -> {
            if (mine != null) {
                id.complete(mine);
            }
            return id.join();
        }, Duration.ofSeconds(60), "nccl-check")) {
            int n = 1 << 20;
            Tensor x = filled(gpu, n, rank + 1);
            group.allReduce(x, ProcessGroup.ReduceOp.SUM).await();
            out.add(expect(log, rank, "allReduce SUM", x, ranks * (ranks + 1) / 2.0));
            Tensor avg = filled(gpu, n, rank + 1);
            group.allReduce(avg, ProcessGroup.ReduceOp.AVG).await();
            out.add(expect(log, rank, "allReduce AVG", avg, (ranks + 1) / 2.0));
            Tensor b = filled(gpu, n, rank == 0 ? 42 : -1);
            group.broadcast(b, 0).await();
            out.add(expect(log, rank, "broadcast from 0", b, 42));
            Tensor gathered = Tensor.view(gpu.allocate(DType.F32, (long) n * ranks, false),
                    new int[] {n * ranks}, new int[] {1}, 0);
            group.allGather(filled(gpu, n, rank), gathered).await();
            float[] g = gathered.toFloatArray();
            boolean ok = true;
            for (int r = 0; r < ranks; r++) {
                ok &= g[r * n] == r && g[r * n + n - 1] == r;
            }
            out.add(record(log, rank, "allGather", ok ? 0 : 1, ok ? "" : "rank blocks out of order"));
            Tensor part = Tensor.view(gpu.allocate(DType.F32, n, false), new int[] {n}, new int[] {1}, 0);
            group.reduceScatter(gathered, part, ProcessGroup.ReduceOp.SUM).await();
            out.add(expect(log, rank, "reduceScatter SUM of the gathered blocks", part, (double) ranks * rank));
            group.barrier();
            long bytes = 256L << 20;
            Tensor big = Tensor.view(gpu.allocate(DType.BF16, bytes / 2, true), new int[] {(int) (bytes / 2)},
                    new int[] {1}, 0);
            double ms = GpuCheck.time(gpu, 2, 5, () -> group.allReduce(big, ProcessGroup.ReduceOp.SUM).await());
            double busBw = bytes * 2.0 * (ranks - 1) / Math.max(1, ranks) / ms / 1e9;
            log.printf("rank %d: allReduce 256 MiB bf16 %.3f ms, bus bandwidth %.1f GB/s%n", rank, ms, busBw);
            for (Tensor t : new Tensor[] {x, avg, b, gathered, part, big}) {
                t.close();
            }
        } catch (RuntimeException e) {
            out.add(record(log, rank, "NCCL group", Double.POSITIVE_INFINITY, "threw " + e));
            e.printStackTrace(log);
        }
        return out;
    }

    private static Tensor filled(CudaBackend gpu, int n, double value) {
        Tensor t = Tensor.view(gpu.allocate(DType.F32, n, false), new int[] {n}, new int[] {1}, 0);
        gpu.fill(t, value);
        return t;
    }

    private static GpuCheck.Result expect(PrintStream log, int rank, String what, Tensor t, double value) {
        float[] v = t.toFloatArray();
        double worst = 0;
        for (float f : v) {
            worst = Math.max(worst, Math.abs(f - value));
        }
        return record(log, rank, what, worst, worst == 0 ? "" : "expected " + value);
    }

    private static GpuCheck.Result record(PrintStream log, int rank, String what, double error, String note) {
        GpuCheck.Result r = new GpuCheck.Result("NCCL rank " + rank + " " + what, error, 0, note);
        log.printf("%-4s %-58s %.3e %s%n", r.passed() ? "ok" : "FAIL", r.name(), r.error(), note);
        return r;
    }
}
