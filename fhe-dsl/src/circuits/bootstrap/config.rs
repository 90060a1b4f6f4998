//! The bootstrapping configuration ([`BootstrapConfig`], a plain serialisable literal)
//! and named presets ([`BootstrapPreset`]: CKKS parameters and a configuration that fit
//! together). The EvalMod polynomials a configuration describes are fitted in `mod1`.

use super::dft::Transforms;
use crate::ckks::{galois_element, Params, ParamsLiteral};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Bootstrapping parameters (a plain, serialisable literal).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapConfig {
    /// log2 of the slot count (≤ log N − 1; N/2 is full packing).
    pub log_slots: u32,
    /// Levels of CoeffToSlot (butterfly layers merged per level).
    pub cts_levels: usize,
    /// Levels of SlotToCoeff.
    pub stc_levels: usize,
    /// Hamming weight of the ephemeral sparse secret used for ModRaise.
    pub sparse_hamming_weight: usize,
    /// Bound K on |I| (the multiple of q0 ModRaise adds); EvalMod is fitted on
    /// `[−K−½, K+½]`.
    pub k: usize,
    /// Degree of the Chebyshev interpolant of the sine (or, with `double_angle > 0`, of
    /// the cosine the double angles start from).
    pub sine_degree: usize,
    /// Double-angle steps `r` (0: interpolate the sine directly). With `r > 0` EvalMod
    /// interpolates `cos((2π(K+½)y − π/2) / 2^r)`, whose argument is `2^r` times
    /// smaller, so a much lower degree suffices, then applies `cos 2θ = 2cos²θ − 1`
    /// `r` times (one level and one product each): `cos(2π(K+½)y − π/2)` is the sine.
    #[serde(default)]
    pub double_angle: usize,
    /// log2 of q0 / Δ' where Δ' is the message scale at ModRaise.
    pub log_message_ratio: u32,
    /// Degree of the arcsine correction applied after the sine (0: none). It removes
    /// the `(2πx)²/6` relative error of `sin(2πx)/2π ≈ x`, which matters when message
    /// coefficients are large (few slots); costs `ceil(log2(deg+1))` levels.
    #[serde(default)]
    pub arcsine_degree: usize,
}

impl BootstrapConfig {
    /// Slot count.
    pub fn slots(&self) -> usize {
        1 << self.log_slots
    }

    /// Bound on `|Δ'm / q0|` (message coefficients of magnitude ≤ 4) the EvalMod
    /// functions are fitted for.
    pub fn message_bound(&self) -> f64 {
        4.0 / 2f64.powi(self.log_message_ratio as i32)
    }

    /// Total levels consumed by bootstrapping.
    pub fn depth(&self) -> Result<usize> {
        Ok(self.cts_levels + self.eval_mod_depth()? + self.stc_levels)
    }

    pub(super) fn validate(&self, params: &Params) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidParams(format!("bootstrapping: {m}")));
        if self.log_slots == 0 || self.log_slots > params.log_n() - 1 {
            return bad(format!(
                "log_slots must be in 1..={}, got {}",
                params.log_n() - 1,
                self.log_slots
            ));
        }
        if self.cts_levels == 0
            || self.stc_levels == 0
            || self.cts_levels > self.log_slots as usize
            || self.stc_levels > self.log_slots as usize
        {
            return bad(format!(
                "cts_levels ({}) and stc_levels ({}) must be in 1..={} (log_slots)",
                self.cts_levels, self.stc_levels, self.log_slots
            ));
        }
        if self.sparse_hamming_weight == 0 || self.sparse_hamming_weight > params.n() {
            return bad(format!(
                "sparse_hamming_weight must be in 1..=N, got {}",
                self.sparse_hamming_weight
            ));
        }
        if self.k == 0 || self.sine_degree < 3 {
            return bad("k must be ≥ 1 and sine_degree ≥ 3".into());
        }
        if self.double_angle > 0 && self.arcsine_degree > 0 {
            return bad("the arcsine correction follows the sine only: set double_angle or arcsine_degree, not both".into());
        }
        if self.double_angle > 8 {
            return bad(format!(
                "double_angle must be at most 8 (each step doubles the error), got {}",
                self.double_angle
            ));
        }
        let depth = self.depth()?;
        if depth > params.max_level() {
            return bad(format!(
                "needs {depth} levels (CoeffToSlot {}, EvalMod {}, SlotToCoeff {}), the \
                 parameters have {}",
                self.cts_levels,
                self.eval_mod_depth()?,
                self.stc_levels,
                params.max_level()
            ));
        }
        Ok(())
    }

    /// Level of a bootstrapped ciphertext.
    pub fn output_level(&self, params: &Params) -> Result<usize> {
        self.validate(params)?;
        Ok(params.max_level() - self.depth()?)
    }

    /// Every rotation step bootstrapping needs (trace, CoeffToSlot, SlotToCoeff).
    /// Conjugation and relinearisation keys are needed too.
    pub fn rotations(&self, params: &Params) -> Result<Vec<i64>> {
        self.validate(params)?;
        let t = Transforms::new(self, params)?;
        let mut v: Vec<i64> = t.trace_steps.clone();
        for lt in t.cts.iter().chain(&t.stc) {
            v.extend(lt.rotations());
        }
        let log_n = params.log_n();
        // deduplicate by Galois element
        let mut seen = std::collections::BTreeSet::new();
        v.retain(|&k| seen.insert(galois_element(k, log_n)) && galois_element(k, log_n) != 1);
        v.sort_unstable();
        Ok(v)
    }

    /// Every rotation step bootstrapping needs with the highest level it is applied at:
    /// the trace and CoeffToSlot stage `i` run at `max_level − i`, SlotToCoeff stage `i`
    /// at its top level minus `i` (below the CoeffToSlot and EvalMod levels). Keys
    /// generated up to these levels suffice; SlotToCoeff's are much smaller than
    /// full-level keys. Sorted by step, one entry per Galois element.
    pub fn rotation_levels(&self, params: &Params) -> Result<Vec<(i64, usize)>> {
        self.validate(params)?;
        let t = Transforms::new(self, params)?;
        let top = params.max_level();
        let stc_top = top - self.cts_levels - self.eval_mod_depth()?;
        let mut levels = std::collections::BTreeMap::new();
        let mut add = |k: i64, l: usize| {
            let g = galois_element(k, params.log_n());
            if g != 1 {
                let e = levels.entry(g).or_insert((k, l));
                e.1 = e.1.max(l);
            }
        };
        for &k in &t.trace_steps {
            add(k, top);
        }
        for (i, lt) in t.cts.iter().enumerate() {
            lt.rotations().into_iter().for_each(|k| add(k, top - i));
        }
        for (i, lt) in t.stc.iter().enumerate() {
            lt.rotations().into_iter().for_each(|k| add(k, stc_top - i));
        }
        let mut v: Vec<(i64, usize)> = levels.into_values().collect();
        v.sort_unstable();
        Ok(v)
    }
}

/// Named presets: parameters and bootstrapping configuration that fit together.
#[derive(Clone, Debug)]
pub struct BootstrapPreset {
    /// Short name.
    pub name: &'static str,
    /// The CKKS parameters.
    pub params: ParamsLiteral,
    /// The bootstrapping configuration.
    pub config: BootstrapConfig,
}

impl BootstrapPreset {
    /// Default: N = 2^16, full slots, 128-bit secure (log PQ ≈ 1714 ≤ 1772, ternary
    /// main secret; the sparse ephemeral secret (h = 32) only appears in a key modulo
    /// `q0·p`, 120 bits). 9 levels of 50 bits (Δ = 2^50) left after bootstrapping.
    ///
    /// Q: q0 60 | 9 × 50 (computation) | 3 × 50 (SlotToCoeff) | 7 × 60 (EvalMod, an odd
    /// degree-119 sine) | 3 × 58 (CoeffToSlot); P: 60 | 8 × 50; dnum 3. P's primes are
    /// below 2^50 (the CPU backend's exact-f64 vector kernels, 2–4× its scalar 64-bit
    /// path) except the first: the encapsulation key lives modulo `q0·p` and its noise
    /// grows as `q0/p` (a 50-bit `p` measured 17 bits of minimum precision, not 23).
    ///
    /// Why not double angles (`double_angle`): with this evaluator a cosine of degree
    /// 31 (enough for 3 double angles at K = 12) costs 6 levels, 9 with the angles, and
    /// degree 27 (5 + 3 = 8 levels) costs ~5 bits of precision; one more 60-bit EvalMod
    /// prime already needs P ≥ 474 bits, beyond the 1772-bit budget, and EvalMod's
    /// primes must stay near the 60-bit input scale (measured: 58-bit ones make the
    /// power basis' scales grow until the coefficients round to zero).
    pub fn n16() -> Self {
        let mut log_q = vec![60];
        log_q.extend(std::iter::repeat_n(50, 9));
        log_q.extend(std::iter::repeat_n(50, 3));
        log_q.extend(std::iter::repeat_n(60, 7));
        log_q.extend(std::iter::repeat_n(58, 3));
        BootstrapPreset {
            name: "boot-n16",
            params: ParamsLiteral {
                log_n: 16,
                log_q,
                log_p: std::iter::once(60)
                    .chain(std::iter::repeat_n(50, 8))
                    .collect(),
                level_primes: None,
                dnum: 3,
                log_scale: 50,
                secret: Default::default(),
            },
            config: BootstrapConfig {
                log_slots: 15,
                cts_levels: 3,
                stc_levels: 3,
                sparse_hamming_weight: 32,
                k: 12,
                sine_degree: 119,
                double_angle: 0,
                log_message_ratio: 8,
                arcsine_degree: 0,
            },
        }
    }

    /// Small and **insecure** (N = 2^12, full slots, 3 levels left): for fast tests, only
    /// through [`Params::new_insecure_for_tests`].
    pub fn test_small() -> Self {
        Self::small(12, 3)
    }

    /// Tiny and **insecure** (N = 2^10, 2 levels left): for unit tests on the reference
    /// backend.
    pub fn test_tiny() -> Self {
        Self::small(10, 2)
    }

    /// Medium and **insecure** (N = 2^13, 4096 slots, 9 levels left like boot-n16): for
    /// end-to-end tests of whole networks (a narrow ResNet-20 with its bootstraps).
    pub fn test_n13() -> Self {
        Self::small(13, 9)
    }

    fn small(log_n: u32, compute: usize) -> Self {
        let mut log_q = vec![60];
        log_q.extend(std::iter::repeat_n(45, compute));
        log_q.extend(std::iter::repeat_n(50, 2));
        log_q.extend(std::iter::repeat_n(60, 9));
        log_q.extend(std::iter::repeat_n(58, 2));
        let log_q_len = log_q.len();
        BootstrapPreset {
            name: match log_n {
                10 => "boot-tiny",
                13 => "boot-n13",
                _ => "boot-small",
            },
            params: ParamsLiteral {
                log_n,
                log_q,
                log_p: vec![61; 4],
                level_primes: None,
                dnum: log_q_len.div_ceil(4),
                log_scale: 45,
                secret: Default::default(),
            },
            config: BootstrapConfig {
                log_slots: log_n - 1,
                cts_levels: 2,
                stc_levels: 2,
                sparse_hamming_weight: 32,
                k: 12,
                sine_degree: 119,
                double_angle: 0,
                log_message_ratio: 8,
                arcsine_degree: 3,
            },
        }
    }

    /// A preset by name: `boot-n16`, `boot-small`, `boot-tiny`, `boot-n13`.
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "boot-n16" => Ok(Self::n16()),
            "boot-small" => Ok(Self::test_small()),
            "boot-tiny" => Ok(Self::test_tiny()),
            "boot-n13" => Ok(Self::test_n13()),
            other => Err(Error::InvalidParams(format!(
                "unknown bootstrapping preset `{other}` (known: boot-n16, boot-small, boot-tiny, boot-n13)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        let p = BootstrapPreset::n16();
        let params = Params::new(p.params.clone()).unwrap();
        assert!(params.log_pq() <= 1772.0, "{}", params.log_pq());
        assert!(p.config.output_level(&params).unwrap() >= 9);
        let tiny = BootstrapPreset::test_tiny();
        assert!(Params::new(tiny.params.clone()).is_err());
        let tp = Params::new_insecure_for_tests(tiny.params).unwrap();
        assert_eq!(tiny.config.output_level(&tp).unwrap(), 2);
    }
}
