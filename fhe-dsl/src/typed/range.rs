//! Value ranges and parameter checks for `model!` models, run in the clear before any
//! key is generated or anything is encrypted.
//!
//! CKKS stores `x·Δ` modulo the primes left at a ciphertext's level: a value whose
//! magnitude passes `Q_l / 2Δ` wraps around and decrypts to garbage, without any error
//! from the scheme itself. A bootstrap is stricter still: its EvalMod polynomial is
//! fitted for inputs of about `[-1, 1]`, and outside that range its result is wrong,
//! again without an error. Neither can be seen on a ciphertext without the secret key,
//! so `model!` generates `check_ranges(&self, input, &limits)`: the cleartext twin of
//! the forward pass on a sample input, with every step's largest magnitude compared to
//! [`RangeLimits`], and the first value beyond them reported as an
//! [`Error::ValueRange`] that names the step, the layer, the level and the limit.
//!
//! ```
//! use fhe_dsl::ckks::{Params, ParamsLiteral};
//! use fhe_dsl::typed::RangeLimits;
//! # fn main() -> fhe_dsl::Result<()> {
//! let params = Params::new_insecure_for_tests(ParamsLiteral::test_small())?;
//! let limits = RangeLimits::new(&params).with_input_range(1.0);
//! // level 0 holds |x| < q0 / 4Δ: a 55-bit q0 at Δ = 2^45 leaves about 2^8
//! assert!(limits.headroom(0) > 200.0 && limits.headroom(0) < 300.0);
//! // every level above adds a 45-bit prime
//! assert!(limits.headroom(1) > 1e15);
//! # Ok(()) }
//! ```

use crate::circuits::bootstrap::BootstrapConfig;
use crate::ckks::Params;
use crate::error::{Error, Result};

/// The largest magnitudes a model's values may reach: per level (the parameters'
/// headroom), at a bootstrap's input, and at the model's input (declared by the user).
#[derive(Clone, Debug, PartialEq)]
pub struct RangeLimits {
    /// Largest |x| at each level.
    headroom: Vec<f64>,
    /// Largest |x| a bootstrap input may have (`None`: the model must not bootstrap).
    bootstrap_input: Option<f64>,
    /// Declared largest |x| of the input.
    input: Option<f64>,
}

/// The bootstrap input bound: the EvalMod polynomials are fitted for message
/// coefficients of magnitude ≤ 4 ([`BootstrapConfig::message_bound`]), which slot values
/// within `[-1, 1]` respect; the ResNet-20 keeps its bootstrap inputs there too.
pub const BOOTSTRAP_INPUT_BOUND: f64 = 1.0;

impl RangeLimits {
    /// The headroom of `params`: at level `l` a value must satisfy
    /// `|x| < Q_l / (4Δ)`, where `Q_l` is the product of the primes left at level `l`
    /// and `Δ` the default scale (one bit below the wrap-around point `Q_l / 2Δ`, for the
    /// noise and for scales that drift from Δ by a prime's ratio). No bootstrap bound
    /// and no input bound yet.
    pub fn new(params: &Params) -> Self {
        let log_delta = params.default_scale().log2();
        let headroom = (0..=params.max_level())
            .map(|l| {
                let log_q: f64 = params
                    .q_primes_at(l)
                    .iter()
                    .map(|&i| (params.q()[i] as f64).log2())
                    .sum();
                2f64.powf((log_q - 2.0 - log_delta).min(1000.0))
            })
            .collect();
        RangeLimits {
            headroom,
            bootstrap_input: None,
            input: None,
        }
    }

    /// Allows bootstraps with `config`, whose inputs must stay within
    /// [`BOOTSTRAP_INPUT_BOUND`].
    pub fn with_bootstrap(mut self, config: &BootstrapConfig) -> Self {
        let _ = config;
        self.bootstrap_input = Some(BOOTSTRAP_INPUT_BOUND);
        self
    }

    /// Allows bootstraps whose inputs stay within `[-bound, bound]` (a tighter bound than
    /// the bootstrapper's own, or a custom bootstrapper's).
    pub fn with_bootstrap_bound(mut self, bound: f64) -> Self {
        self.bootstrap_input = Some(bound);
        self
    }

    /// Declares that the model's inputs lie in `[-bound, bound]`: an input outside is an
    /// error naming the slot.
    pub fn with_input_range(mut self, bound: f64) -> Self {
        self.input = Some(bound);
        self
    }

    /// Largest |x| a value at `level` may reach (0 above the parameters' top level).
    pub fn headroom(&self, level: usize) -> f64 {
        self.headroom.get(level).copied().unwrap_or(0.0)
    }

    /// Largest |x| a bootstrap input may reach, if bootstraps are allowed.
    pub fn bootstrap_input(&self) -> Option<f64> {
        self.bootstrap_input
    }

    /// The declared input bound ([`Self::with_input_range`]), if any.
    pub fn input_range(&self) -> Option<f64> {
        self.input
    }
}

/// One value of a forward pass as [`RangeCheck`] saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRange {
    /// The value.
    pub value: &'static str,
    /// The layer or operation that computed it (`input` for the input).
    pub op: &'static str,
    /// Its level.
    pub level: usize,
    /// The largest magnitude it reached.
    pub max_abs: f64,
    /// The largest magnitude allowed (the tightest of the limits that apply).
    pub limit: f64,
}

/// Collects the ranges of a cleartext forward pass and checks them against
/// [`RangeLimits`]; what `model!`'s generated `check_ranges` uses.
#[derive(Debug)]
pub struct RangeCheck<'a> {
    limits: &'a RangeLimits,
    seen: Vec<StepRange>,
    /// The magnitudes are propagated bounds over a declared input range
    /// ([`RangeCheck::for_bounds`]), not one sample's values.
    worst_case: bool,
}

fn max_abs(x: &[f64]) -> f64 {
    x.iter().fold(0.0f64, |m, v| {
        if v.is_finite() {
            m.max(v.abs())
        } else {
            f64::INFINITY
        }
    })
}

impl<'a> RangeCheck<'a> {
    /// An empty check against `limits`.
    pub fn new(limits: &'a RangeLimits) -> Self {
        RangeCheck {
            limits,
            seen: Vec::new(),
            worst_case: false,
        }
    }

    /// An empty check against `limits` of propagated [`Bounds`](super::Bounds) (what `model!`'s
    /// generated `check_input_range` uses): the magnitudes it is given are worst cases
    /// over a declared input range, and its errors say so.
    pub fn for_bounds(limits: &'a RangeLimits) -> Self {
        RangeCheck {
            worst_case: true,
            ..RangeCheck::new(limits)
        }
    }

    fn record(
        &mut self,
        value: &'static str,
        op: &'static str,
        level: usize,
        x: &[f64],
        limit: f64,
        why: String,
    ) -> Result<()> {
        let m = max_abs(x);
        if m >= limit || m.is_nan() {
            let why = if self.worst_case {
                format!(
                    "{why} (an upper bound over the whole declared input range, by interval \
                     arithmetic: no input in the range exceeds it; it may be loose)"
                )
            } else {
                why
            };
            return Err(Error::ValueRange {
                value: value.to_string(),
                op: op.to_string(),
                level,
                reached: m,
                limit,
                why,
            });
        }
        self.seen.push(StepRange {
            value,
            op,
            level,
            max_abs: m,
            limit,
        });
        Ok(())
    }

    fn level_why(&self, level: usize) -> String {
        format!(
            "the headroom of level {level} (Q_{level}/4Δ): it would wrap around modulo the primes \
             and decrypt to garbage; scale the weights or the input down"
        )
    }

    /// The model's input at `level`: against the declared input range and the level's
    /// headroom.
    pub fn input(&mut self, value: &'static str, level: usize, x: &[f64]) -> Result<()> {
        let head = self.limits.headroom(level);
        match self.limits.input {
            Some(b) if b < head => self.record(
                value,
                "input",
                level,
                x,
                b * (1.0 + 1e-12),
                format!("the declared input range [-{b}, {b}]"),
            ),
            _ => {
                let why = self.level_why(level);
                self.record(value, "input", level, x, head, why)
            }
        }
    }

    /// A value computed by `op` at `level`: against the level's headroom.
    pub fn step(
        &mut self,
        value: &'static str,
        op: &'static str,
        level: usize,
        x: &[f64],
    ) -> Result<()> {
        let why = self.level_why(level);
        self.record(value, op, level, x, self.limits.headroom(level), why)
    }

    /// `x`, the value `value` at `level`, about to be bootstrapped by the step `op`:
    /// against the bootstrap input range.
    pub fn bootstrap_input(
        &mut self,
        value: &'static str,
        op: &'static str,
        level: usize,
        x: &[f64],
    ) -> Result<()> {
        let Some(b) = self.limits.bootstrap_input else {
            return Err(Error::InvalidInput(format!(
                "`{value}` is bootstrapped ({op}), but the range limits allow no bootstrap: \
                 build them with `RangeLimits::new(&params).with_bootstrap(&preset.config)`"
            )));
        };
        self.record(
            value,
            op,
            level,
            x,
            b * (1.0 + 1e-12),
            format!(
                "the bootstrap input range [-{b}, {b}] its EvalMod polynomial is fitted for: \
                 outside it the bootstrap returns wrong values without an error; scale the \
                 layers before `{value}` down"
            ),
        )
    }

    /// Every value seen, in order.
    pub fn finish(self) -> Vec<StepRange> {
        self.seen
    }
}

/// The checks `model!`'s generated `check_params` runs: the model fits `params` (slots,
/// input level) and, if it bootstraps, `boot` returns exactly its `bootstrap_level`.
/// Run it before generating keys: every error names the setting to change.
pub fn check_model_params(
    model: &str,
    slots: usize,
    input_level: usize,
    bootstrap_level: Option<usize>,
    params: &Params,
    boot: Option<&BootstrapConfig>,
) -> Result<()> {
    let top = params.max_level();
    if slots > params.max_slots() {
        return Err(Error::InvalidParams(format!(
            "{model}: `slots: {slots}` needs N ≥ {}, these parameters have N = {} ({} slots)",
            2 * slots,
            params.n(),
            params.max_slots()
        )));
    }
    if input_level > top {
        return Err(Error::InvalidParams(format!(
            "{model}: `input_level: {input_level}` is above the parameters' top level {top}: \
             lower it to at most {top}, or choose parameters with more primes"
        )));
    }
    if let Some(bl) = bootstrap_level {
        let Some(cfg) = boot else {
            return Err(Error::InvalidParams(format!(
                "{model} bootstraps (`bootstrap_level: {bl}`): pass the bootstrapping \
                 configuration (`Some(&preset.config)`) to check the level it returns"
            )));
        };
        let out = cfg.output_level(params)?;
        if out != bl {
            return Err(Error::InvalidParams(format!(
                "{model}: `bootstrap_level: {bl}`, but this bootstrapping configuration returns \
                 level {out} with these parameters: set `bootstrap_level: {out}` (and an \
                 `input_level` of at most {top})"
            )));
        }
        if cfg.slots() != slots {
            return Err(Error::InvalidParams(format!(
                "{model}: `slots: {slots}`, but the bootstrapper refreshes {} slots: use a \
                 preset whose `log_slots` matches, or `slots: {}`",
                cfg.slots(),
                cfg.slots()
            )));
        }
    }
    Ok(())
}

/// `r` with its error, if any, wrapped in the forward-pass step it came from
/// ([`Error::at_step`]): how `model!`'s generated code names the value and the layer
/// of a run-time error.
///
/// ```
/// use fhe_dsl::{typed::step_result, Error};
/// let r: fhe_dsl::Result<()> = Err(Error::MissingKey("rotation key for step 3".into()));
/// let e = step_result(r, "c1", "fc1").unwrap_err();
/// assert!(e.to_string().starts_with("step `c1` (fc1): missing rotation key"));
/// ```
pub fn step_result<T>(r: Result<T>, value: &str, op: &str) -> Result<T> {
    r.map_err(|e| e.at_step(value, op))
}
