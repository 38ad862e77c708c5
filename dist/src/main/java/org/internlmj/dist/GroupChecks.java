package org.internlmj.dist;

import java.util.Arrays;
import org.internlmj.tensor.Tensor;
import org.internlmj.tensor.cpu.CpuStorage;

/**
 * Argument checks every process group makes before it communicates, so that the thread, TCP and native
 * groups reject a wrong call with the same message, on the calling thread, before any rank waits.
 */
final class GroupChecks {
    private GroupChecks() {
    }

    /** The heap storage of a contiguous, open CPU tensor. */
    static CpuStorage storage(String what, Tensor t) {
        if (!(t.storage() instanceof CpuStorage s)) {
            throw new IllegalArgumentException(what + ": this process group exchanges CPU tensors, got one on "
                    + t.device() + " (GPU tensors go through the NCCL group)");
        }
        if (!t.isContiguous()) {
            throw new IllegalArgumentException(what + ": the tensor must be contiguous, got shape "
                    + Arrays.toString(t.shape()) + " with strides " + Arrays.toString(t.strides())
                    + "; pass tensor.contiguous() and copy the result back");
        }
        s.checkOpen();
        return s;
    }

    static void sameDtype(String what, Tensor a, Tensor b) {
        if (a.dtype() != b.dtype()) {
            throw new IllegalArgumentException(what + ": input is " + a.dtype() + " but output is " + b.dtype());
        }
    }

    /** {@code whole} must hold {@code size} parts of {@code part}'s element count. */
    static void parts(String what, Tensor whole, String wholeName, Tensor part, String partName, int size) {
        if ((long) part.numel() * size != whole.numel()) {
            throw new IllegalArgumentException(what + ": " + wholeName + " " + Arrays.toString(whole.shape()) + " has "
                    + whole.numel() + " elements, expected group size " + size + " x " + part.numel() + " (the "
                    + partName + " " + Arrays.toString(part.shape()) + ")");
        }
    }

    /** A peer rank for send/recv/broadcast: in range, and (for p2p) not the caller itself. */
    static void peer(String what, String role, int peer, int self, int size, boolean selfAllowed) {
        if (peer < 0 || peer >= size) {
            throw new IllegalArgumentException(what + ": " + role + " rank " + peer + " is not in a group of " + size);
        }
        if (!selfAllowed && peer == self) {
            throw new IllegalArgumentException(what + ": rank " + self + " cannot exchange with itself");
        }
    }

    /**
     * The storage of a send's or receive's tensor, after checking it and the peer (in range, not the
     * caller itself).
     */
    static CpuStorage p2p(String op, String group, Tensor t, String role, int peer, int self, int size) {
        String what = op + " in group " + group;
        CpuStorage s = storage(what, t);
        peer(what, role, peer, self, size, false);
        return s;
    }

    /**
     * Checks a split's lists (ranks of a group of {@code size}: each in range, none twice) and returns, for
     * each rank, the index of the list that holds it, or -1.
     */
    static int[] splitMembership(int[][] groups, int size) {
        int[] member = new int[size];
        Arrays.fill(member, -1);
        for (int g = 0; g < groups.length; g++) {
            if (groups[g] == null || groups[g].length == 0) {
                throw new IllegalArgumentException("split: group " + g + " is empty");
            }
            for (int r : groups[g]) {
                if (r < 0 || r >= size) {
                    throw new IllegalArgumentException("split: rank " + r + " in group " + g + " " + Arrays.toString(groups[g])
                            + " is not in a group of " + size);
                }
                if (member[r] >= 0) {
                    throw new IllegalArgumentException("split: rank " + r + " is in group " + member[r] + " "
                            + Arrays.toString(groups[member[r]]) + " and in group " + g + " " + Arrays.toString(groups[g]));
                }
                member[r] = g;
            }
        }
        return member;
    }

    /** A timeout as messages write it: "2 s", "150 ms". */
    static String duration(java.time.Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + " s" : ms + " ms";
    }

    /** "data[0,2,4,6]", with runs written "0-7": a group's name from a base and its world ranks. */
    static String groupName(String base, int[] worldRanks) {
        StringBuilder b = new StringBuilder(base).append('[');
        for (int i = 0; i < worldRanks.length; ) {
            int j = i;
            while (j + 1 < worldRanks.length && worldRanks[j + 1] == worldRanks[j] + 1) {
                j++;
            }
            if (i > 0) {
                b.append(',');
            }
            b.append(worldRanks[i]);
            if (j >= i + 2) {
                b.append('-').append(worldRanks[j]);
                i = j + 1;
            } else {
                i++;
            }
        }
        return b.append(']').toString();
    }

    /** "rank 2" or, in a subgroup, "rank 2 (world rank 5)". */
    static String rankName(int rank, int[] worldRanks) {
        int w = worldRanks[rank];
        return w == rank ? "rank " + rank : "rank " + rank + " (world rank " + w + ")";
    }

    /** "ranks 1, 3 (world ranks 3, 7)" for a list of group ranks. */
    static String rankNames(java.util.List<Integer> ranks, int[] worldRanks) {
        StringBuilder b = new StringBuilder(ranks.size() == 1 ? "rank " : "ranks ");
        StringBuilder w = new StringBuilder();
        boolean differ = false;
        for (int i = 0; i < ranks.size(); i++) {
            if (i > 0) {
                b.append(", ");
                w.append(", ");
            }
            int r = ranks.get(i);
            b.append(r);
            w.append(worldRanks[r]);
            differ |= worldRanks[r] != r;
        }
        if (differ) {
            b.append(" (world ").append(ranks.size() == 1 ? "rank " : "ranks ").append(w).append(')');
        }
        return b.toString();
    }
}
