//! Negacyclic NTT tables and the scalar reference transform.
//!
//! Fixed convention (keys, ciphertexts and every backend depend on it):
//! - ψ is [`negacyclic_root`](super::negacyclic_root)`(q, log_n)`, a primitive 2N-th root;
//! - the forward transform is in place, input in natural order, output in bit-reversed
//!   order: `out[i] = a(ψ^(2·brv(i)+1))`;
//! - the inverse takes bit-reversed input and returns natural order, scaled by N^-1.

use super::{negacyclic_root, Modulus};

/// Reverses the low `bits` bits of `x`.
#[inline]
pub fn bit_reverse(x: usize, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        x.reverse_bits() >> (usize::BITS - bits)
    }
}

/// Precomputed twiddles for one prime and ring degree.
#[derive(Clone, Debug)]
pub struct NttTable {
    /// The prime.
    pub modulus: Modulus,
    /// log2 N.
    pub log_n: u32,
    /// The fixed primitive 2N-th root.
    pub psi: u64,
    /// `twiddles[brv(k)] = ψ^k`.
    pub twiddles: Vec<u64>,
    /// Shoup companions of `twiddles`.
    pub twiddles_shoup: Vec<u64>,
    /// `inv_twiddles[brv(k)] = ψ^-k`.
    pub inv_twiddles: Vec<u64>,
    /// Shoup companions of `inv_twiddles`.
    pub inv_twiddles_shoup: Vec<u64>,
    /// N^-1 mod q.
    pub n_inv: u64,
}

impl NttTable {
    /// Builds the table; `None` if q is not ≡ 1 mod 2N.
    pub fn new(q: u64, log_n: u32) -> Option<Self> {
        let modulus = Modulus::new(q);
        let psi = negacyclic_root(q, log_n)?;
        let n = 1usize << log_n;
        let psi_inv = modulus.inv(psi)?;
        let mut twiddles = vec![0; n];
        let mut inv_twiddles = vec![0; n];
        let (mut w, mut wi) = (1u64, 1u64);
        for k in 0..n {
            twiddles[bit_reverse(k, log_n)] = w;
            inv_twiddles[bit_reverse(k, log_n)] = wi;
            w = modulus.mul(w, psi);
            wi = modulus.mul(wi, psi_inv);
        }
        let twiddles_shoup = twiddles.iter().map(|&t| modulus.shoup(t)).collect();
        let inv_twiddles_shoup = inv_twiddles.iter().map(|&t| modulus.shoup(t)).collect();
        Some(NttTable {
            modulus,
            log_n,
            psi,
            twiddles,
            twiddles_shoup,
            inv_twiddles,
            inv_twiddles_shoup,
            n_inv: modulus.inv(n as u64)?,
        })
    }

    /// Forward transform (Cooley–Tukey, scalar, fully reduced). The reference.
    pub fn forward(&self, a: &mut [u64]) {
        let n = a.len();
        debug_assert_eq!(n, 1 << self.log_n);
        let q = &self.modulus;
        let mut t = n;
        let mut m = 1;
        while m < n {
            t >>= 1;
            for i in 0..m {
                let w = self.twiddles[m + i];
                let ws = self.twiddles_shoup[m + i];
                let base = 2 * i * t;
                for j in base..base + t {
                    let u = a[j];
                    let v = q.mul_shoup(a[j + t], w, ws);
                    a[j] = q.add(u, v);
                    a[j + t] = q.sub(u, v);
                }
            }
            m <<= 1;
        }
    }

    /// Inverse transform (Gentleman–Sande), including the N^-1 factor.
    pub fn inverse(&self, a: &mut [u64]) {
        let n = a.len();
        debug_assert_eq!(n, 1 << self.log_n);
        let q = &self.modulus;
        let mut t = 1;
        let mut m = n;
        while m > 1 {
            let h = m >> 1;
            for i in 0..h {
                let w = self.inv_twiddles[h + i];
                let ws = self.inv_twiddles_shoup[h + i];
                let base = 2 * i * t;
                for j in base..base + t {
                    let u = a[j];
                    let v = a[j + t];
                    a[j] = q.add(u, v);
                    a[j + t] = q.mul_shoup(q.sub(u, v), w, ws);
                }
            }
            t <<= 1;
            m = h;
        }
        let ns = q.shoup(self.n_inv);
        for x in a.iter_mut() {
            *x = q.mul_shoup(*x, self.n_inv, ns);
        }
    }
}

/// Exponent `e` (odd, in `[1, 2N)`) of the evaluation point ψ^e held at NTT position `i`.
#[inline]
pub fn ntt_position_exponent(i: usize, log_n: u32) -> usize {
    2 * bit_reverse(i, log_n) + 1
}

/// Index map of the automorphism X -> X^g in the NTT domain:
/// `out[i] = in[map[i]]` (a pure permutation, no signs).
pub fn automorphism_ntt_map(log_n: u32, galois: usize) -> Vec<u32> {
    let n = 1usize << log_n;
    let mask = 2 * n - 1;
    (0..n)
        .map(|i| {
            let e = (ntt_position_exponent(i, log_n) * galois) & mask;
            bit_reverse((e - 1) / 2, log_n) as u32
        })
        .collect()
}

/// Applies X -> X^g to coefficients mod q: `out[k·g mod 2N] = ±a[k]`.
pub fn automorphism_coeff(a: &[u64], galois: usize, q: &Modulus, out: &mut [u64]) {
    let n = a.len();
    let mask = 2 * n - 1;
    for (k, &c) in a.iter().enumerate() {
        let e = (k * galois) & mask;
        if e < n {
            out[e] = c;
        } else {
            out[e - n] = q.neg(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::ntt_primes;
    use rand::{Rng, SeedableRng};

    fn naive_ntt(a: &[u64], t: &NttTable) -> Vec<u64> {
        let q = &t.modulus;
        (0..a.len())
            .map(|i| {
                let x = q.pow(t.psi, ntt_position_exponent(i, t.log_n) as u64);
                a.iter().rev().fold(0u64, |acc, &c| q.add(q.mul(acc, x), c))
            })
            .collect()
    }

    #[test]
    fn forward_matches_evaluation_and_inverse_roundtrips() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for log_n in [1u32, 2, 5, 8] {
            for bits in [30, 50, 61] {
                let q = ntt_primes(bits, log_n.max(4), 1, &[]).unwrap()[0];
                let t = NttTable::new(q, log_n).unwrap();
                let a: Vec<u64> = (0..1 << log_n).map(|_| rng.gen_range(0..q)).collect();
                let mut b = a.clone();
                t.forward(&mut b);
                assert_eq!(b, naive_ntt(&a, &t));
                t.inverse(&mut b);
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn ntt_multiplies_negacyclically() {
        let log_n = 6;
        let q = ntt_primes(40, log_n, 1, &[]).unwrap()[0];
        let t = NttTable::new(q, log_n).unwrap();
        let m = &t.modulus;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let n = 1 << log_n;
        let a: Vec<u64> = (0..n).map(|_| rng.gen_range(0..q)).collect();
        let b: Vec<u64> = (0..n).map(|_| rng.gen_range(0..q)).collect();
        let mut want = vec![0u64; n];
        for i in 0..n {
            for j in 0..n {
                let p = m.mul(a[i], b[j]);
                if i + j < n {
                    want[i + j] = m.add(want[i + j], p);
                } else {
                    want[i + j - n] = m.sub(want[i + j - n], p);
                }
            }
        }
        let (mut fa, mut fb) = (a.clone(), b.clone());
        t.forward(&mut fa);
        t.forward(&mut fb);
        let mut c: Vec<u64> = fa.iter().zip(&fb).map(|(&x, &y)| m.mul(x, y)).collect();
        t.inverse(&mut c);
        assert_eq!(c, want);
    }

    #[test]
    fn automorphism_commutes_with_ntt() {
        let log_n = 7;
        let q = ntt_primes(45, log_n, 1, &[]).unwrap()[0];
        let t = NttTable::new(q, log_n).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let a: Vec<u64> = (0..1 << log_n).map(|_| rng.gen_range(0..q)).collect();
        for g in [5usize, 25, 255, 2 * 128 - 1] {
            let mut ca = vec![0; a.len()];
            automorphism_coeff(&a, g, &t.modulus, &mut ca);
            t.forward(&mut ca);
            let mut fa = a.clone();
            t.forward(&mut fa);
            let map = automorphism_ntt_map(log_n, g);
            let pa: Vec<u64> = map.iter().map(|&j| fa[j as usize]).collect();
            assert_eq!(ca, pa, "g = {g}");
        }
    }
}
