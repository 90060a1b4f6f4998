// The key-switching inner product in one pass (hybrid key switching, Han-Ki):
//   acc0[l][k] = sum_j d_j[l][src(k)] * b_j[pos_b[l]][k]   (mod q_l)
//   acc1[l][k] = sum_j d_j[l][src(k)] * a_j[pos_b[l]][k]
// where src(k) is the NTT-domain automorphism's source index for `galois` (the identity
// when galois == 0): each digit and key word is read once and each output written once,
// instead of one automorphism pass and two multiply-accumulate passes per digit.
// Products of words below 2^62 are summed exactly in 128 bits, reduced every 16 terms
// and at the end, so the result equals the reference's term-by-term modular sum.

#define FHE_MAX_DIGITS 16

// Device addresses of the digits (d, over the destination's primes, limb-major from limb
// 0 of the whole polynomial) and of the key digits (b, a, over the key's primes).
struct KsPtrs {
    const u64 *d[FHE_MAX_DIGITS];
    const u64 *b[FHE_MAX_DIGITS];
    const u64 *a[FHE_MAX_DIGITS];
};

// Launch: grid (ceil(N / blockDim.x), limbs of this chunk); limb0 is the chunk's first
// limb in the digits; acc0/acc1 point at the chunk's first limb.
extern "C" __global__ void ks_inner(u64 *acc0, u64 *acc1, const __grid_constant__ KsPtrs ptr,
                                    u32 digits, u32 limb0, u32 log_n, u64 galois,
                                    const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= n) return;
    u32 src = k;
    if (galois != 0) {
        u64 mask = 2 * n - 1;
        u64 e = (2ull * brv(k, log_n) + 1ull) * (galois & mask) & mask;
        src = brv((u32)((e - 1) >> 1), log_n);
    }
    u64 q = p.q[l], bh = p.bh[l], bl = p.bl[l];
    u64 drow = (u64)(limb0 + l) * n;
    u64 krow = (u64)p.pos_b[l] * n + k;
    u64 h0 = 0, l0 = 0, h1 = 0, l1 = 0;
    for (u32 j = 0; j < digits; ++j) {
        u64 x = ptr.d[j][drow + src];
        mac128(h0, l0, x, ptr.b[j][krow]);
        mac128(h1, l1, x, ptr.a[j][krow]);
        if ((j & 15) == 15) {
            l0 = reduce128(h0, l0, q, bh, bl);
            l1 = reduce128(h1, l1, q, bh, bl);
            h0 = h1 = 0;
        }
    }
    acc0[(u64)l * n + k] = reduce128(h0, l0, q, bh, bl);
    acc1[(u64)l * n + k] = reduce128(h1, l1, q, bh, bl);
}

// The plaintext-times-ciphertext sums of a linear transform, both parts at once:
//   acc0[l][k] += sum_t w_t[pos_b[l]][k] * x_t[pos_c[l]][k],
//   acc1[l][k] += sum_t w_t[pos_b[l]][k] * y_t[pos_c[l]][k],
// with w_t in ptr.d, x_t in ptr.b, y_t in ptr.a (every w over one prime list, every x and
// y over another). Exact 128-bit sums, reduced every 16 terms and once at the end.
// Launch: grid (ceil(N / blockDim.x), limbs of this chunk); acc0/acc1 at the chunk.
extern "C" __global__ void mul_add_terms(u64 *acc0, u64 *acc1, const __grid_constant__ KsPtrs ptr,
                                         u32 terms, u32 log_n,
                                         const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= n) return;
    u64 q = p.q[l], bh = p.bh[l], bl = p.bl[l];
    u64 wrow = (u64)p.pos_b[l] * n + k;
    u64 crow = (u64)p.pos_c[l] * n + k;
    u64 *o0 = acc0 + (u64)l * n + k;
    u64 *o1 = acc1 + (u64)l * n + k;
    u64 h0 = 0, l0 = *o0, h1 = 0, l1 = *o1;
    for (u32 t = 0; t < terms; ++t) {
        u64 w = ptr.d[t][wrow];
        mac128(h0, l0, w, ptr.b[t][crow]);
        mac128(h1, l1, w, ptr.a[t][crow]);
        if ((t & 15) == 14) {
            l0 = reduce128(h0, l0, q, bh, bl);
            l1 = reduce128(h1, l1, q, bh, bl);
            h0 = h1 = 0;
        }
    }
    *o0 = reduce128(h0, l0, q, bh, bl);
    *o1 = reduce128(h1, l1, q, bh, bl);
}
