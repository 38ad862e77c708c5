package org.internlmj.dist;

import org.internlmj.dist.ProcessGroup.ReduceOp;
import org.internlmj.tensor.DType;

/**
 * One collective call as a rank made it: what every rank of the group must agree on (the kind, the dtype,
 * the element count, the reduction and the root) plus its sequence number in the group. Ranks compare
 * their calls so that a program whose ranks call different collectives fails with a message saying who
 * called what, instead of exchanging garbage or hanging.
 *
 * @param count elements of the input (the whole input of a reduce-scatter, one rank's part of an
 *              all-gather; 0 for barrier and split)
 * @param root  broadcast root, else 0
 */
record CollectiveCall(Kind kind, long seq, DType dtype, int count, ReduceOp op, int root) {

    /** The collectives, with the names messages use. */
    enum Kind {
        ALL_REDUCE("allReduce"), REDUCE_SCATTER("reduceScatter"), ALL_GATHER("allGather"), BROADCAST("broadcast"),
        BARRIER("barrier"), SPLIT("split");

        final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    static CollectiveCall barrier(long seq) {
        return new CollectiveCall(Kind.BARRIER, seq, DType.F32, 0, ReduceOp.SUM, 0);
    }

    static CollectiveCall split(long seq) {
        return new CollectiveCall(Kind.SPLIT, seq, DType.F32, 0, ReduceOp.SUM, 0);
    }

    /** This call with sequence number {@code seq}. */
    CollectiveCall withSeq(long seq) {
        return new CollectiveCall(kind, seq, dtype, count, op, root);
    }

    /** True if {@code other} is the same call (sequence numbers aside). */
    boolean matches(CollectiveCall other) {
        return kind == other.kind && dtype == other.dtype && count == other.count && op == other.op && root == other.root;
    }

    /** "allReduce #12"; negative numbers are the group's own setup calls. */
    String label() {
        return seq < 0 ? kind.label + " (connection check)" : kind.label + " #" + seq;
    }

    /** What was passed: "allReduce(SUM, 1000 x F32)". */
    String signature() {
        return switch (kind) {
            case ALL_REDUCE, REDUCE_SCATTER -> kind.label + "(" + op + ", " + count + " x " + dtype + ")";
            case ALL_GATHER -> kind.label + "(" + count + " x " + dtype + " per rank)";
            case BROADCAST -> kind.label + "(" + count + " x " + dtype + ", root " + root + ")";
            case BARRIER, SPLIT -> kind.label + "()";
        };
    }

    /** The kind, dtype and reduction in one int (for the TCP frame header). */
    int packedKind() {
        return kind.ordinal() << 16 | dtype.ordinal() << 8 | op.ordinal();
    }

    /** The call described by a frame header's fields. */
    static CollectiveCall unpack(long seq, int packedKind, int count, int root) {
        Kind[] kinds = Kind.values();
        DType[] dtypes = DType.values();
        ReduceOp[] ops = ReduceOp.values();
        int k = packedKind >>> 16 & 0xff;
        int d = packedKind >>> 8 & 0xff;
        int o = packedKind & 0xff;
        if (k >= kinds.length || d >= dtypes.length || o >= ops.length) {
            throw new IllegalStateException("corrupt collective header: kind " + k + ", dtype " + d + ", op " + o);
        }
        return new CollectiveCall(kinds[k], seq, dtypes[d], count, ops[o], root);
    }
}
