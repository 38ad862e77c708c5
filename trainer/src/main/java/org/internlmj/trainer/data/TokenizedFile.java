package org.internlmj.trainer.data;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One InternLM tokenized dataset file: {@code xxx.bin} holds one JSON document per line,
 * {@code {"tokens": [int, ...]}} (other keys ignored), and {@code xxx.bin.meta} is a .npy matrix of
 * {@code [byte_offset, num_tokens]} per document. The .bin is memory-mapped; documents are parsed on
 * demand and checked against the meta (a mismatch or a truncated file names the file and offset).
 */
public final class TokenizedFile implements DocumentSource, AutoCloseable {
    private static final JsonFactory JSON = new JsonFactory();

    private final Path bin;
    private final long[] offsets;
    private final int[] lengths;
    private final Arena arena;
    private final MemorySegment data;

    private TokenizedFile(Path bin, long[] offsets, int[] lengths, Arena arena, MemorySegment data) {
        this.bin = bin;
        this.offsets = offsets;
        this.lengths = lengths;
        this.arena = arena;
        this.data = data;
    }

    /** Opens {@code bin} and its {@code bin + ".meta"}. */
    public static TokenizedFile open(Path bin) throws IOException {
        Path metaPath = bin.resolveSibling(bin.getFileName() + ".meta");
        if (!Files.isRegularFile(metaPath)) {
            throw new DataFormatException(metaPath, 0, "missing: every .bin needs its .bin.meta "
                    + "(an .npy of [byte_offset, num_tokens] per document; `internlmj prepare` writes both)");
        }
        long[][] meta = Npy.readMatrix(metaPath);
        long size;
        try {
            size = Files.size(bin);
        } catch (NoSuchFileException e) {
            throw new DataFormatException(bin, 0, "missing");
        }
        long[] offsets = new long[meta.length];
        int[] lengths = new int[meta.length];
        for (int i = 0; i < meta.length; i++) {
            if (meta[i].length < 2) {
                throw new DataFormatException(metaPath, 0, "expected 2 columns [offset, num_tokens], got " + meta[i].length);
            }
            offsets[i] = meta[i][0];
            long len = meta[i][meta[i].length - 1];
            if (offsets[i] < 0 || offsets[i] >= size || (i > 0 && offsets[i] <= offsets[i - 1])) {
                throw new DataFormatException(bin, offsets[i], "document " + i + " of " + meta.length
                        + ": offset from the meta file is outside the .bin (" + size + " bytes) or not increasing");
            }
            if (len < 0 || len > Integer.MAX_VALUE) {
                throw new DataFormatException(metaPath, 0, "document " + i + " has token count " + len);
            }
            lengths[i] = (int) len;
        }
        Arena arena = Arena.ofShared();
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(bin, StandardOpenOption.READ)) {
            seg = size == 0 ? MemorySegment.NULL : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
        return new TokenizedFile(bin, offsets, lengths, arena, seg);
    }

    public Path path() {
        return bin;
    }

    @Override
    public String name() {
        return bin.toString();
    }

    /**
     * InternLM's data type from the path: a component {@code en} is 0, {@code cn} 1, {@code code} 2;
     * files outside such folders are type 0.
     */
    @Override
    public int typeId() {
        for (Path part : bin) {
            switch (part.toString()) {
                case "en" -> {
                    return 0;
                }
                case "cn" -> {
                    return 1;
                }
                case "code" -> {
                    return 2;
                }
                default -> {
                }
            }
        }
        return 0;
    }

    @Override
    public int documents() {
        return offsets.length;
    }

    /** Token count of document {@code i}, from the meta file. */
    @Override
    public int length(int i) {
        return lengths[i];
    }

    /** The tokens of document {@code i} (negative ids kept: they mean "input, no loss"). */
    @Override
    public int[] document(int i) {
        long start = offsets[i];
        long end = start;
        long size = data.byteSize();
        while (end < size && data.get(ValueLayout.JAVA_BYTE, end) != '\n') {
            end++;
        }
        if (end - start > Integer.MAX_VALUE - 8) {
            throw new DataFormatException(bin, start, "document " + i + " line is too long");
        }
        byte[] line = data.asSlice(start, end - start).toArray(ValueLayout.JAVA_BYTE);
        int[] tokens = parseTokens(line, start);
        if (tokens.length != lengths[i]) {
            throw new DataFormatException(bin, start, "document " + i + " has " + tokens.length
                    + " tokens but the meta file says " + lengths[i] + (end == size ? " (file truncated?)" : ""));
        }
        return tokens;
    }

    private int[] parseTokens(byte[] line, long offset) {
        try (JsonParser p = JSON.createParser(line)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new DataFormatException(bin, offset, "expected a JSON object {\"tokens\": [...]}");
            }
            int[] tokens = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken t = p.nextToken();
                if (name.equals("tokens")) {
                    if (t != JsonToken.START_ARRAY) {
                        throw new DataFormatException(bin, offset, "\"tokens\" must be an array of integers");
                    }
                    int[] buf = new int[64];
                    int n = 0;
                    while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
                        if (t != JsonToken.VALUE_NUMBER_INT) {
                            throw new DataFormatException(bin, offset, "\"tokens\" holds a non-integer: " + p.getText());
                        }
                        if (n == buf.length) {
                            buf = java.util.Arrays.copyOf(buf, n * 2);
                        }
                        buf[n++] = p.getIntValue();
                    }
                    tokens = java.util.Arrays.copyOf(buf, n);
                } else {
                    p.skipChildren();
                }
            }
            if (tokens == null) {
                throw new DataFormatException(bin, offset, "JSON line has no \"tokens\" key");
            }
            return tokens;
        } catch (IOException e) {
            throw new DataFormatException(bin, offset, "not valid JSON: " + e.getMessage().split("\n")[0]);
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
