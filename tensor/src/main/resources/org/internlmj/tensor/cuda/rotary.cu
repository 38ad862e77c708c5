// rotary.cu: rotary position embedding, rotate-half form, forward and inverse (CudaRotary.java).
//
//   rotary   one block per token: each thread takes pairs j of the head dimension, computes
//            theta = pos * base^(-2j/D) and its cos/sin in double once (as the CPU backend does), rounds
//            them to float and rotates that pair in every head. The products and differences are
//            explicitly rounded fp32 operations, like Java's, so the result matches the CPU bit for bit
//            wherever the two libraries' double cos/sin round to the same float.
//
// x and out are [T, H, D] with contiguous D (token and head strides given); out may be x.
#include "common.cuh"

extern "C" __global__ void rotary(const void* x, int xdt, long long xsT, long long xsH, long long xOff, void* out,
                                  int odt, long long osT, long long osH, long long oOff, const void* positions,
                                  int pdt, long long posStride, long long posOff, int t, int heads, int d,
                                  double base, int inverse, Status* status) {
    int half = d / 2;
    for (int tok = blockIdx.x; tok < t; tok += gridDim.x) {
        long long p = load_index(positions, pdt, posOff + (long long)tok * posStride);
        if (p < -2147483648LL || p > 2147483647LL) {
            if (threadIdx.x == 0) report_error(status, ERR_POSITION_RANGE, 0, tok, p);
            continue;
        }
        for (int j = threadIdx.x; j < half; j += blockDim.x) {
            double invFreq = pow(base, __ddiv_rn(-2.0 * (double)j, (double)d));
            double theta = __dmul_rn((double)p, invFreq);
            float c = __double2float_rn(cos(theta));
            float s = __double2float_rn(sin(theta));
            if (inverse) s = -s;
            for (int h = 0; h < heads; ++h) {
                long long xb = xOff + tok * xsT + h * xsH;
                long long ob = oOff + tok * osT + h * osH;
                float x1 = load_f(x, xdt, xb + j);
                float x2 = load_f(x, xdt, xb + j + half);
                store_f(out, odt, ob + j, __fsub_rn(__fmul_rn(x1, c), __fmul_rn(x2, s)));
                store_f(out, odt, ob + j + half, __fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s)));
            }
        }
    }
}
