// layernorm.cu: LayerNorm over the last dimension, forward and backward (CudaNorms.java).
//
//   layernorm_fwd   one block per row: mean, rstd = 1/sqrt(var + eps) (two passes over the row),
//                   y = (x - mean) * rstd * w + b; mean and rstd saved for the backward
//   layernorm_bwd   one block per group of rows: dx = rstd (g w - mean(g w) - xhat mean(g w xhat)), and the
//                   block's partial dweight (g xhat) and dbias (g) rows; rmsnorm.cu's norm_weight_sum adds
//                   the partials in block order
#include "common.cuh"

extern "C" __global__ void layernorm_fwd(const void* x, int xdt, Layout lx, const void* w, int wdt, int wStride,
                                         const void* b, int bdt, int bStride, int hasBias, void* y, int ydt, Layout ly,
                                         float* mean, int meanStride, float* rstd, int rstdStride, Shape rows,
                                         unsigned int nRows, int h, float eps) {
    __shared__ float scratch[32];
    for (unsigned int r = blockIdx.x; r < nRows; r += gridDim.x) {
        long long xo = offset_of(rows, lx, r);
        long long yo = offset_of(rows, ly, r);
        float s = 0.0f;
        for (int j = threadIdx.x; j < h; j += blockDim.x) s += load_f(x, xdt, xo + j);
        float mu = block_sum(s, scratch) / (float)h;
        float var = 0.0f;
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float c = load_f(x, xdt, xo + j) - mu;
            var += c * c;
        }
        float rs = 1.0f / sqrtf(block_sum(var, scratch) / (float)h + eps);
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float xhat = (load_f(x, xdt, xo + j) - mu) * rs;
            float bias = hasBias ? load_f(b, bdt, (long long)j * bStride) : 0.0f;
            store_f(y, ydt, yo + j, xhat * load_f(w, wdt, (long long)j * wStride) + bias);
        }
        if (threadIdx.x == 0) {
            mean[(long long)r * meanStride] = mu;
            rstd[(long long)r * rstdStride] = rs;
        }
    }
}

extern "C" __global__ void layernorm_bwd(const void* x, int xdt, Layout lx, const void* w, int wdt, int wStride,
                                         const float* mean, int meanStride, const float* rstd, int rstdStride,
                                         const void* dy, int dydt, Layout ldy, void* dx, int dxdt, Layout ldx,
                                         Shape rows, unsigned int nRows, int h, float* partialW, float* partialB) {
    __shared__ float scratch[32];
    float* mw = partialW + (long long)blockIdx.x * h;
    float* mb = partialB + (long long)blockIdx.x * h;
    for (int j = threadIdx.x; j < h; j += blockDim.x) {
        mw[j] = 0.0f;
        mb[j] = 0.0f;
    }
    for (unsigned int r = blockIdx.x; r < nRows; r += gridDim.x) {
        long long xo = offset_of(rows, lx, r);
        long long go = offset_of(rows, ldy, r);
        long long dxo = offset_of(rows, ldx, r);
        float mu = mean[(long long)r * meanStride];
        float rs = rstd[(long long)r * rstdStride];
        float sg = 0.0f;
        float sgx = 0.0f;
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float xhat = (load_f(x, xdt, xo + j) - mu) * rs;
            float g = load_f(dy, dydt, go + j);
            float gw = g * load_f(w, wdt, (long long)j * wStride);
            sg += gw;
            sgx += gw * xhat;
            mw[j] += g * xhat;
            mb[j] += g;
        }
        float meanG = block_sum(sg, scratch) / (float)h;
        float meanGx = block_sum(sgx, scratch) / (float)h;
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float xhat = (load_f(x, xdt, xo + j) - mu) * rs;
            float gw = load_f(dy, dydt, go + j) * load_f(w, wdt, (long long)j * wStride);
            store_f(dx, dxdt, dxo + j, rs * (gw - meanG - xhat * meanGx));
        }
    }
}
