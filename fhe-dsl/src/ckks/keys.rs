//! Key generation: secret, public, relinearisation, rotation and conjugation keys.
//!
//! Uniform halves are stored as 32-byte seeds (a key is half the size it would be) and
//! expanded on upload. Switching keys use hybrid key switching: one `(b_j, a_j)` pair per
//! digit of `alpha` Q primes, over Q_l·P, with `b_j = -a_j·s + e_j + P·[j-th gadget]·s'`.
//!
//! A key *at level l* lives over `Q_l·P` with `ceil(limbs_at(l) / alpha)` digits and
//! serves ciphertexts at levels `≤ l`. Digits are chunks of `alpha` primes from prime 0,
//! so it is structurally the prefix of the full-level key: rotation keys that are only
//! used after bootstrapping cost a fraction of a full one.

use super::context::Ckks;
use super::params::{Params, SecretDist};
use crate::backend::Backend;
use crate::error::Result;
use crate::math::sampling;
use crate::ring::RnsPoly;
use rand::RngCore;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The secret key: small integer coefficients. Never serialised implicitly (the explicit
/// export is [`to_secret_bytes`](SecretKey::to_secret_bytes)), not `Clone` (share it by
/// reference), wiped from memory when dropped, and its `Debug` prints no coefficient.
///
/// ```compile_fail
/// // not Clone: a copy of the secret would outlive the original's wipe
/// fn copy(sk: &fhe_dsl::ckks::SecretKey) -> fhe_dsl::ckks::SecretKey {
///     sk.clone()
/// }
/// ```
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
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

/// A hybrid switching key from some s' to s: per digit `b_j` (NTT, over Q_l·P, `l` the
/// key's level); `a_j` is expanded from `seed` with stream `j` over the same primes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SwitchingKey {
    pub(crate) seed: [u8; 32],
    pub(crate) b: Vec<RnsPoly>,
    /// Highest ciphertext level the key serves; `None` (keys serialised before keys
    /// carried a level) means the parameters' maximum level.
    #[serde(default)]
    pub(crate) level: Option<usize>,
}

impl SwitchingKey {
    /// Size in bytes of the serialised key material (seeded form).
    pub fn byte_size(&self) -> usize {
        32 + self.b.iter().map(|p| p.data.len() * 8).sum::<usize>()
    }

    /// Highest ciphertext level the key serves under `params` (its recorded level, or
    /// the maximum level for keys that predate levelled keys).
    pub fn level(&self, params: &Params) -> usize {
        self.level.unwrap_or(params.max_level())
    }

    /// Seeded size in bytes of a switching key at `level` under `params`, without
    /// generating it: 32 seed bytes plus `digits × (Q_l + P limbs) × N` words of 8 bytes.
    /// Twice the words (the expanded uniform halves) is what an evaluator holds.
    pub fn byte_size_at(params: &Params, level: usize) -> usize {
        let level = level.min(params.max_level());
        let limbs = params.limbs_at(level);
        let digits = limbs.div_ceil(params.alpha());
        32 + digits * (limbs + params.p().len()) * params.n() * 8
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
    /// Rotation steps (left rotations by k slots; negative is right), keys at the full
    /// level.
    pub rotations: Vec<i64>,
    /// Rotation steps with the highest level their key must serve: `(step, max_level)`.
    /// A step requested several times (here or in `rotations`) gets one key at the
    /// highest of its levels; levels above the parameters' maximum mean the maximum.
    pub rotations_up_to: Vec<(i64, usize)>,
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
    /// Also these rotation steps, with keys valid at every level.
    pub fn rotations(mut self, steps: impl IntoIterator<Item = i64>) -> Self {
        self.rotations.extend(steps);
        self
    }
    /// Also these rotation steps, with keys valid only for ciphertexts at levels
    /// `≤ max_level` (smaller keys: `Q_max_level·P` limbs and fewer digits).
    pub fn rotations_up_to(
        mut self,
        steps: impl IntoIterator<Item = i64>,
        max_level: usize,
    ) -> Self {
        self.rotations_up_to
            .extend(steps.into_iter().map(|k| (k, max_level)));
        self
    }
    /// Also the conjugation key.
    pub fn conjugate(mut self) -> Self {
        self.conjugate = true;
        self
    }

    /// The Galois keys this request asks for under `params`: Galois element → the level
    /// its key is generated at (the highest requested for that element, capped at the
    /// maximum level). Steps equivalent to 0 need no key.
    pub fn galois_levels(&self, params: &Params) -> BTreeMap<usize, usize> {
        let max = params.max_level();
        let mut out = BTreeMap::new();
        let full = self.rotations.iter().map(|&k| (k, max));
        for (k, l) in full.chain(self.rotations_up_to.iter().copied()) {
            let g = galois_element(k, params.log_n());
            if g != 1 {
                let e = out.entry(g).or_insert(0);
                *e = (*e).max(l.min(max));
            }
        }
        if self.conjugate {
            out.insert(2 * params.n() - 1, max);
        }
        out
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

    /// The public key for `sk`. Errors only when the backend fails
    /// ([`Error::Device`](crate::Error::Device), e.g. out of memory).
    pub fn public_key(&mut self, sk: &SecretKey) -> Result<PublicKey> {
        let (be, ctx) = (self.ckks.backend(), self.params().ring().clone());
        let q = self.params().q_primes_at(self.params().max_level());
        let seed = sampling::fresh_seed(&mut self.rng);
        let a = self.ckks.uniform(&seed, u64::MAX, &q)?;
        let s = self.ckks.small_to_ntt(&sk.coeffs, &q)?;
        let mut b = self
            .ckks
            .small_to_ntt(&sampling::gaussian(&mut self.rng, ctx.n()), &q)?;
        let mut as_ = a;
        be.mul_assign(&ctx, &mut as_, &s)?;
        be.sub_assign(&ctx, &mut b, &as_)?;
        Ok(PublicKey {
            seed,
            b: be.download(&ctx, &b)?,
        })
    }

    /// A switching key at `level` from `s_prime` to `sk` (both NTT form over primes
    /// containing Q_level·P): over Q_level·P with one digit per `alpha` of its Q primes.
    fn switching_key(
        &mut self,
        sk_qp: &B::Poly,
        s_prime: &B::Poly,
        level: usize,
    ) -> Result<SwitchingKey> {
        let params = self.params().clone();
        let (be, ctx) = (self.ckks.backend(), params.ring().clone());
        let qp = self.ckks.qp_primes(level);
        let num_q = params.limbs_at(level);
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
            let mut a = self.ckks.uniform(&seed, j as u64, &qp)?;
            be.mul_assign(&ctx, &mut a, sk_qp)?;
            let mut bj = self
                .ckks
                .small_to_ntt(&sampling::gaussian(&mut self.rng, ctx.n()), &qp)?;
            be.sub_assign(&ctx, &mut bj, &a)?;
            // + P·s' on this digit's limbs only (the RNS gadget is 1 there, 0 elsewhere)
            let mut gadget = be.select(&ctx, s_prime, digit)?;
            let scal: Vec<u64> = digit.iter().map(|&i| p_mod[i]).collect();
            be.mul_scalar_assign(&ctx, &mut gadget, &scal)?;
            let mut host = be.download(&ctx, &bj)?;
            let g = be.download(&ctx, &gadget)?;
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
        Ok(SwitchingKey {
            seed,
            b,
            level: Some(level),
        })
    }

    /// Evaluation keys for a request. Each Galois key is generated at the level
    /// [`KeyRequest::galois_levels`] gives it (over `Q_l·P`, `ceil(limbs_at(l)/alpha)`
    /// digits); the relinearisation key at the full level. Errors only when the backend
    /// fails ([`Error::Device`](crate::Error::Device), e.g. out of memory).
    pub fn evaluation_keys(&mut self, sk: &SecretKey, req: &KeyRequest) -> Result<EvaluationKeys> {
        let params = self.params().clone();
        let (be, ctx) = (self.ckks.backend(), params.ring().clone());
        let max = params.max_level();
        let qp = self.ckks.qp_primes(max);
        let s = self.ckks.small_to_ntt(&sk.coeffs, &qp)?;
        let mut out = EvaluationKeys::default();
        if req.relin {
            let mut s2 = s.clone();
            be.mul_assign(&ctx, &mut s2, &s)?;
            out.relin = Some(self.switching_key(&s, &s2, max)?);
        }
        for (g, level) in req.galois_levels(&params) {
            let mut sg = be.zero(&ctx, &qp)?;
            be.automorphism_ntt(&ctx, &s, g, &mut sg)?;
            let k = self.switching_key(&s, &sg, level)?;
            out.galois.insert(g, k);
        }
        Ok(out)
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
    /// secret the full modulus is secure for. Errors only when the backend fails.
    pub fn switching_key_between(
        &mut self,
        from: &SecretKey,
        to: &SecretKey,
    ) -> Result<SwitchingKey> {
        let qp = self.ckks.qp_primes(self.params().max_level());
        let s_to = self.ckks.small_to_ntt(&to.coeffs, &qp)?;
        let s_from = self.ckks.small_to_ntt(&from.coeffs, &qp)?;
        self.switching_key(&s_to, &s_from, self.params().max_level())
    }

    /// Access to the generator's CSPRNG (for encryptors sharing it).
    pub fn rng(&mut self) -> &mut impl RngCore {
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::ReferenceBackend;
    use crate::ckks::ParamsLiteral;
    use crate::Error;

    fn ckks() -> Ckks<ReferenceBackend> {
        let params = Params::new_insecure_for_tests(ParamsLiteral {
            log_n: 10,
            log_q: vec![60, 50, 50, 50],
            log_p: vec![61, 61],
            level_primes: None,
            dnum: 2,
            log_scale: 50,
            secret: Default::default(),
        })
        .unwrap();
        Ckks::new(params, ReferenceBackend)
    }

    #[test]
    fn keys_without_a_level_field_load_at_the_full_level() {
        let ckks = ckks();
        let mut kg = KeyGenerator::from_seed(&ckks, 1);
        let sk = kg.secret_key();
        let req = KeyRequest::new().rotations([1]).rotations_up_to([2], 1);
        let evk = kg.evaluation_keys(&sk, &req).unwrap();
        let json = serde_json::to_value(&evk).unwrap();
        let back: EvaluationKeys = serde_json::from_value(json.clone()).unwrap();
        let g2 = galois_element(2, 10);
        assert_eq!(back.galois[&g2].level(ckks.params()), 1);
        assert_eq!(back.galois[&g2].b, evk.galois[&g2].b);
        // the full-level key as serialised before keys carried a level
        let g1 = galois_element(1, 10).to_string();
        let mut old = json["galois"][&g1].clone();
        old.as_object_mut().unwrap().remove("level");
        let old: SwitchingKey = serde_json::from_value(old).unwrap();
        assert_eq!(old.level, None);
        assert_eq!(old.level(ckks.params()), ckks.params().max_level());
        let keys = EvaluationKeys {
            relin: None,
            galois: [(galois_element(1, 10), old.clone())].into(),
        };
        let eval = ckks.evaluator(&keys).unwrap();
        assert_eq!(eval.rotation_key_level(1), Some(ckks.params().max_level()));
        // a level that does not match the key's limbs is refused
        let mut wrong = old;
        wrong.level = Some(1);
        let keys = EvaluationKeys {
            relin: None,
            galois: [(galois_element(1, 10), wrong)].into(),
        };
        assert!(matches!(
            ckks.evaluator(&keys),
            Err(Error::ParamsMismatch(_))
        ));
    }
}
