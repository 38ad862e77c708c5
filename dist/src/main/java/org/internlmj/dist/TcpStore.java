package org.internlmj.dist;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A small key-value store over TCP for rendezvous, like PyTorch's TCPStore: rank 0 serves it at
 * MASTER_ADDR:MASTER_PORT, every rank (rank 0 included) is a client. Ranks publish their addresses with
 * {@link #set}, read each other's with {@link #get} (which waits until the key exists), count with
 * {@link #add}, and {@link #await} a set of keys; a wait that runs out names the keys that never came.
 * Process groups use it to connect; NCCL bootstrap uses it to pass its unique id.
 *
 * <p>A client sends one request at a time: a {@link #get} that waits holds its client until it returns,
 * so threads that wait on keys independently each open a client of their own.
 *
 * <pre>{@code
 * try (TcpStore store = TcpStore.open("127.0.0.1", 29500, rank == 0, Duration.ofMinutes(1))) {
 *     if (rank == 0) store.set("nccl-id", id);
 *     byte[] id = store.get("nccl-id");
 * }
 * }</pre>
 */
public final class TcpStore implements AutoCloseable {
    private static final byte SET = 1;
    private static final byte GET = 2;
    private static final byte ADD = 3;
    private static final byte MISSING = 4;
    private static final byte WAIT = 5;
    private static final byte DELETE = 6;
    private static final byte OK = 0;
    private static final byte TIMED_OUT = 1;
    /** Added to a request's own wait for the socket timeout: the server answers a timed-out wait itself. */
    private static final long REPLY_MARGIN_MS = 10_000;

    private final String host;
    private final int port;
    private final Duration timeout;
    private final Server server;
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;

    private TcpStore(String host, int port, Duration timeout, Server server, Socket socket) throws IOException {
        this.host = host;
        this.port = port;
        this.timeout = timeout;
        this.server = server;
        this.socket = socket;
        this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
    }

    /**
     * Connects to the store at {@code host:port}; if {@code isServer}, first serves it on {@code port} of
     * every interface ({@code port} 0 picks a free one: see {@link #port()}). A client retries until
     * {@code timeout} while the server is not up yet.
     */
    public static TcpStore open(String host, int port, boolean isServer, Duration timeout) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }
        Server server = null;
        if (isServer) {
            server = new Server(port);
            port = server.port();
        }
        try {
            Socket s = connect(host, port, timeout);
            return new TcpStore(host, port, timeout, server, s);
        } catch (IOException | RuntimeException e) {
            if (server != null) {
                server.close();
            }
            if (e instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException("rendezvous store at " + host + ":" + port + ": " + e, e);
        }
    }

    /** Serves a store on a free port of this machine and connects to it (for tests and single-host use). */
    public static TcpStore serveLocal(Duration timeout) {
        return open(InetAddress.getLoopbackAddress().getHostAddress(), 0, true, timeout);
    }

    private static Socket connect(String host, int port, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long backoff = 20;
        IOException last;
        while (true) {
            Socket s = new Socket();
            try {
                s.setTcpNoDelay(true);
                s.connect(new InetSocketAddress(host, port), (int) Math.min(5_000, Math.max(1, timeout.toMillis())));
                return s;
            } catch (IOException e) {
                s.close();
                last = e;
            }
            if (System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(backoff) > deadline) {
                throw new IllegalStateException("could not reach the rendezvous store at " + host + ":" + port
                        + " within " + GroupChecks.duration(timeout) + " (is rank 0 running, and MASTER_ADDR/MASTER_PORT"
                        + " the same on every rank?): " + last, last);
            }
            try {
                Thread.sleep(backoff);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while connecting to the rendezvous store", e);
            }
            backoff = Math.min(500, backoff * 2);
        }
    }

    public String host() {
        return host;
    }

    /** The port the store listens on. */
    public int port() {
        return port;
    }

    /** The default wait of {@link #get(String)} and of rendezvous built on this store. */
    public Duration timeout() {
        return timeout;
    }

    /** True if this client also serves the store. */
    public boolean isServer() {
        return server != null;
    }

    /** This machine's address on the connection to the store: the one peers reach it by. */
    public InetAddress localAddress() {
        return socket.getLocalAddress();
    }

    /** Sets {@code key} to {@code value}, waking whoever waits for it. */
    public synchronized void set(String key, byte[] value) {
        call("set " + key, () -> {
            out.writeByte(SET);
            out.writeUTF(key);
            out.writeInt(value.length);
            out.write(value);
        }, timeout.toMillis());
        expectOk("set " + key);
    }

    /** The value of {@code key}, waiting up to the store's timeout for it to be set. */
    public byte[] get(String key) {
        return get(key, timeout);
    }

    /** The value of {@code key}, waiting up to {@code wait}; a {@link CollectiveTimeoutException} if it never comes. */
    public synchronized byte[] get(String key, Duration wait) {
        long ms = Math.max(0, wait.toMillis());
        call("get " + key, () -> {
            out.writeByte(GET);
            out.writeUTF(key);
            out.writeLong(ms);
        }, ms);
        return read("get " + key, () -> {
            if (in.readByte() == TIMED_OUT) {
                throw new CollectiveTimeoutException("rendezvous store at " + host + ":" + port + ": key '" + key
                        + "' was not set within " + GroupChecks.duration(wait));
            }
            byte[] v = new byte[in.readInt()];
            in.readFully(v);
            return v;
        });
    }

    /** Adds {@code delta} to the counter {@code key} (0 if unset) and returns the new value, atomically. */
    public synchronized long add(String key, long delta) {
        call("add " + key, () -> {
            out.writeByte(ADD);
            out.writeUTF(key);
            out.writeLong(delta);
        }, timeout.toMillis());
        return read("add " + key, () -> {
            expectOkByte("add " + key);
            return in.readLong();
        });
    }

    /** The keys of {@code keys} that are not set, without waiting. */
    public synchronized List<String> missing(List<String> keys) {
        call("check keys", () -> {
            out.writeByte(MISSING);
            writeKeys(out, keys);
        }, timeout.toMillis());
        return read("check keys", () -> {
            expectOkByte("check keys");
            return readKeys(in);
        });
    }

    /** True if every key is set. */
    public boolean check(String... keys) {
        return missing(List.of(keys)).isEmpty();
    }

    /**
     * Waits until every key is set; after {@code wait} a {@link CollectiveTimeoutException} lists those
     * that never were.
     */
    public synchronized void await(List<String> keys, Duration wait) {
        long ms = Math.max(0, wait.toMillis());
        call("wait", () -> {
            out.writeByte(WAIT);
            writeKeys(out, keys);
            out.writeLong(ms);
        }, ms);
        List<String> missing = read("wait", () -> in.readByte() == TIMED_OUT ? readKeys(in) : List.<String>of());
        if (!missing.isEmpty()) {
            throw new CollectiveTimeoutException("rendezvous store at " + host + ":" + port + ": keys " + missing
                    + " were not set within " + GroupChecks.duration(wait));
        }
    }

    /** Removes {@code key}; true if it was set. */
    public synchronized boolean delete(String key) {
        call("delete " + key, () -> {
            out.writeByte(DELETE);
            out.writeUTF(key);
        }, timeout.toMillis());
        return read("delete " + key, () -> {
            expectOkByte("delete " + key);
            return in.readBoolean();
        });
    }

    /** Convenience: a UTF-8 string value. */
    public void set(String key, String value) {
        set(key, value.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Convenience: a UTF-8 string value, waiting up to {@code wait}. */
    public String getString(String key, Duration wait) {
        return new String(get(key, wait), java.nio.charset.StandardCharsets.UTF_8);
    }

    /** Disconnects; if this client serves the store, stops serving it (other clients then fail). */
    @Override
    public synchronized void close() {
        try {
            socket.close();
        } catch (IOException e) {
            // closing: nothing useful to do with a failure
        }
        if (server != null) {
            server.close();
        }
    }

    private interface Io {
        void run() throws IOException;
    }

    private interface IoValue<T> {
        T get() throws IOException;
    }

    private void call(String what, Io request, long replyWithinMs) {
        try {
            socket.setSoTimeout((int) Math.min(Integer.MAX_VALUE, Math.max(1, replyWithinMs + REPLY_MARGIN_MS)));
            request.run();
            out.flush();
        } catch (IOException e) {
            throw lost(what, e);
        }
    }

    private <T> T read(String what, IoValue<T> reply) {
        try {
            return reply.get();
        } catch (IOException e) {
            throw lost(what, e);
        }
    }

    private void expectOk(String what) {
        read(what, () -> {
            expectOkByte(what);
            return null;
        });
    }

    private void expectOkByte(String what) throws IOException {
        byte b = in.readByte();
        if (b != OK) {
            throw new IOException("unexpected reply " + b + " to " + what);
        }
    }

    private IllegalStateException lost(String what, IOException e) {
        String why = e instanceof EOFException ? "the store closed the connection (rank 0 gone?)"
                : e instanceof SocketTimeoutException ? "no reply" : e.toString();
        return new IllegalStateException("rendezvous store at " + host + ":" + port + ": " + what + " failed: " + why, e);
    }

    private static void writeKeys(DataOutputStream out, List<String> keys) throws IOException {
        out.writeInt(keys.size());
        for (String k : keys) {
            out.writeUTF(k);
        }
    }

    private static List<String> readKeys(DataInputStream in) throws IOException {
        int n = in.readInt();
        List<String> keys = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            keys.add(in.readUTF());
        }
        return keys;
    }

    /** The store itself: a map under a lock, one virtual thread per client connection. */
    private static final class Server {
        private final ServerSocket listener;
        private final Map<String, byte[]> data = new HashMap<>();
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition changed = lock.newCondition();
        private final List<Socket> clients = new ArrayList<>();
        private volatile boolean closed;

        Server(int port) {
            try {
                listener = new ServerSocket();
                listener.setReuseAddress(true);
                listener.bind(new InetSocketAddress(port), 128);
            } catch (BindException e) {
                throw new IllegalStateException("cannot serve the rendezvous store on port " + port + ": " + e.getMessage()
                        + " (another job on this machine? choose another MASTER_PORT, e.g. launch --port)", e);
            } catch (IOException e) {
                throw new IllegalStateException("cannot serve the rendezvous store on port " + port + ": " + e, e);
            }
            Thread.ofPlatform().daemon().name("internlmj-store-" + port()).start(this::acceptLoop);
        }

        int port() {
            return listener.getLocalPort();
        }

        private void acceptLoop() {
            while (!closed) {
                try {
                    Socket s = listener.accept();
                    s.setTcpNoDelay(true);
                    synchronized (clients) {
                        if (closed) {
                            s.close();
                            return;
                        }
                        clients.add(s);
                    }
                    Thread.ofVirtual().name("internlmj-store-client").start(() -> serve(s));
                } catch (IOException e) {
                    if (!closed) {
                        System.getLogger(TcpStore.class.getName()).log(System.Logger.Level.WARNING,
                                "rendezvous store: accept failed: " + e);
                    }
                }
            }
        }

        private void serve(Socket s) {
            try (s; DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream()));
                 DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream()))) {
                while (true) {
                    int op = in.read();
                    if (op < 0) {
                        return;
                    }
                    handle((byte) op, in, out);
                    out.flush();
                }
            } catch (IOException e) {
                // the client went away; its requests end with it
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                synchronized (clients) {
                    clients.remove(s);
                }
            }
        }

        private void handle(byte op, DataInputStream in, DataOutputStream out) throws IOException, InterruptedException {
            switch (op) {
                case SET -> {
                    String key = in.readUTF();
                    byte[] v = new byte[in.readInt()];
                    in.readFully(v);
                    locked(() -> {
                        data.put(key, v);
                        changed.signalAll();
                        return null;
                    });
                    out.writeByte(OK);
                }
                case GET -> {
                    String key = in.readUTF();
                    long ms = in.readLong();
                    List<String> missing = waitFor(List.of(key), ms);
                    if (!missing.isEmpty()) {
                        out.writeByte(TIMED_OUT);
                    } else {
                        byte[] v = locked(() -> data.get(key));
                        out.writeByte(OK);
                        out.writeInt(v.length);
                        out.write(v);
                    }
                }
                case ADD -> {
                    String key = in.readUTF();
                    long delta = in.readLong();
                    long value = locked(() -> {
                        byte[] old = data.get(key);
                        long v = (old == null ? 0 : ByteBuffer.wrap(old).getLong()) + delta;
                        data.put(key, ByteBuffer.allocate(8).putLong(v).array());
                        changed.signalAll();
                        return v;
                    });
                    out.writeByte(OK);
                    out.writeLong(value);
                }
                case MISSING -> {
                    List<String> keys = readKeys(in);
                    List<String> missing = waitFor(keys, 0);
                    out.writeByte(OK);
                    writeKeys(out, missing);
                }
                case WAIT -> {
                    List<String> keys = readKeys(in);
                    long ms = in.readLong();
                    List<String> missing = waitFor(keys, ms);
                    if (missing.isEmpty()) {
                        out.writeByte(OK);
                    } else {
                        out.writeByte(TIMED_OUT);
                        writeKeys(out, missing);
                    }
                }
                case DELETE -> {
                    String key = in.readUTF();
                    boolean had = locked(() -> data.remove(key) != null);
                    out.writeByte(OK);
                    out.writeBoolean(had);
                }
                default -> throw new IOException("unknown store request " + op);
            }
        }

        /** Waits up to {@code ms} until every key is set; returns those still missing. */
        private List<String> waitFor(List<String> keys, long ms) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
            lock.lock();
            try {
                while (true) {
                    List<String> missing = new ArrayList<>();
                    for (String k : keys) {
                        if (!data.containsKey(k)) {
                            missing.add(k);
                        }
                    }
                    long left = deadline - System.nanoTime();
                    if (missing.isEmpty() || left <= 0 || closed) {
                        return missing;
                    }
                    changed.awaitNanos(left);
                }
            } finally {
                lock.unlock();
            }
        }

        private <T> T locked(java.util.function.Supplier<T> f) {
            lock.lock();
            try {
                return f.get();
            } finally {
                lock.unlock();
            }
        }

        void close() {
            closed = true;
            try {
                listener.close();
            } catch (IOException e) {
                // closing
            }
            synchronized (clients) {
                for (Socket s : clients) {
                    try {
                        s.close();
                    } catch (IOException e) {
                        // closing
                    }
                }
                clients.clear();
            }
            lock.lock();
            try {
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }
}
