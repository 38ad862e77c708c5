package org.internlmj.trainer.config;

import java.util.ArrayList;
import java.util.List;

/**
 * The {@code data} section: sequence packing, micro-batching and datasets.
 *
 * @param skipBatches batch-count ranges to skip (InternLM's {@code "100-200,350"}), inclusive
 * @param rampupBatchSize InternLM's {@code "start increment every"} in units of micro-batches, or null
 */
public record DataConfig(int seqLen, int microNum, int microBsz, int validMicroNum, int validEvery,
                         boolean packSampleIntoOne, int totalSteps, List<long[]> skipBatches, int[] rampupBatchSize,
                         int minLength, String trainFolder, String validFolder, int emptyCacheAndDiagInterval,
                         double diagOutlierRatio) {

    /** Tokens per packed micro-batch: {@code micro_bsz * seq_len}. */
    public int packedLength() {
        return microBsz * seqLen;
    }

    /** True if batch number {@code batchCount} falls in one of the skip ranges. */
    public boolean skips(long batchCount) {
        for (long[] r : skipBatches) {
            if (batchCount >= r[0] && batchCount <= r[1]) {
                return true;
            }
        }
        return false;
    }

    static DataConfig from(Section s) {
        int seqLen = s.getInt("seq_len", 2048);
        s.range("seq_len", seqLen, 1, Integer.MAX_VALUE);
        int microNum = s.getInt("micro_num", 1);
        s.range("micro_num", microNum, 1, Integer.MAX_VALUE);
        int microBsz = s.getInt("micro_bsz", 1);
        s.range("micro_bsz", microBsz, 1, Integer.MAX_VALUE);
        if ((long) microBsz * seqLen > Integer.MAX_VALUE / 16) {
            throw new ConfigException("data.micro_bsz * data.seq_len = " + (long) microBsz * seqLen + " tokens per micro-batch is too large");
        }
        int validMicroNum = s.getInt("valid_micro_num", microNum);
        s.range("valid_micro_num", validMicroNum, 1, Integer.MAX_VALUE);
        int validEvery = s.getInt("valid_every", 0);
        s.range("valid_every", validEvery, 0, Integer.MAX_VALUE);
        int totalSteps = s.getInt("total_steps", 50000);
        s.range("total_steps", totalSteps, 1, Integer.MAX_VALUE);
        int minLength = s.getInt("min_length", 0);
        s.range("min_length", minLength, 0, Integer.MAX_VALUE);
        int diag = s.getInt("empty_cache_and_diag_interval", 10);
        double outlier = s.getDouble("diag_outlier_ratio", 1.1);
        DataConfig d = new DataConfig(seqLen, microNum, microBsz, validMicroNum, validEvery,
                s.getBool("pack_sample_into_one", false), totalSteps, parseSkips(s.getString("skip_batches", "")),
                parseRampup(s.getString("rampup_batch_size", ""), microNum), minLength,
                s.getString("train_folder", null), s.getString("valid_folder", null), diag, outlier);
        s.finish();
        return d;
    }

    /** "100-200,350" -> [[100,200],[350,350]]. */
    static List<long[]> parseSkips(String text) {
        List<long[]> out = new ArrayList<>();
        if (text == null || text.isBlank()) {
            return out;
        }
        for (String part : text.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            try {
                int dash = p.indexOf('-');
                long lo = Long.parseLong((dash < 0 ? p : p.substring(0, dash)).trim());
                long hi = dash < 0 ? lo : Long.parseLong(p.substring(dash + 1).trim());
                if (lo < 0 || hi < lo) {
                    throw new NumberFormatException();
                }
                out.add(new long[] {lo, hi});
            } catch (NumberFormatException e) {
                throw new ConfigException("data.skip_batches = \"" + text + "\": '" + p
                        + "' is not a batch number or a range like 100-200");
            }
        }
        return out;
    }

    /** "192 24 8" -> {192, 24, 8}; empty -> null. */
    static int[] parseRampup(String text, int microNum) {
        if (text == null || text.isBlank()) {
            return null;
        }
        String[] parts = text.trim().split("\\s+");
        if (parts.length != 3) {
            throw new ConfigException("data.rampup_batch_size = \"" + text
                    + "\": expected three integers \"start increment every\", e.g. \"192 24 8\"");
        }
        int[] r = new int[3];
        for (int i = 0; i < 3; i++) {
            try {
                r[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new ConfigException("data.rampup_batch_size = \"" + text + "\": '" + parts[i] + "' is not an integer");
            }
        }
        if (r[0] < 1 || r[1] < 0 || r[2] < 1) {
            throw new ConfigException("data.rampup_batch_size = \"" + text
                    + "\": start and every must be >= 1 and increment >= 0");
        }
        return r;
    }
}
