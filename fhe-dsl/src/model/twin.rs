//! The cleartext twin of a plan: exact, traced, or with CKKS-like noise injected.

use super::{layer_of, walk, Model};
use crate::error::{Error, Result};
use crate::plan::{Op, PlanStep};
use crate::typed::plain;

/// Walks the plan in float64; `check(step, operands, result)` sees every step.
pub(crate) fn plain_walk<M: Model + ?Sized>(
    m: &M,
    x: Vec<f64>,
    mut check: impl FnMut(&'static PlanStep, &[&Vec<f64>], &Vec<f64>) -> Result<()>,
) -> Result<Vec<f64>> {
    let plan = m.plan();
    walk(plan, x, |_, st, args| {
        let y = step_plain(m, st, args)?;
        check(st, args, &y)?;
        Ok(y)
    })
}

fn step_plain<M: Model + ?Sized>(m: &M, st: &PlanStep, args: &[&Vec<f64>]) -> Result<Vec<f64>> {
    Ok(match st.op {
        Op::Layer(l) => layer_of(m, l)?.apply_plain(args[0]),
        Op::Bootstrap => args[0].clone(),
        Op::Square => plain::mul(args[0], args[0]),
        Op::Add => plain::add(args[0], args[1]),
        Op::Rotate(k) => plain::rotate(args[0], k),
        Op::Sum => plain::sum(args[0]),
    })
}

/// CKKS noise for the twin: independent Gaussian errors of these standard deviations
/// (absolute, in slot units) added after every level-consuming step and every
/// bootstrap.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseModel {
    /// After each layer that consumes a level and each square (rescale and
    /// key-switching noise).
    pub op_std: f64,
    /// After each bootstrap.
    pub bootstrap_std: f64,
    /// Seed of the noise.
    pub seed: u64,
}

impl NoiseModel {
    /// No noise: the exact twin.
    pub fn none() -> Self {
        NoiseModel {
            op_std: 0.0,
            bootstrap_std: 0.0,
            seed: 0,
        }
    }
}

/// One step of a traced twin run.
#[derive(Clone, Debug)]
pub struct TraceStep {
    /// The value the step defines.
    pub value: &'static str,
    /// Its layer or operation.
    pub op: &'static str,
    /// Its level.
    pub level: usize,
    /// Its slots.
    pub slots: Vec<f64>,
}

/// The twin on `x`, every step's slots recorded; with `noise`, CKKS-like errors are
/// injected as [`NoiseModel`] says (same seed, same noise).
pub fn trace<M: Model + ?Sized>(m: &M, x: &[f64], noise: &NoiseModel) -> Result<Vec<TraceStep>> {
    use rand::SeedableRng;
    use rand_distr::Distribution;
    for (what, s) in [
        ("op_std", noise.op_std),
        ("bootstrap_std", noise.bootstrap_std),
    ] {
        if !(s.is_finite() && s >= 0.0) {
            return Err(Error::InvalidInput(format!(
                "noise {what} = {s}: a standard deviation must be finite and ≥ 0"
            )));
        }
    }
    let plan = m.plan();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(noise.seed);
    let mut x = x.to_vec();
    x.resize(m.slots(), 0.0);
    let mut out = Vec::with_capacity(plan.steps.len());
    walk(plan, x, |_, st, args| {
        let mut y = step_plain(m, st, args)?;
        let std = match st.op {
            Op::Bootstrap => noise.bootstrap_std,
            Op::Square => noise.op_std,
            Op::Layer(l) if plan.layers[l].kind.levels() > 0 => noise.op_std,
            _ => 0.0,
        };
        if std > 0.0 {
            let d = rand_distr::Normal::new(0.0, std)
                .map_err(|e| Error::InvalidInput(format!("noise: {e}")))?;
            y.iter_mut().for_each(|v| *v += d.sample(&mut rng));
        }
        out.push(TraceStep {
            value: &st.value,
            op: &st.callee,
            level: st.level,
            slots: y.clone(),
        });
        Ok(y)
    })?;
    Ok(out)
}

/// Per step, `max |a − b|` over the slots of two traces of the same plan.
pub fn errors_between(a: &[TraceStep], b: &[TraceStep]) -> Vec<(&'static str, f64)> {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let e = x
                .slots
                .iter()
                .zip(&y.slots)
                .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()));
            (x.value, e)
        })
        .collect()
}
