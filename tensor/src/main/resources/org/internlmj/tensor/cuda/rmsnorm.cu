// rmsnorm.cu: RMSNorm over the last dimension, forward and backward (CudaNorms.java).
//
//   rmsnorm_fwd       one block per row: rstd = 1/sqrt(mean(x^2) + eps), y = w * x * rstd
//   rmsnorm_bwd       one block per group of rows (a fixed grid): dx per row, and the block's partial
//                     dweight = sum over its rows of dy * x * rstd, written to its own row of `partial`
//   norm_weight_sum   dweight[j] = sum over blocks of partial[block][j], in block order (deterministic);
//                     shared with layernorm.cu's dweight and dbias
//
// Rows: coalesced leading dimensions with a Layout per operand; the last dimension is contiguous.
#include "common.cuh"

extern "C" __global__ void rmsnorm_fwd(const void* x, int xdt, Layout lx, const void* w, int wdt, int wStride,
                                       void* y, int ydt, Layout ly, float* rstd, int rstdStride, Shape rows,
                                       unsigned int nRows, int h, float eps) {
    __shared__ float scratch[32];
    for (unsigned int r = blockIdx.x; r < nRows; r += gridDim.x) {
        long long xo = offset_of(rows, lx, r);
        long long yo = offset_of(rows, ly, r);
        float ss = 0.0f;
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float v = load_f(x, xdt, xo + j);
            ss += v * v;
        }
        float total = block_sum(ss, scratch);
        float rs = 1.0f / sqrtf(total / (float)h + eps);
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float v = load_f(x, xdt, xo + j);
            store_f(y, ydt, yo + j, load_f(w, wdt, (long long)j * wStride) * (v * rs));
        }
        if (threadIdx.x == 0) rstd[(long long)r * rstdStride] = rs;
    }
}

extern "C" __global__ void rmsnorm_bwd(const void* x, int xdt, Layout lx, const void* w, int wdt, int wStride,
                                       const float* rstd, int rstdStride, const void* dy, int dydt, Layout ldy,
                                       void* dx, int dxdt, Layout ldx, Shape rows, unsigned int nRows, int h,
                                       float* partial) {
    __shared__ float scratch[32];
    float* mine = partial + (long long)blockIdx.x * h;
    for (int j = threadIdx.x; j < h; j += blockDim.x) mine[j] = 0.0f;
    for (unsigned int r = blockIdx.x; r < nRows; r += gridDim.x) {
        long long xo = offset_of(rows, lx, r);
        long long go = offset_of(rows, ldy, r);
        long long dxo = offset_of(rows, ldx, r);
        float rs = rstd[(long long)r * rstdStride];
        float dot = 0.0f;
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float xhat = load_f(x, xdt, xo + j) * rs;
            float g = load_f(dy, dydt, go + j);
            dot += g * load_f(w, wdt, (long long)j * wStride) * xhat;
            mine[j] += g * xhat;  // each thread owns its columns: no race
        }
        float meanDot = block_sum(dot, scratch) / (float)h;
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float xhat = load_f(x, xdt, xo + j) * rs;
            float g = load_f(dy, dydt, go + j);
            store_f(dx, dxdt, dxo + j, rs * (g * load_f(w, wdt, (long long)j * wStride) - xhat * meanDot));
        }
    }
}

extern "C" __global__ void norm_weight_sum(const float* partial, int blocks, int h, void* out, int odt, int oStride) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < h; j += gridDim.x * blockDim.x) {
        float acc = 0.0f;
        for (int b = 0; b < blocks; ++b) acc += partial[(long long)b * h + j];
        store_f(out, odt, (long long)j * oStride, acc);
    }
}
