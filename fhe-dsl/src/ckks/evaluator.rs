//! Homomorphic operations. Each comes as an in-place or output-parameter form and an
//! allocating `_new` form (Lattigo's `Op`/`OpNew`).

use super::cache::{PlaintextCache, PlaintextCacheStats, PtKey};
use super::context::{Ciphertext, Ckks, Plaintext};
use super::keys::{galois_element, EvaluationKeys};
use super::scales_match;
use crate::backend::{Backend, KeyDigits};
use crate::error::{Error, Result};
use num_complex::Complex64;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A Galois element with its uploaded key digits.
pub(crate) type GaloisKey<'a, B> = (usize, &'a KeyDigits<<B as Backend>::Poly>);

/// A switching key uploaded to the backend: `(b_j, a_j)` per digit, over `Q_level·P`.
struct DeviceKey<B: Backend> {
    digits: Vec<(B::Poly, B::Poly)>,
    /// Highest ciphertext level the key serves.
    level: usize,
    /// Words of both halves (for [`Evaluator::key_bytes`]).
    words: usize,
}

impl<B: Backend> DeviceKey<B> {
    /// The digits, if the key serves ciphertexts at `level`.
    fn at(&self, level: usize, what: impl FnOnce() -> String) -> Result<&KeyDigits<B::Poly>> {
        if level > self.level {
            return Err(Error::KeyLevelTooLow {
                what: what(),
                key_level: self.level,
                level,
            });
        }
        Ok(&self.digits)
    }
}

/// A switching key between two arbitrary secrets, uploaded for use with
/// [`Evaluator::switch_key_new`].
pub struct DeviceSwitchingKey<B: Backend> {
    key: DeviceKey<B>,
}

/// Evaluates operations on ciphertexts with a fixed set of evaluation keys.
pub struct Evaluator<B: Backend> {
    ckks: Ckks<B>,
    relin: Option<DeviceKey<B>>,
    galois: BTreeMap<usize, DeviceKey<B>>,
    /// Encoded weights kept across uses (off unless given a budget).
    plaintexts: PlaintextCache<B>,
}

impl<B: Backend> Evaluator<B> {
    pub(crate) fn new(ckks: Ckks<B>, keys: &EvaluationKeys) -> Result<Self> {
        // one key copied at a time, moved into the backend
        Self::upload_keys(
            ckks,
            keys.relin.clone(),
            keys.galois.iter().map(|(&g, k)| (g, k.clone())),
        )
    }

    /// Like [`new`](Self::new), consuming the keys: each is dropped once uploaded, so
    /// the seeded and uploaded copies of the whole set never coexist.
    pub(crate) fn new_owned(ckks: Ckks<B>, keys: EvaluationKeys) -> Result<Self> {
        Self::upload_keys(ckks, keys.relin, keys.galois)
    }

    fn upload_keys(
        ckks: Ckks<B>,
        relin: Option<super::keys::SwitchingKey>,
        galois: impl IntoIterator<Item = (usize, super::keys::SwitchingKey)>,
    ) -> Result<Self> {
        let params = ckks.params().clone();
        let upload = |k: super::keys::SwitchingKey| -> Result<DeviceKey<B>> {
            let level = k.level(&params);
            if level > params.max_level() {
                return Err(Error::ParamsMismatch(format!(
                    "switching key for level {level}; these parameters stop at level {}",
                    params.max_level()
                )));
            }
            // a key at level l: Q_l·P limbs, one digit per alpha of its Q primes
            let qp = ckks.qp_primes(level);
            let digits = params.limbs_at(level).div_ceil(params.alpha());
            if k.b.len() != digits || k.b.iter().any(|b| b.primes != qp || b.n != params.n()) {
                return Err(Error::ParamsMismatch(format!(
                    "switching key has {} digits over {} limbs; these parameters need {digits} digits over {} limbs at level {level}",
                    k.b.len(),
                    k.b.first().map_or(0, |b| b.primes.len()),
                    qp.len()
                )));
            }
            let ctx = params.ring();
            let words = 2 * k.b.iter().map(|b| b.data.len()).sum::<usize>();
            let ds = k
                .b
                .into_iter()
                .enumerate()
                .map(|(j, b)| {
                    let moduli_ok = b
                        .data
                        .iter()
                        .enumerate()
                        .all(|(w, &x)| x < ctx.modulus(qp[w / b.n]).value());
                    if !moduli_ok {
                        return Err(Error::Malformed("switching key residue not reduced".into()));
                    }
                    Ok((
                        ckks.backend().upload(ctx, b)?,
                        ckks.uniform(&k.seed, j as u64, &qp)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(DeviceKey {
                digits: ds,
                level,
                words,
            })
        };
        let relin = relin.map(upload).transpose()?;
        let galois = galois
            .into_iter()
            .map(|(g, k)| Ok((g, upload(k)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(Evaluator {
            ckks,
            relin,
            galois,
            plaintexts: PlaintextCache::default(),
        })
    }

    /// Bytes of key material this evaluator holds on its backend (relinearisation and
    /// Galois keys, uniform halves expanded; 8 bytes per word): about twice
    /// [`EvaluationKeys::byte_size`].
    pub fn key_bytes(&self) -> usize {
        self.relin
            .iter()
            .chain(self.galois.values())
            .map(|k| k.words * 8)
            .sum()
    }

    /// Keeps encoded linear-transform diagonals (a model's weights, bootstrapping's
    /// DFT matrices when streamed) across uses, up to `bytes` on the backend, so that
    /// each is encoded once per level and scale rather than on every application. Off
    /// (0) by default; a smaller budget than what is held empties the cache.
    pub fn set_plaintext_cache(&self, bytes: usize) {
        self.plaintexts.set_budget(bytes);
    }

    /// The plaintext cache's budget, contents and hit counts.
    pub fn plaintext_cache_stats(&self) -> PlaintextCacheStats {
        self.plaintexts.stats()
    }

    /// The plaintext `key` names, from the cache or from `encode`.
    pub(crate) fn cached_plaintext(
        &self,
        key: PtKey,
        encode: impl FnOnce() -> Result<Plaintext<B>>,
    ) -> Result<Arc<Plaintext<B>>> {
        let n = self.ckks.params().n();
        let be = self.be();
        self.plaintexts
            .get_or_encode(key, |pt| be.primes(&pt.poly).len() * n * 8, encode)
    }

    /// Uploads a switching key (e.g. from
    /// [`KeyGenerator::switching_key_between`](super::KeyGenerator::switching_key_between)).
    pub fn upload_switching_key(
        &self,
        key: &super::keys::SwitchingKey,
    ) -> Result<DeviceSwitchingKey<B>> {
        let tmp = Evaluator::new(
            self.ckks.clone(),
            &EvaluationKeys {
                relin: Some(key.clone()),
                galois: BTreeMap::new(),
            },
        )?;
        Ok(DeviceSwitchingKey {
            key: tmp.relin.expect("uploaded above"),
        })
    }

    /// Switches a ciphertext decrypting under the key's source secret to one decrypting
    /// under its target secret.
    pub fn switch_key_new(
        &self,
        ct: &Ciphertext<B>,
        key: &DeviceSwitchingKey<B>,
    ) -> Result<Ciphertext<B>> {
        Self::check_degree("switch_key", ct)?;
        let digits = key.key.at(ct.level, || "switching key".into())?;
        let (u0, u1) = self.be().key_switch(
            self.ctx(),
            &ct.parts[1],
            digits,
            self.ckks.params().alpha(),
            None,
        )?;
        let mut c0 = ct.parts[0].clone();
        self.be().add_assign(self.ctx(), &mut c0, &u0)?;
        Ok(Ciphertext {
            parts: vec![c0, u1],
            level: ct.level,
            scale: ct.scale,
            slots: ct.slots,
        })
    }

    /// The context.
    pub fn ckks(&self) -> &Ckks<B> {
        &self.ckks
    }

    fn be(&self) -> &B {
        self.ckks.backend()
    }

    fn ctx(&self) -> &crate::ring::RingContext {
        self.ckks.params().ring()
    }

    fn check_same(op: &'static str, a: (usize, f64), b: (usize, f64)) -> Result<()> {
        if a.0 != b.0 {
            return Err(Error::LevelMismatch {
                op,
                left: a.0,
                right: b.0,
            });
        }
        if !scales_match(a.1, b.1) {
            return Err(Error::ScaleMismatch {
                op,
                left: a.1,
                right: b.1,
            });
        }
        Ok(())
    }

    fn check_degree(op: &'static str, ct: &Ciphertext<B>) -> Result<()> {
        if ct.parts.len() != 2 {
            return Err(Error::Degree {
                op,
                expected: 1,
                found: ct.degree(),
            });
        }
        Ok(())
    }

    // ---- addition -------------------------------------------------------------------

    /// `out = a + b`.
    pub fn add(&self, a: &Ciphertext<B>, b: &Ciphertext<B>, out: &mut Ciphertext<B>) -> Result<()> {
        *out = self.add_new(a, b)?;
        Ok(())
    }

    /// `a + b`.
    pub fn add_new(&self, a: &Ciphertext<B>, b: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        let mut out = a.clone();
        self.add_assign(&mut out, b)?;
        Ok(out)
    }

    /// `a += b`.
    pub fn add_assign(&self, a: &mut Ciphertext<B>, b: &Ciphertext<B>) -> Result<()> {
        Self::check_same("add", (a.level, a.scale), (b.level, b.scale))?;
        self.combine(a, b, false)
    }

    /// `a - b`.
    pub fn sub_new(&self, a: &Ciphertext<B>, b: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        let mut out = a.clone();
        self.sub_assign(&mut out, b)?;
        Ok(out)
    }

    /// `a -= b`.
    pub fn sub_assign(&self, a: &mut Ciphertext<B>, b: &Ciphertext<B>) -> Result<()> {
        Self::check_same("sub", (a.level, a.scale), (b.level, b.scale))?;
        self.combine(a, b, true)
    }

    fn combine(&self, a: &mut Ciphertext<B>, b: &Ciphertext<B>, sub: bool) -> Result<()> {
        let (be, ctx) = (self.be(), self.ctx());
        for (i, bp) in b.parts.iter().enumerate() {
            if i < a.parts.len() {
                if sub {
                    be.sub_assign(ctx, &mut a.parts[i], bp)?;
                } else {
                    be.add_assign(ctx, &mut a.parts[i], bp)?;
                }
            } else {
                let mut p = bp.clone();
                if sub {
                    be.neg_assign(ctx, &mut p)?;
                }
                a.parts.push(p);
            }
        }
        Ok(())
    }

    /// `a = -a`.
    pub fn neg_assign(&self, a: &mut Ciphertext<B>) -> Result<()> {
        for p in &mut a.parts {
            self.be().neg_assign(self.ctx(), p)?;
        }
        Ok(())
    }

    /// `-a`.
    pub fn neg_new(&self, a: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        let mut out = a.clone();
        self.neg_assign(&mut out)?;
        Ok(out)
    }

    fn check_plain(op: &'static str, ct: &Ciphertext<B>, pt: &Plaintext<B>) -> Result<()> {
        if pt.level < ct.level {
            return Err(Error::LevelMismatch {
                op,
                left: ct.level,
                right: pt.level,
            });
        }
        Ok(())
    }

    /// `ct += pt` (the plaintext may sit at a higher level; scales must match).
    pub fn add_plain_assign(&self, ct: &mut Ciphertext<B>, pt: &Plaintext<B>) -> Result<()> {
        Self::check_plain("add_plain", ct, pt)?;
        if !scales_match(ct.scale, pt.scale) {
            return Err(Error::ScaleMismatch {
                op: "add_plain",
                left: ct.scale,
                right: pt.scale,
            });
        }
        self.be()
            .add_assign(self.ctx(), &mut ct.parts[0], &pt.poly)?;
        Ok(())
    }

    /// `ct + pt`.
    pub fn add_plain_new(&self, ct: &Ciphertext<B>, pt: &Plaintext<B>) -> Result<Ciphertext<B>> {
        let mut out = ct.clone();
        self.add_plain_assign(&mut out, pt)?;
        Ok(out)
    }

    /// `ct *= pt`; the scale becomes the product (rescale afterwards).
    pub fn mul_plain_assign(&self, ct: &mut Ciphertext<B>, pt: &Plaintext<B>) -> Result<()> {
        Self::check_plain("mul_plain", ct, pt)?;
        for p in &mut ct.parts {
            self.be().mul_assign(self.ctx(), p, &pt.poly)?;
        }
        ct.scale *= pt.scale;
        Ok(())
    }

    /// `ct * pt`.
    pub fn mul_plain_new(&self, ct: &Ciphertext<B>, pt: &Plaintext<B>) -> Result<Ciphertext<B>> {
        let mut out = ct.clone();
        self.mul_plain_assign(&mut out, pt)?;
        Ok(out)
    }

    fn const_residues(&self, level: usize, value: f64) -> Vec<u64> {
        let ctx = self.ctx();
        (0..self.ckks.params().limbs_at(level))
            .map(|i| ctx.modulus(i).reduce_f64(value.round()))
            .collect()
    }

    /// `ct += c` for a real constant (encoded at the ciphertext's scale).
    pub fn add_const_assign(&self, ct: &mut Ciphertext<B>, c: f64) -> Result<()> {
        if !c.is_finite() {
            return Err(Error::InvalidInput(format!("constant {c} is not finite")));
        }
        let r = self.const_residues(ct.level, c * ct.scale);
        self.be()
            .add_scalar_assign(self.ctx(), &mut ct.parts[0], &r)?;
        Ok(())
    }

    /// `ct *= c` for a real constant, encoded at the scale of the prime(s) the next
    /// rescale divides by, so that after [`rescale`](Self::rescale_assign) the scale is
    /// unchanged.
    pub fn mul_const_assign(&self, ct: &mut Ciphertext<B>, c: f64) -> Result<()> {
        if !c.is_finite() {
            return Err(Error::InvalidInput(format!("constant {c} is not finite")));
        }
        let s = if ct.level > 0 {
            self.ckks.params().rescale_divisor(ct.level)
        } else {
            self.ckks.params().default_scale()
        };
        let r = self.const_residues(ct.level, c * s);
        for p in &mut ct.parts {
            self.be().mul_scalar_assign(self.ctx(), p, &r)?;
        }
        ct.scale *= s;
        Ok(())
    }

    /// `ct *= c` for a real constant encoded at `const_scale` (the constant becomes
    /// `round(c·const_scale)`; the ciphertext's scale is multiplied by `const_scale`).
    /// Use it to land on a chosen scale after the next rescale.
    pub fn mul_const_scaled_assign(
        &self,
        ct: &mut Ciphertext<B>,
        c: f64,
        const_scale: f64,
    ) -> Result<()> {
        if !(c.is_finite() && const_scale.is_finite() && const_scale > 0.0) {
            return Err(Error::InvalidInput(format!(
                "constant {c} at scale {const_scale} is not a finite, positively scaled value"
            )));
        }
        let r = self.const_residues(ct.level, c * const_scale);
        for p in &mut ct.parts {
            self.be().mul_scalar_assign(self.ctx(), p, &r)?;
        }
        ct.scale *= const_scale;
        Ok(())
    }

    /// `ct *= k` for an integer: exact, scale unchanged.
    pub fn mul_int_assign(&self, ct: &mut Ciphertext<B>, k: i64) -> Result<()> {
        let r: Vec<u64> = (0..self.ckks.params().limbs_at(ct.level))
            .map(|i| self.ctx().modulus(i).reduce_i64(k))
            .collect();
        for p in &mut ct.parts {
            self.be().mul_scalar_assign(self.ctx(), p, &r)?;
        }
        Ok(())
    }

    // ---- multiplication ---------------------------------------------------------------

    /// Tensor product `a ⊗ b` (degree 2; relinearise afterwards).
    pub fn mul_new(&self, a: &Ciphertext<B>, b: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        Self::check_degree("mul", a)?;
        Self::check_degree("mul", b)?;
        if a.level != b.level {
            return Err(Error::LevelMismatch {
                op: "mul",
                left: a.level,
                right: b.level,
            });
        }
        let (be, ctx) = (self.be(), self.ctx());
        let mut d0 = a.parts[0].clone();
        be.mul_assign(ctx, &mut d0, &b.parts[0])?;
        let mut d1 = a.parts[0].clone();
        be.mul_assign(ctx, &mut d1, &b.parts[1])?;
        be.mul_add_assign(ctx, &mut d1, &a.parts[1], &b.parts[0])?;
        let mut d2 = a.parts[1].clone();
        be.mul_assign(ctx, &mut d2, &b.parts[1])?;
        Ok(Ciphertext {
            parts: vec![d0, d1, d2],
            level: a.level,
            scale: a.scale * b.scale,
            slots: a.slots.max(b.slots),
        })
    }

    /// The relinearisation key's digits for a ciphertext at `level`.
    fn relin_key(&self, level: usize) -> Result<&KeyDigits<B::Poly>> {
        self.relin
            .as_ref()
            .ok_or_else(|| Error::MissingKey("relinearisation key".into()))?
            .at(level, || "relinearisation key".into())
    }

    /// Relinearises a degree-2 ciphertext in place.
    pub fn relinearize_assign(&self, ct: &mut Ciphertext<B>) -> Result<()> {
        if ct.parts.len() == 2 {
            return Ok(());
        }
        if ct.parts.len() != 3 {
            return Err(Error::Degree {
                op: "relinearize",
                expected: 2,
                found: ct.degree(),
            });
        }
        let digits = self.relin_key(ct.level)?;
        let d2 = ct.parts.pop().expect("3 parts");
        let (u0, u1) =
            self.be()
                .key_switch(self.ctx(), &d2, digits, self.ckks.params().alpha(), None)?;
        self.be().add_assign(self.ctx(), &mut ct.parts[0], &u0)?;
        self.be().add_assign(self.ctx(), &mut ct.parts[1], &u1)?;
        Ok(())
    }

    /// Relinearises (when of degree 2) and rescales: the same words as
    /// [`relinearize_assign`](Self::relinearize_assign) then
    /// [`rescale_assign`](Self::rescale_assign), in one backend call a backend can fuse
    /// (the CPU backend saves the rescale's NTTs). Level − 1, scale / q_level.
    pub fn relinearize_rescale_assign(&self, ct: &mut Ciphertext<B>) -> Result<()> {
        if ct.parts.len() == 2 {
            return self.rescale_assign(ct);
        }
        if ct.parts.len() != 3 {
            return Err(Error::Degree {
                op: "relinearize",
                expected: 2,
                found: ct.degree(),
            });
        }
        if ct.level == 0 {
            return Err(Error::LevelTooLow {
                op: "rescale",
                needed: 1,
                level: 0,
            });
        }
        let digits = self.relin_key(ct.level)?;
        let params = self.ckks.params();
        let drop = params.primes_dropped_at(ct.level);
        let (c0, c1) = self.be().relinearize_rescale(
            self.ctx(),
            &ct.parts[0],
            &ct.parts[1],
            &ct.parts[2],
            digits,
            params.alpha(),
            drop,
        )?;
        ct.parts = vec![c0, c1];
        ct.scale /= params.rescale_divisor(ct.level);
        ct.level -= 1;
        Ok(())
    }

    /// `a · b`, relinearised.
    pub fn mul_relin_new(&self, a: &Ciphertext<B>, b: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        let mut out = self.mul_new(a, b)?;
        self.relinearize_assign(&mut out)?;
        Ok(out)
    }

    /// `out = a · b`, relinearised.
    pub fn mul_relin(
        &self,
        a: &Ciphertext<B>,
        b: &Ciphertext<B>,
        out: &mut Ciphertext<B>,
    ) -> Result<()> {
        *out = self.mul_relin_new(a, b)?;
        Ok(())
    }

    // ---- levels -----------------------------------------------------------------------

    /// Divides by the last level's prime(s): level − 1, scale / q_level.
    pub fn rescale_assign(&self, ct: &mut Ciphertext<B>) -> Result<()> {
        if ct.level == 0 {
            return Err(Error::LevelTooLow {
                op: "rescale",
                needed: 1,
                level: 0,
            });
        }
        let params = self.ckks.params();
        let drop = params.primes_dropped_at(ct.level);
        for p in &mut ct.parts {
            self.be().rescale(self.ctx(), p, drop)?;
        }
        ct.scale /= params.rescale_divisor(ct.level);
        ct.level -= 1;
        Ok(())
    }

    /// Rescaled copy.
    pub fn rescale_new(&self, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        let mut out = ct.clone();
        self.rescale_assign(&mut out)?;
        Ok(out)
    }

    /// Drops `levels` levels without dividing (scale unchanged).
    pub fn drop_level_assign(&self, ct: &mut Ciphertext<B>, levels: usize) -> Result<()> {
        if levels > ct.level {
            return Err(Error::LevelTooLow {
                op: "drop_level",
                needed: levels,
                level: ct.level,
            });
        }
        let new = ct.level - levels;
        let primes = self.ckks.params().q_primes_at(new);
        for p in &mut ct.parts {
            self.be().keep_limbs(self.ctx(), p, &primes)?;
        }
        ct.level = new;
        Ok(())
    }

    // ---- automorphisms ----------------------------------------------------------------

    /// The digits of the key for Galois element `g` if it serves ciphertexts at
    /// `level`. `what` names the key ("rotation key for step 17"); a missing key's
    /// message adds the Galois element for rotations.
    fn galois_key(
        &self,
        g: usize,
        level: usize,
        what: impl Fn() -> String,
    ) -> Result<&KeyDigits<B::Poly>> {
        let conj = g == 2 * self.ckks.params().n() - 1;
        let key = self.galois.get(&g).ok_or_else(|| {
            Error::MissingKey(if conj {
                what()
            } else {
                format!("{} (Galois element {g})", what())
            })
        })?;
        key.at(level, what)
    }

    /// Rotates slots left by `step` (negative: right).
    pub fn rotate_new(&self, ct: &Ciphertext<B>, step: i64) -> Result<Ciphertext<B>> {
        Ok(self
            .rotate_hoisted_new(ct, &[step])?
            .pop()
            .expect("one rotation"))
    }

    /// `out = rotate(ct, step)`.
    pub fn rotate(&self, ct: &Ciphertext<B>, step: i64, out: &mut Ciphertext<B>) -> Result<()> {
        *out = self.rotate_new(ct, step)?;
        Ok(())
    }

    /// Several rotations of one ciphertext sharing one decomposition (hoisting).
    /// A step equivalent to 0 returns a copy. Identical, bit for bit, to
    /// [`rotate_new`](Self::rotate_new) for each step.
    pub fn rotate_hoisted_new(
        &self,
        ct: &Ciphertext<B>,
        steps: &[i64],
    ) -> Result<Vec<Ciphertext<B>>> {
        let log_n = self.ckks.params().log_n();
        let gs: Vec<usize> = steps.iter().map(|&k| galois_element(k, log_n)).collect();
        let mut keys = Vec::new();
        for (&k, &g) in steps.iter().zip(&gs) {
            if g != 1 {
                let key = self.galois_key(g, ct.level, || format!("rotation key for step {k}"))?;
                keys.push((g, key));
            }
        }
        self.apply_galois(ct, &gs, &keys)
    }

    /// Conjugates every slot.
    pub fn conjugate_new(&self, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        let g = 2 * self.ckks.params().n() - 1;
        let key = self.galois_key(g, ct.level, || "conjugation key".into())?;
        Ok(self
            .apply_galois(ct, &[g], &[(g, key)])?
            .pop()
            .expect("one"))
    }

    fn apply_galois(
        &self,
        ct: &Ciphertext<B>,
        gs: &[usize],
        keys: &[(usize, &KeyDigits<B::Poly>)],
    ) -> Result<Vec<Ciphertext<B>>> {
        Self::check_degree("rotate", ct)?;
        let mut rotated = if keys.is_empty() {
            Vec::new()
        } else {
            self.be().hoisted_rotations(
                self.ctx(),
                &ct.parts[0],
                &ct.parts[1],
                keys,
                self.ckks.params().alpha(),
            )?
        }
        .into_iter();
        Ok(gs
            .iter()
            .map(|&g| {
                if g == 1 {
                    ct.clone()
                } else {
                    let (c0, c1) = rotated.next().expect("one result per key");
                    Ciphertext {
                        parts: vec![c0, c1],
                        level: ct.level,
                        scale: ct.scale,
                        slots: ct.slots,
                    }
                }
            })
            .collect())
    }

    /// The Galois element of a rotation by `step` and its uploaded key digits (`None`
    /// for a step equivalent to 0), for a ciphertext at `level`: for circuits that
    /// compose key switching from the backend's primitives (double-hoisted linear
    /// transforms). Errors if the key is missing or serves only lower levels.
    pub(crate) fn rotation_key(&self, step: i64, level: usize) -> Result<Option<GaloisKey<'_, B>>> {
        let g = galois_element(step, self.ckks.params().log_n());
        if g == 1 {
            return Ok(None);
        }
        let key = self.galois_key(g, level, || format!("rotation key for step {step}"))?;
        Ok(Some((g, key)))
    }

    /// Whether a rotation key for `step` is loaded (at any level).
    pub fn has_rotation_key(&self, step: i64) -> bool {
        self.rotation_key_level(step).is_some()
    }

    /// The highest ciphertext level the loaded rotation key for `step` serves (`None`
    /// if none is loaded; a step equivalent to 0 needs no key and serves every level).
    pub fn rotation_key_level(&self, step: i64) -> Option<usize> {
        let g = galois_element(step, self.ckks.params().log_n());
        if g == 1 {
            return Some(self.ckks.params().max_level());
        }
        self.galois.get(&g).map(|k| k.level)
    }

    /// Encodes a constant vector at the ciphertext's level and the default scale.
    pub fn encode_for(&self, ct: &Ciphertext<B>, values: &[Complex64]) -> Result<Plaintext<B>> {
        self.ckks
            .encode(values, ct.level, self.ckks.params().default_scale())
    }
}
