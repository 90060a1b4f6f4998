//! Key generation: secret, public, relinearisation, rotation and conjugation keys.
//!
//! Uniform halves are stored as 32-byte seeds (a key is half the size it would be) and
//! expanded on upload. Switching keys use hybrid key switching: one `(b_j, a_j)` pair per
//! digit of `alpha` Q primes, over Q·P, with `b_j = -a_j·s + e_j + P·[j-th gadget]·s'`.

use super::context::Ckks;
use super::params::{Params, SecretDist};
use crate::backend::Backend;
use crate::math::sampling;
use crate::ring::RnsPoly;
use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The secret key: small integer coefficients. Never serialised implicitly.
#[derive(Clone)]
pub struct SecretKey {
    pub(crate) coeffs: Vec<i64>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// The secret's coefficients (explicit, for users who must export it).
    pub fn expose_coefficients(&self) -> &[i64] {
        &self.coeffs
    }
}

/// A public encryption key `(b = -a·s + e, a)` over Q_L, `a` stored as a seed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublicKey {
    pub(crate) seed: [u8; 32],
    pub(crate) b: RnsPoly,
}

/// A hybrid switching key from some s' to s: per digit `b_j` (NTT, over Q_L·P);
/// `a_j` is expanded from `seed` with stream `j`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SwitchingKey {
    pub(crate) seed: [u8; 32],
    pub(crate) b: Vec<RnsPoly>,
}

impl SwitchingKey {
    /// Size in bytes of the serialised key material (seeded form).
    pub fn byte_size(&self) -> usize {
        32 + self.b.iter().map(|p| p.data.len() * 8).sum::<usize>()
    }
}

/// The evaluation keys a server needs: relinearisation and Galois keys by element.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EvaluationKeys {
    /// Relinearisation key (s² → s).
    pub relin: Option<SwitchingKey>,
    /// Galois keys (σ_g(s) → s), keyed by the Galois element g.
    pub galois: BTreeMap<usize, SwitchingKey>,
}

impl EvaluationKeys {
    /// Total key bytes (seeded form).
    pub fn byte_size(&self) -> usize {
        self.relin.as_ref().map_or(0, |k| k.byte_size())
            + self.galois.values().map(|k| k.byte_size()).sum::<usize>()
    }
}

/// Which evaluation keys to generate.
#[derive(Clone, Debug, Default)]
pub struct KeyRequest {
    /// Generate the relinearisation key.
    pub relin: bool,
    /// Rotation steps (left rotations by k slots; negative is right).
    pub rotations: Vec<i64>,
    /// Generate the conjugation key.
    pub conjugate: bool,
}

impl KeyRequest {
    /// Nothing requested.
    pub fn new() -> Self {
        Self::default()
    }
    /// Also the relinearisation key.
    pub fn relin(mut self) -> Self {
        self.relin = true;
        self
    }
    /// Also these rotation steps.
    pub fn rotations(mut self, steps: impl IntoIterator<Item = i64>) -> Self {
        self.rotations.extend(steps);
        self
    }
    /// Also the conjugation key.
    pub fn conjugate(mut self) -> Self {
        self.conjugate = true;
        self
    }
}

/// Galois element for a left rotation by `step` slots: 5^step mod 2N (step taken mod N/2).
pub fn galois_element(step: i64, log_n: u32) -> usize {
    let half = 1i64 << (log_n - 1);
    let m = 2usize << log_n;
    let k = step.rem_euclid(half) as u64;
    let mut g = 1usize;
    let mut base = 5usize;
    let mut e = k;
    while e > 0 {
        if e & 1 == 1 {
            g = g * base % m;
        }
        base = base * base % m;
        e >>= 1;
    }
    g
}

/// Generates keys with a CSPRNG (OS-seeded unless [`KeyGenerator::from_seed`]).
pub struct KeyGenerator<'a, B: Backend> {
    ckks: &'a Ckks<B>,
    rng: ChaCha20Rng,
}

impl<'a, B: Backend> KeyGenerator<'a, B> {
    pub(crate) fn new(ckks: &'a Ckks<B>) -> Self {
        KeyGenerator {
            ckks,
            rng: sampling::os_rng(),
        }
    }

    /// Deterministic generator, for reproducible tests only.
    pub fn from_seed(ckks: &'a Ckks<B>, seed: u64) -> Self {
        use rand::SeedableRng;
        KeyGenerator {
            ckks,
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    fn params(&self) -> &Params {
        self.ckks.params()
    }

    /// A fresh secret key from the parameter set's distribution.
    pub fn secret_key(&mut self) -> SecretKey {
        let n = self.params().n();
        let coeffs = match self.params().secret_dist() {
            SecretDist::Ternary => sampling::ternary(&mut self.rng, n),
            SecretDist::Sparse { hamming_weight } => {
                sampling::sparse_ternary(&mut self.rng, n, hamming_weight)
            }
        };
        SecretKey { coeffs }
    }

    /// The public key for `sk`.
    pub fn public_key(&mut self, sk: &SecretKey) -> PublicKey {
        let (be, ctx) = (self.ckks.backend(), self.params().ring().clone());
        let q = self.params().q_primes_at(self.params().max_level());
        let seed = sampling::fresh_seed(&mut self.rng);
        let a = self.ckks.uniform(&seed, u64::MAX, &q);
        let s = self.ckks.small_to_ntt(&sk.coeffs, &q);
        let mut b = self
            .ckks
            .small_to_ntt(&sampling::gaussian(&mut self.rng, ctx.n()), &q);
        let mut as_ = a;
        be.mul_assign(&ctx, &mut as_, &s);
        be.sub_assign(&ctx, &mut b, &as_);
        PublicKey {
            seed,
            b: be.download(&ctx, &b),
        }
    }

    /// A switching key from `s_prime` (NTT form over Q·P) to `sk`.
    fn switching_key(&mut self, sk_qp: &B::Poly, s_prime: &B::Poly) -> SwitchingKey {
        let params = self.params().clone();
        let (be, ctx) = (self.ckks.backend(), params.ring().clone());
        let qp = self.ckks.qp_primes(params.max_level());
        let num_q = params.q().len();
        let seed = sampling::fresh_seed(&mut self.rng);
        // P mod q_i for every Q prime
        let p_mod: Vec<u64> = (0..num_q)
            .map(|i| {
                let m = ctx.modulus(i);
                params
                    .p()
                    .iter()
                    .fold(1u64, |acc, &p| m.mul(acc, m.reduce(p)))
            })
            .collect();
        let mut b = Vec::new();
        for (j, digit) in (0..num_q)
            .collect::<Vec<_>>()
            .chunks(params.alpha())
            .enumerate()
        {
            let mut a = self.ckks.uniform(&seed, j as u64, &qp);
            be.mul_assign(&ctx, &mut a, sk_qp);
            let mut bj = self
                .ckks
                .small_to_ntt(&sampling::gaussian(&mut self.rng, ctx.n()), &qp);
            be.sub_assign(&ctx, &mut bj, &a);
            // + P·s' on this digit's limbs only (the RNS gadget is 1 there, 0 elsewhere)
            let mut gadget = be.select(&ctx, s_prime, digit);
            let scal: Vec<u64> = digit.iter().map(|&i| p_mod[i]).collect();
            be.mul_scalar_assign(&ctx, &mut gadget, &scal);
            let mut host = be.download(&ctx, &bj);
            let g = be.download(&ctx, &gadget);
            for (pos, &i) in digit.iter().enumerate() {
                let m = ctx.modulus(i);
                let dst = host.position(i).expect("digit prime in QP");
                let n = host.n;
                for (x, &y) in host.data[dst * n..(dst + 1) * n]
                    .iter_mut()
                    .zip(g.limb(pos))
                {
                    *x = m.add(*x, y);
                }
            }
            b.push(host);
        }
        SwitchingKey { seed, b }
    }

    /// Evaluation keys for a request.
    pub fn evaluation_keys(&mut self, sk: &SecretKey, req: &KeyRequest) -> EvaluationKeys {
        let params = self.params().clone();
        let (be, ctx) = (self.ckks.backend(), params.ring().clone());
        let qp = self.ckks.qp_primes(params.max_level());
        let s = self.ckks.small_to_ntt(&sk.coeffs, &qp);
        let mut out = EvaluationKeys::default();
        if req.relin {
            let mut s2 = s.clone();
            be.mul_assign(&ctx, &mut s2, &s);
            out.relin = Some(self.switching_key(&s, &s2));
        }
        let mut gs: Vec<usize> = req
            .rotations
            .iter()
            .map(|&k| galois_element(k, params.log_n()))
            .filter(|&g| g != 1)
            .collect();
        if req.conjugate {
            gs.push(2 * params.n() - 1);
        }
        gs.sort_unstable();
        gs.dedup();
        for g in gs {
            let mut sg = be.zero(&ctx, &qp);
            be.automorphism_ntt(&ctx, &s, g, &mut sg);
            let k = self.switching_key(&s, &sg);
            out.galois.insert(g, k);
        }
        out
    }

    /// A secret key with exactly `hamming_weight` nonzero ternary coefficients, whatever
    /// the parameter set's distribution (for sparse-secret encapsulation in
    /// bootstrapping; never use it as a main secret under secure parameters).
    pub fn sparse_secret_key(&mut self, hamming_weight: usize) -> SecretKey {
        let n = self.params().n();
        SecretKey {
            coeffs: sampling::sparse_ternary(&mut self.rng, n, hamming_weight),
        }
    }

    /// A switching key from `from` to `to` over the full Q·P: a ciphertext decrypting
    /// under `from` is switched to one decrypting under `to` (both secrets of this
    /// parameter set's ring). The key is an RLWE sample under `to`, so `to` must be a
    /// secret the full modulus is secure for.
    pub fn switching_key_between(&mut self, from: &SecretKey, to: &SecretKey) -> SwitchingKey {
        let qp = self.ckks.qp_primes(self.params().max_level());
        let s_to = self.ckks.small_to_ntt(&to.coeffs, &qp);
        let s_from = self.ckks.small_to_ntt(&from.coeffs, &qp);
        self.switching_key(&s_to, &s_from)
    }

    /// Access to the generator's CSPRNG (for encryptors sharing it).
    pub fn rng(&mut self) -> &mut impl RngCore {
        &mut self.rng
    }
}
