//! The encrypted [`Engine`]: each program step on CKKS ciphertexts, with exact scale
//! management (every linear layer lands on the scale the next rescale divides by, so
//! squares keep the scale stable and residual branches meet at equal scales), a
//! per-layer time table and a progress bar.

use super::program::{Engine, LayerStat};
use anyhow::{anyhow, Result};
use fhe_dsl::backend::Backend;
use fhe_dsl::circuits::Bootstrapper;
use fhe_dsl::ckks::{Ciphertext, Decryptor, Evaluator};
use fhe_dsl::nn::{spatial_sum, spatial_sum_steps, square, PackedLinear};
use fhe_dsl::tensor::Layout;
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::time::Instant;

/// The secret-key side of [`Encrypted::with_layer_check`]: a decryptor and the exact
/// twin's slots per layer name.
type LayerCheck<'a, B> = (&'a Decryptor<B>, BTreeMap<String, Vec<f64>>);

/// Runs program steps on ciphertexts.
pub struct Encrypted<'a, B: Backend> {
    eval: &'a Evaluator<B>,
    boot: &'a Bootstrapper<B>,
    /// Per-layer report (name, output level, rotations, diagonals, seconds).
    pub layers: Vec<LayerStat>,
    /// Bootstraps performed.
    pub bootstraps: usize,
    /// Rotations performed (key switches for rotations, bootstrapping's excluded).
    pub rotations: usize,
    bar: Option<ProgressBar>,
    check: Option<LayerCheck<'a, B>>,
    /// With [`with_layer_check`](Self::with_layer_check): each layer's max
    /// |decrypted − exact twin| over all slots, in program order.
    pub layer_errors: Vec<(String, f64)>,
}

impl<'a, B: Backend> Encrypted<'a, B> {
    /// Diagnostics: decrypts every layer's output and compares it with the exact
    /// twin's (`trace`: layer name → slots, from a zero-noise
    /// [`NoisyTwin`](super::program::NoisyTwin)). Needs the secret key, so only for a
    /// client checking precision, never a real server; one decryption per layer.
    pub fn with_layer_check(
        mut self,
        dec: &'a Decryptor<B>,
        trace: impl IntoIterator<Item = (String, Vec<f64>)>,
    ) -> Self {
        self.check = Some((dec, trace.into_iter().collect()));
        self
    }

    /// An engine over `eval` (which holds the program's rotation keys) and `boot`.
    pub fn new(
        eval: &'a Evaluator<B>,
        boot: &'a Bootstrapper<B>,
        bar: Option<ProgressBar>,
    ) -> Self {
        Encrypted {
            eval,
            boot,
            layers: Vec::new(),
            bootstraps: 0,
            rotations: 0,
            bar,
            check: None,
            layer_errors: Vec::new(),
        }
    }

    fn record(
        &mut self,
        name: &str,
        t: Instant,
        out: &Ciphertext<B>,
        rotations: usize,
        diagonals: usize,
    ) {
        self.rotations += rotations;
        self.layers.push(LayerStat {
            name: name.to_string(),
            level: out.level(),
            rotations,
            diagonals,
            seconds: t.elapsed().as_secs_f64(),
        });
        if let Some((dec, trace)) = &self.check {
            let err = match (dec.decrypt_real(out), trace.get(name)) {
                (Ok(got), Some(want)) => got
                    .iter()
                    .zip(want)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs())),
                _ => f64::NAN,
            };
            self.layer_errors.push((name.to_string(), err));
        }
        if let Some(b) = &self.bar {
            b.set_message(name.to_string());
            b.inc(1);
        }
    }

    /// The scale a tensor at `level` should carry: the divisor of the next rescale, so
    /// a square (`s²/q`) returns the same scale.
    fn scale_for(&self, level: usize) -> f64 {
        self.eval.ckks().params().rescale_divisor(level)
    }

    fn add_bias(&self, ct: &mut Ciphertext<B>, bias: &[f64]) -> Result<()> {
        if bias.iter().any(|&b| b != 0.0) {
            let pt = self.eval.ckks().encode_real(bias, ct.level(), ct.scale())?;
            self.eval.add_plain_assign(ct, &pt)?;
        }
        Ok(())
    }
}

impl<B: Backend> Engine for Encrypted<'_, B> {
    type T = Ciphertext<B>;

    fn level(&self, x: &Self::T) -> usize {
        x.level()
    }

    fn linear(
        &mut self,
        name: &str,
        x: &Self::T,
        m: &PackedLinear,
        bias: &[f64],
        scale_of: Option<usize>,
    ) -> Result<Self::T> {
        let t = Instant::now();
        let l = x.level();
        let out_level = l
            .checked_sub(1)
            .ok_or_else(|| anyhow!("{name}: no level left"))?;
        let target = self.scale_for(scale_of.unwrap_or(out_level));
        let pt_scale = target * self.scale_for(l) / x.scale();
        let mut y = m.apply(self.eval, x, pt_scale)?;
        y.set_scale(target);
        self.add_bias(&mut y, bias)?;
        self.record(name, t, &y, m.rotation_count(), m.diagonals());
        Ok(y)
    }

    fn add_scaled(
        &mut self,
        name: &str,
        main: &Self::T,
        skip: &Self::T,
        mult: &[f64],
    ) -> Result<Self::T> {
        let t = Instant::now();
        let ls = skip.level();
        let ckks = self.eval.ckks();
        let pt_scale = main.scale() * self.scale_for(ls) / skip.scale();
        let pt = ckks.encode_real(mult, ls, pt_scale)?;
        let mut s = self.eval.mul_plain_new(skip, &pt)?;
        self.eval.rescale_assign(&mut s)?;
        s.set_scale(main.scale());
        if s.level() > main.level() {
            let d = s.level() - main.level();
            self.eval.drop_level_assign(&mut s, d)?;
        }
        let out = self.eval.add_new(main, &s)?;
        self.record(name, t, &out, 0, 1);
        Ok(out)
    }

    fn add(&mut self, name: &str, a: &Self::T, b: &Self::T) -> Result<Self::T> {
        let t = Instant::now();
        let (mut a, mut b) = (a.clone(), b.clone());
        if a.level() > b.level() {
            let d = a.level() - b.level();
            self.eval.drop_level_assign(&mut a, d)?;
        } else if b.level() > a.level() {
            let d = b.level() - a.level();
            self.eval.drop_level_assign(&mut b, d)?;
        }
        let out = self.eval.add_new(&a, &b)?;
        self.record(name, t, &out, 0, 0);
        Ok(out)
    }

    fn square(&mut self, name: &str, x: &Self::T) -> Result<Self::T> {
        let t = Instant::now();
        let y = square(self.eval, x)?;
        self.record(name, t, &y, 0, 0);
        Ok(y)
    }

    fn bootstrap(&mut self, name: &str, x: &Self::T) -> Result<Self::T> {
        let t = Instant::now();
        let y = self.boot.bootstrap(x)?;
        self.bootstraps += 1;
        self.record(name, t, &y, 0, 0);
        Ok(y)
    }

    fn spatial_sum(&mut self, name: &str, x: &Self::T, layout: &Layout) -> Result<Self::T> {
        let t = Instant::now();
        let y = spatial_sum(self.eval, x, layout)?;
        self.record(name, t, &y, spatial_sum_steps(layout).len(), 0);
        Ok(y)
    }
}
