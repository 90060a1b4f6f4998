//! The end-to-end demo: a client encrypts a full-slot real vector, a server evaluates a
//! degree-7 polynomial (the Taylor expansion of the sigmoid) in three levels and sums all
//! slots with log2(slots) rotations, and the client decrypts and checks the result
//! against a float64 reference of the same computation.

use anyhow::{ensure, Context, Result};
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::{scales_match, Ciphertext, Ckks, Evaluator, KeyRequest, Params};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::fmt;
use std::time::{Duration, Instant};

/// Taylor coefficients of the sigmoid 1/(1+e^-x) at 0, degrees 0..=7 (even terms above
/// 0 vanish): 1/2 + x/4 − x³/48 + x⁵/480 − 17x⁷/80640.
pub const SIGMOID_TAYLOR7: [f64; 8] = [
    0.5,
    0.25,
    0.0,
    -1.0 / 48.0,
    0.0,
    1.0 / 480.0,
    0.0,
    -17.0 / 80640.0,
];

/// What the demo computes on.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Seed of the pseudo-random input vector.
    pub seed: u64,
    /// Number of slots (a power of two, at most N/2); `None` means N/2.
    pub slots: Option<usize>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            seed: 2024,
            slots: None,
        }
    }
}

/// Precision of a decrypted vector against a float64 reference.
#[derive(Clone, Copy, Debug)]
pub struct Precision {
    /// max |got − want|
    pub max_abs_err: f64,
    /// mean |got − want|
    pub mean_abs_err: f64,
}

impl Precision {
    /// Compares element-wise.
    pub fn of(got: &[f64], want: &[f64]) -> Self {
        let errs: Vec<f64> = got.iter().zip(want).map(|(g, w)| (g - w).abs()).collect();
        Precision {
            max_abs_err: errs.iter().copied().fold(0.0, f64::max),
            mean_abs_err: errs.iter().sum::<f64>() / errs.len().max(1) as f64,
        }
    }
    /// −log2 of the largest error.
    pub fn max_bits(&self) -> f64 {
        -self.max_abs_err.log2()
    }
    /// −log2 of the mean error.
    pub fn mean_bits(&self) -> f64 {
        -self.mean_abs_err.log2()
    }
}

/// Everything the demo measured.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// `Params::summary()`.
    pub params_summary: String,
    /// Backend name.
    pub backend: String,
    /// Slots used.
    pub slots: usize,
    /// Rotation steps the client generated keys for.
    pub rotation_steps: Vec<i64>,
    /// Evaluation-key bytes (seeded form, as sent to the server).
    pub eval_key_bytes: usize,
    /// Level of the fresh ciphertext.
    pub level_in: usize,
    /// Level after the polynomial.
    pub level_poly: usize,
    /// Level of the result.
    pub level_out: usize,
    /// Polynomial stage vs float64 p(x).
    pub poly_precision: Precision,
    /// Final sum (every slot) vs float64 Σ p(x_i).
    pub sum_precision: Precision,
    /// The float64 reference sum.
    pub reference_sum: f64,
    /// Slot 0 of the decrypted sum.
    pub decrypted_sum: f64,
    /// max |p(x) − sigmoid(x)| over the inputs (approximation, not encryption, error).
    pub approx_err: f64,
    /// (phase, wall time).
    pub timings: Vec<(&'static str, Duration)>,
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fhe-dsl demo: encrypted sigmoid (degree-7 Taylor) and slot sum"
        )?;
        writeln!(f)?;
        writeln!(f, "parameters   {}", self.params_summary)?;
        writeln!(f, "backend      {}", self.backend)?;
        writeln!(
            f,
            "slots        {} (pseudo-random reals in [-1, 1])",
            self.slots
        )?;
        writeln!(
            f,
            "eval keys    relinearisation + {} rotations, {:.1} MiB",
            self.rotation_steps.len(),
            self.eval_key_bytes as f64 / (1u64 << 20) as f64
        )?;
        writeln!(
            f,
            "levels       {} -> {} after the polynomial ({} used) -> {} after the sum",
            self.level_in,
            self.level_poly,
            self.level_in - self.level_poly,
            self.level_out
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "precision (bits = -log2 |error| vs float64)   max err   mean err"
        )?;
        writeln!(
            f,
            "  p(x) in every slot                          {:>7.1}   {:>8.1}",
            self.poly_precision.max_bits(),
            self.poly_precision.mean_bits()
        )?;
        writeln!(
            f,
            "  sum of all slots, every slot                {:>7.1}   {:>8.1}",
            self.sum_precision.max_bits(),
            self.sum_precision.mean_bits()
        )?;
        writeln!(
            f,
            "  sum: decrypted {:.10}, float64 {:.10}",
            self.decrypted_sum, self.reference_sum
        )?;
        writeln!(
            f,
            "  (Taylor approximation vs true sigmoid on the inputs: max err {:.2e})",
            self.approx_err
        )?;
        writeln!(f)?;
        writeln!(f, "{:<34}{:>12}", "phase", "time (ms)")?;
        let mut total = Duration::ZERO;
        for (name, d) in &self.timings {
            total += *d;
            writeln!(f, "{:<34}{:>12.1}", name, d.as_secs_f64() * 1e3)?;
        }
        writeln!(f, "{:<34}{:>12.1}", "total", total.as_secs_f64() * 1e3)
    }
}

/// Evaluates a polynomial in float64 (Horner).
pub fn poly_f64(coeffs: &[f64], x: f64) -> f64 {
    coeffs.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `ct · c`, rescaled, landing exactly at `target_scale` one level down.
///
/// When the target is the ciphertext's own scale this is `mul_const_assign` (the constant
/// is encoded at the rescale divisor). Otherwise the constant is encoded as a plaintext at
/// `target · q_level / scale`, which also absorbs the scale drift of earlier rescales
/// (Δ²/q is not Δ).
pub fn mul_const_rescale<B: Backend>(
    eval: &Evaluator<B>,
    ct: &Ciphertext<B>,
    c: f64,
    target_scale: f64,
) -> Result<Ciphertext<B>> {
    let ckks = eval.ckks();
    let mut out = ct.clone();
    if scales_match(ct.scale(), target_scale) {
        eval.mul_const_assign(&mut out, c)?;
    } else {
        let q = ckks.params().rescale_divisor(ct.level());
        let pt_scale = target_scale * q / ct.scale();
        let pt = ckks.encode_real(&vec![c; ct.slots()], ct.level(), pt_scale)?;
        eval.mul_plain_assign(&mut out, &pt)?;
    }
    eval.rescale_assign(&mut out)?;
    Ok(out)
}

fn mul_rescale<B: Backend>(
    eval: &Evaluator<B>,
    a: &Ciphertext<B>,
    b: &Ciphertext<B>,
) -> Result<Ciphertext<B>> {
    let mut out = eval.mul_relin_new(a, b)?;
    eval.rescale_assign(&mut out)?;
    Ok(out)
}

/// Evaluates the odd-plus-constant degree-7 polynomial `c` at depth 3:
/// `c0 + (c1·x + c3·x³) + x⁴·(c5·x + c7·x³)`, every addition at equal level and scale.
pub fn eval_poly7<B: Backend>(
    eval: &Evaluator<B>,
    x: &Ciphertext<B>,
    c: &[f64; 8],
) -> Result<Ciphertext<B>> {
    ensure!(
        c[2] == 0.0 && c[4] == 0.0 && c[6] == 0.0,
        "eval_poly7 evaluates c0 + odd terms; even coefficients must be 0"
    );
    ensure!(
        x.level() >= 3,
        "the degree-7 polynomial needs 3 levels, the ciphertext is at level {}",
        x.level()
    );
    // level L -> L-1
    let x2 = mul_rescale(eval, x, x)?;
    let c3x = mul_const_rescale(eval, x, c[3], x.scale())?;
    let c7x = mul_const_rescale(eval, x, c[7], x.scale())?;
    let mut x1 = x.clone();
    eval.drop_level_assign(&mut x1, 1)?;
    // level L-1 -> L-2: both halves at the scale of c3x·x2 after rescale
    let t3 = mul_rescale(eval, &c3x, &x2)?;
    let t7 = mul_rescale(eval, &c7x, &x2)?;
    let x4 = mul_rescale(eval, &x2, &x2)?;
    let mut lo = mul_const_rescale(eval, &x1, c[1], t3.scale())?;
    eval.add_assign(&mut lo, &t3)?;
    let mut hi = mul_const_rescale(eval, &x1, c[5], t7.scale())?;
    eval.add_assign(&mut hi, &t7)?;
    // level L-2 -> L-3
    let mut out = mul_rescale(eval, &x4, &hi)?;
    let lo = mul_const_rescale(eval, &lo, 1.0, out.scale())?;
    eval.add_assign(&mut out, &lo)?;
    eval.add_const_assign(&mut out, c[0])?;
    Ok(out)
}

/// Sums all `slots` slots into every slot with log2(slots) rotations.
pub fn sum_slots<B: Backend>(
    eval: &Evaluator<B>,
    ct: &Ciphertext<B>,
    slots: usize,
) -> Result<Ciphertext<B>> {
    let mut acc = ct.clone();
    let mut step = 1;
    while step < slots {
        let r = eval.rotate_new(&acc, step as i64)?;
        eval.add_assign(&mut acc, &r)?;
        step *= 2;
    }
    Ok(acc)
}

fn timed<T>(
    timings: &mut Vec<(&'static str, Duration)>,
    name: &'static str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let t = Instant::now();
    let out = f()?;
    timings.push((name, t.elapsed()));
    Ok(out)
}

/// Runs the demo on `backend`. `progress` receives one line per phase (for stderr).
pub fn run<B: Backend>(
    params: Params,
    backend: B,
    cfg: &DemoConfig,
    mut progress: impl FnMut(&str),
) -> Result<DemoReport> {
    let slots = cfg.slots.unwrap_or(params.max_slots());
    ensure!(
        slots.is_power_of_two() && slots <= params.max_slots() && slots >= 2,
        "slots must be a power of two in 2..={}, got {slots}",
        params.max_slots()
    );
    ensure!(
        params.max_level() >= 3,
        "the demo needs 3 levels; {} has {}",
        params.summary(),
        params.max_level()
    );
    let backend_name = backend.name().to_string();
    let mut timings = Vec::new();

    // ---- client: keys -------------------------------------------------------------
    progress("client: generating keys");
    let ckks = Ckks::new(params.clone(), backend);
    let rotation_steps: Vec<i64> = (0..slots.trailing_zeros()).map(|k| 1i64 << k).collect();
    let (sk, pk, evk) = timed(&mut timings, "keygen (client)", || {
        let mut kg = ckks.key_generator();
        let sk = kg.secret_key();
        let pk = kg.public_key(&sk)?;
        let req = KeyRequest::new()
            .relin()
            .rotations(rotation_steps.iter().copied());
        let evk = kg.evaluation_keys(&sk, &req)?;
        Ok((sk, pk, evk))
    })?;

    // ---- client: encode + encrypt -------------------------------------------------
    progress("client: encrypting");
    let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
    let x: Vec<f64> = (0..slots).map(|_| rng.gen_range(-1.0..=1.0)).collect();
    let ct = timed(&mut timings, "encode + encrypt (client)", || {
        let pt = ckks.encode_real(&x, params.max_level(), params.default_scale())?;
        Ok(ckks.encryptor(&pk).encrypt(&pt)?)
    })?;

    // ---- server ---------------------------------------------------------------------
    progress("server: loading keys");
    let eval = timed(&mut timings, "load eval keys (server)", || {
        ckks.evaluator(&evk).context("loading evaluation keys")
    })?;
    progress("server: evaluating the polynomial");
    let poly = timed(&mut timings, "eval: degree-7 polynomial", || {
        eval_poly7(&eval, &ct, &SIGMOID_TAYLOR7)
    })?;
    progress("server: summing slots");
    let sum = timed(&mut timings, "eval: sum (rotations)", || {
        sum_slots(&eval, &poly, slots)
    })?;

    // ---- client: decrypt ------------------------------------------------------------
    progress("client: decrypting");
    let dec = ckks.decryptor(&sk);
    let got_sum = timed(&mut timings, "decrypt + decode (client)", || {
        Ok(dec.decrypt_real(&sum)?)
    })?;
    let got_poly = dec.decrypt_real(&poly)?;

    let want_poly: Vec<f64> = x.iter().map(|&v| poly_f64(&SIGMOID_TAYLOR7, v)).collect();
    let reference_sum: f64 = want_poly.iter().sum();
    let approx_err = x
        .iter()
        .zip(&want_poly)
        .map(|(&v, &p)| (p - sigmoid(v)).abs())
        .fold(0.0, f64::max);
    Ok(DemoReport {
        params_summary: params.summary(),
        backend: backend_name,
        slots,
        rotation_steps,
        eval_key_bytes: evk.byte_size(),
        level_in: ct.level(),
        level_poly: poly.level(),
        level_out: sum.level(),
        poly_precision: Precision::of(&got_poly, &want_poly),
        sum_precision: Precision::of(&got_sum, &vec![reference_sum; slots]),
        reference_sum,
        decrypted_sum: got_sum[0],
        approx_err,
        timings,
    })
}
