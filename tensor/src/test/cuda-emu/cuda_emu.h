// cuda_emu.h: just enough of CUDA's execution model to run the backend's kernel sources on a CPU, for
// tests on machines without a GPU. A launch runs its blocks one after another; a block's threads are
// real threads, __syncthreads is a barrier over them, warp shuffles exchange values through a per-warp
// slot array between two warp barriers, and shared memory is ordinary memory (static variables for
// __shared__, one buffer for the dynamic part), which is sound because only one block runs at a time.
// Arithmetic follows IEEE with contraction off (-ffp-contract=off), which is what the explicitly rounded
// intrinsics ask for; the approximate hardware functions (exp2f, ...) are the C library's.
#pragma once
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;
inline float g_dynamic_smem[64 * 1024];
inline std::barrier<>* g_block_barrier = nullptr;
inline std::vector<std::unique_ptr<std::barrier<>>> g_warp_barriers;

inline void __syncthreads() { g_block_barrier->arrive_and_wait(); }

inline int emu_linear_thread() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }

template <class T>
T __shfl_xor_sync(unsigned, T v, int laneMask) {
    static T slots[1024];
    int t = emu_linear_thread();
    int warp = t / 32;
    slots[t] = v;
    g_warp_barriers[warp]->arrive_and_wait();
    T r = slots[warp * 32 + ((t % 32) ^ laneMask)];
    g_warp_barriers[warp]->arrive_and_wait();
    return r;
}

template <class T>
T min(T a, T b) { return a < b ? a : b; }
template <class T>
T max(T a, T b) { return a > b ? a : b; }

inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return std::sqrt(a); }
inline float __double2float_rn(double a) { return (float)a; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int u; std::memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline double __longlong_as_double(long long u) { double f; std::memcpy(&f, &u, 8); return f; }

inline int atomicCAS(int* address, int compare, int value) {
    std::atomic_ref<int> a(*address);
    a.compare_exchange_strong(compare, value);
    return compare;
}

// Runs `body` for every thread of every block of the grid.
inline void emu_launch(dim3 grid, dim3 block, const std::function<void()>& body) {
    gridDim = grid;
    blockDim = block;
    int threads = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                std::barrier<> blockBarrier(threads);
                g_block_barrier = &blockBarrier;
                g_warp_barriers.clear();
                for (int w = 0; w < (threads + 31) / 32; ++w)
                    g_warp_barriers.push_back(std::make_unique<std::barrier<>>(std::min(32, threads - 32 * w)));
                std::vector<std::thread> pool;
                for (int t = 0; t < threads; ++t) {
                    pool.emplace_back([&, t, bx, by, bz] {
                        threadIdx = dim3{(unsigned)(t % block.x), (unsigned)((t / block.x) % block.y),
                                         (unsigned)(t / (block.x * block.y))};
                        blockIdx = dim3{bx, by, bz};
                        body();
                    });
                }
                for (auto& th : pool) th.join();
            }
}
