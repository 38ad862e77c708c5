// elementwise.cu: unary, binary and affine maps with broadcasting (CudaElementwise.java).
//
//   unary_map    out = op(x), op an org.internlmj.tensor.UnaryOp ordinal
//   binary_map   out = op(a, b), op a BinaryOp ordinal; MAXIMUM and MINIMUM propagate NaN
//   affine_map   out = fma(x, scale, shift) in fp32, as the CPU backend computes it
//
// Operands are any dtype code, computed in fp32; each has a Layout over the output's coalesced Shape
// (stride 0 where it is broadcast).
#include "common.cuh"

__device__ __forceinline__ float unary_op(int op, float x) {
    switch (op) {
        case 0: return -x;                                  // NEG
        case 1: return fabsf(x);                            // ABS
        case 2: return expf(x);                             // EXP
        case 3: return logf(x);                             // LOG
        case 4: return sqrtf(x);                            // SQRT
        case 5: return 1.0f / sqrtf(x);                     // RSQRT
        case 6: return 1.0f / x;                            // RECIPROCAL
        case 7: return x * x;                               // SQUARE
        case 8: return 1.0f / (1.0f + expf(-x));            // SIGMOID
        case 9: return x / (1.0f + expf(-x));               // SILU
        case 10: return tanhf(x);                           // TANH
        default: return x > 0.0f ? x : 0.0f;                // RELU (NaN -> 0, like the reference)
    }
}

__device__ __forceinline__ float binary_op(int op, float a, float b) {
    switch (op) {
        case 0: return a + b;                               // ADD
        case 1: return a - b;                               // SUB
        case 2: return a * b;                               // MUL
        case 3: return a / b;                               // DIV
        case 4: return (a != a || b != b) ? f_nan() : fmaxf(a, b);   // MAXIMUM
        default: return (a != a || b != b) ? f_nan() : fminf(a, b);  // MINIMUM
    }
}

extern "C" __global__ void unary_map(int op, const void* x, int xdt, Layout lx, void* out, int odt, Layout lo,
                                     Shape s, unsigned int n) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float v = load_f(x, xdt, offset_of(s, lx, i));
        store_f(out, odt, offset_of(s, lo, i), unary_op(op, v));
    }
}

extern "C" __global__ void binary_map(int op, const void* a, int adt, Layout la, const void* b, int bdt, Layout lb,
                                      void* out, int odt, Layout lo, Shape s, unsigned int n) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float va = load_f(a, adt, offset_of(s, la, i));
        float vb = load_f(b, bdt, offset_of(s, lb, i));
        store_f(out, odt, offset_of(s, lo, i), binary_op(op, va, vb));
    }
}

extern "C" __global__ void affine_map(const void* x, int xdt, Layout lx, void* out, int odt, Layout lo, Shape s,
                                      unsigned int n, float scale, float shift) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float v = load_f(x, xdt, offset_of(s, lx, i));
        store_f(out, odt, offset_of(s, lo, i), fmaf(v, scale, shift));
    }
}
