package org.internlmj.dist;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The text of a timeout: which operation, on which group, and for every other rank whether it arrived,
 * from the answers the watchdog collected over the side channel ({@link MpiProgress}). Pure functions
 * of those answers, so that each case can be tested without an MPI job.
 */
final class MpiTimeoutReport {
    private MpiTimeoutReport() {
    }

    /** What one rank said, or {@code reply == null} if it said nothing in time. */
    record Answer(int groupRank, int worldRank, String host, long pid, long[] reply) {
        String who() {
            String where = pid > 0 ? ", pid " + pid + " on " + host : "";
            return groupRank == worldRank && where.isEmpty() ? "rank " + groupRank
                    : "rank " + groupRank + " (world rank " + worldRank + where + ")";
        }
    }

    /** Reply words to a collective query (see {@link MpiProcessGroup#answer}). */
    static final int KNOWN = 0;
    static final int SUBMITTED = 1;
    static final int COMPLETED = 2;
    static final int KIND_OF_SEQ = 3;
    static final int KIND_OF_LAST = 4;

    /**
     * @param op          "allReduce #12 (F32 x 1000, SUM) on world[0-3]"
     * @param kind        the operation's kind, to compare with what the others called as the same call
     * @param seq         its number among the group's collective calls
     * @param self        this rank in the group
     * @param waitedFor   the timeout that expired
     * @param answers     every other rank of the group
     * @param askedFor    how long the watchdog waited for answers
     */
    static String collective(String op, MpiOp.Kind kind, long seq, int self, Duration waitedFor, List<Answer> answers,
                             Duration askedFor) {
        List<String> missing = new ArrayList<>();
        List<String> mismatched = new ArrayList<>();
        List<Integer> arrived = new ArrayList<>();
        List<String> details = new ArrayList<>();
        arrived.add(self);
        for (Answer a : answers) {
            String r = Integer.toString(a.groupRank());
            long[] w = a.reply();
            if (w == null) {
                missing.add(r);
                details.add(a.who() + " did not answer the watchdog within " + text(askedFor)
                        + ": its process is dead, stopped, or not being scheduled");
            } else if (w[KNOWN] == 0) {
                missing.add(r);
                details.add(a.who() + " does not know this group (it has not created it yet, or has closed it)");
            } else if (w[SUBMITTED] < seq) {
                missing.add(r);
                String last = w[SUBMITTED] == 0 ? "it has made no call on this group yet"
                        : "its last call on this group was " + label(w[KIND_OF_LAST]) + " #" + w[SUBMITTED]
                        + (w[COMPLETED] >= w[SUBMITTED] ? ", which completed" : ", which is still running");
                details.add(a.who() + " has not called it: " + last);
            } else if (w[KIND_OF_SEQ] >= 0 && w[KIND_OF_SEQ] != kind.ordinal()) {
                mismatched.add(r);
                details.add(a.who() + " made " + label(w[KIND_OF_SEQ]) + " its call #" + seq
                        + ": the ranks call collectives on this group in different orders");
            } else {
                arrived.add(a.groupRank());
            }
        }
        StringBuilder sb = new StringBuilder();
        sb.append(op).append(" did not complete within ").append(text(waitedFor)).append(" on rank ").append(self)
                .append(". ");
        if (!missing.isEmpty()) {
            sb.append("Ranks that did not arrive: ").append(String.join(", ", missing)).append(". ");
        }
        if (!mismatched.isEmpty()) {
            sb.append("Ranks that called a different operation: ").append(String.join(", ", mismatched)).append(". ");
        }
        if (missing.isEmpty() && mismatched.isEmpty()) {
            sb.append("Every rank has called it, so MPI itself did not complete it: the ranks passed different "
                    + "element counts or dtypes, or the network stalled. ");
        }
        for (String d : details) {
            sb.append(Character.toUpperCase(d.charAt(0))).append(d, 1, d.length()).append(". ");
        }
        arrived.sort(null);
        sb.append("Arrived: ").append(String.join(", ", arrived.stream().map(String::valueOf).toList())).append('.');
        return sb.toString();
    }

    /** Reply words to a point-to-point query: [KNOWN, matching operations the peer has posted]. */
    static final int POSTED = 1;

    /**
     * @param op    "send to rank 3 (tag 7, #2 with that peer and tag) (F32 x 10) on pipe[0-3]"
     * @param kind  SEND or RECV
     * @param nth   which send to (receive from) that peer with that tag this is
     * @param peer  the peer's answer
     */
    static String pointToPoint(String op, MpiOp.Kind kind, long nth, Duration waitedFor, Answer peer,
                               Duration askedFor) {
        StringBuilder sb = new StringBuilder(op).append(" did not complete within ").append(text(waitedFor)).append(". ");
        long[] w = peer.reply();
        String matching = kind == MpiOp.Kind.SEND ? "receive(s) from this rank" : "send(s) to this rank";
        if (w == null) {
            sb.append("Rank ").append(peer.groupRank()).append(" did not arrive: ").append(peer.who())
                    .append(" did not answer the watchdog within ").append(text(askedFor))
                    .append(": its process is dead, stopped, or not being scheduled.");
        } else if (w[KNOWN] == 0) {
            sb.append("Rank ").append(peer.groupRank()).append(" did not arrive: ").append(peer.who())
                    .append(" does not know this group (it has not created it yet, or has closed it).");
        } else if (w[POSTED] < nth) {
            sb.append("Rank ").append(peer.groupRank()).append(" did not arrive: ").append(peer.who()).append(" has posted ")
                    .append(w[POSTED]).append(' ').append(matching).append(" with this tag; this ").append(kind.label)
                    .append(" is #").append(nth).append('.');
        } else {
            sb.append(peer.who()).append(" has posted the matching ").append(kind == MpiOp.Kind.SEND ? "receive" : "send")
                    .append(", so MPI itself did not complete the transfer: the sizes or dtypes differ, or the "
                            + "network stalled.");
        }
        return sb.toString();
    }

    private static String label(long kindOrdinal) {
        MpiOp.Kind[] kinds = MpiOp.Kind.values();
        return kindOrdinal >= 0 && kindOrdinal < kinds.length ? kinds[(int) kindOrdinal].label : "an operation";
    }

    /** "2 s", "1.5 s", "300 ms". */
    static String text(Duration d) {
        long ms = d.toMillis();
        if (ms < 1000) {
            return ms + " ms";
        }
        if (ms % 1000 == 0) {
            return ms / 1000 + " s";
        }
        return String.format(java.util.Locale.ROOT, "%.1f s", ms / 1000.0);
    }
}
