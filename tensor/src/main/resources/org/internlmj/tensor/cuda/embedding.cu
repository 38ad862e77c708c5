// embedding.cu: embedding lookup and its deterministic scatter-add backward (CudaEmbedding.java).
//
//   embedding_fwd        out[t, :] = weight[ids[t], :]; an id outside [0, V) is reported and its row zeroed
//   embedding_keys       key[t] = (id << 32) | t, bad ids sorting last; padding keys up to a power of two
//   bitonic_sort_local   sorts each 2048-key chunk in shared memory (every stage k <= 2048)
//   bitonic_merge_global one compare-exchange step (k, j) with j >= 2048, across the whole array
//   bitonic_merge_local  the remaining steps j = 1024 .. 1 of stage k inside each 2048-key chunk
//   embedding_bwd_rows   one block per sorted position; the first position of each id sums that id's
//                        dout rows in token order and adds the sum to dweight[id]: no atomics, so the
//                        result is the same on every run
#include "common.cuh"

#define SORT_CHUNK 2048

extern "C" __global__ void embedding_fwd(const void* weight, int wdt, long long wRow, long long wOff, const void* ids,
                                         int idt, long long idStride, long long idOff, void* out, int odt,
                                         long long oRow, long long oOff, int t, int h, int vocab, Status* status) {
    for (int tok = blockIdx.x; tok < t; tok += gridDim.x) {
        long long id = load_index(ids, idt, idOff + (long long)tok * idStride);
        bool ok = id >= 0 && id < vocab;
        if (!ok && threadIdx.x == 0) report_error(status, ERR_INDEX_OUT_OF_RANGE, 0, tok, id);
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float v = ok ? load_f(weight, wdt, wOff + id * wRow + j) : 0.0f;
            store_f(out, odt, oOff + (long long)tok * oRow + j, v);
        }
    }
}

extern "C" __global__ void embedding_keys(const void* ids, int idt, long long idStride, long long idOff, int t,
                                          int padded, int vocab, unsigned long long* keys, Status* status) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < padded; i += gridDim.x * blockDim.x) {
        unsigned long long key = 0xffffffffffffffffULL;
        if (i < t) {
            long long id = load_index(ids, idt, idOff + (long long)i * idStride);
            if (id >= 0 && id < vocab) {
                key = ((unsigned long long)id << 32) | (unsigned int)i;
            } else {
                report_error(status, ERR_INDEX_OUT_OF_RANGE, 1, i, id);
                key = (0xffffffffULL << 32) | (unsigned int)i;
            }
        }
        keys[i] = key;
    }
}

// Orders a[i] and a[partner] (partner > i) for stage k: ascending where bit k of the global index
// `at` is 0, descending where it is 1.
__device__ __forceinline__ void compare_exchange(unsigned long long* a, int i, int partner, int at, int k) {
    unsigned long long x = a[i];
    unsigned long long y = a[partner];
    bool ascending = (at & k) == 0;
    if ((x > y) == ascending) {
        a[i] = y;
        a[partner] = x;
    }
}

// Step j of stage k over a chunk of keys in shared memory that starts at global index `base`.
__device__ __forceinline__ void shared_stage(unsigned long long* s, int base, int k, int j) {
    for (int i = threadIdx.x; i < SORT_CHUNK; i += blockDim.x) {
        int partner = i ^ j;
        if (partner > i) compare_exchange(s, i, partner, base + i, k);
    }
    __syncthreads();
}

// One block of 1024 threads per chunk; the chunk's global position gives every element its direction,
// so the chunks come out as the alternating runs the next stages merge.
extern "C" __global__ void bitonic_sort_local(unsigned long long* keys, int n) {
    __shared__ unsigned long long s[SORT_CHUNK];
    int base = blockIdx.x * SORT_CHUNK;
    for (int i = threadIdx.x; i < SORT_CHUNK; i += blockDim.x) s[i] = base + i < n ? keys[base + i] : 0xffffffffffffffffULL;
    __syncthreads();
    int limit = min(n, SORT_CHUNK);
    for (int k = 2; k <= limit; k <<= 1) {
        for (int j = k >> 1; j > 0; j >>= 1) {
            shared_stage(s, base, k, j);
        }
    }
    for (int i = threadIdx.x; i < SORT_CHUNK; i += blockDim.x) {
        if (base + i < n) keys[base + i] = s[i];
    }
}

extern "C" __global__ void bitonic_merge_global(unsigned long long* keys, int n, int k, int j) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        int partner = i ^ j;
        if (partner > i) compare_exchange(keys, i, partner, i, k);
    }
}

extern "C" __global__ void bitonic_merge_local(unsigned long long* keys, int n, int k) {
    __shared__ unsigned long long s[SORT_CHUNK];
    int base = blockIdx.x * SORT_CHUNK;
    for (int i = threadIdx.x; i < SORT_CHUNK; i += blockDim.x) s[i] = keys[base + i];
    __syncthreads();
    for (int j = SORT_CHUNK >> 1; j > 0; j >>= 1) {
        shared_stage(s, base, k, j);
    }
    for (int i = threadIdx.x; i < SORT_CHUNK; i += blockDim.x) keys[base + i] = s[i];
}

extern "C" __global__ void embedding_bwd_rows(const unsigned long long* keys, int t, const void* dout, int ddt,
                                              long long dRow, long long dOff, void* dweight, int wdt, long long wRow,
                                              long long wOff, int h) {
    for (int pos = blockIdx.x; pos < t; pos += gridDim.x) {
        unsigned long long key = keys[pos];
        unsigned int id = (unsigned int)(key >> 32);
        if (id == 0xffffffffu) continue;
        if (pos > 0 && (unsigned int)(keys[pos - 1] >> 32) == id) continue;
        for (int j = threadIdx.x; j < h; j += blockDim.x) {
            float acc = 0.0f;
            for (int e = pos; e < t && (unsigned int)(keys[e] >> 32) == id; ++e) {
                unsigned int tok = (unsigned int)keys[e];
                acc += load_f(dout, ddt, dOff + (long long)tok * dRow + j);
            }
            long long wi = wOff + (long long)id * wRow + j;
            store_f(dweight, wdt, wi, load_f(dweight, wdt, wi) + acc);
        }
    }
}
