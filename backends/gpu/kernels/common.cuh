// Shared definitions for the fhe-dsl GPU kernels: 64-bit RNS words, 128-bit products
// through __umul64hi, Shoup multiplication for fixed operands and Barrett reduction
// otherwise. Every result is fully reduced in [0, q), so it is bit-identical to the CPU
// and reference backends (a residue in [0, q) is unique).
//
// The host prepends this file to every other kernel file before compiling with NVRTC.

typedef unsigned long long u64;
typedef unsigned int u32;

// Limbs a single launch can address; the host splits longer polynomials.
#define FHE_MAX_LIMBS 64

// Per-limb description of the destination of an element-wise launch, passed by value
// (kernel parameter space, read through __grid_constant__ without a local copy).
// Layout mirrors `LimbParams` in src/kernels.rs.
struct LimbParams {
    u64 q[FHE_MAX_LIMBS];      // modulus of limb l
    u64 bh[FHE_MAX_LIMBS];     // floor(2^128 / q), high word
    u64 bl[FHE_MAX_LIMBS];     // floor(2^128 / q), low word
    u64 s[FHE_MAX_LIMBS];      // per-limb scalar (mul/add scalar) or N^-1 factor
    u64 ss[FHE_MAX_LIMBS];     // Shoup companion of s
    u32 prime[FHE_MAX_LIMBS];  // prime index of limb l in the ring context
    u32 pos_b[FHE_MAX_LIMBS];  // limb position of the same prime in operand b
    u32 pos_c[FHE_MAX_LIMBS];  // limb position of the same prime in operand c
};

__device__ __forceinline__ u64 add_mod(u64 a, u64 b, u64 q) {
    u64 s = a + b;
    return s >= q ? s - q : s;
}

__device__ __forceinline__ u64 sub_mod(u64 a, u64 b, u64 q) {
    return a >= b ? a - b : a + q - b;
}

__device__ __forceinline__ u64 neg_mod(u64 a, u64 q) {
    return a == 0 ? 0 : q - a;
}

// a * w mod q with ws = floor(w * 2^64 / q); a may be any 64-bit word (q < 2^62).
__device__ __forceinline__ u64 mul_shoup(u64 a, u64 w, u64 ws, u64 q) {
    u64 qt = __umul64hi(a, ws);
    u64 r = a * w - qt * q;
    return r >= q ? r - q : r;
}

// Barrett reduction of x = xh * 2^64 + xl (any x < 2^128) mod q < 2^62, with
// (bh, bl) = floor(2^128 / q). The quotient estimate is short by at most 2.
__device__ __forceinline__ u64 reduce128(u64 xh, u64 xl, u64 q, u64 bh, u64 bl) {
    u64 t0 = __umul64hi(xl, bl);
    u64 lo1 = xh * bl;
    u64 hi1 = __umul64hi(xh, bl);
    u64 lo2 = xl * bh;
    u64 hi2 = __umul64hi(xl, bh);
    u64 s1 = t0 + lo1;
    u64 c = s1 < t0 ? 1ull : 0ull;
    u64 s2 = s1 + lo2;
    c += s2 < s1 ? 1ull : 0ull;
    u64 qt = xh * bh + hi1 + hi2 + c;
    u64 r = xl - qt * q;
    if (r >= q) r -= q;
    if (r >= q) r -= q;
    return r;
}

// a * b mod q for a, b < q.
__device__ __forceinline__ u64 mul_mod(u64 a, u64 b, u64 q, u64 bh, u64 bl) {
    return reduce128(__umul64hi(a, b), a * b, q, bh, bl);
}

// 128-bit accumulator (hi, lo) += a * b.
__device__ __forceinline__ void mac128(u64 &hi, u64 &lo, u64 a, u64 b) {
    u64 pl = a * b;
    u64 ph = __umul64hi(a, b);
    lo += pl;
    hi += ph + (lo < pl ? 1ull : 0ull);
}

// Bit reversal of the low `bits` bits of x (bits >= 1).
__device__ __forceinline__ u32 brv(u32 x, u32 bits) {
    return __brev(x) >> (32 - bits);
}
