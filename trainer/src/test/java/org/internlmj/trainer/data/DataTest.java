package org.internlmj.trainer.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataTest {
    @TempDir
    Path dir;

    /** Writes a .bin/.meta pair by hand (not through TokenizedWriter), exactly as InternLM's tools do. */
    static Path writeByHand(Path dir, String name, int[]... docs) throws IOException {
        StringBuilder bin = new StringBuilder();
        long[][] meta = new long[docs.length][];
        for (int i = 0; i < docs.length; i++) {
            meta[i] = new long[] {bin.toString().getBytes(StandardCharsets.UTF_8).length, docs[i].length};
            StringBuilder line = new StringBuilder("{\"tokens\": [");
            for (int j = 0; j < docs[i].length; j++) {
                line.append(j == 0 ? "" : ", ").append(docs[i][j]);
            }
            line.append("], \"source\": \"doc").append(i).append("\"}\n");
            bin.append(line);
        }
        Path p = dir.resolve(name + ".bin");
        Files.createDirectories(p.getParent());
        Files.writeString(p, bin);
        Files.write(dir.resolve(name + ".bin.meta"), Npy.encodeMatrix(meta, 2));
        return p;
    }

    private static int[] range(int from, int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = from + i;
        }
        return r;
    }

    @Test
    void npyRoundTripsAndHasTheNumpyLayout() throws IOException {
        long[][] m = {{0, 5}, {40, 7}};
        byte[] b = Npy.encodeMatrix(m, 2);
        assertEquals(0x93, b[0] & 0xff);
        assertEquals('N', b[1]);
        assertEquals(0, (10 + (b[8] & 0xff)) % 64, "header padded to 64 bytes");
        assertEquals(10 + (b[8] & 0xff) + 16, b.length);
        Path f = dir.resolve("m.npy");
        Files.write(f, b);
        long[][] back = Npy.readMatrix(f);
        assertArrayEquals(m[1], back[1]);
        Files.write(f, java.util.Arrays.copyOf(b, b.length - 3));
        DataFormatException e = assertThrows(DataFormatException.class, () -> Npy.readMatrix(f));
        assertTrue(e.getMessage().contains("m.npy") && e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void packingFollowsInternLM() throws IOException {
        // three documents of 5, 7 and 3 tokens; seq_len 4, micro_bsz 2 -> packs of 8 tokens; 15 // 8 = 1 pack
        Path bin = writeByHand(dir, "a", range(10, 5), range(20, 7), range(30, 3));
        try (TokenizedFile f = TokenizedFile.open(bin)) {
            assertEquals(3, f.documents());
            assertArrayEquals(range(20, 7), f.document(1));
            // identity order: a seed whose shuffle we do not need; use min_length 0 and compare with the order used
            PackedDataset ds = new PackedDataset(f, 4, 2, 0, PackedDataset.Mode.PACKED, 7);
            assertEquals(1, ds.size());
            MicroBatch mb = ds.get(0);
            assertEquals(8, mb.tokens().length);
            // reconstruct which documents were packed, in order, from the token values (10s, 20s, 30s)
            int first = mb.tokens()[0] / 10;
            int[] expectFirst = range(first * 10, first == 1 ? 5 : first == 2 ? 7 : 3);
            int take = Math.min(expectFirst.length, 8);
            for (int j = 0; j < take; j++) {
                assertEquals(expectFirst[j], mb.tokens()[j]);
                int label = j + 1 < expectFirst.length ? expectFirst[j + 1] : MicroBatch.IGNORE;
                assertEquals(label, mb.labels()[j], "label " + j);
            }
            // cu_seqlens: segments never longer than seq_len and never crossing a document
            for (int i = 1; i < mb.cuSeqlens().length; i++) {
                int len = mb.cuSeqlens()[i] - mb.cuSeqlens()[i - 1];
                assertTrue(len >= 1 && len <= 4, "segment " + i + " of length " + len);
                int start = mb.cuSeqlens()[i - 1];
                assertEquals(0, mb.positions()[start]);
                for (int j = start + 1; j < mb.cuSeqlens()[i]; j++) {
                    assertEquals(mb.tokens()[j] / 10, mb.tokens()[start] / 10, "segment crosses a document");
                    assertEquals(mb.positions()[j - 1] + 1, mb.positions()[j]);
                }
            }
            assertEquals(8, mb.cuSeqlens()[mb.cuSeqlens().length - 1]);
        }
    }

    @Test
    void exactBoundariesWithAKnownOrder() throws IOException {
        // one document of 11 tokens: packs of 8 -> 1 pack; seq_len 4 -> segments [0,4,8], the last token's
        // label is the true next token of the document (cut by the pack boundary), positions restart per segment
        Path bin = writeByHand(dir, "one", range(100, 11));
        try (TokenizedFile f = TokenizedFile.open(bin)) {
            MicroBatch mb = new PackedDataset(f, 4, 2, 0, PackedDataset.Mode.PACKED, 1).get(0);
            assertArrayEquals(new int[] {0, 4, 8}, mb.cuSeqlens());
            assertArrayEquals(new int[] {0, 1, 2, 3, 0, 1, 2, 3}, mb.positions());
            assertArrayEquals(range(101, 8), mb.labels());
            MicroBatch one = new PackedDataset(f, 4, 2, 0, PackedDataset.Mode.PACK_SAMPLE_INTO_ONE, 1).get(0);
            assertArrayEquals(new int[] {0, 4, 8}, one.cuSeqlens());
        }
    }

    @Test
    void negativeIdsAreInputsWithoutLoss() throws IOException {
        // an SFT document: prompt tokens negated, answer positive; 8 tokens = exactly one pack of 2 x 4
        Path bin = writeByHand(dir, "sft", new int[] {-1, -50, -51, -52, 60, 61, 62, 2});
        try (TokenizedFile f = TokenizedFile.open(bin)) {
            MicroBatch mb = new PackedDataset(f, 4, 2, 0, PackedDataset.Mode.PACKED, 1).get(0);
            assertArrayEquals(new int[] {1, 50, 51, 52, 60, 61, 62, 2}, mb.tokens());
            assertArrayEquals(new int[] {-100, -100, -100, 60, 61, 62, 2, -100}, mb.labels());
            assertEquals(4, mb.targetCount());
        }
    }

    @Test
    void minLengthDropsShortDocuments() throws IOException {
        Path bin = writeByHand(dir, "m", range(10, 3), range(20, 9), range(30, 2));
        try (TokenizedFile f = TokenizedFile.open(bin)) {
            PackedDataset ds = new PackedDataset(f, 4, 2, 5, PackedDataset.Mode.PACKED, 3);
            assertEquals(9, ds.tokens());
            assertEquals(1, ds.size());
        }
    }

    @Test
    void unpackedRowsArePaddedWithoutLoss() throws IOException {
        Path bin = writeByHand(dir, "u", range(10, 2), range(20, 6));
        try (TokenizedFile f = TokenizedFile.open(bin)) {
            PackedDataset ds = new PackedDataset(f, 4, 2, 0, PackedDataset.Mode.UNPACKED, 5);
            MicroBatch mb = ds.get(0);
            assertArrayEquals(new int[] {0, 4, 8}, mb.cuSeqlens());
            int shortRow = mb.tokens()[0] == 10 ? 0 : 1;
            int base = shortRow * 4;
            assertArrayEquals(new int[] {10, 11, 0, 0}, java.util.Arrays.copyOfRange(mb.tokens(), base, base + 4));
            assertArrayEquals(new int[] {11, -100, -100, -100}, java.util.Arrays.copyOfRange(mb.labels(), base, base + 4));
        }
    }

    @Test
    void corruptFilesNameFileAndOffset() throws IOException {
        Path bin = writeByHand(dir, "c", range(10, 4), range(20, 4));
        // meta says 5 tokens for document 1
        long second = Files.readString(bin).indexOf('\n') + 1;
        Files.write(dir.resolve("c.bin.meta"), Npy.encodeMatrix(new long[][] {{0, 4}, {second, 5}}, 2));
        try (TokenizedFile f = TokenizedFile.open(bin)) {
            DataFormatException e = assertThrows(DataFormatException.class, () -> f.document(1));
            assertTrue(e.getMessage().contains("c.bin at byte " + second), e.getMessage());
            assertTrue(e.getMessage().contains("meta file says 5"), e.getMessage());
        }
        // truncated .bin: the second line is cut in half
        Files.write(dir.resolve("c.bin.meta"), Npy.encodeMatrix(new long[][] {{0, 4}, {second, 4}}, 2));
        Files.writeString(bin, Files.readString(bin).substring(0, (int) second + 8));
        try (TokenizedFile f = TokenizedFile.open(bin)) {
            DataFormatException e = assertThrows(DataFormatException.class, () -> f.document(1));
            assertTrue(e.getMessage().contains("c.bin at byte " + second), e.getMessage());
        }
        // offset outside the file
        Files.write(dir.resolve("c.bin.meta"), Npy.encodeMatrix(new long[][] {{0, 4}, {9999, 4}}, 2));
        DataFormatException out = assertThrows(DataFormatException.class, () -> TokenizedFile.open(bin));
        assertTrue(out.getMessage().contains("at byte 9999"), out.getMessage());
        // missing meta
        Files.delete(dir.resolve("c.bin.meta"));
        DataFormatException missing = assertThrows(DataFormatException.class, () -> TokenizedFile.open(bin));
        assertTrue(missing.getMessage().contains("c.bin.meta"), missing.getMessage());
    }

    @Test
    void folderWalkIsSortedAndConcatenates() throws IOException {
        writeByHand(dir.resolve("en"), "b", range(10, 16));
        writeByHand(dir.resolve("code"), "a", range(50, 8));
        try (ConcatDataset ds = ConcatDataset.open(dir, 4, 2, 0, PackedDataset.Mode.PACKED, 1)) {
            assertEquals(3, ds.size());
            assertEquals(50, ds.get(0).tokens()[0]); // code/a.bin sorts before en/b.bin
            assertEquals(2, ds.get(0).typeIds()[0]);
            assertEquals(0, ds.get(1).typeIds()[0]);
        }
    }

    @Test
    void writerOutputReadsBack() throws IOException {
        Path bin = dir.resolve("w.bin");
        try (TokenizedWriter w = new TokenizedWriter(bin)) {
            w.add(new int[] {1, 5, 6, 2});
            w.add(new int[] {1, -7, 8, 2});
            w.commit();
        }
        try (TokenizedFile f = TokenizedFile.open(bin)) {
            assertArrayEquals(new int[] {1, -7, 8, 2}, f.document(1));
        }
        assertTrue(Files.list(dir).noneMatch(p -> p.toString().endsWith(".tmp")));
    }

    @Test
    void samplerSplitsRanksShufflesPerEpochAndResumes() {
        int size = 20;
        BatchSampler r0 = new BatchSampler(size, 3, null, 0, 2, 1024, true);
        BatchSampler r1 = new BatchSampler(size, 3, null, 1, 2, 1024, true);
        Set<Integer> seen = new HashSet<>();
        for (int step = 0; step < 3; step++) {
            for (int i : r0.next()) {
                assertTrue(seen.add(i), "index " + i + " handed out twice");
            }
            for (int i : r1.next()) {
                assertTrue(seen.add(i), "index " + i + " handed out twice");
            }
        }
        assertEquals(18, seen.size());
        // the 4th step starts epoch 1 (20 - 18 < 6): a new permutation
        BatchSampler copy = new BatchSampler(size, 3, null, 0, 2, 1024, true);
        copy.restore(r0.state());
        int[] a = r0.next();
        int[] b = copy.next();
        assertArrayEquals(a, b);
        assertEquals(1, r0.state().epoch());
        BatchSampler other = new BatchSampler(size, 3, null, 0, 2, 99, true);
        assertNotEquals(List.of(new BatchSampler(size, 3, null, 0, 2, 1024, true).next()), List.of(other.next()));
        IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class,
                () -> new BatchSampler(5, 3, null, 0, 2, 1, true));
        assertTrue(tooSmall.getMessage().contains("5 micro-batches"), tooSmall.getMessage());
    }

    @Test
    void rampupGrowsTheBatch() {
        BatchSampler s = new BatchSampler(100, 4, new int[] {1, 1, 2}, 0, 1, 1, false);
        int[] sizes = new int[8];
        for (int i = 0; i < 8; i++) {
            sizes[i] = s.next().length;
        }
        assertArrayEquals(new int[] {1, 1, 2, 2, 3, 3, 4, 4}, sizes);
    }

    @Test
    void skipBatchRanges() {
        var skips = org.internlmj.trainer.config.TrainConfig.parse("""
                model: {num_attention_heads: 2, hidden_size: 8, num_layers: 1, vocab_size: 10}
                data: {skip_batches: "3-5, 9"}
                ckpt: {enable_save_ckpt: false}
                """, List.of()).data();
        assertTrue(skips.skips(3) && skips.skips(5) && skips.skips(9));
        assertTrue(!skips.skips(2) && !skips.skips(6) && !skips.skips(10));
    }
}
