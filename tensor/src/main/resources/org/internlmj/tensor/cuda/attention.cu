// attention.cu: FlashAttention-2-style causal attention over packed sequences (CudaAttention.java).
//
//   attn_tiles        one thread: checks cu_seqlens (reports ERR_BAD_CU_SEQLENS), writes a sanitized copy
//                     that keeps every later index inside [0, T], and the prefix count of `tile`-row tiles
//                     per document, so a grid of ceil(T / tile) + B blocks per head covers every document
//   attn_fwd_dXX      block = one 64-query tile of one document and head; loops over 64-key tiles with an
//                     online softmax; O and the row log-sum-exp (natural log) are written once
//   attn_bwd_dot      Di = sum_e dO[i, e] * O[i, e] per (head, token)
//   attn_bwd_dkdv_dXX block = one 32-key tile: loops over the 64-query tiles that can see it, recomputing
//                     P from the saved log-sum-exp, accumulating dV = P^T dO and dK = scale dS^T Q
//   attn_bwd_dq_dXX   block = one 64-query tile: loops over 32-key tiles, dQ = scale dS K
//
// dQ gets its own pass instead of atomic adds from the dK/dV pass: one more recomputation of S and dP,
// and a result that is the same on every run. Tiles hold fp32 values in shared memory whatever the input
// dtype (bf16, fp16 or fp32 in, fp32 accumulate), rows padded by one float against bank conflicts.
// XX is the head dimension the kernel is compiled for (32, 64, 128); a smaller head dimension runs in the
// next larger kernel with zero padding. 128 threads: thread (rg, cg) = (tid / 8, tid % 8) owns four rows
// and every eighth column of a tile, so row reductions are shuffles among 8 adjacent lanes.
//
// q, k, v, out, dout, dq, dk, dv are contiguous [T, H, d]; lse and Di are [H, T] fp32.
#include "common.cuh"

#define ATT_THREADS 128
#define FWD_BM 64
#define FWD_BN 64
#define BWD_BM 64
#define BWD_BN 32
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

extern "C" __global__ void attn_tiles(const int* cu, int b, int t, int tile, int* safeCu, int* tiles,
                                      Status* status) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    bool bad = cu[0] != 0 || cu[b] != t;
    int prev = 0;
    int count = 0;
    safeCu[0] = 0;
    tiles[0] = 0;
    for (int d = 1; d <= b; ++d) {
        int c = cu[d];
        if (c < prev) bad = true;
        int s = min(max(c, prev), t);
        if (d == b) s = t;
        safeCu[d] = s;
        count += (s - prev + tile - 1) / tile;
        tiles[d] = count;
        prev = s;
    }
    if (bad) report_error(status, ERR_BAD_CU_SEQLENS, 0, cu[0], cu[b]);
}

// The document of tile `bx`: the largest d < b with tiles[d] <= bx (empty documents own no tile).
__device__ __forceinline__ int find_doc(const int* tiles, int b, int bx) {
    int lo = 0;
    int hi = b - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (tiles[mid] <= bx) lo = mid; else hi = mid - 1;
    }
    return lo;
}

// The document of this block's tile and the first row of the tile, for tiles of `rows` rows; false for
// the blocks past the last tile (the grid is an upper bound).
__device__ __forceinline__ bool locate_tile(const int* cu, const int* tiles, int b, int rows, int& docStart,
                                            int& docEnd, int& start) {
    int tile = blockIdx.x;
    if (tile >= tiles[b]) return false;
    int doc = find_doc(tiles, b, tile);
    docStart = cu[doc];
    docEnd = cu[doc + 1];
    start = docStart + (tile - tiles[doc]) * rows;
    return true;
}

// rows [start, start + ROWS) of a [T, H, d] tensor's head h into a padded fp32 tile; rows >= end are 0.
template <int D, int ROWS>
__device__ __forceinline__ void load_tile(float* dst, const void* src, int dt, int start, int end, int h,
                                          int heads, int d) {
    const int LD = D + 1;
    for (int idx = threadIdx.x; idx < ROWS * D; idx += ATT_THREADS) {
        int r = idx / D;
        int c = idx - r * D;
        int row = start + r;
        float val = 0.0f;
        if (row < end && c < d) val = load_f(src, dt, ((long long)row * heads + h) * d + c);
        dst[r * LD + c] = val;
    }
}

template <int D>
__device__ __forceinline__ void attn_fwd(const void* q, const void* k, const void* v, int dt, void* out, int odt,
                                         float* lse, const int* cu, const int* tiles, int b, int t, int heads, int d,
                                         float scale, int causal) {
    extern __shared__ float smem[];
    const int LD = D + 1;
    const int E = D / 8;
    float* sQ = smem;
    float* sKV = sQ + FWD_BM * LD;
    float* sP = sKV + FWD_BN * LD;
    int h = blockIdx.y;
    int docStart, docEnd, qStart;
    if (!locate_tile(cu, tiles, b, FWD_BM, docStart, docEnd, qStart)) return;
    int rg = threadIdx.x >> 3;
    int cg = threadIdx.x & 7;
    float sl2 = scale * LOG2E;

    load_tile<D, FWD_BM>(sQ, q, dt, qStart, docEnd, h, heads, d);
    float o[4][E];
    float mRow[4];
    float lRow[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        mRow[i] = -f_inf();
        lRow[i] = 0.0f;
#pragma unroll
        for (int e = 0; e < E; ++e) o[i][e] = 0.0f;
    }
    int kEnd = causal ? min(docEnd, qStart + FWD_BM) : docEnd;
    for (int kStart = docStart; kStart < kEnd; kStart += FWD_BN) {
        __syncthreads();
        load_tile<D, FWD_BN>(sKV, k, dt, kStart, docEnd, h, heads, d);
        __syncthreads();
        float s[4][8];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) s[i][j] = 0.0f;
#pragma unroll 4
        for (int c = 0; c < D; ++c) {
            float qv[4];
            float kv[8];
#pragma unroll
            for (int i = 0; i < 4; ++i) qv[i] = sQ[(rg * 4 + i) * LD + c];
#pragma unroll
            for (int j = 0; j < 8; ++j) kv[j] = sKV[(cg + 8 * j) * LD + c];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) s[i][j] = fmaf(qv[i], kv[j], s[i][j]);
        }
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            int tq = qStart + rg * 4 + i;
            float rowMax = -f_inf();
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                int tk = kStart + cg + 8 * j;
                bool ok = tk < docEnd && (!causal || tk <= tq);
                s[i][j] = ok ? s[i][j] * sl2 : -f_inf();
                rowMax = fmaxf(rowMax, s[i][j]);
            }
            rowMax = fmaxf(rowMax, __shfl_xor_sync(0xffffffffu, rowMax, 1));
            rowMax = fmaxf(rowMax, __shfl_xor_sync(0xffffffffu, rowMax, 2));
            rowMax = fmaxf(rowMax, __shfl_xor_sync(0xffffffffu, rowMax, 4));
            float mNew = fmaxf(mRow[i], rowMax);
            float mUse = mNew == -f_inf() ? 0.0f : mNew;
            float alpha = exp2f(mRow[i] - mUse);
            float rowSum = 0.0f;
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                s[i][j] = exp2f(s[i][j] - mUse);
                rowSum += s[i][j];
            }
            rowSum += __shfl_xor_sync(0xffffffffu, rowSum, 1);
            rowSum += __shfl_xor_sync(0xffffffffu, rowSum, 2);
            rowSum += __shfl_xor_sync(0xffffffffu, rowSum, 4);
            lRow[i] = lRow[i] * alpha + rowSum;
            mRow[i] = mNew;
#pragma unroll
            for (int e = 0; e < E; ++e) o[i][e] *= alpha;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 8; ++j) sP[(rg * 4 + i) * (FWD_BN + 1) + cg + 8 * j] = s[i][j];
        load_tile<D, FWD_BN>(sKV, v, dt, kStart, docEnd, h, heads, d);
        __syncthreads();
#pragma unroll 4
        for (int c = 0; c < FWD_BN; ++c) {
            float pv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) pv[i] = sP[(rg * 4 + i) * (FWD_BN + 1) + c];
#pragma unroll
            for (int e = 0; e < E; ++e) {
                float vv = sKV[c * LD + cg + 8 * e];
#pragma unroll
                for (int i = 0; i < 4; ++i) o[i][e] = fmaf(pv[i], vv, o[i][e]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        int tq = qStart + rg * 4 + i;
        if (tq < docEnd) {
            float inv = 1.0f / lRow[i];
#pragma unroll
            for (int e = 0; e < E; ++e) {
                int col = cg + 8 * e;
                if (col < d) store_f(out, odt, ((long long)tq * heads + h) * d + col, o[i][e] * inv);
            }
            if (cg == 0) lse[(long long)h * t + tq] = mRow[i] * LN2 + logf(lRow[i]);
        }
    }
}

// One warp per (token, head) row.
extern "C" __global__ void attn_bwd_dot(const void* out, int odt, const void* dout, int ddt, float* di, int t,
                                        int heads, int d) {
    int warpsPerBlock = blockDim.x >> 5;
    int lane = threadIdx.x & 31;
    for (long long row = (long long)blockIdx.x * warpsPerBlock + (threadIdx.x >> 5); row < (long long)t * heads;
         row += (long long)gridDim.x * warpsPerBlock) {
        float acc = 0.0f;
        for (int e = lane; e < d; e += 32) acc += load_f(out, odt, row * d + e) * load_f(dout, ddt, row * d + e);
        acc = warp_sum(acc);
        if (lane == 0) {
            int tok = (int)(row / heads);
            int h = (int)(row - (long long)tok * heads);
            di[(long long)h * t + tok] = acc;
        }
    }
}

// Loads the saved log-sum-exp (in log2 units) and Di of a query tile; rows past the document get +inf
// so that their P is 0.
__device__ __forceinline__ void load_row_stats(float* sLse, float* sDi, const float* lse, const float* di, int start,
                                               int end, int h, int t) {
    for (int r = threadIdx.x; r < BWD_BM; r += ATT_THREADS) {
        int row = start + r;
        bool ok = row < end;
        sLse[r] = ok ? lse[(long long)h * t + row] * LOG2E : f_inf();
        sDi[r] = ok ? di[(long long)h * t + row] : 0.0f;
    }
}

// The backward's two 64 x 32 products for thread (rg, cg): S = Q K^T and dP = dO V^T over the head
// dimension, for its rows rg*4 .. rg*4+3 and its key columns cg, cg+8, cg+16, cg+24.
template <int D>
__device__ __forceinline__ void scores_and_dp(const float* sQ, const float* sdO, const float* sK, const float* sV,
                                              int rg, int cg, float (&sc)[4][4], float (&dp)[4][4]) {
    const int LD = D + 1;
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            sc[i][j] = 0.0f;
            dp[i][j] = 0.0f;
        }
#pragma unroll 4
    for (int c = 0; c < D; ++c) {
        float qv[4];
        float ov[4];
        float kv[4];
        float vv[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            qv[i] = sQ[(rg * 4 + i) * LD + c];
            ov[i] = sdO[(rg * 4 + i) * LD + c];
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            kv[j] = sK[(cg + 8 * j) * LD + c];
            vv[j] = sV[(cg + 8 * j) * LD + c];
        }
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                sc[i][j] = fmaf(qv[i], kv[j], sc[i][j]);
                dp[i][j] = fmaf(ov[i], vv[j], dp[i][j]);
            }
    }
}

template <int D>
__device__ __forceinline__ void attn_bwd_dkdv(const void* q, const void* k, const void* v, int dt, const void* dout,
                                              int ddt, const float* lse, const float* di, const int* cu,
                                              const int* tiles, int b, int t, int heads, int d, float scale,
                                              int causal, void* dk, void* dv, int gdt) {
    extern __shared__ float smem[];
    const int LD = D + 1;
    const int E = D / 16;
    float* sK = smem;
    float* sV = sK + BWD_BN * LD;
    float* sQ = sV + BWD_BN * LD;
    float* sdO = sQ + BWD_BM * LD;
    float* sP = sdO + BWD_BM * LD;
    float* sLse = sP + BWD_BM * (BWD_BN + 1);
    float* sDi = sLse + BWD_BM;
    int h = blockIdx.y;
    int docStart, docEnd, kStart;
    if (!locate_tile(cu, tiles, b, BWD_BN, docStart, docEnd, kStart)) return;
    int rg = threadIdx.x >> 3;
    int cg = threadIdx.x & 7;
    int a = threadIdx.x >> 4;
    int bc = threadIdx.x & 15;
    float sl2 = scale * LOG2E;

    load_tile<D, BWD_BN>(sK, k, dt, kStart, docEnd, h, heads, d);
    load_tile<D, BWD_BN>(sV, v, dt, kStart, docEnd, h, heads, d);
    float accK[4][E];
    float accV[4][E];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int e = 0; e < E; ++e) {
            accK[i][e] = 0.0f;
            accV[i][e] = 0.0f;
        }
    int qBegin = causal ? kStart : docStart;
    for (int qStart = qBegin; qStart < docEnd; qStart += BWD_BM) {
        __syncthreads();
        load_tile<D, BWD_BM>(sQ, q, dt, qStart, docEnd, h, heads, d);
        load_tile<D, BWD_BM>(sdO, dout, ddt, qStart, docEnd, h, heads, d);
        load_row_stats(sLse, sDi, lse, di, qStart, docEnd, h, t);
        __syncthreads();
        float sc[4][4];
        float dp[4][4];
        scores_and_dp<D>(sQ, sdO, sK, sV, rg, cg, sc, dp);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            int r = rg * 4 + i;
            int tq = qStart + r;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                int tk = kStart + cg + 8 * j;
                bool ok = tq < docEnd && tk < docEnd && (!causal || tk <= tq);
                float p = ok ? exp2f(sc[i][j] * sl2 - sLse[r]) : 0.0f;
                sP[r * (BWD_BN + 1) + cg + 8 * j] = p;
                sc[i][j] = p * (dp[i][j] - sDi[r]);
            }
        }
        __syncthreads();
#pragma unroll 4
        for (int r = 0; r < BWD_BM; ++r) {
            float pv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) pv[i] = sP[r * (BWD_BN + 1) + a * 4 + i];
#pragma unroll
            for (int e = 0; e < E; ++e) {
                float g = sdO[r * LD + bc + 16 * e];
#pragma unroll
                for (int i = 0; i < 4; ++i) accV[i][e] = fmaf(pv[i], g, accV[i][e]);
            }
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) sP[(rg * 4 + i) * (BWD_BN + 1) + cg + 8 * j] = sc[i][j];
        __syncthreads();
#pragma unroll 4
        for (int r = 0; r < BWD_BM; ++r) {
            float sv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) sv[i] = sP[r * (BWD_BN + 1) + a * 4 + i];
#pragma unroll
            for (int e = 0; e < E; ++e) {
                float qq = sQ[r * LD + bc + 16 * e];
#pragma unroll
                for (int i = 0; i < 4; ++i) accK[i][e] = fmaf(sv[i], qq, accK[i][e]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        int tk = kStart + a * 4 + i;
        if (tk < docEnd) {
#pragma unroll
            for (int e = 0; e < E; ++e) {
                int col = bc + 16 * e;
                if (col < d) {
                    long long at = ((long long)tk * heads + h) * d + col;
                    store_f(dk, gdt, at, accK[i][e] * scale);
                    store_f(dv, gdt, at, accV[i][e]);
                }
            }
        }
    }
}

template <int D>
__device__ __forceinline__ void attn_bwd_dq(const void* q, const void* k, const void* v, int dt, const void* dout,
                                            int ddt, const float* lse, const float* di, const int* cu,
                                            const int* tiles, int b, int t, int heads, int d, float scale, int causal,
                                            void* dq, int gdt) {
    extern __shared__ float smem[];
    const int LD = D + 1;
    const int E = D / 8;
    float* sQ = smem;
    float* sdO = sQ + BWD_BM * LD;
    float* sK = sdO + BWD_BM * LD;
    float* sV = sK + BWD_BN * LD;
    float* sdS = sV + BWD_BN * LD;
    float* sLse = sdS + BWD_BM * (BWD_BN + 1);
    float* sDi = sLse + BWD_BM;
    int h = blockIdx.y;
    int docStart, docEnd, qStart;
    if (!locate_tile(cu, tiles, b, BWD_BM, docStart, docEnd, qStart)) return;
    int rg = threadIdx.x >> 3;
    int cg = threadIdx.x & 7;
    float sl2 = scale * LOG2E;

    load_tile<D, BWD_BM>(sQ, q, dt, qStart, docEnd, h, heads, d);
    load_tile<D, BWD_BM>(sdO, dout, ddt, qStart, docEnd, h, heads, d);
    load_row_stats(sLse, sDi, lse, di, qStart, docEnd, h, t);
    float acc[4][E];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int e = 0; e < E; ++e) acc[i][e] = 0.0f;
    int kEnd = causal ? min(docEnd, qStart + BWD_BM) : docEnd;
    for (int kStart = docStart; kStart < kEnd; kStart += BWD_BN) {
        __syncthreads();
        load_tile<D, BWD_BN>(sK, k, dt, kStart, docEnd, h, heads, d);
        load_tile<D, BWD_BN>(sV, v, dt, kStart, docEnd, h, heads, d);
        __syncthreads();
        float sc[4][4];
        float dp[4][4];
        scores_and_dp<D>(sQ, sdO, sK, sV, rg, cg, sc, dp);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            int r = rg * 4 + i;
            int tq = qStart + r;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                int tk = kStart + cg + 8 * j;
                bool ok = tq < docEnd && tk < docEnd && (!causal || tk <= tq);
                float p = ok ? exp2f(sc[i][j] * sl2 - sLse[r]) : 0.0f;
                sdS[r * (BWD_BN + 1) + cg + 8 * j] = p * (dp[i][j] - sDi[r]);
            }
        }
        __syncthreads();
#pragma unroll 4
        for (int c = 0; c < BWD_BN; ++c) {
            float sv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) sv[i] = sdS[(rg * 4 + i) * (BWD_BN + 1) + c];
#pragma unroll
            for (int e = 0; e < E; ++e) {
                float kk = sK[c * LD + cg + 8 * e];
#pragma unroll
                for (int i = 0; i < 4; ++i) acc[i][e] = fmaf(sv[i], kk, acc[i][e]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        int tq = qStart + rg * 4 + i;
        if (tq < docEnd) {
#pragma unroll
            for (int e = 0; e < E; ++e) {
                int col = cg + 8 * e;
                if (col < d) store_f(dq, gdt, ((long long)tq * heads + h) * d + col, acc[i][e] * scale);
            }
        }
    }
}

#define ATTENTION_KERNELS(D)                                                                                      \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS) attn_fwd_d##D(                                       \
            const void* q, const void* k, const void* v, int dt, void* out, int odt, float* lse, const int* cu,      \
            const int* tiles, int b, int t, int heads, int d, float scale, int causal) {                          \
        attn_fwd<D>(q, k, v, dt, out, odt, lse, cu, tiles, b, t, heads, d, scale, causal);                        \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS) attn_bwd_dkdv_d##D(                                  \
            const void* q, const void* k, const void* v, int dt, const void* dout, int ddt, const float* lse,        \
            const float* di, const int* cu, const int* tiles, int b, int t, int heads, int d, float scale,         \
            int causal, void* dk, void* dv, int gdt) {                                                           \
        attn_bwd_dkdv<D>(q, k, v, dt, dout, ddt, lse, di, cu, tiles, b, t, heads, d, scale, causal, dk, dv, gdt); \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(ATT_THREADS) attn_bwd_dq_d##D(                                    \
            const void* q, const void* k, const void* v, int dt, const void* dout, int ddt, const float* lse,        \
            const float* di, const int* cu, const int* tiles, int b, int t, int heads, int d, float scale,         \
            int causal, void* dq, int gdt) {                                                                     \
        attn_bwd_dq<D>(q, k, v, dt, dout, ddt, lse, di, cu, tiles, b, t, heads, d, scale, causal, dq, gdt);       \
    }

ATTENTION_KERNELS(32)
ATTENTION_KERNELS(64)
ATTENTION_KERNELS(128)
