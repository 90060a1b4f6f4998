//! Plain float64 forward pass of a fused ResNet: the ground truth encrypted inference
//! is compared against.
//!
//! Deliberately simple (direct-sum convolution, no packing tricks) so that it is
//! obviously the same computation as `fused_forward` in
//! `models/train/train_resnet20.py`; the fixture test checks it against torch.

use ndarray::{Array1, Array3, Array4, Axis};
use rayon::prelude::*;

use super::weights::{Act, ResNetWeights};

/// Result of [`forward`]: the logits and every intermediate tensor.
#[derive(Debug, Clone)]
pub struct Forward {
    /// One score per class.
    pub logits: Vec<f64>,
    /// Every intermediate `[C, H, W]` tensor in evaluation order: `conv0`, `act0`,
    /// then per block `block{i}.conv1`, `.act1`, `.conv2`, `.shortcut`, `.add`,
    /// `.act2`, and finally `pool` as `[C, 1, 1]`.
    pub layers: Vec<(String, Array3<f64>)>,
}

impl Forward {
    /// The intermediate tensor called `name`, if recorded.
    pub fn layer(&self, name: &str) -> Option<&Array3<f64>> {
        self.layers.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Index of the largest logit (the first one on ties).
    pub fn argmax(&self) -> usize {
        self.logits
            .iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 {
                    (i, v)
                } else {
                    best
                }
            })
            .0
    }
}

/// 2-D cross-correlation (PyTorch's `conv2d`) of `x: [ci, h, w]` with
/// `w: [co, ci, kh, kw]`, zero padding `pad` on every side, output
/// `[co, (h + 2 pad - kh) / stride + 1, (w + 2 pad - kw) / stride + 1]`.
///
/// # Panics
/// If the channel counts disagree, `stride` is 0, the kernel is larger than the
/// padded input, or the bias length is not `co`.
pub fn conv2d(
    x: &Array3<f64>,
    w: &Array4<f64>,
    bias: Option<&Array1<f64>>,
    stride: usize,
    pad: usize,
) -> Array3<f64> {
    let (ci, h, wd) = x.dim();
    let (co, wci, kh, kw) = w.dim();
    assert_eq!(
        ci, wci,
        "conv2d: input has {ci} channels, weight expects {wci}"
    );
    assert!(stride > 0, "conv2d: stride must be positive");
    assert!(
        h + 2 * pad >= kh && wd + 2 * pad >= kw,
        "conv2d: kernel {kh}x{kw} larger than padded input {h}x{wd} (pad {pad})"
    );
    if let Some(b) = bias {
        assert_eq!(
            b.len(),
            co,
            "conv2d: bias has {} entries for {co} channels",
            b.len()
        );
    }
    let ho = (h + 2 * pad - kh) / stride + 1;
    let wo = (wd + 2 * pad - kw) / stride + 1;
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");

    let planes: Vec<Vec<f64>> = (0..co)
        .into_par_iter()
        .map(|o| {
            let b0 = bias.map_or(0.0, |b| b[o]);
            let mut out = vec![b0; ho * wo];
            for c in 0..ci {
                let plane = &xs[c * h * wd..(c + 1) * h * wd];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let k = w[[o, c, ky, kx]];
                        for oy in 0..ho {
                            // Input row oy*stride + ky - pad; skip rows in the padding.
                            let Some(iy) = (oy * stride + ky).checked_sub(pad) else {
                                continue;
                            };
                            if iy >= h {
                                continue;
                            }
                            let row = &plane[iy * wd..(iy + 1) * wd];
                            let orow = &mut out[oy * wo..(oy + 1) * wo];
                            for (ox, acc) in orow.iter_mut().enumerate() {
                                if let Some(ix) = (ox * stride + kx).checked_sub(pad) {
                                    if ix < wd {
                                        *acc += k * row[ix];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            out
        })
        .collect();
    Array3::from_shape_vec((co, ho, wo), planes.concat()).expect("shape matches length")
}

/// Per-channel quadratic `a x^2 + b x + c` on `x: [C, H, W]`.
///
/// # Panics
/// If the activation's channel count is not `C`.
pub fn quadratic(x: &Array3<f64>, act: &Act) -> Array3<f64> {
    let c = x.dim().0;
    assert_eq!(
        act.channels(),
        c,
        "quadratic: activation has {} channels, input {c}",
        act.channels()
    );
    let mut y = x.clone();
    for (ch, mut plane) in y.axis_iter_mut(Axis(0)).enumerate() {
        let (a, b, k) = (act.a[ch], act.b[ch], act.c[ch]);
        // Same operation order as the torch script, a*z*z + b*z + c.
        plane.mapv_inplace(|z| a * z * z + b * z + k);
    }
    y
}

/// Runs the fused network on one `[c_in, H, W]` image (see
/// [`super::data::fashion_input`]) and records every intermediate tensor.
///
/// # Panics
/// If the input's channel count is not [`ResNetWeights::in_channels`] or the image is
/// too small for the strides.
pub fn forward(w: &ResNetWeights, input: &Array3<f64>) -> Forward {
    assert_eq!(
        input.dim().0,
        w.in_channels(),
        "forward: input has {} channels, the network expects {}",
        input.dim().0,
        w.in_channels()
    );
    let mut layers = Vec::new();
    let mut record = |name: String, t: &Array3<f64>| layers.push((name, t.clone()));

    let y = conv2d(input, &w.conv0, None, 1, 1);
    record("conv0".into(), &y);
    let mut x = quadratic(&y, &w.act0);
    record("act0".into(), &x);

    for (i, b) in w.blocks.iter().enumerate() {
        let p = format!("block{i}");
        let y = conv2d(&x, &b.conv1, None, b.stride, 1);
        record(format!("{p}.conv1"), &y);
        let y = quadratic(&y, &b.act1);
        record(format!("{p}.act1"), &y);
        let y = conv2d(&y, &b.conv2, None, 1, 1);
        record(format!("{p}.conv2"), &y);
        let s = match &b.down {
            Some((dw, db)) => conv2d(&x, dw, Some(db), b.stride, 0),
            None => x.clone(),
        };
        record(format!("{p}.shortcut"), &s);
        let sum = &y + &s;
        record(format!("{p}.add"), &sum);
        x = quadratic(&sum, &b.act2);
        record(format!("{p}.act2"), &x);
    }

    let (c, h, wd) = x.dim();
    let pooled = x
        .sum_axis(Axis(2))
        .sum_axis(Axis(1))
        .mapv(|v| v / (h * wd) as f64);
    let pool = pooled
        .clone()
        .into_shape_with_order((c, 1, 1))
        .expect("[C] to [C,1,1]");
    record("pool".into(), &pool);

    let logits = (w.fc_w.dot(&pooled) + &w.fc_b).to_vec();
    Forward { logits, layers }
}
