package org.internlmj.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.internlmj.ffm.KnownLibraries;
import org.internlmj.ffm.NativeLibrary;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** {@code internlmj bench gemm} end to end on tiny shapes: one JSON object per line with the promised keys. */
class BenchCommandTest {

    private static MainTest.Result run(String... args) {
        return MainTest.run(args);
    }

    @Test
    void gemmPrintsOneJsonObjectPerShape() throws Exception {
        NativeLibrary.Lookup l = NativeLibrary.find(KnownLibraries.OPENBLAS);
        Assumptions.assumeTrue(l.found(), () -> "OpenBLAS is not installed, bench gemm has no baseline: " + l.describe());
        MainTest.Result r = run("bench", "gemm", "--threads", "1", "--reps", "1", "--warmup-ms", "40", "--shapes", "40x24x16:NT,17");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().filter(s -> !s.isBlank()).toList();
        assertEquals(2, lines.size(), r.out());
        ObjectMapper json = new ObjectMapper();
        JsonNode first = json.readTree(lines.get(0));
        for (String key : List.of("kernel", "shape", "threads", "gflops", "baseline", "baseline_gflops", "ratio", "stat")) {
            assertTrue(first.has(key), key + " missing in " + lines.get(0));
        }
        assertEquals("sgemm", first.get("kernel").asText());
        assertEquals("40x24x16 NT", first.get("shape").asText());
        assertEquals(1, first.get("threads").asInt());
        assertEquals("openblas", first.get("baseline").asText());
        assertTrue(first.get("gflops").asDouble() > 0 && first.get("baseline_gflops").asDouble() > 0, lines.get(0));
        double ratio = first.get("gflops").asDouble() / first.get("baseline_gflops").asDouble();
        assertEquals(ratio, first.get("ratio").asDouble(), 0.01 * ratio + 0.002, lines.get(0));
        // both sides computed the same product
        assertTrue(first.get("rel_error_vs_baseline").asDouble() < 1e-5, lines.get(0));
        assertEquals("17x17x17 NN", json.readTree(lines.get(1)).get("shape").asText());
    }

    @Test
    void badShapesAndOptionsAreErrors() {
        MainTest.Result r = run("bench", "gemm", "--shapes", "12x3");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("12x3"), r.err());
        r = run("bench", "gemm", "--shapes", "8x8x8:XN");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("NN, NT, TN or TT"), r.err());
        r = run("bench", "gemm", "--shapes", "8", "--dtype", "int8");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("--dtype"), r.err());
    }

    @Test
    void benchIsListedInHelp() {
        MainTest.Result r = run("bench", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("gemm"), r.out());
    }
}
