//! Scalar modular arithmetic for word-sized primes (28..=61 bits).
//!
//! This is the scalar reference: precomputation and host-side code use it.
//! Backends run their own vectorised kernels but must agree with it bit for bit.

use serde::{Deserialize, Serialize};

/// A prime modulus `q < 2^62` with precomputed Barrett constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Modulus {
    q: u64,
    /// floor(2^128 / q), split as (hi, lo) 64-bit words.
    barrett_hi: u64,
    barrett_lo: u64,
}

impl Modulus {
    /// Creates a modulus. `q` must be odd and in `3..2^62`; callers validate.
    pub fn new(q: u64) -> Self {
        assert!(q > 2 && q < (1 << 62), "modulus {q} out of range");
        let r = u128::MAX / q as u128; // floor((2^128 - 1) / q) == floor(2^128 / q) for odd q
        Modulus {
            q,
            barrett_hi: (r >> 64) as u64,
            barrett_lo: r as u64,
        }
    }

    /// The modulus value.
    #[inline(always)]
    pub fn value(&self) -> u64 {
        self.q
    }

    /// Bit length of q.
    pub fn bits(&self) -> u32 {
        64 - self.q.leading_zeros()
    }

    /// Reduces a 128-bit value mod q (Barrett).
    #[inline(always)]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let xl = x as u64 as u128;
        let xh = (x >> 64) as u64 as u128;
        let bl = self.barrett_lo as u128;
        let bh = self.barrett_hi as u128;
        // quotient estimate: floor(x * r / 2^128), computed from the 4 partial products
        let mid = ((xl * bl) >> 64) + xh * bl + xl * bh;
        let qt = (mid >> 64) + xh * bh;
        let r = x.wrapping_sub(qt.wrapping_mul(self.q as u128)) as u64;
        // the estimate is off by at most 2
        let r = if r >= self.q { r - self.q } else { r };
        if r >= self.q {
            r - self.q
        } else {
            r
        }
    }

    /// Reduces a u64 mod q.
    #[inline(always)]
    pub fn reduce(&self, x: u64) -> u64 {
        if x < self.q {
            x
        } else {
            x % self.q
        }
    }

    /// Reduces a signed value into `[0, q)`.
    #[inline(always)]
    pub fn reduce_i64(&self, x: i64) -> u64 {
        let r = x.rem_euclid(self.q as i64);
        r as u64
    }

    /// Reduces a signed 128-bit value into `[0, q)`.
    pub fn reduce_i128(&self, x: i128) -> u64 {
        x.rem_euclid(self.q as i128) as u64
    }

    /// `a + b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        let s = a + b;
        if s >= self.q {
            s - self.q
        } else {
            s
        }
    }

    /// `a - b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        if a >= b {
            a - b
        } else {
            a + self.q - b
        }
    }

    /// `-a mod q` for `a < q`.
    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        if a == 0 {
            0
        } else {
            self.q - a
        }
    }

    /// `a * b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128(a as u128 * b as u128)
    }

    /// Shoup precomputation for a fixed multiplicand `w < q`: floor(w * 2^64 / q).
    #[inline]
    pub fn shoup(&self, w: u64) -> u64 {
        (((w as u128) << 64) / self.q as u128) as u64
    }

    /// `a * w mod q` with `w_shoup = self.shoup(w)`; `a` may be any u64.
    #[inline(always)]
    pub fn mul_shoup(&self, a: u64, w: u64, w_shoup: u64) -> u64 {
        let qt = ((a as u128 * w_shoup as u128) >> 64) as u64;
        let r = a.wrapping_mul(w).wrapping_sub(qt.wrapping_mul(self.q));
        if r >= self.q {
            r - self.q
        } else {
            r
        }
    }

    /// `a^e mod q`.
    pub fn pow(&self, a: u64, mut e: u64) -> u64 {
        let mut base = self.reduce(a);
        let mut acc = 1u64;
        while e > 0 {
            if e & 1 == 1 {
                acc = self.mul(acc, base);
            }
            base = self.mul(base, base);
            e >>= 1;
        }
        acc
    }

    /// Multiplicative inverse of `a` (q prime). Returns `None` for `a ≡ 0`.
    pub fn inv(&self, a: u64) -> Option<u64> {
        let a = self.reduce(a);
        if a == 0 {
            None
        } else {
            Some(self.pow(a, self.q - 2))
        }
    }

    /// Centered lift of `a < q` into `(-q/2, q/2]`.
    #[inline(always)]
    pub fn center(&self, a: u64) -> i64 {
        if a > self.q / 2 {
            a as i64 - self.q as i64
        } else {
            a as i64
        }
    }

    /// Reduces a finite f64 that holds an integer (already rounded) mod q, exactly,
    /// whatever its magnitude.
    pub fn reduce_f64(&self, x: f64) -> u64 {
        debug_assert!(x.is_finite());
        if x.abs() < 9.2e18 {
            return self.reduce_i64(x as i64);
        }
        // x = mantissa * 2^exp exactly
        let bits = x.to_bits();
        let sign = bits >> 63;
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let mant = (bits & ((1 << 52) - 1)) | (1 << 52);
        let shift = exp - 1075; // > 0 here since |x| >= 2^63
        let r = self.mul(self.reduce(mant), self.pow(2, shift as u64));
        if sign == 1 {
            self.neg(r)
        } else {
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PRIMES: [u64; 4] = [
        268_369_921,               // 28-bit
        1_125_899_906_826_241,     // 50-bit
        1_152_921_504_606_584_833, // 60-bit
        2_305_843_009_213_554_689, // 61-bit
    ];

    proptest! {
        #[test]
        fn mul_matches_u128(a in any::<u64>(), b in any::<u64>(), i in 0usize..4) {
            let m = Modulus::new(PRIMES[i]);
            let q = PRIMES[i] as u128;
            let (a, b) = (a % PRIMES[i], b % PRIMES[i]);
            prop_assert_eq!(m.mul(a, b) as u128, a as u128 * b as u128 % q);
            prop_assert_eq!(m.mul_shoup(a, b, m.shoup(b)) as u128, a as u128 * b as u128 % q);
            prop_assert_eq!(m.add(a, b) as u128, (a as u128 + b as u128) % q);
            prop_assert_eq!(m.sub(a, b) as u128, (a as u128 + q - b as u128) % q);
        }

        #[test]
        fn reduce_u128_matches(x in any::<u128>(), i in 0usize..4) {
            let m = Modulus::new(PRIMES[i]);
            prop_assert_eq!(m.reduce_u128(x) as u128, x % PRIMES[i] as u128);
        }

        #[test]
        fn reduce_f64_exact(m_ in 0u64..(1 << 53), e in 0u32..200, neg in any::<bool>(), i in 0usize..4) {
            let m = Modulus::new(PRIMES[i]);
            let x = (m_ as f64) * 2f64.powi(e as i32) * if neg { -1.0 } else { 1.0 };
            let big = num_bigint::BigInt::from(m_) << e;
            let big = if neg { -big } else { big };
            let q = num_bigint::BigInt::from(PRIMES[i]);
            let want = ((big % &q) + &q) % &q;
            prop_assert_eq!(num_bigint::BigInt::from(m.reduce_f64(x)), want);
        }
    }

    #[test]
    fn inverse() {
        for q in PRIMES {
            let m = Modulus::new(q);
            for a in [1u64, 2, 3, 12345, q - 1] {
                assert_eq!(m.mul(a, m.inv(a).unwrap()), 1);
            }
            assert_eq!(m.inv(0), None);
        }
    }
}
