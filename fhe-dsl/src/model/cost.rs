//! The cost-only interpreter: every [`Backend`](crate::backend::Backend) call a model's
//! encrypted forward pass makes, per plan step, by primitive and limb count — without
//! doing any arithmetic, so a ResNet-20 at N = 2^16 is priced in milliseconds. A device
//! model (the ASIC simulator) turns these counts into time and energy.
//!
//! # Convention
//!
//! Counts are taken **at the `Backend` trait boundary**, exactly as
//! [`CountingBackend`](super::counting::CountingBackend) observes them: a coarse method
//! the forward pass calls (`rescale`, `key_switch`, `relinearize_rescale`,
//! `hoisted_rotations`, `decompose_mod_up`, `rotate_extended`, `div_round_by_tail`,
//! `mul_add_terms`, …) counts once, as itself, not as the finer primitives its default
//! composition would use (a backend may fuse it; the device model prices it as a unit).
//! Each key is `(method name, limbs)` with the limb count of the operand the method works
//! on (see [`CountingBackend`](super::counting::CountingBackend) for which operand);
//! the value is the number of calls, except for two extra keys:
//! `"hoisted_rotations.keys"` (rotations done by `hoisted_rotations`: one key-switching
//! inner product and ModDown each) and `"mul_add_terms.terms"` (products accumulated by
//! `mul_add_terms`).
//!
//! A key-switching operation at `l` Q limbs uses `⌈l / alpha⌉` digits
//! ([`Params::alpha`]) and works over `l + |P|` limbs: both follow from `l` and the
//! parameters, so they are not part of the key.
//!
//! # What is priced, and the limits
//!
//! - Plaintext encodings made during the pass (linear-transform diagonals, biases) count
//!   as the device sees them: one `upload` and one `ntt` of the plaintext's limbs each
//!   (`Q_l`, or `Q_l ∪ P` for a double-hoisted diagonal). Every `upload` in a forward pass
//!   is such an encoding, so `upload` counts encodings; the complex-to-coefficient
//!   transform before it is host work and is not counted. The evaluator's plaintext
//!   cache is assumed **off** (the default): with a cache, encodings repeat only on
//!   misses.
//! - Encryption of the input and decryption of the output are outside the pass.
//! - A `Bootstrap` step counts as one `"bootstrap"` at the limbs of its input level;
//!   pricing a bootstrap's own circuit is out of scope here.
//! - Ciphertext copies (`Clone` of a backend polynomial) are not `Backend` calls and are
//!   not counted; `zero`, `select`, `concat` and `keep_limbs` are.
//! - The formulas mirror the code of `typed::ops`, `nn::PackedLinear::apply`,
//!   `circuits::linear` (double-hoisted BSGS, with its babies-down choice) and
//!   `ckks::Evaluator` as they stand; the test `tests/tests/cost_model.rs` checks them
//!   against a counting backend call for call (both the double-hoisted and the
//!   babies-down schedules of a convolution among them), so a change there that is not
//!   mirrored here fails it. A `Dense` layer is priced by scanning its `N × N` weights
//!   for non-zero diagonals (`O(N²)`, as the layer itself does); every other step is
//!   priced from its schedule alone.

use super::{layer_of, Model};
use crate::circuits::LinearTransform;
use crate::ckks::{galois_element, Params};
use crate::error::Result;
use crate::plan::Op;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// Calls per `(primitive, limbs)`. See the [module docs](self) for the convention.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts(BTreeMap<(&'static str, usize), u64>);

impl Counts {
    /// No calls.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` calls of `op` on `limbs` limbs (`n = 0` records nothing).
    pub fn add(&mut self, op: &'static str, limbs: usize, n: u64) {
        if n > 0 {
            *self.0.entry((op, limbs)).or_insert(0) += n;
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Counts) {
        for (&(op, l), &n) in &other.0 {
            self.add(op, l, n);
        }
    }

    /// Calls of `op` on `limbs` limbs.
    pub fn get(&self, op: &str, limbs: usize) -> u64 {
        self.0
            .iter()
            .find(|((o, l), _)| *o == op && *l == limbs)
            .map_or(0, |(_, &n)| n)
    }

    /// Calls of `op` at any limb count.
    pub fn of(&self, op: &str) -> u64 {
        self.0
            .iter()
            .filter(|((o, _), _)| *o == op)
            .map(|(_, &n)| n)
            .sum()
    }

    /// The sum of every entry.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `((primitive, limbs), calls)`, sorted.
    pub fn iter(&self) -> impl Iterator<Item = ((&'static str, usize), u64)> + '_ {
        self.0.iter().map(|(&k, &n)| (k, n))
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for ((op, l), n) in self.iter() {
            writeln!(f, "{op:>24} × {l:>3} limbs: {n}")?;
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct Entry {
    op: &'static str,
    limbs: usize,
    calls: u64,
}

/// A list of `{op, limbs, calls}` objects (a tuple key is no JSON key).
impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(
            self.iter()
                .map(|((op, limbs), calls)| Entry { op, limbs, calls }),
        )
    }
}

/// One plan step's cost.
#[derive(Clone, Debug, Serialize)]
pub struct StepCost {
    /// Index in [`Plan::steps`](crate::plan::Plan::steps).
    pub step: usize,
    /// The value it defines.
    pub value: &'static str,
    /// The layer path or builtin.
    pub callee: &'static str,
    /// Level it runs at (its first operand's).
    pub level: usize,
    /// Its backend calls.
    pub counts: Counts,
}

/// A forward pass's cost: per step and in total.
#[derive(Clone, Debug, Serialize)]
pub struct Cost {
    /// Every step, in order.
    pub steps: Vec<StepCost>,
    /// Their sum.
    pub total: Counts,
}

/// The backend calls `m`'s encrypted forward pass makes with `params`, step by step
/// (see the [module docs](self)). Errors when the plan names a layer the model lacks.
pub fn cost<M: Model + ?Sized>(m: &M, params: &Params) -> Result<Cost> {
    let plan = m.plan();
    let cx = Cx(params);
    let mut steps = Vec::with_capacity(plan.steps.len());
    let mut total = Counts::new();
    for (i, st) in plan.steps.iter().enumerate() {
        let level = plan.input_level_of(i);
        let mut c = Counts::new();
        match st.op {
            Op::Layer(l) => layer_of(m, l)?.cost(params, level, &mut c),
            Op::Bootstrap => c.add("bootstrap", cx.q(level), 1),
            Op::Square => cx.square(&mut c, level),
            Op::Add => {
                let (la, lb) = (plan.level(st.args[0]), plan.level(st.args[1]));
                let lo = la.min(lb);
                if la != lb {
                    cx.drop_level(&mut c, lo);
                }
                cx.add(&mut c, lo);
            }
            Op::Rotate(k) => cx.rotate(&mut c, level, k),
            Op::Sum => {
                let mut k = 1;
                while k < m.slots() {
                    cx.rotate(&mut c, level, k as i64);
                    cx.add(&mut c, level);
                    k *= 2;
                }
            }
        }
        total.merge(&c);
        steps.push(StepCost {
            step: i,
            value: &st.value,
            callee: &st.callee,
            level,
            counts: c,
        });
    }
    Ok(Cost { steps, total })
}

/// The parameters' limb counts and the counts of the evaluator's operations.
#[derive(Clone, Copy)]
pub(crate) struct Cx<'a>(pub(crate) &'a Params);

impl Cx<'_> {
    /// Q limbs at `level`.
    fn q(self, level: usize) -> usize {
        self.0.limbs_at(level)
    }

    /// `Q_level ∪ P` limbs.
    fn qp(self, level: usize) -> usize {
        self.q(level) + self.0.p().len()
    }

    /// Whether a rotation by `step` is the identity (no key, a copy).
    fn trivial(self, step: i64) -> bool {
        galois_element(step, self.0.log_n()) == 1
    }

    /// An encoding on `limbs` limbs: upload and NTT.
    fn encode(self, c: &mut Counts, limbs: usize) {
        c.add("upload", limbs, 1);
        c.add("ntt", limbs, 1);
    }

    /// `Evaluator::add_assign` of two degree-1 ciphertexts at `level`.
    fn add(self, c: &mut Counts, level: usize) {
        c.add("add_assign", self.q(level), 2);
    }

    /// `Evaluator::rescale_assign` at `level`.
    fn rescale(self, c: &mut Counts, level: usize) {
        c.add("rescale", self.q(level), 2);
    }

    /// `Evaluator::drop_level_assign` down to `to`.
    fn drop_level(self, c: &mut Counts, to: usize) {
        c.add("keep_limbs", self.q(to), 2);
    }

    /// `Evaluator::mul_const_assign` (or any constant product) at `level`.
    fn mul_const(self, c: &mut Counts, level: usize) {
        c.add("mul_scalar_assign", self.q(level), 2);
    }

    /// `Evaluator::rotate_new` by `step` at `level`.
    fn rotate(self, c: &mut Counts, level: usize, step: i64) {
        self.rotate_hoisted(c, level, [step]);
    }

    /// `Evaluator::rotate_hoisted_new`: one `hoisted_rotations` for the non-trivial steps.
    fn rotate_hoisted(self, c: &mut Counts, level: usize, steps: impl IntoIterator<Item = i64>) {
        let keys = steps.into_iter().filter(|&k| !self.trivial(k)).count() as u64;
        if keys > 0 {
            c.add("hoisted_rotations", self.q(level), 1);
            c.add("hoisted_rotations.keys", self.q(level), keys);
        }
    }

    /// `Evaluator::mul_new` of degree-1 ciphertexts at `level`.
    fn tensor(self, c: &mut Counts, level: usize) {
        c.add("mul_assign", self.q(level), 3);
        c.add("mul_add_assign", self.q(level), 1);
    }

    /// `x²` relinearised and rescaled at `level` (the `square` step).
    fn square(self, c: &mut Counts, level: usize) {
        self.tensor(c, level);
        c.add("relinearize_rescale", self.q(level), 1);
    }

    /// `ops::add_plain_values` at `level`: nothing for an all-zero bias.
    fn add_plain(self, c: &mut Counts, level: usize, bias: &[f64]) {
        if bias.iter().any(|&b| b != 0.0) {
            self.encode(c, self.q(level));
            c.add("add_assign", self.q(level), 1);
        }
    }

    /// `ops::mul_plain_values_at` at `level`: an encoding and a product per part.
    fn mul_plain(self, c: &mut Counts, level: usize) {
        self.encode(c, self.q(level));
        c.add("mul_assign", self.q(level), 2);
    }
}

/// `ops::dense` on a row-major `n × n` matrix at `level`.
pub(crate) fn dense(cx: Cx<'_>, c: &mut Counts, level: usize, weights: &[f64], bias: &[f64]) {
    let n = bias.len();
    let steps: Vec<i64> = (0..n)
        .filter(|&i| (0..n).any(|j| weights[j * n + (j + i) % n] != 0.0))
        .map(|i| i as i64)
        .collect();
    if steps.is_empty() {
        cx.mul_const(c, level);
    } else {
        cx.rotate_hoisted(c, level, steps.iter().copied());
        for _ in &steps {
            cx.mul_plain(c, level);
        }
        // the terms accumulate: one ciphertext add per term after the first
        c.add("add_assign", cx.q(level), 2 * (steps.len() as u64 - 1));
    }
    cx.rescale(c, level);
    cx.add_plain(c, level - 1, bias);
}

/// `ops::diagonal` at `level`.
pub(crate) fn diagonal(cx: Cx<'_>, c: &mut Counts, level: usize, bias: &[f64]) {
    cx.mul_plain(c, level);
    cx.rescale(c, level);
    cx.add_plain(c, level - 1, bias);
}

/// `ops::poly` with `levels` levels at `level`.
pub(crate) fn poly(cx: Cx<'_>, c: &mut Counts, level: usize, coeffs: &[f64], levels: usize) {
    let deg = coeffs.len().saturating_sub(1);
    let target = level - levels;
    // lv[i]: level of x^i
    let mut lv = vec![level; deg + 1];
    for i in 2..=deg {
        let a = 1usize << (ceil_log2(i) - 1);
        let l = lv[a].min(lv[i - a]);
        for src in [lv[a], lv[i - a]] {
            if src > l {
                cx.drop_level(c, l);
            }
        }
        cx.tensor(c, l);
        c.add("relinearize_rescale", cx.q(l), 1);
        lv[i] = l - 1;
    }
    let mut terms = 0;
    for (i, &k) in coeffs.iter().enumerate().skip(1) {
        if k == 0.0 {
            continue;
        }
        cx.mul_const(c, lv[i]);
        cx.rescale(c, lv[i]);
        if lv[i] - 1 > target {
            cx.drop_level(c, target);
        }
        if terms > 0 {
            cx.add(c, target);
        }
        terms += 1;
    }
    if terms == 0 {
        cx.mul_const(c, level);
        cx.rescale(c, level);
        if level - 1 > target {
            cx.drop_level(c, target);
        }
    }
    c.add("add_scalar_assign", cx.q(target), 1);
}

/// `⌈log2 x⌉` (as `typed::level::ceil_log2`).
fn ceil_log2(x: usize) -> usize {
    x.next_power_of_two().trailing_zeros() as usize
}

/// Per-slot rotate-and-add by `steps` at `level` (`nn::spatial_sum`, a packed map's
/// replication).
pub(crate) fn rotate_and_add(cx: Cx<'_>, c: &mut Counts, level: usize, steps: &[i64]) {
    for &s in steps {
        cx.rotate(c, level, s);
        cx.add(c, level);
    }
}

/// `layers::apply_packed`: the map (`LinearTransform::apply_streaming`, then the
/// replication's rotate-and-add) and the bias, at `level`.
pub(crate) fn packed(
    cx: Cx<'_>,
    c: &mut Counts,
    level: usize,
    map: &crate::nn::PackedLinear,
    bias: &[f64],
) {
    streaming(cx, c, level, map.transform());
    rotate_and_add(cx, c, level - 1, &map.replicate_steps());
    cx.add_plain(c, level - 1, bias);
}

/// `LinearTransform::apply_streaming` (double-hoisted BSGS, plaintext cache off).
fn streaming(cx: Cx<'_>, c: &mut Counts, level: usize, lt: &LinearTransform) {
    let (lq, lqp) = (cx.q(level), cx.qp(level));
    let (g, plan) = lt.schedule();
    if plan.is_empty() {
        // the zero map
        cx.mul_const(c, level);
        cx.rescale(c, level);
        return;
    }
    let down = lt.babies_down(cx.0, level, g);
    // encodings: over Q_l·P for a nonzero baby step unless the babies come down
    for &i in plan.values().flatten() {
        let over = if down { 0 } else { i };
        cx.encode(c, if over != 0 { lqp } else { lq });
    }
    // baby rotations, kept over Q_l·P (or brought down)
    let babies: std::collections::BTreeSet<i64> = plan.values().flatten().copied().collect();
    let mut decomposed = false;
    for &i in &babies {
        if cx.trivial(i) {
            continue;
        }
        if !decomposed {
            c.add("decompose_mod_up", lq, 1);
            decomposed = true;
        }
        c.add("rotate_extended", lq, 1);
        if down {
            c.add("div_round_by_tail", lqp, 2);
        }
    }
    c.add("zero", lq, 2);
    let mut ext = false;
    for (&j, is) in &plan {
        c.add("zero", lq, 2);
        let n_q = is.iter().filter(|&&i| down || cx.trivial(i)).count() as u64;
        let n_qp = is.len() as u64 - n_q;
        c.add("mul_add_terms", lq, 1);
        c.add("mul_add_terms.terms", lq, n_q);
        if n_qp > 0 {
            c.add("zero", lqp, 2);
            c.add("mul_add_terms", lqp, 1);
            c.add("mul_add_terms.terms", lqp, n_qp);
            c.add("div_round_by_tail", lqp, 2);
            c.add("add_assign", lq, 2);
        }
        if cx.trivial(j) {
            c.add("add_assign", lq, 2);
        } else {
            c.add("decompose_mod_up", lq, 1);
            c.add("rotate_extended", lq, 1);
            if ext {
                c.add("add_assign", lqp, 2);
            }
            ext = true;
        }
    }
    if ext {
        c.add("div_round_by_tail", lqp, 2);
        c.add("add_assign", lq, 2);
    }
    cx.rescale(c, level);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_merge_and_serialise() {
        let mut a = Counts::new();
        a.add("ntt", 3, 2);
        a.add("ntt", 3, 0);
        let mut b = Counts::new();
        b.add("ntt", 3, 1);
        b.add("rescale", 4, 2);
        a.merge(&b);
        assert_eq!((a.get("ntt", 3), a.of("rescale"), a.total()), (3, 2, 5));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            r#"[{"op":"ntt","limbs":3,"calls":3},{"op":"rescale","limbs":4,"calls":2}]"#
        );
    }
}
