// Runs the CUDA backend's kernel sources under cuda_emu.h and compares them with plain double
// references: indexing, masking, tiling, reductions and sorting are checked without a GPU. Prints one
// "OK"/"FAIL" line per check and, for the JVM side of the test, the random kernel's output; exits 1 on
// a failure. Built and run by CudaEmulatedKernelsTest.
#include "cuda_emu.h"
#include <cstdio>
#include <random>
#include <string>

#include "copy.cu"
#include "random.cu"
#include "reduce.cu"
#include "softmax.cu"
#include "rmsnorm.cu"
#include "crossentropy.cu"
#include "embedding.cu"
#include "adamw.cu"
#include "attention.cu"

static int failures = 0;
static std::mt19937_64 rng(12345);

static std::vector<float> randn(size_t n, double std = 1.0) {
    std::normal_distribution<double> d(0.0, std);
    std::vector<float> v(n);
    for (auto& x : v) x = (float)d(rng);
    return v;
}

static void check(const std::string& name, const std::vector<double>& ref, const std::vector<float>& got,
                  double bound) {
    double num = 0, den = 0;
    bool nan = false;
    for (size_t i = 0; i < ref.size(); ++i) {
        if (std::isnan(got[i])) nan = true;
        num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    double err = nan ? INFINITY : std::sqrt(num / std::max(den, 1e-300));
    bool ok = err <= bound;
    if (!ok) failures++;
    std::printf("%s %-60s %.3e (bound %.1e)\n", ok ? "OK  " : "FAIL", name.c_str(), err, bound);
}

static Shape shape1(int n) {
    Shape s{};
    s.rank = 1;
    s.size[0] = n;
    return s;
}

static Layout layout1(int offset, int stride) {
    Layout l{};
    l.offset = offset;
    l.stride[0] = stride;
    return l;
}

// ------------------------------------------------------------------------------------------ attention

struct Attn {
    int t, heads, d;
    std::vector<int> cu;
    bool causal;
};

static void attention_reference(const Attn& a, const std::vector<float>& q, const std::vector<float>& k,
                                const std::vector<float>& v, const std::vector<float>& dout, float scale,
                                std::vector<double>& out, std::vector<double>& lse, std::vector<double>& dq,
                                std::vector<double>& dk, std::vector<double>& dv) {
    int hd = a.heads * a.d;
    out.assign((size_t)a.t * hd, 0);
    lse.assign((size_t)a.heads * a.t, 0);
    dq.assign(out.size(), 0);
    dk.assign(out.size(), 0);
    dv.assign(out.size(), 0);
    for (size_t doc = 0; doc + 1 < a.cu.size(); ++doc)
        for (int h = 0; h < a.heads; ++h)
            for (int i = a.cu[doc]; i < a.cu[doc + 1]; ++i) {
                int last = a.causal ? i : a.cu[doc + 1] - 1;
                std::vector<double> p;
                double mx = -INFINITY;
                for (int j = a.cu[doc]; j <= last; ++j) {
                    double s = 0;
                    for (int e = 0; e < a.d; ++e) s += (double)q[(size_t)i * hd + h * a.d + e] * k[(size_t)j * hd + h * a.d + e];
                    p.push_back(s * scale);
                    mx = std::max(mx, s * scale);
                }
                double sum = 0;
                for (double s : p) sum += std::exp(s - mx);
                double z = mx + std::log(sum);
                lse[(size_t)h * a.t + i] = z;
                for (size_t jj = 0; jj < p.size(); ++jj) p[jj] = std::exp(p[jj] - z);
                for (size_t jj = 0; jj < p.size(); ++jj) {
                    int j = a.cu[doc] + (int)jj;
                    for (int e = 0; e < a.d; ++e) out[(size_t)i * hd + h * a.d + e] += p[jj] * v[(size_t)j * hd + h * a.d + e];
                }
            }
    for (size_t doc = 0; doc + 1 < a.cu.size(); ++doc)
        for (int h = 0; h < a.heads; ++h)
            for (int i = a.cu[doc]; i < a.cu[doc + 1]; ++i) {
                size_t qi = (size_t)i * hd + h * a.d;
                double di = 0;
                for (int e = 0; e < a.d; ++e) di += dout[qi + e] * out[qi + e];
                int last = a.causal ? i : a.cu[doc + 1] - 1;
                for (int j = a.cu[doc]; j <= last; ++j) {
                    size_t kj = (size_t)j * hd + h * a.d;
                    double s = 0, dp = 0;
                    for (int e = 0; e < a.d; ++e) {
                        s += (double)q[qi + e] * k[kj + e];
                        dp += (double)dout[qi + e] * v[kj + e];
                    }
                    double p = std::exp(s * scale - lse[(size_t)h * a.t + i]);
                    double ds = p * (dp - di);
                    for (int e = 0; e < a.d; ++e) {
                        dv[kj + e] += p * dout[qi + e];
                        dq[qi + e] += scale * ds * k[kj + e];
                        dk[kj + e] += scale * ds * q[qi + e];
                    }
                }
            }
}

template <class F>
static void with_tiles(const Attn& a, int tile, std::vector<int>& safe, std::vector<int>& tiles, Status* st) {
    int b = (int)a.cu.size() - 1;
    safe.assign(b + 1, 0);
    tiles.assign(b + 1, 0);
    emu_launch({1, 1, 1}, {32, 1, 1}, [&] { attn_tiles(a.cu.data(), b, a.t, tile, safe.data(), tiles.data(), st); });
}

static void attention_case(const Attn& a) {
    int n = a.t * a.heads * a.d;
    auto q = randn(n), k = randn(n), v = randn(n), dout = randn(n);
    float scale = 1.0f / std::sqrt((float)a.d);
    std::vector<double> rOut, rLse, rDq, rDk, rDv;
    attention_reference(a, q, k, v, dout, scale, rOut, rLse, rDq, rDk, rDv);
    int b = (int)a.cu.size() - 1;
    Status st{};
    std::vector<int> safe, tiles;
    with_tiles<int>(a, 64, safe, tiles, &st);
    std::vector<float> out(n, NAN), lse((size_t)a.heads * a.t, NAN);
    int hd = a.d <= 32 ? 32 : a.d <= 64 ? 64 : 128;
    dim3 grid{(unsigned)((a.t + 63) / 64 + b), (unsigned)a.heads, 1};
    auto fwd = [&] {
        if (hd == 32) attn_fwd_d32(q.data(), k.data(), v.data(), DT_F32, out.data(), DT_F32, lse.data(), safe.data(), tiles.data(), b, a.t, a.heads, a.d, scale, a.causal);
        else if (hd == 64) attn_fwd_d64(q.data(), k.data(), v.data(), DT_F32, out.data(), DT_F32, lse.data(), safe.data(), tiles.data(), b, a.t, a.heads, a.d, scale, a.causal);
        else attn_fwd_d128(q.data(), k.data(), v.data(), DT_F32, out.data(), DT_F32, lse.data(), safe.data(), tiles.data(), b, a.t, a.heads, a.d, scale, a.causal);
    };
    emu_launch(grid, {128, 1, 1}, fwd);
    std::string name = "attention d=" + std::to_string(a.d) + " T=" + std::to_string(a.t) + " docs " + std::to_string(b) + (a.causal ? " causal" : "");
    check(name + " out", rOut, out, 1e-5);
    check(name + " lse", rLse, lse, 1e-6);

    std::vector<float> di((size_t)a.heads * a.t, NAN);
    emu_launch({4, 1, 1}, {256, 1, 1}, [&] { attn_bwd_dot(out.data(), DT_F32, dout.data(), DT_F32, di.data(), a.t, a.heads, a.d); });
    std::vector<float> dq(n, NAN), dk(n, NAN), dv(n, NAN);
    std::vector<int> tilesK;
    with_tiles<int>(a, 32, safe, tilesK, &st);
    dim3 gk{(unsigned)((a.t + 31) / 32 + b), (unsigned)a.heads, 1};
    emu_launch(gk, {128, 1, 1}, [&] {
        if (hd == 32) attn_bwd_dkdv_d32(q.data(), k.data(), v.data(), DT_F32, dout.data(), DT_F32, lse.data(), di.data(), safe.data(), tilesK.data(), b, a.t, a.heads, a.d, scale, a.causal, dk.data(), dv.data(), DT_F32);
        else if (hd == 64) attn_bwd_dkdv_d64(q.data(), k.data(), v.data(), DT_F32, dout.data(), DT_F32, lse.data(), di.data(), safe.data(), tilesK.data(), b, a.t, a.heads, a.d, scale, a.causal, dk.data(), dv.data(), DT_F32);
        else attn_bwd_dkdv_d128(q.data(), k.data(), v.data(), DT_F32, dout.data(), DT_F32, lse.data(), di.data(), safe.data(), tilesK.data(), b, a.t, a.heads, a.d, scale, a.causal, dk.data(), dv.data(), DT_F32);
    });
    std::vector<int> tilesQ;
    with_tiles<int>(a, 64, safe, tilesQ, &st);
    emu_launch(grid, {128, 1, 1}, [&] {
        if (hd == 32) attn_bwd_dq_d32(q.data(), k.data(), v.data(), DT_F32, dout.data(), DT_F32, lse.data(), di.data(), safe.data(), tilesQ.data(), b, a.t, a.heads, a.d, scale, a.causal, dq.data(), DT_F32);
        else if (hd == 64) attn_bwd_dq_d64(q.data(), k.data(), v.data(), DT_F32, dout.data(), DT_F32, lse.data(), di.data(), safe.data(), tilesQ.data(), b, a.t, a.heads, a.d, scale, a.causal, dq.data(), DT_F32);
        else attn_bwd_dq_d128(q.data(), k.data(), v.data(), DT_F32, dout.data(), DT_F32, lse.data(), di.data(), safe.data(), tilesQ.data(), b, a.t, a.heads, a.d, scale, a.causal, dq.data(), DT_F32);
    });
    check(name + " dq", rDq, dq, 1e-5);
    check(name + " dk", rDk, dk, 1e-5);
    check(name + " dv", rDv, dv, 1e-5);
    if (st.code != 0) {
        failures++;
        std::printf("FAIL %s reported device error %d\n", name.c_str(), st.code);
    }
}

static void bad_cu_seqlens() {
    Attn a{10, 1, 32, {0, 6, 4, 10}, true};
    Status st{};
    std::vector<int> safe, tiles;
    with_tiles<int>(a, 64, safe, tiles, &st);
    bool ok = st.code == ERR_BAD_CU_SEQLENS && safe[1] == 6 && safe[2] == 6 && safe[3] == 10;
    if (!ok) failures++;
    std::printf("%s decreasing cu_seqlens reported and clamped (code %d)\n", ok ? "OK  " : "FAIL", st.code);
}

// ------------------------------------------------------------------------------------------ row kernels

static void softmax_and_norms() {
    int rows = 37, h = 300;
    auto x = randn((size_t)rows * h, 2.0);
    std::vector<float> y(x.size(), NAN);
    Shape r = shape1(rows);
    Layout l = layout1(0, h);
    emu_launch({8, 1, 1}, {64, 1, 1}, [&] { softmax_fwd(x.data(), DT_F32, l, y.data(), DT_F32, l, r, rows, h, 0); });
    std::vector<double> ref(x.size());
    for (int i = 0; i < rows; ++i) {
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < h; ++j) mx = std::max(mx, (double)x[i * h + j]);
        for (int j = 0; j < h; ++j) s += std::exp(x[i * h + j] - mx);
        for (int j = 0; j < h; ++j) ref[i * h + j] = std::exp(x[i * h + j] - mx) / s;
    }
    check("softmax_fwd 37x300 (8 blocks looping over rows)", ref, y, 1e-6);

    auto w = randn(h);
    std::vector<float> rstd(rows, NAN);
    emu_launch({5, 1, 1}, {128, 1, 1}, [&] {
        rmsnorm_fwd(x.data(), DT_F32, l, w.data(), DT_F32, 1, y.data(), DT_F32, l, rstd.data(), 1, r, rows, h, 1e-6f);
    });
    std::vector<double> rr(rows);
    for (int i = 0; i < rows; ++i) {
        double ss = 0;
        for (int j = 0; j < h; ++j) ss += (double)x[i * h + j] * x[i * h + j];
        rr[i] = 1 / std::sqrt(ss / h + 1e-6);
        for (int j = 0; j < h; ++j) ref[i * h + j] = w[j] * x[i * h + j] * rr[i];
    }
    check("rmsnorm_fwd y", ref, y, 1e-6);
    check("rmsnorm_fwd rstd", rr, rstd, 1e-6);
    auto dy = randn(x.size());
    std::vector<float> dx(x.size(), NAN), dw(h, NAN);
    int grid = 6;
    std::vector<float> partial((size_t)grid * h, NAN);
    emu_launch({(unsigned)grid, 1, 1}, {128, 1, 1}, [&] {
        rmsnorm_bwd(x.data(), DT_F32, l, w.data(), DT_F32, 1, rstd.data(), 1, dy.data(), DT_F32, l, dx.data(), DT_F32, l, r, rows, h, partial.data());
    });
    emu_launch({2, 1, 1}, {256, 1, 1}, [&] { norm_weight_sum(partial.data(), grid, h, dw.data(), DT_F32, 1); });
    std::vector<double> rdx(x.size()), rdw(h, 0);
    for (int i = 0; i < rows; ++i) {
        double dot = 0;
        for (int j = 0; j < h; ++j) {
            double xh = x[i * h + j] * (double)rstd[i];
            dot += dy[i * h + j] * w[j] * xh;
            rdw[j] += dy[i * h + j] * xh;
        }
        dot /= h;
        for (int j = 0; j < h; ++j) rdx[i * h + j] = rstd[i] * (dy[i * h + j] * w[j] - x[i * h + j] * (double)rstd[i] * dot);
    }
    check("rmsnorm_bwd dx", rdx, dx, 1e-6);
    check("rmsnorm_bwd dweight (6 block partials)", rdw, dw, 1e-6);

    int heads = 2, lq = 9, lk = 9;
    auto scores = randn((size_t)heads * lq * lk);
    std::vector<float> p(scores.size(), NAN), lse(heads * 20, NAN);
    emu_launch({4, 1, 1}, {32, 1, 1}, [&] { attn_masked_softmax(scores.data(), lq, lk, 0.5f, 1, p.data(), DT_F32, lse.data() + 3, 20, heads); });
    std::vector<double> rp(p.size(), 0);
    for (int hh = 0; hh < heads; ++hh)
        for (int i = 0; i < lq; ++i) {
            double mx = -INFINITY, s = 0;
            for (int j = 0; j <= i; ++j) mx = std::max(mx, 0.5 * scores[(hh * lq + i) * lk + j]);
            for (int j = 0; j <= i; ++j) s += std::exp(0.5 * scores[(hh * lq + i) * lk + j] - mx);
            for (int j = 0; j <= i; ++j) rp[(hh * lq + i) * lk + j] = std::exp(0.5 * scores[(hh * lq + i) * lk + j] - mx) / s;
        }
    check("attn_masked_softmax causal", rp, p, 1e-6);
}

// ------------------------------------------------------------------------------------------ cross-entropy

static void cross_entropy() {
    int rows = 5, vocab = 300, chunk = 64;
    int chunks = (vocab + chunk - 1) / chunk;
    auto x = randn((size_t)rows * vocab, 3.0);
    std::vector<long long> labels = {3, 299, -100, 0, 150};
    std::vector<float> pm(rows * chunks), ps(rows * chunks), loss(rows, NAN), lse(rows, NAN);
    std::vector<double> psum(rows * chunks);
    emu_launch({(unsigned)chunks, (unsigned)rows, 1}, {64, 1, 1}, [&] { ce_partial(x.data(), DT_F32, vocab, 0, vocab, chunk, pm.data(), ps.data(), psum.data()); });
    Status st{};
    float smoothing = 0.1f;
    emu_launch({1, 1, 1}, {32, 1, 1}, [&] {
        ce_finalize(x.data(), DT_F32, vocab, 0, labels.data(), DT_I64, 1, 0, rows, vocab, chunks, pm.data(), ps.data(), psum.data(), -100, smoothing, loss.data(), 1, lse.data(), 1, &st);
    });
    std::vector<double> rl(rows), rz(rows);
    for (int i = 0; i < rows; ++i) {
        double mx = -INFINITY, s = 0, sum = 0;
        for (int j = 0; j < vocab; ++j) {
            mx = std::max(mx, (double)x[i * vocab + j]);
            sum += x[i * vocab + j];
        }
        for (int j = 0; j < vocab; ++j) s += std::exp(x[i * vocab + j] - mx);
        rz[i] = mx + std::log(s);
        rl[i] = labels[i] == -100 ? 0 : (1 - smoothing) * (rz[i] - x[i * vocab + labels[i]]) + smoothing * (rz[i] - sum / vocab);
    }
    check("ce_partial + ce_finalize loss (5 chunks of 64)", rl, loss, 1e-6);
    check("ce_finalize lse", rz, lse, 1e-6);
    std::vector<float> dloss = {1, 0.5f, 2, 1, 1};
    std::vector<float> g((size_t)rows * vocab, NAN);
    emu_launch({2, (unsigned)rows, 1}, {64, 1, 1}, [&] {
        ce_backward(x.data(), DT_F32, vocab, 0, labels.data(), DT_I64, 1, 0, lse.data(), 1, dloss.data(), 1, vocab, 0, vocab, -100, smoothing, g.data(), DT_F32, vocab, 0, &st);
    });
    std::vector<double> rg(g.size());
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < vocab; ++j)
            rg[i * vocab + j] = labels[i] == -100 ? 0 : dloss[i] * (std::exp(x[i * vocab + j] - rz[i]) - (j == labels[i] ? 1 - smoothing : 0) - smoothing / vocab);
    check("ce_backward", rg, g, 1e-6);

    // Vocabulary-parallel: two unequal shards [0, 140) and [140, 300) of the same rows. Each reduces its
    // columns (ce_partial + ce_shard_finalize); the host combines the shards' statistics as the ranks do
    // and the combined loss must be the whole-row loss; each shard's backward with the combined lse must be
    // its columns of the whole-row gradient.
    int starts[3] = {0, 140, vocab};
    std::vector<float> slse[2], starget[2], ssum[2];
    for (int sh = 0; sh < 2; ++sh) {
        int v = starts[sh + 1] - starts[sh];
        int nch = (v + chunk - 1) / chunk;
        std::vector<float> xs((size_t)rows * v), qm(rows * nch), qs(rows * nch);
        std::vector<double> qsum(rows * nch);
        for (int i = 0; i < rows; ++i)
            for (int j = 0; j < v; ++j) xs[i * v + j] = x[i * vocab + starts[sh] + j];
        slse[sh].assign(rows, NAN);
        starget[sh].assign(rows, NAN);
        ssum[sh].assign(rows, NAN);
        emu_launch({(unsigned)nch, (unsigned)rows, 1}, {64, 1, 1}, [&] { ce_partial(xs.data(), DT_F32, v, 0, v, chunk, qm.data(), qs.data(), qsum.data()); });
        emu_launch({1, 1, 1}, {32, 1, 1}, [&] {
            ce_shard_finalize(xs.data(), DT_F32, v, 0, labels.data(), DT_I64, 1, 0, rows, v, starts[sh], nch, qm.data(), qs.data(), qsum.data(), slse[sh].data(), 1, starget[sh].data(), 1, ssum[sh].data(), 1);
        });
    }
    std::vector<float> combinedLoss(rows), combinedLse(rows);
    for (int i = 0; i < rows; ++i) {
        float m = std::max(slse[0][i], slse[1][i]);
        float z = m + std::log(std::exp(slse[0][i] - m) + std::exp(slse[1][i] - m));
        float xy = starget[0][i] + starget[1][i];
        float mean = (ssum[0][i] + ssum[1][i]) / vocab;
        combinedLse[i] = z;
        combinedLoss[i] = labels[i] == -100 ? 0 : (1 - smoothing) * (z - xy) + smoothing * (z - mean);
    }
    check("ce_shard_finalize: two shards combined give the whole-row loss", rl, combinedLoss, 1e-6);
    check("ce_shard_finalize: two shards combined give the whole-row lse", rz, combinedLse, 1e-6);
    for (int sh = 0; sh < 2; ++sh) {
        int v = starts[sh + 1] - starts[sh];
        std::vector<float> xs((size_t)rows * v), gs((size_t)rows * v, NAN);
        std::vector<double> rgs((size_t)rows * v);
        for (int i = 0; i < rows; ++i)
            for (int j = 0; j < v; ++j) {
                xs[i * v + j] = x[i * vocab + starts[sh] + j];
                rgs[i * v + j] = rg[i * vocab + starts[sh] + j];
            }
        emu_launch({2, (unsigned)rows, 1}, {64, 1, 1}, [&] {
            ce_backward(xs.data(), DT_F32, v, 0, labels.data(), DT_I64, 1, 0, combinedLse.data(), 1, dloss.data(), 1, v, starts[sh], vocab, -100, smoothing, gs.data(), DT_F32, v, 0, &st);
        });
        check(sh == 0 ? "ce_backward on shard [0, 140)" : "ce_backward on shard [140, 300)", rgs, gs, 1e-6);
    }
    std::vector<long long> bad = {3, 300, -100, 0, 150};
    emu_launch({1, 1, 1}, {32, 1, 1}, [&] {
        ce_finalize(x.data(), DT_F32, vocab, 0, bad.data(), DT_I64, 1, 0, rows, vocab, chunks, pm.data(), ps.data(), psum.data(), -100, smoothing, loss.data(), 1, lse.data(), 1, &st);
    });
    bool ok = st.code == ERR_INDEX_OUT_OF_RANGE && st.a == 1 && st.b == 300;
    if (!ok) failures++;
    std::printf("%s label 300 of a 300-word vocabulary reported for row 1\n", ok ? "OK  " : "FAIL");
}

// ------------------------------------------------------------------------------------------ embedding

static void embedding_backward(int t) {
    int vocab = 97, h = 5;
    std::uniform_int_distribution<int> pick(0, vocab - 1);
    std::vector<int> ids(t);
    for (auto& i : ids) i = pick(rng);
    int padded = 1;
    while (padded < t) padded <<= 1;
    std::vector<unsigned long long> keys(padded);
    Status st{};
    emu_launch({(unsigned)((padded + 255) / 256), 1, 1}, {256, 1, 1}, [&] { embedding_keys(ids.data(), DT_I32, 1, 0, t, padded, vocab, keys.data(), &st); });
    int chunks = std::max(1, padded / SORT_CHUNK);
    emu_launch({(unsigned)chunks, 1, 1}, {1024, 1, 1}, [&] { bitonic_sort_local(keys.data(), padded); });
    for (int size = 2 * SORT_CHUNK; size <= padded; size <<= 1) {
        for (int j = size >> 1; j >= SORT_CHUNK; j >>= 1)
            emu_launch({(unsigned)(padded / 256), 1, 1}, {256, 1, 1}, [&] { bitonic_merge_global(keys.data(), padded, size, j); });
        emu_launch({(unsigned)chunks, 1, 1}, {1024, 1, 1}, [&] { bitonic_merge_local(keys.data(), padded, size); });
    }
    bool sorted = std::is_sorted(keys.begin(), keys.end());
    auto dout = randn((size_t)t * h);
    std::vector<float> dw((size_t)vocab * h, 1.0f);
    emu_launch({(unsigned)std::min(t, 64), 1, 1}, {32, 1, 1}, [&] { embedding_bwd_rows(keys.data(), t, dout.data(), DT_F32, h, 0, dw.data(), DT_F32, h, 0, h); });
    std::vector<double> ref((size_t)vocab * h, 1.0);
    for (int i = 0; i < t; ++i)
        for (int j = 0; j < h; ++j) ref[(size_t)ids[i] * h + j] += dout[(size_t)i * h + j];
    if (!sorted) failures++;
    std::printf("%s bitonic sort of %d keys (padded to %d)\n", sorted ? "OK  " : "FAIL", t, padded);
    check("embedding backward T=" + std::to_string(t), ref, dw, 1e-6);
}

// ------------------------------------------------------------------------------------------ others

static void reductions() {
    int rows = 13, cols = 70;
    auto x = randn((size_t)rows * cols);
    std::vector<float> out(cols, NAN);
    Shape s = shape1(cols);
    Layout lx = layout1(0, 1);
    Layout lo = layout1(0, 1);
    emu_launch({(unsigned)((cols + 31) / 32), 1, 1}, {32, 8, 1}, [&] { reduce_columns(0, x.data(), DT_F32, lx, cols, rows, out.data(), DT_F32, lo, s, cols); });
    std::vector<double> ref(cols, 0);
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) ref[j] += x[i * cols + j];
    check("reduce_columns SUM over 13 rows", ref, out, 1e-6);
    std::vector<float> mx(rows, NAN);
    Shape sr = shape1(rows);
    Layout lr = layout1(0, cols);
    emu_launch({5, 1, 1}, {64, 1, 1}, [&] { reduce_runs(2, x.data(), DT_F32, lr, 1, cols, mx.data(), DT_F32, lo, sr, rows); });
    std::vector<double> rm(rows, -INFINITY);
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) rm[i] = std::max(rm[i], (double)x[i * cols + j]);
    check("reduce_runs MAX", rm, mx, 0);
}

static void adamw() {
    int n = 70000;
    auto p = randn(n, 0.02), g = randn(n), m = randn(n, 0.01), v = randn(n, 0.001);
    for (auto& e : v) e = std::fabs(e);
    auto p0 = p, m0 = m, v0 = v;
    AdamWList list{};
    list.count = 1;
    list.n[0] = n;
    list.p[0] = (unsigned long long)p.data();
    list.g[0] = (unsigned long long)g.data();
    list.m[0] = (unsigned long long)m.data();
    list.v[0] = (unsigned long long)v.data();
    list.copy[0] = 0;
    list.gradDtype = DT_F32;
    list.blockTensor[0] = 0;
    list.blockTensor[1] = 0;
    list.blockChunk[0] = 0;
    list.blockChunk[1] = 1;
    float decay = 0.9999f, gs = 0.5f, b1 = 0.9f, c1 = 0.1f, b2 = 0.95f, c2 = 0.05f, step = 1e-3f, bc2 = 0.3f, eps = 1e-8f;
    emu_launch({2, 1, 1}, {128, 1, 1}, [&] { adamw_multi(list, decay, gs, b1, c1, b2, c2, step, bc2, eps); });
    int diff = 0;
    for (int i = 0; i < n; ++i) {
        float gi = g[i] * gs;
        float mi = m0[i] * b1 + c1 * gi;
        float vi = v0[i] * b2 + (c2 * gi) * gi;
        float denom = std::sqrt(vi) / bc2 + eps;
        float pi = p0[i] * decay - (mi / denom) * step;
        if (pi != p[i] || mi != m[i] || vi != v[i]) diff++;
    }
    if (diff) failures++;
    std::printf("%s adamw_multi over 2 chunks bit-identical to the CPU formula (%d differ)\n", diff ? "FAIL" : "OK  ", diff);
}

static void random_values() {
    int n = 1000;
    std::vector<float> u(n), z(n);
    emu_launch({4, 1, 1}, {64, 1, 1}, [&] { philox_fill(u.data(), DT_F32, n, 0x123456789abcdefULL, 77, 0, -1.0, 3.0, 4.0); });
    emu_launch({4, 1, 1}, {64, 1, 1}, [&] { philox_fill(z.data(), DT_F32, n, 42, 5, 1, 0.5, 2.0, 1.5); });
    for (int i = 0; i < n; ++i) std::printf("RANDOM %d %08x %08x\n", i, __float_as_uint(u[i]), __float_as_uint(z[i]));
}

int main() {
    attention_case({150, 2, 64, {0, 1, 70, 70, 150}, true});
    attention_case({150, 2, 48, {0, 1, 70, 70, 150}, true});
    attention_case({97, 1, 32, {0, 97}, false});
    attention_case({130, 1, 128, {0, 65, 130}, true});
    bad_cu_seqlens();
    softmax_and_norms();
    cross_entropy();
    embedding_backward(7);
    embedding_backward(5000);
    reductions();
    adamw();
    random_values();
    std::printf("%d FAILURES\n", failures);
    return failures == 0 ? 0 : 1;
}
