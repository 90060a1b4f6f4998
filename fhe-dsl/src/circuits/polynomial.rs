//! Polynomial evaluation in the Chebyshev basis.
//!
//! A polynomial `p(y) = Σ c_i T_i(y)` on `y ∈ [-1, 1]` is evaluated with a baby-step /
//! giant-step recursion (Paterson–Stockmeyer style, as in Bossuat et al. 2021):
//! baby steps `T_1 .. T_{g-1}`, giant steps `T_g, T_{2g}, T_{4g}, …`, and the Chebyshev
//! division `p = q · T_m + r` (`q_0 = c_m`, `q_j = 2 c_{m+j}`, `r_i = c_i − c_{2m−i}`).
//!
//! Scale management follows Lattigo's idea of *target scales*: every node of the
//! recursion is asked for a result at an exact `(level, scale)`; a leaf multiplies each
//! `T_i` (whatever its own scale `s_i`) by the integer `round(c_i · S' / s_i)` so that all
//! terms share the scale `S' = target · q_{level+1}`, adds them and rescales once; a
//! product `q · T_m` asks `q` for the scale `target · q_{level+1} / s_m`. So all added
//! terms always have matching level and scale, whatever the primes are, and the output
//! has exactly the requested scale.
//!
//! Depth: `ceil(log2(deg + 1)) + 1` levels (the leaves' constant multiplications cost one
//! level); [`ChebyshevPoly::depth`] gives the exact figure for a given coefficient vector.

use super::{add_integer_raw, drop_to, mul_integer_add_raw, mul_integer_raw};
use crate::backend::Backend;
use crate::ckks::{Ciphertext, Evaluator};
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// A polynomial in the Chebyshev basis on an interval `[a, b]`:
/// `p(x) = Σ_i coeffs[i] · T_i((2x − a − b) / (b − a))`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChebyshevPoly {
    /// Coefficients in the Chebyshev basis, `T_0` first.
    pub coeffs: Vec<f64>,
    /// Left end of the interval.
    pub a: f64,
    /// Right end of the interval.
    pub b: f64,
}

impl ChebyshevPoly {
    /// A polynomial from Chebyshev coefficients on `[a, b]`.
    pub fn new(coeffs: Vec<f64>, a: f64, b: f64) -> Result<Self> {
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(Error::InvalidInput(format!(
                "interval [{a}, {b}] must be finite with a < b"
            )));
        }
        if coeffs.is_empty() || coeffs.iter().any(|c| !c.is_finite()) {
            return Err(Error::InvalidInput(
                "Chebyshev coefficients must be finite and non-empty".into(),
            ));
        }
        Ok(ChebyshevPoly { coeffs, a, b })
    }

    /// Interpolates `f` at the `degree + 1` Chebyshev nodes of `[a, b]` (near-minimax).
    pub fn interpolate(f: impl Fn(f64) -> f64, a: f64, b: f64, degree: usize) -> Result<Self> {
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(Error::InvalidInput(format!(
                "interval [{a}, {b}] must be finite with a < b"
            )));
        }
        let n = degree + 1;
        let pi = std::f64::consts::PI;
        let fx: Vec<f64> = (0..n)
            .map(|k| {
                let y = (pi * (k as f64 + 0.5) / n as f64).cos();
                f(0.5 * (b - a) * y + 0.5 * (a + b))
            })
            .collect();
        if let Some(v) = fx.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "function is not finite on [{a}, {b}] (value {v})"
            )));
        }
        let coeffs = (0..n)
            .map(|j| {
                let s: f64 = fx
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| v * (pi * j as f64 * (k as f64 + 0.5) / n as f64).cos())
                    .sum();
                s * if j == 0 { 1.0 } else { 2.0 } / n as f64
            })
            .collect();
        Ok(ChebyshevPoly { coeffs, a, b })
    }

    /// Degree (index of the last nonzero coefficient).
    pub fn degree(&self) -> usize {
        self.coeffs.iter().rposition(|&c| c != 0.0).unwrap_or(0)
    }

    /// Whether the interval is `[-1, 1]` (no affine change of variable needed).
    pub fn is_unit_interval(&self) -> bool {
        self.a == -1.0 && self.b == 1.0
    }

    /// Evaluates in float64 (Clenshaw), for references.
    pub fn evaluate(&self, x: f64) -> f64 {
        let y = (2.0 * x - self.a - self.b) / (self.b - self.a);
        chebyshev_eval_unit(&self.coeffs, y)
    }

    /// The same polynomial with every coefficient multiplied by `k`.
    pub fn scaled(&self, k: f64) -> Self {
        ChebyshevPoly {
            coeffs: self.coeffs.iter().map(|c| c * k).collect(),
            a: self.a,
            b: self.b,
        }
    }

    /// Levels consumed by [`evaluate_chebyshev`] (including the change of variable
    /// when the interval is not `[-1, 1]`).
    pub fn depth(&self) -> usize {
        let deg = self.degree();
        let plan = Plan::new(deg);
        plan.need_depth(&self.coeffs[..=deg]) + usize::from(!self.is_unit_interval())
    }
}

/// Clenshaw evaluation of `Σ c_i T_i(y)`.
pub fn chebyshev_eval_unit(c: &[f64], y: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &ck in c.iter().skip(1).rev() {
        let b0 = 2.0 * y * b1 - b2 + ck;
        b2 = b1;
        b1 = b0;
    }
    y * b1 - b2 + c.first().copied().unwrap_or(0.0)
}

/// Baby-step size and depth bookkeeping for one degree.
struct Plan {
    /// Baby steps are `T_1 .. T_{g-1}`; giant steps `T_g, T_{2g}, …`.
    g: usize,
}

/// Depth of `T_i` computed by the doubling recurrences: `ceil(log2 i)`.
fn t_depth(i: usize) -> usize {
    if i <= 1 {
        0
    } else {
        (usize::BITS - (i - 1).leading_zeros()) as usize
    }
}

impl Plan {
    fn new(deg: usize) -> Self {
        let log_deg = (usize::BITS - deg.leading_zeros()) as usize; // ceil(log2(deg+1))
        let l = log_deg.div_ceil(2).max(1);
        Plan { g: 1 << l }
    }

    /// Indices of the Chebyshev polynomials evaluating `c` reads: the baby steps below
    /// `g` with a nonzero coefficient in some leaf, and the giant steps it splits at.
    /// An odd polynomial (EvalMod's sine) needs no even baby step, which saves their
    /// products: T_6, T_10, T_12 and T_14 at degree 119, 4 of 17.
    fn basis_indices(&self, c: &[f64], out: &mut std::collections::BTreeSet<usize>) {
        let deg = c.iter().rposition(|&x| x != 0.0).unwrap_or(0);
        let c = &c[..=deg];
        if deg < self.g {
            out.extend((1..=deg).filter(|&i| c[i] != 0.0));
            return;
        }
        let m = self.split_point(deg);
        out.insert(m);
        let (q, r) = split(c, m);
        self.basis_indices(&q, out);
        self.basis_indices(&r, out);
    }

    fn split_point(&self, deg: usize) -> usize {
        let mut m = self.g;
        while m * 2 <= deg {
            m *= 2;
        }
        m
    }

    /// Depth of the result of evaluating `c` (relative to the input's level).
    fn need_depth(&self, c: &[f64]) -> usize {
        let deg = c.iter().rposition(|&x| x != 0.0).unwrap_or(0);
        let c = &c[..=deg];
        if deg < self.g {
            let d = (1..=deg)
                .filter(|&i| c[i] != 0.0)
                .map(t_depth)
                .max()
                .unwrap_or(0);
            return d + 1;
        }
        let m = self.split_point(deg);
        let (q, r) = split(c, m);
        (t_depth(m).max(self.need_depth(&q)) + 1).max(self.need_depth(&r))
    }
}

/// Chebyshev division by `T_m`: `p = q · T_m + r` (`deg p < 2m`).
fn split(c: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    let deg = c.len() - 1;
    debug_assert!(m <= deg && deg < 2 * m);
    let mut q = vec![0.0; deg - m + 1];
    q[0] = c[m];
    for j in 1..=deg - m {
        q[j] = 2.0 * c[m + j];
    }
    let mut r = c[..m].to_vec();
    for j in 1..=deg - m {
        r[m - j] -= c[m + j];
    }
    (q, r)
}

/// Evaluates `poly` on `ct` (values in `[poly.a, poly.b]`). When the interval is not
/// `[-1, 1]` the change of variable costs one level. The result has scale
/// `target_scale` (default: the input's scale) and level `ct.level() − poly.depth()`.
pub fn evaluate_chebyshev<B: Backend>(
    eval: &Evaluator<B>,
    ct: &Ciphertext<B>,
    poly: &ChebyshevPoly,
    target_scale: Option<f64>,
) -> Result<Ciphertext<B>> {
    let target = target_scale.unwrap_or(ct.scale);
    if poly.is_unit_interval() {
        return evaluate_chebyshev_unit(eval, ct, &poly.coeffs, target);
    }
    if ct.level == 0 {
        return Err(Error::LevelTooLow {
            op: "polynomial evaluation (change of variable)",
            needed: 1,
            level: 0,
        });
    }
    // y = α x + β, one level
    let alpha = 2.0 / (poly.b - poly.a);
    let beta = -(poly.a + poly.b) / (poly.b - poly.a);
    let q = eval.ckks().params().rescale_divisor(ct.level);
    let mut y = ct.clone();
    mul_integer_raw(eval, &mut y, (alpha * q).round())?;
    y.scale *= q;
    let k = (beta * y.scale).round();
    add_integer_raw(eval, &mut y, k)?;
    eval.rescale_assign(&mut y)?;
    evaluate_chebyshev_unit(eval, &y, &poly.coeffs, target)
}

/// Evaluates `Σ coeffs[i] · T_i(y)` on a ciphertext holding `y ∈ [-1, 1]`, returning a
/// ciphertext at exactly `target_scale`.
pub fn evaluate_chebyshev_unit<B: Backend>(
    eval: &Evaluator<B>,
    ct: &Ciphertext<B>,
    coeffs: &[f64],
    target_scale: f64,
) -> Result<Ciphertext<B>> {
    if coeffs.is_empty() || coeffs.iter().any(|c| !c.is_finite()) {
        return Err(Error::InvalidInput(
            "Chebyshev coefficients must be finite and non-empty".into(),
        ));
    }
    if !(target_scale.is_finite() && target_scale >= 1.0) {
        return Err(Error::InvalidInput(format!(
            "target scale must be finite and ≥ 1, got {target_scale}"
        )));
    }
    if coeffs.iter().all(|&c| c == 0.0) {
        // the zero polynomial: an encryption of 0 at the input's level, no level spent
        let mut zero = ct.clone();
        mul_integer_raw(eval, &mut zero, 0.0)?;
        zero.scale = target_scale;
        return Ok(zero);
    }
    let deg = coeffs.iter().rposition(|&c| c != 0.0).unwrap_or(0);
    let coeffs = &coeffs[..=deg];
    let plan = Plan::new(deg);
    let depth = plan.need_depth(coeffs);
    if ct.level < depth {
        return Err(Error::LevelTooLow {
            op: "polynomial evaluation",
            needed: depth,
            level: ct.level,
        });
    }
    let basis = PowerBasis::new(eval, ct, &plan, coeffs)?;
    let out_level = ct.level - depth;
    let mut rec = Recursion {
        eval,
        plan: &plan,
        basis: &basis,
    };
    let out = match rec.eval(coeffs, out_level, target_scale)? {
        Some(out) => out,
        // every term rounded to zero at this scale: the value is 0
        None => {
            let mut zero = drop_to(eval, ct, out_level)?;
            mul_integer_raw(eval, &mut zero, 0.0)?;
            zero.scale = target_scale;
            return Ok(zero);
        }
    };
    rec.finish(out, target_scale)
}

/// `T_i(ct)` for the indices a plan needs.
struct PowerBasis<B: Backend> {
    t: BTreeMap<usize, Ciphertext<B>>,
}

impl<B: Backend> PowerBasis<B> {
    fn new(eval: &Evaluator<B>, ct: &Ciphertext<B>, plan: &Plan, c: &[f64]) -> Result<Self> {
        let mut pb = PowerBasis { t: BTreeMap::new() };
        pb.t.insert(1, ct.clone());
        let mut needed = std::collections::BTreeSet::new();
        plan.basis_indices(c, &mut needed);
        for i in needed {
            pb.get(eval, i)?;
        }
        Ok(pb)
    }

    /// Computes `T_i` (and what it depends on) if absent.
    fn get(&mut self, eval: &Evaluator<B>, i: usize) -> Result<()> {
        if i == 0 || self.t.contains_key(&i) {
            return Ok(());
        }
        // T_{a+b} = 2 T_a T_b − T_{a−b}, a the largest power of two below i (a = b = i/2
        // when i is a power of two)
        let a = if i.is_power_of_two() {
            i / 2
        } else {
            1 << (usize::BITS - 1 - i.leading_zeros())
        };
        let b = i - a;
        let c = a - b;
        self.get(eval, a)?;
        self.get(eval, b)?;
        self.get(eval, c)?;
        let (ta, tb) = (&self.t[&a], &self.t[&b]);
        let lv = ta.level.min(tb.level);
        if lv == 0 {
            return Err(Error::LevelTooLow {
                op: "Chebyshev power basis",
                needed: 1,
                level: 0,
            });
        }
        let ta = drop_to(eval, ta, lv)?;
        let tb = drop_to(eval, tb, lv)?;
        // relinearised together with the rescale below, after the subtraction
        let mut prod = eval.mul_new(&ta, &tb)?;
        mul_integer_raw(eval, &mut prod, 2.0)?;
        let s = prod.scale;
        if c == 0 {
            add_integer_raw(eval, &mut prod, -s.round())?;
        } else {
            let mut tc = drop_to(eval, &self.t[&c], lv)?;
            let k = (s / tc.scale).round();
            mul_integer_raw(eval, &mut tc, k)?;
            tc.scale = s;
            eval.sub_assign(&mut prod, &tc)?;
        }
        eval.relinearize_rescale_assign(&mut prod)?;
        self.t.insert(i, prod);
        Ok(())
    }
}

struct Recursion<'a, B: Backend> {
    eval: &'a Evaluator<B>,
    plan: &'a Plan,
    basis: &'a PowerBasis<B>,
}

impl<B: Backend> Recursion<'_, B> {
    /// `Σ c_i T_i` for `(out, scale)`, returned *before* its last relinearisation and
    /// rescale: at level `out + 1`, scale `scale · q_{out+1}`, possibly of degree 2. A
    /// product `q · T_m` and the remainder are summed there, so a chain of remainders
    /// shares one relinearisation and one rescale (lazy relinearisation; relinearising
    /// before the rescale keeps the key-switching noise divided by `q_{out+1}`).
    /// [`finish`](Self::finish) completes it. `None` for the zero polynomial.
    fn eval(&mut self, c: &[f64], out: usize, scale: f64) -> Result<Option<Ciphertext<B>>> {
        let deg = c.iter().rposition(|&x| x != 0.0).unwrap_or(0);
        let c = &c[..=deg];
        if deg < self.plan.g {
            return self.leaf(c, out, scale);
        }
        let m = self.plan.split_point(deg);
        let (qc, rc) = split(c, m);
        let params = self.eval.ckks().params();
        let s_prime = scale * params.rescale_divisor(out + 1);
        let tm = drop_to(self.eval, &self.basis.t[&m], out + 1)?;
        let q_scale = s_prime / tm.scale;
        let q = self.eval(&qc, out + 1, q_scale)?;
        let r = self.eval(&rc, out, scale)?;
        let prod = match q {
            Some(q) => {
                let q = self.finish(q, q_scale)?;
                let mut p = self.eval.mul_new(&q, &tm)?;
                p.scale = s_prime;
                Some(p)
            }
            None => None,
        };
        Ok(match (prod, r) {
            (Some(mut p), Some(r)) => {
                self.eval.add_assign(&mut p, &r)?;
                Some(p)
            }
            (p, r) => p.or(r),
        })
    }

    /// Relinearises and rescales a result of [`eval`](Self::eval), setting the exact
    /// requested `scale`.
    fn finish(&self, mut ct: Ciphertext<B>, scale: f64) -> Result<Ciphertext<B>> {
        self.eval.relinearize_rescale_assign(&mut ct)?;
        ct.scale = scale;
        Ok(ct)
    }

    /// `Σ c_i T_i` for `deg < g`, for `(out, scale)` and before its rescale (see
    /// [`eval`](Self::eval)); `None` for the zero polynomial.
    fn leaf(&mut self, c: &[f64], out: usize, scale: f64) -> Result<Option<Ciphertext<B>>> {
        let params = self.eval.ckks().params();
        let s_prime = scale * params.rescale_divisor(out + 1);
        let mut acc: Option<Ciphertext<B>> = None;
        for (i, &ci) in c.iter().enumerate().skip(1) {
            if ci == 0.0 {
                continue;
            }
            let t = &self.basis.t[&i];
            let k = (ci * s_prime / t.scale).round();
            if k == 0.0 {
                continue;
            }
            match &mut acc {
                // one pass, no copy of T_i
                Some(a) => mul_integer_add_raw(self.eval, a, t, k)?,
                None => {
                    let mut term = drop_to(self.eval, t, out + 1)?;
                    mul_integer_raw(self.eval, &mut term, k)?;
                    term.scale = s_prime;
                    acc = Some(term);
                }
            }
        }
        let c0 = c.first().copied().unwrap_or(0.0);
        if acc.is_none() {
            if c0 == 0.0 && c.len() > 1 {
                return Ok(None);
            }
            if c0 == 0.0 && c.len() == 1 {
                return Ok(None);
            }
            let mut t = drop_to(self.eval, &self.basis.t[&1], out + 1)?;
            mul_integer_raw(self.eval, &mut t, 0.0)?;
            t.scale = s_prime;
            acc = Some(t);
        }
        let mut acc = acc.expect("set above");
        if c0 != 0.0 {
            add_integer_raw(self.eval, &mut acc, (c0 * s_prime).round())?;
        }
        Ok(Some(acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::ReferenceBackend;
    use crate::ckks::{Ckks, KeyGenerator, KeyRequest, Params, ParamsLiteral};
    use num_complex::Complex64;

    #[test]
    fn odd_polynomial_needs_no_even_baby_steps() {
        let c: Vec<f64> = (0..=119)
            .map(|i| if i % 2 == 1 { 1.0 / i as f64 } else { 0.0 })
            .collect();
        let plan = Plan::new(119);
        let mut needed = std::collections::BTreeSet::new();
        plan.basis_indices(&c, &mut needed);
        let want: Vec<usize> = (1..16).step_by(2).chain([16, 32, 64]).collect();
        assert_eq!(needed.into_iter().collect::<Vec<_>>(), want);
        // a dense polynomial needs every baby step
        let mut all = std::collections::BTreeSet::new();
        let dense: Vec<f64> = (0..=119).map(|i| 1.0 / (i + 1) as f64).collect();
        plan.basis_indices(&dense, &mut all);
        assert_eq!(all.len(), 15 + 3);
    }

    #[test]
    fn interpolation_matches_function() {
        let p = ChebyshevPoly::interpolate(|x| (3.0 * x).sin(), -2.0, 2.0, 40).unwrap();
        for k in 0..100 {
            let x = -2.0 + 4.0 * k as f64 / 99.0;
            assert!((p.evaluate(x) - (3.0 * x).sin()).abs() < 1e-13, "x={x}");
        }
        let e = ChebyshevPoly::interpolate(f64::exp, -1.0, 1.0, 15).unwrap();
        assert!((e.evaluate(0.3) - 0.3f64.exp()).abs() < 1e-14);
    }

    #[test]
    fn split_is_chebyshev_division() {
        let c: Vec<f64> = (0..13).map(|i| (i as f64 * 0.7).sin()).collect();
        let (q, r) = split(&c, 8);
        for k in 0..20 {
            let y = -1.0 + 2.0 * k as f64 / 19.0;
            let t8 = chebyshev_eval_unit(&[0., 0., 0., 0., 0., 0., 0., 0., 1.], y);
            let want = chebyshev_eval_unit(&c, y);
            let got = chebyshev_eval_unit(&q, y) * t8 + chebyshev_eval_unit(&r, y);
            assert!((want - got).abs() < 1e-12);
        }
    }

    #[test]
    fn depth_formula() {
        for (deg, want) in [(1, 1), (2, 2), (3, 2), (7, 4), (15, 5), (31, 6), (127, 8)] {
            let p = ChebyshevPoly::new(vec![0.5; deg + 1], -1.0, 1.0).unwrap();
            assert_eq!(p.depth(), want, "degree {deg}");
        }
    }

    fn params() -> Params {
        Params::new_insecure_for_tests(ParamsLiteral {
            log_n: 10,
            log_q: std::iter::once(60)
                .chain(std::iter::repeat_n(50, 9))
                .collect(),
            log_p: vec![60, 60],
            level_primes: None,
            dnum: 5,
            log_scale: 50,
            secret: Default::default(),
        })
        .unwrap()
    }

    #[test]
    fn encrypted_chebyshev_matches_float64() {
        let ckks = Ckks::new(params(), ReferenceBackend);
        let mut kg = KeyGenerator::from_seed(&ckks, 7);
        let sk = kg.secret_key();
        let pk = kg.public_key(&sk).unwrap();
        let evk = kg.evaluation_keys(&sk, &KeyRequest::new().relin()).unwrap();
        let eval = ckks.evaluator(&evk).unwrap();
        let n = ckks.params().max_slots();
        let xs: Vec<f64> = (0..n)
            .map(|i| -4.0 + 8.0 * ((i * 37) % n) as f64 / n as f64)
            .collect();
        let top = ckks.params().max_level();
        let pt = ckks
            .encode_real(&xs, top, ckks.params().default_scale())
            .unwrap();
        let ct = ckks.encryptor(&pk).encrypt(&pt).unwrap();
        let dec = ckks.decryptor(&sk);
        let f = |x: f64| 1.0 / (1.0 + (-x).exp());
        for deg in [1usize, 2, 5, 8, 31] {
            let poly = ChebyshevPoly::interpolate(f, -4.0, 4.0, deg).unwrap();
            let out = evaluate_chebyshev(&eval, &ct, &poly, None).unwrap();
            assert_eq!(out.level(), top - poly.depth(), "degree {deg}");
            assert!(crate::ckks::scales_match(out.scale(), ct.scale()));
            let got: Vec<Complex64> = dec.decrypt_complex(&out).unwrap();
            let want: Vec<Complex64> = xs
                .iter()
                .map(|&x| Complex64::new(poly.evaluate(x), 0.0))
                .collect();
            let (min_bits, _) = crate::circuits::precision_bits(&got, &want);
            assert!(min_bits > 28.0, "degree {deg}: {min_bits:.1} bits");
        }
        // the zero polynomial and one whose terms all round to zero give an encryption of
        // 0, not a panic
        for coeffs in [vec![0.0; 4], vec![0.0, 1e-300, 0.0, 1e-300]] {
            let out = evaluate_chebyshev_unit(&eval, &ct, &coeffs, ct.scale()).unwrap();
            let got = dec.decrypt_real(&out).unwrap();
            assert!(got.iter().all(|v| v.abs() < 1e-6), "{coeffs:?}");
        }
        // an odd polynomial with zero even coefficients, on the unit interval
        let s = ChebyshevPoly::interpolate(|x| (std::f64::consts::PI * x).sin(), -1.0, 1.0, 15)
            .unwrap();
        let mut odd = s.clone();
        for (i, c) in odd.coeffs.iter_mut().enumerate() {
            if i % 2 == 0 {
                *c = 0.0;
            }
        }
        let unit: Vec<f64> = xs.iter().map(|x| x / 4.0).collect();
        let ct = ckks
            .encryptor(&pk)
            .encrypt(
                &ckks
                    .encode_real(&unit, top, ckks.params().default_scale())
                    .unwrap(),
            )
            .unwrap();
        let out = evaluate_chebyshev(&eval, &ct, &odd, Some(2f64.powi(40))).unwrap();
        assert_eq!(out.scale(), 2f64.powi(40));
        let got = dec.decrypt_real(&out).unwrap();
        let err = got
            .iter()
            .zip(&unit)
            .map(|(g, &x)| (g - odd.evaluate(x)).abs())
            .fold(0.0, f64::max);
        assert!(err < 2f64.powi(-25), "odd sine: err {err:e}");
    }
}
