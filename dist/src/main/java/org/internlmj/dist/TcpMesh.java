package org.internlmj.dist;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The world of a TCP process group: one connection to every other rank (groups made by split share
 * them), the frame buffer pool, and a timer for timeouts. Connecting goes through a {@link TcpStore}:
 * every rank listens on a free port and publishes its address; rank r connects to the ranks below it
 * and accepts the ranks above it, so each pair has exactly one connection.
 *
 * <p>A watchdog ends any connection whose write has stalled for the timeout (the peer is alive but not
 * reading: hung, or stopped), so a blocked send fails like every other wait, naming the rank.
 */
final class TcpMesh {
    /** First word of the hello a rank sends on a new connection. */
    static final int MAGIC = 0x494a4d53;

    final int rank;
    final int size;
    final Duration timeout;
    final long timeoutNanos;
    final TcpFrame.Pool pool;
    final ScheduledExecutorService timer;
    private final TcpPeer[] peers;
    private final TcpStore store;
    private final boolean ownsStore;
    private final String prefix;
    private volatile boolean closed;

    private TcpMesh(TcpStore store, boolean ownsStore, int rank, int size, Duration timeout, String prefix) {
        this.store = store;
        this.ownsStore = ownsStore;
        this.rank = rank;
        this.size = size;
        this.timeout = timeout;
        this.timeoutNanos = timeout.toNanos();
        this.prefix = prefix;
        this.peers = new TcpPeer[size];
        // 64 MiB of idle buffers covers the frames in flight of large collectives without re-allocating
        this.pool = new TcpFrame.Pool(64);
        this.timer = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("internlmj-tcp-timer-rank" + rank).factory());
    }

    /** Connects rank {@code rank} of {@code size} to all others through {@code store}. */
    static TcpMesh connect(TcpStore store, boolean ownsStore, int rank, int size, Duration timeout, String prefix) {
        TcpMesh m = new TcpMesh(store, ownsStore, rank, size, timeout, prefix);
        try {
            m.connectAll();
        } catch (RuntimeException e) {
            m.abort();
            throw e;
        }
        long period = Math.clamp(m.timeoutNanos / 4, TimeUnit.MILLISECONDS.toNanos(50), TimeUnit.SECONDS.toNanos(1));
        m.timer.scheduleWithFixedDelay(m::watchWrites, period, period, TimeUnit.NANOSECONDS);
        return m;
    }

    TcpPeer peer(int worldRank) {
        return peers[worldRank];
    }

    /** {@code count} fresh group ids, the same on whichever rank asks (the world group is 0). */
    int allocateGroupIds(int count) {
        return Math.toIntExact(store.add(prefix + "/group-ids", count) - count + 1);
    }

    String storeAddress() {
        return store.host() + ":" + store.port();
    }

    private String addrKey(int r) {
        return prefix + "/addr/" + r;
    }

    private void connectAll() {
        long deadline = System.nanoTime() + timeoutNanos;
        try (ServerSocketChannel listener = ServerSocketChannel.open()) {
            listener.bind(new InetSocketAddress(0), size);
            int port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
            String host = store.localAddress().getHostAddress();
            store.set(addrKey(rank), host + " " + port);
            for (int j = 0; j < rank; j++) {
                peers[j] = dial(j, deadline);
            }
            accept(listener, deadline);
        } catch (IOException e) {
            throw new IllegalStateException("rendezvous on rank " + rank + ": " + e, e);
        }
        for (int j = 0; j < size; j++) {
            if (j != rank) {
                peers[j].startReader("internlmj-tcp-reader-rank" + rank + "-from" + j);
            }
        }
    }

    private TcpPeer dial(int j, long deadline) throws IOException {
        String addr;
        try {
            addr = new String(store.get(addrKey(j), Duration.ofNanos(Math.max(0, deadline - System.nanoTime()))),
                    java.nio.charset.StandardCharsets.UTF_8);
        } catch (CollectiveTimeoutException e) {
            throw notJoined(e);
        }
        String[] hp = addr.split(" ");
        SocketChannel ch = SocketChannel.open();
        try {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            ch.socket().connect(new InetSocketAddress(hp[0], Integer.parseInt(hp[1])), (int) Math.max(1, left));
            DataOutputStream out = new DataOutputStream(ch.socket().getOutputStream());
            out.writeInt(MAGIC);
            out.writeInt(size);
            out.writeInt(rank);
            out.writeInt(prefix.hashCode());
            out.flush();
        } catch (IOException e) {
            ch.close();
            throw new RankFailedException("rendezvous on rank " + rank + ": could not connect to rank " + j + " at "
                    + hp[0] + ":" + hp[1] + ": " + e.getMessage() + " (did rank " + j + " exit?)", j, e);
        }
        return new TcpPeer(j, ch, pool);
    }

    private void accept(ServerSocketChannel listener, long deadline) throws IOException {
        int expected = size - 1 - rank;
        for (int got = 0; got < expected; ) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            SocketChannel ch;
            try {
                listener.socket().setSoTimeout((int) Math.max(1, left));
                ch = listener.socket().accept().getChannel();
            } catch (SocketTimeoutException e) {
                throw notConnected();
            }
            try {
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                ch.socket().setSoTimeout((int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                DataInputStream in = new DataInputStream(ch.socket().getInputStream());
                int magic = in.readInt();
                int theirSize = in.readInt();
                int theirRank = in.readInt();
                int theirPrefix = in.readInt();
                ch.socket().setSoTimeout(0);
                if (magic != MAGIC || theirPrefix != prefix.hashCode()) {
                    ch.close();
                    continue;
                }
                if (theirSize != size) {
                    ch.close();
                    throw new IllegalStateException("rendezvous on rank " + rank + ": rank " + theirRank + " says the world has "
                            + theirSize + " ranks, this rank says " + size + " (WORLD_SIZE differs between ranks)");
                }
                if (theirRank <= rank || theirRank >= size || peers[theirRank] != null) {
                    ch.close();
                    throw new IllegalStateException("rendezvous on rank " + rank + ": a second process claims rank "
                            + theirRank + " (RANK must differ between processes)");
                }
                peers[theirRank] = new TcpPeer(theirRank, ch, pool);
                got++;
            } catch (SocketTimeoutException | java.io.EOFException e) {
                // a connection that is not one of ours (or died at once): ignore it
                ch.close();
            }
        }
    }

    private CollectiveTimeoutException notJoined(CollectiveTimeoutException cause) {
        List<String> keys = new ArrayList<>();
        for (int r = 0; r < size; r++) {
            keys.add(addrKey(r));
        }
        String who;
        try {
            List<Integer> missing = new ArrayList<>();
            for (String k : store.missing(keys)) {
                missing.add(Integer.parseInt(k.substring(k.lastIndexOf('/') + 1)));
            }
            who = (missing.size() == 1 ? "rank " : "ranks ") + join(missing) + " never joined";
        } catch (IllegalStateException storeGone) {
            who = "the store went away before it could say which ranks never joined (rank 0 gave up first?)";
        }
        CollectiveTimeoutException e = new CollectiveTimeoutException("rendezvous of " + size + " ranks through the store at "
                + storeAddress() + " timed out after " + GroupChecks.duration(timeout) + " on rank " + rank + ": " + who);
        e.initCause(cause);
        return e;
    }

    private CollectiveTimeoutException notConnected() {
        List<Integer> absent = new ArrayList<>();
        List<Integer> registered = new ArrayList<>();
        for (int r = rank + 1; r < size; r++) {
            if (peers[r] == null) {
                boolean joined;
                try {
                    joined = store.check(addrKey(r));
                } catch (IllegalStateException storeGone) {
                    // rank 0 gave up first and took the store with it: the ranks are missing either way
                    joined = false;
                }
                (joined ? registered : absent).add(r);
            }
        }
        StringBuilder b = new StringBuilder("rendezvous of " + size + " ranks through the store at " + storeAddress()
                + " timed out after " + GroupChecks.duration(timeout) + " on rank " + rank + ":");
        if (!absent.isEmpty()) {
            b.append(absent.size() == 1 ? " rank " : " ranks ").append(join(absent)).append(" never joined");
        }
        if (!registered.isEmpty()) {
            b.append(absent.isEmpty() ? " " : "; ").append(registered.size() == 1 ? "rank " : "ranks ")
                    .append(join(registered)).append(" joined but did not connect to this rank (a firewall?)");
        }
        return new CollectiveTimeoutException(b.toString());
    }

    private static String join(List<Integer> ranks) {
        StringBuilder b = new StringBuilder();
        for (int r : ranks) {
            b.append(b.isEmpty() ? "" : ", ").append(r);
        }
        return b.toString();
    }

    private void watchWrites() {
        long now = System.nanoTime();
        for (TcpPeer p : peers) {
            if (p != null && p.writeStalledNanos(now) > timeoutNanos) {
                p.kill("stopped reading: sending to it stalled for more than " + GroupChecks.duration(timeout)
                        + " (is the process hung or stopped?)", null);
            }
        }
    }

    /** Says goodbye to every peer, waits briefly for their goodbyes, and releases everything. */
    void close() {
        if (closed) {
            return;
        }
        closed = true;
        // peers that close at about the same time answer at once; one that keeps running costs this wait
        long deadline = System.nanoTime() + Math.min(timeoutNanos, TimeUnit.SECONDS.toNanos(1));
        for (TcpPeer p : peers) {
            if (p != null) {
                p.sayGoodbye();
            }
        }
        for (TcpPeer p : peers) {
            if (p != null) {
                p.close(deadline);
            }
        }
        timer.shutdownNow();
        if (ownsStore) {
            store.close();
        }
    }

    private void abort() {
        closed = true;
        for (TcpPeer p : peers) {
            if (p != null) {
                p.kill("rendezvous failed", null);
            }
        }
        timer.shutdownNow();
        if (ownsStore) {
            store.close();
        }
    }
}
