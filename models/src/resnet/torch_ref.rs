//! The PyTorch-shaped ResNet run straight from its state dict, in float64: the
//! independent check of the batch-norm folding in [`super::weights`].
//!
//! Nothing is folded here. Each module is evaluated the way PyTorch defines it in eval
//! mode: `BatchNorm2d` as `(x - running_mean) / sqrt(running_var + eps) * weight + bias`,
//! HerPN as `f0 + f1 bn1(x) + f2 bn2((x^2 - 1)/sqrt 2)`, `Conv2d` by its direct sum
//! with zero padding, the residual add, global average pooling and `Linear`. Every
//! module output is recorded under its PyTorch name, so a disagreement with
//! [`super::reference::forward`] on the folded weights points at one layer.
//!
//! Slow (a plain loop per output element) and only for tests and debugging.

use std::collections::BTreeMap;
use std::f64::consts::PI;

use anyhow::{anyhow, bail, ensure, Context};
use ndarray::{Array1, Array3, ArrayD, Axis, IxDyn};
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};

/// `nn.BatchNorm2d`'s default `eps`, used by the training script.
const EPS: f64 = 1e-5;

/// Every tensor of a state dict, widened to float64, by name.
#[derive(Debug, Clone)]
pub struct StateDict {
    tensors: BTreeMap<String, ArrayD<f64>>,
}

impl StateDict {
    /// Reads every F32 / F64 tensor of a safetensors file (other dtypes are refused).
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let st = SafeTensors::deserialize(bytes).context("malformed safetensors data")?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f64> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
                    .collect(),
                Dtype::F64 => data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
                other => bail!("tensor `{name}` has dtype {other:?}"),
            };
            let t = ArrayD::from_shape_vec(IxDyn(view.shape()), values)
                .with_context(|| format!("tensor `{name}`"))?;
            tensors.insert(name, t);
        }
        Ok(StateDict { tensors })
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> anyhow::Result<&ArrayD<f64>> {
        self.tensors
            .get(name)
            .ok_or_else(|| anyhow!("missing tensor `{name}`"))
    }

    /// Blocks per stage: the `j` for which `layer1.{j}.conv1.weight` exists.
    pub fn blocks_per_stage(&self) -> usize {
        (0..)
            .take_while(|j| {
                self.tensors
                    .contains_key(&format!("layer1.{j}.conv1.weight"))
            })
            .count()
    }

    fn vector(&self, name: &str) -> anyhow::Result<Vec<f64>> {
        let t = self.get(name)?;
        ensure!(t.ndim() == 1, "tensor `{name}` is not a vector");
        Ok(t.iter().copied().collect())
    }

    /// `BatchNorm2d` in eval mode on `[C, H, W]`.
    fn batch_norm(&self, prefix: &str, x: &Array3<f64>) -> anyhow::Result<Array3<f64>> {
        let weight = self.vector(&format!("{prefix}.weight"))?;
        let bias = self.vector(&format!("{prefix}.bias"))?;
        let mean = self.vector(&format!("{prefix}.running_mean"))?;
        let var = self.vector(&format!("{prefix}.running_var"))?;
        ensure!(weight.len() == x.dim().0, "`{prefix}` has the wrong width");
        let mut y = x.clone();
        for (c, mut plane) in y.axis_iter_mut(Axis(0)).enumerate() {
            let sd = (var[c] + EPS).sqrt();
            plane.mapv_inplace(|v| (v - mean[c]) / sd * weight[c] + bias[c]);
        }
        Ok(y)
    }

    /// AESPA's HerPN: `f0 + f1 bn1(x) + f2 bn2((x^2 - 1)/sqrt 2)`, with ReLU's Hermite
    /// coefficients (`HERMITE_RELU` of the training script).
    fn herpn(&self, prefix: &str, x: &Array3<f64>) -> anyhow::Result<Array3<f64>> {
        let (f0, f1, f2) = (1.0 / (2.0 * PI).sqrt(), 0.5, 1.0 / (4.0 * PI).sqrt());
        let h2 = x.mapv(|v| (v * v - 1.0) / 2f64.sqrt());
        let y1 = self.batch_norm(&format!("{prefix}.bn1"), x)?;
        let y2 = self.batch_norm(&format!("{prefix}.bn2"), &h2)?;
        Ok(ndarray::Zip::from(&y1)
            .and(&y2)
            .map_collect(|&a, &b| f0 + f1 * a + f2 * b))
    }

    /// `Conv2d` without bias, square kernel from the weight's shape.
    fn conv(
        &self,
        name: &str,
        x: &Array3<f64>,
        stride: usize,
        pad: usize,
    ) -> anyhow::Result<Array3<f64>> {
        let w = self.get(name)?;
        ensure!(w.ndim() == 4, "tensor `{name}` is not a conv weight");
        let (co, ci, k) = (w.shape()[0], w.shape()[1], w.shape()[2]);
        let (xc, h, wd) = x.dim();
        ensure!(ci == xc, "`{name}` takes {ci} channels, the input has {xc}");
        let ho = (h + 2 * pad - k) / stride + 1;
        let wo = (wd + 2 * pad - k) / stride + 1;
        let planes: Vec<Vec<f64>> = (0..co)
            .into_par_iter()
            .map(|o| {
                let mut out = Vec::with_capacity(ho * wo);
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0.0;
                        for c in 0..ci {
                            for ky in 0..k {
                                for kx in 0..k {
                                    // Input position (oy*stride + ky - pad, ox*stride + kx - pad),
                                    // zero outside the image.
                                    let iy = (oy * stride + ky) as isize - pad as isize;
                                    let ix = (ox * stride + kx) as isize - pad as isize;
                                    if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= wd {
                                        continue;
                                    }
                                    acc += w[[o, c, ky, kx]] * x[[c, iy as usize, ix as usize]];
                                }
                            }
                        }
                        out.push(acc);
                    }
                }
                out
            })
            .collect();
        Ok(Array3::from_shape_vec((co, ho, wo), planes.concat()).expect("shape matches"))
    }
}

/// Result of [`forward`].
#[derive(Debug, Clone)]
pub struct TorchForward {
    /// One score per class.
    pub logits: Vec<f64>,
    /// Every module output `[C, H, W]` in evaluation order, by PyTorch name: `conv1`,
    /// `act1`, then per block `layer{k}.{j}.conv1`, `.act1`, `.conv2`, `.downsample`
    /// (blocks that have one), `.add` (conv2 + shortcut), `.act2`, then `pool` and `fc`
    /// as `[C, 1, 1]`.
    pub layers: Vec<(String, Array3<f64>)>,
}

impl TorchForward {
    /// The module output called `name`, if recorded.
    pub fn layer(&self, name: &str) -> Option<&Array3<f64>> {
        self.layers.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// Runs the unfolded network of `sd` on one `[c_in, H, W]` image. The first block of
/// `layer2` and `layer3` has stride 2; a block's shortcut is its `downsample` when the
/// state dict has one, else the identity.
pub fn forward(sd: &StateDict, input: &Array3<f64>) -> anyhow::Result<TorchForward> {
    let mut layers = Vec::new();
    let mut record = |name: String, t: &Array3<f64>| layers.push((name, t.clone()));

    let y = sd.conv("conv1.weight", input, 1, 1)?;
    record("conv1".into(), &y);
    let mut x = sd.herpn("act1", &y)?;
    record("act1".into(), &x);

    let n = sd.blocks_per_stage();
    ensure!(n > 0, "missing tensor `layer1.0.conv1.weight`");
    for k in 1..=3 {
        for j in 0..n {
            let p = format!("layer{k}.{j}");
            let stride = if k > 1 && j == 0 { 2 } else { 1 };
            let y = sd.conv(&format!("{p}.conv1.weight"), &x, stride, 1)?;
            record(format!("{p}.conv1"), &y);
            let y = sd.herpn(&format!("{p}.act1"), &y)?;
            record(format!("{p}.act1"), &y);
            let y = sd.conv(&format!("{p}.conv2.weight"), &y, 1, 1)?;
            record(format!("{p}.conv2"), &y);
            let shortcut = if sd.get(&format!("{p}.downsample.0.weight")).is_ok() {
                let s = sd.conv(&format!("{p}.downsample.0.weight"), &x, stride, 0)?;
                let s = sd.batch_norm(&format!("{p}.downsample.1"), &s)?;
                record(format!("{p}.downsample"), &s);
                s
            } else {
                x.clone()
            };
            ensure!(y.dim() == shortcut.dim(), "`{p}`: shortcut shape differs");
            let sum = &y + &shortcut;
            record(format!("{p}.add"), &sum);
            x = sd.herpn(&format!("{p}.act2"), &sum)?;
            record(format!("{p}.act2"), &x);
        }
    }

    let (c, h, w) = x.dim();
    let pooled: Array1<f64> = x
        .axis_iter(Axis(0))
        .map(|plane| plane.sum() / (h * w) as f64)
        .collect();
    record(
        "pool".into(),
        &pooled.clone().into_shape_with_order((c, 1, 1))?,
    );

    let fc_w = sd.get("fc.weight")?;
    let fc_b = sd.vector("fc.bias")?;
    ensure!(
        fc_w.shape() == [fc_b.len(), c],
        "`fc.weight` has the wrong shape"
    );
    let logits: Vec<f64> = (0..fc_b.len())
        .map(|o| fc_b[o] + (0..c).map(|i| fc_w[[o, i]] * pooled[i]).sum::<f64>())
        .collect();
    record(
        "fc".into(),
        &Array3::from_shape_vec((logits.len(), 1, 1), logits.clone())?,
    );
    Ok(TorchForward { logits, layers })
}
