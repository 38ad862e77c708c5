// adamw.cu: the multi-tensor AdamW step on fp32 master weights (CudaAdamW.java).
//
//   adamw_multi   one launch updates up to ADAMW_MAX_TENSORS tensors: block b works on chunk
//                 blockChunk[b] of tensor blockTensor[b] (the table is built on the host, as apex's
//                 multi_tensor_apply does), so many small tensors (norm weights) cost one launch
//
// The arithmetic is org.internlmj.tensor.cpu.AdamW's, operation for operation, each an explicitly
// rounded fp32 intrinsic so nvcc cannot fuse it into an FMA the CPU does not do: the GPU step is bit
// for bit the CPU step.
//   p = p * decay; g = grad * gradScale; m = m * b1 + c1 * g; v = v * b2 + (c2 * g) * g;
//   p = p - (m / (sqrt(v) / bc2sqrt + eps)) * stepSize;  copy = round(p) in the copy's dtype
#include "common.cuh"

#define ADAMW_MAX_TENSORS 24
#define ADAMW_MAX_BLOCKS 320
#define ADAMW_CHUNK 65536

struct AdamWList {
    long long n[ADAMW_MAX_TENSORS];
    unsigned long long p[ADAMW_MAX_TENSORS];
    unsigned long long g[ADAMW_MAX_TENSORS];
    unsigned long long m[ADAMW_MAX_TENSORS];
    unsigned long long v[ADAMW_MAX_TENSORS];
    unsigned long long copy[ADAMW_MAX_TENSORS];
    int gradDtype;
    int copyDtype;
    int count;
    unsigned char blockTensor[ADAMW_MAX_BLOCKS];
    int blockChunk[ADAMW_MAX_BLOCKS];
};

// The Java side (CudaAdamW.LIST_*) writes this layout byte for byte.
static_assert(__builtin_offsetof(AdamWList, p) == 192, "AdamWList.p");
static_assert(__builtin_offsetof(AdamWList, copy) == 960, "AdamWList.copy");
static_assert(__builtin_offsetof(AdamWList, gradDtype) == 1152, "AdamWList.gradDtype");
static_assert(__builtin_offsetof(AdamWList, blockTensor) == 1164, "AdamWList.blockTensor");
static_assert(__builtin_offsetof(AdamWList, blockChunk) == 1484, "AdamWList.blockChunk");
static_assert(sizeof(AdamWList) == 2768, "AdamWList size");

extern "C" __global__ void adamw_multi(const AdamWList list, float decay, float gradScale, float beta1,
                                       float oneMinusBeta1, float beta2, float oneMinusBeta2, float stepSize,
                                       float bc2Sqrt, float eps) {
    int tensor = list.blockTensor[blockIdx.x];
    long long start = (long long)list.blockChunk[blockIdx.x] * ADAMW_CHUNK;
    long long end = min(list.n[tensor], start + ADAMW_CHUNK);
    float* p = (float*)list.p[tensor];
    const void* grad = (const void*)list.g[tensor];
    float* m = (float*)list.m[tensor];
    float* v = (float*)list.v[tensor];
    void* copy = (void*)list.copy[tensor];
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        float gi = __fmul_rn(load_f(grad, list.gradDtype, i), gradScale);
        float mi = __fadd_rn(__fmul_rn(m[i], beta1), __fmul_rn(oneMinusBeta1, gi));
        float vi = __fadd_rn(__fmul_rn(v[i], beta2), __fmul_rn(__fmul_rn(oneMinusBeta2, gi), gi));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2Sqrt), eps);
        float pi = __fsub_rn(__fmul_rn(p[i], decay), __fmul_rn(__fdiv_rn(mi, denom), stepSize));
        p[i] = pi;
        m[i] = mi;
        v[i] = vi;
        if (copy != 0) store_f(copy, list.copyDtype, i, pi);
    }
}
