//! Homomorphic linear transforms given by their diagonals, evaluated with the
//! baby-step / giant-step algorithm and hoisted baby-step rotations.
//!
//! A linear map `M` on `n` slots is stored by generalized diagonals:
//! `(M v)[k] = Σ_d D_d[k] · v[(k + d) mod n]`. With `d = g·j + i`,
//! `M v = Σ_j rot_{g·j}( Σ_i rot_{−g·j}(D_{g·j+i}) ⊙ rot_i(v) )`: the baby rotations
//! `rot_i(v)` share one decomposition (hoisting), and only one giant rotation per `j` is
//! needed. `g` is chosen per transform to minimise the rotation count, and
//! [`LinearTransform::rotations`] lists the steps whose keys the evaluation needs.

use crate::backend::Backend;
use crate::ckks::{Ciphertext, Ckks, Evaluator, Plaintext};
use crate::error::{Error, Result};
use num_complex::Complex64;
use std::collections::{BTreeMap, BTreeSet};

/// A linear map on `slots` complex slots, by nonzero diagonals.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearTransform {
    slots: usize,
    diags: BTreeMap<usize, Vec<Complex64>>,
}

impl LinearTransform {
    /// A transform from `(diagonal index, vector)` pairs. Indices are taken mod `slots`
    /// (negative ones included) and repeated indices are summed. `slots` must be a power
    /// of two and every vector must have `slots` entries.
    pub fn new(
        slots: usize,
        diags: impl IntoIterator<Item = (i64, Vec<Complex64>)>,
    ) -> Result<Self> {
        if !slots.is_power_of_two() {
            return Err(Error::InvalidInput(format!(
                "linear transform: slots must be a power of two, got {slots}"
            )));
        }
        let mut out: BTreeMap<usize, Vec<Complex64>> = BTreeMap::new();
        for (d, v) in diags {
            if v.len() != slots {
                return Err(Error::InvalidInput(format!(
                    "diagonal {d} has {} entries, expected {slots}",
                    v.len()
                )));
            }
            if v.iter().any(|z| !(z.re.is_finite() && z.im.is_finite())) {
                return Err(Error::InvalidInput(format!(
                    "diagonal {d} has non-finite entries"
                )));
            }
            let idx = d.rem_euclid(slots as i64) as usize;
            match out.get_mut(&idx) {
                Some(acc) => acc.iter_mut().zip(&v).for_each(|(a, b)| *a += b),
                None => {
                    out.insert(idx, v);
                }
            }
        }
        Ok(LinearTransform { slots, diags: out })
    }

    /// The transform of a dense `n × n` matrix (rows first).
    pub fn from_matrix(m: &[Vec<Complex64>]) -> Result<Self> {
        let n = m.len();
        if m.iter().any(|r| r.len() != n) {
            return Err(Error::InvalidInput("matrix must be square".into()));
        }
        let diags = (0..n).filter_map(|d| {
            let v: Vec<Complex64> = (0..n).map(|k| m[k][(k + d) % n]).collect();
            v.iter().any(|z| z.norm() != 0.0).then_some((d as i64, v))
        });
        Self::new(n, diags)
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The diagonals (index in `0..slots`).
    pub fn diagonals(&self) -> &BTreeMap<usize, Vec<Complex64>> {
        &self.diags
    }

    /// `M v` in float64.
    pub fn apply_plain(&self, v: &[Complex64]) -> Vec<Complex64> {
        let n = self.slots;
        let mut out = vec![Complex64::new(0.0, 0.0); n];
        for (&d, dv) in &self.diags {
            for k in 0..n {
                out[k] += dv[k] * v[(k + d) % n];
            }
        }
        out
    }

    /// The product `self · other` (apply `other` first).
    pub fn compose(&self, other: &LinearTransform) -> Result<LinearTransform> {
        if self.slots != other.slots {
            return Err(Error::InvalidInput(format!(
                "cannot compose transforms on {} and {} slots",
                self.slots, other.slots
            )));
        }
        let n = self.slots;
        let mut out: BTreeMap<usize, Vec<Complex64>> = BTreeMap::new();
        for (&d1, a) in &self.diags {
            for (&d2, b) in &other.diags {
                let e = out
                    .entry((d1 + d2) % n)
                    .or_insert_with(|| vec![Complex64::new(0.0, 0.0); n]);
                for k in 0..n {
                    e[k] += a[k] * b[(k + d1) % n];
                }
            }
        }
        out.retain(|_, v| v.iter().any(|z| z.norm() > 1e-300));
        Ok(LinearTransform {
            slots: n,
            diags: out,
        })
    }

    /// Every entry multiplied by `k`.
    pub fn scaled(&self, k: Complex64) -> LinearTransform {
        let mut out = self.clone();
        out.diags
            .values_mut()
            .for_each(|v| v.iter_mut().for_each(|z| *z *= k));
        out
    }

    /// Baby-step size `g` minimising the weighted rotation count (hoisted baby steps
    /// cost about 0.6 of a giant step).
    pub fn baby_step(&self) -> usize {
        let mut best = (f64::INFINITY, 1);
        let mut g = 1;
        while g <= self.slots {
            let babies: BTreeSet<usize> = self.diags.keys().map(|d| d % g).collect();
            let giants: BTreeSet<usize> = self.diags.keys().map(|d| d / g).collect();
            let cost = 0.6 * babies.iter().filter(|&&i| i != 0).count() as f64
                + giants.iter().filter(|&&j| j != 0).count() as f64;
            if cost < best.0 {
                best = (cost, g);
            }
            g *= 2;
        }
        best.1
    }

    /// Rotation steps the BSGS evaluation needs keys for.
    pub fn rotations(&self) -> Vec<i64> {
        let g = self.baby_step();
        let mut set = BTreeSet::new();
        for &d in self.diags.keys() {
            let (j, i) = (d / g, d % g);
            if i != 0 {
                set.insert(i as i64);
            }
            if j != 0 {
                set.insert((j * g) as i64);
            }
        }
        set.into_iter().collect()
    }

    /// Encodes the (pre-rotated) diagonals at `level`, with plaintext scale equal to the
    /// prime(s) rescaling divides by at that level, so that [`EncodedLinearTransform::apply`]
    /// leaves the ciphertext's scale unchanged.
    pub fn encode<B: Backend>(
        &self,
        ckks: &Ckks<B>,
        level: usize,
    ) -> Result<EncodedLinearTransform<B>> {
        let scale = ckks
            .params()
            .rescale_divisor(level.min(ckks.params().max_level()));
        self.encode_with_scale(ckks, level, scale)
    }

    /// Encodes at `level` with plaintext scale `pt_scale`: [`EncodedLinearTransform::apply`]
    /// then multiplies the ciphertext's scale by `pt_scale / q_level`.
    pub fn encode_with_scale<B: Backend>(
        &self,
        ckks: &Ckks<B>,
        level: usize,
        pt_scale: f64,
    ) -> Result<EncodedLinearTransform<B>> {
        let params = ckks.params();
        if level == 0 || level > params.max_level() {
            return Err(Error::LevelTooLow {
                op: "linear transform (needs a level to rescale)",
                needed: 1,
                level,
            });
        }
        if self.slots > params.max_slots() {
            return Err(Error::InvalidInput(format!(
                "transform on {} slots exceeds N/2 = {}",
                self.slots,
                params.max_slots()
            )));
        }
        let scale = pt_scale;
        let g = self.baby_step();
        let n = self.slots;
        let mut pts: BTreeMap<usize, Vec<(usize, Plaintext<B>)>> = BTreeMap::new();
        for (&d, v) in &self.diags {
            let (j, i) = (d / g, d % g);
            let shift = (g * j) % n;
            let rotated: Vec<Complex64> = (0..n).map(|k| v[(k + n - shift) % n]).collect();
            let pt = ckks.encode(&rotated, level, scale)?;
            pts.entry(j).or_default().push((i, pt));
        }
        Ok(EncodedLinearTransform {
            slots: n,
            level,
            g,
            pt_scale,
            pts,
        })
    }
}

/// A [`LinearTransform`] encoded for one level: plaintext diagonals, pre-rotated for
/// BSGS.
#[derive(Clone, Debug)]
pub struct EncodedLinearTransform<B: Backend> {
    slots: usize,
    level: usize,
    g: usize,
    pt_scale: f64,
    /// giant index j → (baby index i, plaintext) pairs
    pts: BTreeMap<usize, Vec<(usize, Plaintext<B>)>>,
}

impl<B: Backend> EncodedLinearTransform<B> {
    /// Level the diagonals are encoded at (the input ciphertext's level).
    pub fn level(&self) -> usize {
        self.level
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Rotation steps needed.
    pub fn rotations(&self) -> Vec<i64> {
        let mut set = BTreeSet::new();
        for (&j, v) in &self.pts {
            if j != 0 {
                set.insert((j * self.g) as i64);
            }
            for (i, _) in v {
                if *i != 0 {
                    set.insert(*i as i64);
                }
            }
        }
        set.into_iter().collect()
    }

    /// `M · ct`, rescaled: one level consumed, scale unchanged (multiplied by
    /// `pt_scale / q_level` for [`LinearTransform::encode_with_scale`]). The ciphertext
    /// must sit at the transform's level (a higher one is dropped first).
    pub fn apply(&self, eval: &Evaluator<B>, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        let mut x = ct.clone();
        if x.level < self.level {
            return Err(Error::LevelMismatch {
                op: "linear transform (ciphertext below the encoded level)",
                left: x.level,
                right: self.level,
            });
        }
        if x.level > self.level {
            let d = x.level - self.level;
            eval.drop_level_assign(&mut x, d)?;
        }
        let babies: Vec<usize> = self
            .pts
            .values()
            .flat_map(|v| v.iter().map(|(i, _)| *i))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let steps: Vec<i64> = babies.iter().map(|&i| i as i64).collect();
        let rotated = eval.rotate_hoisted_new(&x, &steps)?;
        let by_step: BTreeMap<usize, &Ciphertext<B>> =
            babies.iter().copied().zip(&rotated).collect();
        let mut acc: Option<Ciphertext<B>> = None;
        for (&j, terms) in &self.pts {
            let mut inner: Option<Ciphertext<B>> = None;
            for (i, pt) in terms {
                let t = eval.mul_plain_new(by_step[i], pt)?;
                match &mut inner {
                    Some(a) => eval.add_assign(a, &t)?,
                    None => inner = Some(t),
                }
            }
            let mut inner = inner.expect("at least one term per giant step");
            if j != 0 {
                inner = eval.rotate_new(&inner, (j * self.g) as i64)?;
            }
            match &mut acc {
                Some(a) => eval.add_assign(a, &inner)?,
                None => acc = Some(inner),
            }
        }
        let mut out = match acc {
            Some(a) => a,
            None => {
                // the zero map
                let mut z = x.clone();
                super::mul_integer_raw(eval, &mut z, 0.0);
                z.scale *= self.pt_scale;
                z
            }
        };
        let scale = ct.scale * self.pt_scale / eval.ckks().params().rescale_divisor(self.level);
        eval.rescale_assign(&mut out)?;
        out.scale = scale;
        out.slots = self.slots;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::ReferenceBackend;
    use crate::ckks::{KeyGenerator, KeyRequest, Params, ParamsLiteral};
    use rand::{Rng, SeedableRng};

    fn rand_vec(rng: &mut impl Rng, n: usize) -> Vec<Complex64> {
        (0..n)
            .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
            .collect()
    }

    #[test]
    fn compose_matches_sequential_application() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let n = 16;
        let a = LinearTransform::new(n, [0, 3, -2].map(|d| (d, rand_vec(&mut rng, n)))).unwrap();
        let b = LinearTransform::new(n, [1, 5].map(|d| (d, rand_vec(&mut rng, n)))).unwrap();
        let v = rand_vec(&mut rng, n);
        let want = a.apply_plain(&b.apply_plain(&v));
        let got = a.compose(&b).unwrap().apply_plain(&v);
        for (x, y) in want.iter().zip(&got) {
            assert!((x - y).norm() < 1e-12);
        }
        let dense: Vec<Vec<Complex64>> = (0..n).map(|_| rand_vec(&mut rng, n)).collect();
        let m = LinearTransform::from_matrix(&dense).unwrap();
        let w = m.apply_plain(&v);
        for k in 0..n {
            let r: Complex64 = (0..n).map(|c| dense[k][c] * v[c]).sum();
            assert!((r - w[k]).norm() < 1e-12);
        }
    }

    #[test]
    fn encrypted_transform_matches_float64() {
        let params = Params::new_insecure_for_tests(ParamsLiteral {
            log_n: 10,
            log_q: vec![60, 50, 50],
            log_p: vec![61],
            level_primes: None,
            dnum: 3,
            log_scale: 50,
            secret: Default::default(),
        })
        .unwrap();
        let ckks = Ckks::new(params, ReferenceBackend);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mut kg = KeyGenerator::from_seed(&ckks, 3);
        let sk = kg.secret_key();
        let pk = kg.public_key(&sk);
        for n in [ckks.params().max_slots(), 32] {
            // dense matrix and a banded one
            let dense: Vec<Vec<Complex64>> = (0..n).map(|_| rand_vec(&mut rng, n)).collect();
            let band =
                LinearTransform::new(n, [-3i64, -1, 0, 2, 7].map(|d| (d, rand_vec(&mut rng, n))))
                    .unwrap();
            for lt in [
                LinearTransform::from_matrix(&dense)
                    .unwrap()
                    .scaled(Complex64::new(1.0 / n as f64, 0.0)),
                band,
            ] {
                let evk = kg.evaluation_keys(&sk, &KeyRequest::new().rotations(lt.rotations()));
                let eval = ckks.evaluator(&evk).unwrap();
                let v = rand_vec(&mut rng, n);
                let top = ckks.params().max_level();
                let pt = ckks.encode(&v, top, ckks.params().default_scale()).unwrap();
                let ct = ckks.encryptor(&pk).encrypt(&pt).unwrap();
                let enc = lt.encode(&ckks, top).unwrap();
                assert_eq!(enc.rotations(), lt.rotations());
                let out = enc.apply(&eval, &ct).unwrap();
                assert_eq!(out.level(), top - 1);
                assert_eq!(out.scale(), ct.scale());
                let got = ckks.decryptor(&sk).decrypt_complex(&out).unwrap();
                let want = lt.apply_plain(&v);
                let (min_bits, _) = crate::circuits::precision_bits(&got, &want);
                assert!(min_bits > 30.0, "n={n}: {min_bits:.1} bits");
            }
        }
    }
}
