package org.internlmj.tensor;

import java.util.Arrays;

/**
 * Argument checks shared by every backend, so that a wrong call fails the same way, with the same
 * message naming shapes and dtypes, on the CPU and on a GPU.
 */
public final class OpChecks {
    private OpChecks() {
    }

    /** Dimensions of a (batched) GEMM after checks. */
    public record GemmDims(int batch, int m, int n, int k, boolean batchedB) {
    }

    public static GemmDims matmul(Tensor a, Tensor b, Tensor c) {
        sameDevice("matmul", a, b, c);
        floating("matmul", a);
        if (a.dtype() != b.dtype()) {
            throw new IllegalArgumentException("matmul operands differ in dtype: a " + a.dtype() + ", b " + b.dtype());
        }
        if (!c.dtype().isFloating()) {
            throw new IllegalArgumentException("matmul output must be floating, got " + c.dtype());
        }
        int ra = a.rank();
        int rb = b.rank();
        int rc = c.rank();
        if (ra < 2 || ra > 3 || rb < 2 || rb > 3 || rc != ra || rb > ra) {
            throw new IllegalArgumentException("matmul expects a [M,K] or [B,M,K], b [K,N] or [B,K,N], c like a: got a "
                    + Shapes.str(a.shape()) + ", b " + Shapes.str(b.shape()) + ", c " + Shapes.str(c.shape()));
        }
        int batch = ra == 3 ? a.size(0) : 1;
        int m = a.size(-2);
        int k = a.size(-1);
        int n = b.size(-1);
        boolean ok = b.size(-2) == k && c.size(-2) == m && c.size(-1) == n;
        if (ra == 3) {
            ok &= c.size(0) == batch && (rb == 2 || b.size(0) == batch);
        }
        if (!ok) {
            throw new IllegalArgumentException("matmul shape mismatch: a " + Shapes.str(a.shape()) + " @ b "
                    + Shapes.str(b.shape()) + " -> c " + Shapes.str(c.shape()));
        }
        return new GemmDims(batch, m, n, k, rb == 3);
    }

    public static void sameDevice(String op, Tensor... ts) {
        Device d = null;
        for (Tensor t : ts) {
            if (t == null) {
                continue;
            }
            t.storage().checkOpen();
            if (d == null) {
                d = t.device();
            } else if (!d.equals(t.device())) {
                throw new IllegalArgumentException(op + ": tensors on different devices (" + d + " and " + t.device() + ")");
            }
        }
    }

    public static void floating(String op, Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null && !t.dtype().isFloating()) {
                throw new IllegalArgumentException(op + " needs floating tensors, got " + t);
            }
        }
    }

    public static void dtype(String op, String what, Tensor t, DType... allowed) {
        for (DType d : allowed) {
            if (t.dtype() == d) {
                return;
            }
        }
        throw new IllegalArgumentException(op + ": " + what + " must be " + Arrays.toString(allowed) + ", got " + t);
    }

    public static void shape(String op, String what, Tensor t, int... expected) {
        if (!Arrays.equals(t.shape(), expected)) {
            throw new IllegalArgumentException(op + ": " + what + " must have shape " + Shapes.str(expected)
                    + ", got " + Shapes.str(t.shape()));
        }
    }

    public static void sameShape(String op, Tensor ref, String refName, Tensor t, String name) {
        if (!ref.sameShape(t)) {
            throw new IllegalArgumentException(op + ": " + name + " " + Shapes.str(t.shape()) + " must have the shape of "
                    + refName + " " + Shapes.str(ref.shape()));
        }
    }

    /** Checks that {@code x} broadcasts to {@code out}'s shape. */
    public static void broadcastsTo(String op, Tensor x, Tensor out) {
        int[] b = Shapes.broadcast(x.shape(), out.shape());
        if (!Arrays.equals(b, out.shape())) {
            throw new IllegalArgumentException(op + ": input " + Shapes.str(x.shape()) + " does not broadcast to output "
                    + Shapes.str(out.shape()));
        }
    }

    /** Rows x hidden of a row kernel's input (all leading dimensions flattened); last stride must be 1. */
    public static int[] rows(String op, Tensor x) {
        if (x.rank() < 1) {
            throw new IllegalArgumentException(op + " needs at least one dimension, got a scalar");
        }
        if (x.stride(-1) != 1 && x.size(-1) > 1) {
            throw new IllegalArgumentException(op + ": last dimension must be contiguous (stride 1), got " + x);
        }
        int h = x.size(-1);
        return new int[] {h == 0 ? 0 : x.numel() / h, h};
    }

    /** Checks the row layout of a row kernel's tensors: every tensor contiguous in its rows. */
    public static void rowMajor(String op, Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null && !t.isContiguous()) {
                throw new IllegalArgumentException(op + " needs contiguous tensors, got " + t);
            }
        }
    }

    /** Checks q/k/v/out of packed attention and returns {T, H, D}. */
    public static int[] attention(Tensor q, Tensor k, Tensor v, Tensor out, Tensor cuSeqlens) {
        if (q.rank() != 3) {
            throw new IllegalArgumentException("attention expects q [T, H, D], got " + Shapes.str(q.shape()));
        }
        sameShape("attention", q, "q", k, "k");
        sameShape("attention", q, "q", v, "v");
        sameShape("attention", q, "q", out, "out");
        rowMajor("attention", q, k, v, out);
        dtype("attention", "cuSeqlens", cuSeqlens, DType.I32);
        if (cuSeqlens.rank() != 1 || cuSeqlens.size(0) < 2) {
            throw new IllegalArgumentException("attention: cuSeqlens must be [B+1] with B >= 1, got "
                    + Shapes.str(cuSeqlens.shape()));
        }
        return q.shape();
    }

    /**
     * Checks the tensors of packed attention's backward and returns {T, H, D}: q/k/v/out as for the
     * forward; dout, dq, dk, dv of q's shape (any strides); lse {@code [H, T]}; all floating.
     */
    public static int[] attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse,
                                          Tensor cuSeqlens, Tensor dq, Tensor dk, Tensor dv) {
        int[] thd = attention(q, k, v, out, cuSeqlens);
        sameShape("attention backward", q, "q", dout, "dout");
        sameShape("attention backward", q, "q", dq, "dq");
        sameShape("attention backward", q, "q", dk, "dk");
        sameShape("attention backward", q, "q", dv, "dv");
        shape("attention backward", "lse", lse, thd[1], thd[0]);
        floating("attention backward", q, k, v, out, dout, lse, dq, dk, dv);
        return thd;
    }

    /** Validates cu_seqlens values: starts at 0, non-decreasing, ends at {@code tokens}. */
    public static int[] cuSeqlens(int[] cu, int tokens) {
        if (cu[0] != 0 || cu[cu.length - 1] != tokens) {
            throw new IllegalArgumentException("cuSeqlens must start at 0 and end at the token count " + tokens
                    + ", got " + Arrays.toString(cu));
        }
        for (int i = 1; i < cu.length; i++) {
            if (cu[i] < cu[i - 1]) {
                throw new IllegalArgumentException("cuSeqlens must be non-decreasing, got " + Arrays.toString(cu));
            }
        }
        return cu;
    }

    /** Labels/ids must be integer tensors of rank 1 with {@code n} entries. */
    public static void indices(String op, String what, Tensor t, int n) {
        dtype(op, what, t, DType.I32, DType.I64);
        if (t.rank() != 1 || t.size(0) != n) {
            throw new IllegalArgumentException(op + ": " + what + " must be [" + n + "], got " + Shapes.str(t.shape()));
        }
    }
}
