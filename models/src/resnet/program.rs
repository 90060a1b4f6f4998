//! ResNet compiled onto packed slots: every layer a [`PackedLinear`], a square or a
//! residual add, with the AESPA quadratics' affine parts folded into the linear layers.
//!
//! Each stored tensor relates to the network's true tensor by a per-channel affine
//! *view*, `true = α ⊙ stored + β`. A quadratic activation `a z² + b z + c` is rewritten
//! as `sign(a) σ² · s² + (c − b²/4a)` with `s = √|a| (z + b/2a) / σ`: the linear layer
//! producing `z` emits `s` directly (its weights and bias absorb `√|a|/σ` and the shift),
//! the activation is one ciphertext square (one level), and the output's view
//! `(sign(a) σ², c − b²/4a)` is absorbed by whatever consumes it. `σ` per channel is the
//! calibrated bound on `|√|a| (z + b/2a)|` divided by a margin, so every stored
//! activation lies in `[0, margin²]` — inside bootstrapping's input range.
//!
//! The program is written once against [`Engine`] and runs on a symbolic engine (levels,
//! rotation keys), a cleartext engine (the exact slot computation in float64, to check
//! packing and ranges fast) and the encrypted engine.

use super::reference::{conv2d, forward};
use super::weights::{Act, ResNetWeights};
use anyhow::{anyhow, bail, Result};
use fhe_dsl::nn::{spatial_sum_steps, PackedLinear};
use fhe_dsl::tensor::Layout;
use ndarray::{Array3, Array4};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Levels one residual block consumes on its critical path (conv, square, conv, square).
pub const BLOCK_LEVELS: usize = 4;

/// What a program step needs from whoever runs it.
pub trait Engine {
    /// A packed tensor (a ciphertext, a slot vector, or just a level).
    type T: Clone;
    /// The level of `x`.
    fn level(&self, x: &Self::T) -> usize;
    /// `m · x + bias` (bias per slot), one level. The output's scale is the one a tensor
    /// at level `scale_of` carries (default: the output level), so branches that meet
    /// in an add agree.
    fn linear(
        &mut self,
        name: &str,
        x: &Self::T,
        m: &PackedLinear,
        bias: &[f64],
        scale_of: Option<usize>,
    ) -> Result<Self::T>;
    /// `main + mult ⊙ skip` (mult per slot): one level on the skip path, which sits
    /// higher than `main`.
    fn add_scaled(
        &mut self,
        name: &str,
        main: &Self::T,
        skip: &Self::T,
        mult: &[f64],
    ) -> Result<Self::T>;
    /// `a + b`, the higher one dropped to the lower one's level.
    fn add(&mut self, name: &str, a: &Self::T, b: &Self::T) -> Result<Self::T>;
    /// `x²`, one level.
    fn square(&mut self, name: &str, x: &Self::T) -> Result<Self::T>;
    /// Refreshes `x` to the bootstrapping output level.
    fn bootstrap(&mut self, name: &str, x: &Self::T) -> Result<Self::T>;
    /// Per-channel sums over `H × W` (see [`fhe_dsl::nn::spatial_sum`]).
    fn spatial_sum(&mut self, name: &str, x: &Self::T, layout: &Layout) -> Result<Self::T>;
}

/// Per-channel bounds on `|√|a| (z + b/2a)|` for every activation, in program order
/// (`act0`, `block0.act1`, `block0.act2`, …), measured on calibration images.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Calibration {
    /// Where the bounds come from (images, count).
    pub source: String,
    /// Activation name → per-channel bound.
    pub bounds: BTreeMap<String, Vec<f64>>,
}

impl Calibration {
    /// Measures the bounds over `inputs` with the float64 reference forward (images in
    /// parallel; the result does not depend on the order).
    pub fn measure<'a>(
        w: &ResNetWeights,
        inputs: impl IntoIterator<Item = &'a Array3<f64>>,
        source: &str,
    ) -> Calibration {
        use rayon::prelude::*;
        let sites = activation_sites(w);
        let one = |x: &Array3<f64>| -> Vec<Vec<f64>> {
            let f = forward(w, x);
            sites
                .iter()
                .map(|(_, pre, a)| {
                    let z = f.layer(pre).expect("reference records every layer");
                    z.outer_iter()
                        .enumerate()
                        .map(|(c, zc)| {
                            let (sa, shift) = (a.a[c].abs().sqrt(), a.b[c] / (2.0 * a.a[c]));
                            zc.iter()
                                .fold(0.0f64, |m, &v| m.max((sa * (v + shift)).abs()))
                        })
                        .collect()
                })
                .collect()
        };
        let max = |mut a: Vec<Vec<f64>>, b: Vec<Vec<f64>>| {
            for (x, y) in a.iter_mut().zip(b) {
                x.iter_mut().zip(y).for_each(|(p, q)| *p = p.max(q));
            }
            a
        };
        let zero: Vec<Vec<f64>> = sites
            .iter()
            .map(|(_, _, a)| vec![0.0; a.channels()])
            .collect();
        let inputs: Vec<&Array3<f64>> = inputs.into_iter().collect();
        let m = inputs
            .par_iter()
            .map(|x| one(x))
            .reduce(|| zero.clone(), max);
        Calibration {
            source: source.to_string(),
            bounds: sites.iter().map(|(act, _, _)| act.clone()).zip(m).collect(),
        }
    }
}

/// `(activation name, name of its input in the reference forward, coefficients)`.
fn activation_sites(w: &ResNetWeights) -> Vec<(String, String, &Act)> {
    let mut v = vec![("act0".to_string(), "conv0".to_string(), &w.act0)];
    for (i, b) in w.blocks.iter().enumerate() {
        v.push((format!("block{i}.act1"), format!("block{i}.conv1"), &b.act1));
        v.push((format!("block{i}.act2"), format!("block{i}.add"), &b.act2));
    }
    v
}

/// Per-channel `true = alpha · stored + beta`.
#[derive(Clone, Debug)]
struct View {
    alpha: Vec<f64>,
    beta: Vec<f64>,
}

/// How an activation is folded: the producing layer multiplies by `g` and adds `h`;
/// the square's output has view `out`.
struct Fold {
    g: Vec<f64>,
    h: Vec<f64>,
    out: View,
}

/// A ResNet compiled for one slot count.
pub struct Program {
    weights: ResNetWeights,
    folds: BTreeMap<String, Fold>,
    slots: usize,
    input: Layout,
    /// `(input layout, output layout)` of the stem and of every block.
    stem: Layout,
    blocks: Vec<(Layout, Layout)>,
}

/// One line of the per-layer report.
#[derive(Clone, Debug, Serialize)]
pub struct LayerStat {
    /// Layer name.
    pub name: String,
    /// Level of the output.
    pub level: usize,
    /// Rotations performed.
    pub rotations: usize,
    /// Plaintext diagonals multiplied.
    pub diagonals: usize,
    /// Seconds (0 for engines that do not time).
    pub seconds: f64,
}

impl Program {
    /// Compiles `weights` for `slots` slots with activations bounded using `calib`;
    /// stored activations stay within `[0, margin²]` on the calibration data
    /// (`margin < 1`).
    pub fn new(
        weights: ResNetWeights,
        calib: &Calibration,
        slots: usize,
        margin: f64,
    ) -> Result<Self> {
        if !(margin > 0.0 && margin <= 1.0) {
            bail!("activation margin must be in (0, 1], got {margin}");
        }
        let mut folds = BTreeMap::new();
        for (name, _, act) in activation_sites(&weights) {
            let bound = calib
                .bounds
                .get(&name)
                .ok_or_else(|| anyhow!("calibration has no bounds for `{name}`"))?;
            if bound.len() != act.channels() {
                bail!(
                    "calibration for `{name}` has {} channels, the weights {}",
                    bound.len(),
                    act.channels()
                );
            }
            let mut f = Fold {
                g: vec![],
                h: vec![],
                out: View {
                    alpha: vec![],
                    beta: vec![],
                },
            };
            for (c, &bound_c) in bound.iter().enumerate().take(act.channels()) {
                let (a, b, cc) = (act.a[c], act.b[c], act.c[c]);
                if a == 0.0 || !a.is_finite() {
                    bail!("activation `{name}` channel {c}: x² coefficient is {a}; a purely linear channel is not supported");
                }
                let sigma = (bound_c / margin).max(1e-12);
                let sa = a.abs().sqrt();
                f.g.push(sa / sigma);
                f.h.push(sa * b / (2.0 * a) / sigma);
                f.out.alpha.push(a.signum() * sigma * sigma);
                f.out.beta.push(cc - b * b / (4.0 * a));
            }
            folds.insert(name, f);
        }
        let (c_in, h, w) = (weights.in_channels(), 32usize, 32usize);
        let input = Layout::multiplexed(c_in, h, w, 1)?;
        let stem = Layout::multiplexed(weights.conv0.shape()[0], h, w, 1)?;
        let mut blocks = Vec::new();
        let mut cur = stem;
        for b in &weights.blocks {
            let s = b.stride;
            let out = Layout::multiplexed(
                b.out_channels(),
                cur.height() / s,
                cur.width() / s,
                cur.gap() * s,
            )?;
            blocks.push((cur, out));
            cur = out;
        }
        for l in [input, stem].iter().chain(blocks.iter().map(|(_, o)| o)) {
            if l.period() > slots {
                bail!(
                    "a {}×{}×{} activation needs {} slots, parameters have {slots}",
                    l.channels(),
                    l.height(),
                    l.width(),
                    l.period()
                );
            }
        }
        Ok(Program {
            weights,
            folds,
            slots,
            input,
            stem,
            blocks,
        })
    }

    /// Slots per ciphertext.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The weights.
    pub fn weights(&self) -> &ResNetWeights {
        &self.weights
    }

    /// Packs a `C × 32 × 32` input image into slots.
    pub fn pack_input(&self, x: &Array3<f64>) -> Result<Vec<f64>> {
        let flat: Vec<f64> = x.iter().copied().collect();
        Ok(self.input.pack(&flat, self.slots)?)
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.weights.fc_b.len()
    }

    /// A conv layer with its input view and output fold applied:
    /// `s = g ⊙ (W (α x + β) + bias) + h`, bias computed with the zero padding in true
    /// space (so border positions get their own constant).
    #[allow(clippy::too_many_arguments)]
    fn folded_conv(
        &self,
        w: &Array4<f64>,
        conv_bias: Option<&ndarray::Array1<f64>>,
        stride: usize,
        pad: usize,
        input: &Layout,
        output: &Layout,
        view: &View,
        g: &[f64],
        h: Option<&[f64]>,
    ) -> Result<(PackedLinear, Array3<f64>)> {
        let k = w.shape()[2];
        let m = PackedLinear::conv2d(
            input,
            output,
            self.slots,
            k,
            stride,
            pad,
            |co, ci, ky, kx| g[co] * w[[co, ci, ky, kx]] * view.alpha[ci],
        )?;
        let beta = Array3::from_shape_fn(
            (input.channels(), input.height(), input.width()),
            |(c, _, _)| view.beta[c],
        );
        let mut bias = conv2d(&beta, w, conv_bias, stride, pad);
        for (c, mut ch) in bias.outer_iter_mut().enumerate() {
            let hc = h.map_or(0.0, |h| h[c]);
            ch.mapv_inplace(|v| g[c] * v + hc);
        }
        Ok((m, bias))
    }

    fn pack_bias(&self, layout: &Layout, b: &Array3<f64>) -> Result<Vec<f64>> {
        let flat: Vec<f64> = b.iter().copied().collect();
        Ok(layout.pack(&flat, self.slots)?)
    }

    /// Runs the network on `x` (the packed input at any level) and returns the logits
    /// tensor: logit `j` at slot `j`.
    pub fn run<E: Engine>(&self, e: &mut E, x: &E::T) -> Result<E::T> {
        let w = &self.weights;
        let identity = View {
            alpha: vec![1.0; self.input.channels()],
            beta: vec![0.0; self.input.channels()],
        };
        let f0 = &self.folds["act0"];
        let (m, b) = self.folded_conv(
            &w.conv0,
            None,
            1,
            1,
            &self.input,
            &self.stem,
            &identity,
            &f0.g,
            Some(&f0.h),
        )?;
        let z = e.linear("conv0", x, &m, &self.pack_bias(&self.stem, &b)?, None)?;
        drop(m);
        let mut y = e.square("act0", &z)?;
        let mut view = f0.out.clone();
        for (i, (blk, (lin, lout))) in w.blocks.iter().zip(&self.blocks).enumerate() {
            if e.level(&y) < BLOCK_LEVELS {
                y = e.bootstrap(&format!("bootstrap before block{i}"), &y)?;
            }
            let f1 = &self.folds[&format!("block{i}.act1")];
            let f2 = &self.folds[&format!("block{i}.act2")];
            let (m1, b1) = self.folded_conv(
                &blk.conv1,
                None,
                blk.stride,
                1,
                lin,
                lout,
                &view,
                &f1.g,
                Some(&f1.h),
            )?;
            let z1 = e.linear(
                &format!("block{i}.conv1"),
                &y,
                &m1,
                &self.pack_bias(lout, &b1)?,
                None,
            )?;
            drop(m1);
            let y1 = e.square(&format!("block{i}.act1"), &z1)?;
            // conv2 carries act2's shift h2 and the shortcut's constant part
            let (m2, mut b2) = self.folded_conv(
                &blk.conv2,
                None,
                1,
                1,
                lout,
                lout,
                &f1.out,
                &f2.g,
                Some(&f2.h),
            )?;
            let pre = match &blk.down {
                None => {
                    for (c, mut ch) in b2.outer_iter_mut().enumerate() {
                        ch.mapv_inplace(|v| v + f2.g[c] * view.beta[c]);
                    }
                    let main = e.linear(
                        &format!("block{i}.conv2"),
                        &y1,
                        &m2,
                        &self.pack_bias(lout, &b2)?,
                        None,
                    )?;
                    let mult: Vec<f64> = (0..lout.channels())
                        .map(|c| f2.g[c] * view.alpha[c])
                        .collect();
                    e.add_scaled(
                        &format!("block{i}.shortcut"),
                        &main,
                        &y,
                        &lout.per_channel(&mult, self.slots)?,
                    )?
                }
                Some((dw, db)) => {
                    let main = e.linear(
                        &format!("block{i}.conv2"),
                        &y1,
                        &m2,
                        &self.pack_bias(lout, &b2)?,
                        None,
                    )?;
                    let (md, bd) = self.folded_conv(
                        dw,
                        Some(db),
                        blk.stride,
                        0,
                        lin,
                        lout,
                        &view,
                        &f2.g,
                        None,
                    )?;
                    let at = e.level(&main);
                    let s = e.linear(
                        &format!("block{i}.down"),
                        &y,
                        &md,
                        &self.pack_bias(lout, &bd)?,
                        Some(at),
                    )?;
                    e.add(&format!("block{i}.add"), &main, &s)?
                }
            };
            y = e.square(&format!("block{i}.act2"), &pre)?;
            view = f2.out.clone();
        }
        let last = self.blocks.last().map_or(self.stem, |b| b.1);
        if e.level(&y) < 1 {
            y = e.bootstrap("bootstrap before pool", &y)?;
        }
        let s = e.spatial_sum("pool", &y, &last)?;
        let hw = (last.height() * last.width()) as f64;
        let classes = self.classes();
        let out_period = classes.next_power_of_two();
        let terms = (0..classes).flat_map(|j| (0..last.channels()).map(move |c| (j, c)));
        let terms: Vec<(usize, usize, f64)> = terms
            .map(|(j, c)| (j, last.slot(c, 0, 0), w.fc_w[[j, c]] * view.alpha[c] / hw))
            .collect();
        let fc = PackedLinear::from_terms(last.period(), out_period, self.slots, terms)?
            .without_replication();
        let mut bias = vec![0.0; self.slots];
        let stride = last.period().max(out_period);
        for j in 0..classes {
            let bj = w.fc_b[j]
                + (0..last.channels())
                    .map(|c| w.fc_w[[j, c]] * view.beta[c])
                    .sum::<f64>();
            for m in 0..self.slots / stride {
                bias[j + m * stride] = bj;
            }
        }
        e.linear("fc", &s, &fc, &bias, None)
    }
}

/// Tracks levels only; collects the rotation steps (with the highest level each is used
/// at) and counts, so the client can generate exactly the keys the program needs.
#[derive(Default)]
pub struct Symbolic {
    /// Level bootstrapping returns to.
    pub boot_level: usize,
    /// Rotation step → highest level it is used at.
    pub rotations: BTreeMap<i64, usize>,
    /// Bootstraps in the program.
    pub bootstraps: usize,
    /// Rotations performed per inference.
    pub rotation_count: usize,
    /// Per-layer report.
    pub layers: Vec<LayerStat>,
}

impl Symbolic {
    fn note(&mut self, name: &str, level: usize, steps: &[i64], at: usize, diagonals: usize) {
        for &s in steps {
            let e = self.rotations.entry(s).or_insert(at);
            *e = (*e).max(at);
        }
        self.rotation_count += steps.len();
        self.layers.push(LayerStat {
            name: name.to_string(),
            level,
            rotations: steps.len(),
            diagonals,
            seconds: 0.0,
        });
    }
}

fn need(level: usize, what: &str) -> Result<usize> {
    level
        .checked_sub(1)
        .ok_or_else(|| anyhow!("`{what}` needs a level, none left: bootstrap earlier"))
}

impl Engine for Symbolic {
    type T = usize;
    fn level(&self, x: &usize) -> usize {
        *x
    }
    fn linear(
        &mut self,
        name: &str,
        x: &usize,
        m: &PackedLinear,
        _: &[f64],
        _: Option<usize>,
    ) -> Result<usize> {
        let l = need(*x, name)?;
        self.note(name, l, &m.rotations(), *x, m.diagonals());
        Ok(l)
    }
    fn add_scaled(&mut self, name: &str, main: &usize, skip: &usize, _: &[f64]) -> Result<usize> {
        let l = (*main).min(need(*skip, name)?);
        self.note(name, l, &[], 0, 1);
        Ok(l)
    }
    fn add(&mut self, name: &str, a: &usize, b: &usize) -> Result<usize> {
        let l = (*a).min(*b);
        self.note(name, l, &[], 0, 0);
        Ok(l)
    }
    fn square(&mut self, name: &str, x: &usize) -> Result<usize> {
        let l = need(*x, name)?;
        self.note(name, l, &[], 0, 0);
        Ok(l)
    }
    fn bootstrap(&mut self, name: &str, _: &usize) -> Result<usize> {
        self.bootstraps += 1;
        self.note(name, self.boot_level, &[], 0, 0);
        Ok(self.boot_level)
    }
    fn spatial_sum(&mut self, name: &str, x: &usize, layout: &Layout) -> Result<usize> {
        self.note(name, *x, &spatial_sum_steps(layout), *x, 0);
        Ok(*x)
    }
}

/// The slot computation in float64 with levels tracked: the encrypted run's exact twin
/// (same packing, same folds). Refuses a bootstrap input outside `[-1, 1]`, naming the
/// layer, as bootstrapping itself would silently return garbage there.
pub struct Cleartext {
    /// Level bootstrapping returns to.
    pub boot_level: usize,
    /// Largest |value| seen at each bootstrap.
    pub bootstrap_inputs: Vec<(String, f64)>,
}

impl Engine for Cleartext {
    type T = (Vec<f64>, usize);
    fn level(&self, x: &Self::T) -> usize {
        x.1
    }
    fn linear(
        &mut self,
        name: &str,
        x: &Self::T,
        m: &PackedLinear,
        bias: &[f64],
        _: Option<usize>,
    ) -> Result<Self::T> {
        let mut y = m.apply_plain(&x.0);
        y.iter_mut().zip(bias).for_each(|(a, b)| *a += b);
        Ok((y, need(x.1, name)?))
    }
    fn add_scaled(
        &mut self,
        name: &str,
        main: &Self::T,
        skip: &Self::T,
        mult: &[f64],
    ) -> Result<Self::T> {
        let y = main
            .0
            .iter()
            .zip(&skip.0)
            .zip(mult)
            .map(|((a, s), m)| a + m * s)
            .collect();
        Ok((y, main.1.min(need(skip.1, name)?)))
    }
    fn add(&mut self, _: &str, a: &Self::T, b: &Self::T) -> Result<Self::T> {
        Ok((
            a.0.iter().zip(&b.0).map(|(x, y)| x + y).collect(),
            a.1.min(b.1),
        ))
    }
    fn square(&mut self, name: &str, x: &Self::T) -> Result<Self::T> {
        Ok((x.0.iter().map(|v| v * v).collect(), need(x.1, name)?))
    }
    fn bootstrap(&mut self, name: &str, x: &Self::T) -> Result<Self::T> {
        let m = x.0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        self.bootstrap_inputs.push((name.to_string(), m));
        if m > 1.0 {
            bail!("{name}: input reaches {m:.3}, outside [-1, 1], the range bootstrapping is fitted for (recalibrate or lower the margin)");
        }
        Ok((x.0.clone(), self.boot_level))
    }
    fn spatial_sum(&mut self, _: &str, x: &Self::T, layout: &Layout) -> Result<Self::T> {
        Ok((fhe_dsl::nn::spatial_sum_plain(&x.0, layout)?, x.1))
    }
}

/// CKKS noise for the simulation: independent Gaussian errors of these standard
/// deviations (absolute, in the stored activations' units) added after every linear
/// layer, square and residual add, and after every bootstrap.
#[derive(Clone, Debug)]
pub struct NoiseModel {
    /// After each linear layer, square and add (rescale and key-switching noise).
    pub op_std: f64,
    /// After each bootstrap.
    pub bootstrap_std: f64,
    /// Seed of the noise.
    pub seed: u64,
}

impl NoiseModel {
    /// No noise: the exact twin, traced.
    pub fn none() -> Self {
        NoiseModel {
            op_std: 0.0,
            bootstrap_std: 0.0,
            seed: 0,
        }
    }

    /// The model measured at `boot-n16`: bootstrapping to 24.8 bits mean precision
    /// (`fhe bench bootstrap`: mean |error| 2^-24.8, so σ = 2^-24.8 · √(π/2)) and
    /// arithmetic at 2^-31 (`fhe demo`'s worst slot: 31.7 bits). It leaves out the
    /// key-switching noise of rotations, which `fhe infer --layer-errors` shows
    /// dominating at global pooling and the final dense layer.
    pub fn boot_n16() -> Self {
        let boot = 2f64.powf(-24.8) * (std::f64::consts::PI / 2.0).sqrt();
        NoiseModel {
            op_std: 2f64.powf(-31.0),
            bootstrap_std: boot,
            seed: 1,
        }
    }
}

/// The cleartext twin with CKKS-like noise injected (see [`NoiseModel`]) that records
/// every layer's output, so two runs — one with zero noise — give each layer's error
/// in seconds instead of an encrypted run's minutes.
pub struct NoisyTwin {
    inner: Cleartext,
    noise: NoiseModel,
    rng: rand_chacha::ChaCha8Rng,
    /// Each layer's name and output slots, in program order.
    pub trace: Vec<(String, Vec<f64>)>,
}

impl NoisyTwin {
    /// A twin with bootstraps returning to `boot_level` and the given noise (all-zero
    /// standard deviations give the exact twin, traced).
    pub fn new(boot_level: usize, noise: NoiseModel) -> Self {
        use rand::SeedableRng;
        NoisyTwin {
            inner: Cleartext {
                boot_level,
                bootstrap_inputs: vec![],
            },
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(noise.seed),
            noise,
            trace: vec![],
        }
    }

    fn perturb(
        &mut self,
        name: &str,
        mut x: (Vec<f64>, usize),
        std: f64,
    ) -> Result<(Vec<f64>, usize)> {
        use rand_distr::Distribution;
        if !(std.is_finite() && std >= 0.0) {
            bail!("{name}: noise standard deviation {std} must be finite and ≥ 0");
        }
        if std > 0.0 {
            let d = rand_distr::Normal::new(0.0, std)?;
            x.0.iter_mut().for_each(|v| *v += d.sample(&mut self.rng));
        }
        self.trace.push((name.to_string(), x.0.clone()));
        Ok(x)
    }

    /// Per layer: `(name, max |self − exact|)` against an exact twin's trace of the
    /// same program and input.
    pub fn errors_against(&self, exact: &NoisyTwin) -> Vec<(String, f64)> {
        self.trace
            .iter()
            .zip(&exact.trace)
            .map(|((name, a), (_, b))| {
                let e = a
                    .iter()
                    .zip(b)
                    .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
                (name.clone(), e)
            })
            .collect()
    }
}

impl Engine for NoisyTwin {
    type T = (Vec<f64>, usize);
    fn level(&self, x: &Self::T) -> usize {
        x.1
    }
    fn linear(
        &mut self,
        name: &str,
        x: &Self::T,
        m: &PackedLinear,
        bias: &[f64],
        scale_of: Option<usize>,
    ) -> Result<Self::T> {
        let y = self.inner.linear(name, x, m, bias, scale_of)?;
        self.perturb(name, y, self.noise.op_std)
    }
    fn add_scaled(
        &mut self,
        name: &str,
        main: &Self::T,
        skip: &Self::T,
        mult: &[f64],
    ) -> Result<Self::T> {
        let y = self.inner.add_scaled(name, main, skip, mult)?;
        self.perturb(name, y, self.noise.op_std)
    }
    fn add(&mut self, name: &str, a: &Self::T, b: &Self::T) -> Result<Self::T> {
        let y = self.inner.add(name, a, b)?;
        self.perturb(name, y, 0.0)
    }
    fn square(&mut self, name: &str, x: &Self::T) -> Result<Self::T> {
        let y = self.inner.square(name, x)?;
        self.perturb(name, y, self.noise.op_std)
    }
    fn bootstrap(&mut self, name: &str, x: &Self::T) -> Result<Self::T> {
        let y = self.inner.bootstrap(name, x)?;
        self.perturb(name, y, self.noise.bootstrap_std)
    }
    fn spatial_sum(&mut self, name: &str, x: &Self::T, layout: &Layout) -> Result<Self::T> {
        let y = self.inner.spatial_sum(name, x, layout)?;
        self.perturb(name, y, 0.0)
    }
}
