//! The state-dict loader's batch-norm folding against the unfolded PyTorch-shaped
//! network (`resnet::torch_ref`), layer by layer, and the loader's errors on small
//! state dicts built here.

use std::path::Path;

use fhe_models::resnet::data::FashionTestSet;
use fhe_models::resnet::reference::forward;
use fhe_models::resnet::torch_ref::{self, StateDict};
use fhe_models::resnet::weights::{ResNetWeights, WeightsError};
use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::{Dtype, View};

/// (name, dtype, shape, little-endian bytes)
type Tensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// Largest difference over the largest magnitude of `want`.
fn rel_err(got: &Array3<f64>, want: &Array3<f64>) -> f64 {
    assert_eq!(got.dim(), want.dim());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    diff / scale.max(f64::MIN_POSITIVE)
}

/// Runs both forwards on `images` of the bundled set and compares every torch module
/// output with the fused reference's layer of the same place; returns the worst error.
fn compare(bytes: &[u8], images: &[usize]) -> f64 {
    let w = ResNetWeights::from_state_dict_bytes(bytes).expect("state dict loads");
    let sd = StateDict::from_bytes(bytes).unwrap();
    let n = sd.blocks_per_stage();
    assert_eq!(w.blocks.len(), 3 * n);
    let set = FashionTestSet::bundled();
    let mut worst = 0.0f64;
    for &index in images {
        let (x, _, _) = set.image(index).unwrap();
        let fused = forward(&w, &x);
        let torch = torch_ref::forward(&sd, &x).unwrap();
        let mut compared = 0;
        for (name, t) in &torch.layers {
            let ours = match name.as_str() {
                "conv1" => "conv0".to_string(),
                "act1" => "act0".to_string(),
                "pool" => "pool".to_string(),
                "fc" => {
                    let logits =
                        Array3::from_shape_vec((w.num_classes(), 1, 1), fused.logits.clone())
                            .unwrap();
                    let e = rel_err(&logits, t);
                    assert!(e <= 1e-9, "image {index} fc: relative error {e:e}");
                    worst = worst.max(e);
                    compared += 1;
                    continue;
                }
                other => {
                    let (k, rest) = other
                        .strip_prefix("layer")
                        .unwrap()
                        .split_once('.')
                        .unwrap();
                    let (j, module) = rest.split_once('.').unwrap();
                    let i = (k.parse::<usize>().unwrap() - 1) * n + j.parse::<usize>().unwrap();
                    let module = if module == "downsample" {
                        "shortcut"
                    } else {
                        module
                    };
                    format!("block{i}.{module}")
                }
            };
            let f = fused
                .layer(&ours)
                .unwrap_or_else(|| panic!("no reference layer {ours} for {name}"));
            let e = rel_err(f, t);
            assert!(
                e <= 1e-9,
                "image {index} {name} (reference {ours}): relative error {e:e}"
            );
            worst = worst.max(e);
            compared += 1;
        }
        // conv1, act1, 5 or 6 per block, pool, fc
        let downs = w.blocks.iter().filter(|b| b.down.is_some()).count();
        assert_eq!(compared, 4 + 5 * w.blocks.len() + downs);
    }
    worst
}

#[test]
fn folded_weights_match_unfolded_torch_network() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let real = std::fs::read(root.join("weights/resnet20_fmnist.safetensors")).unwrap();
    let worst = compare(&real, &[0, 1]);
    eprintln!("bundled weights: worst relative error {worst:e}");
    let fixture = std::fs::read(root.join("tests/fixtures/resnet20_narrow.safetensors")).unwrap();
    let worst = compare(&fixture, &[2]);
    eprintln!("narrow fixture: worst relative error {worst:e}");
}

struct Builder {
    rng: ChaCha8Rng,
    t: Vec<Tensor>,
}

impl Builder {
    fn put(&mut self, name: &str, shape: &[usize], values: &[f64]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.t
            .push((name.to_string(), Dtype::F64, shape.to_vec(), bytes));
    }

    fn uniform(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.rng.gen_range(lo..hi)).collect()
    }

    fn conv(&mut self, name: &str, co: usize, ci: usize, k: usize) {
        let s = 1.0 / ((ci * k * k) as f64).sqrt();
        let v = self.uniform(co * ci * k * k, -s, s);
        self.put(name, &[co, ci, k, k], &v);
    }

    fn bn(&mut self, prefix: &str, c: usize, gain: f64) {
        let w = self.uniform(c, 0.8 * gain, 1.2 * gain);
        let b = self.uniform(c, -0.1, 0.1);
        let m = self.uniform(c, -0.2, 0.2);
        let v = self.uniform(c, 0.5, 2.0);
        self.put(&format!("{prefix}.weight"), &[c], &w);
        self.put(&format!("{prefix}.bias"), &[c], &b);
        self.put(&format!("{prefix}.running_mean"), &[c], &m);
        self.put(&format!("{prefix}.running_var"), &[c], &v);
    }

    fn herpn(&mut self, prefix: &str, c: usize) {
        self.bn(&format!("{prefix}.bn1"), c, 1.0);
        self.bn(&format!("{prefix}.bn2"), c, 0.2);
    }
}

/// A random state dict with `n` blocks per stage, stem width `widths[0]` and stage
/// widths `widths[1..]`, as the training script's `ResNet` would save it.
fn synthetic(n: usize, widths: [usize; 4], seed: u64) -> Vec<Tensor> {
    let mut b = Builder {
        rng: ChaCha8Rng::seed_from_u64(seed),
        t: Vec::new(),
    };
    b.conv("conv1.weight", widths[0], 3, 3);
    b.herpn("act1", widths[0]);
    let mut cin = widths[0];
    for (k, &co) in widths.iter().enumerate().skip(1) {
        for j in 0..n {
            let p = format!("layer{k}.{j}");
            let stride = if k > 1 && j == 0 { 2 } else { 1 };
            b.conv(&format!("{p}.conv1.weight"), co, cin, 3);
            b.herpn(&format!("{p}.act1"), co);
            b.conv(&format!("{p}.conv2.weight"), co, co, 3);
            b.herpn(&format!("{p}.act2"), co);
            if stride != 1 || cin != co {
                b.conv(&format!("{p}.downsample.0.weight"), co, cin, 1);
                b.bn(&format!("{p}.downsample.1"), co, 1.0);
            }
            cin = co;
        }
    }
    b.conv("fc.weight", 7, cin, 1);
    let fc = b.t.pop().unwrap();
    b.t.push((fc.0, fc.1, vec![7, cin], fc.3));
    let bias = b.uniform(7, -0.1, 0.1);
    b.put("fc.bias", &[7], &bias);
    b.t
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

fn serialize(t: &[Tensor]) -> Vec<u8> {
    let views: Vec<(&str, Raw)> = t
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), Raw(*d, s, b)))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn any_depth_and_width_is_inferred_and_folds_exactly() {
    // depth 8 (n = 1), layer1 wider than the stem: a stride-1 downsample there too
    let t = synthetic(1, [3, 4, 6, 5], 1);
    let w = ResNetWeights::from_state_dict_bytes(&serialize(&t)).unwrap();
    assert_eq!(w.widths(), vec![3, 4, 6, 5]);
    let strides: Vec<usize> = w.blocks.iter().map(|b| b.stride).collect();
    assert_eq!(strides, vec![1, 2, 2]);
    assert!(w.blocks.iter().all(|b| b.down.is_some()));
    assert_eq!(w.num_classes(), 7);
    compare(&serialize(&t), &[0, 7]);

    // depth 14 (n = 2)
    let t = synthetic(2, [2, 2, 3, 4], 2);
    let w = ResNetWeights::from_state_dict_bytes(&serialize(&t)).unwrap();
    assert_eq!(w.widths(), vec![2, 2, 2, 3, 3, 4, 4]);
    let downs: Vec<bool> = w.blocks.iter().map(|b| b.down.is_some()).collect();
    assert_eq!(downs, vec![false, false, true, false, true, false]);
    compare(&serialize(&t), &[3]);
}

#[test]
fn batch_counters_are_ignored() {
    let mut t = synthetic(1, [2, 2, 3, 4], 3);
    let plain = ResNetWeights::from_state_dict_bytes(&serialize(&t)).unwrap();
    let bns: Vec<String> = t
        .iter()
        .filter_map(|x| x.0.strip_suffix(".running_var").map(str::to_string))
        .collect();
    for bn in bns {
        t.push((
            format!("{bn}.num_batches_tracked"),
            Dtype::I64,
            vec![],
            1234i64.to_le_bytes().to_vec(),
        ));
    }
    assert_eq!(
        ResNetWeights::from_state_dict_bytes(&serialize(&t)).unwrap(),
        plain
    );
}

fn refused(f: impl FnOnce(&mut Vec<Tensor>)) -> WeightsError {
    let mut t = synthetic(1, [2, 2, 3, 4], 4);
    f(&mut t);
    ResNetWeights::from_state_dict_bytes(&serialize(&t))
        .expect_err("edited state dict must be refused")
}

fn find<'a>(t: &'a mut [Tensor], name: &str) -> &'a mut Tensor {
    t.iter_mut().find(|x| x.0 == name).unwrap()
}

#[test]
fn missing_tensor_is_named() {
    for name in [
        "layer2.0.downsample.1.running_mean",
        "act1.bn2.bias",
        "layer3.0.conv2.weight",
        "fc.weight",
    ] {
        let e = refused(|t| t.retain(|x| x.0 != name));
        assert!(
            matches!(&e, WeightsError::MissingTensor { name: n } if n == name),
            "{name}: {e:?}"
        );
        assert!(e.to_string().contains(name), "{e}");
    }
    // a whole stage missing
    let e = refused(|t| t.retain(|x| !x.0.starts_with("layer3.")));
    assert!(
        matches!(&e, WeightsError::MissingTensor { name } if name == "layer3.0.conv1.weight"),
        "{e:?}"
    );
}

#[test]
fn extra_tensor_is_named() {
    let cases: [(&str, Vec<usize>); 4] = [
        // layer1.0 keeps the stem's width and stride: torchvision gives it no downsample
        ("layer1.0.downsample.0.weight", vec![2, 2, 1, 1]),
        ("layer4.0.conv1.weight", vec![4, 4, 3, 3]),
        ("layer1.01.conv1.weight", vec![2, 2, 3, 3]),
        ("fc.weight_orig", vec![7, 4]),
    ];
    for (name, shape) in cases {
        let e = refused(|t| {
            let len: usize = shape.iter().product();
            t.push((
                name.to_string(),
                Dtype::F64,
                shape.clone(),
                vec![0; 8 * len],
            ));
        });
        match &e {
            WeightsError::UnexpectedTensor { name: n, depth } => {
                assert_eq!(n, name);
                assert_eq!(*depth, 8);
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn wrong_shape_is_named() {
    // a batch norm takes its width from the conv before it
    let e = refused(|t| {
        let x = find(t, "layer2.0.act1.bn2.running_var");
        x.2 = vec![2];
        x.3.truncate(2 * 8);
    });
    match &e {
        WeightsError::WrongShape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "layer2.0.act1.bn2.running_var");
            assert_eq!(expected, "[3]");
            assert_eq!(found, &vec![2]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string().contains("layer2.0.act1.bn2.running_var"),
        "{e}"
    );

    let e = refused(|t| find(t, "layer3.0.downsample.0.weight").2 = vec![4, 3, 1, 1, 1]);
    assert!(
        matches!(&e, WeightsError::WrongShape { name, .. } if name == "layer3.0.downsample.0.weight"),
        "{e:?}"
    );
}

#[test]
fn wrong_dtype_is_named() {
    let e = refused(|t| {
        let x = find(t, "layer1.0.act2.bn1.weight");
        x.1 = Dtype::F16;
        x.3.truncate(2 * 2);
    });
    assert!(
        matches!(&e, WeightsError::WrongDtype { name, found } if name == "layer1.0.act2.bn1.weight" && found == "F16"),
        "{e:?}"
    );
}

#[test]
fn non_finite_is_named() {
    for (name, bad) in [
        ("layer2.0.conv1.weight", f64::NAN),
        ("act1.bn1.running_mean", f64::INFINITY),
        ("fc.bias", f64::NEG_INFINITY),
    ] {
        let e = refused(|t| find(t, name).3[8..16].copy_from_slice(&bad.to_le_bytes()));
        assert!(
            matches!(&e, WeightsError::NonFinite { name: n, index: 1, .. } if n == name),
            "{name}: {e:?}"
        );
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn variance_without_scale_is_named() {
    // running_var + eps = 0 exactly, then below 0
    for var in [-1e-5, -0.5] {
        let e = refused(|t| {
            find(t, "layer3.0.act2.bn2.running_var").3[16..24]
                .copy_from_slice(&f64::to_le_bytes(var))
        });
        assert!(
            matches!(&e, WeightsError::NonPositiveVariance { name, index: 2, .. } if name == "layer3.0.act2.bn2.running_var"),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("layer3.0.act2.bn2.running_var"),
            "{e}"
        );
    }
}

#[test]
fn garbage_is_malformed() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let garbage: Vec<u8> = (0..2048).map(|_| rng.gen()).collect();
    let e = ResNetWeights::from_state_dict_bytes(&garbage).unwrap_err();
    assert!(matches!(e, WeightsError::Malformed { .. }), "{e:?}");
    let good = serialize(&synthetic(1, [2, 2, 3, 4], 5));
    let e = ResNetWeights::from_state_dict_bytes(&good[..good.len() - 3]).unwrap_err();
    assert!(matches!(e, WeightsError::Malformed { .. }), "{e:?}");
    assert!(StateDict::from_bytes(&garbage).is_err());
}
