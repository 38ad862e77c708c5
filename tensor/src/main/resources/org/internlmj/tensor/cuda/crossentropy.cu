// crossentropy.cu: cross-entropy over the vocabulary in chunks, forward and backward (CudaCrossEntropy.java).
//
//   ce_partial    grid (chunks, rows): each block reduces one chunk of one row's logits to (max, sum of
//                 exp(x - max), sum of x); long vocabularies spread over many blocks
//   ce_finalize   one thread per row combines its chunks in order: lse = m + log(s),
//                 loss = (1 - eps)(lse - x[y]) + eps (lse - mean(x)) (the mean term only when eps > 0);
//                 rows labelled ignoreIndex get loss 0; a label outside [0, V) is reported (and gets 0)
//   ce_shard_finalize  the same combination for one shard of a vocabulary-parallel loss: the shard's lse,
//                 the target logit when the label falls in the shard (else 0) and the sum of the logits
//   ce_backward   dlogits = dloss (softmax(x) - (1 - eps)[start + j == y] - eps / Vtotal) for the columns
//                 of global ids start .. start+V-1 (a whole row: start 0, Vtotal = V); ignored rows get 0
//
// logits rows have unit stride; row strides and the 1-D strides of labels, loss, lse, dloss are passed.
#include "common.cuh"

extern "C" __global__ void ce_partial(const void* logits, int ldt, long long rowStride, long long off, int vocab,
                                      int chunk, float* pm, float* ps, double* psum) {
    __shared__ float scratch[32];
    __shared__ double dscratch[32];
    int row = blockIdx.y;
    int c = blockIdx.x;
    int begin = c * chunk;
    int end = min(vocab, begin + chunk);
    long long base = off + (long long)row * rowStride;
    float m = -f_inf();
    float s = 0.0f;
    double sum = 0.0;
    for (int j = begin + threadIdx.x; j < end; j += blockDim.x) {
        float x = load_f(logits, ldt, base + j);
        sum += (double)x;
        online_add(m, s, x);
    }
    float mAll;
    float sAll;
    block_max_sum(m, s, scratch, mAll, sAll);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) dscratch[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0.0;
        for (int w = 0; w < (int)(blockDim.x >> 5); ++w) total += dscratch[w];
        long long slot = (long long)row * gridDim.x + c;
        pm[slot] = mAll;
        ps[slot] = sAll;
        psum[slot] = total;
    }
}

// Row r's log-sum-exp from its chunks' (max, sum of exp(x - max)) in chunk order (NaN if any chunk saw
// one); its logit sum into `sum`.
__device__ __forceinline__ float combine_chunks(const float* pm, const float* ps, const double* psum, int chunks,
                                                int r, double& sum) {
    const float* m = pm + (long long)r * chunks;
    const float* s = ps + (long long)r * chunks;
    float mAll = -f_inf();
    bool nan = false;
    for (int c = 0; c < chunks; ++c) {
        if (m[c] != m[c]) nan = true;
        mAll = fmaxf(mAll, m[c]);
    }
    float sAll = 0.0f;
    sum = 0.0;
    for (int c = 0; c < chunks; ++c) {
        if (m[c] != -f_inf()) sAll += s[c] * expf(m[c] - mAll);
        sum += psum[(long long)r * chunks + c];
    }
    return nan ? f_nan() : mAll + logf(sAll);
}

extern "C" __global__ void ce_finalize(const void* logits, int ldt, long long rowStride, long long off,
                                       const void* labels, int lbdt, long long lbStride, long long lbOff, int rows,
                                       int vocab, int chunks, const float* pm, const float* ps, const double* psum,
                                       int ignoreIndex, float smoothing, float* loss, long long lossStride,
                                       float* lse, long long lseStride, Status* status) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x) {
        double sum;
        float z = combine_chunks(pm, ps, psum, chunks, r, sum);
        lse[(long long)r * lseStride] = z;
        long long y = load_index(labels, lbdt, lbOff + (long long)r * lbStride);
        float l = 0.0f;
        if (y != ignoreIndex) {
            if (y < 0 || y >= vocab) {
                report_error(status, ERR_INDEX_OUT_OF_RANGE, 2, r, y);
            } else {
                float xy = load_f(logits, ldt, off + (long long)r * rowStride + y);
                l = (1.0f - smoothing) * (z - xy);
                if (smoothing != 0.0f) l += smoothing * (z - (float)(sum / (double)vocab));
            }
        }
        loss[(long long)r * lossStride] = l;
    }
}

// one thread per row, like ce_finalize; labels outside [start, start + vocab) are other shards'
extern "C" __global__ void ce_shard_finalize(const void* logits, int ldt, long long rowStride, long long off,
                                             const void* labels, int lbdt, long long lbStride, long long lbOff,
                                             int rows, int vocab, long long start, int chunks, const float* pm,
                                             const float* ps, const double* psum, float* lse, long long lseStride,
                                             float* target, long long targetStride, float* sum, long long sumStride) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x) {
        double total;
        lse[(long long)r * lseStride] = combine_chunks(pm, ps, psum, chunks, r, total);
        sum[(long long)r * sumStride] = (float)total;
        long long local = load_index(labels, lbdt, lbOff + (long long)r * lbStride) - start;
        target[(long long)r * targetStride] =
                local >= 0 && local < vocab ? load_f(logits, ldt, off + (long long)r * rowStride + local) : 0.0f;
    }
}

// grid (ceil(V / blockDim), rows)
extern "C" __global__ void ce_backward(const void* logits, int ldt, long long rowStride, long long off,
                                       const void* labels, int lbdt, long long lbStride, long long lbOff,
                                       const float* lse, long long lseStride, const float* dloss,
                                       long long dlossStride, int vocab, long long start, long long vocabTotal,
                                       int ignoreIndex, float smoothing, void* dlogits, int gdt,
                                       long long gRowStride, long long gOff, Status* status) {
    int r = blockIdx.y;
    long long y = load_index(labels, lbdt, lbOff + (long long)r * lbStride);
    bool bad = y != ignoreIndex && (y < 0 || y >= vocabTotal);
    if (bad && blockIdx.x == 0 && threadIdx.x == 0) report_error(status, ERR_INDEX_OUT_OF_RANGE, 3, r, y);
    bool ignored = y == ignoreIndex || bad;
    float z = lse[(long long)r * lseStride];
    float dl = dloss[(long long)r * dlossStride];
    float uniform = smoothing / (float)vocabTotal;
    long long local = y - start;
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < vocab; j += gridDim.x * blockDim.x) {
        float g = 0.0f;
        if (!ignored) {
            float p = expf(load_f(logits, ldt, off + (long long)r * rowStride + j) - z);
            g = dl * (p - (j == local ? 1.0f - smoothing : 0.0f) - uniform);
        }
        store_f(dlogits, gdt, gOff + (long long)r * gRowStride + j, g);
    }
}
