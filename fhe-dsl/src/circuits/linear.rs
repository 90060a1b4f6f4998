//! Homomorphic linear transforms given by their diagonals, evaluated with the
//! baby-step / giant-step algorithm and hoisted baby-step rotations.
//!
//! A linear map `M` on `n` slots is stored by generalized diagonals:
//! `(M v)[k] = Σ_d D_d[k] · v[(k + d) mod n]`. With `d = g·j + i`,
//! `M v = Σ_j rot_{g·j}( Σ_i rot_{−g·j}(D_{g·j+i}) ⊙ rot_i(v) )`: the baby rotations
//! `rot_i(v)` share one decomposition (hoisting), and only one giant rotation per `j` is
//! needed. Both levels are *double hoisted* (Bossuat et al., Eurocrypt 2021): baby
//! rotations and the giant rotations' key-switching products stay over `Q·P`, so a
//! transform costs one ModDown per giant step plus one, instead of one per rotation. `g` is chosen per transform to minimise the rotation count, and
//! [`LinearTransform::rotations`] lists the steps whose keys the evaluation needs.

use crate::backend::Backend;
use crate::ckks::{Ciphertext, Ckks, Evaluator, Plaintext, PtKey};
use crate::error::{Error, Result};
use num_complex::Complex64;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// A linear map on `slots` complex slots, by nonzero diagonals.
#[derive(Clone, Debug)]
pub struct LinearTransform {
    /// Identity of the diagonals' values: fresh on construction and on any change,
    /// shared by clones; the key of their encodings in an evaluator's plaintext cache.
    id: u64,
    slots: usize,
    diags: BTreeMap<usize, Vec<Complex64>>,
    /// Split diagonal indices into signed baby/giant steps (`d = G + i`, `|i| ≤ g/2`,
    /// `d` read in `(−n/2, n/2]`), so transforms with small negative and positive
    /// offsets share rotation keys; otherwise `d = g·j + i`, `0 ≤ i < g`.
    signed: bool,
}

impl PartialEq for LinearTransform {
    fn eq(&self, o: &Self) -> bool {
        (self.slots, &self.diags, self.signed) == (o.slots, &o.diags, o.signed)
    }
}

fn fresh_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl LinearTransform {
    /// A transform from `(diagonal index, vector)` pairs. Indices are taken mod `slots`
    /// (negative ones included) and repeated indices are summed. `slots` must be a power
    /// of two and every vector must have `slots` entries, or a power-of-two number of
    /// entries dividing `slots`: such a diagonal repeats with that period (a packed
    /// tensor repeated across the slots has periodic diagonals, stored once).
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
            if !v.len().is_power_of_two() || v.len() > slots {
                return Err(Error::InvalidInput(format!(
                    "diagonal {d} has {} entries, expected {slots} (or a power of two dividing it)",
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
                Some(acc) => {
                    // both repeat with the longer period
                    let p = acc.len().max(v.len());
                    let mut sum: Vec<Complex64> = (0..p).map(|k| at(acc, k)).collect();
                    sum.iter_mut()
                        .enumerate()
                        .for_each(|(k, a)| *a += at(&v, k));
                    *acc = sum;
                }
                None => {
                    out.insert(idx, v);
                }
            }
        }
        Ok(LinearTransform {
            id: fresh_id(),
            slots,
            diags: out,
            signed: false,
        })
    }

    /// The same transform with signed baby/giant steps (see the field's doc): use it for
    /// maps whose diagonals cluster around 0 on both sides, like convolutions.
    pub fn with_signed_steps(mut self) -> Self {
        self.signed = true;
        self
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

    /// The diagonals (index in `0..slots`); a vector shorter than `slots` repeats with
    /// its length as period (entry `k` of the diagonal is `v[k % v.len()]`).
    pub fn diagonals(&self) -> &BTreeMap<usize, Vec<Complex64>> {
        &self.diags
    }

    /// `M v` in float64.
    pub fn apply_plain(&self, v: &[Complex64]) -> Vec<Complex64> {
        let n = self.slots;
        let mut out = vec![Complex64::new(0.0, 0.0); n];
        for (&d, dv) in &self.diags {
            for k in 0..n {
                out[k] += at(dv, k) * v[(k + d) % n];
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
                for (k, ek) in e.iter_mut().enumerate() {
                    *ek += at(a, k) * at(b, (k + d1) % n);
                }
            }
        }
        out.retain(|_, v| v.iter().any(|z| z.norm() > 1e-300));
        Ok(LinearTransform {
            id: fresh_id(),
            slots: n,
            diags: out,
            signed: self.signed && other.signed,
        })
    }

    /// Every entry multiplied by `k`.
    pub fn scaled(&self, k: Complex64) -> LinearTransform {
        let mut out = self.clone();
        out.id = fresh_id();
        out.diags
            .values_mut()
            .for_each(|v| v.iter_mut().for_each(|z| *z *= k));
        out
    }

    /// `(giant step, baby step)` of diagonal `d` for baby-step size `g`: `d ≡ G + i`.
    fn split(&self, d: usize, g: usize) -> (i64, i64) {
        if self.signed {
            let n = self.slots as i64;
            let ds = if d as i64 > n / 2 {
                d as i64 - n
            } else {
                d as i64
            };
            let g = g as i64;
            let j = (ds + g / 2).div_euclid(g);
            (j * g, ds - j * g)
        } else {
            (((d / g) * g) as i64, (d % g) as i64)
        }
    }

    /// Baby-step size `g` minimising the weighted rotation count. With double hoisting a
    /// baby step is one key-switching inner product kept over Q·P (no ModDown), a giant
    /// step a full ModUp, inner product and ModDown: a baby costs about 0.3 of a giant
    /// (measured at N = 2^16; e.g. 63 diagonals split 16 × 4 rather than 8 × 8).
    pub fn baby_step(&self) -> usize {
        let mut best = (f64::INFINITY, 1);
        let mut g = 1;
        while g <= self.slots {
            let mut babies = BTreeSet::new();
            let mut giants = BTreeSet::new();
            for &d in self.diags.keys() {
                let (j, i) = self.split(d, g);
                babies.insert(i);
                giants.insert(j);
            }
            let cost = 0.3 * babies.iter().filter(|&&i| i != 0).count() as f64
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
            let (j, i) = self.split(d, g);
            set.extend([i, j].into_iter().filter(|&s| s != 0));
        }
        set.into_iter().collect()
    }

    /// Diagonal `d` rotated by `−giant` (BSGS pre-rotation), encoded at `level` with
    /// `scale`; over `Q·P` for a nonzero baby step (double hoisting).
    fn encode_diag<B: Backend>(
        &self,
        ckks: &Ckks<B>,
        d: usize,
        giant: i64,
        baby: i64,
        level: usize,
        scale: f64,
    ) -> Result<Plaintext<B>> {
        let n = self.slots;
        let v = &self.diags[&d];
        let shift = giant.rem_euclid(n as i64) as usize;
        let rotated: Vec<Complex64> = (0..n).map(|k| at(v, (k + n - shift) % n)).collect();
        if baby == 0 {
            ckks.encode(&rotated, level, scale)
        } else {
            ckks.encode_qp(&rotated, level, scale)
        }
    }

    /// Whether [`apply_streaming`](Self::apply_streaming) at `level` (baby step `g`)
    /// brings each baby rotation down to `Q_l` and works over `Q_l` rather than
    /// `Q_l·P`: worth it with many diagonals per baby rotation (convolutions at low
    /// levels). Per diagonal it saves the P limbs of an encoding and a product; per
    /// baby step it costs one ModDown (~ `l+1+|P|` NTTs per part).
    pub(crate) fn babies_down(&self, params: &crate::ckks::Params, level: usize, g: usize) -> bool {
        let (limbs, p) = (params.limbs_at(level), params.p().len());
        let rotated = self
            .diags
            .keys()
            .map(|&d| self.split(d, g).1)
            .filter(|&i| i != 0)
            .collect::<BTreeSet<_>>()
            .len();
        self.diags.len() * p > 2 * rotated * (limbs + p)
    }

    /// The baby-step / giant-step schedule [`apply_streaming`](Self::apply_streaming)
    /// runs: the baby-step size `g` and, per giant step, the baby step of each of its
    /// diagonals (for the cost interpreter, [`crate::model::cost`]).
    pub(crate) fn schedule(&self) -> (usize, BTreeMap<i64, Vec<i64>>) {
        let g = self.baby_step();
        let mut plan: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for &d in self.diags.keys() {
            let (j, i) = self.split(d, g);
            plan.entry(j).or_default().push(i);
        }
        (g, plan)
    }

    pub(crate) fn check_level<B: Backend>(&self, ckks: &Ckks<B>, level: usize) -> Result<()> {
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
        Ok(())
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
        self.check_level(ckks, level)?;
        let g = self.baby_step();
        let mut pts: Groups<B> = BTreeMap::new();
        for &d in self.diags.keys() {
            let (j, i) = self.split(d, g);
            let pt = self.encode_diag(ckks, d, j, i, level, pt_scale)?;
            pts.entry(j).or_default().push((i, pt));
        }
        Ok(EncodedLinearTransform {
            slots: self.slots,
            level,
            pt_scale,
            pts,
        })
    }

    /// `M · ct` without keeping the encoded diagonals: each giant step's diagonals are
    /// encoded just before use and dropped after, so memory stays at one giant step's
    /// plaintexts (a convolution can have ~1000 diagonals, ~10 GB encoded at N = 2^16).
    /// The output scale is `ct.scale · pt_scale / q_level`; one level is consumed.
    pub fn apply_streaming<B: Backend>(
        &self,
        eval: &Evaluator<B>,
        ct: &Ciphertext<B>,
        pt_scale: f64,
    ) -> Result<Ciphertext<B>> {
        self.apply_streaming_with(eval, ct, pt_scale, true)
    }

    /// [`apply_streaming`](Self::apply_streaming); `allow_down: false` keeps every baby
    /// rotation over `Q_l·P` (double hoisting throughout: bit-identical to the encoded
    /// transform, one rounding less, for callers that need the last bit, such as
    /// bootstrapping).
    pub(crate) fn apply_streaming_with<B: Backend>(
        &self,
        eval: &Evaluator<B>,
        ct: &Ciphertext<B>,
        pt_scale: f64,
        allow_down: bool,
    ) -> Result<Ciphertext<B>> {
        let ckks = eval.ckks();
        let level = ct.level;
        self.check_level(ckks, level)?;
        let g = self.baby_step();
        let mut plan: BTreeMap<i64, Vec<(i64, usize)>> = BTreeMap::new();
        for &d in self.diags.keys() {
            let (j, i) = self.split(d, g);
            plan.entry(j).or_default().push((i, d));
        }
        let babies: BTreeSet<i64> = plan.values().flatten().map(|(i, _)| *i).collect();
        let down = allow_down && self.babies_down(ckks.params(), level, g);
        let groups = plan.iter().map(|(&j, terms)| {
            // diagonals of one giant step encoded in parallel (encoding dominates here)
            let pts = terms
                .par_iter()
                .map(|&(i, d)| {
                    // baby step 0 selects an encoding over Q_l only
                    let over = if down { 0 } else { i };
                    let key = PtKey {
                        source: self.id,
                        item: d as u64,
                        shift: j,
                        over_qp: over != 0,
                        level,
                        scale_bits: pt_scale.to_bits(),
                    };
                    let pt = eval.cached_plaintext(key, || {
                        self.encode_diag(ckks, d, j, over, level, pt_scale)
                    })?;
                    Ok((i, pt))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((j, pts))
        });
        finish(
            eval,
            ct,
            double_hoisted(eval, ct, &babies, groups, pt_scale, down)?,
            pt_scale,
            self.slots,
        )
    }
}

/// Entry `k` of a diagonal stored with its period (`v.len()`, a power of two).
fn at(v: &[Complex64], k: usize) -> Complex64 {
    v[k & (v.len() - 1)]
}

/// Giant step → (baby step, plaintext) pairs.
type Groups<B> = BTreeMap<i64, Vec<(i64, Plaintext<B>)>>;

/// A ciphertext's two parts over `Q_l·P`, before ModDown.
type ExtCt<B> = (<B as Backend>::Poly, <B as Backend>::Poly);

/// A [`LinearTransform`] encoded for one level: plaintext diagonals, pre-rotated for
/// BSGS.
#[derive(Clone, Debug)]
pub struct EncodedLinearTransform<B: Backend> {
    slots: usize,
    level: usize,
    pt_scale: f64,
    pts: Groups<B>,
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
            set.insert(j);
            set.extend(v.iter().map(|(i, _)| *i));
        }
        set.remove(&0);
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
        let babies: BTreeSet<i64> = self.pts.values().flatten().map(|(i, _)| *i).collect();
        let groups = self
            .pts
            .iter()
            .map(|(&j, v)| Ok((j, v.iter().map(|(i, p)| (*i, p)).collect::<Vec<_>>())));
        let acc = double_hoisted(eval, &x, &babies, groups, self.pt_scale, false)?;
        finish(eval, &x, acc, self.pt_scale, self.slots)
    }
}

/// Rescales the accumulated `M · x` (or builds the zero map's output) and fixes the
/// exact scale.
fn finish<B: Backend>(
    eval: &Evaluator<B>,
    x: &Ciphertext<B>,
    acc: Option<Ciphertext<B>>,
    pt_scale: f64,
    slots: usize,
) -> Result<Ciphertext<B>> {
    let mut out = match acc {
        Some(a) => a,
        None => {
            // the zero map
            let mut z = x.clone();
            super::mul_integer_raw(eval, &mut z, 0.0)?;
            z.scale *= pt_scale;
            z
        }
    };
    let scale = x.scale * pt_scale / eval.ckks().params().rescale_divisor(x.level);
    eval.rescale_assign(&mut out)?;
    out.scale = scale;
    out.slots = slots;
    Ok(out)
}

/// `Σ_G rot_G( Σ_i pt_{G,i} ⊙ rot_i(x) )` with double hoisting (Bossuat et al.
/// 2021): `x.c1` is decomposed and raised to `Q_l·P` once; each baby rotation stays
/// over `Q_l·P` as `(u0 + P·σ_i(c0), u1)` ([`Backend::rotate_extended`], no ModDown);
/// the plaintext products of one giant step (diagonals encoded over `Q_l·P`) are
/// summed there and brought down by one ModDown. The giant rotations are hoisted the
/// same way: kept over `Q_l·P`, summed, and brought down by one final ModDown. Baby
/// step 0 (no rotation) is accumulated over `Q_l` directly, since
/// `ModDown(X + P·Y) = ModDown(X) + Y` exactly. `None` for a transform without
/// diagonals. `groups` yields each giant step's plaintexts, possibly encoded lazily.
/// With `babies_down` each baby rotation is brought down to `Q_l` right away and the
/// plaintexts are over `Q_l` (cheaper when there are many diagonals per baby step).
fn double_hoisted<B: Backend, P: std::borrow::Borrow<Plaintext<B>>>(
    eval: &Evaluator<B>,
    x: &Ciphertext<B>,
    babies: &BTreeSet<i64>,
    groups: impl Iterator<Item = Result<(i64, Vec<(i64, P)>)>>,
    pt_scale: f64,
    babies_down: bool,
) -> Result<Option<Ciphertext<B>>> {
    if babies.is_empty() {
        return Ok(None);
    }
    if x.parts.len() != 2 {
        return Err(Error::Degree {
            op: "linear transform",
            expected: 1,
            found: x.parts.len() - 1,
        });
    }
    let params = eval.ckks().params();
    let (be, ctx) = (eval.ckks().backend(), params.ring());
    let alpha = params.alpha();
    let k = ctx.num_p();
    let q_primes = be.primes(&x.parts[0]).to_vec();
    let (c0, c1) = (&x.parts[0], &x.parts[1]);
    // baby steps over Q_l·P: (u0 + P·σ_i(c0), u1), no ModDown
    let mut digits: Option<Vec<B::Poly>> = None;
    let mut rot: BTreeMap<i64, Option<ExtCt<B>>> = BTreeMap::new();
    for &i in babies {
        let r = match eval.rotation_key(i, x.level)? {
            None => None,
            Some((g, key)) => {
                let d = match &mut digits {
                    Some(d) => d,
                    None => digits.insert(be.decompose_mod_up(ctx, c1, alpha)?),
                };
                let (mut u0, mut u1) = be.rotate_extended(ctx, c0, d, key, g)?;
                if babies_down {
                    // ModDown now: exactly the single rotation, over Q_l
                    be.div_round_by_tail(ctx, &mut u0, k)?;
                    be.div_round_by_tail(ctx, &mut u1, k)?;
                }
                Some((u0, u1))
            }
        };
        rot.insert(i, r);
    }
    drop(digits);
    let mut acc0 = be.zero(ctx, &q_primes)?;
    let mut acc1 = be.zero(ctx, &q_primes)?;
    let mut acc_ext: Option<ExtCt<B>> = None;
    for group in groups {
        let (j, terms) = group?;
        // Σ_i pt ⊙ rot_i(x): (d0, d1) over Q_l (baby 0) plus (e0, e1) over Q_l·P, each
        // as one fused multiply-accumulate over its terms
        let mut d0 = be.zero(ctx, &q_primes)?;
        let mut d1 = be.zero(ctx, &q_primes)?;
        let (mut over_q, mut over_qp) = (Vec::new(), Vec::new());
        for (i, pt) in &terms {
            let pt = &pt.borrow().poly;
            match &rot[i] {
                None => over_q.push((pt, c0, c1)),
                Some((u0, u1)) if babies_down => over_q.push((pt, u0, u1)),
                Some((u0, u1)) => over_qp.push((pt, u0, u1)),
            }
        }
        be.mul_add_terms(ctx, &mut d0, &mut d1, &over_q)?;
        let ext = match over_qp.first() {
            Some(&(_, u0, _)) => {
                let qp = be.primes(u0);
                let (mut e0, mut e1) = (be.zero(ctx, qp)?, be.zero(ctx, qp)?);
                be.mul_add_terms(ctx, &mut e0, &mut e1, &over_qp)?;
                Some((e0, e1))
            }
            None => None,
        };
        drop((over_q, over_qp));
        drop(terms);
        if let Some((mut e0, mut e1)) = ext {
            be.div_round_by_tail(ctx, &mut e0, k)?;
            be.div_round_by_tail(ctx, &mut e1, k)?;
            be.add_assign(ctx, &mut d0, &e0)?;
            be.add_assign(ctx, &mut d1, &e1)?;
        }
        // giant step: rotation by G, its inner product kept over Q_l·P
        match eval.rotation_key(j, x.level)? {
            None => {
                be.add_assign(ctx, &mut acc0, &d0)?;
                be.add_assign(ctx, &mut acc1, &d1)?;
            }
            Some((g, key)) => {
                let dig = be.decompose_mod_up(ctx, &d1, alpha)?;
                let (v0, v1) = be.rotate_extended(ctx, &d0, &dig, key, g)?;
                match &mut acc_ext {
                    None => acc_ext = Some((v0, v1)),
                    Some((a0, a1)) => {
                        be.add_assign(ctx, a0, &v0)?;
                        be.add_assign(ctx, a1, &v1)?;
                    }
                }
            }
        }
    }
    if let Some((mut a0, mut a1)) = acc_ext {
        be.div_round_by_tail(ctx, &mut a0, k)?;
        be.div_round_by_tail(ctx, &mut a1, k)?;
        be.add_assign(ctx, &mut acc0, &a0)?;
        be.add_assign(ctx, &mut acc1, &a1)?;
    }
    Ok(Some(Ciphertext {
        parts: vec![acc0, acc1],
        level: x.level,
        scale: x.scale * pt_scale,
        slots: x.slots,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::ReferenceBackend;
    use crate::ckks::{KeyGenerator, KeyRequest, Params, ParamsLiteral};
    use rand::{Rng, SeedableRng};

    /// N = 2^10, two levels (insecure, tests only).
    fn params_n10() -> Params {
        Params::new_insecure_for_tests(ParamsLiteral {
            log_n: 10,
            log_q: vec![60, 50, 50],
            log_p: vec![61],
            level_primes: None,
            dnum: 3,
            log_scale: 50,
            secret: Default::default(),
        })
        .unwrap()
    }

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
        let params = params_n10();
        let ckks = Ckks::new(params, ReferenceBackend);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let mut kg = KeyGenerator::from_seed(&ckks, 3);
        let sk = kg.secret_key();
        let pk = kg.public_key(&sk).unwrap();
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
                let evk = kg
                    .evaluation_keys(&sk, &KeyRequest::new().rotations(lt.rotations()))
                    .unwrap();
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

    #[test]
    fn periodic_diagonals_equal_their_tiled_form_bit_for_bit() {
        let params = params_n10();
        let ckks = Ckks::new(params, ReferenceBackend);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let n = ckks.params().max_slots();
        let tile = |v: &[Complex64]| (0..n).map(|k| v[k % v.len()]).collect::<Vec<_>>();
        // periods 64, 128 and n; diagonal 3 given twice with different periods (summed)
        let parts: Vec<(i64, Vec<Complex64>)> = vec![
            (-5, rand_vec(&mut rng, 64)),
            (3, rand_vec(&mut rng, 128)),
            (3, rand_vec(&mut rng, 64)),
            (40, rand_vec(&mut rng, n)),
        ];
        let short = LinearTransform::new(n, parts.clone())
            .unwrap()
            .with_signed_steps();
        let full = LinearTransform::new(n, parts.iter().map(|(d, v)| (*d, tile(v))))
            .unwrap()
            .with_signed_steps();
        assert!(LinearTransform::new(n, [(0, rand_vec(&mut rng, 3))]).is_err());
        assert_eq!(short.diagonals()[&3].len(), 128);
        let v = rand_vec(&mut rng, n);
        for (a, b) in short.apply_plain(&v).iter().zip(full.apply_plain(&v)) {
            assert!((a - b).norm() < 1e-12);
        }
        let mut kg = KeyGenerator::from_seed(&ckks, 10);
        let sk = kg.secret_key();
        let evk = kg
            .evaluation_keys(&sk, &KeyRequest::new().rotations(short.rotations()))
            .unwrap();
        let eval = ckks.evaluator(&evk).unwrap();
        let top = ckks.params().max_level();
        let pt = ckks.encode(&v, top, ckks.params().default_scale()).unwrap();
        let ct = ckks
            .encryptor(&kg.public_key(&sk).unwrap())
            .encrypt(&pt)
            .unwrap();
        let q = ckks.params().rescale_divisor(top);
        let a = short.apply_streaming(&eval, &ct, q).unwrap();
        let b = full.apply_streaming(&eval, &ct, q).unwrap();
        assert_eq!(a.parts, b.parts, "same plaintexts, same ciphertext");
    }

    #[test]
    fn signed_streaming_transform_matches_float64() {
        let params = params_n10();
        let ckks = Ckks::new(params, ReferenceBackend);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut kg = KeyGenerator::from_seed(&ckks, 6);
        let sk = kg.secret_key();
        let pk = kg.public_key(&sk).unwrap();
        let n = ckks.params().max_slots();
        // a convolution-like band: offsets on both sides of 0
        let offs = [-33i64, -32, -31, -1, 0, 1, 31, 32, 33, 128, -128];
        let lt = LinearTransform::new(n, offs.map(|d| (d, rand_vec(&mut rng, n))))
            .unwrap()
            .with_signed_steps();
        let steps = lt.rotations();
        // signed split: small negative offsets are negative steps, not n − 33
        assert!(steps.iter().all(|s| s.abs() <= 128), "{steps:?}");
        let evk = kg
            .evaluation_keys(&sk, &KeyRequest::new().rotations(steps))
            .unwrap();
        let eval = ckks.evaluator(&evk).unwrap();
        let v = rand_vec(&mut rng, n);
        let top = ckks.params().max_level();
        let ct = ckks
            .encryptor(&pk)
            .encrypt(&ckks.encode(&v, top, ckks.params().default_scale()).unwrap())
            .unwrap();
        let q = ckks.params().rescale_divisor(top);
        let streamed = lt.apply_streaming(&eval, &ct, q).unwrap();
        let stored = lt.encode(&ckks, top).unwrap().apply(&eval, &ct).unwrap();
        // same plaintexts, same order of accumulation: bit-identical
        assert_eq!(streamed.parts, stored.parts);
        assert_eq!(streamed.scale(), ct.scale());
        let got = ckks.decryptor(&sk).decrypt_complex(&streamed).unwrap();
        let (min_bits, _) = crate::circuits::precision_bits(&got, &lt.apply_plain(&v));
        assert!(min_bits > 30.0, "{min_bits:.1} bits");
        assert!(!lt.babies_down(ckks.params(), top, lt.baby_step()));

        // many diagonals per baby step: the baby rotations are brought down to Q_l
        let dense = LinearTransform::new(n, (0..400).map(|d| (d - 200, rand_vec(&mut rng, n))))
            .unwrap()
            .with_signed_steps();
        assert!(dense.babies_down(ckks.params(), top, dense.baby_step()));
        let evk = kg
            .evaluation_keys(&sk, &KeyRequest::new().rotations(dense.rotations()))
            .unwrap();
        let eval = ckks.evaluator(&evk).unwrap();
        let streamed = dense.apply_streaming(&eval, &ct, q).unwrap();
        let got = ckks.decryptor(&sk).decrypt_complex(&streamed).unwrap();
        let (min_bits, _) = crate::circuits::precision_bits(&got, &dense.apply_plain(&v));
        assert!(min_bits > 30.0, "{min_bits:.1} bits");
        // and the double-hoisted stored form agrees to the same precision
        let stored = dense.encode(&ckks, top).unwrap().apply(&eval, &ct).unwrap();
        let other = ckks.decryptor(&sk).decrypt_complex(&stored).unwrap();
        let (agree_bits, _) = crate::circuits::precision_bits(&got, &other);
        assert!(agree_bits > 30.0, "{agree_bits:.1} bits");
    }
}
