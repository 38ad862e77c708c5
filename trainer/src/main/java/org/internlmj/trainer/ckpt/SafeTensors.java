package org.internlmj.trainer.ckpt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.internlmj.tensor.DType;
import org.internlmj.tensor.Device;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header size N, N bytes of
 * JSON {@code {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__":
 * {..}}} (padded with spaces to a multiple of 8), then the tensors' little-endian bytes, offsets relative
 * to the end of the header. Files are written under a temporary name, fsync'd and renamed; reading
 * checks every offset and size and names the file and tensor of any inconsistency.
 */
public final class SafeTensors {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER = 100L << 20;

    private SafeTensors() {
    }

    /** What {@link #write} produced: the file and the SHA-256 of its bytes. */
    public record Written(Path file, long bytes, String sha256) {
    }

    /**
     * Writes {@code tensors} (any device and layout; copied to contiguous CPU data) with optional string
     * metadata, atomically.
     */
    public static Written write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        List<Tensor> cpu = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue().to(Device.CPU).contiguous();
            cpu.add(t);
            long size = (long) t.numel() * t.dtype().byteSize();
            ObjectNode entry = header.putObject(e.getKey());
            entry.put("dtype", t.dtype().safetensorsName());
            var shape = entry.putArray("shape");
            for (int d : t.shape()) {
                shape.add(d);
            }
            var offs = entry.putArray("data_offsets");
            offs.add(offset);
            offs.add(offset + size);
            offset += size;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = new byte[padded];
        System.arraycopy(json, 0, headerBytes, 0, json.length);
        for (int i = json.length; i < padded; i++) {
            headerBytes[i] = ' ';
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        MessageDigest sha = sha256();
        try (OutputStream raw = Files.newOutputStream(tmp);
             DigestOutputStream out = new DigestOutputStream(new java.io.BufferedOutputStream(raw, 1 << 20), sha)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
            out.write(headerBytes);
            byte[] chunk = new byte[1 << 20];
            for (Tensor t : cpu) {
                writeData(out, t, chunk);
            }
        }
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        return new Written(file, 8 + padded + offset, HexFormat.of().formatHex(sha.digest()));
    }

    private static void writeData(OutputStream out, Tensor t, byte[] chunk) throws IOException {
        CpuStorage s = (CpuStorage) t.storage();
        int n = t.numel();
        int off = t.offset();
        ByteBuffer bb = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
        int width = t.dtype().byteSize();
        int perChunk = chunk.length / width;
        for (int start = 0; start < n; start += perChunk) {
            int len = Math.min(perChunk, n - start);
            bb.clear();
            switch (t.dtype()) {
                case F32 -> bb.asFloatBuffer().put(s.f32(), off + start, len);
                case F64 -> bb.asDoubleBuffer().put(s.f64(), off + start, len);
                case BF16, F16 -> bb.asShortBuffer().put(s.bits16(), off + start, len);
                case I32 -> bb.asIntBuffer().put(s.i32(), off + start, len);
                case I64 -> bb.asLongBuffer().put(s.i64(), off + start, len);
            }
            out.write(chunk, 0, len * width);
        }
    }

    /** SHA-256 of a file's bytes, as hex. */
    public static String sha256(Path file) throws IOException {
        MessageDigest sha = sha256();
        try (var in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 20];
            int r;
            while ((r = in.read(buf)) > 0) {
                sha.update(buf, 0, r);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    /** A tensor's entry in a header. */
    public record Entry(String name, DType dtype, int[] shape, long begin, long end) {
    }

    /** An opened file: its entries and metadata; tensors are read on demand. */
    public static final class Reader implements AutoCloseable {
        private final Path file;
        private final Map<String, Entry> entries;
        private final Map<String, String> metadata;
        private final Arena arena;
        private final MemorySegment data;

        private Reader(Path file, Map<String, Entry> entries, Map<String, String> metadata, Arena arena,
                       MemorySegment data) {
            this.file = file;
            this.entries = entries;
            this.metadata = metadata;
            this.arena = arena;
            this.data = data;
        }

        public Map<String, Entry> entries() {
            return entries;
        }

        public Map<String, String> metadata() {
            return metadata;
        }

        /** The tensor {@code name} as a new CPU tensor in the current memory scope. */
        public Tensor read(String name) {
            Entry e = entries.get(name);
            if (e == null) {
                throw new IllegalArgumentException(file + " has no tensor '" + name + "'");
            }
            Tensor t = Tensor.empty(e.dtype(), Device.CPU, e.shape());
            CpuStorage s = (CpuStorage) t.storage();
            MemorySegment src = data.asSlice(e.begin(), e.end() - e.begin());
            ValueLayout.OfShort sh = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            switch (e.dtype()) {
                case F32 -> MemorySegment.copy(src, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0,
                        s.f32(), 0, t.numel());
                case F64 -> MemorySegment.copy(src, ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0,
                        s.f64(), 0, t.numel());
                case BF16, F16 -> MemorySegment.copy(src, sh, 0, s.bits16(), 0, t.numel());
                case I32 -> MemorySegment.copy(src, ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0,
                        s.i32(), 0, t.numel());
                case I64 -> MemorySegment.copy(src, ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0,
                        s.i64(), 0, t.numel());
            }
            return t;
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /** Opens and validates a safetensors file. */
    public static Reader open(Path file) throws IOException {
        long size = Files.size(file);
        if (size < 8) {
            throw new CheckpointException(file, "is " + size + " bytes: too short for a safetensors header (truncated?)");
        }
        Arena arena = Arena.ofShared();
        try {
            MemorySegment all;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            }
            long n = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (n < 2 || n > MAX_HEADER || 8 + n > size) {
                throw new CheckpointException(file, "header size " + n + " does not fit a file of " + size
                        + " bytes (truncated or not safetensors)");
            }
            byte[] headerBytes = all.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
            JsonNode header;
            try {
                header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new CheckpointException(file, "header is not valid JSON: " + e.getMessage().split("\n")[0]);
            }
            if (!header.isObject()) {
                throw new CheckpointException(file, "header is not a JSON object");
            }
            long dataSize = size - 8 - n;
            Map<String, Entry> entries = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                if (f.getKey().equals("__metadata__")) {
                    f.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                entries.put(f.getKey(), entry(file, f.getKey(), f.getValue(), dataSize));
            }
            List<Entry> sorted = new ArrayList<>(entries.values());
            sorted.sort((a, b) -> Long.compare(a.begin(), b.begin()));
            for (int i = 1; i < sorted.size(); i++) {
                if (sorted.get(i).begin() < sorted.get(i - 1).end()) {
                    throw new CheckpointException(file, "tensors '" + sorted.get(i - 1).name() + "' and '"
                            + sorted.get(i).name() + "' overlap");
                }
            }
            return new Reader(file, entries, metadata, arena, all.asSlice(8 + n));
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Entry entry(Path file, String name, JsonNode e, long dataSize) {
        String dt = e.path("dtype").asText("");
        DType dtype = switch (dt) {
            case "F32" -> DType.F32;
            case "F64" -> DType.F64;
            case "BF16" -> DType.BF16;
            case "F16" -> DType.F16;
            case "I32" -> DType.I32;
            case "I64" -> DType.I64;
            default -> throw new CheckpointException(file, "tensor '" + name + "' has dtype \"" + dt
                    + "\"; supported: F32, F64, BF16, F16, I32, I64");
        };
        JsonNode shapeNode = e.path("shape");
        JsonNode offs = e.path("data_offsets");
        if (!shapeNode.isArray() || !offs.isArray() || offs.size() != 2) {
            throw new CheckpointException(file, "tensor '" + name + "' lacks a shape or data_offsets [begin, end]");
        }
        int[] shape = new int[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asInt(-1);
            if (shape[i] < 0) {
                throw new CheckpointException(file, "tensor '" + name + "' has a negative dimension");
            }
            numel *= shape[i];
        }
        long begin = offs.get(0).asLong(-1);
        long end = offs.get(1).asLong(-1);
        if (begin < 0 || end < begin || end > dataSize) {
            throw new CheckpointException(file, "tensor '" + name + "' data_offsets [" + begin + ", " + end
                    + "] fall outside the " + dataSize + " data bytes (truncated?)");
        }
        if (end - begin != numel * dtype.byteSize()) {
            throw new CheckpointException(file, "tensor '" + name + "' spans " + (end - begin) + " bytes, its shape "
                    + java.util.Arrays.toString(shape) + " of " + dt + " needs " + numel * dtype.byteSize());
        }
        return new Entry(name, dtype, shape, begin, end);
    }
}
