package org.internlmj.trainer.ckpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {
    @TempDir
    Path dir;

    private Path sample() throws IOException {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("w", Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3).transpose(0, 1)); // non-contiguous view
        m.put("b", Tensor.of(new float[] {0.5f, -1.25f}, DType.BF16, 2));
        m.put("ids", Tensor.ofLongs(new long[] {7, -8}, 2));
        Path f = dir.resolve("x.safetensors");
        SafeTensors.Written w = SafeTensors.write(f, m, Map.of("format", "pt"));
        assertEquals(SafeTensors.sha256(f), w.sha256());
        assertEquals(Files.size(f), w.bytes());
        return f;
    }

    @Test
    void roundTripsAndFollowsTheFormat() throws IOException {
        Path f = sample();
        byte[] all = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + n) % 8);
        JsonNode h = new ObjectMapper().readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        assertEquals("F32", h.get("w").get("dtype").asText());
        assertEquals("[3,2]", h.get("w").get("shape").toString());
        assertEquals("[0,24]", h.get("w").get("data_offsets").toString());
        assertEquals("BF16", h.get("b").get("dtype").asText());
        assertEquals("pt", h.get("__metadata__").get("format").asText());
        // the first float of w is element (0,0) of the transposed view = 1, little-endian
        assertEquals(1.0f, ByteBuffer.wrap(all, (int) (8 + n), 4).order(ByteOrder.LITTLE_ENDIAN).getFloat());
        try (SafeTensors.Reader r = SafeTensors.open(f)) {
            assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, r.read("w").toFloatArray());
            assertArrayEquals(new float[] {0.5f, -1.25f}, r.read("b").toFloatArray());
            assertArrayEquals(new long[] {7, -8}, r.read("ids").toLongArray());
            assertEquals("pt", r.metadata().get("format"));
        }
    }

    @Test
    void truncatedAndCorruptFilesAreRefusedByName() throws IOException {
        Path f = sample();
        byte[] all = Files.readAllBytes(f);
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length - 5));
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafeTensors.open(cut));
        assertTrue(e.getMessage().contains("cut.safetensors") && e.getMessage().contains("truncated"), e.getMessage());
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertThrows(CheckpointException.class, () -> SafeTensors.open(tiny));
        Path badHeader = dir.resolve("bad.safetensors");
        byte[] copy = all.clone();
        copy[9] = '!';
        Files.write(badHeader, copy);
        CheckpointException j = assertThrows(CheckpointException.class, () -> SafeTensors.open(badHeader));
        assertTrue(j.getMessage().contains("not valid JSON"), j.getMessage());
    }
}
