package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** TCP ranks as real processes: one is killed, and the others report it by rank within seconds. */
class TcpProcessTest {

    @Test
    void aKilledPeerIsReportedByRankWithinSeconds() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        List<Process> ps = new ArrayList<>();
        List<CompletableFuture<String>> outputs = new ArrayList<>();
        List<CompletableFuture<Void>> joined = new ArrayList<>();
        try {
            for (int r = 0; r < 3; r++) {
                List<String> cmd = new ArrayList<>();
                cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
                cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                        .filter(a -> !a.startsWith("-agentlib") && !a.startsWith("-javaagent")).toList());
                cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), TcpWorkerMain.class.getName(), "2"));
                ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
                pb.environment().putAll(java.util.Map.of("RANK", "" + r, "WORLD_SIZE", "3", "MASTER_ADDR", "127.0.0.1",
                        "MASTER_PORT", "" + port, Rendezvous.TIMEOUT_VARIABLE, "60s"));
                Process p = pb.start();
                ps.add(p);
                CompletableFuture<Void> up = new CompletableFuture<>();
                joined.add(up);
                outputs.add(CompletableFuture.supplyAsync(() -> {
                    StringBuilder b = new StringBuilder();
                    try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                        for (String line; (line = in.readLine()) != null; ) {
                            b.append(line).append('\n');
                            if (line.startsWith("joined")) {
                                up.complete(null);
                            }
                        }
                    } catch (java.io.IOException e) {
                        b.append(e);
                    }
                    up.complete(null);
                    return b.toString();
                }, c -> Thread.ofPlatform().daemon().start(c)));
            }
            for (CompletableFuture<Void> j : joined) {
                j.get(60, TimeUnit.SECONDS);
            }
            // the survivors are (or soon will be) waiting in the all-reduce for rank 2
            Thread.sleep(300);
            long killed = System.nanoTime();
            ps.get(2).destroyForcibly();
            for (int r = 0; r < 2; r++) {
                assertTrue(ps.get(r).waitFor(20, TimeUnit.SECONDS), "rank " + r + " still running");
                String out = outputs.get(r).get(5, TimeUnit.SECONDS);
                assertEquals(3, ps.get(r).exitValue(), out);
                assertTrue(out.contains("FAILED: allReduce #0 in group world[0-2] on rank " + r + ": rank 2 closed its "
                        + "connection without saying goodbye (the process died or was killed?)"), out);
            }
            double seconds = (System.nanoTime() - killed) / 1e9;
            // the timeout is 60 s: the death itself was noticed
            assertTrue(seconds < 10, "took " + seconds + " s");
        } finally {
            for (Process p : ps) {
                p.destroyForcibly();
            }
        }
    }
}
