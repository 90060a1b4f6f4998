//! ResNet weights read from a PyTorch state dict saved as safetensors, batch norms
//! folded.
//!
//! `models/train/train_resnet20.py` exports `model.state_dict()` in eval mode under its
//! PyTorch names (torchvision's ResNet naming; `{bn}` stands for the four tensors
//! `{bn}.weight`, `{bn}.bias`, `{bn}.running_mean`, `{bn}.running_var`, each `[c]`):
//!
//! | name | shape |
//! |------|-------|
//! | `conv1.weight` | `[w0, c_in, 3, 3]` |
//! | `act1.bn1`, `act1.bn2` | `{bn}` with `c = w0` |
//! | `layer{k}.{j}.conv1.weight` | `[co, ci, 3, 3]` |
//! | `layer{k}.{j}.act1.bn1`, `.act1.bn2` | `{bn}` with `c = co` |
//! | `layer{k}.{j}.conv2.weight` | `[co, co, 3, 3]` |
//! | `layer{k}.{j}.act2.bn1`, `.act2.bn2` | `{bn}` with `c = co` |
//! | `layer{k}.{j}.downsample.0.weight` | `[co, ci, 1, 1]` (when the block needs it) |
//! | `layer{k}.{j}.downsample.1` | `{bn}` with `c = co` (same) |
//! | `fc.weight`, `fc.bias` | `[classes, w_last]`, `[classes]` |
//!
//! for `k` in 1..=3 and `j` in 0..n. `{bn}.num_batches_tracked`, which eval mode does
//! not use, may be present and is ignored; any other name is refused.
//!
//! Nothing about the widths or the depth is hard-coded: n (blocks per stage, depth
//! 6n + 2) comes from the `layer{k}.{j}` names present, the stem width from
//! `conv1.weight`, each block's width from its `conv1.weight` (the same for all blocks
//! of a stage). The first block of `layer2` and `layer3` has stride 2; a block has a
//! `downsample` exactly when its stride is 2 or its width changes. Every other shape is
//! then implied and checked.
//!
//! Folding (the same formulas as `HerPN.fused()` and `fold` in the training script):
//! a batch norm in eval mode is `s (x - mean) + beta` with
//! `s = weight / sqrt(running_var + BN_EPS)`. A HerPN activation,
//! `f0 + f1 bn1(x) + f2 bn2((x^2 - 1)/sqrt 2)` with `(f0, f1, f2)` = [`HERMITE_RELU`],
//! becomes the per-channel quadratic [`Act`] with `a = f2 s2 / sqrt 2`, `b = f1 s1`,
//! `c = f0 + f1 (beta1 - s1 mean1) + f2 (beta2 - s2 (mean2 + 1/sqrt 2))`. The
//! downsample's batch norm folds into its 1x1 conv: weight row `o` times `s[o]`,
//! bias `beta - s mean`. [`super::torch_ref`] runs the unfolded network to check this.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array4, Axis};
use safetensors::{Dtype, SafeTensors};

/// The `eps` of every batch norm: PyTorch's `nn.BatchNorm2d` default, which the
/// training script keeps (it is not stored in the state dict).
pub const BN_EPS: f64 = 1e-5;

/// ReLU's Hermite coefficients `(f0, f1, f2)` in the normalised basis `1`, `x`,
/// `(x^2 - 1)/sqrt 2` (`HERMITE_RELU` of the training script):
/// `1/sqrt(2 pi)`, `1/2`, `1/sqrt(4 pi)`.
pub const HERMITE_RELU: [f64; 3] = [0.398_942_280_401_432_7, 0.5, 0.282_094_791_773_878_14];

/// Why a weights file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read at all.
    #[error("cannot read weights file {}: {source}", path.display())]
    Io {
        /// The file asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file (truncated, garbage, bad header).
    #[error("malformed safetensors data: {reason}")]
    Malformed {
        /// The parser's explanation.
        reason: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("missing tensor `{name}`")]
    MissingTensor {
        /// The tensor's name.
        name: String,
    },
    /// A tensor's shape disagrees with what the rest of the file implies.
    #[error("tensor `{name}` has shape {found:?}, expected {expected}")]
    WrongShape {
        /// The tensor's name.
        name: String,
        /// The expected shape, `_` where any positive size is accepted.
        expected: String,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a type other than F32 or F64.
    #[error("tensor `{name}` has dtype {found}, expected F32 or F64")]
    WrongDtype {
        /// The tensor's name.
        name: String,
        /// The dtype in the file.
        found: String,
    },
    /// A tensor holds a NaN or an infinity.
    #[error("tensor `{name}` holds a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        /// The tensor's name.
        name: String,
        /// Row-major index of the first bad element.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// A batch norm's `running_var + eps` is zero or negative, so it has no scale.
    #[error("tensor `{name}` has running variance {value} at channel {index}: running_var + eps must be positive")]
    NonPositiveVariance {
        /// The `running_var` tensor's name.
        name: String,
        /// The channel.
        index: usize,
        /// The stored variance.
        value: f64,
    },
    /// The file holds a tensor that is not part of the architecture (a typo, a fourth
    /// stage, a downsample where the block has none): refused rather than ignored.
    #[error("unexpected tensor `{name}`: not part of a ResNet-{depth} state dict")]
    UnexpectedTensor {
        /// The tensor's name.
        name: String,
        /// The depth the file was read as (6n + 2).
        depth: usize,
    },
}

/// One per-channel quadratic activation, `y = a x^2 + b x + c`.
#[derive(Debug, Clone, PartialEq)]
pub struct Act {
    /// Coefficient of `x^2`, one per channel.
    pub a: Array1<f64>,
    /// Coefficient of `x`, one per channel.
    pub b: Array1<f64>,
    /// Constant term, one per channel.
    pub c: Array1<f64>,
}

impl Act {
    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.a.len()
    }
}

/// One basic residual block: `act2(conv2(act1(conv1(x))) + shortcut(x))`.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockWeights {
    /// 3x3 conv, `[co, ci, 3, 3]`, applied with `stride` and padding 1.
    pub conv1: Array4<f64>,
    /// Activation after `conv1`.
    pub act1: Act,
    /// 3x3 conv, `[co, co, 3, 3]`, stride 1, padding 1.
    pub conv2: Array4<f64>,
    /// Activation after the residual add.
    pub act2: Act,
    /// 1x1 projection shortcut `([co, ci, 1, 1], [co])` with batch norm folded in,
    /// applied with `stride` and no padding; `None` means the identity shortcut.
    pub down: Option<(Array4<f64>, Array1<f64>)>,
    /// 2 for the first block of `layer2` and `layer3`, else 1.
    pub stride: usize,
}

impl BlockWeights {
    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.conv1.shape()[1]
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.conv1.shape()[0]
    }
}

/// A whole ResNet with its batch norms folded, in float64.
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetWeights {
    /// Stem 3x3 conv, `[w0, c_in, 3, 3]`, stride 1, padding 1.
    pub conv0: Array4<f64>,
    /// Stem activation.
    pub act0: Act,
    /// The residual blocks in order.
    pub blocks: Vec<BlockWeights>,
    /// Classifier weight, `[classes, w_last]`.
    pub fc_w: Array2<f64>,
    /// Classifier bias, `[classes]`.
    pub fc_b: Array1<f64>,
}

impl ResNetWeights {
    /// Reads a state-dict safetensors file (see the module doc) and folds its batch
    /// norms.
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_state_dict_bytes(&bytes)
    }

    /// Parses and validates state-dict safetensors bytes (see the module doc) and folds
    /// its batch norms.
    pub fn from_state_dict_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Malformed {
            reason: e.to_string(),
        })?;
        let mut r = Reader {
            st: &st,
            used: BTreeSet::new(),
        };

        let conv0 = r.array4("conv1.weight", [None, None, Some(3), Some(3)])?;
        let mut width = conv0.shape()[0];
        let act0 = r.herpn("act1", width)?;

        // Any `layer{k}.{j}.` name (k = 1..=3) implies blocks 0..=j in every stage, so
        // a missing tensor in a block is reported by name instead of silently
        // shortening the network.
        let n = st
            .names()
            .iter()
            .filter_map(|name| block_index(name))
            .filter(|&(k, _)| (1..=3).contains(&k))
            .map(|(_, j)| j + 1)
            .max()
            .unwrap_or(1);
        let mut blocks = Vec::new();
        for k in 1..=3 {
            let mut stage_width = None;
            for j in 0..n {
                let p = format!("layer{k}.{j}");
                let stride = if k > 1 && j == 0 { 2 } else { 1 };
                let ci = width;
                let conv1 = r.array4(
                    &format!("{p}.conv1.weight"),
                    [stage_width, Some(ci), Some(3), Some(3)],
                )?;
                let co = conv1.shape()[0];
                stage_width = Some(co);
                let act1 = r.herpn(&format!("{p}.act1"), co)?;
                let conv2 = r.array4(
                    &format!("{p}.conv2.weight"),
                    [Some(co), Some(co), Some(3), Some(3)],
                )?;
                let act2 = r.herpn(&format!("{p}.act2"), co)?;
                // torchvision's rule: a projection exactly when the identity cannot be
                // the shortcut. One in the file elsewhere is left over and refused.
                let down = if stride != 1 || ci != co {
                    let mut w = r.array4(
                        &format!("{p}.downsample.0.weight"),
                        [Some(co), Some(ci), Some(1), Some(1)],
                    )?;
                    let bn = r.batch_norm(&format!("{p}.downsample.1"), co)?;
                    for (mut row, s) in w.axis_iter_mut(Axis(0)).zip(&bn.scale) {
                        row.mapv_inplace(|v| v * s);
                    }
                    Some((w, bn.shift))
                } else {
                    None
                };
                blocks.push(BlockWeights {
                    conv1,
                    act1,
                    conv2,
                    act2,
                    down,
                    stride,
                });
                width = co;
            }
        }

        let fc_w = r.array2("fc.weight", [None, Some(width)])?;
        let fc_b = r.array1("fc.bias", fc_w.shape()[0])?;

        if let Some(name) = st.names().into_iter().find(|n| !r.used.contains(*n)) {
            return Err(WeightsError::UnexpectedTensor {
                name: name.to_string(),
                depth: 6 * n + 2,
            });
        }
        Ok(ResNetWeights {
            conv0,
            act0,
            blocks,
            fc_w,
            fc_b,
        })
    }

    /// Channels of the input image (3 for the CIFAR-shaped models).
    pub fn in_channels(&self) -> usize {
        self.conv0.shape()[1]
    }

    /// The stem width followed by each block's output width.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.conv0.shape()[0])
            .chain(self.blocks.iter().map(BlockWeights::out_channels))
            .collect()
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        self.fc_b.len()
    }
}

/// The `(k, j)` of a `layer{k}.{j}.…` tensor name.
fn block_index(name: &str) -> Option<(usize, usize)> {
    // PyTorch writes indices without leading zeros: `layer1.01.…` is not block 1.
    let digits = |s: &str| {
        if s.is_empty()
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return None;
        }
        s.parse().ok()
    };
    let (k, rest) = name.strip_prefix("layer")?.split_once('.')?;
    let (j, _) = rest.split_once('.')?;
    Some((digits(k)?, digits(j)?))
}

/// A batch norm in eval mode as `scale * x + shift`, per channel.
struct Affine {
    scale: Array1<f64>,
    shift: Array1<f64>,
}

/// Reads tensors by name, remembering which were used so leftovers can be refused.
struct Reader<'a, 'd> {
    st: &'a SafeTensors<'d>,
    used: BTreeSet<String>,
}

impl Reader<'_, '_> {
    fn has(&self, name: &str) -> bool {
        self.st.tensor(name).is_ok()
    }

    /// Loads `name` as f64 after checking its shape against `expected`
    /// (`None` = any positive size).
    fn load(
        &mut self,
        name: &str,
        expected: &[Option<usize>],
    ) -> Result<(Vec<usize>, Vec<f64>), WeightsError> {
        let view = self
            .st
            .tensor(name)
            .map_err(|_| WeightsError::MissingTensor {
                name: name.to_string(),
            })?;
        self.used.insert(name.to_string());
        let shape = view.shape().to_vec();
        let ok = shape.len() == expected.len()
            && shape
                .iter()
                .zip(expected)
                .all(|(&s, e)| s > 0 && e.is_none_or(|e| e == s));
        if !ok {
            let dims: Vec<String> = expected
                .iter()
                .map(|e| e.map_or_else(|| "_".to_string(), |e| e.to_string()))
                .collect();
            return Err(WeightsError::WrongShape {
                name: name.to_string(),
                expected: format!("[{}]", dims.join(", ")),
                found: shape,
            });
        }
        let data = view.data();
        let values: Vec<f64> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            other => {
                return Err(WeightsError::WrongDtype {
                    name: name.to_string(),
                    found: format!("{other:?}"),
                })
            }
        };
        // safetensors checks offsets against shape and dtype; this guards the reshape
        // below against any slip there.
        if values.len() != shape.iter().product::<usize>() {
            return Err(WeightsError::Malformed {
                reason: format!(
                    "tensor `{name}` holds {} values for shape {shape:?}",
                    values.len()
                ),
            });
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(WeightsError::NonFinite {
                name: name.to_string(),
                index,
                value,
            });
        }
        Ok((shape, values))
    }

    fn array1(&mut self, name: &str, n: usize) -> Result<Array1<f64>, WeightsError> {
        let (_, v) = self.load(name, &[Some(n)])?;
        Ok(Array1::from(v))
    }

    fn array2(
        &mut self,
        name: &str,
        expected: [Option<usize>; 2],
    ) -> Result<Array2<f64>, WeightsError> {
        let (s, v) = self.load(name, &expected)?;
        Array2::from_shape_vec((s[0], s[1]), v).map_err(|e| WeightsError::Malformed {
            reason: format!("tensor `{name}`: {e}"),
        })
    }

    fn array4(
        &mut self,
        name: &str,
        expected: [Option<usize>; 4],
    ) -> Result<Array4<f64>, WeightsError> {
        let (s, v) = self.load(name, &expected)?;
        Array4::from_shape_vec((s[0], s[1], s[2], s[3]), v).map_err(|e| WeightsError::Malformed {
            reason: format!("tensor `{name}`: {e}"),
        })
    }

    /// `{prefix}.{weight,bias,running_mean,running_var}`, folded to `s x + (beta - s mean)`
    /// with `s = weight / sqrt(running_var + BN_EPS)`.
    fn batch_norm(&mut self, prefix: &str, channels: usize) -> Result<Affine, WeightsError> {
        let weight = self.array1(&format!("{prefix}.weight"), channels)?;
        let bias = self.array1(&format!("{prefix}.bias"), channels)?;
        let mean = self.array1(&format!("{prefix}.running_mean"), channels)?;
        let var_name = format!("{prefix}.running_var");
        let var = self.array1(&var_name, channels)?;
        if let Some((index, &value)) = var.iter().enumerate().find(|(_, &v)| v + BN_EPS <= 0.0) {
            return Err(WeightsError::NonPositiveVariance {
                name: var_name,
                index,
                value,
            });
        }
        // The batch counter only matters in training mode.
        let counter = format!("{prefix}.num_batches_tracked");
        if self.has(&counter) {
            self.used.insert(counter);
        }
        let scale = &weight / &var.mapv(|v| (v + BN_EPS).sqrt());
        let shift = &bias - &(&scale * &mean);
        Ok(Affine { scale, shift })
    }

    /// A HerPN activation (`{prefix}.bn1`, `{prefix}.bn2`) folded to `a x^2 + b x + c`.
    fn herpn(&mut self, prefix: &str, channels: usize) -> Result<Act, WeightsError> {
        let [f0, f1, f2] = HERMITE_RELU;
        let bn1 = self.batch_norm(&format!("{prefix}.bn1"), channels)?;
        let bn2 = self.batch_norm(&format!("{prefix}.bn2"), channels)?;
        let r2 = std::f64::consts::SQRT_2;
        // bn2((x^2 - 1)/r2) = s2/r2 x^2 + shift2 - s2/r2, and shift2 - s2/r2 is
        // beta2 - s2 (mean2 + 1/r2).
        Ok(Act {
            a: bn2.scale.mapv(|s2| f2 * s2 / r2),
            b: bn1.scale.mapv(|s1| f1 * s1),
            c: ndarray::Zip::from(&bn1.shift)
                .and(&bn2.scale)
                .and(&bn2.shift)
                .map_collect(|&t1, &s2, &t2| f0 + f1 * t1 + f2 * (t2 - s2 / r2)),
        })
    }
}
