//! Interpreters of a model's plan.
//!
//! `model!` compiles a model into one [`Plan`] (levels, automatic
//! bootstraps, every step) and implements [`Model`] for it: the plan plus its layers by
//! index. The typed forward pass the macro generates is the encrypted interpreter (any
//! backend); the functions here are the others, each walking the same steps:
//!
//! - [`forward_plain`]: the cleartext twin (float64, same packing);
//! - [`trace`]: the twin recording every step's slots, optionally with CKKS-like noise
//!   injected ([`NoiseModel`]): per-layer error budgets in seconds;
//! - [`check_ranges`], [`check_input_range`], [`check_declared_range`]: every value
//!   against its level's headroom and each bootstrap's input range;
//! - [`key_request`], [`rotations`]: exactly the keys the pass needs, per level;
//! - [`cost()`]: every backend call the encrypted pass makes, per step, without running it
//!   (checked call for call by [`CountingBackend`]).

pub mod cost;
pub mod counting;
mod layers;
mod twin;

pub use cost::{cost, Cost, Counts, StepCost};
pub use counting::CountingBackend;
pub use layers::PlanLayer;
pub use twin::{errors_between, trace, NoiseModel, TraceStep};

use crate::ckks::KeyRequest;
use crate::error::{Error, Result};
use crate::plan::{Op, Plan, PlanStep};
use crate::typed::{Bounds, RangeCheck, RangeLimits, StepRange};

/// A compiled model: its plan and its layers by flat index. `model!` implements it.
pub trait Model {
    /// The compiled plan.
    fn plan(&self) -> &'static Plan;
    /// Slots per ciphertext.
    fn slots(&self) -> usize;
    /// The layer with this index in [`Plan::layers`](crate::plan::Plan::layers).
    fn layer(&self, index: usize) -> Option<&dyn PlanLayer>;
}

/// The layer a step applies; generated models hold every layer their plan names.
pub(crate) fn layer_of<M: Model + ?Sized>(m: &M, l: usize) -> Result<&dyn PlanLayer> {
    m.layer(l).ok_or_else(|| {
        Error::InvalidInput(format!(
            "{}: the plan names layer {l}, the model has none",
            m.plan().name
        ))
    })
}

/// Walks the plan on values of type `V`: `f(step, operands)` computes each step. Values
/// are dropped after their last use. Returns the output.
pub(crate) fn walk<'p, V: Clone>(
    plan: &'p Plan,
    input: V,
    mut f: impl FnMut(usize, &'p PlanStep, &[&V]) -> Result<V>,
) -> Result<V> {
    let n = plan.steps.len() + 1;
    let mut last = vec![0usize; n];
    for (i, st) in plan.steps.iter().enumerate() {
        for &a in &st.args {
            last[a] = i + 1;
        }
    }
    last[plan.output] = usize::MAX;
    let mut vals: Vec<Option<V>> = vec![None; n];
    vals[0] = Some(input);
    for (i, st) in plan.steps.iter().enumerate() {
        let args: Vec<&V> = st
            .args
            .iter()
            .map(|&a| vals[a].as_ref().expect("plans read values defined before"))
            .collect();
        let y = f(i, st, &args)?;
        vals[i + 1] = Some(y);
        for &a in &st.args {
            if last[a] == i + 1 {
                vals[a] = None;
            }
        }
    }
    Ok(vals[plan.output].take().expect("the output is kept"))
}

/// The cleartext twin: the forward pass in float64 on `x` (zero-padded to the slots).
pub fn forward_plain<M: Model + ?Sized>(m: &M, x: &[f64]) -> Vec<f64> {
    let mut x = x.to_vec();
    x.resize(m.slots(), 0.0);
    twin::plain_walk(m, x, |_, _, _| Ok(())).expect("generated models hold every layer")
}

/// The [`forward_plain`] twin with every value checked against `limits` (see
/// the generated `check_ranges`).
pub fn check_ranges<M: Model + ?Sized>(
    m: &M,
    x: &[f64],
    limits: &RangeLimits,
) -> Result<Vec<StepRange>> {
    let plan = m.plan();
    let mut rc = RangeCheck::new(limits);
    rc.input(&plan.input, plan.input_level, x)?;
    let mut x = x.to_vec();
    x.resize(m.slots(), 0.0);
    twin::plain_walk(m, x, |st, args, y| {
        if st.op == Op::Bootstrap {
            let a = &plan_value_name(plan, st);
            rc.bootstrap_input(a, &st.callee, plan.level(st.args[0]), args[0])?;
        }
        if !st.auto {
            rc.step(&st.value, &st.callee, st.level, y)?;
        }
        Ok(())
    })?;
    Ok(rc.finish())
}

/// The name of a bootstrap step's operand (for messages).
fn plan_value_name(plan: &'static Plan, st: &PlanStep) -> &'static str {
    match st.args[0].checked_sub(1) {
        None => &plan.input,
        Some(i) => &plan.steps[i].value,
    }
}

/// The sound counterpart of [`check_ranges`]: interval arithmetic through the same steps
/// for every input within `bounds`.
pub fn check_input_range<M: Model + ?Sized>(
    m: &M,
    bounds: &Bounds,
    limits: &RangeLimits,
) -> Result<Vec<StepRange>> {
    let plan = m.plan();
    let mut rc = RangeCheck::for_bounds(limits);
    rc.input(&plan.input, plan.input_level, &bounds.magnitudes())?;
    let x = bounds.resized(m.slots());
    walk(plan, x, |_, st, args| {
        let y = match st.op {
            Op::Layer(l) => layer_of(m, l)?.apply_bounds(args[0]),
            Op::Bootstrap => {
                let a = plan_value_name(plan, st);
                rc.bootstrap_input(a, &st.callee, plan.level(st.args[0]), &args[0].magnitudes())?;
                args[0].clone()
            }
            Op::Square => args[0].square(),
            Op::Add => args[0].add(args[1]),
            Op::Rotate(k) => args[0].rotate(k),
            Op::Sum => args[0].sum(),
        };
        if !st.auto {
            rc.step(&st.value, &st.callee, st.level, &y.magnitudes())?;
        }
        Ok(y)
    })?;
    Ok(rc.finish())
}

/// [`check_input_range`] over the input range `limits` declares.
pub fn check_declared_range<M: Model + ?Sized>(
    m: &M,
    limits: &RangeLimits,
) -> Result<Vec<StepRange>> {
    let Some(r) = limits.input_range() else {
        return Err(Error::InvalidInput(format!(
            "{}::check_declared_range: the limits declare no input range: add `.with_input_range(r)`",
            m.plan().name
        )));
    };
    let b = Bounds::uniform(m.slots(), -r, r)?;
    check_input_range(m, &b, limits)
}

/// Exactly the evaluation keys the forward pass needs: relinearisation if it multiplies
/// ciphertexts; the steps of `rotate`, `sum` and `Dense` at every level; each layer's
/// layout-dependent steps only up to the highest level that layer runs at (smaller keys).
pub fn key_request<M: Model + ?Sized>(m: &M) -> KeyRequest {
    let plan = m.plan();
    let mut r = KeyRequest::new();
    if plan.needs_relin() {
        r = r.relin();
    }
    for (i, st) in plan.steps.iter().enumerate() {
        match st.op {
            Op::Rotate(k) => r = r.rotations([k]),
            Op::Sum => {
                r = r.rotations((0..m.slots().trailing_zeros()).map(|j| 1i64 << j));
            }
            Op::Layer(l) => {
                let Some(layer) = m.layer(l) else { continue };
                if plan.layers[l].kind.runtime_rotations() {
                    r = r.rotations_up_to(layer.rotations(), plan.input_level_of(i));
                } else {
                    r = r.rotations(layer.rotations());
                }
            }
            _ => {}
        }
    }
    r
}

/// Every rotation step the forward pass uses, sorted.
pub fn rotations<M: Model + ?Sized>(m: &M) -> Vec<i64> {
    let r = key_request(m);
    let mut v: Vec<i64> = r
        .rotations
        .iter()
        .copied()
        .chain(r.rotations_up_to.iter().map(|&(k, _)| k))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}
