//! Host-resident RNS polynomial.

use serde::{Deserialize, Serialize};

/// An RNS polynomial in host memory: one limb of `n` words per prime, limb-major.
///
/// `primes` are indices into the [`RingContext`](super::RingContext) prime list (Q primes
/// first, then P primes). Whether the data is in coefficient or NTT form is tracked by
/// the owner (ciphertexts are always in NTT form between operations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
            data: vec![0; n * primes.len()],
        }
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
        let mut data = Vec::with_capacity(primes.len() * self.n);
        for j in limb_positions(primes, &self.primes) {
            data.extend_from_slice(self.limb(j));
        }
        RnsPoly {
            primes: primes.to_vec(),
            n: self.n,
            data,
        }
    }

    /// The limbs of `self` followed by those of `other` (disjoint prime sets).
    pub fn concat(&self, other: &RnsPoly) -> RnsPoly {
        let mut data = Vec::with_capacity(self.data.len() + other.data.len());
        data.extend_from_slice(&self.data);
        data.extend_from_slice(&other.data);
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
