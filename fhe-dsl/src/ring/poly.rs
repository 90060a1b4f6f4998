//! Host-resident RNS polynomial.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::mem::MaybeUninit;

/// An RNS polynomial in host memory: one limb of `n` words per prime, limb-major.
///
/// `primes` are indices into the [`RingContext`](super::RingContext) prime list (Q primes
/// first, then P primes). Whether the data is in coefficient or NTT form is tracked by
/// the owner (ciphertexts are always in NTT form between operations).
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RnsPoly {
    /// Prime indices, one per limb.
    pub primes: Vec<usize>,
    /// Ring degree N.
    pub n: usize,
    /// `primes.len() * n` residues, limb-major.
    pub data: Vec<u64>,
}

impl RnsPoly {
    /// The zero polynomial over `primes`.
    pub fn zero(n: usize, primes: &[usize]) -> Self {
        RnsPoly {
            primes: primes.to_vec(),
            n,
            data: zeroed_words(n * primes.len()),
        }
    }

    /// Checks that the polynomial fits `ctx`: ring degree N, distinct prime indices of the
    /// context, and exactly `primes.len() · N` words. Every backend's
    /// [`upload`](crate::backend::Backend::upload) runs it, so that a malformed polynomial
    /// (from safe code or from bytes) is an error before any kernel reads it. Residues are
    /// not scanned here (decoders of untrusted bytes check them).
    pub fn check_shape(&self, ctx: &super::RingContext) -> crate::Result<()> {
        let bad = |what: String| Err(crate::Error::Malformed(what));
        if self.n != ctx.n() {
            return bad(format!(
                "polynomial of degree {} for a ring of degree {}",
                self.n,
                ctx.n()
            ));
        }
        let count = ctx.moduli().len();
        if let Some(&p) = self.primes.iter().find(|&&p| p >= count) {
            return bad(format!(
                "prime index {p} out of range: the ring has {count} primes"
            ));
        }
        let mut seen = self.primes.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return bad(format!("repeated prime index in {:?}", self.primes));
        }
        if Some(self.data.len()) != self.primes.len().checked_mul(self.n) {
            return bad(format!(
                "{} words for {} limbs of {} (expected {})",
                self.data.len(),
                self.primes.len(),
                self.n,
                self.primes.len() * self.n
            ));
        }
        Ok(())
    }

    /// Number of limbs.
    pub fn num_limbs(&self) -> usize {
        self.primes.len()
    }

    /// Position of prime index `p` among this polynomial's limbs.
    pub fn position(&self, p: usize) -> Option<usize> {
        self.primes.iter().position(|&x| x == p)
    }

    /// Limb `i` (by position).
    pub fn limb(&self, i: usize) -> &[u64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    /// Mutable limb `i` (by position).
    pub fn limb_mut(&mut self, i: usize) -> &mut [u64] {
        &mut self.data[i * self.n..(i + 1) * self.n]
    }

    /// Iterator over limbs.
    pub fn limbs(&self) -> std::slice::ChunksExact<'_, u64> {
        self.data.chunks_exact(self.n)
    }

    /// A copy of the limbs for `primes` (each must be among this polynomial's primes).
    pub fn select(&self, primes: &[usize]) -> RnsPoly {
        let limbs: Vec<&[u64]> = limb_positions(primes, &self.primes)
            .into_iter()
            .map(|j| self.limb(j))
            .collect();
        RnsPoly {
            primes: primes.to_vec(),
            n: self.n,
            data: concat_words(&limbs),
        }
    }

    /// The limbs of `self` followed by those of `other` (disjoint prime sets).
    pub fn concat(&self, other: &RnsPoly) -> RnsPoly {
        let data = concat_words(&[&self.data, &other.data]);
        let mut primes = self.primes.clone();
        primes.extend_from_slice(&other.primes);
        RnsPoly {
            primes,
            n: self.n,
            data,
        }
    }

    /// Mutable iterator over limbs.
    pub fn limbs_mut(&mut self) -> std::slice::ChunksExactMut<'_, u64> {
        self.data.chunks_exact_mut(self.n)
    }
}

impl Clone for RnsPoly {
    fn clone(&self) -> Self {
        RnsPoly {
            primes: self.primes.clone(),
            n: self.n,
            data: concat_words(&[&self.data]),
        }
    }
}

/// Buffers from this many words on are zeroed or copied by the thread pool: a serial
/// memset/memcpy of a ciphertext-sized buffer (MBs) otherwise leaves the pool idle —
/// measured 14 % of a boot-n16 bootstrap on the calling thread alone.
const PAR_WORDS: usize = 1 << 17;

/// Words per parallel piece.
const PIECE: usize = 1 << 14;

fn par_worth(len: usize) -> bool {
    len >= PAR_WORDS && rayon::current_num_threads() > 1
}

/// `len` zero words (large buffers zeroed in parallel).
pub fn zeroed_words(len: usize) -> Vec<u64> {
    if !par_worth(len) {
        return vec![0; len];
    }
    let mut v: Vec<u64> = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(PIECE)
        .for_each(|c| c.fill(MaybeUninit::new(0)));
    // SAFETY: the pieces cover 0..len exactly and each was fully written above.
    unsafe { v.set_len(len) };
    v
}

/// The concatenation of `parts` (large ones copied in parallel).
pub fn concat_words(parts: &[&[u64]]) -> Vec<u64> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if !par_worth(len) {
        return parts.concat();
    }
    let mut v: Vec<u64> = Vec::with_capacity(len);
    {
        let mut rest = &mut v.spare_capacity_mut()[..len];
        let mut pieces: Vec<(&mut [MaybeUninit<u64>], &[u64])> = Vec::new();
        for p in parts {
            let (dst, tail) = rest.split_at_mut(p.len());
            rest = tail;
            pieces.extend(dst.chunks_mut(PIECE).zip(p.chunks(PIECE)));
        }
        pieces.into_par_iter().for_each(|(d, s)| {
            for (d, &x) in d.iter_mut().zip(s) {
                d.write(x);
            }
        });
    }
    // SAFETY: the destination pieces cover 0..len exactly (part by part, each split into
    // pieces of equal length to its source pieces) and each was fully written above.
    unsafe { v.set_len(len) };
    v
}

/// Position in `src` of each prime of `dst`. Panics if one is missing: operands are built
/// by the library, so a missing prime is a caller bug, not user input.
pub fn limb_positions(dst: &[usize], src: &[usize]) -> Vec<usize> {
    if src.len() >= dst.len() && &src[..dst.len()] == dst {
        return (0..dst.len()).collect();
    }
    dst.iter()
        .map(|p| {
            src.iter()
                .position(|x| x == p)
                .unwrap_or_else(|| panic!("operand lacks prime index {p} (has {src:?})"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_buffers_match_serial() {
        // sizes below and above the parallel threshold, not multiples of a piece
        for len in [0, 5, PAR_WORDS - 1, PAR_WORDS + 3 * PIECE + 7] {
            assert_eq!(zeroed_words(len), vec![0u64; len]);
            let a: Vec<u64> = (0..len as u64)
                .map(|x| x.wrapping_mul(0x9e37_79b9))
                .collect();
            let b: Vec<u64> = (0..(len / 3) as u64).collect();
            let c: Vec<u64> = vec![7; PIECE + 1];
            assert_eq!(
                concat_words(&[&a, &b, &c]),
                [&a[..], &b[..], &c[..]].concat()
            );
        }
        let n = 1 << 12;
        let p = RnsPoly {
            primes: (0..40).collect(),
            n,
            data: (0..40 * n as u64).collect(),
        };
        let q = p.clone();
        assert_eq!(p, q);
        let sel = p.select(&[39, 3, 17]);
        assert_eq!(sel.limb(0), p.limb(39));
        assert_eq!(sel.limb(1), p.limb(3));
        assert_eq!(sel.limb(2), p.limb(17));
        let cat = sel.concat(&p.select(&[0]));
        assert_eq!(cat.primes, vec![39, 3, 17, 0]);
        assert_eq!(cat.limb(3), p.limb(0));
    }
}
