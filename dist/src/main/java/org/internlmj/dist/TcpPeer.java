package org.internlmj.dist;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * The connection to one other rank of a TCP world, shared by every group both ranks belong to. A reader
 * thread drains the socket all the time, so a sender never blocks for long on a receiver that is busy:
 * collective frames queue by (group, sequence number, phase) until the group's comm thread takes them;
 * point-to-point frames go straight into a posted receive's tensor, or queue until one is posted.
 *
 * <p>When the connection ends, the reason is kept ("closed its process group" after a goodbye, "the
 * process died?" without one) and everything waiting on this peer fails with it at once.
 */
final class TcpPeer {
    /** This peer's rank in the world. */
    final int worldRank;
    private final SocketChannel channel;
    private final TcpFrame.Pool pool;

    private final ReentrantLock writeLock = new ReentrantLock();
    private final ByteBuffer writeHeader = TcpFrame.headerBuffer();
    private final ByteBuffer[] writePair = new ByteBuffer[2];
    private final ByteBuffer noPayload = ByteBuffer.allocateDirect(0);
    /** When the write in progress began (0 when none): the mesh's watchdog ends writes that stall. */
    private volatile long writingSince;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Map<CKey, ArrayDeque<TcpFrame>> collective = new HashMap<>();
    private final Map<Integer, Long> lastSeq = new HashMap<>();
    private final Set<Integer> closedGroups = new HashSet<>();
    private final Map<PKey, ArrayDeque<RecvPost>> posted = new HashMap<>();
    private final Map<PKey, ArrayDeque<TcpFrame>> unexpected = new HashMap<>();
    private String gone;
    private Throwable goneCause;
    private volatile boolean closingLocally;
    private Thread reader;

    private record CKey(int group, long seq, int phase) {
    }

    private record PKey(int group, int tag) {
    }

    /** The peer is gone; {@link #getMessage()} says why ("closed its process group", ...). */
    static final class Lost extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Lost(String reason, Throwable cause) {
            super(reason, cause);
        }
    }

    TcpPeer(int worldRank, SocketChannel channel, TcpFrame.Pool pool) {
        this.worldRank = worldRank;
        this.channel = channel;
        this.pool = pool;
    }

    void startReader(String name) {
        reader = Thread.ofPlatform().daemon().name(name).start(this::readLoop);
    }

    // ---- sending ----

    /** Writes one frame (header fields in {@code h}, payload from position 0 to {@code h.length}). */
    void write(TcpFrame h, ByteBuffer payload) {
        writeLock.lock();
        try {
            String why = goneReason();
            if (why != null) {
                throw new Lost(why, goneCause);
            }
            h.writeHeader(writeHeader);
            writePair[0] = writeHeader;
            writePair[1] = payload == null ? noPayload : payload;
            writingSince = System.nanoTime() | 1;
            while (writeHeader.hasRemaining() || writePair[1].hasRemaining()) {
                channel.write(writePair);
            }
        } catch (IOException e) {
            kill("lost its connection (" + e.getMessage() + "; the process died or was killed?)", e);
            throw new Lost(goneReason(), goneCause);
        } finally {
            writingSince = 0;
            writePair[1] = null;
            writeLock.unlock();
        }
    }

    /** Nanoseconds the write in progress has taken, or 0 when none is. */
    long writeStalledNanos(long now) {
        long since = writingSince;
        return since == 0 ? 0 : now - since;
    }

    // ---- collective frames ----

    /**
     * The next frame of {@code group}'s call {@code seq}, phase {@code phase}, waiting until
     * {@code deadline} ({@link System#nanoTime()}); null if none came in time. Frames that arrived before
     * the peer left are still returned; after that a {@link Lost} says why it left. Returns null early once
     * {@code stop} says so (checked whenever the wait wakes).
     */
    TcpFrame take(int group, long seq, int phase, long deadline, java.util.function.BooleanSupplier stop)
            throws InterruptedException {
        CKey k = new CKey(group, seq, phase);
        lock.lock();
        try {
            while (true) {
                ArrayDeque<TcpFrame> q = collective.get(k);
                if (q != null) {
                    TcpFrame f = q.poll();
                    if (q.isEmpty()) {
                        collective.remove(k);
                    }
                    return f;
                }
                if (closedGroups.contains(group)) {
                    throw new Lost("closed its handle of the group", null);
                }
                if (gone != null) {
                    throw new Lost(gone, goneCause);
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || stop.getAsBoolean()) {
                    return null;
                }
                changed.awaitNanos(left);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Wakes every wait on this peer, so a closed group's comm thread stops waiting. */
    void wake() {
        lock.lock();
        try {
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** True if a frame of {@code group}'s call {@code seq} (or a later one) has come from this peer. */
    boolean arrived(int group, long seq) {
        lock.lock();
        try {
            return lastSeq.getOrDefault(group, Long.MIN_VALUE) >= seq;
        } finally {
            lock.unlock();
        }
    }

    /** Returns a frame's payload buffer to the pool. */
    void release(TcpFrame f) {
        if (f.payload != null) {
            pool.give(f.payload);
            f.payload = null;
            f.segment = null;
        }
    }

    // ---- point to point ----

    /** A receive waiting for a message from this peer. */
    static final class RecvPost {
        final int group;
        final int tag;
        final CpuStorage storage;
        final int offset;
        final DType dtype;
        final int count;
        final PendingWork work;
        /** "recv from rank 1 (tag 7) in group world[0,1] on rank 0", for messages. */
        final String label;
        final int peerGroupRank;
        final String peerName;
        volatile ScheduledFuture<?> timer;
        private int framesLeft = -1;
        private long bytes;
        private long expectedBytes;
        private String error;

        RecvPost(int group, int tag, CpuStorage storage, int offset, DType dtype, int count, PendingWork work,
                 String label, int peerGroupRank, String peerName) {
            this.group = group;
            this.tag = tag;
            this.storage = storage;
            this.offset = offset;
            this.dtype = dtype;
            this.count = count;
            this.work = work;
            this.label = label;
            this.peerGroupRank = peerGroupRank;
            this.peerName = peerName;
        }
    }

    /**
     * Posts a receive: takes what already arrived for it (even from a peer that has left since) and leaves
     * the rest to the reader thread.
     */
    void post(RecvPost p) {
        PKey k = new PKey(p.group, p.tag);
        lock.lock();
        try {
            ArrayDeque<RecvPost> waiting = posted.get(k);
            if (waiting == null || waiting.isEmpty()) {
                ArrayDeque<TcpFrame> early = unexpected.get(k);
                while (early != null && !early.isEmpty()) {
                    if (deliver(p, early.poll())) {
                        if (early.isEmpty()) {
                            unexpected.remove(k);
                        }
                        finish(p);
                        return;
                    }
                }
                unexpected.remove(k);
            }
            if (closedGroups.contains(p.group) || gone != null) {
                fail(p, closedGroups.contains(p.group) ? "closed its handle of the group" : gone);
                return;
            }
            posted.computeIfAbsent(k, x -> new ArrayDeque<>()).add(p);
        } finally {
            lock.unlock();
        }
    }

    /** Fails {@code p} with a timeout if it is still waiting (called by the group's timer). */
    void expire(RecvPost p, String after) {
        lock.lock();
        try {
            ArrayDeque<RecvPost> q = posted.get(new PKey(p.group, p.tag));
            if (q == null || !q.remove(p)) {
                return;
            }
            String got = p.framesLeft < 0 ? " did not send" : " sent only " + p.bytes + " of " + p.expectedBytes + " bytes";
            p.work.fail(new CollectiveTimeoutException(p.label + " timed out after " + after + ": " + p.peerName + got));
        } finally {
            lock.unlock();
        }
    }

    /** Copies one frame into a posted receive; true when its message is complete. Call with the lock held. */
    private boolean deliver(RecvPost p, TcpFrame f) {
        try {
            if (p.framesLeft < 0) {
                DType sent = DType.values()[f.kind];
                p.expectedBytes = (long) f.count * sent.byteSize();
                p.framesLeft = TcpFrame.frames(f.count, sent.byteSize());
                if (sent != p.dtype || f.count != p.count) {
                    p.error = p.label + ": " + p.peerName + " sent " + f.count + " x " + sent + " but this rank receives "
                            + p.count + " x " + p.dtype;
                }
            }
            if (p.error == null && f.length > 0) {
                int e = p.dtype.byteSize();
                try {
                    StorageBytes.fromBytes(f.segment, 0, p.storage, p.offset + (int) (p.bytes / e), f.length / e);
                } catch (RuntimeException x) {
                    // e.g. the tensor was freed while the receive was pending: fail it, keep the stream in step
                    p.error = p.label + ": " + x.getMessage();
                }
            }
            p.bytes += f.length;
            return --p.framesLeft == 0;
        } finally {
            release(f);
        }
    }

    private void finish(RecvPost p) {
        if (p.timer != null) {
            p.timer.cancel(false);
        }
        if (p.error == null) {
            p.work.complete();
        } else {
            p.work.fail(new IllegalArgumentException(p.error));
        }
    }

    private void fail(RecvPost p, String why) {
        if (p.timer != null) {
            p.timer.cancel(false);
        }
        p.work.fail(new RankFailedException(p.label + ": " + p.peerName + " " + why, p.peerGroupRank, goneCause));
    }

    // ---- reading ----

    private void readLoop() {
        ByteBuffer header = TcpFrame.headerBuffer();
        try {
            while (true) {
                header.clear();
                if (!readFully(header)) {
                    ended(null);
                    return;
                }
                header.flip();
                TcpFrame f = new TcpFrame();
                f.readHeader(header);
                if (f.length < 0 || f.length > TcpFrame.MAX_PAYLOAD) {
                    throw new IOException("corrupt frame header (payload length " + f.length + ")");
                }
                if (f.length > 0) {
                    ByteBuffer b = pool.take();
                    b.limit(f.length);
                    if (!readFully(b)) {
                        throw new EOFException("connection closed in the middle of a frame");
                    }
                    b.flip();
                    f.payload = b;
                    f.segment = MemorySegment.ofBuffer(b);
                }
                dispatch(f);
            }
        } catch (IOException e) {
            ended(e);
        } catch (RuntimeException e) {
            kill("sent a frame this rank cannot read (" + e + "): a different internlmj version?", e);
        }
    }

    private boolean readFully(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                return false;
            }
        }
        return true;
    }

    private void dispatch(TcpFrame f) {
        lock.lock();
        try {
            switch (f.type) {
                case TcpFrame.COLLECTIVE -> {
                    collective.computeIfAbsent(new CKey(f.group, f.key, f.phase), k -> new ArrayDeque<>()).add(f);
                    lastSeq.merge(f.group, f.key, Math::max);
                }
                case TcpFrame.P2P -> {
                    PKey k = new PKey(f.group, (int) f.key);
                    ArrayDeque<RecvPost> waiting = posted.get(k);
                    if (waiting != null && !waiting.isEmpty()) {
                        RecvPost p = waiting.peek();
                        if (deliver(p, f)) {
                            waiting.poll();
                            finish(p);
                        }
                    } else {
                        unexpected.computeIfAbsent(k, x -> new ArrayDeque<>()).add(f);
                    }
                }
                case TcpFrame.GROUP_CLOSED -> {
                    closedGroups.add(f.group);
                    failPosts(f.group, "closed its handle of the group");
                }
                case TcpFrame.BYE -> {
                    if (gone == null) {
                        gone = "closed its process group";
                    }
                    failPosts(-1, gone);
                }
                default -> throw new IllegalStateException("unknown frame type " + f.type);
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void ended(IOException e) {
        String why;
        if (closingLocally) {
            why = "is disconnected: this rank closed its process group";
        } else if (e == null || e instanceof EOFException) {
            why = "closed its connection without saying goodbye (the process died or was killed?)";
        } else if (e instanceof AsynchronousCloseException) {
            why = "is disconnected";
        } else {
            why = "lost its connection (" + e.getMessage() + "; the process died or was killed?)";
        }
        markGone(why, e);
    }

    /** Records why the peer is gone (the first reason wins) and fails everything waiting on it. */
    private void markGone(String reason, Throwable cause) {
        lock.lock();
        try {
            if (gone == null) {
                gone = reason;
                goneCause = cause;
            }
            failPosts(-1, gone);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Fails the posted receives of {@code group} (all groups if -1). Call with the lock held. */
    private void failPosts(int group, String why) {
        for (Iterator<Map.Entry<PKey, ArrayDeque<RecvPost>>> it = posted.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<PKey, ArrayDeque<RecvPost>> e = it.next();
            if (group < 0 || e.getKey().group() == group) {
                for (RecvPost p : e.getValue()) {
                    fail(p, why);
                }
                it.remove();
            }
        }
    }

    // ---- ending ----

    /** Why the peer is gone, or null while it is connected. */
    String goneReason() {
        lock.lock();
        try {
            return gone;
        } finally {
            lock.unlock();
        }
    }

    /** Ends the connection for {@code reason}: waiting operations fail with it, a blocked write returns. */
    void kill(String reason, Throwable cause) {
        markGone(reason, cause);
        try {
            channel.close();
        } catch (IOException e) {
            // already failing: the reason above is what matters
        }
    }

    /** Tells the peer that this rank closed its handle of {@code group}. Best effort. */
    void sendGroupClosed(int group) {
        TcpFrame h = new TcpFrame();
        h.type = TcpFrame.GROUP_CLOSED;
        h.group = group;
        try {
            write(h, null);
        } catch (Lost e) {
            // the peer is gone already: nothing to tell
        }
    }

    /** Says goodbye and stops sending; the peer's reader then sees the end of the stream. */
    void sayGoodbye() {
        TcpFrame h = new TcpFrame();
        h.type = TcpFrame.BYE;
        try {
            write(h, null);
            channel.shutdownOutput();
        } catch (Lost | IOException e) {
            // the peer is gone already
        }
    }

    /**
     * Gives the reader until {@code deadline} to see the peer's goodbye (so nothing unread is left in the
     * socket to turn the close into a reset that could discard the peer's last data), then closes.
     */
    void close(long deadline) {
        try {
            long left = deadline - System.nanoTime();
            if (reader != null && left > 0) {
                reader.join(Math.max(1, left / 1_000_000));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closingLocally = true;
        try {
            channel.close();
        } catch (IOException e) {
            // closing
        }
        lock.lock();
        try {
            for (ArrayDeque<TcpFrame> q : collective.values()) {
                q.forEach(this::release);
            }
            collective.clear();
            for (ArrayDeque<TcpFrame> q : unexpected.values()) {
                q.forEach(this::release);
            }
            unexpected.clear();
        } finally {
            lock.unlock();
        }
    }
}
