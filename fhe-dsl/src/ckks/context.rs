//! The CKKS context (parameters + backend + encoder), plaintexts, ciphertexts,
//! encoding, encryption and decryption.

use super::encoder::Encoder;
use super::evaluator::Evaluator;
use super::keys::{EvaluationKeys, KeyGenerator, PublicKey, SecretKey};
use super::params::Params;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::math::sampling;
use crate::ring::RnsPoly;
use num_bigint::BigInt;
use num_complex::Complex64;
use num_traits::ToPrimitive;
use rand_chacha::ChaCha20Rng;
use std::sync::{Arc, Mutex};

/// An encoded message: one polynomial (NTT form, on the backend) with its level, scale
/// and slot count.
#[derive(Debug)]
pub struct Plaintext<B: Backend> {
    pub(crate) poly: B::Poly,
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) slots: usize,
}

impl<B: Backend> Clone for Plaintext<B> {
    fn clone(&self) -> Self {
        Plaintext {
            poly: self.poly.clone(),
            level: self.level,
            scale: self.scale,
            slots: self.slots,
        }
    }
}

impl<B: Backend> Clone for Ciphertext<B> {
    fn clone(&self) -> Self {
        Ciphertext {
            parts: self.parts.clone(),
            level: self.level,
            scale: self.scale,
            slots: self.slots,
        }
    }
}

impl<B: Backend> Plaintext<B> {
    /// Level.
    pub fn level(&self) -> usize {
        self.level
    }
    /// Exact scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Slot count.
    pub fn slots(&self) -> usize {
        self.slots
    }
}

/// A ciphertext: 2 parts (or 3 after a multiplication without relinearisation), NTT form
/// on the backend, with its level, exact scale and slot count.
#[derive(Debug)]
pub struct Ciphertext<B: Backend> {
    pub(crate) parts: Vec<B::Poly>,
    pub(crate) level: usize,
    pub(crate) scale: f64,
    pub(crate) slots: usize,
}

impl<B: Backend> Ciphertext<B> {
    /// Level.
    pub fn level(&self) -> usize {
        self.level
    }
    /// Exact scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Overrides the recorded scale (the caller asserts the message is at this scale).
    pub fn set_scale(&mut self, scale: f64) {
        self.scale = scale;
    }
    /// Slot count.
    pub fn slots(&self) -> usize {
        self.slots
    }
    /// Degree (number of parts − 1).
    pub fn degree(&self) -> usize {
        self.parts.len() - 1
    }
    /// The parts (device polynomials), for backend tests.
    pub fn parts(&self) -> &[B::Poly] {
        &self.parts
    }
    /// Builds a ciphertext from raw parts (advanced: the caller vouches for them).
    pub fn from_parts(parts: Vec<B::Poly>, level: usize, scale: f64, slots: usize) -> Self {
        Ciphertext {
            parts,
            level,
            scale,
            slots,
        }
    }
}

/// Parameters, a backend and an encoder: the entry point of the scheme.
pub struct Ckks<B: Backend> {
    params: Params,
    backend: Arc<B>,
    encoder: Arc<Encoder>,
}

impl<B: Backend> Clone for Ckks<B> {
    fn clone(&self) -> Self {
        Ckks {
            params: self.params.clone(),
            backend: self.backend.clone(),
            encoder: self.encoder.clone(),
        }
    }
}

impl<B: Backend> Ckks<B> {
    /// A context on `backend`.
    pub fn new(params: Params, backend: B) -> Self {
        Self::with_shared_backend(params, Arc::new(backend))
    }

    /// A context sharing a backend handle.
    pub fn with_shared_backend(params: Params, backend: Arc<B>) -> Self {
        let encoder = Arc::new(Encoder::new(params.log_n()));
        Ckks {
            params,
            backend,
            encoder,
        }
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }
    /// The shared backend handle.
    pub fn backend_arc(&self) -> &Arc<B> {
        &self.backend
    }

    /// A key generator seeded from the OS.
    pub fn key_generator(&self) -> KeyGenerator<'_, B> {
        KeyGenerator::new(self)
    }

    /// An encryptor under a public key.
    /// A public key that does not fit these parameters makes every
    /// [`encrypt`](Encryptor::encrypt) return the error.
    pub fn encryptor(&self, pk: &PublicKey) -> Encryptor<B> {
        let ctx = self.params.ring();
        let q = self.params.q_primes_at(self.params.max_level());
        let key = (|| {
            if pk.b.primes != q {
                return Err(Error::ParamsMismatch(format!(
                    "public key over primes {:?}; these parameters encrypt over {q:?}",
                    pk.b.primes
                )));
            }
            let a = self.uniform(&pk.seed, u64::MAX, &q)?;
            let b = self.backend.upload(ctx, pk.b.clone())?;
            Ok(EncKey::Public { b, a })
        })();
        Encryptor {
            ckks: self.clone(),
            key: key.unwrap_or_else(EncKey::Invalid),
            rng: Mutex::new(sampling::os_rng()),
        }
    }

    /// An encryptor under the secret key (smaller noise; the key stays on this side).
    pub fn encryptor_sk(&self, sk: &SecretKey) -> Encryptor<B> {
        let q = self.params.q_primes_at(self.params.max_level());
        let key = self
            .small_to_ntt(&sk.coeffs, &q)
            .map_or_else(EncKey::Invalid, |s| EncKey::Secret { s });
        Encryptor {
            ckks: self.clone(),
            key,
            rng: Mutex::new(sampling::os_rng()),
        }
    }

    /// A decryptor.
    /// A secret key that cannot be set up on the backend makes every decryption return
    /// the error.
    pub fn decryptor(&self, sk: &SecretKey) -> Decryptor<B> {
        let q = self.params.q_primes_at(self.params.max_level());
        let s = self.small_to_ntt(&sk.coeffs, &q);
        Decryptor {
            ckks: self.clone(),
            s,
        }
    }

    /// An evaluator holding (uploaded) evaluation keys.
    pub fn evaluator(&self, keys: &EvaluationKeys) -> Result<Evaluator<B>> {
        Evaluator::new(self.clone(), keys)
    }

    /// An evaluator that takes ownership of `keys`, dropping each seeded key once it is
    /// uploaded: peak memory is the uploaded set, not the uploaded set plus the seeded one.
    pub fn evaluator_from(&self, keys: EvaluationKeys) -> Result<Evaluator<B>> {
        Evaluator::new_owned(self.clone(), keys)
    }

    // ---- helpers shared by keys/encryption -----------------------------------------

    /// Q primes at the level plus the P primes.
    pub(crate) fn qp_primes(&self, level: usize) -> Vec<usize> {
        let mut v = self.params.q_primes_at(level);
        v.extend(self.params.ring().p_indices());
        v
    }

    /// Uniform polynomial (read as NTT form) expanded from a seed and stream.
    pub(crate) fn uniform(
        &self,
        seed: &[u8; 32],
        stream: u64,
        primes: &[usize],
    ) -> Result<B::Poly> {
        let ctx = self.params.ring();
        let mut p = RnsPoly::zero(ctx.n(), primes);
        let moduli: Vec<_> = primes.iter().map(|&i| *ctx.modulus(i)).collect();
        sampling::uniform_from_seed(seed, stream, &moduli, ctx.n(), &mut p.data);
        self.backend.upload(ctx, p)
    }

    /// A small signed polynomial, reduced into `primes`, uploaded and NTT-transformed.
    pub(crate) fn small_to_ntt(&self, coeffs: &[i64], primes: &[usize]) -> Result<B::Poly> {
        let ctx = self.params.ring();
        let mut p = RnsPoly::zero(ctx.n(), primes);
        for (pos, &i) in primes.iter().enumerate() {
            let m = ctx.modulus(i);
            for (x, &c) in p.limb_mut(pos).iter_mut().zip(coeffs) {
                *x = m.reduce_i64(c);
            }
        }
        let mut d = self.backend.upload(ctx, p)?;
        self.backend.ntt(ctx, &mut d)?;
        Ok(d)
    }

    // ---- encoding -------------------------------------------------------------------

    fn check_slots(&self, len: usize) -> Result<usize> {
        let max = self.params.max_slots();
        if len == 0 || len > max {
            return Err(Error::InvalidInput(format!(
                "{len} values do not fit: between 1 and {max} slots"
            )));
        }
        Ok(len.next_power_of_two())
    }

    /// Encodes complex values (padded with zeros to a power-of-two slot count) at `level`
    /// and `scale`.
    pub fn encode(&self, values: &[Complex64], level: usize, scale: f64) -> Result<Plaintext<B>> {
        self.encode_inner(values, level, scale, false)
    }

    fn encode_inner(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
        with_p: bool,
    ) -> Result<Plaintext<B>> {
        let slots = self.check_slots(values.len())?;
        if level > self.params.max_level() {
            return Err(Error::LevelTooLow {
                op: "encode (level above the maximum)",
                needed: level,
                level: self.params.max_level(),
            });
        }
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(Error::InvalidInput(format!(
                "scale must be finite and ≥ 1, got {scale}"
            )));
        }
        if let Some(v) = values
            .iter()
            .find(|v| !(v.re.is_finite() && v.im.is_finite()))
        {
            return Err(Error::InvalidInput(format!("non-finite value {v}")));
        }
        let mut padded = values.to_vec();
        padded.resize(slots, Complex64::new(0.0, 0.0));
        let mut coeffs = vec![0.0; self.params.n()];
        self.encoder.values_to_coeffs(&padded, &mut coeffs);
        self.coeffs_to_plaintext(&coeffs, level, scale, slots, with_p)
    }

    /// [`encode`](Self::encode) with the residues of the same integer polynomial over the
    /// special primes P appended (limbs `Q_level ∪ P`): a plaintext that multiplies
    /// key-switching products before ModDown (double-hoisted linear transforms).
    pub(crate) fn encode_qp(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<Plaintext<B>> {
        self.encode_inner(values, level, scale, true)
    }

    /// Encodes real values.
    pub fn encode_real(&self, values: &[f64], level: usize, scale: f64) -> Result<Plaintext<B>> {
        let v: Vec<Complex64> = values.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        self.encode(&v, level, scale)
    }

    fn coeffs_to_plaintext(
        &self,
        coeffs: &[f64],
        level: usize,
        scale: f64,
        slots: usize,
        with_p: bool,
    ) -> Result<Plaintext<B>> {
        let ctx = self.params.ring();
        let q_primes = self.params.q_primes_at(level);
        let log_q: f64 = q_primes
            .iter()
            .map(|&i| (ctx.modulus(i).value() as f64).log2())
            .sum();
        let max = coeffs.iter().fold(0.0f64, |m, c| m.max(c.abs())) * scale;
        if max.log2() >= log_q - 1.0 {
            return Err(Error::InvalidInput(format!(
                "encoded values reach 2^{:.1} at scale 2^{:.1}, beyond Q at level {level} (2^{log_q:.1})",
                max.log2(),
                scale.log2()
            )));
        }
        let primes = if with_p {
            self.qp_primes(level)
        } else {
            q_primes
        };
        let mut p = RnsPoly::zero(ctx.n(), &primes);
        let n = ctx.n();
        let scaled: Vec<f64> = coeffs.iter().map(|c| (c * scale).round()).collect();
        // magnitudes once per coefficient, not once per limb; where every magnitude is
        // below a prime (the common case: scale below the primes) the limb is a
        // branch-free select the compiler vectorises
        let mags: Option<(Vec<u64>, u64)> = scaled.iter().all(|c| c.abs() < 9.2e18).then(|| {
            let v: Vec<u64> = scaled.iter().map(|c| c.abs() as u64).collect();
            let max = v.iter().copied().max().unwrap_or(0);
            (v, max)
        });
        for (pos, &i) in primes.iter().enumerate() {
            let m = ctx.modulus(i);
            let q = m.value();
            let limb = &mut p.data[pos * n..(pos + 1) * n];
            match &mags {
                Some((mags, max)) if *max < q => {
                    for ((x, &a), &c) in limb.iter_mut().zip(mags).zip(&scaled) {
                        *x = if c < 0.0 && a != 0 { q - a } else { a };
                    }
                }
                Some((mags, _)) => {
                    for ((x, &a), &c) in limb.iter_mut().zip(mags).zip(&scaled) {
                        let r = if a < q { a } else { m.reduce_u128(a as u128) };
                        *x = if c < 0.0 { m.neg(r) } else { r };
                    }
                }
                None => {
                    for (x, &c) in limb.iter_mut().zip(&scaled) {
                        *x = m.reduce_f64(c);
                    }
                }
            }
        }
        let be = &self.backend;
        let mut d = be.upload(ctx, p)?;
        be.ntt(ctx, &mut d)?;
        Ok(Plaintext {
            poly: d,
            level,
            scale,
            slots,
        })
    }

    /// Decodes a plaintext.
    pub fn decode(&self, pt: &Plaintext<B>) -> Result<Vec<Complex64>> {
        let k = self.decode_limbs(pt.level, pt.scale);
        let primes: Vec<usize> = (0..k).collect();
        let be = &self.backend;
        let ctx = self.params.ring();
        let mut m = be.select(ctx, &pt.poly, &primes)?;
        be.intt(ctx, &mut m)?;
        Ok(self.poly_to_values(&be.download(ctx, &m)?, pt.scale, pt.slots))
    }

    /// Number of Q limbs decoding needs: enough for messages up to 2^64·scale.
    fn decode_limbs(&self, level: usize, scale: f64) -> usize {
        let ctx = self.params.ring();
        let want = scale.log2() + 66.0;
        let mut bits = 0.0;
        for i in 0..self.params.limbs_at(level) {
            bits += (ctx.modulus(i).value() as f64).log2();
            if bits >= want {
                return i + 1;
            }
        }
        self.params.limbs_at(level)
    }

    /// Coefficient-form polynomial over the first k Q primes → slot values.
    fn poly_to_values(&self, m: &RnsPoly, scale: f64, slots: usize) -> Vec<Complex64> {
        let ctx = self.params.ring();
        let n = m.n;
        let k = m.primes.len();
        let inv_scale = 1.0 / scale;
        let mut coeffs = vec![0.0f64; n];
        let gap = n / (2 * slots);
        let wanted = |i: usize| i.is_multiple_of(gap);
        if k == 1 {
            let q = ctx.modulus(0);
            for (i, c) in coeffs.iter_mut().enumerate().filter(|(i, _)| wanted(*i)) {
                *c = q.center(m.data[i]) as f64 * inv_scale;
            }
        } else if k <= 8 {
            // CRT without big integers: x = Σ y_i·qhat_i − v·Q with y_i = [a_i·qhat_i^-1]_{q_i}
            // and v = round(Σ y_i/q_i) (x/Q is tiny, so the rounding is safe). x itself is
            // small (|x| < 2^127), so the sum is exact in wrapping u128 arithmetic.
            let primes: Vec<usize> = (0..k).collect();
            let conv = ctx.base_conv(&primes, &[]);
            let qhat_wrap: Vec<u128> = (0..k)
                .map(|i| {
                    (0..k).filter(|&j| j != i).fold(1u128, |acc, j| {
                        acc.wrapping_mul(ctx.modulus(j).value() as u128)
                    })
                })
                .collect();
            let q_wrap = (0..k).fold(1u128, |acc, j| {
                acc.wrapping_mul(ctx.modulus(j).value() as u128)
            });
            let inv_q: Vec<f64> = (0..k)
                .map(|i| 1.0 / ctx.modulus(i).value() as f64)
                .collect();
            for (idx, c) in coeffs.iter_mut().enumerate().filter(|(i, _)| wanted(*i)) {
                let mut acc = 0u128;
                let mut frac = 0.0f64;
                for i in 0..k {
                    let mi = ctx.modulus(i);
                    let y = mi.mul_shoup(
                        m.data[i * n + idx],
                        conv.qhat_inv[i],
                        conv.qhat_inv_shoup[i],
                    );
                    acc = acc.wrapping_add((y as u128).wrapping_mul(qhat_wrap[i]));
                    frac += y as f64 * inv_q[i];
                }
                let v = frac.round() as u128;
                let x = acc.wrapping_sub(v.wrapping_mul(q_wrap)) as i128;
                *c = x as f64 * inv_scale;
            }
        } else {
            for (i, c) in coeffs.iter_mut().enumerate().filter(|(i, _)| wanted(*i)) {
                let x: BigInt = ctx.crt_coeff(m, i);
                *c = x.to_f64().unwrap_or(f64::NAN) * inv_scale;
            }
        }
        let mut out = vec![Complex64::new(0.0, 0.0); slots];
        self.encoder.coeffs_to_values(&coeffs, slots, &mut out);
        out
    }

    /// The float encoder (canonical embedding).
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }
}

enum EncKey<B: Backend> {
    Public {
        b: B::Poly,
        a: B::Poly,
    },
    Secret {
        s: B::Poly,
    },
    /// The key could not be set up (reported by every `encrypt`).
    Invalid(Error),
}

/// Encrypts plaintexts (public- or secret-key).
pub struct Encryptor<B: Backend> {
    ckks: Ckks<B>,
    key: EncKey<B>,
    rng: Mutex<ChaCha20Rng>,
}

impl<B: Backend> Encryptor<B> {
    /// Deterministic encryption randomness from `seed`, for reproducibility tests only
    /// (cross-backend bit-exactness): two encryptions under one seed share their
    /// randomness, which is insecure outside a test.
    pub fn with_seed_for_tests(self, seed: u64) -> Self {
        use rand::SeedableRng;
        Encryptor {
            rng: Mutex::new(ChaCha20Rng::seed_from_u64(seed)),
            ..self
        }
    }

    /// Encrypts a plaintext at its level and scale.
    pub fn encrypt(&self, pt: &Plaintext<B>) -> Result<Ciphertext<B>> {
        let ckks = &self.ckks;
        let be = ckks.backend();
        let ctx = ckks.params().ring();
        let n = ctx.n();
        let primes = ckks.params().q_primes_at(pt.level);
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let parts = match &self.key {
            EncKey::Invalid(e) => return Err(e.clone()),
            EncKey::Public { b, a } => {
                let v = sampling::ternary(&mut *rng, n);
                let e0 = sampling::gaussian(&mut *rng, n);
                let e1 = sampling::gaussian(&mut *rng, n);
                drop(rng);
                let v = ckks.small_to_ntt(&v, &primes)?;
                let mut c0 = ckks.small_to_ntt(&e0, &primes)?;
                let mut c1 = ckks.small_to_ntt(&e1, &primes)?;
                be.mul_add_assign(ctx, &mut c0, &v, b)?;
                be.mul_add_assign(ctx, &mut c1, &v, a)?;
                be.add_assign(ctx, &mut c0, &pt.poly)?;
                vec![c0, c1]
            }
            EncKey::Secret { s } => {
                let seed = sampling::fresh_seed(&mut *rng);
                let e = sampling::gaussian(&mut *rng, n);
                drop(rng);
                let c1 = ckks.uniform(&seed, 0, &primes)?;
                let mut c0 = ckks.small_to_ntt(&e, &primes)?;
                let mut as_ = c1.clone();
                be.mul_assign(ctx, &mut as_, s)?;
                be.sub_assign(ctx, &mut c0, &as_)?;
                be.add_assign(ctx, &mut c0, &pt.poly)?;
                vec![c0, c1]
            }
        };
        Ok(Ciphertext {
            parts,
            level: pt.level,
            scale: pt.scale,
            slots: pt.slots,
        })
    }
}

/// Decrypts ciphertexts.
pub struct Decryptor<B: Backend> {
    ckks: Ckks<B>,
    /// The secret key in NTT form, or why it could not be set up.
    s: Result<B::Poly>,
}

impl<B: Backend> Decryptor<B> {
    /// Decrypts to a plaintext over the first `limbs` primes (all when `None`).
    fn decrypt_limbs(&self, ct: &Ciphertext<B>, k: usize) -> Result<RnsPoly> {
        let be = self.ckks.backend();
        let ctx = self.ckks.params().ring();
        let primes: Vec<usize> = (0..k).collect();
        let mut acc = be.select(ctx, &ct.parts[ct.parts.len() - 1], &primes)?;
        let s = self.s.as_ref().map_err(Clone::clone)?;
        // Horner in s: ((c_d)·s + c_{d-1})·s + ... + c_0
        for part in ct.parts.iter().rev().skip(1) {
            be.mul_assign(ctx, &mut acc, s)?;
            be.add_assign(ctx, &mut acc, part)?;
        }
        be.intt(ctx, &mut acc)?;
        be.download(ctx, &acc)
    }

    /// Decrypts into a plaintext (all limbs of the ciphertext's level).
    pub fn decrypt(&self, ct: &Ciphertext<B>) -> Result<Plaintext<B>> {
        let be = self.ckks.backend();
        let ctx = self.ckks.params().ring();
        let mut poly = be.upload(
            ctx,
            self.decrypt_limbs(ct, self.ckks.params().limbs_at(ct.level))?,
        )?;
        be.ntt(ctx, &mut poly)?;
        Ok(Plaintext {
            poly,
            level: ct.level,
            scale: ct.scale,
            slots: ct.slots,
        })
    }

    /// Decrypts and decodes to complex slot values.
    pub fn decrypt_complex(&self, ct: &Ciphertext<B>) -> Result<Vec<Complex64>> {
        let k = self.ckks.decode_limbs(ct.level, ct.scale);
        let m = self.decrypt_limbs(ct, k)?;
        Ok(self.ckks.poly_to_values(&m, ct.scale, ct.slots))
    }

    /// Decrypts and decodes the real parts.
    pub fn decrypt_real(&self, ct: &Ciphertext<B>) -> Result<Vec<f64>> {
        Ok(self
            .decrypt_complex(ct)?
            .into_iter()
            .map(|c| c.re)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::ReferenceBackend;
    use crate::ckks::ParamsLiteral;
    use num_bigint::BigInt;
    use num_traits::{FromPrimitive, ToPrimitive};
    use rand::{Rng, SeedableRng};

    /// The residues of an encoding are those of round(coefficient · scale), computed
    /// independently in big integers, for scales below the primes, above some of them,
    /// and above 2^63 (the three paths of `coeffs_to_plaintext`).
    #[test]
    fn encoded_residues_are_the_rounded_coefficients_mod_each_prime() {
        let params = Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap();
        let ckks = Ckks::new(params.clone(), ReferenceBackend);
        let ctx = params.ring().clone();
        let level = params.max_level();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let slots = params.max_slots();
        let values: Vec<Complex64> = (0..slots)
            .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
            .collect();
        let mut coeffs = vec![0.0; params.n()];
        ckks.encoder().values_to_coeffs(&values, &mut coeffs);
        for log_scale in [40, 62, 90] {
            let scale = 2f64.powi(log_scale);
            let pt = ckks.encode(&values, level, scale).unwrap();
            let mut poly = pt.poly.clone();
            ReferenceBackend.intt(&ctx, &mut poly).unwrap();
            let got = ReferenceBackend.download(&ctx, &poly).unwrap();
            for (pos, &i) in got.primes.iter().enumerate() {
                let q = BigInt::from(ctx.modulus(i).value());
                for (k, &c) in coeffs.iter().enumerate() {
                    let want = BigInt::from_f64((c * scale).round()).unwrap();
                    let want = ((want % &q) + &q) % &q;
                    assert_eq!(
                        got.data[pos * params.n() + k],
                        want.to_u64().unwrap(),
                        "scale 2^{log_scale}, limb {pos}, coefficient {k}"
                    );
                }
            }
        }
    }
}
