// Negacyclic NTT over many limbs at once (grid y = limb).
//
// Convention (fhe_dsl::math::NttTable): tw[brv(k)] = psi^k per prime, forward
// Cooley-Tukey from natural to bit-reversed order, inverse Gentleman-Sande from
// bit-reversed to natural order including N^-1. Tables are stored prime-major:
// tw[prime * N + idx].
//
// A transform is a few global radix-2 stages (butterfly distance t too large for one
// block) followed (forward) or preceded (inverse) by one shared-memory kernel running all
// stages whose butterflies stay inside a chunk of C = 2 * blockDim.x words.

// One forward stage with distance t = 2^log_t (m = N / 2t groups).
// Launch: grid (ceil(N/2 / blockDim.x), limbs).
extern "C" __global__ void ntt_fwd_stage(u64 *a, const u64 *tw, const u64 *tws, u32 log_n,
                                         u32 log_t, const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= (n >> 1)) return;
    u32 t = 1u << log_t;
    u32 m = (u32)(n >> (log_t + 1));
    u32 i = k >> log_t;
    u32 j = (i << (log_t + 1)) + (k & (t - 1));
    u64 q = p.q[l];
    u64 widx = (u64)p.prime[l] * n + m + i;
    u64 w = tw[widx], ws = tws[widx];
    u64 *x = a + (u64)l * n;
    u64 u = x[j];
    u64 v = mul_shoup(x[j + t], w, ws, q);
    x[j] = add_mod(u, v, q);
    x[j + t] = sub_mod(u, v, q);
}

// All forward stages with t <= C/2 in shared memory, C = 2 * blockDim.x (a power of two
// <= N). Launch: grid (N / C, limbs), blockDim.x = C/2, dynamic shared memory C * 8 bytes.
extern "C" __global__ void ntt_fwd_tail(u64 *a, const u64 *tw, const u64 *tws, u32 log_n,
                                        u32 log_c, const __grid_constant__ LimbParams p) {
    extern __shared__ u64 sh[];
    u32 l = blockIdx.y;
    u64 n = 1ull << log_n;
    u32 half = 1u << (log_c - 1);
    u32 tid = threadIdx.x;
    u64 base = (u64)blockIdx.x << log_c;
    u64 *x = a + (u64)l * n + base;
    u64 q = p.q[l];
    const u64 *twl = tw + (u64)p.prime[l] * n;
    const u64 *twsl = tws + (u64)p.prime[l] * n;
    sh[tid] = x[tid];
    sh[tid + half] = x[tid + half];
    for (int log_t = (int)log_c - 1; log_t >= 0; --log_t) {
        __syncthreads();
        u32 t = 1u << log_t;
        u64 m = n >> (log_t + 1);
        u32 i = tid >> log_t;
        u32 j = (i << (log_t + 1)) + (tid & (t - 1));
        u64 widx = m + (base >> (log_t + 1)) + i;
        u64 u = sh[j];
        u64 v = mul_shoup(sh[j + t], twl[widx], twsl[widx], q);
        sh[j] = add_mod(u, v, q);
        sh[j + t] = sub_mod(u, v, q);
    }
    __syncthreads();
    x[tid] = sh[tid];
    x[tid + half] = sh[tid + half];
}

// All inverse stages with t <= C/2 in shared memory (the first ones). When C == N this is
// the whole transform and the N^-1 factor (p.s, p.ss) is applied on the way out.
// Launch: grid (N / C, limbs), blockDim.x = C/2, dynamic shared memory C * 8 bytes.
extern "C" __global__ void intt_head(u64 *a, const u64 *itw, const u64 *itws, u32 log_n,
                                     u32 log_c, const __grid_constant__ LimbParams p) {
    extern __shared__ u64 sh[];
    u32 l = blockIdx.y;
    u64 n = 1ull << log_n;
    u32 half = 1u << (log_c - 1);
    u32 tid = threadIdx.x;
    u64 base = (u64)blockIdx.x << log_c;
    u64 *x = a + (u64)l * n + base;
    u64 q = p.q[l];
    const u64 *twl = itw + (u64)p.prime[l] * n;
    const u64 *twsl = itws + (u64)p.prime[l] * n;
    sh[tid] = x[tid];
    sh[tid + half] = x[tid + half];
    for (u32 log_t = 0; log_t < log_c; ++log_t) {
        __syncthreads();
        u32 t = 1u << log_t;
        u64 h = n >> (log_t + 1);
        u32 i = tid >> log_t;
        u32 j = (i << (log_t + 1)) + (tid & (t - 1));
        u64 widx = h + (base >> (log_t + 1)) + i;
        u64 u = sh[j];
        u64 v = sh[j + t];
        sh[j] = add_mod(u, v, q);
        sh[j + t] = mul_shoup(sub_mod(u, v, q), twl[widx], twsl[widx], q);
    }
    __syncthreads();
    u64 y0 = sh[tid], y1 = sh[tid + half];
    if (log_c == log_n) {
        y0 = mul_shoup(y0, p.s[l], p.ss[l], q);
        y1 = mul_shoup(y1, p.s[l], p.ss[l], q);
    }
    x[tid] = y0;
    x[tid + half] = y1;
}

// One inverse stage with distance t = 2^log_t (h = N / 2t groups). The last stage
// (t = N/2) also multiplies by N^-1: the sum by p.s = N^-1, the difference by the
// precomputed w * N^-1 passed in wn / wns (one per prime).
// Launch: grid (ceil(N/2 / blockDim.x), limbs).
extern "C" __global__ void intt_stage(u64 *a, const u64 *itw, const u64 *itws,
                                      const u64 *wn, const u64 *wns, u32 log_n, u32 log_t,
                                      const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= (n >> 1)) return;
    u32 t = 1u << log_t;
    u32 h = (u32)(n >> (log_t + 1));
    u32 i = k >> log_t;
    u32 j = (i << (log_t + 1)) + (k & (t - 1));
    u64 q = p.q[l];
    u64 *x = a + (u64)l * n;
    u64 u = x[j];
    u64 v = x[j + t];
    if (h == 1) {
        u32 pr = p.prime[l];
        x[j] = mul_shoup(add_mod(u, v, q), p.s[l], p.ss[l], q);
        x[j + t] = mul_shoup(sub_mod(u, v, q), wn[pr], wns[pr], q);
    } else {
        u64 widx = (u64)p.prime[l] * n + h + i;
        x[j] = add_mod(u, v, q);
        x[j + t] = mul_shoup(sub_mod(u, v, q), itw[widx], itws[widx], q);
    }
}
