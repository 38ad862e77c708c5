// random.cu: counter-based random fill (CudaRandom.java).
//
//   philox_fill   element i = f(Philox4x32-10(key = seed, counter = offset + i)), stored like CpuStorage.set
//
// The generator, the bit selection and the double formulas are org.internlmj.tensor.Philox's:
// uniform a + span * u with u = (w0 >>> 8) * 2^-24; normal a + b * sqrt(-2 ln u1) cos(2 pi u2) with
// u1 = ((w0 >>> 8) + 1) * 2^-24, u2 = (w1 >>> 8) * 2^-24. Every double operation is written with an
// explicitly rounded intrinsic so that nvcc cannot contract it into a fused multiply-add that Java does
// not do: uniform numbers are bit-identical to the CPU's; normal ones differ only where log or cos of
// the two math libraries differ in the last bit and that difference survives rounding to the stored type.
#include "common.cuh"

__device__ __forceinline__ void philox_words01(unsigned long long seed, unsigned long long counter,
                                               unsigned int& w0, unsigned int& w1) {
    unsigned int c0 = (unsigned int)counter;
    unsigned int c1 = (unsigned int)(counter >> 32);
    unsigned int c2 = 0;
    unsigned int c3 = 0;
    unsigned int k0 = (unsigned int)seed;
    unsigned int k1 = (unsigned int)(seed >> 32);
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        unsigned int hi0 = __umulhi(0xD2511F53u, c0);
        unsigned int lo0 = 0xD2511F53u * c0;
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c2);
        unsigned int lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    w0 = c0;
    w1 = c1;
}

extern "C" __global__ void philox_fill(void* out, int dtype, unsigned int n, unsigned long long seed,
                                       unsigned long long offset, int normal, double a, double b, double span) {
    const double twoPowM24 = 1.0 / 16777216.0;
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        unsigned int w0, w1;
        philox_words01(seed, offset + i, w0, w1);
        double v;
        if (normal) {
            double u1 = (double)((w0 >> 8) + 1) * twoPowM24;
            double u2 = (double)(w1 >> 8) * twoPowM24;
            double radius = __dsqrt_rn(__dmul_rn(-2.0, log(u1)));
            double z = __dmul_rn(radius, cos(__dmul_rn(6.283185307179586, u2)));
            v = __dadd_rn(a, __dmul_rn(b, z));
        } else {
            double u = (double)(w0 >> 8) * twoPowM24;
            v = __dadd_rn(a, __dmul_rn(span, u));
        }
        store_d(out, dtype, i, v);
    }
}
