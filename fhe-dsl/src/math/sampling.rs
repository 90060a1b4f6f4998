//! Randomness: seeded uniform polynomials, ternary secrets, rounded Gaussian errors.
//!
//! All randomness comes from ChaCha20 (a CSPRNG). Uniform halves of keys are expanded
//! from a 32-byte seed plus a stream number, so keys can be stored as seeds.

use super::Modulus;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Normal};

/// Standard deviation of the error distribution (HE standard).
pub const SIGMA: f64 = 3.2;
/// Errors are truncated at this many standard deviations.
pub const SIGMA_BOUND: f64 = 6.0 * SIGMA;

/// A fresh CSPRNG seeded from the operating system.
pub fn os_rng() -> ChaCha20Rng {
    ChaCha20Rng::from_entropy()
}

/// Fills `out` (limb-major, `moduli.len()` limbs of `n` words) with uniform residues
/// expanded deterministically from `(seed, stream)`.
pub fn uniform_from_seed(
    seed: &[u8; 32],
    stream: u64,
    moduli: &[Modulus],
    n: usize,
    out: &mut [u64],
) {
    debug_assert_eq!(out.len(), moduli.len() * n);
    let mut rng = ChaCha20Rng::from_seed(*seed);
    rng.set_stream(stream);
    for (limb, q) in out.chunks_exact_mut(n).zip(moduli) {
        let qv = q.value();
        let mask = u64::MAX >> qv.leading_zeros();
        for x in limb.iter_mut() {
            // rejection sampling: exact uniformity
            *x = loop {
                let r = rng.next_u64() & mask;
                if r < qv {
                    break r;
                }
            };
        }
    }
}

/// Uniform ternary coefficients in {-1, 0, 1}.
pub fn ternary<R: RngCore>(rng: &mut R, n: usize) -> Vec<i64> {
    (0..n).map(|_| rng.gen_range(-1i64..=1)).collect()
}

/// Ternary coefficients with exactly `h` nonzero entries (±1), positions uniform.
pub fn sparse_ternary<R: RngCore>(rng: &mut R, n: usize, h: usize) -> Vec<i64> {
    let mut s = vec![0i64; n];
    let idx = rand::seq::index::sample(rng, n, h.min(n));
    for i in idx.iter() {
        s[i] = if rng.gen::<bool>() { 1 } else { -1 };
    }
    s
}

/// Rounded Gaussian coefficients with standard deviation [`SIGMA`], truncated at 6σ.
pub fn gaussian<R: RngCore>(rng: &mut R, n: usize) -> Vec<i64> {
    let normal = Normal::new(0.0, SIGMA).expect("valid sigma");
    (0..n)
        .map(|_| loop {
            let x: f64 = normal.sample(rng);
            if x.abs() <= SIGMA_BOUND {
                break x.round() as i64;
            }
        })
        .collect()
}

/// A fresh random 32-byte seed.
pub fn fresh_seed<R: RngCore>(rng: &mut R) -> [u8; 32] {
    let mut s = [0u8; 32];
    rng.fill_bytes(&mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_uniform_is_deterministic_and_in_range() {
        let ms = [
            Modulus::new(1_125_899_906_826_241),
            Modulus::new(268_369_921),
        ];
        let seed = [7u8; 32];
        let (mut a, mut b, mut c) = (vec![0; 2048], vec![0; 2048], vec![0; 2048]);
        uniform_from_seed(&seed, 3, &ms, 1024, &mut a);
        uniform_from_seed(&seed, 3, &ms, 1024, &mut b);
        uniform_from_seed(&seed, 4, &ms, 1024, &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a[..1024].iter().all(|&x| x < ms[0].value()));
        assert!(a[1024..].iter().all(|&x| x < ms[1].value()));
        // mean of a uniform residue is ~q/2
        let mean = a[..1024].iter().map(|&x| x as f64).sum::<f64>() / 1024.0;
        assert!((mean / ms[0].value() as f64 - 0.5).abs() < 0.05);
    }

    #[test]
    fn distributions() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let s = sparse_ternary(&mut rng, 4096, 192);
        assert_eq!(s.iter().filter(|&&x| x != 0).count(), 192);
        let e = gaussian(&mut rng, 1 << 16);
        let var = e.iter().map(|&x| (x * x) as f64).sum::<f64>() / e.len() as f64;
        assert!((var.sqrt() - SIGMA).abs() < 0.1, "std {}", var.sqrt());
        assert!(e.iter().all(|&x| (x as f64).abs() <= SIGMA_BOUND));
        let t = ternary(&mut rng, 3000);
        assert!(t.iter().all(|&x| (-1..=1).contains(&x)));
    }
}
