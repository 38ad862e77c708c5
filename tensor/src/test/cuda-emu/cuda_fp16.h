// cuda_fp16.h for cuda_emu.h: the half conversions the kernels use, through GCC's _Float16.
#pragma once
struct __half {
    _Float16 v;
};
inline __half __ushort_as_half(unsigned short u) { __half h; __builtin_memcpy(&h.v, &u, 2); return h; }
inline unsigned short __half_as_ushort(__half h) { unsigned short u; __builtin_memcpy(&u, &h.v, 2); return u; }
inline float __half2float(__half h) { return (float)h.v; }
inline __half __float2half_rn(float f) { __half h; h.v = (_Float16)f; return h; }
