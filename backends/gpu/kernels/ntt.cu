// Negacyclic NTT over many limbs at once (grid y = limb).
//
// Convention (fhe_dsl::math::NttTable): tw[brv(k)] = psi^k per prime, forward
// Cooley-Tukey from natural to bit-reversed order, inverse Gentleman-Sande from
// bit-reversed to natural order including N^-1. Tables are stored prime-major:
// tw[prime * N + idx].
//
// A transform is two launches: the stages whose butterfly distance t is too large for one
// block (t >= C), in registers, one thread per column of R = N / C words
// (ntt_fwd_outer / intt_outer), then (forward) or before that (inverse) one shared-memory
// kernel running all stages whose butterflies stay inside a chunk of C = 2 * blockDim.x
// words (ntt_fwd_tail / intt_head).

// All forward stages with butterfly distance t >= C, where C = N / R is the chunk of
// the shared-memory tail: one thread per column r in [0, C) holds the R words
// x[r + C*s] in registers. They form an independent R-point Cooley-Tukey network whose
// twiddle for local distance T = t / C and group g is tw[R / (2T) + g], the same for
// every column, so the log2(R) outer stages cost one pass over memory.
// Launch: grid (ceil(C / blockDim.x), limbs).
template <int R>
__device__ __forceinline__ void ntt_fwd_outer(u64 *a, const u64 *tw, const u64 *tws, u32 log_n,
                                              const LimbParams &p) {
    u32 l = blockIdx.y;
    u64 n = 1ull << log_n;
    u64 c = n / R;
    u64 r = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= c) return;
    u64 q = p.q[l];
    u64 *x = a + (u64)l * n + r;
    const u64 *twl = tw + (u64)p.prime[l] * n;
    const u64 *twsl = tws + (u64)p.prime[l] * n;
    u64 v[R];
#pragma unroll
    for (int s = 0; s < R; ++s) v[s] = x[s * c];
    // one induction variable per loop, so that every index below is a compile-time
    // constant after unrolling and v[] stays in registers
#pragma unroll
    for (int st = 0; (1 << st) < R; ++st) {
        const int t = R >> (st + 1), m = 1 << st;
#pragma unroll
        for (int g = 0; g < m; ++g) {
            u64 w = twl[m + g], ws = twsl[m + g];
#pragma unroll
            for (int k = 0; k < t; ++k) {
                int j = 2 * g * t + k;
                u64 u = v[j];
                u64 y = mul_shoup(v[j + t], w, ws, q);
                v[j] = add_mod(u, y, q);
                v[j + t] = sub_mod(u, y, q);
            }
        }
    }
#pragma unroll
    for (int s = 0; s < R; ++s) x[s * c] = v[s];
}

// All forward stages with t <= C/2 in shared memory, C = 2^log_c words, two stages per
// barrier: C/4 threads, each running a radix-4 unit {b, b + t/2, b + t, b + 3t/2} through
// stages t and t/2 in registers, then one radix-2 stage when the count is odd (one stage
// per barrier measured 68.3 against 59.1 us for a 24-limb NTT on an H200).
// Launch: grid (N / C, limbs), blockDim.x = C/4, dynamic shared memory C * 8 bytes.
extern "C" __global__ void ntt_fwd_tail(u64 *a, const u64 *tw, const u64 *tws, u32 log_n,
                                         u32 log_c, const __grid_constant__ LimbParams p) {
    extern __shared__ u64 sh[];
    u32 l = blockIdx.y;
    u64 n = 1ull << log_n;
    u32 quarter = 1u << (log_c - 2);
    u32 tid = threadIdx.x;
    u64 base = (u64)blockIdx.x << log_c;
    u64 *x = a + (u64)l * n + base;
    u64 q = p.q[l];
    const u64 *twl = tw + (u64)p.prime[l] * n;
    const u64 *twsl = tws + (u64)p.prime[l] * n;
    for (u32 r = 0; r < 4; ++r) sh[tid + r * quarter] = x[tid + r * quarter];
    int log_t = (int)log_c - 1;
    for (; log_t >= 1; log_t -= 2) {
        __syncthreads();
        u32 t = 1u << log_t, h = t >> 1;
        u32 g = tid >> (log_t - 1);
        u32 b = g * 2 * t + (tid & (h - 1));
        u64 x0 = sh[b], x1 = sh[b + h], x2 = sh[b + t], x3 = sh[b + t + h];
        u64 wi = (n >> (log_t + 1)) + (base >> (log_t + 1)) + g;
        u64 w = twl[wi], ws = twsl[wi];
        u64 y = mul_shoup(x2, w, ws, q);
        x2 = sub_mod(x0, y, q);
        x0 = add_mod(x0, y, q);
        y = mul_shoup(x3, w, ws, q);
        x3 = sub_mod(x1, y, q);
        x1 = add_mod(x1, y, q);
        u64 wj = (n >> log_t) + (base >> log_t) + 2 * g;
        w = twl[wj], ws = twsl[wj];
        y = mul_shoup(x1, w, ws, q);
        x1 = sub_mod(x0, y, q);
        x0 = add_mod(x0, y, q);
        w = twl[wj + 1], ws = twsl[wj + 1];
        y = mul_shoup(x3, w, ws, q);
        x3 = sub_mod(x2, y, q);
        x2 = add_mod(x2, y, q);
        sh[b] = x0, sh[b + h] = x1, sh[b + t] = x2, sh[b + t + h] = x3;
    }
    if (log_t == 0) {
        // the last stage (t = 1) alone: two butterflies per thread
        __syncthreads();
        for (u32 r = 0; r < 2; ++r) {
            u32 i = 2 * tid + r;
            u32 j = 2 * i;
            u64 wi = (n >> 1) + (base >> 1) + i;
            u64 u = sh[j];
            u64 v = mul_shoup(sh[j + 1], twl[wi], twsl[wi], q);
            sh[j] = add_mod(u, v, q);
            sh[j + 1] = sub_mod(u, v, q);
        }
    }
    __syncthreads();
    for (u32 r = 0; r < 4; ++r) x[tid + r * quarter] = sh[tid + r * quarter];
}

// All inverse stages with t <= C/2 in shared memory (the first ones), two per barrier:
// radix-4 units {b, b + t, b + 2t, b + 3t} through stages t and 2t in registers
// (Gentleman-Sande), a last radix-2 stage when the count is odd. When C == N this is the
// whole transform and the N^-1 factor (p.s, p.ss) is applied on the way out. Launch: grid (N / C, limbs), blockDim.x = C/4,
// dynamic shared memory C * 8 bytes.
extern "C" __global__ void intt_head(u64 *a, const u64 *itw, const u64 *itws, u32 log_n,
                                      u32 log_c, const __grid_constant__ LimbParams p) {
    extern __shared__ u64 sh[];
    u32 l = blockIdx.y;
    u64 n = 1ull << log_n;
    u32 quarter = 1u << (log_c - 2);
    u32 tid = threadIdx.x;
    u64 base = (u64)blockIdx.x << log_c;
    u64 *x = a + (u64)l * n + base;
    u64 q = p.q[l];
    const u64 *twl = itw + (u64)p.prime[l] * n;
    const u64 *twsl = itws + (u64)p.prime[l] * n;
    for (u32 r = 0; r < 4; ++r) sh[tid + r * quarter] = x[tid + r * quarter];
    u32 log_t = 0;
    for (; log_t + 1 < log_c; log_t += 2) {
        __syncthreads();
        u32 t = 1u << log_t;
        u32 g = tid >> log_t;
        u32 b = g * 4 * t + (tid & (t - 1));
        u64 x0 = sh[b], x1 = sh[b + t], x2 = sh[b + 2 * t], x3 = sh[b + 3 * t];
        // stage t: groups 2g and 2g + 1
        u64 wi = (n >> (log_t + 1)) + (base >> (log_t + 1)) + 2 * g;
        u64 u = x0, v = x1;
        x0 = add_mod(u, v, q);
        x1 = mul_shoup(sub_mod(u, v, q), twl[wi], twsl[wi], q);
        u = x2, v = x3;
        x2 = add_mod(u, v, q);
        x3 = mul_shoup(sub_mod(u, v, q), twl[wi + 1], twsl[wi + 1], q);
        // stage 2t: group g
        u64 wj = (n >> (log_t + 2)) + (base >> (log_t + 2)) + g;
        u64 w = twl[wj], ws = twsl[wj];
        u = x0, v = x2;
        x0 = add_mod(u, v, q);
        x2 = mul_shoup(sub_mod(u, v, q), w, ws, q);
        u = x1, v = x3;
        x1 = add_mod(u, v, q);
        x3 = mul_shoup(sub_mod(u, v, q), w, ws, q);
        sh[b] = x0, sh[b + t] = x1, sh[b + 2 * t] = x2, sh[b + 3 * t] = x3;
    }
    if (log_t + 1 == log_c) {
        // the last stage (t = C/2) alone: two butterflies per thread
        __syncthreads();
        u32 t = 1u << log_t;
        for (u32 r = 0; r < 2; ++r) {
            u32 j = tid + r * quarter;
            u64 wi = (n >> (log_t + 1)) + (base >> (log_t + 1));
            u64 u = sh[j], v = sh[j + t];
            sh[j] = add_mod(u, v, q);
            sh[j + t] = mul_shoup(sub_mod(u, v, q), twl[wi], twsl[wi], q);
        }
    }
    __syncthreads();
    for (u32 r = 0; r < 4; ++r) {
        u64 y = sh[tid + r * quarter];
        if (log_c == log_n) y = mul_shoup(y, p.s[l], p.ss[l], q);
        x[tid + r * quarter] = y;
    }
}

// All inverse stages with distance t >= C (the last ones), one thread per column as in
// ntt_fwd_outer, Gentleman-Sande with twiddle itw[R / (2T) + g]. The last stage (t = N/2)
// also multiplies by N^-1: the sum by p.s = N^-1, the difference by the precomputed
// w * N^-1 passed in wn / wns (one per prime).
// Launch: grid (ceil(C / blockDim.x), limbs).
template <int R>
__device__ __forceinline__ void intt_outer(u64 *a, const u64 *itw, const u64 *itws,
                                           const u64 *wn, const u64 *wns, u32 log_n,
                                           const LimbParams &p) {
    u32 l = blockIdx.y;
    u64 n = 1ull << log_n;
    u64 c = n / R;
    u64 r = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= c) return;
    u64 q = p.q[l];
    u32 pr = p.prime[l];
    u64 *x = a + (u64)l * n + r;
    const u64 *twl = itw + (u64)pr * n;
    const u64 *twsl = itws + (u64)pr * n;
    u64 v[R];
#pragma unroll
    for (int s = 0; s < R; ++s) v[s] = x[s * c];
#pragma unroll
    for (int st = 0; (1 << st) < R; ++st) {
        const int t = 1 << st, h = R >> (st + 1);
#pragma unroll
        for (int g = 0; g < h; ++g) {
            u64 w, ws, sw = 0, sws = 0;
            if (h == 1) {
                w = wn[pr], ws = wns[pr], sw = p.s[l], sws = p.ss[l];
            } else {
                w = twl[h + g], ws = twsl[h + g];
            }
#pragma unroll
            for (int k = 0; k < t; ++k) {
                int j = 2 * g * t + k;
                u64 u = v[j], y = v[j + t];
                u64 sum = add_mod(u, y, q);
                v[j] = h == 1 ? mul_shoup(sum, sw, sws, q) : sum;
                v[j + t] = mul_shoup(sub_mod(u, y, q), w, ws, q);
            }
        }
    }
#pragma unroll
    for (int s = 0; s < R; ++s) x[s * c] = v[s];
}

// The entry points, one per R = 2^1 .. 2^6 (N up to 2^17 with C = 2^11).
#define FHE_NTT_OUTER(R)                                                                   \
    extern "C" __global__ void ntt_fwd_outer_##R(u64 *a, const u64 *tw, const u64 *tws,    \
                                                 u32 log_n,                                \
                                                 const __grid_constant__ LimbParams p) {   \
        ntt_fwd_outer<R>(a, tw, tws, log_n, p);                                            \
    }                                                                                      \
    extern "C" __global__ void intt_outer_##R(u64 *a, const u64 *itw, const u64 *itws,     \
                                              const u64 *wn, const u64 *wns, u32 log_n,    \
                                              const __grid_constant__ LimbParams p) {      \
        intt_outer<R>(a, itw, itws, wn, wns, log_n, p);                                    \
    }
FHE_NTT_OUTER(2)
FHE_NTT_OUTER(4)
FHE_NTT_OUTER(8)
FHE_NTT_OUTER(16)
FHE_NTT_OUTER(32)
FHE_NTT_OUTER(64)
