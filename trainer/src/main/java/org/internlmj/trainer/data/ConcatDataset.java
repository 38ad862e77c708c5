package org.internlmj.trainer.data;

import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * All packed datasets of a data folder, one per {@code .bin} file, numbered end to end. The folder is
 * walked following symlinks with files in sorted order (as InternLM's {@code os.walk} with sorted
 * names does), so item numbers are stable.
 */
public final class ConcatDataset implements AutoCloseable {
    private final List<PackedDataset> parts;
    private final long[] starts;
    private final List<AutoCloseable> resources;

    public ConcatDataset(List<PackedDataset> parts, List<AutoCloseable> resources) {
        this.parts = List.copyOf(parts);
        this.resources = List.copyOf(resources);
        this.starts = new long[parts.size() + 1];
        for (int i = 0; i < parts.size(); i++) {
            starts[i + 1] = starts[i] + parts.get(i).size();
        }
    }

    /** Opens every {@code *.bin} under {@code folder} and packs each one. */
    public static ConcatDataset open(Path folder, int seqLen, int microBsz, int minLength, PackedDataset.Mode mode,
                                     long seed) throws IOException {
        if (!Files.isDirectory(folder)) {
            throw new DataFormatException(folder, 0, "data folder does not exist or is not a folder");
        }
        List<Path> bins;
        try (Stream<Path> walk = Files.walk(folder, FileVisitOption.FOLLOW_LINKS)) {
            bins = walk.filter(p -> p.getFileName().toString().endsWith(".bin") && Files.isRegularFile(p)).sorted().toList();
        }
        if (bins.isEmpty()) {
            throw new DataFormatException(folder, 0, "no .bin files found (expected InternLM tokenized data: "
                    + "xxx.bin + xxx.bin.meta; `internlmj prepare` makes them)");
        }
        List<PackedDataset> parts = new ArrayList<>();
        List<AutoCloseable> open = new ArrayList<>();
        try {
            for (Path bin : bins) {
                TokenizedFile f = TokenizedFile.open(bin);
                open.add(f);
                parts.add(new PackedDataset(f, seqLen, microBsz, minLength, mode, seed));
            }
        } catch (IOException | RuntimeException e) {
            for (AutoCloseable c : open) {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // already failing
                }
            }
            throw e;
        }
        return new ConcatDataset(parts, open);
    }

    /** Number of micro-batches over all files. */
    public int size() {
        return (int) Math.min(Integer.MAX_VALUE, starts[parts.size()]);
    }

    /** Tokens of all kept documents. */
    public long tokens() {
        long t = 0;
        for (PackedDataset p : parts) {
            t += p.tokens();
        }
        return t;
    }

    public List<PackedDataset> parts() {
        return parts;
    }

    public MicroBatch get(int index) {
        int lo = 0;
        int hi = parts.size() - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= index) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return parts.get(lo).get((int) (index - starts[lo]));
    }

    @Override
    public void close() {
        for (AutoCloseable c : resources) {
            try {
                c.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing " + c + ": " + e.getMessage(), e);
            }
        }
    }
}
