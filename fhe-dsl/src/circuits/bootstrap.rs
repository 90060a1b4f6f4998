//! CKKS bootstrapping: ModRaise, CoeffToSlot, EvalMod, SlotToCoeff, with sparse-secret
//! encapsulation.
//!
//! Pipeline for `n` slots (`n ≤ N/2`), input at any level with scale Δ:
//!
//! 1. drop to level 0 and multiply by the integer `k = ⌊q0 / (R·Δ)⌋` so that the message
//!    occupies `1/R` of `q0` (`R = 2^log_message_ratio`);
//! 2. **encapsulation** (Bossuat et al. 2022): key-switch at level 0 from the dense main
//!    secret `s` to an ephemeral sparse secret `s'` (Hamming weight `h`) with a key that
//!    lives only modulo `q0·p` (one special prime), so the sparse secret is only ever
//!    exposed at a small modulus;
//! 3. **ModRaise** to the top level: the raw message becomes `t = Δm + e + q0·I` with
//!    `|I| ≤ K` small because `s'` is sparse; switch back from `s'` to `s` with a
//!    regular (dense-secret, full-modulus) switching key;
//! 4. for sparse slots, a trace (`log2(N/2n)` rotations) keeps the coefficients of `Y = X^{N/2n}`;
//! 5. **CoeffToSlot**: the inverse special FFT as `cts_levels` BSGS transforms (the
//!    butterfly layers merged per level); the bit reversal cancels against SlotToCoeff;
//! 6. conjugation splits real and imaginary parts (full slots: two ciphertexts; sparse
//!    slots: both packed into `2n` slots of one ciphertext);
//! 7. **EvalMod**: `sin(2π x)/(2π)` as a Chebyshev interpolant on `[−K−½, K+½]`,
//!    evaluated with target scales so the result carries `m` at the default scale;
//! 8. **SlotToCoeff**: the special FFT as `stc_levels` BSGS transforms.
//!
//! The rotation keys all this needs are derived by [`BootstrapConfig::rotations`], and
//! [`BootstrappingKeys::generate`] produces every key. A debug path
//! ([`Bootstrapper::with_range_check`]) decrypts the raised ciphertext and refuses inputs
//! whose `I` or message leaves the range the EvalMod polynomial was fitted for.

use super::add_integer_raw;
use super::linear::{EncodedLinearTransform, LinearTransform};
use super::polynomial::{evaluate_chebyshev_unit, ChebyshevPoly};
use crate::backend::Backend;
use crate::ckks::{
    galois_element, Ciphertext, Ckks, DeviceSwitchingKey, EvaluationKeys, Evaluator, KeyGenerator,
    KeyRequest, Params, ParamsLiteral, SecretKey, SwitchingKey,
};
use crate::error::{Error, Result};
use crate::math::sampling;
use crate::ring::RnsPoly;
use num_complex::Complex64;
use serde::{Deserialize, Serialize};
use std::time::Instant;

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

    /// The EvalMod polynomial: the sine `sin(2π (K+½) y) / (2π)` on `y ∈ [−1, 1]`
    /// (divided by the message bound when an arcsine correction follows, whose input it
    /// then is), or with `double_angle = r > 0` the cosine `cos((2π(K+½)y − π/2)/2^r)`
    /// the double angles start from.
    pub fn eval_mod_poly(&self) -> Result<ChebyshevPoly> {
        let kp = self.k as f64 + 0.5;
        let two_pi = std::f64::consts::TAU;
        if self.double_angle > 0 {
            let r = 2f64.powi(self.double_angle as i32);
            let quarter = std::f64::consts::FRAC_PI_2;
            return ChebyshevPoly::interpolate(
                |y| ((two_pi * kp * y - quarter) / r).cos(),
                -1.0,
                1.0,
                self.sine_degree,
            );
        }
        let div = if self.arcsine_degree > 0 {
            self.message_bound()
        } else {
            1.0
        };
        let p = ChebyshevPoly::interpolate(
            |y| (two_pi * kp * y).sin() / two_pi / div,
            -1.0,
            1.0,
            self.sine_degree,
        )?;
        Ok(odd_part(p))
    }

    /// The arcsine correction `arcsin(2π B t) / (2π)` on `t ∈ [−1, 1]` (B the message
    /// bound), if enabled: its Taylor polynomial of the configured (odd) degree, exact in
    /// its low-order terms so small messages keep their relative precision.
    pub fn arcsine_poly(&self) -> Result<Option<ChebyshevPoly>> {
        if self.arcsine_degree == 0 {
            return Ok(None);
        }
        let b = self.message_bound();
        let two_pi = std::f64::consts::TAU;
        let z = two_pi * b; // arcsin(z t) = Σ a_k (z t)^k
        let mut power = vec![0.0; self.arcsine_degree + 1];
        let mut a = 1.0; // (2k)! / (4^k (k!)^2 (2k+1))
        for k in 0..=(self.arcsine_degree - 1) / 2 {
            if k > 0 {
                a *= (2 * k - 1) as f64 / (2 * k) as f64;
            }
            power[2 * k + 1] = a / (2 * k + 1) as f64 * z.powi(2 * k as i32 + 1) / two_pi;
        }
        ChebyshevPoly::new(power_to_chebyshev(&power), -1.0, 1.0).map(Some)
    }

    /// Levels consumed by EvalMod (sine or cosine and double angles, optional arcsine).
    pub fn eval_mod_depth(&self) -> Result<usize> {
        Ok(self.eval_mod_poly()?.depth()
            + self.double_angle
            + self.arcsine_poly()?.map_or(0, |p| p.depth()))
    }

    /// Total levels consumed by bootstrapping.
    pub fn depth(&self) -> Result<usize> {
        Ok(self.cts_levels + self.eval_mod_depth()? + self.stc_levels)
    }

    fn validate(&self, params: &Params) -> Result<()> {
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

/// Converts power-basis coefficients to the Chebyshev basis (`t·T_j = (T_{j+1} + T_{|j−1|})/2`).
fn power_to_chebyshev(p: &[f64]) -> Vec<f64> {
    let n = p.len();
    let mut out = vec![0.0; n];
    // basis of t^k in Chebyshev form, built incrementally
    let mut tk = vec![0.0; n];
    tk[0] = 1.0;
    for (k, &pk) in p.iter().enumerate() {
        if k > 0 {
            let mut next = vec![0.0; n];
            for (j, &c) in tk.iter().enumerate() {
                if c == 0.0 {
                    continue;
                }
                if j == 0 {
                    next[1] += c;
                } else {
                    if j + 1 < n {
                        next[j + 1] += c / 2.0;
                    }
                    next[j - 1] += c / 2.0;
                }
            }
            tk = next;
        }
        for j in 0..n {
            out[j] += pk * tk[j];
        }
    }
    out
}

/// Keeps the odd coefficients only (the functions are odd; interpolation leaves ~1e-17
/// residues in the even ones, which would cost multiplications).
fn odd_part(mut p: ChebyshevPoly) -> ChebyshevPoly {
    for (i, c) in p.coeffs.iter_mut().enumerate() {
        if i % 2 == 0 {
            *c = 0.0;
        }
    }
    p
}

// ---- the special-FFT factors ---------------------------------------------------------

fn root(m: usize, k: usize) -> Complex64 {
    let a = std::f64::consts::TAU * (k % m) as f64 / m as f64;
    Complex64::new(a.cos(), a.sin())
}

/// `5^j mod m` for `j < count`.
fn rot_group(count: usize, m: usize) -> Vec<usize> {
    let mut v = Vec::with_capacity(count);
    let mut p = 1usize;
    for _ in 0..count {
        v.push(p);
        p = p * 5 % m;
    }
    v
}

/// One butterfly layer (half-length `h`) of the special FFT on `n` slots, as diagonals.
/// `inverse`: the layer of the inverse transform (`u+v`, `(u−v)·w̄`), without `1/2`.
fn fft_layer(n: usize, big_m: usize, h: usize, inverse: bool, rg: &[usize]) -> LinearTransform {
    let len = 2 * h;
    let lenq = 4 * len;
    let step = big_m / lenq;
    let zero = Complex64::new(0.0, 0.0);
    let one = Complex64::new(1.0, 0.0);
    let (mut d0, mut dp, mut dm) = (vec![zero; n], vec![zero; n], vec![zero; n]);
    for p in 0..n {
        let j = p % len;
        if j < h {
            d0[p] = one;
            dp[p] = if inverse {
                one
            } else {
                root(big_m, (rg[j] & (lenq - 1)) * step)
            };
        } else {
            let jj = j - h;
            if inverse {
                let w = root(big_m, (lenq - (rg[jj] & (lenq - 1))) * step);
                d0[p] = -w;
                dm[p] = w;
            } else {
                let w = root(big_m, (rg[jj] & (lenq - 1)) * step);
                d0[p] = -w;
                dm[p] = one;
            }
        }
    }
    LinearTransform::new(n, [(0, d0), (h as i64, dp), (-(h as i64), dm)])
        .expect("well-formed layer")
}

/// Splits `count` layers into `groups` contiguous groups (larger ones first).
fn group_sizes(count: usize, groups: usize) -> Vec<usize> {
    (0..groups)
        .map(|g| count / groups + usize::from(g < count % groups))
        .collect()
}

/// A transform on `n` slots seen in the `2n`-slot frame (input `n`-periodic): diagonal
/// `d` becomes `[D_d | c·D_d]`.
fn widen(lt: &LinearTransform, c: Complex64) -> LinearTransform {
    let n = lt.slots();
    let diags = lt.diagonals().iter().map(|(&d, v)| {
        // a periodic diagonal is tiled to n first
        let mut w: Vec<Complex64> = (0..n).map(|k| v[k % v.len()]).collect();
        w.extend((0..n).map(|k| v[k % v.len()] * c));
        (d as i64, w)
    });
    LinearTransform::new(2 * n, diags).expect("well-formed")
}

/// The float transforms of one configuration.
struct Transforms {
    cts: Vec<LinearTransform>,
    stc: Vec<LinearTransform>,
    trace_steps: Vec<i64>,
}

impl Transforms {
    fn new(cfg: &BootstrapConfig, params: &Params) -> Result<Self> {
        let n = cfg.slots();
        let big_m = 2 * params.n();
        let log_n_slots = cfg.log_slots as usize;
        let rg = rot_group(n, big_m);
        let sparse = n < params.max_slots();
        let gap = params.n() / (2 * n);
        let kp = cfg.k as f64 + 0.5;
        // CoeffToSlot: inverse layers h = n/2, …, 1, each with its 1/2 (the 1/n)
        let inv: Vec<LinearTransform> = (0..log_n_slots)
            .map(|i| fft_layer(n, big_m, n >> (i + 1), true, &rg).scaled(Complex64::new(0.5, 0.0)))
            .collect();
        let mut cts = Vec::new();
        let mut it = inv.into_iter();
        for size in group_sizes(log_n_slots, cfg.cts_levels) {
            let mut acc = it.next().expect("layer");
            for _ in 1..size {
                acc = it.next().expect("layer").compose(&acc)?;
            }
            cts.push(acc);
        }
        // the trace multiplies by gap; the conjugate split doubles; EvalMod wants x/(K+½)
        let c = Complex64::new(1.0 / (2.0 * gap as f64 * kp), 0.0);
        let last = cts.pop().expect("one stage").scaled(c);
        cts.push(if sparse {
            widen(&last, Complex64::new(0.0, -1.0))
        } else {
            last
        });
        // SlotToCoeff: forward layers h = 1, 2, …, n/2
        let fwd: Vec<LinearTransform> = (0..log_n_slots)
            .map(|i| fft_layer(n, big_m, 1 << i, false, &rg))
            .collect();
        let mut stc = Vec::new();
        let mut it = fwd.into_iter();
        for size in group_sizes(log_n_slots, cfg.stc_levels) {
            let mut acc = it.next().expect("layer");
            for _ in 1..size {
                acc = it.next().expect("layer").compose(&acc)?;
            }
            stc.push(acc);
        }
        if sparse {
            // [x | y] (2n slots, real) → x + i·y, n-periodic
            let one = Complex64::new(1.0, 0.0);
            let i = Complex64::new(0.0, 1.0);
            let d0: Vec<Complex64> = (0..2 * n).map(|k| if k < n { one } else { i }).collect();
            let dn: Vec<Complex64> = (0..2 * n).map(|k| if k < n { i } else { one }).collect();
            let combine = LinearTransform::new(2 * n, [(0, d0), (n as i64, dn)])?;
            let first = widen(&stc[0], one).compose(&combine)?;
            stc[0] = first;
        }
        let trace_steps = (log_n_slots..(params.log_n() as usize - 1))
            .map(|j| 1i64 << j)
            .collect();
        Ok(Transforms {
            cts,
            stc,
            trace_steps,
        })
    }
}

// ---- keys ----------------------------------------------------------------------------

/// The level-0 key from the main secret `s` to the ephemeral sparse `s'`, modulo
/// `q0·p` only (`p` the first special prime): `b = −a·s' + e + p·s`, `a` from `seed`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncapsulationKey {
    seed: [u8; 32],
    b: RnsPoly,
}

impl EncapsulationKey {
    /// Serialised size in bytes (seeded form).
    pub fn byte_size(&self) -> usize {
        32 + self.b.data.len() * 8
    }
}

/// Every key bootstrapping needs (plus whatever extra evaluation keys were asked for).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BootstrappingKeys {
    /// Relinearisation, conjugation and rotation keys (bootstrapping's and the extras).
    pub evk: EvaluationKeys,
    /// Dense → sparse at level 0 (small modulus).
    pub to_sparse: EncapsulationKey,
    /// Sparse → dense over the full modulus.
    pub from_sparse: SwitchingKey,
}

impl BootstrappingKeys {
    /// Generates the keys for `config` under `sk`, together with the evaluation keys in
    /// `extra` (the program's own rotations, say). Bootstrapping's rotation keys are
    /// generated only up to the level each step is used at
    /// ([`BootstrapConfig::rotation_levels`]); a step also in `extra` gets one key at
    /// the higher of the two levels.
    pub fn generate<B: Backend>(
        kg: &mut KeyGenerator<'_, B>,
        ckks: &Ckks<B>,
        sk: &SecretKey,
        config: &BootstrapConfig,
        extra: &KeyRequest,
    ) -> Result<Self> {
        let params = ckks.params();
        let mut req = extra.clone().relin().conjugate();
        req.rotations_up_to.extend(config.rotation_levels(params)?);
        let evk = kg.evaluation_keys(sk, &req);
        let sparse = kg.sparse_secret_key(config.sparse_hamming_weight);
        let from_sparse = kg.switching_key_between(&sparse, sk);
        // dense → sparse modulo q0·p
        let (be, ctx) = (ckks.backend(), params.ring());
        let pa = ctx.p_indices().start;
        let primes = [0usize, pa];
        let seed = sampling::fresh_seed(kg.rng());
        let a = ckks.uniform(&seed, 0, &primes)?;
        let e = sampling::gaussian(kg.rng(), params.n());
        let mut b = ckks.small_to_ntt(&e, &primes)?;
        let mut as_ = a;
        be.mul_assign(ctx, &mut as_, &ckks.small_to_ntt(&sparse.coeffs, &primes)?);
        be.sub_assign(ctx, &mut b, &as_);
        let mut s0 = ckks.small_to_ntt(&sk.coeffs, &[0])?;
        let q0 = ctx.modulus(0);
        be.mul_scalar_assign(ctx, &mut s0, &[q0.reduce(ctx.modulus(pa).value())]);
        let gadget = be.concat(ctx, &s0, &be.zero(ctx, &[pa]));
        be.add_assign(ctx, &mut b, &gadget);
        Ok(BootstrappingKeys {
            evk,
            to_sparse: EncapsulationKey {
                seed,
                b: be.download(ctx, &b)?,
            },
            from_sparse,
        })
    }

    /// Total bytes (seeded form).
    pub fn byte_size(&self) -> usize {
        self.evk.byte_size() + self.to_sparse.byte_size() + self.from_sparse.byte_size()
    }
}

// ---- the bootstrapper ----------------------------------------------------------------

/// Wall-clock time of each stage of one bootstrapping, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BootstrapTimings {
    /// Scale-up, encapsulation, ModRaise, switch back, trace.
    pub mod_raise: f64,
    /// CoeffToSlot including the conjugate split.
    pub coeff_to_slot: f64,
    /// EvalMod (both halves for full slots).
    pub eval_mod: f64,
    /// SlotToCoeff including the recombination.
    pub slot_to_coeff: f64,
    /// Total.
    pub total: f64,
}

/// A bootstrapper built from parameters, a configuration and keys. See the
/// [module docs](self).
pub struct Bootstrapper<B: Backend> {
    ckks: Ckks<B>,
    eval: Evaluator<B>,
    config: BootstrapConfig,
    cts: Vec<Stage<B>>,
    stc: Vec<Stage<B>>,
    trace_steps: Vec<i64>,
    sine: Vec<f64>,
    arcsine: Option<Vec<f64>>,
    eval_mod_depth: usize,
    to_sparse: (B::Poly, B::Poly),
    from_sparse: DeviceSwitchingKey<B>,
    /// NTT form of X^{N/2} over every Q prime (multiplies slots by i).
    monomial_i: B::Poly,
    check: Option<B::Poly>,
    /// log2 of the factor by which EvalMod's output scale exceeds Δ.
    boost_log: f64,
}

/// Where a bootstrapper keeps the CoeffToSlot/SlotToCoeff diagonals between
/// bootstraps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransformStorage {
    /// Encoded once, at their levels (over `Q_l·P`): fastest; at N = 2^16 about 3 GB.
    #[default]
    Precomputed,
    /// Kept as complex diagonals (tens of MB) and encoded just before use in each
    /// bootstrap: the same ciphertext, for a little encoding time per bootstrap.
    Streamed,
}

/// One CoeffToSlot/SlotToCoeff stage as stored.
enum Stage<B: Backend> {
    Encoded(EncodedLinearTransform<B>),
    Streamed {
        lt: LinearTransform,
        level: usize,
        pt_scale: f64,
    },
}

impl<B: Backend> Stage<B> {
    fn new(
        ckks: &Ckks<B>,
        lt: LinearTransform,
        level: usize,
        pt_scale: f64,
        storage: TransformStorage,
    ) -> Result<Self> {
        Ok(match storage {
            TransformStorage::Precomputed => {
                Stage::Encoded(lt.encode_with_scale(ckks, level, pt_scale)?)
            }
            TransformStorage::Streamed => {
                lt.check_level(ckks, level)?;
                Stage::Streamed {
                    lt,
                    level,
                    pt_scale,
                }
            }
        })
    }

    fn apply(&self, eval: &Evaluator<B>, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        match self {
            Stage::Encoded(e) => e.apply(eval, ct),
            Stage::Streamed {
                lt,
                level,
                pt_scale,
            } => {
                if ct.level < *level {
                    return Err(Error::LevelMismatch {
                        op: "bootstrapping transform (ciphertext below its level)",
                        left: ct.level,
                        right: *level,
                    });
                }
                let mut x = ct.clone();
                let extra = x.level - *level;
                if extra > 0 {
                    eval.drop_level_assign(&mut x, extra)?;
                }
                // double hoisting throughout: the same ciphertext as the encoded stage
                lt.apply_streaming_with(eval, &x, *pt_scale, false)
            }
        }
    }
}

impl<B: Backend> Bootstrapper<B> {
    /// Builds the bootstrapper: validates the configuration, uploads the keys and
    /// encodes the CoeffToSlot/SlotToCoeff diagonals at their levels.
    pub fn new(ckks: &Ckks<B>, config: BootstrapConfig, keys: &BootstrappingKeys) -> Result<Self> {
        config.validate(ckks.params())?;
        let eval = ckks.evaluator(&keys.evk)?;
        Self::with_evaluator(
            ckks,
            config,
            eval,
            &keys.to_sparse,
            &keys.from_sparse,
            TransformStorage::Precomputed,
        )
    }

    /// Like [`new`](Self::new), consuming the keys so that their seeded copies are
    /// dropped as they are uploaded (a server's peak memory is then the uploaded keys).
    /// `storage` chooses whether the CoeffToSlot/SlotToCoeff diagonals are encoded once
    /// or per bootstrap.
    pub fn from_keys(
        ckks: &Ckks<B>,
        config: BootstrapConfig,
        keys: BootstrappingKeys,
        storage: TransformStorage,
    ) -> Result<Self> {
        config.validate(ckks.params())?;
        let BootstrappingKeys {
            evk,
            to_sparse,
            from_sparse,
        } = keys;
        let eval = ckks.evaluator_from(evk)?;
        Self::with_evaluator(ckks, config, eval, &to_sparse, &from_sparse, storage)
    }

    fn with_evaluator(
        ckks: &Ckks<B>,
        config: BootstrapConfig,
        eval: Evaluator<B>,
        to_sparse: &EncapsulationKey,
        from_sparse: &SwitchingKey,
        storage: TransformStorage,
    ) -> Result<Self> {
        let params = ckks.params().clone();
        for k in config.rotations(&params)? {
            if !eval.has_rotation_key(k) {
                return Err(Error::MissingKey(format!(
                    "rotation key for step {k} (needed by bootstrapping)"
                )));
            }
        }
        let t = Transforms::new(&config, &params)?;
        let top = params.max_level();
        let cts = t
            .cts
            .into_iter()
            .enumerate()
            .map(|(i, lt)| {
                let level = top - i;
                Stage::new(ckks, lt, level, params.rescale_divisor(level), storage)
            })
            .collect::<Result<Vec<_>>>()?;
        let poly = config.eval_mod_poly()?;
        let arcsine = config.arcsine_poly()?.map(|p| p.coeffs);
        let eval_mod_depth = config.eval_mod_depth()?;
        let stc_top = top - config.cts_levels - eval_mod_depth;
        // EvalMod outputs the coefficients (≈ 2^{-log_slots/2} of the slot values) at the
        // raised scale Δ·2^c, c ≈ log_slots/2 + 2, so the noise SlotToCoeff adds is not
        // amplified by the DFT gain; each stage gives back its share of 2^c.
        let boost_log = (config.log_slots as f64 / 2.0).ceil() + 2.0;
        let sizes = group_sizes(config.log_slots as usize, config.stc_levels);
        let stc = t
            .stc
            .into_iter()
            .zip(&sizes)
            .enumerate()
            .map(|(i, (lt, &layers))| {
                let give = boost_log * layers as f64 / config.log_slots as f64;
                let q = params.rescale_divisor(stc_top - i);
                Stage::new(ckks, lt, stc_top - i, q / 2f64.powf(give), storage)
            })
            .collect::<Result<Vec<_>>>()?;
        let (be, ctx) = (ckks.backend(), params.ring());
        let pa = ctx.p_indices().start;
        let key = to_sparse;
        if key.b.primes != [0, pa] || key.b.n != params.n() {
            return Err(Error::ParamsMismatch(
                "encapsulation key was generated for other parameters".into(),
            ));
        }
        let to_sparse = (
            be.upload(ctx, key.b.clone())?,
            ckks.uniform(&key.seed, 0, &[0, pa])?,
        );
        let from_sparse = eval.upload_switching_key(from_sparse)?;
        let q = params.q_primes_at(top);
        let mut mono = RnsPoly::zero(params.n(), &q);
        for i in 0..q.len() {
            mono.limb_mut(i)[params.n() / 2] = 1;
        }
        let mut monomial_i = be.upload(ctx, mono)?;
        be.ntt(ctx, &mut monomial_i);
        Ok(Bootstrapper {
            ckks: ckks.clone(),
            eval,
            config,
            cts,
            stc,
            trace_steps: t.trace_steps,
            sine: poly.coeffs,
            arcsine,
            eval_mod_depth,
            to_sparse,
            from_sparse,
            monomial_i,
            check: None,
            boost_log,
        })
    }

    /// Enables the debug range check: every bootstrap decrypts the raised ciphertext
    /// with `sk` and returns an error naming the fitted range when `|I| > K` or the
    /// message is too large for the sine approximation. Slow (one decryption); for
    /// debugging and simulation runs, never in production (it holds the secret key).
    pub fn with_range_check(mut self, sk: &SecretKey) -> Self {
        self.check = Some(crate::ckks::generated(
            self.ckks.small_to_ntt(&sk.coeffs, &[0, 1]),
        ));
        self
    }

    /// The evaluator holding the bootstrapping keys (and any extra keys requested).
    pub fn evaluator(&self) -> &Evaluator<B> {
        &self.eval
    }

    /// The configuration.
    pub fn config(&self) -> &BootstrapConfig {
        &self.config
    }

    /// Level of bootstrapped ciphertexts.
    pub fn output_level(&self) -> usize {
        self.ckks.params().max_level()
            - self.config.cts_levels
            - self.eval_mod_depth
            - self.config.stc_levels
    }

    /// Refreshes a ciphertext: same message (up to the bootstrapping error) at
    /// [`output_level`](Self::output_level) and the default scale.
    pub fn bootstrap(&self, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        Ok(self.bootstrap_timed(ct)?.0)
    }

    /// Bootstraps two real-valued ciphertexts with one bootstrap: `a + i·b` is refreshed
    /// and split again with one conjugation, `a = (z + z̄)/2`, `b = −i(z − z̄)/2` — the
    /// halving is exact bookkeeping (the outputs carry twice the usual scale) and the
    /// multiplications by `±i` are monomial products, so no level is spent beyond the
    /// bootstrap's. Both inputs must hold real values (any imaginary part leaks into
    /// the other output) at the same scale; the higher one is dropped to the other's
    /// level.
    pub fn bootstrap_two_real(
        &self,
        a: &Ciphertext<B>,
        b: &Ciphertext<B>,
    ) -> Result<(Ciphertext<B>, Ciphertext<B>)> {
        if a.slots != b.slots {
            return Err(Error::InvalidInput(format!(
                "bootstrap_two_real: {} and {} slots",
                a.slots, b.slots
            )));
        }
        if (a.scale / b.scale - 1.0).abs() > 1e-9 {
            return Err(Error::ScaleMismatch {
                op: "bootstrap_two_real",
                left: a.scale,
                right: b.scale,
            });
        }
        let (mut a, mut b) = (a.clone(), b.clone());
        let level = a.level.min(b.level);
        for x in [&mut a, &mut b] {
            let d = x.level - level;
            if d > 0 {
                self.eval.drop_level_assign(x, d)?;
            }
        }
        b.scale = a.scale;
        self.mul_by_i(&mut b);
        let z = self.bootstrap(&self.eval.add_new(&a, &b)?)?;
        let zc = self.eval.conjugate_new(&z)?;
        let mut re = self.eval.add_new(&z, &zc)?;
        re.scale *= 2.0;
        let mut im = self.eval.sub_new(&z, &zc)?;
        self.mul_by_i(&mut im);
        self.eval.neg_assign(&mut im);
        im.scale *= 2.0;
        Ok((re, im))
    }

    /// [`bootstrap`](Self::bootstrap) with the time of each stage.
    pub fn bootstrap_timed(&self, ct: &Ciphertext<B>) -> Result<(Ciphertext<B>, BootstrapTimings)> {
        let t0 = Instant::now();
        let params = self.ckks.params();
        let n = self.config.slots();
        if ct.degree() != 1 {
            return Err(Error::Degree {
                op: "bootstrap",
                expected: 1,
                found: ct.degree(),
            });
        }
        if ct.slots > n {
            return Err(Error::InvalidInput(format!(
                "bootstrapper is configured for {n} slots, ciphertext has {}",
                ct.slots
            )));
        }
        let out_slots = ct.slots;
        let raised = self.mod_raise(ct)?;
        // asynchronous backends (GPU) are timed to completion of each stage
        self.ckks.backend().synchronize()?;
        let t1 = Instant::now();
        // CoeffToSlot
        let mut x = raised;
        for lt in &self.cts {
            x = lt.apply(&self.eval, &x)?;
        }
        let conj = self.eval.conjugate_new(&x)?;
        let halves = if n < params.max_slots() {
            let mut y = self.eval.add_new(&x, &conj)?;
            y.slots = 2 * n;
            vec![y]
        } else {
            let re = self.eval.add_new(&x, &conj)?;
            let mut im = self.eval.sub_new(&x, &conj)?;
            self.mul_by_i(&mut im);
            self.eval.neg_assign(&mut im);
            vec![re, im]
        };
        self.ckks.backend().synchronize()?;
        let t2 = Instant::now();
        // EvalMod: sin(2π(K+½)y)/(2π) ≈ Δ'm/q0; asking for scale Δ·q0/Δ' makes the raw
        // value Δ·m, i.e. the message m at the default scale Δ.
        let delta = params.default_scale() * 2f64.powf(self.boost_log);
        let in_scale = halves[0].scale; // = q0 (set at ModRaise)
        let target = delta * in_scale / self.message_scale(ct.scale);
        let mut modded = Vec::with_capacity(halves.len());
        for h in &halves {
            let mut r = match &self.arcsine {
                None if self.config.double_angle > 0 => self.cos_double_angle(h, target)?,
                None => evaluate_chebyshev_unit(&self.eval, h, &self.sine, target)?,
                Some(asin) => {
                    let s = evaluate_chebyshev_unit(&self.eval, h, &self.sine, in_scale)?;
                    evaluate_chebyshev_unit(&self.eval, &s, asin, target)?
                }
            };
            r.scale = delta;
            modded.push(r);
        }
        self.ckks.backend().synchronize()?;
        let t3 = Instant::now();
        // SlotToCoeff
        let mut y = if modded.len() == 2 {
            let mut im = modded.pop().expect("two halves");
            self.mul_by_i(&mut im);
            let mut re = modded.pop().expect("two halves");
            self.eval.add_assign(&mut re, &im)?;
            re
        } else {
            modded.pop().expect("one")
        };
        for lt in &self.stc {
            y = lt.apply(&self.eval, &y)?;
            y.slots = n;
        }
        y.slots = out_slots;
        y.scale = params.default_scale();
        self.ckks.backend().synchronize()?;
        let t4 = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        Ok((
            y,
            BootstrapTimings {
                mod_raise: ms(t0, t1),
                coeff_to_slot: ms(t1, t2),
                eval_mod: ms(t2, t3),
                slot_to_coeff: ms(t3, t4),
                total: ms(t0, t4),
            },
        ))
    }

    /// The integer ScaleUp factor and the resulting message scale Δ' for input scale `s`.
    fn scale_up(&self, s: f64) -> f64 {
        let q0 = self.ckks.params().q()[0] as f64;
        let r = 2f64.powi(self.config.log_message_ratio as i32);
        (q0 / (r * s)).floor().max(1.0)
    }

    /// EvalMod by double angles: the cosine interpolant, then `r` times
    /// `c ← 2c² − 1`, the last step folding in the `1/(2π)`, so the result is
    /// `sin(2πt)/(2π)` at exactly `target`. Scales are chosen backwards from `target`
    /// so that each square lands where the next step needs it with no constant
    /// multiplication: step `i` squares at scale `s_i` and rescales by `q_i`,
    /// `s_i = √(2 q_i s_{i+1})`, and the last `s = √(target · q / π)`.
    fn cos_double_angle(&self, h: &Ciphertext<B>, target: f64) -> Result<Ciphertext<B>> {
        let params = self.ckks.params();
        let r = self.config.double_angle;
        let pi = std::f64::consts::PI;
        let cheb_depth = self.eval_mod_depth - r;
        if h.level < cheb_depth + r {
            return Err(Error::LevelTooLow {
                op: "EvalMod (double angle)",
                needed: cheb_depth + r,
                level: h.level,
            });
        }
        let out0 = h.level - cheb_depth;
        let mut scales = vec![target; r + 1];
        for i in (0..r).rev() {
            let q = params.rescale_divisor(out0 - i);
            scales[i] = if i == r - 1 {
                (target * q / pi).sqrt()
            } else {
                (2.0 * q * scales[i + 1]).sqrt()
            };
        }
        let mut c = evaluate_chebyshev_unit(&self.eval, h, &self.sine, scales[0])?;
        for i in 0..r {
            let s = c.scale;
            let mut p = self.eval.mul_new(&c, &c)?;
            // raw s²c² − s²/2: the value 2c² − 1 at scale s²/2, or on the last step
            // (2c² − 1)/(2π) at scale π s²
            add_integer_raw(&self.eval, &mut p, -(s * s / 2.0).round());
            p.scale = if i + 1 == r { pi * s * s } else { s * s / 2.0 };
            self.eval.relinearize_rescale_assign(&mut p)?;
            c = p;
        }
        // equal up to rounding
        c.scale = target;
        Ok(c)
    }

    fn message_scale(&self, s: f64) -> f64 {
        s * self.scale_up(s)
    }

    fn mul_by_i(&self, ct: &mut Ciphertext<B>) {
        let ctx = self.ckks.params().ring();
        for p in &mut ct.parts {
            self.ckks.backend().mul_assign(ctx, p, &self.monomial_i);
        }
    }

    /// Scale-up, encapsulation, ModRaise, switch back, trace; optional range check.
    fn mod_raise(&self, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        let params = self.ckks.params();
        let (be, ctx) = (self.ckks.backend(), params.ring());
        let mut c = ct.clone();
        if c.level > 0 {
            let d = c.level;
            self.eval.drop_level_assign(&mut c, d)?;
        }
        let k = self.scale_up(c.scale);
        if k > 1.0 {
            super::mul_integer_raw(&self.eval, &mut c, k);
        }
        // dense → sparse at level 0, key modulo q0·p
        let pa = ctx.p_indices().start;
        let c1 = &c.parts[1];
        let mut coeff = c1.clone();
        be.intt(ctx, &mut coeff);
        let mut raised = be.base_convert(ctx, &coeff, &[pa]);
        be.ntt(ctx, &mut raised);
        let full = be.concat(ctx, c1, &raised);
        let mut u0 = full.clone();
        be.mul_assign(ctx, &mut u0, &self.to_sparse.0);
        let mut u1 = full;
        be.mul_assign(ctx, &mut u1, &self.to_sparse.1);
        be.div_round_by_tail(ctx, &mut u0, 1);
        be.div_round_by_tail(ctx, &mut u1, 1);
        be.add_assign(ctx, &mut u0, &c.parts[0]);
        // ModRaise
        let top = params.max_level();
        let q = params.q_primes_at(top);
        let r0 = be.mod_raise(ctx, &u0, &q);
        let r1 = be.mod_raise(ctx, &u1, &q);
        let sparse_ct = Ciphertext {
            parts: vec![r0, r1],
            level: top,
            scale: params.q()[0] as f64,
            slots: c.slots,
        };
        let mut x = self.eval.switch_key_new(&sparse_ct, &self.from_sparse)?;
        if let Some(s) = &self.check {
            self.range_check(&x, s, c.scale * k)?;
        }
        // trace onto the coefficients of Y = X^{N/2n}
        for &step in &self.trace_steps {
            let r = self.eval.rotate_new(&x, step)?;
            self.eval.add_assign(&mut x, &r)?;
        }
        x.slots = self.config.slots();
        Ok(x)
    }

    fn range_check(&self, x: &Ciphertext<B>, s: &B::Poly, msg_scale: f64) -> Result<()> {
        let params = self.ckks.params();
        let (be, ctx) = (self.ckks.backend(), params.ring());
        let primes = [0usize, 1];
        let mut acc = be.select(ctx, &x.parts[1], &primes);
        be.mul_assign(ctx, &mut acc, s);
        be.add_assign(ctx, &mut acc, &x.parts[0]);
        be.intt(ctx, &mut acc);
        let host = be.download(ctx, &acc)?;
        let q0 = params.q()[0] as f64;
        let (mut max_i, mut max_frac) = (0.0f64, 0.0f64);
        for k in 0..params.n() {
            let t = num_traits::ToPrimitive::to_f64(&ctx.crt_coeff(&host, k)).unwrap_or(f64::NAN);
            let v = t / q0;
            let i = v.round();
            max_i = max_i.max(i.abs());
            max_frac = max_frac.max((v - i).abs());
        }
        let kk = self.config.k as f64;
        if max_i.is_nan() || max_i > kk {
            return Err(Error::InvalidInput(format!(
                "bootstrapping range check: ModRaise produced |I| = {max_i}, outside the \
                 range [-{kk}, {kk}] the EvalMod polynomial was fitted for (interval \
                 [-{0}, {0}] in units of q0); raise `k` or lower the sparse Hamming weight",
                kk + 0.5
            )));
        }
        // message coefficients: |Δ'm/q0| must stay small for sin(2πx)/2π ≈ x
        let bound = self.config.message_bound();
        if max_frac.is_nan() || max_frac > bound {
            return Err(Error::InvalidInput(format!(
                "bootstrapping range check: the message reaches at least {:.3e}·q0 (coefficient \
                 magnitude {:.3} at scale 2^{:.1}), beyond the supported range ±{bound:.3e}·q0 \
                 (coefficients of magnitude ≤ 4; keep slot values within about [-1, 1])",
                max_frac,
                max_frac * q0 / msg_scale,
                msg_scale.log2()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::ReferenceBackend;
    use crate::ckks::encoder::Encoder;

    fn bitrev(v: &[Complex64]) -> Vec<Complex64> {
        let n = v.len();
        let bits = n.trailing_zeros();
        (0..n)
            .map(|i| v[crate::math::bit_reverse(i, bits)])
            .collect()
    }

    #[test]
    fn factored_dft_matches_encoder() {
        let params = Params::new_insecure_for_tests(BootstrapPreset::test_tiny().params).unwrap();
        let enc = Encoder::new(params.log_n());
        for log_slots in [9u32, 5] {
            let mut cfg = BootstrapPreset::test_tiny().config;
            cfg.log_slots = log_slots;
            let n = cfg.slots();
            let gap = params.n() / (2 * n);
            let t = Transforms::new(&cfg, &params).unwrap();
            let u: Vec<Complex64> = (0..n)
                .map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()))
                .collect();
            let mut coeffs = vec![0.0; params.n()];
            for i in 0..n {
                coeffs[i * gap] = u[i].re;
                coeffs[params.n() / 2 + i * gap] = u[i].im;
            }
            let mut z = vec![Complex64::new(0.0, 0.0); n];
            enc.coeffs_to_values(&coeffs, n, &mut z);
            // CoeffToSlot (float): z → bitrev(u) · c (sparse: [w | -i w])
            let mut w = z.clone();
            let kp = cfg.k as f64 + 0.5;
            for lt in &t.cts {
                if lt.slots() == 2 * n && w.len() == n {
                    w.extend_from_slice(&w.clone());
                }
                w = lt.apply_plain(&w);
            }
            let want = bitrev(&u);
            let c = 1.0 / (2.0 * gap as f64 * kp);
            for k in 0..n {
                assert!((w[k] - want[k] * c).norm() < 1e-12, "cts slot {k}");
            }
            // SlotToCoeff from bitrev(u) back to z
            let mut y: Vec<Complex64> = want.clone();
            if n < params.max_slots() {
                let mut yy: Vec<Complex64> =
                    want.iter().map(|z| Complex64::new(z.re, 0.0)).collect();
                yy.extend(want.iter().map(|z| Complex64::new(z.im, 0.0)));
                y = yy;
            }
            for lt in &t.stc {
                y = lt.apply_plain(&y);
                y.truncate(n);
                if lt.slots() > n {
                    // n-periodic output
                }
            }
            for k in 0..n {
                assert!(
                    (y[k] - z[k]).norm() < 1e-9,
                    "stc slot {k}: {} vs {}",
                    y[k],
                    z[k]
                );
            }
        }
    }

    #[test]
    fn eval_mod_polynomial_is_accurate() {
        let cfg = BootstrapPreset::n16().config;
        let p = cfg.eval_mod_poly().unwrap();
        let kp = cfg.k as f64 + 0.5;
        let mut cfg_asin = BootstrapPreset::test_tiny().config;
        cfg_asin.k = cfg.k;
        assert_eq!(cfg_asin.eval_mod_depth().unwrap(), 9);
        // sine then arcsine recovers x − round(x) within the message bound
        let (s, a) = (
            cfg_asin.eval_mod_poly().unwrap(),
            cfg_asin.arcsine_poly().unwrap().unwrap(),
        );
        for i in 0..2000 {
            let frac = cfg_asin.message_bound() * (-1.0 + 2.0 * i as f64 / 1999.0);
            let x = 7.0 + frac;
            let got = a.evaluate(s.evaluate(x / kp));
            let rel = ((got - frac) / frac).abs();
            let bar = if frac.abs() <= cfg_asin.message_bound() / 8.0 {
                2f64.powi(-27)
            } else {
                2f64.powi(-16)
            };
            assert!(rel < bar, "frac {frac}: got {got}, relative error {rel:e}");
        }
        let tau = std::f64::consts::TAU;
        let mut worst = 0.0f64;
        for i in 0..20000 {
            let y = -1.0 + 2.0 * i as f64 / 19999.0;
            let want = (tau * kp * y).sin() / tau;
            worst = worst.max((p.evaluate(y) - want).abs());
        }
        assert!(
            worst < 2f64.powi(-45),
            "sine interpolation error 2^{:.1}",
            worst.log2()
        );
        assert_eq!(cfg.eval_mod_depth().unwrap(), 7);
        // double angles: a degree-31 cosine and 3 steps give the same sine, each step at
        // most quadrupling the error
        let mut da = cfg.clone();
        da.double_angle = 3;
        da.sine_degree = 31;
        let c0 = da.eval_mod_poly().unwrap();
        let mut worst = 0.0f64;
        for i in 0..20000 {
            let y = -1.0 + 2.0 * i as f64 / 19999.0;
            let mut c = c0.evaluate(y);
            for _ in 0..da.double_angle {
                c = 2.0 * c * c - 1.0;
            }
            worst = worst.max((c / tau - (tau * kp * y).sin() / tau).abs());
        }
        assert!(
            worst < 2f64.powi(-36),
            "double-angle error 2^{:.1}",
            worst.log2()
        );
        assert_eq!(da.eval_mod_depth().unwrap(), 6 + 3);
        da.arcsine_degree = 3;
        assert!(da
            .validate(&Params::new(BootstrapPreset::n16().params).unwrap())
            .is_err());
    }

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

    fn run_tiny(log_slots: u32) -> (f64, f64) {
        run_tiny_with(log_slots, |_| {})
    }

    fn run_tiny_with(log_slots: u32, edit: impl Fn(&mut BootstrapConfig)) -> (f64, f64) {
        let preset = BootstrapPreset::test_tiny();
        let params = Params::new_insecure_for_tests(preset.params).unwrap();
        let mut cfg = preset.config;
        cfg.log_slots = log_slots;
        edit(&mut cfg);
        let ckks = Ckks::new(params.clone(), ReferenceBackend);
        let mut kg = KeyGenerator::from_seed(&ckks, 11);
        let sk = kg.secret_key();
        let pk = kg.public_key(&sk);
        let keys =
            BootstrappingKeys::generate(&mut kg, &ckks, &sk, &cfg, &KeyRequest::new()).unwrap();
        let bs = Bootstrapper::new(&ckks, cfg.clone(), &keys)
            .unwrap()
            .with_range_check(&sk);
        let n = cfg.slots();
        let v: Vec<Complex64> = (0..n)
            .map(|i| {
                Complex64::new(
                    ((i * 7919) % 1000) as f64 / 500.0 - 1.0,
                    ((i * 104729) % 997) as f64 / 498.5 - 1.0,
                )
            })
            .collect();
        let ct = ckks
            .encryptor(&pk)
            .encrypt(&ckks.encode(&v, 0, params.default_scale()).unwrap())
            .unwrap();
        let out = bs.bootstrap(&ct).unwrap();
        assert_eq!(out.level(), bs.output_level());
        assert_eq!(out.scale(), params.default_scale());
        let got = ckks.decryptor(&sk).decrypt_complex(&out).unwrap();
        let p = super::super::precision_bits(&got, &v);
        eprintln!(
            "tiny bootstrap, {n} slots: min {:.1} mean {:.1} bits",
            p.0, p.1
        );
        p
    }

    #[test]
    fn bootstrap_full_slots_reference_backend() {
        let (min, mean) = run_tiny(9);
        assert!(
            min > 18.0 && mean > 22.0,
            "full slots: min {min:.1} mean {mean:.1} bits"
        );
    }

    #[test]
    fn bootstrap_double_angle_reference_backend() {
        let (min, mean) = run_tiny_with(9, |c| {
            c.double_angle = 3;
            c.sine_degree = 31;
            c.arcsine_degree = 0;
        });
        // as precise as the direct sine without arcsine correction (measured: both
        // 21.3 min / 22.5 mean bits): the approximation is not what limits it
        let (smin, smean) = run_tiny_with(9, |c| c.arcsine_degree = 0);
        assert!(
            (mean - smean).abs() < 0.5 && min > smin - 0.5,
            "double angle: min {min:.1} mean {mean:.1} bits; sine: {smin:.1} / {smean:.1}"
        );
        assert!(mean > 21.0, "double angle: mean {mean:.1} bits");
    }

    #[test]
    fn bootstrap_sparse_slots_reference_backend() {
        let (min, mean) = run_tiny(4);
        assert!(
            min > 18.0 && mean > 22.0,
            "sparse slots: min {min:.1} mean {mean:.1} bits"
        );
    }
}
