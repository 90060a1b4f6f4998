//! Word-level modular arithmetic kernels (scalar, branch-light, inlined everywhere).
//!
//! Every function here returns exactly what [`fhe_dsl::math::Modulus`] returns for the
//! same inputs (fully reduced residues); the tests pin that.

/// A prime `q < 2^62` with a two-multiplication Barrett constant for products `< q^2`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mod {
    /// The prime.
    pub q: u64,
    /// `floor(2^(2k) / q)` with `k = bits(q)`; fits in 63 bits.
    mu: u64,
    /// `k - 1`.
    k_minus_1: u32,
    /// `k + 1`.
    k_plus_1: u32,
}

impl Mod {
    /// Precomputes the Barrett constant (`3 <= q < 2^62`).
    pub fn new(q: u64) -> Self {
        assert!(q > 2 && q < (1 << 62), "modulus {q} out of range");
        let k = 64 - q.leading_zeros();
        Mod {
            q,
            mu: ((1u128 << (2 * k)) / q as u128) as u64,
            k_minus_1: k - 1,
            k_plus_1: k + 1,
        }
    }

    /// `x mod q` for `x < 2^(2k)` (e.g. `a·b + c` with `a, b, c < q`).
    ///
    /// Classic Barrett (HAC 14.42, base 2): the quotient estimate is short by at most 2.
    #[inline(always)]
    pub fn reduce_prod(self, x: u128) -> u64 {
        let q1 = (x >> self.k_minus_1) as u64;
        let q3 = ((q1 as u128 * self.mu as u128) >> self.k_plus_1) as u64;
        // the true remainder is < 3q < 2^64, so wrapping arithmetic is exact (rarely
        // above q: the branches predict well)
        let mut r = (x as u64).wrapping_sub(q3.wrapping_mul(self.q));
        if r >= self.q {
            r -= self.q;
        }
        if r >= self.q {
            r -= self.q;
        }
        r
    }

    /// `a·b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn mul(self, a: u64, b: u64) -> u64 {
        self.reduce_prod(a as u128 * b as u128)
    }

    /// `a·b + c mod q` for `a, b, c < q`.
    #[inline(always)]
    pub fn mul_add(self, a: u64, b: u64, c: u64) -> u64 {
        self.reduce_prod(a as u128 * b as u128 + c as u128)
    }

    /// `a + b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn add(self, a: u64, b: u64) -> u64 {
        // branch-free (`min` keeps the wrapped-around difference only when smaller): for
        // random residues a branch here mispredicts half the time (measured 3× slower)
        let s = a + b;
        s.min(s.wrapping_sub(self.q))
    }

    /// `a - b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn sub(self, a: u64, b: u64) -> u64 {
        let d = a.wrapping_sub(b);
        d.min(d.wrapping_add(self.q))
    }

    /// `-a mod q` for `a < q`.
    #[inline(always)]
    pub fn neg(self, a: u64) -> u64 {
        if a == 0 {
            0
        } else {
            self.q - a
        }
    }

    /// Shoup companion `floor(w·2^64 / q)` of a fixed multiplicand `w < q`.
    pub fn shoup(self, w: u64) -> u64 {
        (((w as u128) << 64) / self.q as u128) as u64
    }

    /// `a·w mod q` for any `a` with `ws = self.shoup(w)`.
    #[inline(always)]
    pub fn mul_shoup(self, a: u64, w: u64, ws: u64) -> u64 {
        let qt = ((a as u128 * ws as u128) >> 64) as u64;
        let r = a.wrapping_mul(w).wrapping_sub(qt.wrapping_mul(self.q));
        if r >= self.q {
            r - self.q
        } else {
            r
        }
    }
}

/// How many products `< 2^a_bits · 2^b_bits` (plus one residue `< 2^b_bits`) a u128
/// accumulator can hold without overflow; at least 1.
pub(crate) fn lazy_terms(a_bits: u32, b_bits: u32) -> usize {
    let headroom = 128u32.saturating_sub(a_bits + b_bits);
    // 2^headroom terms would fit exactly; keep one slot for a carried residue
    ((1usize << headroom.min(20)) - 1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhe_dsl::math::Modulus;
    use proptest::prelude::*;

    const PRIMES: [u64; 5] = [
        268_369_921,
        1_125_899_906_826_241,
        1_152_921_504_606_584_833,
        2_305_843_009_213_554_689,
        4_611_686_018_427_322_369, // just under 2^62
    ];

    proptest! {
        #[test]
        fn matches_modulus(a in any::<u64>(), b in any::<u64>(), c in any::<u64>(), i in 0usize..5) {
            let q = PRIMES[i];
            let (m, r) = (Mod::new(q), Modulus::new(q));
            let (a, b, c) = (a % q, b % q, c % q);
            prop_assert_eq!(m.mul(a, b), r.mul(a, b));
            prop_assert_eq!(m.mul_add(a, b, c), r.add(r.mul(a, b), c));
            prop_assert_eq!(m.add(a, b), r.add(a, b));
            prop_assert_eq!(m.sub(a, b), r.sub(a, b));
            prop_assert_eq!(m.neg(a), r.neg(a));
            prop_assert_eq!(m.mul_shoup(c, b, m.shoup(b)), r.mul(c, b));
        }

        #[test]
        fn extremes(i in 0usize..5) {
            let q = PRIMES[i];
            let (m, r) = (Mod::new(q), Modulus::new(q));
            for (a, b) in [(q - 1, q - 1), (0, q - 1), (1, 1), (q - 1, 1)] {
                prop_assert_eq!(m.mul(a, b), r.mul(a, b));
                prop_assert_eq!(m.mul_add(a, b, q - 1), r.add(r.mul(a, b), q - 1));
            }
        }
    }

    #[test]
    fn lazy_terms_never_overflow() {
        for (a, b) in [(62u32, 62u32), (61, 57), (50, 50), (28, 28)] {
            let t = lazy_terms(a, b) as u128;
            let max = ((1u128 << a) - 1) * ((1u128 << b) - 1);
            // t products plus one residue
            assert!(t
                .checked_mul(max)
                .and_then(|s| s.checked_add(1u128 << b))
                .is_some());
        }
    }
}
