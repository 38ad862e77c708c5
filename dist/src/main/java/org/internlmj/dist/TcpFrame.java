package org.internlmj.dist;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One unit of the TCP process group's wire protocol: a 40-byte little-endian header and up to
 * {@link #MAX_PAYLOAD} bytes of payload. Messages larger than one frame are cut into frames, so that a
 * receiver reduces one frame while the next is in flight and a large message never needs a buffer of its
 * own size.
 *
 * <pre>
 * int type | int group | long key | int phase | int length | int kind | int count | int root | int 0
 * </pre>
 * A collective's frames carry its sequence number as key and the call's signature (kind, count, root) so
 * the receiver can tell when ranks called different collectives; a point-to-point frame carries the tag
 * as key and the message's dtype and element count.
 */
final class TcpFrame {
    static final int HEADER_BYTES = 40;
    /** Payload bytes per frame: large enough that per-frame costs vanish, small enough to pipeline. */
    static final int MAX_PAYLOAD = 1 << 20;

    static final int COLLECTIVE = 1;
    static final int P2P = 2;
    /** The sender closed its handle of the group named in the header. */
    static final int GROUP_CLOSED = 3;
    /** The sender closed its world group: nothing follows. */
    static final int BYE = 4;

    int type;
    int group;
    long key;
    int phase;
    int length;
    int kind;
    int count;
    int root;
    /** The payload (position 0, limit {@link #length}), from the pool; null when empty. */
    ByteBuffer payload;
    MemorySegment segment;

    /** Frames needed for {@code count} elements of {@code elementBytes} each (at least one, possibly empty). */
    static int frames(long count, int elementBytes) {
        long perFrame = MAX_PAYLOAD / elementBytes;
        return (int) Math.max(1, (count + perFrame - 1) / perFrame);
    }

    /** Elements per full frame. */
    static int perFrame(int elementBytes) {
        return MAX_PAYLOAD / elementBytes;
    }

    void writeHeader(ByteBuffer h) {
        h.clear();
        h.putInt(type).putInt(group).putLong(key).putInt(phase).putInt(length).putInt(kind).putInt(count).putInt(root)
                .putInt(0);
        h.flip();
    }

    void readHeader(ByteBuffer h) {
        type = h.getInt();
        group = h.getInt();
        key = h.getLong();
        phase = h.getInt();
        length = h.getInt();
        kind = h.getInt();
        count = h.getInt();
        root = h.getInt();
        h.getInt();
    }

    static ByteBuffer headerBuffer() {
        return ByteBuffer.allocateDirect(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Direct payload buffers for reuse: receiving into native memory saves the JDK's copy through a
     * temporary buffer. Keeps at most {@code retain} idle buffers; beyond that they go to the collector.
     */
    static final class Pool {
        private final ConcurrentLinkedDeque<ByteBuffer> idle = new ConcurrentLinkedDeque<>();
        private final AtomicInteger idleCount = new AtomicInteger();
        private final int retain;

        Pool(int retain) {
            this.retain = retain;
        }

        ByteBuffer take() {
            ByteBuffer b = idle.pollFirst();
            if (b == null) {
                return ByteBuffer.allocateDirect(MAX_PAYLOAD).order(ByteOrder.LITTLE_ENDIAN);
            }
            idleCount.decrementAndGet();
            return b.clear();
        }

        void give(ByteBuffer b) {
            if (b != null && idleCount.incrementAndGet() <= retain) {
                idle.addFirst(b);
            } else if (b != null) {
                idleCount.decrementAndGet();
            }
        }
    }
}
