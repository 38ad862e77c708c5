package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.internlmj.dist.ProcessGroup.ReduceOp;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;

class RendezvousTest {

    static Map<String, String> env(String... kv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void parsesTorchrunVariables() {
        Rendezvous.TorchrunEnv t = Rendezvous.TorchrunEnv.parse(env("RANK", "3", "WORLD_SIZE", "4", "LOCAL_RANK", "1",
                "MASTER_ADDR", "node0", "MASTER_PORT", "29500"));
        assertEquals(new Rendezvous.TorchrunEnv(3, 4, 1, "node0", 29500), t);
        // LOCAL_RANK defaults to RANK (one machine)
        assertEquals(2, Rendezvous.TorchrunEnv.parse(env("RANK", "2", "WORLD_SIZE", "4", "MASTER_ADDR", "h",
                "MASTER_PORT", "1")).localRank());
    }

    @Test
    void namesTheMissingOrMalformedVariable() {
        record Case(Map<String, String> env, String mention) {
        }
        List<Case> cases = List.of(
                new Case(env("WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"), "RANK is not set"),
                new Case(env("RANK", "0", "MASTER_ADDR", "h", "MASTER_PORT", "1"), "WORLD_SIZE is not set"),
                new Case(env("RANK", "0", "WORLD_SIZE", "2", "MASTER_PORT", "1"), "MASTER_ADDR is not set"),
                new Case(env("RANK", "0", "WORLD_SIZE", "2", "MASTER_ADDR", "h"), "MASTER_PORT is not set"),
                new Case(env("RANK", "x", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"), "RANK='x' is not an integer"),
                new Case(env("RANK", "2", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1"), "RANK=2 is out of range"),
                new Case(env("RANK", "0", "WORLD_SIZE", "0", "MASTER_ADDR", "h", "MASTER_PORT", "1"), "WORLD_SIZE=0"),
                new Case(env("RANK", "0", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "70000"), "MASTER_PORT=70000"),
                new Case(env("RANK", "0", "WORLD_SIZE", "2", "LOCAL_RANK", "-1", "MASTER_ADDR", "h", "MASTER_PORT", "1"),
                        "LOCAL_RANK=-1"));
        for (Case c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Rendezvous.fromEnvironment(c.env()));
            assertTrue(e.getMessage().contains(c.mention()), c.mention() + " <- " + e.getMessage());
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Rendezvous.fromEnvironment(env()))
                .getMessage().contains("internlmj launch"));
    }

    @Test
    void parsesTimeouts() {
        assertEquals(Rendezvous.DEFAULT_TIMEOUT, Rendezvous.timeout(env()));
        assertEquals(Duration.ofSeconds(90), Rendezvous.timeout(env(Rendezvous.TIMEOUT_VARIABLE, "90")));
        assertEquals(Duration.ofSeconds(90), Rendezvous.timeout(env(Rendezvous.TIMEOUT_VARIABLE, "90s")));
        assertEquals(Duration.ofMillis(250), Rendezvous.timeout(env(Rendezvous.TIMEOUT_VARIABLE, "250ms")));
        assertEquals(Duration.ofMinutes(10), Rendezvous.timeout(env(Rendezvous.TIMEOUT_VARIABLE, "10m")));
        assertEquals(Duration.ofHours(1), Rendezvous.timeout(env(Rendezvous.TIMEOUT_VARIABLE, "PT1H")));
        assertThrows(IllegalArgumentException.class, () -> Rendezvous.timeout(env(Rendezvous.TIMEOUT_VARIABLE, "soon")));
        assertThrows(IllegalArgumentException.class, () -> Rendezvous.timeout(env(Rendezvous.TIMEOUT_VARIABLE, "0")));
    }

    @Test
    void joinsATcpWorldFromTheEnvironment() throws Exception {
        int port = freePort();
        List<CompletableFuture<Float>> ranks = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            Map<String, String> e = env("RANK", "" + r, "WORLD_SIZE", "3", "LOCAL_RANK", "" + r, "MASTER_ADDR", "127.0.0.1",
                    "MASTER_PORT", "" + port, Rendezvous.TIMEOUT_VARIABLE, "20s");
            int rank = r;
            ranks.add(CompletableFuture.supplyAsync(() -> {
                try (ProcessGroup g = Rendezvous.fromEnvironment(e)) {
                    assertEquals(rank, g.rank());
                    assertEquals(3, g.size());
                    Tensor t = Tensor.scalar(rank + 1);
                    g.allReduce(t, ReduceOp.SUM).await();
                    return t.item();
                }
            }, command -> Thread.ofPlatform().start(command)));
        }
        for (CompletableFuture<Float> f : ranks) {
            assertEquals(6f, f.get());
        }
    }

    @Test
    void aRendezvousMissingARankNamesIt() throws Exception {
        int port = freePort();
        List<CompletableFuture<String>> ranks = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            Map<String, String> e = env("RANK", "" + r, "WORLD_SIZE", "3", "MASTER_ADDR", "127.0.0.1",
                    "MASTER_PORT", "" + port, Rendezvous.TIMEOUT_VARIABLE, "700ms");
            ranks.add(CompletableFuture.supplyAsync(() -> assertThrows(CollectiveTimeoutException.class,
                    () -> Rendezvous.fromEnvironment(e).close()).getMessage(), command -> Thread.ofPlatform().start(command)));
        }
        for (CompletableFuture<String> f : ranks) {
            String m = f.get();
            assertTrue(m.contains("rank 2 never joined") && m.contains("700 ms"), m);
        }
    }
}
