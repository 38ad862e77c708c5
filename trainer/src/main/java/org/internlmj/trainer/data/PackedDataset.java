package org.internlmj.trainer.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Packs the documents of one source into micro-batches of {@code packed_length = micro_bsz * seq_len}
 * tokens, as InternLM's {@code PackedDataset} does: documents are shuffled (deterministically from the
 * seed), documents shorter than {@code min_length} dropped, their tokens concatenated into one stream and
 * cut into {@code total // packed_length} packs (the tail is dropped). Within a pack, attention segments
 * ({@code cu_seqlens}) never cross a document boundary and are at most {@code seq_len} long; positions
 * restart at 0 in each segment. A document cut by a pack boundary keeps its true next token as the label
 * of its last token in the first pack.
 *
 * <p>Modes: {@code pack_sample_into_one} (fixed segments of seq_len that cross documents, InternLM's
 * {@code PackedDatasetWithoutCuSeqlen}); unpacked ({@code use_flash_attn = false}: micro_bsz documents per
 * item, each truncated to seq_len and padded with id 0, no loss on padding).
 */
public final class PackedDataset {
    /** How documents become micro-batches. */
    public enum Mode { PACKED, PACK_SAMPLE_INTO_ONE, UNPACKED }

    private final DocumentSource source;
    private final int seqLen;
    private final int packedLength;
    private final Mode mode;
    private final int[] order;      // kept documents in shuffled order
    private final long[] cumulative; // cumulative token counts over order, cumulative[0] = 0
    private final int items;

    public PackedDataset(DocumentSource source, int seqLen, int microBsz, int minLength, Mode mode, long seed) {
        this.source = source;
        this.seqLen = seqLen;
        this.packedLength = seqLen * microBsz;
        this.mode = mode;
        List<Integer> kept = new ArrayList<>();
        for (int i = 0; i < source.documents(); i++) {
            if (source.length(i) >= Math.max(minLength, 1)) {
                kept.add(i);
            }
        }
        int[] o = kept.stream().mapToInt(Integer::intValue).toArray();
        shuffle(o, seed);
        this.order = o;
        this.cumulative = new long[o.length + 1];
        for (int i = 0; i < o.length; i++) {
            cumulative[i + 1] = cumulative[i] + source.length(o[i]);
        }
        this.items = mode == Mode.UNPACKED ? o.length / microBsz : (int) Math.min(Integer.MAX_VALUE,
                cumulative[o.length] / packedLength);
    }

    /** Fisher-Yates with a seeded generator: the same order for the same seed on every machine. */
    static void shuffle(int[] a, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = a.length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    public DocumentSource source() {
        return source;
    }

    /** Number of micro-batches. */
    public int size() {
        return items;
    }

    /** Total tokens of the kept documents. */
    public long tokens() {
        return cumulative[order.length];
    }

    public MicroBatch get(int item) {
        if (item < 0 || item >= items) {
            throw new IndexOutOfBoundsException("item " + item + " of " + items + " in " + source.name());
        }
        return mode == Mode.UNPACKED ? unpacked(item) : packed(item);
    }

    private MicroBatch packed(int item) {
        int[] tokens = new int[packedLength];
        int[] labels = new int[packedLength];
        int[] typeIds = new int[packedLength];
        Arrays.fill(typeIds, source.typeId());
        List<Integer> cu = new ArrayList<>();
        int[] positions = new int[packedLength];
        cu.add(0);
        long start = (long) item * packedLength;
        int doc = upperBound(start) - 1;
        int filled = 0;
        while (filled < packedLength) {
            int[] d = source.document(order[doc]);
            int from = (int) (start + filled - cumulative[doc]);
            int take = Math.min(d.length - from, packedLength - filled);
            for (int j = 0; j < take; j++) {
                int o = from + j;
                tokens[filled + j] = Math.abs(d[o]);
                labels[filled + j] = o + 1 < d.length && d[o + 1] > 0 ? d[o + 1] : MicroBatch.IGNORE;
            }
            if (mode == Mode.PACKED) {
                // segments of at most seq_len, cut from the fragment's start
                for (int s = 0; s < take; s += seqLen) {
                    int len = Math.min(seqLen, take - s);
                    for (int j = 0; j < len; j++) {
                        positions[filled + s + j] = j;
                    }
                    cu.add(filled + s + len);
                }
            }
            filled += take;
            doc++;
        }
        int[] cuSeqlens;
        if (mode == Mode.PACK_SAMPLE_INTO_ONE) {
            cuSeqlens = new int[packedLength / seqLen + 1];
            for (int i = 0; i < cuSeqlens.length; i++) {
                cuSeqlens[i] = i * seqLen;
            }
            for (int i = 0; i < packedLength; i++) {
                positions[i] = i % seqLen;
            }
        } else {
            cuSeqlens = cu.stream().mapToInt(Integer::intValue).toArray();
        }
        return new MicroBatch(tokens, labels, cuSeqlens, positions, typeIds);
    }

    private MicroBatch unpacked(int item) {
        int rows = packedLength / seqLen;
        int[] tokens = new int[packedLength];
        int[] labels = new int[packedLength];
        Arrays.fill(labels, MicroBatch.IGNORE);
        int[] positions = new int[packedLength];
        int[] typeIds = new int[packedLength];
        Arrays.fill(typeIds, source.typeId());
        int[] cuSeqlens = new int[rows + 1];
        for (int r = 0; r < rows; r++) {
            int[] d = source.document(order[item * rows + r]);
            int n = Math.min(d.length, seqLen);
            for (int j = 0; j < seqLen; j++) {
                int p = r * seqLen + j;
                positions[p] = j;
                if (j < n) {
                    tokens[p] = Math.abs(d[j]);
                    labels[p] = j + 1 < n && d[j + 1] > 0 ? d[j + 1] : MicroBatch.IGNORE;
                }
            }
            cuSeqlens[r + 1] = (r + 1) * seqLen;
        }
        return new MicroBatch(tokens, labels, cuSeqlens, positions, typeIds);
    }

    /** Index of the first cumulative entry greater than {@code pos}. */
    private int upperBound(long pos) {
        int lo = 0;
        int hi = cumulative.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (cumulative[mid] <= pos) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
