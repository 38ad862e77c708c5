// common.cuh: what every kernel family of the CUDA backend shares.
//
//   dtype codes         DT_*: the ordinal of org.internlmj.tensor.DType
//   Shape, Layout       a coalesced loop shape and one operand's strides over it (CudaIter.java)
//   offset_of           storage offset of the linear index of a Shape in a Layout
//   load_f / store_f    any dtype to and from fp32, stores rounding to nearest even
//   load_d / store_d    any dtype to and from double, with Java's conversions (copy, fill, random)
//   f32_to_bf16_bits    float -> bfloat16 bits, exactly DType.toBf16Bits (NaN payload included)
//   f32_to_f16_bits     float -> half bits, exactly Float.floatToFloat16
//   report_error        first-error-wins device status word, read by the host at synchronize()
//   warp_sum, block_sum, warp_max, block_max   fp32 reductions across a warp / a block
//   online_add, block_max_sum, block_lse   a running (max, sum of exp) per thread, combined over the block
//
// Sources are compiled by NVRTC at run time (and by nvcc in a test), so they include nothing but
// cuda_fp16.h, which NVRTC ships.
#pragma once
#include <cuda_fp16.h>

#define DT_F32 0
#define DT_F64 1
#define DT_BF16 2
#define DT_F16 3
#define DT_I32 4
#define DT_I64 5

#define MAX_DIMS 8

// Error codes of the status word; the host (CudaErrors.java) turns them into messages.
#define ERR_INDEX_OUT_OF_RANGE 1
#define ERR_BAD_CU_SEQLENS 2
#define ERR_POSITION_RANGE 3

struct Shape {
    int rank;
    int size[MAX_DIMS];
};

struct Layout {
    int offset;
    int stride[MAX_DIMS];
};

struct Status {
    int code;
    int op;
    long long a;
    long long b;
};

__device__ __forceinline__ float f_inf() { return __int_as_float(0x7f800000); }
__device__ __forceinline__ float f_nan() { return __int_as_float(0x7fc00000); }

// Storage offset of element `linear` (row-major over s) of the operand laid out by l. The loop runs over
// compile-time indices so the parameter arrays stay in the constant bank.
// A tensor holds fewer than 2^31 elements, so the index arithmetic is 32-bit; the sum is 64-bit.
__device__ __forceinline__ long long offset_of(const Shape& s, const Layout& l, unsigned int linear) {
    if (s.rank == 1) {
        return (long long)l.offset + (long long)linear * l.stride[0];
    }
    long long off = l.offset;
#pragma unroll
    for (int d = MAX_DIMS - 1; d >= 0; --d) {
        if (d < s.rank) {
            unsigned int size = (unsigned int)s.size[d];
            unsigned int q = linear / size;
            unsigned int r = linear - q * size;
            off += (long long)r * l.stride[d];
            linear = q;
        }
    }
    return off;
}

__device__ __forceinline__ float bf16_bits_to_f32(unsigned short b) {
    return __uint_as_float(((unsigned int)b) << 16);
}

__device__ __forceinline__ unsigned short f32_to_bf16_bits(float f) {
    unsigned int b = __float_as_uint(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        return (unsigned short)((b >> 16) | 0x0040u);
    }
    return (unsigned short)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ float f16_bits_to_f32(unsigned short h) {
    return __half2float(__ushort_as_half(h));
}

__device__ __forceinline__ unsigned short f32_to_f16_bits(float f) {
    unsigned int b = __float_as_uint(f);
    if ((b & 0x7fffffffu) > 0x7f800000u) {
        // Float.floatToFloat16 keeps the sign and folds the payload into the 10 significand bits.
        unsigned int sign = (b >> 16) & 0x8000u;
        return (unsigned short)(sign | 0x7c00u | ((b & 0x007fe000u) >> 13) | ((b & 0x00001ff0u) >> 4)
                | (b & 0x0000000fu));
    }
    return __half_as_ushort(__float2half_rn(f));
}

__device__ __forceinline__ float load_f(const void* base, int dtype, long long i) {
    switch (dtype) {
        case DT_F32: return ((const float*)base)[i];
        case DT_BF16: return bf16_bits_to_f32(((const unsigned short*)base)[i]);
        case DT_F16: return f16_bits_to_f32(((const unsigned short*)base)[i]);
        case DT_F64: return (float)((const double*)base)[i];
        case DT_I32: return (float)((const int*)base)[i];
        default: return (float)(double)((const long long*)base)[i];
    }
}

// Java's (int) and (long) casts of a double: NaN is 0, out-of-range values saturate.
__device__ __forceinline__ int java_d2i(double v) {
    if (v != v) return 0;
    if (v >= 2147483647.0) return 2147483647;
    if (v <= -2147483648.0) return (int)0x80000000;
    return (int)v;
}

__device__ __forceinline__ long long java_d2l(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return 0x7fffffffffffffffLL;
    if (v <= -9223372036854775808.0) return (long long)0x8000000000000000ULL;
    return (long long)v;
}

__device__ __forceinline__ void store_f(void* base, int dtype, long long i, float v) {
    switch (dtype) {
        case DT_F32: ((float*)base)[i] = v; break;
        case DT_BF16: ((unsigned short*)base)[i] = f32_to_bf16_bits(v); break;
        case DT_F16: ((unsigned short*)base)[i] = f32_to_f16_bits(v); break;
        case DT_F64: ((double*)base)[i] = (double)v; break;
        case DT_I32: ((int*)base)[i] = java_d2i((double)v); break;
        default: ((long long*)base)[i] = java_d2l((double)v); break;
    }
}

__device__ __forceinline__ double load_d(const void* base, int dtype, long long i) {
    switch (dtype) {
        case DT_F32: return (double)((const float*)base)[i];
        case DT_BF16: return (double)bf16_bits_to_f32(((const unsigned short*)base)[i]);
        case DT_F16: return (double)f16_bits_to_f32(((const unsigned short*)base)[i]);
        case DT_F64: return ((const double*)base)[i];
        case DT_I32: return (double)((const int*)base)[i];
        default: return (double)((const long long*)base)[i];
    }
}

// CpuStorage.set: floats round through float (RNE at each step), integers truncate like Java casts.
__device__ __forceinline__ void store_d(void* base, int dtype, long long i, double v) {
    switch (dtype) {
        case DT_F32: ((float*)base)[i] = __double2float_rn(v); break;
        case DT_BF16: ((unsigned short*)base)[i] = f32_to_bf16_bits(__double2float_rn(v)); break;
        case DT_F16: ((unsigned short*)base)[i] = f32_to_f16_bits(__double2float_rn(v)); break;
        case DT_F64: ((double*)base)[i] = v; break;
        case DT_I32: ((int*)base)[i] = java_d2i(v); break;
        default: ((long long*)base)[i] = java_d2l(v); break;
    }
}

// An index read from an I32 or I64 tensor.
__device__ __forceinline__ long long load_index(const void* base, int dtype, long long i) {
    return dtype == DT_I32 ? (long long)((const int*)base)[i] : ((const long long*)base)[i];
}

// Records the first error of a launch (and of any later launch until the host reads and clears it).
__device__ __forceinline__ void report_error(Status* status, int code, int op, long long a, long long b) {
    if (status != 0 && atomicCAS(&status->code, 0, code) == 0) {
        status->op = op;
        status->a = a;
        status->b = b;
    }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block; every thread gets the result. `scratch` holds 32 floats; blockDim.x is a
// multiple of 32. The leading __syncthreads makes back-to-back calls with one scratch safe.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < warps ? scratch[lane] : 0.0f;
    return warp_sum(t);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < warps ? scratch[lane] : -f_inf();
    return warp_max(t);
}

// Adds x to a running (max m, sum s of exp(v - m)); NaN, once seen, stays.
__device__ __forceinline__ void online_add(float& m, float& s, float x) {
    if (x > m) {
        s = s * expf(m - x) + 1.0f;
        m = x;
    } else if (x == x && m != -f_inf()) {
        s += expf(x - m);
    } else if (x != x) {
        m = x;  // NaN wins and stays
        s = x;
    }
}

// Combines the (max, sum) pairs of all threads of the block into the block's (max, sum).
__device__ __forceinline__ void block_max_sum(float m, float s, float* scratch, float& mAll, float& sAll) {
    mAll = block_max(m, scratch);
    float scaled = (m == -f_inf()) ? 0.0f : s * expf(m - mAll);
    if (m != m) scaled = m;
    sAll = block_sum(scaled, scratch);
}

// The block's log-sum-exp of its threads' (max, sum) pairs.
__device__ __forceinline__ float block_lse(float m, float s, float* scratch) {
    float mAll;
    float sAll;
    block_max_sum(m, s, scratch, mAll, sAll);
    return mAll + logf(sAll);
}
