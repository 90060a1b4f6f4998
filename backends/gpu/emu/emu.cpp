// Runs the CUDA kernels on the host (see cuda_shim.h) with the launch sequences of
// src/lib.rs, and checks them against naive arithmetic: NTT against direct evaluation
// at psi^(2 brv(i) + 1), inverse NTT round trip, element-wise ops against __int128,
// basis conversion against the exact formula, automorphism against coefficient form.
// Build and run: backends/gpu/emu/run.sh
#include "cuda_shim.h"
#include "../kernels/common.cuh"
#include "../kernels/ntt.cu"
#include "../kernels/elementwise.cu"
#include "../kernels/automorphism.cu"
#include "../kernels/basis.cu"
#include "../kernels/keyswitch.cu"
#include <cstdio>
#include <cstdlib>
#include <random>

typedef unsigned __int128 u128;
static int failures = 0;
#define CHECK(c, ...) do { if (!(c)) { std::printf("FAIL: " __VA_ARGS__); std::printf("\n"); ++failures; return; } } while (0)

static u64 mulm(u64 a, u64 b, u64 q) { return (u64)((u128)a * b % q); }
static u64 powm(u64 a, u64 e, u64 q) { u64 r = 1; a %= q; while (e) { if (e & 1) r = mulm(r, a, q); a = mulm(a, a, q); e >>= 1; } return r; }
static bool is_prime(u64 n) {
    if (n < 2) return false;
    for (u64 p : {2ull, 3ull, 5ull, 7ull, 11ull, 13ull, 17ull, 19ull, 23ull, 29ull, 31ull, 37ull}) {
        if (n % p == 0) return n == p;
    }
    u64 d = n - 1; int s = 0; while (!(d & 1)) { d >>= 1; ++s; }
    for (u64 a : {2ull, 3ull, 5ull, 7ull, 11ull, 13ull, 17ull, 19ull, 23ull, 29ull, 31ull, 37ull}) {
        u64 x = powm(a, d, n);
        if (x == 1 || x == n - 1) continue;
        bool ok = false;
        for (int r = 1; r < s; ++r) { x = mulm(x, x, n); if (x == n - 1) { ok = true; break; } }
        if (!ok) return false;
    }
    return true;
}
// Primes q = 1 mod 2^(log_n+1) just below 2^bits.
static std::vector<u64> primes(int bits, int log_n, int count) {
    std::vector<u64> v; u64 step = 1ull << (log_n + 1);
    for (u64 q = ((1ull << bits) / step) * step + 1; v.size() < (size_t)count; q -= step)
        if (q < (1ull << bits) && is_prime(q)) v.push_back(q);
    return v;
}
static u64 shoup(u64 w, u64 q) { return (u64)(((u128)w << 64) / q); }
static u32 brv_h(u32 x, int bits) { u32 r = 0; for (int i = 0; i < bits; ++i) r |= ((x >> i) & 1) << (bits - 1 - i); return r; }

struct Ring {
    int log_n; u64 n; std::vector<u64> q, psi;
    std::vector<u64> tw, tws, itw, itws, wn, wns, ninv, ninvs;
};
static Ring make_ring(int log_n, std::vector<u64> qs) {
    Ring r; r.log_n = log_n; r.n = 1ull << log_n; r.q = qs;
    for (u64 q : qs) {
        u64 psi = 0;
        for (u64 g = 2;; ++g) { psi = powm(g, (q - 1) / (2 * r.n), q); if (powm(psi, r.n, q) == q - 1) break; }
        r.psi.push_back(psi);
        u64 pinv = powm(psi, q - 2, q);
        std::vector<u64> t(r.n), ti(r.n);
        u64 w = 1, wi = 1;
        for (u64 k = 0; k < r.n; ++k) { t[brv_h(k, log_n)] = w; ti[brv_h(k, log_n)] = wi; w = mulm(w, psi, q); wi = mulm(wi, pinv, q); }
        for (u64 k = 0; k < r.n; ++k) { r.tw.push_back(t[k]); r.tws.push_back(shoup(t[k], q)); r.itw.push_back(ti[k]); r.itws.push_back(shoup(ti[k], q)); }
        u64 ni = powm(r.n, q - 2, q);
        r.ninv.push_back(ni); r.ninvs.push_back(shoup(ni, q));
        u64 x = mulm(ti[1], ni, q); r.wn.push_back(x); r.wns.push_back(shoup(x, q));
    }
    return r;
}
static LimbParams params(const Ring &r, const std::vector<u32> &pr) {
    LimbParams p; std::memset(&p, 0, sizeof p);
    for (size_t l = 0; l < pr.size(); ++l) {
        u64 q = r.q[pr[l]]; u128 b = ~(u128)0 / q;
        p.q[l] = q; p.bh[l] = (u64)(b >> 64); p.bl[l] = (u64)b; p.prime[l] = pr[l];
        p.s[l] = r.ninv[pr[l]]; p.ss[l] = r.ninvs[pr[l]];
    }
    return p;
}
static const u32 BLOCK = 256, LOG_CHUNK = 11;
static dim3 g2(u64 words, u64 limbs) { dim3 d; d.x = (u32)((words + BLOCK - 1) / BLOCK); d.y = (u32)limbs; return d; }
static dim3 b1(u32 x) { dim3 d; d.x = x; return d; }

// The launch sequences of GpuBackend::ntt / intt.
static const u32 OUTER_BLOCK = 128;
static void outer(u32 log_r, bool fwd, const Ring &r, u64 *a, const LimbParams &p, size_t limbs) {
    u32 log_n = r.log_n;
    dim3 g; g.x = (u32)(((r.n >> log_r) + OUTER_BLOCK - 1) / OUTER_BLOCK); g.y = (u32)limbs;
    const u64 *tw = fwd ? r.tw.data() : r.itw.data(), *tws = fwd ? r.tws.data() : r.itws.data();
    const u64 *wn = r.wn.data(), *wns = r.wns.data();
    launch(g, b1(OUTER_BLOCK), false, [&] {
        switch (log_r) {
#define FHE_EMU_OUTER(K, R) case K: if (fwd) ntt_fwd_outer_##R(a, tw, tws, log_n, p); else intt_outer_##R(a, tw, tws, wn, wns, log_n, p); break;
            FHE_EMU_OUTER(1, 2) FHE_EMU_OUTER(2, 4) FHE_EMU_OUTER(3, 8) FHE_EMU_OUTER(4, 16) FHE_EMU_OUTER(5, 32) FHE_EMU_OUTER(6, 64)
        }
    });
}
static void ntt(const Ring &r, u64 *a, const std::vector<u32> &pr) {
    LimbParams p = params(r, pr); u32 log_n = r.log_n; u32 log_c = log_n < LOG_CHUNK ? log_n : LOG_CHUNK;
    if (log_n > log_c) outer(log_n - log_c, true, r, a, p, pr.size());
    dim3 g; g.x = (u32)(r.n >> log_c); g.y = (u32)pr.size();
    launch(g, b1(1u << (log_c - 2)), true, [&] { ntt_fwd_tail(a, r.tw.data(), r.tws.data(), log_n, log_c, p); });
}
static void intt(const Ring &r, u64 *a, const std::vector<u32> &pr) {
    LimbParams p = params(r, pr); u32 log_n = r.log_n; u32 log_c = log_n < LOG_CHUNK ? log_n : LOG_CHUNK;
    dim3 g; g.x = (u32)(r.n >> log_c); g.y = (u32)pr.size();
    launch(g, b1(1u << (log_c - 2)), true, [&] { intt_head(a, r.itw.data(), r.itws.data(), log_n, log_c, p); });
    if (log_n > log_c) outer(log_n - log_c, false, r, a, p, pr.size());
}

static std::mt19937_64 rng(7);
static std::vector<u64> rand_poly(const Ring &r, const std::vector<u32> &pr) {
    std::vector<u64> v(pr.size() * r.n);
    for (size_t l = 0; l < pr.size(); ++l) for (u64 k = 0; k < r.n; ++k) v[l * r.n + k] = rng() % r.q[pr[l]];
    return v;
}

static void test_ntt(int log_n) {
    auto qs = primes(50, log_n, 2); auto q2 = primes(61, log_n, 1); qs.push_back(q2[0]);
    Ring r = make_ring(log_n, qs);
    // large rings on one limb: the tail kernel's emulation spawns a thread per CUDA thread
    std::vector<u32> pr = log_n >= 14 ? std::vector<u32>{2} : std::vector<u32>{2, 0, 1};
    auto a = rand_poly(r, pr), x = a;
    ntt(r, x.data(), pr);
    for (size_t l = 0; l < pr.size(); ++l) {
        u64 q = r.q[pr[l]];
        for (u64 i = 0; i < r.n; i += (r.n > 1024 ? (r.n > 8192 ? 4099 : 37) : 1)) {
            u64 pt = powm(r.psi[pr[l]], 2 * brv_h(i, log_n) + 1, q), acc = 0;
            for (u64 k = r.n; k-- > 0;) acc = (u64)(((u128)acc * pt + a[l * r.n + k]) % q);
            CHECK(x[l * r.n + i] == acc, "ntt log_n=%d limb %zu pos %llu: %llu vs %llu", log_n, l, (unsigned long long)i, (unsigned long long)x[l * r.n + i], (unsigned long long)acc);
        }
    }
    intt(r, x.data(), pr);
    CHECK(x == a, "intt round trip log_n=%d", log_n);
    std::printf("ok: ntt/intt N=2^%d\n", log_n);
}

static void test_elementwise() {
    int log_n = 10; auto qs = primes(61, log_n, 2); auto q3 = primes(30, log_n, 2); qs.insert(qs.end(), q3.begin(), q3.end());
    Ring r = make_ring(log_n, qs); u64 n = r.n;
    std::vector<u32> da = {3, 0, 2}, wide = {0, 1, 2, 3};
    auto a = rand_poly(r, da), b = rand_poly(r, wide), c = rand_poly(r, wide);
    LimbParams p = params(r, da);
    for (int l = 0; l < 3; ++l) { p.pos_b[l] = da[l]; p.pos_c[l] = da[l]; p.s[l] = r.q[da[l]] / 3 + l; p.ss[l] = shoup(p.s[l], r.q[da[l]]); }
    for (u32 op = 0; op < 3; ++op) {
        auto x = a;
        launch(g2(n, 3), b1(BLOCK), false, [&] { ew_binary(x.data(), b.data(), log_n, op, p); });
        for (int l = 0; l < 3; ++l) for (u64 k = 0; k < n; ++k) {
            u64 q = r.q[da[l]], u = a[l * n + k], v = b[da[l] * n + k];
            u64 want = op == 0 ? (u + v) % q : op == 1 ? (u + q - v) % q : mulm(u, v, q);
            CHECK(x[l * n + k] == want, "ew_binary op %u", op);
        }
        x = a;
        launch(g2(n, 3), b1(BLOCK), false, [&] { ew_unary(x.data(), log_n, op, p); });
        for (int l = 0; l < 3; ++l) for (u64 k = 0; k < n; ++k) {
            u64 q = r.q[da[l]], u = a[l * n + k];
            u64 want = op == 0 ? (q - u) % q : op == 1 ? (u + p.s[l]) % q : mulm(u, p.s[l], q);
            CHECK(x[l * n + k] == want, "ew_unary op %u", op);
        }
    }
    auto x = a;
    launch(g2(n, 3), b1(BLOCK), false, [&] { ew_mul_add(x.data(), b.data(), c.data(), log_n, p); });
    for (int l = 0; l < 3; ++l) for (u64 k = 0; k < n; ++k) {
        u64 q = r.q[da[l]];
        CHECK(x[l * n + k] == (a[l * n + k] + mulm(b[da[l] * n + k], c[da[l] * n + k], q)) % q, "ew_mul_add");
    }
    std::vector<u64> y(3 * n);
    launch(g2(n, 3), b1(BLOCK), false, [&] { gather_limbs(y.data(), b.data(), log_n, p); });
    for (int l = 0; l < 3; ++l) for (u64 k = 0; k < n; ++k) CHECK(y[l * n + k] == b[da[l] * n + k], "gather");
    std::printf("ok: element-wise (61- and 30-bit primes)\n");
}

static void test_automorphism() {
    int log_n = 10; Ring r = make_ring(log_n, primes(50, log_n, 2)); u64 n = r.n;
    std::vector<u32> pr = {0, 1};
    auto a = rand_poly(r, pr);
    for (u64 g : {5ull, 25ull, 3125ull, 2 * n - 1, 2 * n - 5}) {
        std::vector<u64> ca(2 * n);
        for (int l = 0; l < 2; ++l) for (u64 k = 0; k < n; ++k) {
            u64 e = (k * g) & (2 * n - 1), v = a[l * n + k], q = r.q[l];
            if (e < n) ca[l * n + e] = v; else ca[l * n + e - n] = (q - v) % q;
        }
        auto fa = a; ntt(r, fa.data(), pr); ntt(r, ca.data(), pr);
        std::vector<u64> out(2 * n);
        launch(g2(n, 2), b1(BLOCK), false, [&] { automorphism_ntt(out.data(), fa.data(), log_n, g); });
        CHECK(out == ca, "automorphism g=%llu", (unsigned long long)g);
        // fused with a scalar multiplication and an addition into an accumulator
        LimbParams p = params(r, pr);
        std::vector<u64> acc = rand_poly(r, pr), want = acc;
        for (int l = 0; l < 2; ++l) {
            p.s[l] = (r.q[l] / 5) + (u64)l; p.ss[l] = shoup(p.s[l], r.q[l]);
            for (u64 k = 0; k < n; ++k) want[l * n + k] = (want[l * n + k] + mulm(ca[l * n + k], p.s[l], r.q[l])) % r.q[l];
        }
        launch(g2(n, 2), b1(BLOCK), false, [&] { automorphism_mul_scalar_add(acc.data(), fa.data(), log_n, g, p); });
        CHECK(acc == want, "automorphism_mul_scalar_add g=%llu", (unsigned long long)g);
    }
    std::printf("ok: automorphism\n");
}

// ks_inner against an automorphism followed by naive multiply-accumulates; the key has
// one more limb than the digits (limb positions through pos_b), 16 digits (the most one
// launch takes, so the 128-bit sums are reduced mid-way) and a chunk starting at limb 1.
static void test_ks_inner() {
    int log_n = 10; Ring r = make_ring(log_n, primes(61, log_n, 4)); u64 n = r.n;
    std::vector<u32> dpr = {0, 1, 3}, kpr = {3, 2, 1, 0};
    const int D = 16;
    std::vector<std::vector<u64>> d, b, a;
    for (int j = 0; j < D; ++j) { d.push_back(rand_poly(r, dpr)); b.push_back(rand_poly(r, kpr)); a.push_back(rand_poly(r, kpr)); }
    KsPtrs ptr;
    for (int j = 0; j < D; ++j) { ptr.d[j] = d[j].data(); ptr.b[j] = b[j].data(); ptr.a[j] = a[j].data(); }
    for (u64 g : {0ull, 5ull, 2 * n - 1}) {
        // limbs 1..3 of the digits in one launch (limb0 = 1)
        std::vector<u32> chunk = {1, 3};
        LimbParams p = params(r, chunk);
        p.pos_b[0] = 2; p.pos_b[1] = 0;
        std::vector<u64> o0(2 * n), o1(2 * n);
        launch(g2(n, 2), b1(BLOCK), false, [&] { ks_inner(o0.data(), o1.data(), ptr, D, 1, log_n, g, p); });
        for (int l = 0; l < 2; ++l) {
            u64 q = r.q[chunk[l]];
            for (u64 k = 0; k < n; ++k) {
                u64 src = k;
                if (g) { u64 e = (2ull * brv_h((u32)k, log_n) + 1) * g & (2 * n - 1); src = brv_h((u32)((e - 1) / 2), log_n); }
                u64 s0 = 0, s1 = 0;
                for (int j = 0; j < D; ++j) {
                    u64 x = d[j][(1 + l) * n + src];
                    s0 = (s0 + mulm(x, b[j][p.pos_b[l] * n + k], q)) % q;
                    s1 = (s1 + mulm(x, a[j][p.pos_b[l] * n + k], q)) % q;
                }
                CHECK(o0[l * n + k] == s0 && o1[l * n + k] == s1, "ks_inner g=%llu limb %d k=%llu", (unsigned long long)g, l, (unsigned long long)k);
            }
        }
    }
    std::printf("ok: ks_inner (16 digits, automorphisms)\n");
}

static void test_base_convert(int nf) {
    int log_n = 10; auto qs = primes(61, log_n, nf + 3);
    Ring r = make_ring(log_n, qs); u64 n = r.n;
    std::vector<u32> from, to = {(u32)nf, (u32)nf + 1, (u32)nf + 2};
    for (int i = 0; i < nf; ++i) from.push_back(i);
    auto a = rand_poly(r, from);
    std::vector<u64> tab;
    std::vector<u64> qinv(nf);
    for (int i = 0; i < nf; ++i) { u64 qi = r.q[i], prod = 1; for (int k = 0; k < nf; ++k) if (k != i) prod = mulm(prod, r.q[k] % qi, qi); qinv[i] = powm(prod, qi - 2, qi); }
    for (int i = 0; i < nf; ++i) tab.push_back(r.q[i]);
    for (int i = 0; i < nf; ++i) tab.push_back(qinv[i]);
    for (int i = 0; i < nf; ++i) tab.push_back(shoup(qinv[i], r.q[i]));
    for (u32 j : to) tab.push_back(r.q[j]);
    for (u32 j : to) tab.push_back((u64)((~(u128)0 / r.q[j]) >> 64));
    for (u32 j : to) tab.push_back((u64)(~(u128)0 / r.q[j]));
    std::vector<u64> mat;
    for (u32 j : to) for (int i = 0; i < nf; ++i) { u64 pj = r.q[j], prod = 1; for (int k = 0; k < nf; ++k) if (k != i) prod = mulm(prod, r.q[k] % pj, pj); mat.push_back(prod); }
    tab.insert(tab.end(), mat.begin(), mat.end());
    std::vector<u64> out(3 * n);
    launch(g2(n, 3), b1(BLOCK), false, [&] { base_convert(out.data(), a.data(), tab.data(), nf, 3, log_n, 0); });
    for (int j = 0; j < 3; ++j) for (u64 k = 0; k < n; ++k) {
        u64 pj = r.q[to[j]], acc = 0;
        for (int i = 0; i < nf; ++i) acc = (acc + mulm(mulm(a[i * n + k], qinv[i], r.q[i]) % pj, mat[j * nf + i], pj)) % pj;
        CHECK(out[j * n + k] == acc, "base_convert nf=%d j=%d k=%llu", nf, j, (unsigned long long)k);
    }
    std::printf("ok: base_convert from %d primes\n", nf);
}

int main() {
    // 2^12..2^17: every outer-stage kernel (R = 2..64 columns of the 2^11-word chunk)
    for (int log_n : {3, 4, 10, 11, 12, 13, 14, 15, 16, 17}) test_ntt(log_n);
    test_elementwise();
    test_automorphism();
    test_ks_inner();
    for (int nf : {1, 3, 16, 17, 40}) test_base_convert(nf);
    if (failures) { std::printf("%d FAILURES\n", failures); return 1; }
    std::printf("all kernel checks passed\n");
    return 0;
}
