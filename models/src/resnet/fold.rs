//! Trained weights folded into the DSL ResNet's layers.
//!
//! Each stored tensor relates to the network's true tensor by a per-channel affine
//! *view*, `true = α ⊙ stored + β`. A quadratic activation `a z² + b z + c` is rewritten
//! as `sign(a) σ² · s² + (c − b²/4a)` with `s = √|a| (z + b/2a) / σ`: the linear layer
//! producing `z` emits `s` directly (its weights and bias absorb `√|a|/σ` and the shift),
//! the activation is one ciphertext `square` (one level), and the output's view
//! `(sign(a) σ², c − b²/4a)` is absorbed by whatever consumes it. `σ` per channel is the
//! calibrated bound on `|√|a| (z + b/2a)|` divided by a margin, so every stored
//! activation lies in `[0, margin²]`: inside bootstrapping's input range.
//!
//! The identity shortcut becomes a one-diagonal [`Linear`] (the view change between the
//! block input and the sum), the projection shortcut a 1×1 stride-2 one; global pooling
//! is a [`SpatialSum`] and the classifier carries the `1/(H·W)`.

use super::dsl::{BasicBlock, ResNet};
use super::reference::{conv2d, forward};
use super::weights::{Act, BlockWeights, ResNetWeights};
use anyhow::{anyhow, bail, Context, Result};
use fhe_dsl::nn::PackedLinear;
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Linear, SpatialSum};
use ndarray::{Array1, Array3, Array4};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Per-channel bounds on `|√|a| (z + b/2a)|` for every activation (`act0`,
/// `block{i}.act1`, `block{i}.act2`, blocks numbered over the whole network), measured
/// on calibration images.
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

    /// Bound 1 everywhere: for planning (levels, keys, costs) without data.
    pub fn unit(w: &ResNetWeights) -> Calibration {
        Calibration {
            source: "unit bounds (planning only)".into(),
            bounds: activation_sites(w)
                .into_iter()
                .map(|(n, _, a)| (n, vec![1.0; a.channels()]))
                .collect(),
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

impl Fold {
    /// The view of the prepared input `s = g z + h`: `z = s/g − h/g`.
    fn input_view(&self) -> View {
        View {
            alpha: self.g.iter().map(|g| 1.0 / g).collect(),
            beta: self.h.iter().zip(&self.g).map(|(h, g)| -h / g).collect(),
        }
    }
}

/// Where a DSL value's slots hold a tensor of the plaintext network, and how.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The DSL value (plan name).
    pub value: String,
    /// The PyTorch module whose output the tensor is (`layer1.0.act2`: see
    /// [`torch_ref`](super::torch_ref)).
    pub reference: String,
    /// For each element of the tensor (C-order): its slot, and the view
    /// `true = alpha · stored + beta`.
    pub slots: Vec<(usize, f64, f64)>,
}

impl Probe {
    fn new(value: &str, reference: &str, layout: &Layout, view: &View) -> Self {
        let mut slots = Vec::with_capacity(layout.len());
        for c in 0..layout.channels() {
            for y in 0..layout.height() {
                for x in 0..layout.width() {
                    slots.push((layout.slot(c, y, x), view.alpha[c], view.beta[c]));
                }
            }
        }
        Probe {
            value: value.into(),
            reference: reference.into(),
            slots,
        }
    }

    /// The true tensor (flat, C-order) read from a value's slots.
    pub fn read(&self, stored: &[f64]) -> Vec<f64> {
        self.slots
            .iter()
            .map(|&(s, a, b)| a * stored[s] + b)
            .collect()
    }
}

/// A ResNet's weights folded for `S` slots: the DSL model, its input layout and the
/// probes that relate its values to the plaintext network's tensors.
pub struct Folded<const S: usize, const N: usize> {
    /// The DSL model.
    pub model: ResNet<S, N>,
    /// Layout of the input image.
    pub input: Layout,
    /// Classes.
    pub classes: usize,
    /// Every activation, pre-activation and the logits, by DSL value.
    pub probes: Vec<Probe>,
}

impl<const S: usize, const N: usize> Folded<S, N> {
    /// Packs a `C × 32 × 32` input image into slots.
    pub fn pack_input(&self, x: &Array3<f64>) -> Result<Vec<f64>> {
        let flat: Vec<f64> = x.iter().copied().collect();
        Ok(self.input.pack(&flat, S)?)
    }
}

fn pack(layout: &Layout, b: &Array3<f64>, slots: usize) -> Result<Vec<f64>> {
    let flat: Vec<f64> = b.iter().copied().collect();
    Ok(layout.pack(&flat, slots)?)
}

/// A conv layer with its input view and output fold applied:
/// `s = g ⊙ (W (α x + β) + bias) + h`, the bias computed with the zero padding in true
/// space (border positions get their own constant).
#[allow(clippy::too_many_arguments)]
fn folded_conv<const S: usize>(
    w: &Array4<f64>,
    conv_bias: Option<&Array1<f64>>,
    stride: usize,
    pad: usize,
    input: &Layout,
    output: &Layout,
    view: &View,
    g: &[f64],
    h: Option<&[f64]>,
    extra: Option<&[f64]>,
) -> Result<Linear<S>> {
    let k = w.shape()[2];
    let m = PackedLinear::conv2d(input, output, S, k, stride, pad, |co, ci, ky, kx| {
        g[co] * w[[co, ci, ky, kx]] * view.alpha[ci]
    })?;
    let beta = Array3::from_shape_fn(
        (input.channels(), input.height(), input.width()),
        |(c, _, _)| view.beta[c],
    );
    let mut bias = conv2d(&beta, w, conv_bias, stride, pad);
    for (c, mut ch) in bias.outer_iter_mut().enumerate() {
        let hc = h.map_or(0.0, |h| h[c]) + extra.map_or(0.0, |e| e[c]);
        ch.mapv_inplace(|v| g[c] * v + hc);
    }
    Ok(Linear::new(m, pack(output, &bias, S)?)?)
}

/// One residual block folded: `view` is its input's, `cur`/`out` its layouts.
fn fold_block<const S: usize>(
    i: usize,
    n: usize,
    b: &BlockWeights,
    cur: &Layout,
    out: &Layout,
    view: &View,
    folds: &BTreeMap<String, Fold>,
) -> Result<(BasicBlock<S>, Vec<Probe>)> {
    let (cur, out) = (*cur, *out);
    let s = b.stride;
    let f1 = &folds[&format!("block{i}.act1")];
    let f2 = &folds[&format!("block{i}.act2")];
    let c1 = folded_conv::<S>(
        &b.conv1,
        None,
        s,
        1,
        &cur,
        &out,
        view,
        &f1.g,
        Some(&f1.h),
        None,
    )?;
    // with the identity shortcut, conv2 also carries the shortcut's constant part
    let extra: Option<Vec<f64>> = b.down.is_none().then(|| {
        (0..out.channels())
            .map(|c| f2.g[c] * view.beta[c])
            .collect()
    });
    let c2 = folded_conv::<S>(
        &b.conv2,
        None,
        1,
        1,
        &out,
        &out,
        &f1.out,
        &f2.g,
        Some(&f2.h),
        extra.as_deref(),
    )?;
    let shortcut = match &b.down {
        None => {
            let mut terms = Vec::with_capacity(out.len());
            let per_channel = out.height() * out.width();
            out.for_each(|k, slot| {
                let c = k / per_channel;
                terms.push((slot, slot, f2.g[c] * view.alpha[c]));
            });
            let m = PackedLinear::from_terms(out.period(), out.period(), S, terms)?;
            Linear::new(m, vec![0.0; S])?
        }
        Some((dw, db)) => {
            folded_conv::<S>(dw, Some(db), s, 0, &cur, &out, view, &f2.g, None, None)?
        }
    };
    let p = format!("layer{}.{}.", i / n + 1, i % n);
    let probes = vec![
        Probe::new(
            &format!("{p}z1"),
            &format!("{p}conv1"),
            &out,
            &f1.input_view(),
        ),
        Probe::new(&format!("{p}a1"), &format!("{p}act1"), &out, &f1.out),
        Probe::new(&format!("{p}p"), &format!("{p}add"), &out, &f2.input_view()),
        Probe::new(&format!("{p}y"), &format!("{p}act2"), &out, &f2.out),
    ];
    Ok((
        BasicBlock::<S> {
            conv1: c1,
            conv2: c2,
            shortcut,
        },
        probes,
    ))
}

/// The layout images are packed in: `channels × 32 × 32`, multiplexed with gap 1 (what
/// a client needs to encrypt an input without the weights).
pub fn input_layout(channels: usize) -> Result<Layout> {
    Ok(Layout::multiplexed(channels, 32, 32, 1)?)
}

/// Folds `weights` into a ResNet-(6N+2) for `S` slots, activations bounded with
/// `calib` so stored activations stay within `[0, margin²]` on the calibration data.
/// Errors, naming the part, when the weights are not a ResNet of that depth
/// (3 stages of `N` blocks, a projection shortcut exactly at the first block of stages
/// 2 and 3) or a calibration entry is missing.
pub fn fold<const S: usize, const N: usize>(
    weights: &ResNetWeights,
    calib: &Calibration,
    margin: f64,
) -> Result<Folded<S, N>> {
    if !(margin > 0.0 && margin <= 1.0) {
        bail!("activation margin must be in (0, 1], got {margin}");
    }
    if weights.blocks.len() != 3 * N {
        bail!(
            "the weights have {} residual blocks, ResNet-{} has {}",
            weights.blocks.len(),
            6 * N + 2,
            3 * N
        );
    }
    for (i, b) in weights.blocks.iter().enumerate() {
        let down_here = i % N == 0 && i > 0;
        if down_here != b.down.is_some() {
            bail!(
                "block {i} (layer{}.{}) {} a projection shortcut; a CIFAR ResNet has one exactly at the first block of layer2 and layer3",
                i / N + 1,
                i % N,
                if b.down.is_some() { "has" } else { "lacks" }
            );
        }
    }
    let mut folds = BTreeMap::new();
    for (name, _, act) in activation_sites(weights) {
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
        for (c, &bound_c) in bound.iter().enumerate() {
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
    let (h, w) = (32usize, 32usize);
    let input = input_layout(weights.in_channels())?;
    let stem = Layout::multiplexed(weights.conv0.shape()[0], h, w, 1)?;
    for l in [input, stem] {
        if l.period() > S {
            bail!(
                "a {}×{}×{} activation needs {} slots, parameters have {S}",
                l.channels(),
                l.height(),
                l.width(),
                l.period()
            );
        }
    }
    let identity = View {
        alpha: vec![1.0; input.channels()],
        beta: vec![0.0; input.channels()],
    };
    let f0 = &folds["act0"];
    let conv1 = folded_conv::<S>(
        &weights.conv0,
        None,
        1,
        1,
        &input,
        &stem,
        &identity,
        &f0.g,
        Some(&f0.h),
        None,
    )
    .context("folding `conv1`")?;
    let mut probes = vec![
        Probe::new("z0", "conv1", &stem, &f0.input_view()),
        Probe::new("y0", "act1", &stem, &f0.out),
    ];
    // each block's input layout and view, then the blocks themselves in parallel
    let mut shapes = Vec::with_capacity(3 * N);
    let (mut view, mut cur) = (f0.out.clone(), stem);
    for (i, b) in weights.blocks.iter().enumerate() {
        let s = b.stride;
        let out = Layout::multiplexed(
            b.out_channels(),
            cur.height() / s,
            cur.width() / s,
            cur.gap() * s,
        )?;
        if out.period() > S {
            bail!(
                "block {i}'s output needs {} slots, parameters have {S}",
                out.period()
            );
        }
        shapes.push((cur, out, view.clone()));
        view = folds[&format!("block{i}.act2")].out.clone();
        cur = out;
    }
    let built: Vec<(BasicBlock<S>, Vec<Probe>)> = weights
        .blocks
        .par_iter()
        .zip(shapes.par_iter())
        .enumerate()
        .map(|(i, (b, (cur, out, view)))| {
            fold_block::<S>(i, N, b, cur, out, view, &folds)
                .with_context(|| format!("folding `layer{}.{}`", i / N + 1, i % N))
        })
        .collect::<Result<_>>()?;
    let mut blocks = Vec::with_capacity(3 * N);
    for (b, p) in built {
        blocks.push(b);
        probes.extend(p);
    }
    let pool = SpatialSum::new(cur)?;
    let hw = (cur.height() * cur.width()) as f64;
    let classes = weights.fc_b.len();
    let out_period = classes.next_power_of_two();
    let mut terms = Vec::with_capacity(classes * cur.channels());
    for j in 0..classes {
        for c in 0..cur.channels() {
            terms.push((
                j,
                cur.slot(c, 0, 0),
                weights.fc_w[[j, c]] * view.alpha[c] / hw,
            ));
        }
    }
    let fc = PackedLinear::from_terms(cur.period(), out_period, S, terms)
        .context("folding `fc`")?
        .without_replication();
    let mut bias = vec![0.0; S];
    let stride = cur.period().max(out_period);
    for j in 0..classes {
        let bj = weights.fc_b[j]
            + (0..cur.channels())
                .map(|c| weights.fc_w[[j, c]] * view.beta[c])
                .sum::<f64>();
        for m in 0..S / stride {
            bias[j + m * stride] = bj;
        }
    }
    probes.push(Probe {
        value: "pooled".into(),
        reference: "pool".into(),
        slots: (0..cur.channels())
            .map(|c| (cur.slot(c, 0, 0), view.alpha[c] / hw, view.beta[c]))
            .collect(),
    });
    probes.push(Probe {
        value: "logits".into(),
        reference: "fc".into(),
        slots: (0..classes).map(|j| (j, 1.0, 0.0)).collect(),
    });
    let mut it = blocks.into_iter();
    let mut stage = || -> Result<[BasicBlock<S>; N]> {
        let v: Vec<BasicBlock<S>> = it.by_ref().take(N).collect();
        v.try_into()
            .map_err(|_| anyhow!("a stage needs {N} blocks"))
    };
    let (layer1, layer2, layer3) = (stage()?, stage()?, stage()?);
    Ok(Folded {
        model: ResNet {
            conv1,
            layer1,
            layer2,
            layer3,
            pool,
            fc: Linear::new(fc, bias).context("folding `fc`")?,
        },
        input,
        classes,
        probes,
    })
}
