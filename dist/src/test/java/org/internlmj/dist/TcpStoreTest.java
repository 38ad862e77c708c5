package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class TcpStoreTest {
    private static final Duration T = Duration.ofSeconds(10);

    @Test
    void setGetAddCheckDelete() {
        try (TcpStore server = TcpStore.serveLocal(T);
             TcpStore client = TcpStore.open(server.host(), server.port(), false, T)) {
            assertTrue(server.isServer());
            assertFalse(client.isServer());
            client.set("a", new byte[] {1, 2, 3});
            assertArrayEquals(new byte[] {1, 2, 3}, server.get("a"));
            server.set("s", "hello");
            assertEquals("hello", client.getString("s", T));
            assertEquals(5, client.add("n", 5));
            assertEquals(3, server.add("n", -2));
            assertTrue(client.check("a", "n"));
            assertEquals(List.of("b"), client.missing(List.of("a", "b")));
            assertTrue(client.delete("a"));
            assertFalse(client.delete("a"));
            assertFalse(client.check("a"));
        }
    }

    @Test
    void getWaitsForAKeyAnotherClientSets() throws Exception {
        try (TcpStore server = TcpStore.serveLocal(T);
             TcpStore client = TcpStore.open(server.host(), server.port(), false, T)) {
            CompletableFuture<byte[]> later = CompletableFuture.supplyAsync(() -> client.get("late"));
            Thread.sleep(100);
            assertFalse(later.isDone());
            server.set("late", new byte[] {7});
            assertArrayEquals(new byte[] {7}, later.get());
            CompletableFuture<Void> all = CompletableFuture.runAsync(() -> client.await(List.of("x", "y"), T));
            server.set("x", new byte[0]);
            Thread.sleep(50);
            assertFalse(all.isDone());
            server.set("y", new byte[0]);
            all.get();
        }
    }

    @Test
    void waitsThatRunOutNameTheMissingKeys() {
        try (TcpStore store = TcpStore.serveLocal(T)) {
            store.set("present", new byte[0]);
            long start = System.nanoTime();
            CollectiveTimeoutException e = assertThrows(CollectiveTimeoutException.class,
                    () -> store.await(List.of("present", "absent/1", "absent/2"), Duration.ofMillis(200)));
            assertTrue(e.getMessage().contains("[absent/1, absent/2]") && e.getMessage().contains("200 ms"), e.getMessage());
            assertTrue(System.nanoTime() - start < 3_000_000_000L);
            CollectiveTimeoutException g = assertThrows(CollectiveTimeoutException.class,
                    () -> store.get("nope", Duration.ofMillis(100)));
            assertTrue(g.getMessage().contains("'nope'"), g.getMessage());
        }
    }

    @Test
    void aClientWithNoServerSaysWhereItLooked() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        int p = port;
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> TcpStore.open("127.0.0.1", p, false, Duration.ofMillis(300)));
        assertTrue(e.getMessage().contains("127.0.0.1:" + p) && e.getMessage().contains("rank 0"), e.getMessage());
    }

    @Test
    void aTakenPortIsAClearError() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> TcpStore.open("127.0.0.1", s.getLocalPort(), true, T));
            assertTrue(e.getMessage().contains("MASTER_PORT"), e.getMessage());
        }
    }

    @Test
    void clientsFailWhenTheServerGoes() {
        TcpStore server = TcpStore.serveLocal(T);
        try (TcpStore client = TcpStore.open(server.host(), server.port(), false, T)) {
            client.set("k", new byte[0]);
            server.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> client.get("other"));
            assertTrue(e.getMessage().contains("rendezvous store"), e.getMessage());
        }
    }
}
