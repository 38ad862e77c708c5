package org.internlmj.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.internlmj.dist.MpiTimeoutReport.Answer;
import org.junit.jupiter.api.Test;

/** Every case the watchdog can report, from made-up side-channel answers (no MPI job needed). */
class MpiTimeoutReportTest {
    private static final String OP = "allReduce #5 (F32 x 8, SUM) on data[0,2,4,6]";
    private static final Duration T = Duration.ofSeconds(2);
    private static final Duration ASK = Duration.ofMillis(500);

    private static long[] reply(long submitted, long completed, MpiOp.Kind kindOfSeq, MpiOp.Kind last) {
        return new long[] {1, submitted, completed, kindOfSeq == null ? -1 : kindOfSeq.ordinal(),
                last == null ? -1 : last.ordinal(), 0};
    }

    private static Answer rank(int groupRank, long[] reply) {
        return new Answer(groupRank, groupRank * 2, "node" + groupRank, 1000 + groupRank, reply);
    }

    private static String report(Answer... answers) {
        return MpiTimeoutReport.collective(OP, MpiOp.Kind.ALL_REDUCE, 5, 0, T, List.of(answers), ASK);
    }

    @Test
    void namesTheRanksThatDidNotArriveAndWhatTheyDidLast() {
        String r = report(rank(1, reply(5, 4, MpiOp.Kind.ALL_REDUCE, MpiOp.Kind.ALL_REDUCE)),
                rank(2, reply(4, 4, null, MpiOp.Kind.BARRIER)),
                rank(3, reply(4, 3, null, MpiOp.Kind.ALL_GATHER)));
        assertEquals(OP + " did not complete within 2 s on rank 0. Ranks that did not arrive: 2, 3. "
                + "Rank 2 (world rank 4, pid 1002 on node2) has not called it: its last call on this group was barrier #4, "
                + "which completed. Rank 3 (world rank 6, pid 1003 on node3) has not called it: its last call on this "
                + "group was allGather #4, which is still running. Arrived: 0, 1.", r);
    }

    @Test
    void aSilentRankIsReportedAsNotAnswering() {
        String r = report(rank(1, null), rank(2, reply(5, 4, MpiOp.Kind.ALL_REDUCE, MpiOp.Kind.ALL_REDUCE)));
        assertTrue(r.contains("Ranks that did not arrive: 1. Rank 1 (world rank 2, pid 1001 on node1) did not answer "
                + "the watchdog within 500 ms: its process is dead, stopped, or not being scheduled."), r);
        assertTrue(r.endsWith("Arrived: 0, 2."), r);
    }

    @Test
    void aRankThatNeverCreatedTheGroupOrMadeNoCall() {
        String r = report(rank(1, new long[6]), rank(2, reply(0, 0, null, null)));
        assertTrue(r.contains("Ranks that did not arrive: 1, 2."), r);
        assertTrue(r.contains("does not know this group"), r);
        assertTrue(r.contains("it has made no call on this group yet"), r);
    }

    @Test
    void callsInDifferentOrdersAreSpotted() {
        String r = report(rank(1, reply(5, 4, MpiOp.Kind.BROADCAST, MpiOp.Kind.BROADCAST)));
        assertTrue(r.contains("Ranks that called a different operation: 1. Rank 1 (world rank 2, pid 1001 on node1) "
                + "made broadcast its call #5: the ranks call collectives on this group in different orders."), r);
        assertTrue(r.endsWith("Arrived: 0."), r);
    }

    @Test
    void whenEveryoneArrivedMpiItselfIsBlamed() {
        String r = report(rank(1, reply(6, 5, MpiOp.Kind.ALL_REDUCE, MpiOp.Kind.BARRIER)),
                rank(2, reply(5, 4, MpiOp.Kind.ALL_REDUCE, MpiOp.Kind.ALL_REDUCE)));
        assertTrue(r.contains("Every rank has called it, so MPI itself did not complete it"), r);
        assertTrue(r.endsWith("Arrived: 0, 1, 2."), r);
    }

    @Test
    void pointToPointNamesThePeerAndCounts() {
        String op = "send to rank 3 (tag 7, #2 with that peer and tag) (BF16 x 4) on pipe[0-3]";
        Answer behind = new Answer(3, 3, "n", 42, new long[] {1, 1, 0, 0, 0, 0});
        assertEquals(op + " did not complete within 2 s. Rank 3 did not arrive: rank 3 (world rank 3, pid 42 on n) has "
                + "posted 1 receive(s) from this rank with this tag; this send is #2.",
                MpiTimeoutReport.pointToPoint(op, MpiOp.Kind.SEND, 2, T, behind, ASK));
        Answer posted = new Answer(3, 3, "n", 42, new long[] {1, 2, 0, 0, 0, 0});
        assertTrue(MpiTimeoutReport.pointToPoint(op, MpiOp.Kind.SEND, 2, T, posted, ASK)
                .contains("has posted the matching receive, so MPI itself did not complete the transfer"));
        Answer silent = new Answer(3, 3, "n", 42, null);
        assertTrue(MpiTimeoutReport.pointToPoint(op, MpiOp.Kind.SEND, 2, T, silent, ASK)
                .contains("Rank 3 did not arrive: rank 3 (world rank 3, pid 42 on n) did not answer the watchdog"));
    }

    @Test
    void durationsReadNaturally() {
        assertEquals("2 s", MpiTimeoutReport.text(Duration.ofSeconds(2)));
        assertEquals("1.5 s", MpiTimeoutReport.text(Duration.ofMillis(1500)));
        assertEquals("300 ms", MpiTimeoutReport.text(Duration.ofMillis(300)));
        assertEquals(Duration.ofMillis(500), MpiWatchdog.askTime(Duration.ofSeconds(2)));
        assertEquals(Duration.ofMillis(1000), MpiWatchdog.askTime(Duration.ofSeconds(300)));
        assertEquals(Duration.ofMillis(200), MpiWatchdog.askTime(Duration.ofMillis(100)));
    }
}
