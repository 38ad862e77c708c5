package org.internlmj.trainer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code internlmj launch} end to end: real worker JVMs running the hidden dist-selftest command. */
class LaunchCommandTest {

    @Test
    void twoWorkersJoinOneGroupAndRankZeroIsShown() {
        MainTest.Result r = MainTest.run("launch", "--nproc", "2", "--", "dist-selftest");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("rank 0/2: joined world[0,1]"), r.out());
        assertTrue(r.out().contains("rank 0/2: allReduce, reduceScatter, allGather, broadcast, send/recv, barrier ok"), r.out());
        assertFalse(r.out().contains("rank 1/2"), r.out());
    }

    @Test
    void logAllPrefixesEveryRanksLines() {
        MainTest.Result r = MainTest.run("launch", "--nproc", "2", "--log-all", "dist-selftest");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("[rank 0] rank 0/2: joined"), r.out());
        assertTrue(r.out().contains("[rank 1] rank 1/2: allReduce, reduceScatter"), r.out());
    }

    @Test
    void aFailingWorkerStopsTheOthersAndIsReported() {
        long start = System.nanoTime();
        // rank 1 exits with 7 at once; rank 0 would wait for it in the all-reduce (10 min timeout)
        MainTest.Result r = MainTest.run("launch", "--nproc", "2", "--grace", "2", "--", "dist-selftest", "--fail-rank", "1",
                "--exit-code", "7");
        double seconds = (System.nanoTime() - start) / 1e9;
        assertEquals(7, r.code(), r.out() + r.err());
        assertTrue(r.err().contains("launch: rank 1 exited with code 7"), r.err());
        // rank 1's output is not shown, but its last stderr lines are part of the report
        assertTrue(r.err().contains("  | rank 1/2: failing on purpose with exit code 7"), r.err());
        assertTrue(r.err().contains("launch: rank 0 was stopped after rank 1 failed"), r.err());
        assertTrue(r.err().contains("launch: 1 of 2 ranks failed"), r.err());
        assertTrue(seconds < 60, "took " + seconds + " s");
    }

    @Test
    void badArgumentsAreErrors() {
        MainTest.Result zero = MainTest.run("launch", "--nproc", "0", "--", "info");
        assertNotEquals(0, zero.code());
        assertTrue(zero.err().contains("--nproc must be at least 1"), zero.err());
        MainTest.Result none = MainTest.run("launch", "--nproc", "2");
        assertNotEquals(0, none.code());
        assertTrue(none.err().contains("SUBCOMMAND"), none.err());
    }

    @Test
    void workersRunThisJvmWithItsOptions() {
        List<String> cmd = WorkerCommand.forThisJvm(List.of("train", "x.yaml"));
        assertTrue(cmd.getFirst().endsWith("java"), cmd.toString());
        assertTrue(cmd.stream().anyMatch(a -> a.startsWith("--add-modules")), cmd.toString());
        assertEquals(List.of("train", "x.yaml"), cmd.subList(cmd.size() - 2, cmd.size()));
        assertTrue(cmd.contains(Main.class.getName()) || cmd.contains("-jar"), cmd.toString());
        assertTrue(WorkerCommand.isDebugAgent("-agentlib:jdwp=transport=dt_socket,server=y,address=5005"));
        assertFalse(WorkerCommand.isDebugAgent("-Xmx2g"));
    }
}
