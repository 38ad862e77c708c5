// reduce.cu: reductions along one dimension and the global sum of squares (CudaReductions.java).
//
//   reduce_runs       one block per output: for reductions whose elements are close (the last dimension)
//   reduce_columns    a block covers 32 adjacent outputs, 8 thread rows split the reduced dimension:
//                     for reductions across rows (column sums of [N, H])
//   sumsq_partial     per-block double partial sums of x^2 over any layout (a fixed grid)
//   sumsq_final       one block adds the partials in a fixed order: the result never depends on timing
//
// op codes are org.internlmj.tensor.ReduceOp ordinals: SUM, MEAN, MAX, MIN. Sums accumulate in double;
// MAX and MIN propagate NaN; an empty SUM is 0, MEAN NaN, MAX -inf, MIN +inf (the reference's values).
// x's Layout covers the output's coalesced Shape; `rstride` steps along the reduced dimension.
#include "common.cuh"

__device__ __forceinline__ double reduce_init(int op) {
    return op == 2 ? -__longlong_as_double(0x7ff0000000000000LL)
                   : (op == 3 ? __longlong_as_double(0x7ff0000000000000LL) : 0.0);
}

__device__ __forceinline__ double reduce_combine(int op, double acc, double v) {
    if (op <= 1) return acc + v;
    if (acc != acc || v != v) return __longlong_as_double(0x7ff8000000000000LL);
    return op == 2 ? fmax(acc, v) : fmin(acc, v);
}

__device__ __forceinline__ double warp_reduce_d(int op, double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = reduce_combine(op, v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Combines one double per thread across the block (blockDim.x a multiple of 32, at most 1024); thread 0
// gets the result. `scratch` holds 32 doubles; the leading barrier makes repeated calls safe.
__device__ __forceinline__ double block_reduce_d(int op, double v, double* scratch) {
    v = warp_reduce_d(op, v);
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double t = reduce_init(op);
    if (warp == 0) {
        t = lane < (int)(blockDim.x >> 5) ? scratch[lane] : reduce_init(op);
        t = warp_reduce_d(op, t);
    }
    return t;
}

extern "C" __global__ void reduce_runs(int op, const void* x, int xdt, Layout lx, long long rstride, int len,
                                       void* out, int odt, Layout lo, Shape s, unsigned int nOut) {
    __shared__ double partial[32];
    for (unsigned int o = blockIdx.x; o < nOut; o += gridDim.x) {
        long long base = offset_of(s, lx, o);
        double acc = reduce_init(op);
        for (int l = threadIdx.x; l < len; l += blockDim.x) {
            acc = reduce_combine(op, acc, (double)load_f(x, xdt, base + (long long)l * rstride));
        }
        double t = block_reduce_d(op, acc, partial);
        if (threadIdx.x == 0) {
            if (op == 1) t = t / (double)len;
            store_f(out, odt, offset_of(s, lo, o), (float)t);
        }
    }
}

// blockDim = (32, 8): threadIdx.x picks the output, threadIdx.y a slice of the reduced dimension.
extern "C" __global__ void reduce_columns(int op, const void* x, int xdt, Layout lx, long long rstride, int len,
                                          void* out, int odt, Layout lo, Shape s, unsigned int nOut) {
    __shared__ double partial[8][33];
    unsigned int o = blockIdx.x * 32 + threadIdx.x;
    double acc = reduce_init(op);
    if (o < nOut) {
        long long base = offset_of(s, lx, o);
        for (int l = threadIdx.y; l < len; l += 8) {
            acc = reduce_combine(op, acc, (double)load_f(x, xdt, base + (long long)l * rstride));
        }
    }
    partial[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && o < nOut) {
        double t = partial[0][threadIdx.x];
        for (int y = 1; y < 8; ++y) t = reduce_combine(op, t, partial[y][threadIdx.x]);
        if (op == 1) t = t / (double)len;
        store_f(out, odt, offset_of(s, lo, o), (float)t);
    }
}

extern "C" __global__ void sumsq_partial(const void* x, int xdt, Layout lx, Shape s, unsigned int n,
                                         double* partials) {
    __shared__ double warpSums[32];
    double acc = 0.0;
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        double v = (double)load_f(x, xdt, offset_of(s, lx, i));
        acc += v * v;
    }
    double t = block_reduce_d(0, acc, warpSums);
    if (threadIdx.x == 0) partials[blockIdx.x] = t;
}

extern "C" __global__ void sumsq_final(const double* partials, int count, double* result) {
    __shared__ double warpSums[32];
    double acc = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
    double t = block_reduce_d(0, acc, warpSums);
    if (threadIdx.x == 0) result[0] = t;
}
