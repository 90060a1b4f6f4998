// Element-wise modular arithmetic over lists of limbs.
//
// Launch: grid (ceil(N / blockDim.x), limbs), one thread per word. Limb l of the
// destination `a` holds prime p.prime[l]; operands b and c hold the same prime at limb
// positions p.pos_b[l] and p.pos_c[l] (they may carry more limbs than a).

#define EW_ADD 0
#define EW_SUB 1
#define EW_MUL 2

#define EW_NEG 0
#define EW_ADD_SCALAR 1
#define EW_MUL_SCALAR 2

// a = a (op) b, op in {EW_ADD, EW_SUB, EW_MUL}.
extern "C" __global__ void ew_binary(u64 *a, const u64 *b, u32 log_n, u32 op,
                                     const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= n) return;
    u64 q = p.q[l];
    u64 *x = a + (u64)l * n + k;
    u64 y = b[(u64)p.pos_b[l] * n + k];
    u64 v = *x;
    if (op == EW_ADD) {
        v = add_mod(v, y, q);
    } else if (op == EW_SUB) {
        v = sub_mod(v, y, q);
    } else {
        v = mul_mod(v, y, q, p.bh[l], p.bl[l]);
    }
    *x = v;
}

// acc = acc + b * c.
extern "C" __global__ void ew_mul_add(u64 *acc, const u64 *b, const u64 *c, u32 log_n,
                                      const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= n) return;
    u64 q = p.q[l];
    u64 *x = acc + (u64)l * n + k;
    u64 y = b[(u64)p.pos_b[l] * n + k];
    u64 z = c[(u64)p.pos_c[l] * n + k];
    *x = add_mod(*x, mul_mod(y, z, q, p.bh[l], p.bl[l]), q);
}

// a = op(a) with the per-limb scalar p.s[l] (Shoup companion p.ss[l]).
extern "C" __global__ void ew_unary(u64 *a, u32 log_n, u32 op,
                                    const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= n) return;
    u64 q = p.q[l];
    u64 *x = a + (u64)l * n + k;
    u64 v = *x;
    if (op == EW_NEG) {
        v = neg_mod(v, q);
    } else if (op == EW_ADD_SCALAR) {
        v = add_mod(v, p.s[l], q);
    } else {
        v = mul_shoup(v, p.s[l], p.ss[l], q);
    }
    *x = v;
}

// out limb l = in limb p.pos_b[l] (select / reorder limbs).
extern "C" __global__ void gather_limbs(u64 *out, const u64 *in, u32 log_n,
                                        const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= n) return;
    out[(u64)l * n + k] = in[(u64)p.pos_b[l] * n + k];
}

// a = (b - a) * s per limb (Shoup), b's limb at p.pos_b[l]: the last step of dividing by
// the tail primes T, (x_keep - [x]_T) * T^-1, on the converted and transformed [x]_T.
extern "C" __global__ void ew_sub_from_mul(u64 *a, const u64 *b, u32 log_n,
                                           const __grid_constant__ LimbParams p) {
    u32 l = blockIdx.y;
    u32 k = blockIdx.x * blockDim.x + threadIdx.x;
    u64 n = 1ull << log_n;
    if (k >= n) return;
    u64 q = p.q[l];
    u64 *x = a + (u64)l * n + k;
    u64 d = sub_mod(b[(u64)p.pos_b[l] * n + k], *x, q);
    *x = mul_shoup(d, p.s[l], p.ss[l], q);
}
