package org.internlmj.trainer.metrics;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * Writes TensorBoard event files ({@code events.out.tfevents.<time>.<host>}) without TensorFlow:
 * TFRecord framing (little-endian length, masked CRC-32C of the length, the record, masked CRC-32C
 * of the record) around hand-encoded {@code tensorflow.Event} protobufs holding scalar summaries
 * ({@code Event{wall_time=1, step=2, file_version=3, summary=5}},
 * {@code Summary{value=1}}, {@code Summary.Value{tag=1, simple_value=2}}).
 */
public final class TensorBoardWriter implements AutoCloseable {
    private final OutputStream out;
    private final Path file;

    public TensorBoardWriter(Path dir) throws IOException {
        Files.createDirectories(dir);
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "localhost";
        }
        this.file = dir.resolve("events.out.tfevents." + System.currentTimeMillis() / 1000 + "." + host);
        this.out = Files.newOutputStream(file);
        ByteArrayOutputStream ev = new ByteArrayOutputStream();
        wallTime(ev);
        writeTag(ev, 3, 2);
        writeBytes(ev, "brain.Event:2".getBytes(StandardCharsets.UTF_8));
        writeRecord(ev.toByteArray());
        out.flush();
    }

    public Path file() {
        return file;
    }

    /** One event at {@code step} holding a scalar per entry. */
    public synchronized void scalars(long step, Map<String, Double> values) throws IOException {
        ByteArrayOutputStream summary = new ByteArrayOutputStream();
        for (Map.Entry<String, Double> e : values.entrySet()) {
            if (e.getValue() == null) {
                continue;
            }
            ByteArrayOutputStream v = new ByteArrayOutputStream();
            writeTag(v, 1, 2);
            writeBytes(v, e.getKey().getBytes(StandardCharsets.UTF_8));
            writeTag(v, 2, 5);
            int bits = Float.floatToIntBits(e.getValue().floatValue());
            for (int i = 0; i < 4; i++) {
                v.write(bits >>> (8 * i));
            }
            writeTag(summary, 1, 2);
            writeBytes(summary, v.toByteArray());
        }
        ByteArrayOutputStream ev = new ByteArrayOutputStream();
        wallTime(ev);
        writeTag(ev, 2, 0);
        writeVarint(ev, step);
        writeTag(ev, 5, 2);
        writeBytes(ev, summary.toByteArray());
        writeRecord(ev.toByteArray());
        out.flush();
    }

    private static void wallTime(ByteArrayOutputStream ev) {
        writeTag(ev, 1, 1);
        long bits = Double.doubleToLongBits(System.currentTimeMillis() / 1000.0);
        for (int i = 0; i < 8; i++) {
            ev.write((int) (bits >>> (8 * i)));
        }
    }

    private void writeRecord(byte[] data) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        header.putLong(data.length);
        header.putInt(maskedCrc(header.array(), 0, 8));
        out.write(header.array());
        out.write(data);
        ByteBuffer footer = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        footer.putInt(maskedCrc(data, 0, data.length));
        out.write(footer.array());
    }

    /** TFRecord's masked CRC-32C: rotate right by 15 and add a constant. */
    static int maskedCrc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        int crc = (int) c.getValue();
        return ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
    }

    private static void writeTag(ByteArrayOutputStream o, int field, int wireType) {
        writeVarint(o, ((long) field << 3) | wireType);
    }

    private static void writeVarint(ByteArrayOutputStream o, long v) {
        while ((v & ~0x7FL) != 0) {
            o.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        o.write((int) v);
    }

    private static void writeBytes(ByteArrayOutputStream o, byte[] b) {
        writeVarint(o, b.length);
        o.writeBytes(b);
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }
}
