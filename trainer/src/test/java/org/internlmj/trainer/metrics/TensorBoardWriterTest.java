package org.internlmj.trainer.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorBoardWriterTest {
    @TempDir
    Path dir;

    /** Parses TFRecords, checking both CRCs, and decodes scalar summaries with a minimal protobuf reader. */
    static List<Map<String, Object>> read(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<Map<String, Object>> events = new ArrayList<>();
        while (b.hasRemaining()) {
            byte[] lenBytes = new byte[8];
            b.get(lenBytes);
            long len = ByteBuffer.wrap(lenBytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(TensorBoardWriter.maskedCrc(lenBytes, 0, 8), b.getInt(), "length CRC");
            byte[] data = new byte[(int) len];
            b.get(data);
            assertEquals(TensorBoardWriter.maskedCrc(data, 0, data.length), b.getInt(), "data CRC");
            events.add(decode(ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN)));
        }
        return events;
    }

    private static long varint(ByteBuffer b) {
        long v = 0;
        for (int shift = 0; ; shift += 7) {
            int x = b.get() & 0xff;
            v |= (long) (x & 0x7f) << shift;
            if ((x & 0x80) == 0) {
                return v;
            }
        }
    }

    private static Map<String, Object> decode(ByteBuffer b) {
        Map<String, Object> m = new LinkedHashMap<>();
        while (b.hasRemaining()) {
            long tag = varint(b);
            int field = (int) (tag >>> 3);
            int wire = (int) (tag & 7);
            switch (wire) {
                case 0 -> m.put("f" + field, varint(b));
                case 1 -> m.put("f" + field, b.getDouble());
                case 5 -> m.put("f" + field, b.getFloat());
                case 2 -> {
                    byte[] sub = new byte[(int) varint(b)];
                    b.get(sub);
                    if (field == 3 || (field == 1 && m.isEmpty() && isText(sub))) {
                        m.put("f" + field, new String(sub, StandardCharsets.UTF_8));
                    } else {
                        @SuppressWarnings("unchecked")
                        List<Object> list = (List<Object>) m.computeIfAbsent("f" + field, k -> new ArrayList<>());
                        list.add(decode(ByteBuffer.wrap(sub).order(ByteOrder.LITTLE_ENDIAN)));
                    }
                }
                default -> throw new AssertionError("unexpected wire type " + wire);
            }
        }
        return m;
    }

    private static boolean isText(byte[] b) {
        for (byte x : b) {
            if (x < 32) {
                return false;
            }
        }
        return true;
    }

    @Test
    void writesValidTfRecordsWithScalarSummaries() throws IOException {
        Path file;
        try (TensorBoardWriter w = new TensorBoardWriter(dir)) {
            w.scalars(7, Map.of("loss", 2.5));
            file = w.file();
        }
        assertTrue(file.getFileName().toString().startsWith("events.out.tfevents."));
        List<Map<String, Object>> events = read(file);
        assertEquals(2, events.size());
        assertEquals("brain.Event:2", events.get(0).get("f3"));
        assertEquals(7L, events.get(1).get("f2"));
        @SuppressWarnings("unchecked")
        Map<String, Object> summary = ((List<Map<String, Object>>) events.get(1).get("f5")).get(0);
        @SuppressWarnings("unchecked")
        Map<String, Object> value = ((List<Map<String, Object>>) summary.get("f1")).get(0);
        assertEquals("loss", value.get("f1"));
        assertEquals(2.5f, value.get("f2"));
    }
}
