package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * A peer that is connected but never reads (a hung or stopped process): a large send to it fills the
 * socket buffers and blocks, and the stalled-write watchdog ends it after the timeout, naming the rank.
 * Rank 1 here is a fake that speaks just enough of the protocol to join.
 */
class TcpStallTest {

    @Test
    void aPeerThatStopsReadingFailsTheSenderAfterTheTimeout() throws Exception {
        Duration timeout = Duration.ofMillis(800);
        String prefix = "stall";
        try (TcpStore store = TcpStore.serveLocal(Duration.ofSeconds(20))) {
            CompletableFuture<ProcessGroup> rank0 = CompletableFuture.supplyAsync(
                    () -> TcpProcessGroup.connect(store, 0, 2, timeout, prefix, false), c -> Thread.ofPlatform().start(c));
            String[] addr;
            try (TcpStore mine = TcpStore.open(store.host(), store.port(), false, Duration.ofSeconds(20))) {
                addr = mine.getString(prefix + "/addr/0", Duration.ofSeconds(20)).split(" ");
            }
            try (SocketChannel fake = SocketChannel.open(new InetSocketAddress(addr[0], Integer.parseInt(addr[1])))) {
                ByteBuffer hello = ByteBuffer.allocate(16).putInt(TcpMesh.MAGIC).putInt(2).putInt(1).putInt(prefix.hashCode());
                write(fake, hello.flip());
                // its part of the connection check (the world's barrier, call -1), then silence
                TcpFrame h = new TcpFrame();
                h.type = TcpFrame.COLLECTIVE;
                h.key = -1;
                h.kind = CollectiveCall.barrier(-1).packedKind();
                ByteBuffer header = ByteBuffer.allocate(TcpFrame.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                h.writeHeader(header);
                write(fake, header);
                try (ProcessGroup g = rank0.get()) {
                    long start = System.nanoTime();
                    ProcessGroup.Work w = g.send(Tensor.zeros(DType.F32, Device.CPU, 16 << 20), 1, 0);
                    RankFailedException e = assertThrows(RankFailedException.class, w::await);
                    double seconds = (System.nanoTime() - start) / 1e9;
                    assertEquals(1, e.rank());
                    assertTrue(e.getMessage().contains("send to rank 1 (tag 0) in group world[0,1] on rank 0: rank 1 stopped "
                            + "reading: sending to it stalled for more than 800 ms"), e.getMessage());
                    assertTrue(seconds < 10, "took " + seconds + " s");
                }
            }
        }
    }

    private static void write(SocketChannel ch, ByteBuffer b) throws java.io.IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
