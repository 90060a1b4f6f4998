//! Fused ResNet weights read from a safetensors file.
//!
//! `models/train/train_resnet20.py` exports every "BN + activation" already fused into
//! one quadratic per channel and every shortcut batch norm folded into its 1x1 conv,
//! so the file holds exactly what inference needs:
//!
//! | name | shape |
//! |------|-------|
//! | `conv0.weight` | `[w0, c_in, 3, 3]` |
//! | `act0.{a,b,c}` | `[w0]` |
//! | `block{i}.conv1.weight` | `[co, ci, 3, 3]` |
//! | `block{i}.act1.{a,b,c}` | `[co]` |
//! | `block{i}.conv2.weight` | `[co, co, 3, 3]` |
//! | `block{i}.act2.{a,b,c}` | `[co]` |
//! | `block{i}.down.weight`, `block{i}.down.bias` | `[co, ci, 1, 1]`, `[co]` (optional) |
//! | `fc.weight`, `fc.bias` | `[classes, w_last]`, `[classes]` |
//!
//! Nothing about the widths or the depth is hard-coded: the stem width comes from
//! `conv0.weight`, each block's width from its `conv1.weight`, the block count from the
//! `block{i}` names present, and a block has stride 2 exactly when it has a `down`
//! projection. Every other shape is then implied and checked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array4};
use safetensors::{Dtype, SafeTensors};

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
    /// The file holds a tensor that is not part of the architecture (a typo, or a
    /// block whose predecessors are missing): refused rather than silently ignored.
    #[error("unexpected tensor `{name}`: not part of a ResNet with {blocks} blocks")]
    UnexpectedTensor {
        /// The tensor's name.
        name: String,
        /// How many blocks the file was read as having.
        blocks: usize,
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
    /// 2 when the block has a projection shortcut, else 1.
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

/// A whole fused ResNet, in float64.
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
    /// Reads and validates a safetensors file.
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parses and validates safetensors bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsError> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Malformed {
            reason: e.to_string(),
        })?;
        let mut r = Reader {
            st: &st,
            used: BTreeSet::new(),
        };

        let conv0 = r.array4("conv0.weight", [None, None, Some(3), Some(3)])?;
        let mut width = conv0.shape()[0];
        let act0 = r.act("act0", width)?;

        // Any `block{i}.` name implies blocks 0..=i, so a missing tensor in a block is
        // reported by name instead of silently shortening the network.
        let n_blocks = st
            .names()
            .iter()
            .filter_map(|n| block_index(n))
            .max()
            .map_or(0, |i| i + 1);
        let mut blocks = Vec::new();
        for i in 0..n_blocks {
            let p = format!("block{i}");
            let ci = width;
            let conv1 = r.array4(
                &format!("{p}.conv1.weight"),
                [None, Some(ci), Some(3), Some(3)],
            )?;
            let co = conv1.shape()[0];
            let act1 = r.act(&format!("{p}.act1"), co)?;
            let conv2 = r.array4(
                &format!("{p}.conv2.weight"),
                [Some(co), Some(co), Some(3), Some(3)],
            )?;
            let act2 = r.act(&format!("{p}.act2"), co)?;
            let down_w = format!("{p}.down.weight");
            let down_b = format!("{p}.down.bias");
            // An identity shortcut cannot change the width: then the projection is
            // required, and reporting it missing names the real problem.
            let down = if r.has(&down_w) || r.has(&down_b) || ci != co {
                let w = r.array4(&down_w, [Some(co), Some(ci), Some(1), Some(1)])?;
                let b = r.array1(&down_b, co)?;
                Some((w, b))
            } else {
                None
            };
            let stride = if down.is_some() { 2 } else { 1 };
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

        let fc_w = r.array2("fc.weight", [None, Some(width)])?;
        let fc_b = r.array1("fc.bias", fc_w.shape()[0])?;

        if let Some(name) = st.names().into_iter().find(|n| !r.used.contains(*n)) {
            return Err(WeightsError::UnexpectedTensor {
                name: name.to_string(),
                blocks: blocks.len(),
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

/// The `i` of a `block{i}.…` tensor name.
fn block_index(name: &str) -> Option<usize> {
    let (index, _) = name.strip_prefix("block")?.split_once('.')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    index.parse().ok()
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

    fn act(&mut self, prefix: &str, channels: usize) -> Result<Act, WeightsError> {
        Ok(Act {
            a: self.array1(&format!("{prefix}.a"), channels)?,
            b: self.array1(&format!("{prefix}.b"), channels)?,
            c: self.array1(&format!("{prefix}.c"), channels)?,
        })
    }
}
