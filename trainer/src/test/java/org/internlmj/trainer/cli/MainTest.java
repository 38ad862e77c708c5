package org.internlmj.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class MainTest {

    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void helpListsCommands() {
        Result r = run("--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("info"), r.out());
    }

    @Test
    void versionPrintsTheBuildVersion() {
        Result r = run("--version");
        assertEquals(0, r.code());
        assertTrue(r.out().startsWith("internlmj 0."), r.out());
    }

    @Test
    void infoReportsRuntimeBackendAndLibraries() {
        Result r = run("info");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("java: 25"), r.out());
        assertTrue(r.out().contains("cpu backend: cpu (Vector API"), r.out());
        assertTrue(r.out().contains("threads"), r.out());
        assertTrue(r.out().contains("CUDA driver: "), r.out());
        assertTrue(r.out().contains("OpenBLAS: "), r.out());
        // a library that is missing says where it was looked for
        for (String line : r.out().split("\n")) {
            if (line.contains(": not found")) {
                assertTrue(line.contains("looked in"), line);
            }
        }
    }

    @Test
    void unknownCommandFails() {
        Result r = run("frobnicate");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("frobnicate"), r.err());
    }

    @Test
    void infoDescribesAConfig() {
        Result r = run("info", "--config", "../configs/7b.yaml");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("MLP hidden 11008"), r.out());
        assertTrue(r.out().contains("parameters: 7,321,948,160 (7.32B)"), r.out());
        Result b = run("info", "--config", "../configs/30b.yaml");
        assertTrue(b.out().contains("MLP hidden 16384") && b.out().contains("28,449,036,288"), b.out());
    }
}
