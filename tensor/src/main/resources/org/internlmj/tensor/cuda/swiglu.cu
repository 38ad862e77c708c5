// swiglu.cu: SwiGLU forward and backward (CudaSwiGlu.java).
//
//   swiglu_fwd   out = silu(gate) * up
//   swiglu_bwd   with sig = sigmoid(gate): dup = dout * gate * sig,
//                dgate = dout * up * sig * (1 + gate * (1 - sig))
//
// Every operand has a Layout over the common coalesced Shape.
#include "common.cuh"

extern "C" __global__ void swiglu_fwd(const void* gate, int gdt, Layout lg, const void* up, int udt, Layout lu,
                                      void* out, int odt, Layout lo, Shape s, unsigned int n) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float g = load_f(gate, gdt, offset_of(s, lg, i));
        float u = load_f(up, udt, offset_of(s, lu, i));
        store_f(out, odt, offset_of(s, lo, i), g / (1.0f + expf(-g)) * u);
    }
}

extern "C" __global__ void swiglu_bwd(const void* gate, int gdt, Layout lg, const void* up, int udt, Layout lu,
                                      const void* dout, int ddt, Layout ld, void* dgate, int dgdt, Layout ldg,
                                      void* dup, int dudt, Layout ldu, Shape s, unsigned int n) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float g = load_f(gate, gdt, offset_of(s, lg, i));
        float u = load_f(up, udt, offset_of(s, lu, i));
        float d = load_f(dout, ddt, offset_of(s, ld, i));
        float sig = 1.0f / (1.0f + expf(-g));
        store_f(dup, dudt, offset_of(s, ldu, i), d * g * sig);
        store_f(dgate, dgdt, offset_of(s, ldg, i), d * u * sig * (1.0f + g * (1.0f - sig)));
    }
}
