// Fast basis conversion (Halevi-Polyakov-Shoup, no correction) of a coefficient-form
// polynomial from primes {q_i} to primes {p_j}:
//   y_j = sum_i [x_i * qhat_inv_i]_{q_i} * [qhat_i]_{p_j}  mod p_j.
// The sum is accumulated exactly in 128 bits (hi, lo) and reduced once per 16 terms
// (16 products of two words below 2^62 stay below 2^128), so the result equals the
// reference's term-by-term modular sum.
//
// With `centered` set it converts the centered representative instead: (T-1)/2 (T the
// product of the q_i) is added to the input's residues and subtracted from the outputs,
// which is how rescale, ModDown and ModRaise round (x + (T-1)/2 lies in [0, T) exactly).
//
// Table layout (u64, built by the host per (from, to) pair):
//   [ q_i (nf) | qhat_inv_i (nf) | Shoup(qhat_inv_i) (nf) | p_j (nt) | bh_j (nt) | bl_j (nt)
//     | [qhat_i]_{p_j} row-major [j][i] (nt * nf) | (T-1)/2 mod q_i (nf)
//     | -(T-1)/2 mod p_j (nt) ]
// Launch: grid (ceil(N / blockDim.x), nt); thread (k, j) writes out[j * N + k].
extern "C" __global__ void base_convert(u64 *out, const u64 *in, const u64 *table, u32 nf,
                                        u32 nt, u32 log_n, u32 centered) {
    u32 j = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= n) return;
    const u64 *qf = table;
    const u64 *qinv = table + nf;
    const u64 *qinvs = table + 2 * nf;
    u64 pj = table[3 * nf + j];
    u64 bh = table[3 * nf + nt + j];
    u64 bl = table[3 * nf + 2 * nt + j];
    const u64 *row = table + 3 * nf + 3 * nt + (u64)j * nf;
    const u64 *half_in = table + 3 * nf + 3 * nt + (u64)nt * nf;
    u64 hi = 0, lo = 0;
    for (u32 i = 0; i < nf; ++i) {
        u64 x = in[(u64)i * n + k];
        if (centered) x = add_mod(x, half_in[i], qf[i]);
        u64 y = mul_shoup(x, qinv[i], qinvs[i], qf[i]);
        mac128(hi, lo, y, row[i]);
        if ((i & 15) == 15) {
            lo = reduce128(hi, lo, pj, bh, bl);
            hi = 0;
        }
    }
    u64 r = reduce128(hi, lo, pj, bh, bl);
    if (centered) r = add_mod(r, half_in[nf + j], pj);
    out[(u64)j * n + k] = r;
}
