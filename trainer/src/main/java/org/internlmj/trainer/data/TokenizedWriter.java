package org.internlmj.trainer.data;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes one InternLM tokenized dataset: {@code name.bin} (a {@code {"tokens": [...]}} JSON line per
 * document) and {@code name.bin.meta} ({@code [byte_offset, num_tokens]} per document as .npy). Both
 * are written under temporary names, fsync'd, and renamed on {@link #commit()}, meta last, so a crash
 * leaves either nothing or a .bin without its meta, which readers refuse by name.
 */
public final class TokenizedWriter implements AutoCloseable {
    private final Path bin;
    private final Path tmpBin;
    private final OutputStream out;
    private final List<long[]> meta = new ArrayList<>();
    private long offset;
    private long tokens;
    private boolean done;

    public TokenizedWriter(Path bin) throws IOException {
        this.bin = bin;
        this.tmpBin = bin.resolveSibling(bin.getFileName() + ".tmp");
        Files.createDirectories(bin.toAbsolutePath().getParent());
        this.out = new BufferedOutputStream(Files.newOutputStream(tmpBin), 1 << 20);
    }

    /** Appends one document. */
    public void add(int[] documentTokens) throws IOException {
        StringBuilder sb = new StringBuilder(documentTokens.length * 6 + 16);
        sb.append("{\"tokens\": [");
        for (int i = 0; i < documentTokens.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(documentTokens[i]);
        }
        sb.append("]}\n");
        byte[] line = sb.toString().getBytes(StandardCharsets.UTF_8);
        meta.add(new long[] {offset, documentTokens.length});
        out.write(line);
        offset += line.length;
        tokens += documentTokens.length;
    }

    public int documents() {
        return meta.size();
    }

    public long tokens() {
        return tokens;
    }

    /** Flushes, fsyncs and renames both files into place. */
    public void commit() throws IOException {
        out.close();
        fsync(tmpBin);
        Path metaPath = bin.resolveSibling(bin.getFileName() + ".meta");
        Path tmpMeta = metaPath.resolveSibling(metaPath.getFileName() + ".tmp");
        Files.write(tmpMeta, Npy.encodeMatrix(meta.toArray(new long[0][]), 2));
        fsync(tmpMeta);
        Files.move(tmpBin, bin, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmpMeta, metaPath, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        fsync(bin.toAbsolutePath().getParent());
        done = true;
    }

    /** fsync of a file or a folder (the folder makes renames in it durable). */
    public static void fsync(Path p) throws IOException {
        if (Files.isDirectory(p)) {
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                ch.force(true);
            } catch (IOException e) {
                // some file systems refuse to open folders for sync; the renames are then as durable as they get
            }
            return;
        }
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
    }

    /** Abandons an uncommitted write, deleting the temporary file. */
    @Override
    public void close() throws IOException {
        if (!done) {
            out.close();
            Files.deleteIfExists(tmpBin);
        }
    }
}
