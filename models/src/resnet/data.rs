//! Fashion-MNIST inputs for the ResNet: the normalisation the model was trained with,
//! the test set (Debian's `dataset-fashion-mnist` when installed, else 64 bundled
//! images), and PNG loading.

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::Array3;

/// Class names in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Mean of the Fashion-MNIST training pixels (as `v / 255`).
pub const MEAN: f64 = 0.2860;
/// Standard deviation of the Fashion-MNIST training pixels (as `v / 255`).
pub const STD: f64 = 0.3530;

/// Where Debian's `dataset-fashion-mnist` package installs the files.
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// How many test images are bundled into the binary.
pub const BUNDLED_LEN: usize = 64;

const BUNDLED_IMAGES: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/fashion-mnist-test-64.idx3"
));
const BUNDLED_LABELS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/fashion-mnist-test-64.idx1"
));

/// Why an image could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// An idx file is malformed.
    #[error("bad idx data ({what}): {reason}")]
    Idx {
        /// Which file or buffer.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The image index is past the end of the test set.
    #[error("image index {index} out of range: {source_name} holds {len} images")]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// Which test set was used.
        source_name: String,
        /// How many images it holds.
        len: usize,
    },
    /// A PNG could not be decoded.
    #[error("cannot decode PNG {}: {reason}", path.display())]
    Png {
        /// The file.
        path: PathBuf,
        /// The decoder's explanation.
        reason: String,
    },
    /// A PNG decoded fine but is not an image the model takes.
    #[error(
        "PNG {} is {width}x{height}: expected 28x28 (Fashion-MNIST, grey or colour) or 32x32 (CIFAR-shaped)",
        path.display()
    )]
    UnsupportedSize {
        /// The file.
        path: PathBuf,
        /// Its width in pixels.
        width: u32,
        /// Its height in pixels.
        height: u32,
    },
}

/// Normalises 28x28 grey pixels the way the model was trained: `(v/255 - MEAN)/STD`,
/// then zero padding of 2 pixels on every side (after normalisation, so the border
/// is 0, not the normalised black), repeated to 3 channels: `[3, 32, 32]`.
///
/// Computed in f64; the training script normalised in f32, which differs by ~1e-7.
///
/// # Panics
/// If `img28` does not hold exactly 784 pixels.
pub fn fashion_input(img28: &[u8]) -> Array3<f64> {
    assert_eq!(
        img28.len(),
        28 * 28,
        "fashion_input takes 28x28 = 784 pixels"
    );
    let pixels: Vec<f64> = img28.iter().map(|&v| f64::from(v)).collect();
    fashion_input_f64(&pixels)
}

/// [`fashion_input`] on pixel values in `0.0..=255.0` (from colour-to-grey averaging).
fn fashion_input_f64(img28: &[f64]) -> Array3<f64> {
    let mut x = Array3::zeros((3, 32, 32));
    for y in 0..28 {
        for xx in 0..28 {
            let v = (img28[y * 28 + xx] / 255.0 - MEAN) / STD;
            for c in 0..3 {
                x[[c, y + 2, xx + 2]] = v;
            }
        }
    }
    x
}

/// A parsed idx file: unsigned-byte data with its dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// Dimensions, outermost first (`[n, 28, 28]` for images, `[n]` for labels).
    pub dims: Vec<usize>,
    /// Row-major data.
    pub data: Vec<u8>,
}

/// Parses an idx file of unsigned bytes, gzipped or plain (detected by the gzip
/// magic). `what` names the source in errors.
pub fn parse_idx(bytes: &[u8], what: &str) -> Result<Idx, DataError> {
    let err = |reason: String| DataError::Idx {
        what: what.to_string(),
        reason,
    };
    let raw;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| err(format!("gzip: {e}")))?;
        raw = out;
        &raw[..]
    } else {
        bytes
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(err("not an idx file (bad magic)".into()));
    }
    if bytes[2] != 0x08 {
        return Err(err(format!(
            "element type 0x{:02x} unsupported, only unsigned bytes (0x08)",
            bytes[2]
        )));
    }
    let nd = usize::from(bytes[3]);
    let header = 4 + 4 * nd;
    if bytes.len() < header {
        return Err(err(format!("truncated header ({nd} dimensions)")));
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| err(format!("dimensions {dims:?} overflow")))?;
    let body = &bytes[header..];
    if body.len() != len {
        return Err(err(format!(
            "dimensions {dims:?} need {len} bytes, file has {}",
            body.len()
        )));
    }
    Ok(Idx {
        dims,
        data: body.to_vec(),
    })
}

/// A Fashion-MNIST test set: images with their labels.
#[derive(Debug, Clone)]
pub struct FashionTestSet {
    name: String,
    images: Idx,
    labels: Idx,
}

impl FashionTestSet {
    /// The first [`BUNDLED_LEN`] test images, compiled into the binary.
    pub fn bundled() -> Self {
        Self::from_idx(
            "the bundled Fashion-MNIST subset".to_string(),
            BUNDLED_IMAGES,
            BUNDLED_LABELS,
        )
        .expect("bundled idx files are valid")
    }

    /// The full test set in `dir` (`t10k-{images-idx3,labels-idx1}-ubyte.gz`).
    pub fn from_dir(dir: &Path) -> Result<Self, DataError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| DataError::Io { path, source })
        };
        let images = read("t10k-images-idx3-ubyte.gz")?;
        let labels = read("t10k-labels-idx1-ubyte.gz")?;
        Self::from_idx(
            format!("the Fashion-MNIST test set in {}", dir.display()),
            &images,
            &labels,
        )
    }

    /// Debian's test set when installed, else the bundled subset.
    pub fn open_default() -> Result<Self, DataError> {
        let dir = Path::new(DEBIAN_DIR);
        if dir.join("t10k-images-idx3-ubyte.gz").is_file()
            && dir.join("t10k-labels-idx1-ubyte.gz").is_file()
        {
            Self::from_dir(dir)
        } else {
            Ok(Self::bundled())
        }
    }

    fn from_idx(name: String, images: &[u8], labels: &[u8]) -> Result<Self, DataError> {
        let images = parse_idx(images, &format!("images of {name}"))?;
        let labels = parse_idx(labels, &format!("labels of {name}"))?;
        let bad = |reason: String| DataError::Idx {
            what: name.clone(),
            reason,
        };
        if images.dims.len() != 3 || images.dims[1..] != [28, 28] {
            return Err(bad(format!(
                "images have dimensions {:?}, expected [n, 28, 28]",
                images.dims
            )));
        }
        if labels.dims != [images.dims[0]] {
            return Err(bad(format!(
                "labels have dimensions {:?} for {} images",
                labels.dims, images.dims[0]
            )));
        }
        Ok(FashionTestSet {
            name,
            images,
            labels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.data.len()
    }

    /// Whether the set holds no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Which set this is, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Image `index`: the model input ([`fashion_input`]), its label, and the raw
    /// 28x28 pixels.
    pub fn image(&self, index: usize) -> Result<(Array3<f64>, u8, Vec<u8>), DataError> {
        if index >= self.len() {
            return Err(DataError::OutOfRange {
                index,
                source_name: self.name.clone(),
                len: self.len(),
            });
        }
        let raw = self.images.data[index * 784..(index + 1) * 784].to_vec();
        Ok((fashion_input(&raw), self.labels.data[index], raw))
    }
}

/// Test image `index` from [`FashionTestSet::open_default`]: the model input, its
/// label and the raw 28x28 pixels.
pub fn test_image(index: usize) -> Result<(Array3<f64>, u8, Vec<u8>), DataError> {
    FashionTestSet::open_default()?.image(index)
}

/// Loads a PNG as model input: 28x28 (grey, or colour averaged to grey) goes through
/// [`fashion_input`]; 32x32 is taken as a CIFAR-shaped image, each channel normalised
/// with the same statistics and no padding (grey repeated to 3 channels). Alpha is
/// ignored.
pub fn load_png(path: &Path) -> Result<Array3<f64>, DataError> {
    let png_err = |e: png::DecodingError| DataError::Png {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    // Palette and low bit depths expand to 8-bit; 16-bit strips to 8-bit.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(png_err)?;
    let (width, height) = (reader.info().width, reader.info().height);
    if !matches!((width, height), (28, 28) | (32, 32)) {
        return Err(DataError::UnsupportedSize {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    let size = reader.output_buffer_size().ok_or_else(|| DataError::Png {
        path: path.to_path_buf(),
        reason: "image too large".into(),
    })?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(png_err)?;
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(DataError::Png {
                path: path.to_path_buf(),
                reason: "indexed colour was not expanded".into(),
            })
        }
    };
    let (w, h) = (width as usize, height as usize);
    // Colour channels of pixel i, without alpha.
    let colour = |i: usize| {
        let px = &buf[i * channels..i * channels + channels];
        if channels >= 3 {
            &px[..3]
        } else {
            &px[..1]
        }
    };
    if w == 28 {
        let grey: Vec<f64> = (0..28 * 28)
            .map(|i| {
                let c = colour(i);
                c.iter().map(|&v| f64::from(v)).sum::<f64>() / c.len() as f64
            })
            .collect();
        return Ok(fashion_input_f64(&grey));
    }
    let mut x = Array3::zeros((3, h, w));
    for i in 0..w * h {
        let c = colour(i);
        for ch in 0..3 {
            let v = f64::from(c[ch.min(c.len() - 1)]);
            x[[ch, i / w, i % w]] = (v / 255.0 - MEAN) / STD;
        }
    }
    Ok(x)
}
