package org.internlmj.trainer.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.internlmj.trainer.train.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bench train} on a tiny config: the reported fields, the loss curve and its comparison. */
class TrainBenchTest {
    @TempDir
    Path dir;

    private ObjectNode bench(Path config, Path scratch) throws Exception {
        Files.createDirectories(scratch);
        return TrainBench.run(config, List.of("data.train_folder=" + dir.resolve("data/train"),
                "data.valid_folder=" + dir.resolve("data/valid")), 2, 3, scratch);
    }

    @Test
    void reportsThroughputPhasesAndALossCurveThatCanBeComparedWithAnEarlierRun() throws Exception {
        TinyRun.prepareData(dir);
        Path config = Files.writeString(dir.resolve("tiny.yaml"), TinyRun.CONFIG);
        ObjectNode first = bench(config, dir.resolve("s1"));
        assertEquals(3, first.get("steps").asInt());
        assertTrue(first.get("tokens_per_s").asDouble() > 0);
        assertTrue(first.get("model_gflops_per_s").asDouble() > 0);
        for (String phase : List.of("data", "forward", "backward", "optimizer")) {
            assertTrue(first.get("phase_ms_per_step").has(phase), phase);
        }
        for (String family : List.of("gemm", "attention", "norms", "elementwise", "other", "outside_kernels")) {
            assertTrue(first.get("op_family_ms_per_step").has(family), family);
        }
        var perOp = first.get("op_ms_per_step");
        for (String op : List.of("matmul", "attention", "attention_backward", "rms_norm", "adamw")) {
            assertTrue(perOp.has(op), op + " in " + perOp);
        }
        double opSum = 0;
        for (var v : perOp) {
            opSum += v.asDouble();
        }
        double familySum = 0;
        for (String family : List.of("gemm", "attention", "norms", "elementwise", "other")) {
            familySum += first.get("op_family_ms_per_step").get(family).asDouble();
        }
        assertEquals(familySum, opSum, 0.01 + 1e-3 * familySum, "the operations add up to their families");
        var gauge = first.get("machine_gauge");
        if (org.internlmj.ffm.NativeLibrary.find(org.internlmj.ffm.KnownLibraries.OPENBLAS).found()) {
            assertTrue(gauge.get("openblas_gflops_before").asDouble() > 0 && gauge.get("openblas_gflops_after").asDouble() > 0,
                    gauge.toString());
            assertTrue(gauge.get("model_gflops_per_openblas_gflops").asDouble() > 0, gauge.toString());
        } else {
            assertTrue(gauge.asText().contains("not installed"), gauge.toString());
        }
        assertEquals(5, first.get("losses").size(), "warm-up and timed steps");
        for (var l : first.get("losses")) {
            assertTrue(Double.isFinite(l.asDouble()) && l.asDouble() > 0 && l.asDouble() < 10, l.toString());
        }

        Path reference = Files.writeString(dir.resolve("ref.json"), first.toString());
        ObjectNode second = bench(config, dir.resolve("s2"));
        assertTrue(TrainBench.compareLosses(second, reference, 0.0), "the same config and seed repeat exactly");
        assertEquals(5, second.get("loss_steps_compared").asInt());

        ObjectNode shifted = first.deepCopy();
        var losses = shifted.putArray("losses");
        for (var l : first.get("losses")) {
            losses.add(l.asDouble() + 0.01);
        }
        Path other = Files.writeString(dir.resolve("other.json"), shifted.toString());
        ObjectNode third = bench(config, dir.resolve("s3"));
        assertFalse(TrainBench.compareLosses(third, other, 2e-3));
        assertEquals(0.01, third.get("loss_max_abs_diff").asDouble(), 1e-9);
    }
}
