package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@link MpiProcessGroup} in real MPI jobs: mpirun starts N JVMs running {@link MpiRankMain}. Each job
 * costs a few seconds (JVM start and MPI_Init per rank), so there are few, each covering much.
 */
class MpiProcessGroupTest {

    @Test
    void everyCollectiveOnTwoRanks() throws Exception {
        passes(2);
    }

    @Test
    void everyCollectiveOnFourRanks() throws Exception {
        passes(4);
    }

    private static void passes(int ranks) throws Exception {
        MpiJob.Result r = MpiJob.run(ranks, 240, "collectives");
        assertFalse(r.timedOut(), "the job did not finish:\n" + r.output());
        assertEquals(0, r.exit(), "the job failed:\n" + r.output());
        for (int rank = 0; rank < ranks; rank++) {
            assertTrue(r.output().contains("PASS rank " + rank + " "), "rank " + rank + " did not pass:\n" + r.output());
        }
    }

    @Test
    void aRankThatNeverArrivesIsNamedWithinTheTimeout() throws Exception {
        MpiJob.Result r = MpiJob.run(3, 120, "hang");
        String out = r.output();
        assertFalse(r.timedOut(), "the job hung instead of aborting:\n" + out);
        assertNotEquals(0, r.exit(), out);
        // Ranks 0 and 1 each report, naming the operation (the group's third collective), the group and rank 2.
        for (int rank = 0; rank < 2; rank++) {
            Pattern p = Pattern.compile("\\[internlmj mpi rank " + rank + "] allReduce #3 \\(F32 x 1000, SUM\\) on "
                    + "world\\[0-2] did not complete within 2 s on rank " + rank
                    + "\\. Ranks that did not arrive: 2\\. Rank 2 \\(world rank 2, pid \\d+ on [^)]+\\) has not called it: "
                    + "its last call on this group was allReduce #2, which completed\\. Arrived: 0, 1\\. "
                    + (rank == 0 ? "The group is unusable from now on\\." : "MPI cannot cancel a collective: aborting the job\\."));
            assertTrue(p.matcher(out).find(), "rank " + rank + " did not report as expected:\n" + out);
            assertTrue(out.contains("CAUGHT rank " + rank + " CollectiveTimeoutException"),
                    "the waiting thread of rank " + rank + " did not get the exception:\n" + out);
        }
        // Rank 0 does not abort: its group refuses further work instead.
        assertTrue(out.contains("REFUSED rank 0: barrier on world[0-2]: the group is unusable after an earlier failure"),
                out);
        // The job ends through rank 1's MPI_Abort (mpirun's own text about it is sometimes garbled).
        assertEquals(MpiRuntime.ABORT_CODE, r.exit(), out);
        // Measured from the last rank to arrive at the collective to the end of the job: 2 s timeout, the
        // side channel's answers, the grace period and the launcher's teardown.
        long arrived = lastTimestamp(out, "ARRIVED rank \\d at (\\d+)");
        double after = (r.endedMillis() - arrived) / 1000.0;
        assertTrue(after < 9, "the job ended " + after + " s after the collective began:\n" + out);
        long caught = lastTimestamp(out, "CAUGHT rank \\d CollectiveTimeoutException at (\\d+)");
        double failedAfter = (caught - arrived) / 1000.0;
        assertTrue(failedAfter >= 2 && failedAfter < 5, "the operation failed " + failedAfter
                + " s after it began, expected just over the 2 s timeout:\n" + out);
    }

    @Test
    void aKilledRankEndsTheJobWithAReport() throws Exception {
        MpiJob.Result r = MpiJob.run(3, 120, "kill");
        String out = r.output();
        assertFalse(r.timedOut(), "the job hung after a rank was killed:\n" + out);
        assertNotEquals(0, r.exit(), out);
        long killed = lastTimestamp(out, "KILLING rank 1 at (\\d+)");
        double after = (r.endedMillis() - killed) / 1000.0;
        assertTrue(after < 6, "the job ended " + after + " s after rank 1 was killed:\n" + out);
        assertTrue(Pattern.compile("rank 1 with PID \\d+ on node \\S+ exited on signal 9 \\(Killed\\)").matcher(out)
                .find(), "mpirun did not name the killed rank:\n" + out);
    }

    @Test
    void aSendThatNeverComesIsNamedWithinTheTimeout() throws Exception {
        MpiJob.Result r = MpiJob.run(2, 120, "hang-recv");
        String out = r.output();
        assertFalse(r.timedOut(), "the job hung instead of aborting:\n" + out);
        assertNotEquals(0, r.exit(), out);
        Pattern p = Pattern.compile("\\[internlmj mpi rank 0] recv from rank 1 \\(tag 7, #2 with that peer and tag\\) "
                + "\\(F32 x 10\\) on world\\[0,1] did not complete within 2 s\\. Rank 1 did not arrive: rank 1 "
                + "\\(world rank 1, pid \\d+ on [^)]+\\) has posted 1 send\\(s\\) to this rank with this tag; this recv "
                + "is #2\\.");
        assertTrue(p.matcher(out).find(), "rank 0 did not report as expected:\n" + out);
        assertTrue(out.contains("CAUGHT rank 0 CollectiveTimeoutException"), out);
        double failedAfter = (lastTimestamp(out, "CAUGHT rank 0 \\w+ at (\\d+)")
                - lastTimestamp(out, "ARRIVED rank 0 at (\\d+)")) / 1000.0;
        assertTrue(failedAfter >= 2 && failedAfter < 5, "failed " + failedAfter + " s after the recv began:\n" + out);
    }

    @Test
    void aKilledRankIsNamedWhenTheLauncherKeepsTheJobAlive() throws Exception {
        // --enable-recovery: mpirun lets the others run on, as some launchers do; the watchdog must notice.
        MpiJob.Result r = MpiJob.run(3, 120, java.util.List.of("--enable-recovery"), "kill");
        String out = r.output();
        // No exit status check: in this mode mpirun reports success whatever its ranks exit with.
        assertFalse(r.timedOut(), "the job hung after a rank was killed:\n" + out);
        Pattern p = Pattern.compile("\\[internlmj mpi rank [02]] allReduce #\\d+ \\(F32 x 1048576, SUM\\) on world\\[0-2] "
                + "did not complete within 2 s on rank [02]\\. Ranks that did not arrive: 1\\. Rank 1 \\(world rank 1, "
                + "pid \\d+ on [^)]+\\) did not answer the watchdog within 500 ms: its process is dead, stopped, or not "
                + "being scheduled\\.");
        assertTrue(p.matcher(out).find(), "no survivor named the killed rank:\n" + out);
        double after = (r.endedMillis() - lastTimestamp(out, "KILLING rank 1 at (\\d+)")) / 1000.0;
        assertTrue(after < 9, "the job ended " + after + " s after rank 1 was killed:\n" + out);
    }

    @Test
    void outsideMpirunTheWorldGroupExplainsHowToStart() {
        assumeFalse(MpiProcessGroup.launchedByMpi(), "this JVM was itself started by an MPI launcher");
        IllegalStateException e = assertThrows(IllegalStateException.class, MpiProcessGroup::world);
        assertTrue(e.getMessage().contains("mpirun -np N"), e.getMessage());
        assertTrue(e.getMessage().contains("OMPI_COMM_WORLD_RANK"), e.getMessage());
    }

    @Test
    void optionsRejectNonPositiveTimeouts() {
        assertThrows(IllegalArgumentException.class,
                () -> MpiProcessGroup.Options.defaults().withTimeout(java.time.Duration.ZERO));
        assertEquals(300, MpiProcessGroup.Options.defaults().timeout().toSeconds());
    }

    @Test
    void rankListsAreShortened() {
        assertEquals("0-3", MpiProcessGroup.formatRanks(new int[] {0, 1, 2, 3}));
        assertEquals("0,2,4,6", MpiProcessGroup.formatRanks(new int[] {0, 2, 4, 6}));
        assertEquals("0,1,4-7,9", MpiProcessGroup.formatRanks(new int[] {0, 1, 4, 5, 6, 7, 9}));
        assertEquals("3,1", MpiProcessGroup.formatRanks(new int[] {3, 1}));
        assertEquals("5", MpiProcessGroup.formatRanks(new int[] {5}));
    }

    private static long lastTimestamp(String out, String regex) {
        Matcher m = Pattern.compile(regex).matcher(out);
        long last = -1;
        while (m.find()) {
            last = Math.max(last, Long.parseLong(m.group(1)));
        }
        assertTrue(last > 0, "no line matching " + regex + " in:\n" + out);
        return last;
    }
}
