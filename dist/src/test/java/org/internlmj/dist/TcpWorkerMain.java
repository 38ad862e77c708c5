package org.internlmj.dist;

import org.internlmj.dist.ProcessGroup.ReduceOp;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;

/**
 * A worker process for {@link TcpProcessTest}: joins the world from the torchrun environment, says so,
 * and then either waits to be killed (the rank given as argument) or all-reduces, which can only end in
 * the failure the test expects. Prints "FAILED: message" and exits 3 on failure.
 */
public final class TcpWorkerMain {
    private TcpWorkerMain() {
    }

    public static void main(String[] args) throws Exception {
        int victim = Integer.parseInt(args[0]);
        try (ProcessGroup g = Rendezvous.fromEnvironment()) {
            System.out.println("joined " + g.rank());
            System.out.flush();
            if (g.rank() == victim) {
                Thread.sleep(120_000);
                return;
            }
            Tensor t = Tensor.zeros(DType.F32, Device.CPU, 1000);
            g.allReduce(t, ReduceOp.SUM).await();
            System.out.println("completed without rank " + victim);
        } catch (RuntimeException e) {
            System.out.println("FAILED: " + e.getMessage());
            System.out.flush();
            System.exit(3);
        }
    }
}
