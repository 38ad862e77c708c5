// softmax.cu: softmax / log-softmax along the last dimension and its backward (CudaSoftmax.java),
// and the masked softmax of the unfused reference attention (CudaAttentionReference.java).
//
//   softmax_fwd          one block per row: online max/sum per thread, then one combine across the block
//   softmax_bwd          dx = y (dy - sum(dy y)), or for log-softmax dx = dy - exp(y) sum(dy)
//   attn_masked_softmax  scores [heads, Lq, Lk] (fp32, from cuBLAS) -> P = softmax(scale * s) with keys
//                        after the query masked when causal, in P's dtype; writes the row's natural-log
//                        log-sum-exp of the scaled scores into lse[head * lseHeadStride + i]
//
// Rows are the leading dimensions of a row tensor (coalesced Shape `rows`), each operand with its own
// Layout over them; the last dimension is contiguous.
#include "common.cuh"

extern "C" __global__ void softmax_fwd(const void* x, int xdt, Layout lx, void* y, int ydt, Layout ly, Shape rows,
                                       unsigned int nRows, int h, int logSoftmax) {
    __shared__ float scratch[32];
    for (unsigned int r = blockIdx.x; r < nRows; r += gridDim.x) {
        long long xo = offset_of(rows, lx, r);
        long long yo = offset_of(rows, ly, r);
        float m = -f_inf();
        float s = 0.0f;
        for (int j = threadIdx.x; j < h; j += blockDim.x) online_add(m, s, load_f(x, xdt, xo + j));
        float lse = block_lse(m, s, scratch);
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float v = load_f(x, xdt, xo + j);
            store_f(y, ydt, yo + j, logSoftmax ? v - lse : expf(v - lse));
        }
    }
}

extern "C" __global__ void softmax_bwd(const void* y, int ydt, Layout ly, const void* dy, int dydt, Layout ldy,
                                       void* dx, int dxdt, Layout ldx, Shape rows, unsigned int nRows, int h,
                                       int logSoftmax) {
    __shared__ float scratch[32];
    for (unsigned int r = blockIdx.x; r < nRows; r += gridDim.x) {
        long long yo = offset_of(rows, ly, r);
        long long go = offset_of(rows, ldy, r);
        long long xo = offset_of(rows, ldx, r);
        float acc = 0.0f;
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float g = load_f(dy, dydt, go + j);
            acc += logSoftmax ? g : g * load_f(y, ydt, yo + j);
        }
        float sum = block_sum(acc, scratch);
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float g = load_f(dy, dydt, go + j);
            float v = load_f(y, ydt, yo + j);
            store_f(dx, dxdt, xo + j, logSoftmax ? g - expf(v) * sum : v * (g - sum));
        }
    }
}

// One block per (head, query row). scores row stride lk, head stride lq * lk; P likewise.
extern "C" __global__ void attn_masked_softmax(const float* scores, int lq, int lk, float scale, int causal,
                                               void* p, int pdt, float* lse, long long lseHeadStride, int heads) {
    __shared__ float scratch[32];
    for (unsigned int r = blockIdx.x; r < (unsigned int)(heads * lq); r += gridDim.x) {
        int head = r / lq;
        int i = r - head * lq;
        int valid = causal ? min(i + 1, lk) : lk;
        const float* row = scores + (long long)r * lk;
        long long po = (long long)r * lk;
        float m = -f_inf();
        float s = 0.0f;
        for (int j = threadIdx.x; j < valid; j += blockDim.x) online_add(m, s, row[j] * scale);
        float z = block_lse(m, s, scratch);
        for (int j = threadIdx.x; j < lk; j += blockDim.x) {
            store_f(p, pdt, po + j, j < valid ? expf(row[j] * scale - z) : 0.0f);
        }
        if (threadIdx.x == 0) lse[head * lseHeadStride + i] = z;
    }
}
