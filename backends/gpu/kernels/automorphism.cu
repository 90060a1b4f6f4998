// Automorphism X -> X^g in the NTT domain: a pure permutation of evaluation points.
// Position i holds a(psi^e) with e = 2 brv(i) + 1; sigma_g moves it to the position of
// e * g mod 2N, so out[i] = in[brv(((e_i * g) mod 2N - 1) / 2)] (no table needed).
//
// Launch: grid (ceil(N / blockDim.x), limbs); out and in have the same limb order.
extern "C" __global__ void automorphism_ntt(u64 *out, const u64 *in, u32 log_n, u64 galois) {
    u32 l = blockIdx.y;
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (i >= n) return;
    u64 mask = 2 * n - 1;
    u64 e = (2ull * brv(i, log_n) + 1ull) * (galois & mask) & mask;
    u32 j = brv((u32)((e - 1) >> 1), log_n);
    out[(u64)l * n + i] = in[(u64)l * n + j];
}

// acc[l][k] += in[l][src(k)] * s_l: an automorphism, a per-limb scalar (Shoup) and an
// addition in one pass (double hoisting's P·σ(c0) added to a rotation kept over Q·P; the
// first limbs of acc and in hold the same primes). Launch: grid (ceil(N / blockDim.x),
// limbs of in).
extern "C" __global__ void automorphism_mul_scalar_add(u64 *acc, const u64 *in, u32 log_n,
                                                       u64 galois,
                                                       const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (i >= n) return;
    u64 mask = 2 * n - 1;
    u64 e = (2ull * brv(i, log_n) + 1ull) * (galois & mask) & mask;
    u32 j = brv((u32)((e - 1) >> 1), log_n);
    u64 q = p.q[l];
    u64 *x = acc + (u64)l * n + i;
    *x = add_mod(*x, mul_shoup(in[(u64)l * n + j], p.s[l], p.ss[l], q), q);
}
