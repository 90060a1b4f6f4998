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
