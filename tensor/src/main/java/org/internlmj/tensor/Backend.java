package org.internlmj.tensor;

/**
 * The kernels of one device: the single interface between layers above and kernels below.
 *
 * <p>Every operation writes into output tensors the caller allocated (so activation buffers can be
 * reused across steps) and checks shapes and dtypes, throwing {@link IllegalArgumentException} with the
 * shapes involved. Unless a method says otherwise, tensors may be any strided view; floating inputs
 * may be F32, BF16 or F16 and are computed in fp32; outputs are rounded to their dtype (nearest even).
 * Tensors of "row" kernels ({@code [..., H]}) must have a unit stride in their last dimension.
 *
 * <p>Implementations: {@code CpuBackend} (Vector API, all cores), {@code ReferenceBackend} (scalar
 * float64 oracle for tests) and, on GPUs, the CUDA backend.
 */
public interface Backend {

    /** The device this backend computes on. */
    Device device();

    /** A short human description (implementation, vector width, threads, ...). */
    String describe();

    /** Allocates storage for {@code length} elements; zero-filled when asked, else contents undefined. */
    Storage allocate(DType dtype, long length, boolean zeroed);

    /** Waits until all work queued on this backend is done (a no-op for synchronous backends). */
    default void synchronize() {
    }

    // ---------------------------------------------------------------- data movement

    /** {@code out[...] = value}. */
    void fill(Tensor out, double value);

    /** {@code dst = src} with broadcasting of src to dst's shape and conversion to dst's dtype. */
    void copy(Tensor src, Tensor dst);

    /**
     * Fills {@code out} with counter-based (Philox4x32-10) random numbers: element {@code i} in
     * row-major order uses counter {@code offset + i} with key {@code seed}, so the numbers depend only
     * on (seed, offset, i) — never on the thread count or device. UNIFORM: {@code [a, b)}; NORMAL:
     * mean {@code a}, standard deviation {@code b}. {@code out} must be contiguous.
     */
    void fillRandom(Tensor out, Distribution distribution, double a, double b, long seed, long offset);

    /** Random distributions of {@link #fillRandom}. */
    enum Distribution { UNIFORM, NORMAL }

    // ---------------------------------------------------------------- GEMM

    /**
     * {@code c = alpha * a @ b + beta * c}; a {@code [M, K]} or {@code [B, M, K]}, b {@code [K, N]} or
     * {@code [B, K, N]} (a 2-D b is shared by every batch), c {@code [M, N]} or {@code [B, M, N]}.
     * Transposed operands are transposed views ({@code a.transpose(-2, -1)}), so all four transpose
     * combinations are one call. a and b have the same floating dtype; accumulation is fp32.
     * With {@code beta == 0} c's old contents are ignored (NaN included).
     */
    void matmul(Tensor a, Tensor b, Tensor c, float alpha, float beta);

    // ---------------------------------------------------------------- elementwise and reductions

    /** {@code out = op(x)}; x broadcast to out's shape. */
    void unary(UnaryOp op, Tensor x, Tensor out);

    /** {@code out = op(a, b)}; a and b broadcast to out's shape. */
    void binary(BinaryOp op, Tensor a, Tensor b, Tensor out);

    /** {@code out = x * scale + shift}; x broadcast to out's shape. */
    void affine(Tensor x, double scale, double shift, Tensor out);

    /** Reduces x along {@code dim} into out, which has x's shape with that dimension of size 1. */
    void reduce(ReduceOp op, Tensor x, int dim, Tensor out);

    /** Sum of squares of all elements, accumulated in double; NaN or infinity if any element is. */
    double sumOfSquares(Tensor x);

    /** Softmax ({@code log == false}) or log-softmax along the last dimension. */
    void softmax(Tensor x, Tensor out, boolean log);

    /**
     * Gradient of {@link #softmax}: given its output y and dy, writes dx. softmax:
     * {@code dx = y * (dy - sum(dy * y))}; log-softmax: {@code dx = dy - exp(y) * sum(dy)}.
     */
    void softmaxBackward(Tensor y, Tensor dy, Tensor dx, boolean log);

    // ---------------------------------------------------------------- fused transformer kernels

    /**
     * RMSNorm over the last dimension: {@code y = w * x * rstd}, {@code rstd = 1/sqrt(mean(x^2) + eps)}
     * computed in fp32. x, y {@code [N, H]} (any leading shape flattened to N rows), w {@code [H]},
     * rstd {@code [N]} F32 (saved for backward).
     */
    void rmsNorm(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd);

    /** Backward of {@link #rmsNorm}: writes dx and dweight (overwritten, not accumulated). */
    void rmsNormBackward(Tensor x, Tensor weight, Tensor rstd, Tensor dy, Tensor dx, Tensor dweight);

    /**
     * LayerNorm over the last dimension: {@code y = (x - mean) * rstd * w + b}; mean and rstd
     * {@code [N]} F32 are saved for backward. bias may be null.
     */
    void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd);

    /** Backward of {@link #layerNorm}: writes dx, dweight and (if not null) dbias. */
    void layerNormBackward(Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, Tensor dx,
                           Tensor dweight, Tensor dbias);

    /**
     * Rotary position embedding in the rotate-half (GPT-NeoX) form InternLM uses: for each token t,
     * head h and pair j &lt; D/2, with {@code theta = pos[t] * base^(-2j/D)}:
     * {@code out[j] = x[j] cos - x[j+D/2] sin}, {@code out[j+D/2] = x[j+D/2] cos + x[j] sin}.
     * {@code inverse} rotates by {@code -theta}: the backward. x, out {@code [T, H, D]} (out may be x),
     * positions {@code [T]} I32 (InternLM's {@code indexes}: restarting at 0 for each packed document).
     */
    void rotary(Tensor x, Tensor positions, double base, boolean inverse, Tensor out);

    /** SwiGLU: {@code out = silu(gate) * up}. */
    void swiglu(Tensor gate, Tensor up, Tensor out);

    /** Backward of {@link #swiglu}: writes dgate and dup. */
    void swigluBackward(Tensor gate, Tensor up, Tensor dout, Tensor dgate, Tensor dup);

    /**
     * Embedding lookup {@code out[t, :] = weight[ids[t], :]}; weight {@code [V, H]}, ids {@code [T]}
     * I32 or I64, out {@code [T, H]}. An id outside {@code [0, V)} is an error naming it.
     */
    void embedding(Tensor weight, Tensor ids, Tensor out);

    /** Scatter-add backward of {@link #embedding}: {@code dweight[ids[t], :] += dout[t, :]} (accumulates). */
    void embeddingBackward(Tensor ids, Tensor dout, Tensor dweight);

    /**
     * Cross-entropy of each row of logits {@code [N, V]} against labels {@code [N]} (I32/I64), with
     * label smoothing s as flash-attn and torch define it:
     * {@code loss = (1-s) * (lse - x[y]) + s * (lse - mean(x))}. Rows whose label equals
     * {@code ignoreIndex} get loss 0. Writes loss {@code [N]} and lse {@code [N]} (F32, for backward).
     */
    void crossEntropy(Tensor logits, Tensor labels, int ignoreIndex, float smoothing, Tensor loss, Tensor lse);

    /**
     * Backward of {@link #crossEntropy}: {@code dlogits[i, j] = dloss[i] * (softmax(x_i)[j] - (1-s)[j == y_i]
     * - s / V)}; ignored rows get 0. dloss {@code [N]} F32.
     */
    void crossEntropyBackward(Tensor logits, Tensor labels, Tensor lse, int ignoreIndex, float smoothing,
                              Tensor dloss, Tensor dlogits);

    /**
     * Per-row statistics of one vocabulary shard of cross-entropy logits, for a vocabulary-parallel loss
     * that never gathers whole rows: logits {@code [N, V]} hold the columns of global ids
     * {@code vocabStart .. vocabStart+V-1}. Writes, all F32 {@code [N]}: {@code lse} the log-sum-exp of the
     * shard's row, {@code target} the logit {@code x[i, y_i - vocabStart]} when label {@code y_i} falls in
     * the shard (else 0), and {@code sum} the sum of the row's logits. Labels outside the shard (those of
     * other shards, the ignore index) are not errors; the caller checks them against the whole vocabulary.
     */
    void crossEntropyShardStats(Tensor logits, Tensor labels, int vocabStart, Tensor lse, Tensor target, Tensor sum);

    /**
     * Backward of a vocabulary-parallel cross-entropy on one shard (see {@link #crossEntropyShardStats}):
     * {@code dlogits[i, j] = dloss[i] * (exp(x[i, j] - lse[i]) - (1-s)[vocabStart + j == y_i] - s / vocabTotal)}
     * with {@code lse} the log-sum-exp of the whole row (all shards); rows labelled {@code ignoreIndex} get
     * 0, and any other label outside {@code [0, vocabTotal)} is an error. With {@code vocabStart = 0} and
     * {@code vocabTotal = V} this is {@link #crossEntropyBackward}.
     */
    void crossEntropyShardBackward(Tensor logits, Tensor labels, int vocabStart, int vocabTotal, Tensor lse,
                                   int ignoreIndex, float smoothing, Tensor dloss, Tensor dlogits);

    /**
     * Attention over packed sequences: q, k, v, out {@code [T, H, D]}; document d spans tokens
     * {@code cuSeqlens[d] .. cuSeqlens[d+1]-1} ({@code cuSeqlens} I32 {@code [B+1]}, starting at 0,
     * ending at T) and a token attends only to tokens of its own document, and with {@code causal} only
     * to itself and earlier ones. {@code out = softmax(scale * q k^T) v}; lse {@code [H, T]} F32 holds
     * the row log-sum-exp of the scaled scores for the backward. Memory is O(T), never O(T^2).
     */
    void attention(Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, float scale, boolean causal,
                   Tensor out, Tensor lse);

    /** Backward of {@link #attention}: writes dq, dk, dv (overwritten). */
    void attentionBackward(Tensor q, Tensor k, Tensor v, Tensor out, Tensor dout, Tensor lse, Tensor cuSeqlens,
                           float scale, boolean causal, Tensor dq, Tensor dk, Tensor dv);

    // ---------------------------------------------------------------- optimizer

    /**
     * One AdamW step in place on fp32 master weights {@code param} and moments {@code m}, {@code v}
     * (all contiguous F32 of one shape) from {@code grad} (F32/BF16/F16, same shape); if
     * {@code modelCopy} is not null the updated weights are also written to it, rounded to its dtype.
     */
    void adamw(Tensor param, Tensor grad, Tensor m, Tensor v, AdamWStep step, Tensor modelCopy);
}
