//! Runtime kernels shared by the typed wrappers and [`DynCt`](super::DynCt): plaintext
//! products, the diagonal-method matrix product, polynomial evaluation and slot sums.
//! They check levels at run time; the typed wrappers have already proved them.

use super::level::ceil_log2;
use crate::backend::Backend;
use crate::ckks::{Ciphertext, Evaluator};
use crate::error::{Error, Result};

fn need_level(op: &'static str, ct: &Ciphertext<impl Backend>, levels: usize) -> Result<()> {
    if ct.level() < levels {
        return Err(Error::LevelTooLow {
            op,
            needed: levels,
            level: ct.level(),
        });
    }
    Ok(())
}

fn padded(op: &str, values: &[f64], slots: usize) -> Result<Vec<f64>> {
    if values.len() > slots {
        return Err(Error::InvalidInput(format!(
            "{op}: {} values for a ciphertext with {slots} slots",
            values.len()
        )));
    }
    let mut v = values.to_vec();
    v.resize(slots, 0.0);
    Ok(v)
}

/// `ct ⊙ values` with the plaintext at the scale of the prime(s) the next rescale
/// divides by; the result owes that rescale.
pub(crate) fn mul_plain_values<B: Backend>(
    ev: &Evaluator<B>,
    ct: &Ciphertext<B>,
    values: &[f64],
) -> Result<Ciphertext<B>> {
    let q = ev.ckks().params().rescale_divisor(ct.level());
    mul_plain_values_at(ev, ct, values, q)
}

/// `ct ⊙ values` with the plaintext encoded at `pt_scale`; owes a rescale.
fn mul_plain_values_at<B: Backend>(
    ev: &Evaluator<B>,
    ct: &Ciphertext<B>,
    values: &[f64],
    pt_scale: f64,
) -> Result<Ciphertext<B>> {
    need_level("mul_plain", ct, 1)?;
    let v = padded("mul_plain", values, ct.slots())?;
    let pt = ev.ckks().encode_real(&v, ct.level(), pt_scale)?;
    ev.mul_plain_new(ct, &pt)
}

/// The plaintext scale that makes a product with `ct`, rescaled, land on `out_scale`.
pub(crate) fn pt_scale_for<B: Backend>(
    ev: &Evaluator<B>,
    ct: &Ciphertext<B>,
    out_scale: f64,
) -> Result<f64> {
    if !(out_scale.is_finite() && out_scale > 1.0) {
        return Err(Error::InvalidInput(format!(
            "output scale must be a finite number above 1, got {out_scale}"
        )));
    }
    let q = ev.ckks().params().rescale_divisor(ct.level());
    Ok(q * (out_scale / ct.scale()))
}

/// Adds plaintext values at the ciphertext's level and scale.
pub(crate) fn add_plain_values<B: Backend>(
    ev: &Evaluator<B>,
    ct: &mut Ciphertext<B>,
    values: &[f64],
) -> Result<()> {
    if values.iter().all(|&b| b == 0.0) {
        return Ok(());
    }
    let v = padded("add_plain", values, ct.slots())?;
    let pt = ev.ckks().encode_real(&v, ct.level(), ct.scale())?;
    ev.add_plain_assign(ct, &pt)
}

/// `W·x + b` by the diagonal method on `n = slots` values (`W` row-major `n×n`): hoisted
/// rotations by every step with a non-zero diagonal, one plaintext product each, one
/// rescale. Consumes one level; the output lands on `out_scale`.
pub(crate) fn dense<B: Backend>(
    ev: &Evaluator<B>,
    ct: &Ciphertext<B>,
    weights: &[f64],
    bias: &[f64],
    out_scale: f64,
) -> Result<Ciphertext<B>> {
    need_level("dense", ct, 1)?;
    let pt_scale = pt_scale_for(ev, ct, out_scale)?;
    let n = ct.slots();
    if weights.len() != n * n {
        return Err(Error::InvalidInput(format!(
            "dense: {} weights for {n} slots (need {})",
            weights.len(),
            n * n
        )));
    }
    let diags: Vec<(i64, Vec<f64>)> = (0..n)
        .map(|i| {
            let d: Vec<f64> = (0..n).map(|j| weights[j * n + (j + i) % n]).collect();
            (i as i64, d)
        })
        .filter(|(_, d)| d.iter().any(|&w| w != 0.0))
        .collect();
    let mut acc = if diags.is_empty() {
        let mut z = ct.clone();
        ev.mul_const_assign(&mut z, 0.0)?;
        z
    } else {
        let steps: Vec<i64> = diags.iter().map(|(s, _)| *s).collect();
        let rotated = ev.rotate_hoisted_new(ct, &steps)?;
        let mut acc: Option<Ciphertext<B>> = None;
        for (r, (_, d)) in rotated.iter().zip(&diags) {
            let term = mul_plain_values_at(ev, r, d, pt_scale)?;
            match &mut acc {
                None => acc = Some(term),
                Some(a) => ev.add_assign(a, &term)?,
            }
        }
        acc.expect("at least one diagonal")
    };
    ev.rescale_assign(&mut acc)?;
    // equal up to rounding; exact so that sibling branches add without a mismatch
    acc.set_scale(out_scale);
    add_plain_values(ev, &mut acc, bias)?;
    Ok(acc)
}

/// `w ⊙ x + b`: one plaintext product, one rescale; the output lands on `out_scale`.
pub(crate) fn diagonal<B: Backend>(
    ev: &Evaluator<B>,
    ct: &Ciphertext<B>,
    weights: &[f64],
    bias: &[f64],
    out_scale: f64,
) -> Result<Ciphertext<B>> {
    let pt_scale = pt_scale_for(ev, ct, out_scale)?;
    let mut out = mul_plain_values_at(ev, ct, weights, pt_scale)?;
    ev.rescale_assign(&mut out)?;
    out.set_scale(out_scale);
    add_plain_values(ev, &mut out, bias)?;
    Ok(out)
}

fn mod_down_to<B: Backend>(ev: &Evaluator<B>, ct: &mut Ciphertext<B>, level: usize) -> Result<()> {
    if ct.level() > level {
        ev.drop_level_assign(ct, ct.level() - level)?;
    }
    Ok(())
}

/// `Σ c_i x^i` consuming exactly `levels` levels (≥ `levels_for_degree(deg)`): powers by
/// binary splitting (`x^i = x^a · x^(i-a)`, `a` the largest power of two below `i`),
/// each coefficient folded in by a constant product whose value is pre-scaled so that
/// every term lands at the input's exact scale; all terms at level `L − levels`.
pub(crate) fn poly<B: Backend>(
    ev: &Evaluator<B>,
    x: &Ciphertext<B>,
    coeffs: &[f64],
    levels: usize,
) -> Result<Ciphertext<B>> {
    let deg = coeffs.len().saturating_sub(1);
    let needed = super::levels_for_degree(deg).max(1);
    if levels < needed {
        return Err(Error::InvalidInput(format!(
            "a degree-{deg} polynomial needs {needed} levels, only {levels} allotted"
        )));
    }
    need_level("poly", x, levels)?;
    let target_level = x.level() - levels;
    let target_scale = x.scale();
    // powers[i] = x^i for i in 1..=deg
    let mut powers: Vec<Option<Ciphertext<B>>> = vec![None; deg + 1];
    if deg >= 1 {
        powers[1] = Some(x.clone());
    }
    for i in 2..=deg {
        let a = 1usize << (ceil_log2(i) - 1);
        let (pa, pb) = (
            powers[a].clone().expect("computed"),
            powers[i - a].clone().expect("computed"),
        );
        let lvl = pa.level().min(pb.level());
        let (mut pa, mut pb) = (pa, pb);
        mod_down_to(ev, &mut pa, lvl)?;
        mod_down_to(ev, &mut pb, lvl)?;
        let mut p = ev.mul_new(&pa, &pb)?;
        ev.relinearize_rescale_assign(&mut p)?;
        powers[i] = Some(p);
    }
    let mut acc: Option<Ciphertext<B>> = None;
    for (i, &c) in coeffs.iter().enumerate().skip(1) {
        if c == 0.0 {
            continue;
        }
        let p = powers[i].as_ref().expect("computed");
        let mut t = p.clone();
        // (c · target/s_i) at scale q_l, then rescale: value c·x^i at scale `target`.
        ev.mul_const_assign(&mut t, c * target_scale / p.scale())?;
        ev.rescale_assign(&mut t)?;
        t.set_scale(target_scale);
        mod_down_to(ev, &mut t, target_level)?;
        match &mut acc {
            None => acc = Some(t),
            Some(a) => ev.add_assign(a, &t)?,
        }
    }
    let mut out = match acc {
        Some(a) => a,
        None => {
            let mut z = x.clone();
            ev.mul_const_assign(&mut z, 0.0)?;
            ev.rescale_assign(&mut z)?;
            z.set_scale(target_scale);
            mod_down_to(ev, &mut z, target_level)?;
            z
        }
    };
    ev.add_const_assign(&mut out, coeffs.first().copied().unwrap_or(0.0))?;
    Ok(out)
}

/// Every slot ← the sum of all `slots` slots (rotations by 1, 2, 4, …, slots/2).
pub(crate) fn sum_slots<B: Backend>(
    ev: &Evaluator<B>,
    ct: &Ciphertext<B>,
) -> Result<Ciphertext<B>> {
    let mut acc = ct.clone();
    let mut k = 1;
    while k < ct.slots() {
        let r = ev.rotate_new(&acc, k as i64)?;
        ev.add_assign(&mut acc, &r)?;
        k *= 2;
    }
    Ok(acc)
}

/// The rotation steps [`sum_slots`] uses on `n` slots.
pub(crate) fn sum_rotations(n: usize) -> Vec<i64> {
    let mut v = Vec::new();
    let mut k = 1;
    while k < n {
        v.push(k as i64);
        k *= 2;
    }
    v
}
