// copy.cu: fill and copy for every dtype and layout (CudaCopy.java).
//
//   fill_strided    out[i] = value, converted from double like CpuStorage.set
//   copy_raw        same-dtype strided copy that moves the bits unchanged (NaN payloads included)
//   copy_convert    strided copy with conversion through double: exactly the CPU backend's conversions
//
// Every kernel walks the linear index of a coalesced Shape with a grid-stride loop; each operand has
// its own Layout over that shape (stride 0 broadcasts).
#include "common.cuh"

extern "C" __global__ void fill_strided(void* out, int dtype, Layout lo, Shape s, unsigned int n, double value) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        store_d(out, dtype, offset_of(s, lo, i), value);
    }
}

extern "C" __global__ void copy_raw(const void* src, Layout ls, void* dst, Layout ld, Shape s, unsigned int n,
                                    int elementBytes) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        long long a = offset_of(s, ls, i);
        long long b = offset_of(s, ld, i);
        switch (elementBytes) {
            case 2: ((unsigned short*)dst)[b] = ((const unsigned short*)src)[a]; break;
            case 4: ((unsigned int*)dst)[b] = ((const unsigned int*)src)[a]; break;
            default: ((unsigned long long*)dst)[b] = ((const unsigned long long*)src)[a]; break;
        }
    }
}

extern "C" __global__ void copy_convert(const void* src, int sdt, Layout ls, void* dst, int ddt, Layout ld, Shape s,
                                        unsigned int n) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        store_d(dst, ddt, offset_of(s, ld, i), load_d(src, sdt, offset_of(s, ls, i)));
    }
}
