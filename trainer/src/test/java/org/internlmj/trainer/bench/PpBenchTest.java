package org.internlmj.trainer.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.internlmj.dist.ThreadWorld;
import org.internlmj.trainer.train.TinyRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pipeline benchmark's worker on two thread ranks: its report and the numbers that must hold on any machine. */
class PpBenchTest {
    @TempDir
    Path dir;

    @Test
    void reportsTheMeasuredBubbleNextToTheTheoretical() throws Exception {
        TinyRun.prepareData(dir);
        Path config = dir.resolve("pp.yaml");
        Files.writeString(config, TinyRun.CONFIG.replace("num_layers: 2", "num_layers: 4"));
        List<String> sets = List.of("parallel.pipeline.size=2", "model.num_chunks=2", "data.micro_num=4");
        List<ObjectNode> out;
        try (ThreadWorld world = new ThreadWorld(2, Duration.ofSeconds(60))) {
            out = world.run(g -> PpBench.measure(g, config, sets, 1, 2, dir));
        }
        assertNull(out.get(1));
        ObjectNode o = out.get(0);
        assertEquals("pp", o.get("benchmark").asText());
        assertEquals(2, o.get("pipeline").asInt());
        assertEquals(2, o.get("chunks").asInt());
        assertEquals(4, o.get("micro_num").asInt());
        assertEquals(0.125, o.get("bubble_theoretical").asDouble(), 1e-9);
        // stage 1 waits at least for stage 0's first forward before it can start
        assertTrue(o.get("bubble_measured_per_stage").get(1).asDouble() > 0, o.toString());
        assertTrue(o.get("bubble_idealised").asDouble() > 0 && o.get("bubble_idealised").asDouble() < 1, o.toString());
        assertTrue(o.get("forward_ms_per_microstep").asDouble() > 0 && o.get("backward_ms_per_microstep").asDouble() > 0);
        assertTrue(o.get("pipeline_wait_share").asDouble() > 0 && o.get("pipeline_wait_share").asDouble() < 1, o.toString());
    }
}
