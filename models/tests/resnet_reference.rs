//! The float64 ResNet reference against torch, the weights loader's validation, and
//! the Fashion-MNIST input path. Uses only files in the repository (the bundled
//! 64-image subset and `tests/fixtures/`), never the system dataset.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use fhe_models::resnet::data::{
    fashion_input, load_png, parse_idx, DataError, FashionTestSet, FASHION_MNIST_CLASSES,
};
use fhe_models::resnet::reference::{conv2d, forward, quadratic};
use fhe_models::resnet::weights::{Act, ResNetWeights, WeightsError};
use ndarray::{Array1, Array3, Array4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::{Dtype, View};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn narrow() -> ResNetWeights {
    ResNetWeights::load(&fixture("resnet20_narrow.safetensors")).expect("fixture loads")
}

fn close(a: f64, b: f64, scale: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * scale.max(f64::MIN_POSITIVE)
}

#[test]
fn narrow_fixture_shapes_are_inferred() {
    let w = narrow();
    assert_eq!(w.in_channels(), 3);
    assert_eq!(w.widths(), vec![2, 2, 2, 2, 4, 4, 4, 8, 8, 8]);
    let strides: Vec<usize> = w.blocks.iter().map(|b| b.stride).collect();
    assert_eq!(strides, vec![1, 1, 1, 2, 1, 1, 2, 1, 1]);
    assert_eq!(w.num_classes(), 10);
}

#[test]
fn forward_matches_torch_fused_forward() {
    let w = narrow();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("resnet20_narrow.json")).unwrap())
            .unwrap();
    let set = FashionTestSet::bundled();
    let images = json["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    for img in images {
        let index = img["index"].as_u64().unwrap() as usize;
        let (x, label, _) = set.image(index).unwrap();
        assert_eq!(u64::from(label), img["label"].as_u64().unwrap());
        let f = forward(&w, &x);

        let want: Vec<f64> = img["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(f.logits.len(), want.len());
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (k, (&got, &w)) in f.logits.iter().zip(&want).enumerate() {
            assert!(
                close(got, w, scale, 1e-9),
                "image {index} logit {k}: ours {got}, torch {w}"
            );
        }

        let layers = img["layers"].as_array().unwrap();
        let names: Vec<&str> = f.layers.iter().map(|(n, _)| n.as_str()).collect();
        let torch_names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
        assert_eq!(names, torch_names, "layer names and order");
        for l in layers {
            let name = l["name"].as_str().unwrap();
            let t = f.layer(name).unwrap();
            let shape: Vec<usize> = l["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(t.shape(), &shape[..], "{name} shape");
            let abs_sum = l["abs_sum"].as_f64().unwrap();
            let sum = l["sum"].as_f64().unwrap();
            assert!(
                close(t.sum(), sum, abs_sum, 1e-9),
                "image {index} {name}: sum ours {}, torch {sum}",
                t.sum()
            );
            let ours_abs: f64 = t.iter().map(|v| v.abs()).sum();
            assert!(close(ours_abs, abs_sum, abs_sum, 1e-9), "{name} abs sum");
            for (k, v) in l["first"].as_array().unwrap().iter().enumerate() {
                let v = v.as_f64().unwrap();
                let got = t.iter().nth(k).copied().unwrap();
                assert!(
                    close(got, v, abs_sum / t.len() as f64 + v.abs(), 1e-9),
                    "image {index} {name}[{k}]: ours {got}, torch {v}"
                );
            }
        }
    }
}

/// The textbook definition, one output element at a time.
fn naive_conv(
    x: &Array3<f64>,
    w: &Array4<f64>,
    bias: Option<&Array1<f64>>,
    stride: usize,
    pad: usize,
) -> Array3<f64> {
    let (ci, h, wd) = x.dim();
    let (co, _, kh, kw) = w.dim();
    let ho = (h + 2 * pad - kh) / stride + 1;
    let wo = (wd + 2 * pad - kw) / stride + 1;
    Array3::from_shape_fn((co, ho, wo), |(o, oy, ox)| {
        let mut s = bias.map_or(0.0, |b| b[o]);
        for c in 0..ci {
            for ky in 0..kh {
                for kx in 0..kw {
                    let iy = (oy * stride + ky) as isize - pad as isize;
                    let ix = (ox * stride + kx) as isize - pad as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                        s += w[[o, c, ky, kx]] * x[[c, iy as usize, ix as usize]];
                    }
                }
            }
        }
        s
    })
}

#[test]
fn conv2d_matches_naive_direct_sum() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // (ci, co, h, w, k, stride, pad, bias)
    let cases = [
        (3, 4, 8, 8, 3, 1, 1, false),
        (2, 3, 7, 9, 3, 1, 1, true),
        (4, 2, 8, 8, 3, 2, 1, false),
        (3, 5, 9, 7, 3, 2, 1, true),
        (4, 6, 8, 8, 1, 2, 0, true),
        (1, 1, 5, 5, 3, 1, 0, false),
        (2, 2, 6, 6, 5, 1, 2, true),
    ];
    for &(ci, co, h, wd, k, stride, pad, with_bias) in &cases {
        let x = Array3::from_shape_fn((ci, h, wd), |_| rng.gen_range(-1.0..1.0));
        let w = Array4::from_shape_fn((co, ci, k, k), |_| rng.gen_range(-1.0..1.0));
        let b = Array1::from_shape_fn(co, |_| rng.gen_range(-1.0..1.0));
        let bias = with_bias.then_some(&b);
        let got = conv2d(&x, &w, bias, stride, pad);
        let want = naive_conv(&x, &w, bias, stride, pad);
        assert_eq!(
            got.dim(),
            want.dim(),
            "case {ci} {co} {h} {wd} {k} {stride} {pad}"
        );
        for (g, e) in got.iter().zip(want.iter()) {
            assert!(
                (g - e).abs() < 1e-12,
                "case {ci} {co} {h} {wd} {k} {stride} {pad}"
            );
        }
    }
}

#[test]
fn quadratic_is_per_channel() {
    let x = Array3::from_shape_fn((2, 2, 2), |(c, y, z)| (c * 4 + y * 2 + z) as f64 - 3.0);
    let act = Act {
        a: Array1::from(vec![1.0, 0.5]),
        b: Array1::from(vec![2.0, -1.0]),
        c: Array1::from(vec![3.0, 0.25]),
    };
    let y = quadratic(&x, &act);
    for ((c, i, j), &v) in x.indexed_iter() {
        let want = act.a[c] * v * v + act.b[c] * v + act.c[c];
        assert_eq!(y[[c, i, j]], want);
    }
}

/// All tensors of the fixture as (name, dtype, shape, little-endian bytes).
fn fixture_tensors() -> Vec<(String, Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(fixture("resnet20_narrow.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut t: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

struct Raw<'a>(Dtype, &'a [usize], &'a [u8]);

impl View for Raw<'_> {
    fn dtype(&self) -> Dtype {
        self.0
    }
    fn shape(&self) -> &[usize] {
        self.1
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        self.2.into()
    }
    fn data_len(&self) -> usize {
        self.2.len()
    }
}

fn serialize(t: &[(String, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(&str, Raw)> = t
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), Raw(*d, s, b)))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn edit(f: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) -> WeightsError {
    let mut t = fixture_tensors();
    f(&mut t);
    ResNetWeights::from_state_dict_bytes(&serialize(&t)).expect_err("edited file must be refused")
}

#[test]
fn f32_tensors_load_too() {
    // The fixture is float64 (so that its folding is exact to float64 rounding); the
    // real export is float32.
    let t: Vec<_> = fixture_tensors()
        .into_iter()
        .map(|(n, d, s, b)| {
            assert_eq!(d, Dtype::F64, "{n}");
            let b32: Vec<u8> = b
                .chunks_exact(8)
                .flat_map(|c| (f64::from_le_bytes(c.try_into().unwrap()) as f32).to_le_bytes())
                .collect();
            (n, Dtype::F32, s, b32)
        })
        .collect();
    let w32 = ResNetWeights::from_state_dict_bytes(&serialize(&t)).unwrap();
    let w = narrow();
    assert_eq!(w32.widths(), w.widths());
    for (a, b) in w32.blocks.iter().zip(&w.blocks) {
        for (x, y) in a.act2.c.iter().zip(&b.act2.c) {
            assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{x} vs {y}");
        }
    }
}

#[test]
fn missing_tensor_is_named() {
    let e = edit(|t| t.retain(|x| x.0 != "layer2.1.act1.bn1.running_var"));
    assert!(
        matches!(&e, WeightsError::MissingTensor { name } if name == "layer2.1.act1.bn1.running_var"),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("layer2.1.act1.bn1.running_var"),
        "{e}"
    );

    // A missing projection where the width changes is reported as such.
    let e = edit(|t| t.retain(|x| !x.0.starts_with("layer3.0.downsample")));
    assert!(
        matches!(&e, WeightsError::MissingTensor { name } if name == "layer3.0.downsample.0.weight"),
        "{e:?}"
    );

    // A hole in the block sequence is not read as a shorter network.
    let e = edit(|t| t.retain(|x| !x.0.starts_with("layer2.2.")));
    assert!(
        matches!(&e, WeightsError::MissingTensor { name } if name == "layer2.2.conv1.weight"),
        "{e:?}"
    );
    let e = edit(|t| t.retain(|x| x.0 != "fc.bias"));
    assert!(matches!(&e, WeightsError::MissingTensor { name } if name == "fc.bias"));
}

#[test]
fn misshaped_tensor_is_named() {
    let e = edit(|t| {
        let x = t
            .iter_mut()
            .find(|x| x.0 == "layer1.2.conv2.weight")
            .unwrap();
        x.2 = vec![2, 2, 9, 1];
    });
    match &e {
        WeightsError::WrongShape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "layer1.2.conv2.weight");
            assert_eq!(expected, "[2, 2, 3, 3]");
            assert_eq!(found, &vec![2, 2, 9, 1]);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("layer1.2.conv2.weight"), "{e}");

    // Activation width must follow the conv before it.
    let e = edit(|t| {
        let x = t
            .iter_mut()
            .find(|x| x.0 == "layer3.1.act2.bn2.bias")
            .unwrap();
        x.2 = vec![4];
        x.3.truncate(4 * 8);
    });
    assert!(
        matches!(&e, WeightsError::WrongShape { name, .. } if name == "layer3.1.act2.bn2.bias"),
        "{e:?}"
    );
}

#[test]
fn bad_dtype_nonfinite_and_unexpected_are_named() {
    let e = edit(|t| {
        let x = t.iter_mut().find(|x| x.0 == "fc.bias").unwrap();
        x.1 = Dtype::I64;
    });
    assert!(
        matches!(&e, WeightsError::WrongDtype { name, .. } if name == "fc.bias"),
        "{e:?}"
    );
    assert!(e.to_string().contains("fc.bias"), "{e}");

    let e = edit(|t| {
        let x = t.iter_mut().find(|x| x.0 == "act1.bn2.weight").unwrap();
        x.3[8..16].copy_from_slice(&f64::NAN.to_le_bytes());
    });
    assert!(
        matches!(&e, WeightsError::NonFinite { name, index: 1, .. } if name == "act1.bn2.weight"),
        "{e:?}"
    );

    let e = edit(|t| {
        let mut extra = t.iter().find(|x| x.0 == "fc.bias").unwrap().clone();
        extra.0 = "fc.weights".into();
        t.push(extra);
    });
    assert!(
        matches!(&e, WeightsError::UnexpectedTensor { name, .. } if name == "fc.weights"),
        "{e:?}"
    );
}

#[test]
fn truncated_and_garbage_bytes_are_malformed() {
    let bytes = std::fs::read(fixture("resnet20_narrow.safetensors")).unwrap();
    for cut in [0, 4, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        let e = ResNetWeights::from_state_dict_bytes(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(e, WeightsError::Malformed { .. }),
            "cut {cut}: {e:?}"
        );
        assert!(e.to_string().starts_with("malformed safetensors"), "{e}");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let garbage: Vec<u8> = (0..4096).map(|_| rng.gen()).collect();
    let e = ResNetWeights::from_state_dict_bytes(&garbage).unwrap_err();
    assert!(matches!(e, WeightsError::Malformed { .. }), "{e:?}");
    // A plausible header length followed by non-JSON.
    let mut fake = 16u64.to_le_bytes().to_vec();
    fake.extend_from_slice(b"not json at all!");
    let e = ResNetWeights::from_state_dict_bytes(&fake).unwrap_err();
    assert!(matches!(e, WeightsError::Malformed { .. }), "{e:?}");

    let e = ResNetWeights::load(Path::new("/nonexistent/weights.safetensors")).unwrap_err();
    assert!(matches!(e, WeightsError::Io { .. }), "{e:?}");
    assert!(
        e.to_string().contains("/nonexistent/weights.safetensors"),
        "{e}"
    );
}

#[test]
fn bundled_subset() {
    let set = FashionTestSet::bundled();
    assert_eq!(set.len(), 64);
    let (x, label, raw) = set.image(0).unwrap();
    assert_eq!(label, 9);
    assert_eq!(FASHION_MNIST_CLASSES[usize::from(label)], "Ankle boot");
    assert_eq!(raw.len(), 784);
    assert_eq!(x.dim(), (3, 32, 32));
    assert!(set.image(63).is_ok());

    let e = set.image(64).unwrap_err();
    assert!(
        matches!(
            &e,
            DataError::OutOfRange {
                index: 64,
                len: 64,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("64") && msg.contains("bundled"), "{msg}");

    let e = FashionTestSet::from_dir(Path::new("/nonexistent/fmnist")).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("/nonexistent/fmnist"), "{e}");
}

#[test]
fn normalisation_pads_after_normalising() {
    let img: Vec<u8> = (0..784).map(|i| (i % 256) as u8).collect();
    let x = fashion_input(&img);
    assert_eq!(x.dim(), (3, 32, 32));
    for c in 0..3 {
        assert_eq!(x[[c, 0, 0]], 0.0);
        assert_eq!(x[[c, 31, 17]], 0.0);
        assert_eq!(x[[c, 1, 1]], 0.0);
        // pixel (0, 0) = 0 lands at (2, 2)
        assert_eq!(x[[c, 2, 2]], (0.0 - 0.2860) / 0.3530);
        assert_eq!(
            x[[c, 2 + 27, 2 + 27]],
            (f64::from(img[783]) / 255.0 - 0.2860) / 0.3530
        );
    }
}

#[test]
fn idx_plain_and_gzipped() {
    let mut plain = vec![0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3];
    plain.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
    let idx = parse_idx(&plain, "plain").unwrap();
    assert_eq!(idx.dims, vec![2, 3]);
    assert_eq!(idx.data, vec![1, 2, 3, 4, 5, 6]);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    assert_eq!(parse_idx(&gz.finish().unwrap(), "gz").unwrap(), idx);

    let e = parse_idx(&plain[..plain.len() - 1], "short").unwrap_err();
    assert!(e.to_string().contains("short"), "{e}");
    assert!(parse_idx(b"\x1f\x8bnot gzip", "bad gz").is_err());
    assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 0], "floats").is_err());
}

fn write_png(path: &Path, w: u32, h: u32, color: png::ColorType, data: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(data).unwrap();
}

#[test]
fn png_inputs() {
    let dir = std::env::temp_dir().join(format!("fhe-resnet-png-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, _, raw) = FashionTestSet::bundled().image(3).unwrap();

    let grey = dir.join("grey28.png");
    write_png(&grey, 28, 28, png::ColorType::Grayscale, &raw);
    assert_eq!(load_png(&grey).unwrap(), fashion_input(&raw));

    let rgba: Vec<u8> = raw.iter().flat_map(|&v| [v, v, v, 255]).collect();
    let colour = dir.join("rgba28.png");
    write_png(&colour, 28, 28, png::ColorType::Rgba, &rgba);
    assert_eq!(load_png(&colour).unwrap(), fashion_input(&raw));

    let cifar: Vec<u8> = (0..32 * 32 * 3).map(|i| (i * 7 % 256) as u8).collect();
    let rgb = dir.join("rgb32.png");
    write_png(&rgb, 32, 32, png::ColorType::Rgb, &cifar);
    let x = load_png(&rgb).unwrap();
    assert_eq!(x.dim(), (3, 32, 32));
    assert_eq!(
        x[[1, 0, 0]],
        (f64::from(cifar[1]) / 255.0 - 0.2860) / 0.3530
    );
    assert_eq!(
        x[[2, 31, 31]],
        (f64::from(cifar[3071]) / 255.0 - 0.2860) / 0.3530
    );

    let odd = dir.join("odd.png");
    write_png(&odd, 20, 24, png::ColorType::Grayscale, &[0; 480]);
    let e = load_png(&odd).unwrap_err();
    assert!(matches!(
        e,
        DataError::UnsupportedSize {
            width: 20,
            height: 24,
            ..
        }
    ));
    assert!(e.to_string().contains("20x24"), "{e}");

    let junk = dir.join("junk.png");
    std::fs::write(&junk, b"not a png").unwrap();
    assert!(matches!(
        load_png(&junk).unwrap_err(),
        DataError::Png { .. }
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn forward_records_every_layer_once() {
    let w = narrow();
    let (x, _, _) = FashionTestSet::bundled().image(5).unwrap();
    let f = forward(&w, &x);
    assert_eq!(f.layers.len(), 2 + 6 * 9 + 1);
    let mut seen = HashMap::new();
    for (n, _) in &f.layers {
        assert!(seen.insert(n.clone(), ()).is_none(), "{n} twice");
    }
    assert_eq!(f.layer("pool").unwrap().dim(), (8, 1, 1));
    assert!(f.argmax() < 10);
}
