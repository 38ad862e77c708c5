package org.internlmj.trainer.config;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * The {@code parallel} section. Accepts both InternLM spellings: {@code zero1: 8} or
 * {@code zero1: {size: 8, fsdp: false}}, {@code tensor: 4} or {@code tensor: {size: 4, mode: mtp}},
 * {@code pipeline: 2} or {@code pipeline: {size: 2, interleaved_overlap: true}}.
 *
 * @param zero1 {@code <= 0}: shard over the whole data-parallel group; 1: no sharding; k: groups of k
 */
public record ParallelConfig(int zero1, int tensor, int pipeline, boolean interleavedOverlap,
                             boolean sequenceParallel) {

    static ParallelConfig from(Section s) {
        int zero1 = sizeOf(s, "zero1", -1, "fsdp");
        int tensor = sizeOf(s, "tensor", 1, "mode");
        JsonNode p = s.raw("pipeline");
        int pipeline = 1;
        boolean overlap = true;
        if (p.isObject()) {
            Section ps = s.section("pipeline");
            pipeline = ps.getInt("size", 1);
            overlap = ps.getBool("interleaved_overlap", true);
            ps.accept("mode");
            String mode = ps.getString("mode", "1F1B");
            if (!mode.equalsIgnoreCase("1F1B")) {
                throw new ConfigException("parallel.pipeline.mode = \"" + mode
                        + "\": only the 1F1B (and, with num_chunks > 1, interleaved 1F1B) schedules are implemented");
            }
            ps.finish();
        } else if (!p.isNull()) {
            pipeline = s.getInt("pipeline", 1);
        }
        s.range("tensor", tensor, 1, 4096);
        s.range("pipeline", pipeline, 1, 4096);
        boolean sp = s.getBool("sequence_parallel", false);
        if (sp && tensor == 1) {
            // InternLM allows it (a no-op); it splits nothing with one tensor rank
            sp = false;
        }
        ParallelConfig c = new ParallelConfig(zero1, tensor, pipeline, overlap, sp);
        s.finish();
        return c;
    }

    private static int sizeOf(Section s, String key, int dflt, String extraKey) {
        JsonNode v = s.raw(key);
        if (v.isObject()) {
            Section sub = s.section(key);
            int size = sub.getInt("size", dflt);
            if (extraKey.equals("fsdp")) {
                if (sub.getBool("fsdp", false)) {
                    throw new ConfigException("parallel.zero1.fsdp = True: torch FSDP is not part of this engine; "
                            + "use zero1 sharding (parallel.zero1.size)");
                }
            } else {
                String mode = sub.getString("mode", "mtp").toLowerCase(java.util.Locale.ROOT);
                if (!mode.equals("mtp") && !mode.equals("origin_tp")) {
                    throw new ConfigException("parallel.tensor.mode = \"" + mode
                            + "\": only Megatron-style tensor parallelism (\"mtp\" / \"origin_tp\") is implemented");
                }
            }
            sub.finish();
            return size;
        }
        return s.getInt(key, dflt);
    }

    /** Data-parallel size for a world size, with the InternLM consistency checks. */
    public int dataParallel(int worldSize) {
        int mp = tensor * pipeline;
        if (worldSize % mp != 0) {
            throw new ConfigException("world size " + worldSize + " is not divisible by parallel.tensor (" + tensor
                    + ") x parallel.pipeline.size (" + pipeline + ")");
        }
        int dp = worldSize / mp;
        if (zero1 > dp) {
            throw new ConfigException("parallel.zero1 = " + zero1 + " is larger than the data-parallel size " + dp
                    + " (world " + worldSize + " / tensor " + tensor + " / pipeline " + pipeline + ")");
        }
        if (zero1 > 1 && dp % zero1 != 0) {
            throw new ConfigException("parallel.zero1 = " + zero1 + " does not divide the data-parallel size " + dp);
        }
        return dp;
    }

    /** Size of the ZeRO sharding group for a data-parallel size. */
    public int zeroSize(int dataParallel) {
        return zero1 <= 0 ? dataParallel : Math.min(zero1, dataParallel);
    }
}
