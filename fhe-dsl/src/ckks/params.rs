//! Parameter literals and validated parameters.

use crate::error::{Error, Result};
use crate::math::{is_prime, ntt_primes};
use crate::ring::RingContext;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Secret-key distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SecretDist {
    /// Uniform ternary {-1, 0, 1} (the HE-standard distribution).
    #[default]
    Ternary,
    /// Ternary with exactly `hamming_weight` nonzero coefficients.
    Sparse {
        /// number of nonzero coefficients
        hamming_weight: usize,
    },
}

/// A plain, serialisable description of a CKKS parameter set; validate it with
/// [`Params::new`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamsLiteral {
    /// log2 of the ring degree N (10..=17).
    pub log_n: u32,
    /// Bit sizes of the Q primes, q_0 first (28..=61 each).
    pub log_q: Vec<u32>,
    /// Bit sizes of the special primes P.
    pub log_p: Vec<u32>,
    /// Primes per level, from level 0 up (sums to `log_q.len()`); default one each.
    /// Rescaling at level l divides by the product of that level's primes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_primes: Option<Vec<usize>>,
    /// Number of key-switching digits.
    pub dnum: usize,
    /// log2 of the default scale Δ.
    pub log_scale: u32,
    /// Secret distribution.
    #[serde(default)]
    pub secret: SecretDist,
}

/// HE-standard (homomorphicencryption.org, ternary secret, classical 128-bit) bound on
/// log2(PQ) per log2 N. 2^16 and 2^17 follow the extrapolation used by Lattigo/OpenFHE.
pub fn max_log_pq_128(log_n: u32) -> Option<u32> {
    Some(match log_n {
        10 => 27,
        11 => 54,
        12 => 109,
        13 => 218,
        14 => 438,
        15 => 881,
        16 => 1772,
        17 => 3544,
        _ => return None,
    })
}

impl ParamsLiteral {
    /// `bench-a`: N = 2^16, Q = 60 + 23×50 bits, P = 6×57 bits, dnum 4, Δ = 2^50.
    pub fn bench_a() -> Self {
        ParamsLiteral {
            log_n: 16,
            log_q: std::iter::once(60)
                .chain(std::iter::repeat_n(50, 23))
                .collect(),
            log_p: vec![57; 6],
            level_primes: None,
            dnum: 4,
            log_scale: 50,
            secret: SecretDist::Ternary,
        }
    }

    /// `bench-b`: N = 2^16, Q = 60 + 11×50 bits, P = 4×60 bits, dnum 3, Δ = 2^50.
    pub fn bench_b() -> Self {
        ParamsLiteral {
            log_n: 16,
            log_q: std::iter::once(60)
                .chain(std::iter::repeat_n(50, 11))
                .collect(),
            log_p: vec![60; 4],
            level_primes: None,
            dnum: 3,
            log_scale: 50,
            secret: SecretDist::Ternary,
        }
    }

    /// A small, fast, **insecure** set for tests: N = 2^12, Q = 55 + 5×45, P = 2×56, dnum 3.
    /// Only usable through [`Params::new_insecure_for_tests`].
    pub fn test_small() -> Self {
        ParamsLiteral {
            log_n: 12,
            log_q: vec![55, 45, 45, 45, 45, 45],
            log_p: vec![56, 56],
            level_primes: None,
            dnum: 3,
            log_scale: 45,
            secret: SecretDist::Ternary,
        }
    }

    /// A named preset: `bench-a`, `bench-b`, `test-small`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "bench-a" => Ok(Self::bench_a()),
            "bench-b" => Ok(Self::bench_b()),
            "test-small" => Ok(Self::test_small()),
            other => Err(Error::InvalidParams(format!(
                "unknown preset `{other}` (known: bench-a, bench-b, test-small)"
            ))),
        }
    }
}

/// Validated, immutable CKKS parameters with their ring context. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Params(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    lit: ParamsLiteral,
    ctx: Arc<RingContext>,
    q: Vec<u64>,
    p: Vec<u64>,
    /// Q limbs present at each level: `limbs_at[l]`.
    limbs_at: Vec<usize>,
    alpha: usize,
    log_pq: f64,
    secure: bool,
}

impl Params {
    /// Validates a literal. Refuses sets above the HE-standard 128-bit bound and sparse
    /// secrets (outside that table).
    pub fn new(lit: ParamsLiteral) -> Result<Self> {
        let p = Self::build(lit, false)?;
        Ok(p)
    }

    /// Validates a literal **without the security check**. For tests and experiments
    /// only: ciphertexts under such parameters offer no meaningful security.
    pub fn new_insecure_for_tests(lit: ParamsLiteral) -> Result<Self> {
        Self::build(lit, true)
    }

    fn build(lit: ParamsLiteral, allow_insecure: bool) -> Result<Self> {
        let bad = |m: String| Err(Error::InvalidParams(m));
        if !(10..=17).contains(&lit.log_n) {
            return bad(format!("log_n must be in 10..=17, got {}", lit.log_n));
        }
        if lit.log_q.is_empty() {
            return bad("log_q must list at least one prime".into());
        }
        if lit.log_p.is_empty() {
            return bad("log_p must list at least one special prime (hybrid key switching)".into());
        }
        for (name, bits) in [("log_q", &lit.log_q), ("log_p", &lit.log_p)] {
            if let Some(b) = bits.iter().find(|b| !(28..=61).contains(*b)) {
                return bad(format!("{name} entries must be 28..=61 bits, got {b}"));
            }
        }
        let level_primes = lit
            .level_primes
            .clone()
            .unwrap_or_else(|| vec![1; lit.log_q.len()]);
        if level_primes.contains(&0) || level_primes.iter().sum::<usize>() != lit.log_q.len() {
            return bad(format!(
                "level_primes {level_primes:?} must be positive and sum to the {} Q primes",
                lit.log_q.len()
            ));
        }
        let num_q = lit.log_q.len();
        if lit.dnum == 0 || lit.dnum > num_q {
            return bad(format!(
                "dnum must be in 1..={num_q} (the number of Q primes), got {}",
                lit.dnum
            ));
        }
        if lit.log_scale < 10 || lit.log_scale > 60 {
            return bad(format!(
                "log_scale must be in 10..=60, got {}",
                lit.log_scale
            ));
        }
        if let SecretDist::Sparse { hamming_weight } = lit.secret {
            if hamming_weight == 0 || hamming_weight > (1 << lit.log_n) {
                return bad(format!(
                    "hamming_weight must be in 1..=N, got {hamming_weight}"
                ));
            }
        }
        // primes: per bit size, closest to 2^bits from below, all distinct
        let mut used: Vec<u64> = Vec::new();
        let mut take = |bits: u32| -> Result<u64> {
            let p = ntt_primes(bits, lit.log_n, 1, &used).ok_or_else(|| {
                Error::InvalidParams(format!(
                    "not enough {bits}-bit primes ≡ 1 mod 2^{}",
                    lit.log_n + 1
                ))
            })?[0];
            used.push(p);
            Ok(p)
        };
        let q = lit
            .log_q
            .iter()
            .map(|&b| take(b))
            .collect::<Result<Vec<_>>>()?;
        let p = lit
            .log_p
            .iter()
            .map(|&b| take(b))
            .collect::<Result<Vec<_>>>()?;
        debug_assert!(q.iter().chain(&p).all(|&x| is_prime(x)));
        let log_pq: f64 = q.iter().chain(&p).map(|&x| (x as f64).log2()).sum();
        let bound = max_log_pq_128(lit.log_n).expect("log_n checked");
        if !allow_insecure {
            if log_pq > bound as f64 {
                return Err(Error::Insecure {
                    log_pq,
                    bound,
                    log_n: lit.log_n,
                });
            }
            if let SecretDist::Sparse { hamming_weight } = lit.secret {
                return bad(format!(
                    "a sparse secret (h = {hamming_weight}) is outside the HE-standard security table; \
                     use the ternary secret (sparse-secret encapsulation is for bootstrapping keys)"
                ));
            }
        }
        let alpha = num_q.div_ceil(lit.dnum);
        // P must cover a digit, or key switching adds noise at the scale of the digit.
        let log_p: f64 = p.iter().map(|&x| (x as f64).log2()).sum();
        let max_digit: f64 = q
            .chunks(alpha)
            .map(|d| d.iter().map(|&x| (x as f64).log2()).sum::<f64>())
            .fold(0.0, f64::max);
        if log_p + 1.0 < max_digit {
            return bad(format!(
                "P has {log_p:.1} bits but the largest key-switching digit has {max_digit:.1}: \
                 raise log_p or dnum"
            ));
        }
        let ctx = RingContext::new(lit.log_n, &q, &p)
            .ok_or_else(|| Error::InvalidParams("primes are not NTT-friendly".into()))?;
        let mut limbs_at = Vec::with_capacity(level_primes.len());
        let mut acc = 0;
        for k in &level_primes {
            acc += k;
            limbs_at.push(acc);
        }
        Ok(Params(Arc::new(Inner {
            lit,
            ctx: Arc::new(ctx),
            q,
            p,
            limbs_at,
            alpha,
            log_pq,
            secure: !allow_insecure || log_pq <= bound as f64,
        })))
    }

    /// The literal this was built from.
    pub fn literal(&self) -> &ParamsLiteral {
        &self.0.lit
    }
    /// The ring context.
    pub fn ring(&self) -> &Arc<RingContext> {
        &self.0.ctx
    }
    /// log2 N.
    pub fn log_n(&self) -> u32 {
        self.0.lit.log_n
    }
    /// N.
    pub fn n(&self) -> usize {
        1 << self.0.lit.log_n
    }
    /// Maximum number of complex slots, N/2.
    pub fn max_slots(&self) -> usize {
        self.n() / 2
    }
    /// The Q primes.
    pub fn q(&self) -> &[u64] {
        &self.0.q
    }
    /// The P primes.
    pub fn p(&self) -> &[u64] {
        &self.0.p
    }
    /// Highest level.
    pub fn max_level(&self) -> usize {
        self.0.limbs_at.len() - 1
    }
    /// Number of Q limbs at `level`.
    pub fn limbs_at(&self, level: usize) -> usize {
        self.0.limbs_at[level]
    }
    /// Q prime indices at `level`.
    pub fn q_primes_at(&self, level: usize) -> Vec<usize> {
        (0..self.limbs_at(level)).collect()
    }
    /// Number of primes rescaling drops at `level` (≥ 1).
    pub fn primes_dropped_at(&self, level: usize) -> usize {
        self.0.limbs_at[level]
            - if level == 0 {
                0
            } else {
                self.0.limbs_at[level - 1]
            }
    }
    /// Product of the primes rescaling divides by at `level`, as f64.
    pub fn rescale_divisor(&self, level: usize) -> f64 {
        let hi = self.limbs_at(level);
        let lo = hi - self.primes_dropped_at(level);
        self.0.q[lo..hi].iter().map(|&x| x as f64).product()
    }
    /// Q primes per key-switching digit.
    pub fn alpha(&self) -> usize {
        self.0.alpha
    }
    /// Number of key-switching digits at the top level.
    pub fn dnum(&self) -> usize {
        self.0.lit.dnum
    }
    /// The default scale Δ.
    pub fn default_scale(&self) -> f64 {
        2f64.powi(self.0.lit.log_scale as i32)
    }
    /// log2 of the product of all primes.
    pub fn log_pq(&self) -> f64 {
        self.0.log_pq
    }
    /// Whether the set meets the 128-bit bound.
    pub fn is_secure(&self) -> bool {
        self.0.secure
    }
    /// The secret distribution.
    pub fn secret_dist(&self) -> SecretDist {
        self.0.lit.secret
    }
    /// Whether two handles describe the same parameter set.
    pub fn same_as(&self, other: &Params) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.lit == other.0.lit
    }
    /// A short human-readable summary.
    pub fn summary(&self) -> String {
        format!(
            "N=2^{} L={} logQP={:.0} dnum={} scale=2^{}{}",
            self.log_n(),
            self.max_level(),
            self.log_pq(),
            self.dnum(),
            self.0.lit.log_scale,
            if self.is_secure() { "" } else { " INSECURE" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        let a = Params::new(ParamsLiteral::bench_a()).unwrap();
        assert_eq!(a.max_level(), 23);
        assert_eq!(a.alpha(), 6);
        assert!(a.log_pq() < 1772.0 && a.is_secure());
        let b = Params::new(ParamsLiteral::bench_b()).unwrap();
        assert_eq!(b.q().len(), 12);
        assert_eq!(b.p().len(), 4);
        let all: Vec<u64> = b.q().iter().chain(b.p()).copied().collect();
        let mut d = all.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), all.len(), "primes distinct");
    }

    #[test]
    fn insecure_sets_are_refused() {
        let lit = ParamsLiteral::test_small();
        match Params::new(lit.clone()) {
            Err(Error::Insecure {
                bound: 109,
                log_n: 12,
                ..
            }) => {}
            other => panic!("expected Insecure, got {other:?}"),
        }
        let p = Params::new_insecure_for_tests(lit).unwrap();
        assert!(!p.is_secure());
        let mut big = ParamsLiteral::bench_a();
        big.log_q.extend(std::iter::repeat_n(50, 10));
        let err = Params::new(big).unwrap_err().to_string();
        assert!(err.contains("1772"), "{err}");
    }

    #[test]
    fn malformed_literals_give_clear_errors() {
        type Edit = fn(&mut ParamsLiteral);
        let cases: Vec<(Edit, &str)> = vec![
            (|l| l.log_n = 9, "log_n"),
            (|l| l.log_q.clear(), "log_q"),
            (|l| l.log_p.clear(), "log_p"),
            (|l| l.log_q[1] = 70, "28..=61"),
            (|l| l.dnum = 0, "dnum"),
            (|l| l.dnum = 99, "dnum"),
            (|l| l.level_primes = Some(vec![1, 2]), "level_primes"),
            (|l| l.log_p = vec![28], "P has"),
            (
                |l| l.secret = SecretDist::Sparse { hamming_weight: 0 },
                "hamming_weight",
            ),
        ];
        for (edit, needle) in cases {
            let mut l = ParamsLiteral::test_small();
            edit(&mut l);
            let e = Params::new_insecure_for_tests(l).unwrap_err().to_string();
            assert!(e.contains(needle), "`{e}` should mention {needle}");
        }
        let mut sparse = ParamsLiteral::bench_b();
        sparse.secret = SecretDist::Sparse {
            hamming_weight: 192,
        };
        assert!(Params::new(sparse)
            .unwrap_err()
            .to_string()
            .contains("sparse"));
    }

    #[test]
    fn literal_json_roundtrip_and_unknown_fields() {
        let l = ParamsLiteral::bench_b();
        let s = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<ParamsLiteral>(&s).unwrap(), l);
        let bad = s.replace("\"dnum\"", "\"dnumm\"");
        assert!(serde_json::from_str::<ParamsLiteral>(&bad).is_err());
    }

    #[test]
    fn multi_prime_levels() {
        let mut l = ParamsLiteral::test_small();
        l.log_q = vec![30; 6];
        l.log_p = vec![31, 31];
        l.level_primes = Some(vec![2, 2, 2]);
        l.log_scale = 50;
        let p = Params::new_insecure_for_tests(l).unwrap();
        assert_eq!(p.max_level(), 2);
        assert_eq!(p.limbs_at(1), 4);
        assert_eq!(p.primes_dropped_at(2), 2);
    }
}
