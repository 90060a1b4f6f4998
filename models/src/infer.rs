//! `fhe infer`: encrypted ResNet inference end to end — the client encrypts an image,
//! the server runs the whole network on the ciphertext (bootstrapping included), the
//! client decrypts the logits; compared with the float64 plaintext network.

use crate::memory;
use crate::resnet::data::{load_png, FashionTestSet, FASHION_MNIST_CLASSES};
use crate::resnet::dsl::ResNet20;
use crate::resnet::fold::{fold, Calibration, Folded};
use crate::resnet::planning::ServerKeys;
use crate::resnet::reference::forward;
use crate::resnet::weights::ResNetWeights;
use anyhow::{bail, Context, Result};
use fhe_dsl::backend::Backend;
use fhe_dsl::circuits::{BootstrapPreset, Bootstrapper, BootstrappingKeys, TransformStorage};
use fhe_dsl::ckks::{Ciphertext, Ckks, KeyGenerator, Params};
use fhe_dsl::model::{errors_between, trace, Model, NoiseModel, TraceStep};
use fhe_dsl::plan::Op;
use fhe_dsl::typed::{Ct, EncVector, LeveledBootstrapper, RangeLimits, StepInfo};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array3;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The bundled weights (trained by `models/train/train_resnet20.py`).
pub const DEFAULT_WEIGHTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/weights/resnet20_fmnist.safetensors"
);

/// Activation bounds for the bundled weights (`fhe calibrate`).
pub const DEFAULT_CALIBRATION: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/weights/resnet20_fmnist.calibration.json"
);

/// Channels of every image [`load_image`] returns (grey images are repeated into three).
pub const INPUT_CHANNELS: usize = 3;

/// Which image to classify.
#[derive(Clone, Debug)]
pub enum ImageSource {
    /// An index into the Fashion-MNIST test set (the first 64 are bundled).
    Index(usize),
    /// A PNG file: 28×28 grey (Fashion-MNIST-like) or 32×32 RGB (CIFAR-10-shaped).
    Png(PathBuf),
}

impl std::str::FromStr for ImageSource {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if let Ok(i) = s.parse::<usize>() {
            return Ok(ImageSource::Index(i));
        }
        // a negative or overflowing number is a mistyped index, not a file name
        if s.parse::<i128>().is_ok() {
            return Err(format!(
                "`{s}` is not a test-set index (0 to {})",
                usize::MAX
            ));
        }
        Ok(ImageSource::Png(PathBuf::from(s)))
    }
}

/// The noise `--noise` injects into the cleartext twin: bootstrapping to 24.8 bits mean
/// precision as measured at `boot-n16` (`fhe bench bootstrap`: mean |error| 2^-24.8, so
/// σ = 2^-24.8 · √(π/2)) and arithmetic at 2^-31 (`fhe demo`'s worst slot: 31.7 bits).
/// It leaves out the key-switching noise of rotations, which `--layer-errors` shows
/// dominating at global pooling and the classifier.
pub fn boot_n16_noise() -> NoiseModel {
    NoiseModel {
        op_std: 2f64.powf(-31.0),
        bootstrap_std: 2f64.powf(-24.8) * (std::f64::consts::PI / 2.0).sqrt(),
        seed: 1,
    }
}

/// One line of the per-layer report.
#[derive(Clone, Debug, Serialize)]
pub struct LayerStat {
    /// The layer (its path in the model), or `value (operation)` for squares, adds and
    /// bootstraps.
    pub name: String,
    /// Level of the output.
    pub level: usize,
    /// Rotations performed.
    pub rotations: usize,
    /// Plaintext diagonals multiplied.
    pub diagonals: usize,
    /// Seconds (0 in a simulation).
    pub seconds: f64,
}

/// Everything `infer` needs.
#[derive(Clone, Debug)]
pub struct InferConfig {
    /// safetensors weights.
    pub weights: PathBuf,
    /// Calibration JSON.
    pub calibration: PathBuf,
    /// The image (the first of `count` consecutive test-set images).
    pub image: ImageSource,
    /// How many consecutive test-set images to classify under one key set.
    pub count: usize,
    /// Bootstrapping preset (parameters + bootstrapping configuration).
    pub preset: BootstrapPreset,
    /// Accept the insecure test presets.
    pub insecure: bool,
    /// Stored activations stay within `[0, margin²]` on the calibration data.
    pub margin: f64,
    /// Only the cleartext twin (same packing and levels), no encryption.
    pub simulate: bool,
    /// With `simulate`: inject CKKS-like noise and report each layer's error.
    pub noise: Option<NoiseModel>,
    /// Encrypted run: decrypt every layer and report its error against the exact twin
    /// (diagnostics; uses the secret key on the server side of this one process).
    pub layer_check: bool,
    /// Draw a progress bar.
    pub progress_bar: bool,
    /// Model name in the report.
    pub model: String,
    /// Backend name in the report.
    pub backend_name: String,
    /// Deterministic keys and encryption randomness (insecure; cross-backend
    /// bit-exactness checks only).
    pub seed: Option<u64>,
    /// Device-side plaintext cache budget in bytes (0: encode weights on every use).
    pub plaintext_cache: usize,
    /// Watches each image's encrypted forward pass step by step (a device model that
    /// charges the backend calls of each step).
    pub probe: Option<std::sync::Arc<dyn StepProbe>>,
}

/// Watches encrypted forward passes from outside the backend: the ASIC simulator charges
/// the calls its counting backend saw in each step.
pub trait StepProbe: Send + Sync + std::fmt::Debug {
    /// The model is folded and its keys made: `key_bytes` of evaluation keys expanded on
    /// the server.
    fn prepare(&self, model: &dyn Model, params: &Params, key_bytes: usize) -> Result<()>;
    /// An image's forward pass starts (its ciphertext is encrypted).
    fn start(&self);
    /// The step defining `value` with operation `op` (a layer, `bootstrap`, …) has
    /// finished.
    fn step(&self, value: &str, op: &str);
}

/// The result, printed as a table or as one JSON object.
#[derive(Clone, Debug, Serialize)]
pub struct InferReport {
    /// Model name.
    pub model: String,
    /// Backend.
    pub backend: String,
    /// Parameter preset.
    pub params: String,
    /// Predicted label from the decrypted logits.
    pub label_encrypted: String,
    /// Predicted label of the float64 plaintext network.
    pub label_plain: String,
    /// The true label, when known.
    pub label_true: Option<String>,
    /// Decrypted logits (the cleartext twin's, with `--simulate`).
    pub logits_encrypted: Vec<f64>,
    /// Plaintext logits.
    pub logits_plain: Vec<f64>,
    /// max |encrypted − plaintext| over the logits.
    pub max_abs_err: f64,
    /// Server-side encrypted inference time, seconds.
    pub latency_s: f64,
    /// Bootstraps performed.
    pub bootstraps: usize,
    /// Rotations performed outside bootstrapping.
    pub rotations: usize,
    /// Peak resident memory of the process, bytes.
    pub peak_rss_bytes: u64,
    /// Client key generation, seconds.
    pub keygen_s: f64,
    /// Evaluation key bytes (serialised, seeded form).
    pub key_bytes: usize,
    /// Evaluation key bytes the server holds (expanded on its backend).
    pub server_key_bytes: usize,
    /// Input level and slots.
    pub start_level: usize,
    /// Slots per ciphertext.
    pub slots: usize,
    /// Whether this was a cleartext simulation only.
    pub simulated: bool,
    /// Per-layer timings.
    pub layers: Vec<LayerStat>,
    /// With `--noise` (or `--layer-errors`): each step's max error (stored units)
    /// against the exact cleartext twin, by DSL value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layer_errors: Vec<(String, f64)>,
}

/// Peak resident set size (Linux `VmHWM`), 0 where unknown.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Refuses NaN or infinite values (finite garbage weights overflow float64 and CKKS
/// alike): a comparison with them must fail, not report an error of 0.
pub fn check_finite(v: &[f64], what: &str) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => bail!(
            "{what} are not finite ({} at class {i}): the weights overflow (garbage, or not a trained network for these inputs)",
            v[i]
        ),
        None => Ok(()),
    }
}

/// max |a − b| over the common prefix, NaN when any difference is NaN (`f64::max` alone
/// would drop it).
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| {
        let d = (x - y).abs();
        if d.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(d)
        }
    })
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
        )
        .0
}

/// A Fashion-MNIST class's name (`class i` past the ten).
pub fn class_name(i: usize) -> String {
    FASHION_MNIST_CLASSES
        .get(i)
        .map_or_else(|| format!("class {i}"), |s| s.to_string())
}

/// Loads the weights and calibration and folds them into the DSL ResNet-20 for `S`
/// slots (`margin`: see [`InferConfig::margin`]). Files larger than the memory left are
/// refused before they are read.
pub fn load_model<const S: usize>(
    weights: &Path,
    calibration: &Path,
    margin: f64,
) -> Result<(ResNetWeights, Folded<S, 3>)> {
    let weights = load_weights(weights)?;
    let calib: Calibration =
        serde_json::from_slice(&memory::read_file(calibration, "calibration")?)
            .with_context(|| format!("parsing calibration {}", calibration.display()))?;
    let folded = fold::<S, 3>(&weights, &calib, margin)?;
    Ok((weights, folded))
}

/// Loads a weights file whose network takes the images this tool feeds it: the size is
/// checked against the memory left before reading, and the first convolution's input
/// channels against the images' (the float64 network would panic on a mismatch).
pub fn load_weights(path: &Path) -> Result<ResNetWeights> {
    memory::check_file(path, "weights file").context("loading weights")?;
    let w =
        ResNetWeights::load(path).with_context(|| format!("loading weights {}", path.display()))?;
    if w.in_channels() != INPUT_CHANNELS {
        bail!(
            "weights {}: the first convolution (conv1.weight) takes {} input channels, the images have {INPUT_CHANNELS}",
            path.display(),
            w.in_channels()
        );
    }
    Ok(w)
}

/// Loads the image: `(network input, true label if known)`.
pub fn load_image(src: &ImageSource) -> Result<(Array3<f64>, Option<usize>)> {
    Ok(match src {
        ImageSource::Index(i) => {
            let set = FashionTestSet::open_default()?;
            let (x, label, _) = set.image(*i)?;
            (x, Some(label as usize))
        }
        ImageSource::Png(p) => (load_png(p)?, None),
    })
}

/// The images `cfg` names: `count` consecutive test-set indices from `image`, or one PNG.
pub fn image_sources(cfg: &InferConfig) -> Result<Vec<ImageSource>> {
    match (&cfg.image, cfg.count) {
        (_, 0) => bail!("--count must be at least 1"),
        (src, 1) => Ok(vec![src.clone()]),
        (ImageSource::Index(i), n) => {
            // checked before anything is allocated: `--count` can be any usize
            let len = FashionTestSet::open_default()?.len();
            match i.checked_add(n) {
                Some(end) if end <= len => Ok((*i..end).map(ImageSource::Index).collect()),
                _ => bail!(
                    "--image {i} --count {n} asks for images past the end of the test set ({len} images)"
                ),
            }
        }
        (ImageSource::Png(_), _) => bail!("--count needs a test-set index, not a PNG"),
    }
}

/// Runs encrypted inference on `backend`: one key set, then every image `cfg` names
/// (one report each, in order).
pub fn run<B: Backend>(
    backend: B,
    cfg: &InferConfig,
    log: impl Fn(&str),
) -> Result<Vec<InferReport>> {
    let slots = cfg.preset.config.slots();
    match slots {
        32768 => run_on::<B, 32768>(backend, cfg, log),
        4096 => run_on::<B, 4096>(backend, cfg, log),
        s => bail!(
            "the ResNet runs on full-slot presets with 32768 slots (boot-n16) or 4096 (boot-n13), not {s}"
        ),
    }
}

/// The parameters of `preset` (without the security check when `insecure`), checked to
/// be full-slot with `S` slots and to carry ResNet-20's levels and bootstrapping.
pub fn resnet_params<const S: usize>(preset: &BootstrapPreset, insecure: bool) -> Result<Params> {
    let params = if insecure {
        Params::new_insecure_for_tests(preset.params.clone())?
    } else {
        Params::new(preset.params.clone())?
    };
    if S != params.max_slots() {
        bail!(
            "the ResNet needs a full-slot bootstrapping preset ({S} slots vs N/2 = {})",
            params.max_slots()
        );
    }
    ResNet20::<S>::check_params(&params, Some(&preset.config))?;
    Ok(params)
}

fn run_on<B: Backend, const S: usize>(
    backend: B,
    cfg: &InferConfig,
    log: impl Fn(&str),
) -> Result<Vec<InferReport>> {
    let params = resnet_params::<S>(&cfg.preset, cfg.insecure)?;
    let (weights, folded) = load_model::<S>(&cfg.weights, &cfg.calibration, cfg.margin)?;
    let model = &folded.model;
    let plan = ResNet20::<S>::plan();
    let sources = image_sources(cfg)?;
    // load every image up front: a bad path fails before the keys are made
    let images = sources.iter().map(load_image).collect::<Result<Vec<_>>>()?;
    let classes = folded.classes;
    let start = plan.input_level;

    // the plan's per-step statistics (the same for every image)
    let plan_stats: Vec<LayerStat> = plan
        .steps
        .iter()
        .map(|st| {
            let (rotations, diagonals) = match st.op {
                Op::Layer(l) => model
                    .layer(l)
                    .map_or((0, 0), |x| (x.rotations().len(), x.diagonals())),
                _ => (0, 0),
            };
            LayerStat {
                name: step_name(&st.value, &st.callee, matches!(st.op, Op::Layer(_))),
                level: st.level,
                rotations,
                diagonals,
                seconds: 0.0,
            }
        })
        .collect();
    let rotation_count: usize = plan_stats.iter().map(|l| l.rotations).sum();
    let req = model.key_request();
    log(&format!(
        "plan: {} steps, {} bootstraps, {} rotations, {} distinct rotation keys, input at level {start}",
        plan.steps.len(),
        plan.bootstraps(),
        rotation_count,
        model.rotations_for().len()
    ));
    let keys = ServerKeys::new(&params, &req, &cfg.preset)?;
    log(&format!(
        "plan: {} Galois keys, {:.2} GB of evaluation keys once expanded on the server (the model's rotations alone: {:.2} GB)",
        keys.galois_keys,
        keys.all_bytes as f64 / 1e9,
        keys.model_bytes as f64 / 1e9
    ));

    let report = |logits: Vec<f64>,
                  plain: &[f64],
                  true_label: Option<usize>,
                  latency_s: f64,
                  keys: (f64, usize, usize),
                  stats: (Vec<LayerStat>, usize, usize)|
     -> Result<InferReport> {
        check_finite(plain, "the float64 plaintext network's logits")?;
        let what = if cfg.simulate {
            "the cleartext twin's logits"
        } else {
            "the decrypted logits"
        };
        check_finite(&logits, what)?;
        let max_abs_err = max_abs_diff(&logits, plain);
        Ok(InferReport {
            model: cfg.model.clone(),
            backend: cfg.backend_name.clone(),
            params: cfg.preset.name.to_string(),
            label_encrypted: class_name(argmax(&logits)),
            label_plain: class_name(argmax(plain)),
            label_true: true_label.map(class_name),
            logits_encrypted: logits,
            logits_plain: plain.to_vec(),
            max_abs_err,
            latency_s,
            bootstraps: stats.1,
            rotations: stats.2,
            peak_rss_bytes: peak_rss_bytes(),
            keygen_s: keys.0,
            key_bytes: keys.1,
            server_key_bytes: keys.2,
            start_level: start,
            slots: S,
            simulated: cfg.simulate,
            layers: stats.0,
            layer_errors: vec![],
        })
    };
    // per image: the plaintext network, and the cleartext twin with every value checked
    // against its level's headroom and every bootstrap input against bootstrapping's
    // range, before anything is encrypted (traced step by step when --noise or
    // --layer-errors compares against it)
    let limits = RangeLimits::new(&params).with_bootstrap(&cfg.preset.config);
    let traced = cfg.noise.is_some() || cfg.layer_check;
    let mut prepared = Vec::with_capacity(images.len());
    for (image, true_label) in &images {
        let plain = forward(&weights, image).logits;
        let packed = folded.pack_input(image)?;
        model.check_ranges(&packed, &limits).with_context(|| {
            format!(
                "image {image_desc}",
                image_desc = describe(&sources, prepared.len())
            )
        })?;
        let exact = traced
            .then(|| trace(model, &packed, &NoiseModel::none()))
            .transpose()?;
        let sim = match &exact {
            Some(t) => t.last().map_or_else(Vec::new, |s| s.slots.clone()),
            None => model.forward_plain(&packed),
        };
        prepared.push((packed, plain, *true_label, sim[..classes].to_vec(), exact));
    }
    let plan_run = (plan_stats.clone(), plan.bootstraps(), rotation_count);
    if cfg.simulate {
        return prepared
            .into_iter()
            .map(|(packed, plain, label, sim, exact)| {
                let (Some(noise), Some(exact)) = (&cfg.noise, exact) else {
                    return report(sim, &plain, label, 0.0, (0.0, 0, 0), plan_run.clone());
                };
                // the noisy twin against the exact one, step by step
                let noisy = trace(model, &packed, noise)?;
                let out = noisy
                    .last()
                    .map_or_else(Vec::new, |s| s.slots[..classes].to_vec());
                let mut r = report(out, &plain, label, 0.0, (0.0, 0, 0), plan_run.clone())?;
                r.layer_errors = errors_between(&noisy, &exact)
                    .into_iter()
                    .map(|(v, e)| (v.to_string(), e))
                    .collect();
                Ok(r)
            })
            .collect();
    }

    // refused before key generation, with the figures, rather than killed halfway
    memory::check_fits(
        "the evaluation keys (expanded on the server)",
        keys.all_bytes as u64,
    )?;
    // client: keys
    let ckks = Ckks::new(params.clone(), backend);
    let t = Instant::now();
    let mut kg = match cfg.seed {
        Some(seed) => KeyGenerator::from_seed(&ckks, seed),
        None => ckks.key_generator(),
    };
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &cfg.preset.config, &req)?;
    let keygen_s = t.elapsed().as_secs_f64();
    let key_bytes = keys.evk.byte_size();
    log(&format!(
        "client: keys in {keygen_s:.1} s ({:.2} GB)",
        key_bytes as f64 / 1e9
    ));
    let boot = server_bootstrapper(&ckks, &cfg.preset, keys, cfg.plaintext_cache, &log)?;
    let server_key_bytes = boot.evaluator().key_bytes();
    let encryptor = match cfg.seed {
        Some(seed) => ckks
            .encryptor(&pk)
            .with_seed_for_tests(seed.wrapping_add(1)),
        None => ckks.encryptor(&pk),
    };
    let decryptor = ckks.decryptor(&sk);
    let bt = LeveledBootstrapper::<B, 9>::new(&boot)?;
    if let Some(p) = &cfg.probe {
        p.prepare(model, &params, server_key_bytes)?;
    }
    let mut out = Vec::with_capacity(prepared.len());
    for (n, (packed, plain, label, _, exact)) in prepared.into_iter().enumerate() {
        let ct = encryptor.encrypt(&ckks.encode_real(&packed, start, params.default_scale())?)?;
        let bar = cfg.progress_bar.then(|| {
            let b = ProgressBar::new(plan.steps.len() as u64);
            b.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            b
        });
        let check: Option<&[TraceStep]> = if cfg.layer_check {
            exact.as_deref()
        } else {
            None
        };
        let mut layers = Vec::with_capacity(plan.steps.len());
        let mut layer_errors = Vec::new();
        let mut obs = |info: &StepInfo<'_>, ct: &Ciphertext<B>| -> fhe_dsl::Result<()> {
            if let Some(p) = &cfg.probe {
                p.step(info.value, info.op);
            }
            let mut stat = plan_stats[info.index].clone();
            stat.level = info.level;
            stat.rotations = info.rotations;
            stat.seconds = info.elapsed.as_secs_f64();
            if let Some(b) = &bar {
                b.set_message(stat.name.clone());
                b.inc(1);
            }
            layers.push(stat);
            if let Some(exact) = check {
                let err = match (decryptor.decrypt_real(ct), exact.get(info.index)) {
                    (Ok(got), Some(want)) => max_abs_diff(&got, &want.slots),
                    _ => f64::NAN,
                };
                layer_errors.push((info.value.to_string(), err));
            }
            Ok(())
        };
        if let Some(p) = &cfg.probe {
            p.start();
        }
        let t = Instant::now();
        let ct_out = forward_ciphertext(model, &boot, &bt, ct, &mut obs)?;
        // an asynchronous backend (GPU) is timed to the completion of its queued work
        ckks.backend().synchronize()?;
        let latency = t.elapsed().as_secs_f64();
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let logits = decryptor.decrypt_real(&ct_out)?[..classes].to_vec();
        let mut r = report(
            logits,
            &plain,
            label,
            latency,
            (keygen_s, key_bytes, server_key_bytes),
            (layers, plan.bootstraps(), rotation_count),
        )?;
        r.layer_errors = layer_errors;
        if sources.len() > 1 {
            log(&format!(
                "image {:?}: encrypted → {}, plaintext → {}, max err {:.2e}, {latency:.1} s",
                sources[n], r.label_encrypted, r.label_plain, r.max_abs_err
            ));
        }
        out.push(r);
    }
    let st = boot.evaluator().plaintext_cache_stats();
    if st.budget > 0 {
        log(&format!(
            "server: plaintext cache {:.2} GB in {} plaintexts (budget {:.1} GB), {} hits, {} encodings",
            st.bytes as f64 / 1e9,
            st.entries,
            st.budget as f64 / 1e9,
            st.hits,
            st.misses
        ));
    }
    Ok(out)
}

/// The server's bootstrapper (and evaluator) from the client's keys, with a plaintext
/// cache of `plaintext_cache` bytes.
pub fn server_bootstrapper<B: Backend>(
    ckks: &Ckks<B>,
    preset: &BootstrapPreset,
    keys: BootstrappingKeys,
    plaintext_cache: usize,
    log: impl Fn(&str),
) -> Result<Bootstrapper<B>> {
    // each seeded key is dropped once uploaded, and the bootstrapping transforms are
    // encoded per bootstrap: ~3 GB less at N = 2^16 next to the keys
    let boot = Bootstrapper::from_keys(
        ckks,
        preset.config.clone(),
        keys,
        TransformStorage::Streamed,
    )?;
    boot.evaluator().set_plaintext_cache(plaintext_cache);
    log(&format!(
        "server: {:.2} GB of evaluation keys expanded",
        boot.evaluator().key_bytes() as f64 / 1e9
    ));
    Ok(boot)
}

/// The server's part of one inference: the encrypted, packed image through the whole
/// network (bootstraps included), each step reported to `obs`.
pub fn forward_ciphertext<B: Backend, const S: usize>(
    model: &ResNet20<S>,
    boot: &Bootstrapper<B>,
    bt: &LeveledBootstrapper<'_, B, 9>,
    ct: Ciphertext<B>,
    obs: &mut impl FnMut(&StepInfo<'_>, &Ciphertext<B>) -> fhe_dsl::Result<()>,
) -> Result<Ciphertext<B>> {
    let x = EncVector::<B, S, 22>::try_from_ct(
        Ct::try_from_ciphertext(ct).context("the input ciphertext does not fit the model")?,
    )
    .context("the input ciphertext does not fit the model")?;
    let y = model.forward_observed(boot.evaluator(), bt, x, obs)?;
    Ok(y.into_ct().into_ciphertext())
}

/// A step's name in the per-layer table: the layer's path for layer steps, else
/// `value (operation)`.
fn step_name(value: &str, callee: &str, is_layer: bool) -> String {
    if is_layer {
        callee.to_string()
    } else {
        format!("{value} ({callee})")
    }
}

fn describe(sources: &[ImageSource], i: usize) -> String {
    sources
        .get(i)
        .map_or_else(String::new, |s| format!("{s:?}"))
}

impl InferReport {
    /// The readable report.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} on {} ({}{}): encrypted → {}, plaintext → {}{}",
            self.model,
            self.backend,
            self.params,
            if self.simulated {
                ", cleartext simulation"
            } else {
                ""
            },
            self.label_encrypted,
            self.label_plain,
            self.label_true
                .as_ref()
                .map_or(String::new(), |t| format!(" (true label: {t})"))
        );
        let _ = writeln!(s, "{:>12} {:>12} {:>12}", "class", "encrypted", "plaintext");
        for (i, (a, b)) in self
            .logits_encrypted
            .iter()
            .zip(&self.logits_plain)
            .enumerate()
        {
            let _ = writeln!(
                s,
                "{:>12} {a:>12.6} {b:>12.6}",
                class_name(i).chars().take(12).collect::<String>()
            );
        }
        let _ = writeln!(s, "max |encrypted − plaintext| = {:.3e}", self.max_abs_err);
        let _ = writeln!(
            s,
            "latency {:.1} s, {} bootstraps, {} rotations, keys {:.2} GB sent / {:.2} GB on the server (keygen {:.1} s), peak RSS {:.2} GB",
            self.latency_s,
            self.bootstraps,
            self.rotations,
            self.key_bytes as f64 / 1e9,
            self.server_key_bytes as f64 / 1e9,
            self.keygen_s,
            self.peak_rss_bytes as f64 / 1e9
        );
        if !self.layer_errors.is_empty() {
            let what = if self.simulated {
                "simulated noise: max |noisy − exact| per layer"
            } else {
                "decrypted after each layer: max |decrypted − exact twin| per layer"
            };
            let _ = writeln!(s, "\n{what}");
            for (name, e) in &self.layer_errors {
                let _ = writeln!(s, "{name:<28} {e:>10.3e}");
            }
        }
        let _ = writeln!(
            s,
            "\n{:<28} {:>5} {:>5} {:>6} {:>9}",
            "layer", "level", "rots", "diags", "seconds"
        );
        for l in &self.layers {
            let _ = writeln!(
                s,
                "{:<28} {:>5} {:>5} {:>6} {:>9.3}",
                l.name, l.level, l.rotations, l.diagonals, l.seconds
            );
        }
        s
    }
}

/// Activation bounds for `weights` measured on the first `images` Fashion-MNIST
/// training images (Debian's dataset-fashion-mnist).
pub fn calibrate_on_training_set(weights: &std::path::Path, images: usize) -> Result<Calibration> {
    use crate::resnet::data::{fashion_input, parse_idx};
    let w = load_weights(weights)?;
    let path = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    let idx = parse_idx(
        &std::fs::read(path)
            .with_context(|| format!("reading {path} (apt-get install dataset-fashion-mnist)"))?,
        path,
    )?;
    let n = images.min(idx.dims[0]);
    let inputs: Vec<Array3<f64>> = (0..n)
        .map(|i| fashion_input(&idx.data[i * 784..(i + 1) * 784]))
        .collect();
    Ok(Calibration::measure(
        &w,
        &inputs,
        &format!("first {n} Fashion-MNIST training images"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinite_logits_never_pass() {
        let nan = f64::NAN;
        // `f64::max` drops a NaN: this is the comparison that reported an error of 0
        assert_eq!(0.0f64.max(nan), 0.0);
        assert!(max_abs_diff(&[1.0, nan, 2.0], &[1.0, 0.5, 2.0]).is_nan());
        assert!(max_abs_diff(&[1.0, 2.0], &[nan, 2.0]).is_nan());
        assert_eq!(
            max_abs_diff(&[1.0, f64::INFINITY], &[1.0, 2.0]),
            f64::INFINITY
        );
        assert_eq!(max_abs_diff(&[1.0, -2.0], &[1.5, 1.0]), 3.0);
        assert!(check_finite(&[0.5, -1.0], "logits").is_ok());
        for bad in [nan, f64::INFINITY, f64::NEG_INFINITY] {
            let e = check_finite(&[0.5, bad], "the logits")
                .unwrap_err()
                .to_string();
            assert!(e.contains("not finite") && e.contains("class 1"), "{e}");
        }
    }
}
