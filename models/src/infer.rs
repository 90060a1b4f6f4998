//! `fhe infer`: encrypted ResNet inference end to end — the client encrypts an image,
//! the server runs the whole network on the ciphertext (bootstrapping included), the
//! client decrypts the logits; compared with the float64 plaintext network.

use crate::resnet::data::{load_png, FashionTestSet, FASHION_MNIST_CLASSES};
use crate::resnet::dsl::{program_name, DslResNet, ResNet20, ResNet20N13};
use crate::resnet::encrypted::Encrypted;
use crate::resnet::program::{
    Calibration, Cleartext, LayerStat, NoiseModel, NoisyTwin, Program, Symbolic,
};
use crate::resnet::reference::forward;
use crate::resnet::weights::ResNetWeights;
use anyhow::{anyhow, bail, Context, Result};
use fhe_dsl::backend::Backend;
use fhe_dsl::circuits::{BootstrapPreset, Bootstrapper, BootstrappingKeys, TransformStorage};
use fhe_dsl::ckks::{
    Ciphertext, Ckks, Decryptor, Evaluator, KeyGenerator, KeyRequest, Params, SwitchingKey,
};
use fhe_dsl::typed::StepInfo;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array3;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
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

/// Which image to classify.
#[derive(Clone, Debug)]
pub enum ImageSource {
    /// An index into the Fashion-MNIST test set (the first 64 are bundled).
    Index(usize),
    /// A PNG file: 28×28 grey (Fashion-MNIST-like) or 32×32 RGB (CIFAR-10-shaped).
    Png(PathBuf),
}

impl std::str::FromStr for ImageSource {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s.parse::<usize>() {
            Ok(i) => ImageSource::Index(i),
            Err(_) => ImageSource::Png(PathBuf::from(s)),
        })
    }
}

/// What runs the encrypted network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelEngine {
    /// ResNet-20 written in `model!` (levels, bootstraps and keys planned by the macro,
    /// every value typed with its level): the default.
    #[default]
    Dsl,
    /// The hand-compiled program behind it, step by step through the `Engine` trait:
    /// any input level (`--start-level`) and any slot count.
    Program,
}

impl std::fmt::Display for ModelEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelEngine::Dsl => "dsl",
            ModelEngine::Program => "program",
        })
    }
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
    /// Level the input is encrypted at (default: the top).
    pub start_level: Option<usize>,
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
    /// What runs the encrypted network.
    pub engine: ModelEngine,
    /// Deterministic keys and encryption randomness (insecure; cross-backend
    /// bit-exactness checks only).
    pub seed: Option<u64>,
    /// Device-side plaintext cache budget in bytes (0: encode weights on every use).
    pub plaintext_cache: usize,
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
    /// What ran the network: `dsl` (the `model!` ResNet-20) or `program`.
    pub engine: String,
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
    /// With `--noise`: each layer's max error (stored units) in the noisy simulation.
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

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
        )
        .0
}

fn class_name(i: usize) -> String {
    FASHION_MNIST_CLASSES
        .get(i)
        .map_or_else(|| format!("class {i}"), |s| s.to_string())
}

/// Loads the weights and calibration and compiles the program for `slots`.
pub fn load_program(cfg: &InferConfig, slots: usize) -> Result<Program> {
    let weights = ResNetWeights::load(&cfg.weights)
        .with_context(|| format!("loading weights {}", cfg.weights.display()))?;
    let calib: Calibration = serde_json::from_slice(
        &std::fs::read(&cfg.calibration)
            .with_context(|| format!("reading calibration {}", cfg.calibration.display()))?,
    )
    .with_context(|| format!("parsing calibration {}", cfg.calibration.display()))?;
    Program::new(weights, &calib, slots, cfg.margin)
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
        (ImageSource::Index(i), n) => Ok((*i..i + n).map(ImageSource::Index).collect()),
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
    let params = if cfg.insecure {
        Params::new_insecure_for_tests(cfg.preset.params.clone())?
    } else {
        Params::new(cfg.preset.params.clone())?
    };
    let slots = cfg.preset.config.slots();
    if slots != params.max_slots() {
        bail!(
            "infer needs a full-slot bootstrapping preset ({} slots vs N/2 = {})",
            slots,
            params.max_slots()
        );
    }
    let program = load_program(cfg, slots)?;
    let sources = image_sources(cfg)?;
    // load every image up front: a bad path fails before the keys are made
    let images = sources.iter().map(load_image).collect::<Result<Vec<_>>>()?;
    let classes = program.classes();
    let top = params.max_level();
    let start = cfg.start_level.unwrap_or(top);
    if start > top {
        bail!("--start-level {start} is above the top level {top}");
    }
    let boot_level = cfg.preset.config.output_level(&params)?;
    // the cleartext twin (--simulate) is the program's: no DSL model needed there
    let dsl = match cfg.engine {
        _ if cfg.simulate => None,
        ModelEngine::Program => None,
        ModelEngine::Dsl => {
            let m = DslModel::new(&program)?;
            let (input, bl) = m.levels();
            if start != input {
                bail!(
                    "the DSL ResNet-20 takes its input at level {input}, not {start}: use --engine program for other input levels"
                );
            }
            if boot_level != bl {
                bail!(
                    "the DSL ResNet-20 expects bootstrapping to return level {bl}, preset {} returns {boot_level}: use --engine program",
                    cfg.preset.name
                );
            }
            Some(m)
        }
    };

    // plan: levels, bootstraps and the exact rotation keys (the same for every image)
    let mut sym = Symbolic {
        boot_level,
        ..Default::default()
    };
    program.run(&mut sym, &start)?;
    log(&format!(
        "plan: {} layers, {} bootstraps, {} rotations, {} distinct rotation keys, input at level {start}",
        sym.layers.len(),
        sym.bootstraps,
        sym.rotation_count,
        sym.rotations.len()
    ));
    // the program's rotation keys, each only up to the level it is used at (the DSL
    // model derives the same set itself)
    let req = match &dsl {
        Some(m) => m.key_request(),
        None => {
            let mut req = KeyRequest::new();
            req.rotations_up_to
                .extend(sym.rotations.iter().map(|(&s, &l)| (s, l)));
            req
        }
    };
    // what the server will hold: what BootstrappingKeys::generate adds to `req` (its own
    // rotations, conjugation, relinearisation), uniform halves expanded (x2)
    let mut all = req.clone().relin().conjugate();
    all.rotations_up_to
        .extend(cfg.preset.config.rotation_levels(&params)?);
    let bytes = |r: &KeyRequest| -> usize {
        let relin = usize::from(r.relin) * SwitchingKey::byte_size_at(&params, top);
        let galois: usize = r
            .galois_levels(&params)
            .values()
            .map(|&l| SwitchingKey::byte_size_at(&params, l))
            .sum();
        2 * (relin + galois)
    };
    log(&format!(
        "plan: {} Galois keys, {:.2} GB of evaluation keys once expanded on the server (the program's rotations alone: {:.2} GB)",
        all.galois_levels(&params).len(),
        bytes(&all) as f64 / 1e9,
        bytes(&req) as f64 / 1e9
    ));

    let report = |logits: Vec<f64>,
                  plain: &[f64],
                  true_label: Option<usize>,
                  latency_s: f64,
                  keys: (f64, usize, usize),
                  stats: (Vec<LayerStat>, usize, usize)|
     -> Result<InferReport> {
        let max_abs_err = logits
            .iter()
            .zip(plain)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        if !max_abs_err.is_finite() {
            return Err(anyhow!("decrypted logits are not finite"));
        }
        Ok(InferReport {
            model: cfg.model.clone(),
            backend: cfg.backend_name.clone(),
            params: cfg.preset.name.to_string(),
            engine: cfg.engine.to_string(),
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
            slots,
            simulated: cfg.simulate,
            layers: stats.0,
            layer_errors: vec![],
        })
    };
    // per image: the plaintext network, and the cleartext twin, which checks the
    // packing and every bootstrap input's range before anything is encrypted (traced
    // layer by layer when --noise or --layer-errors compares against it)
    let traced = cfg.noise.is_some() || cfg.layer_check;
    let mut prepared = Vec::with_capacity(images.len());
    for (image, true_label) in &images {
        let plain = forward(program.weights(), image).logits;
        let packed = program.pack_input(image)?;
        let x = (packed.clone(), start);
        let (sim, exact) = if traced {
            let mut exact = NoisyTwin::new(boot_level, NoiseModel::none());
            let sim = program.run(&mut exact, &x)?;
            (sim, Some(exact))
        } else {
            let mut clear = Cleartext {
                boot_level,
                bootstrap_inputs: vec![],
            };
            (program.run(&mut clear, &x)?, None)
        };
        prepared.push((packed, plain, *true_label, sim.0[..classes].to_vec(), exact));
    }
    if cfg.simulate {
        return prepared
            .into_iter()
            .map(|(packed, plain, label, sim, exact)| {
                let stats = (sym.layers.clone(), sym.bootstraps, sym.rotation_count);
                let (Some(noise), Some(exact)) = (&cfg.noise, exact) else {
                    return report(sim, &plain, label, 0.0, (0.0, 0, 0), stats);
                };
                // the noisy twin against the exact one, layer by layer
                let mut noisy = NoisyTwin::new(boot_level, noise.clone());
                let out = program.run(&mut noisy, &(packed, start))?;
                let mut r = report(
                    out.0[..classes].to_vec(),
                    &plain,
                    label,
                    0.0,
                    (0.0, 0, 0),
                    stats,
                )?;
                r.layer_errors = noisy.errors_against(&exact);
                Ok(r)
            })
            .collect();
    }

    // client: keys
    let ckks = Ckks::new(params.clone(), backend);
    let t = Instant::now();
    let mut kg = match cfg.seed {
        Some(seed) => KeyGenerator::from_seed(&ckks, seed),
        None => ckks.key_generator(),
    };
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk);
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &cfg.preset.config, &req)?;
    let keygen_s = t.elapsed().as_secs_f64();
    let key_bytes = keys.evk.byte_size();
    log(&format!(
        "client: keys in {keygen_s:.1} s ({:.2} GB)",
        key_bytes as f64 / 1e9
    ));
    // server: takes the keys (each seeded key dropped once uploaded) and encodes the
    // bootstrapping transforms per bootstrap: ~3 GB less at N = 2^16 next to the keys
    let boot = Bootstrapper::from_keys(
        &ckks,
        cfg.preset.config.clone(),
        keys,
        TransformStorage::Streamed,
    )?;
    boot.evaluator().set_plaintext_cache(cfg.plaintext_cache);
    let server_key_bytes = boot.evaluator().key_bytes();
    log(&format!(
        "server: {:.2} GB of evaluation keys expanded",
        server_key_bytes as f64 / 1e9
    ));
    let encryptor = match cfg.seed {
        Some(seed) => ckks
            .encryptor(&pk)
            .with_seed_for_tests(seed.wrapping_add(1)),
        None => ckks.encryptor(&pk),
    };
    let decryptor = ckks.decryptor(&sk);
    let mut out = Vec::with_capacity(prepared.len());
    for (n, (packed, plain, label, _, exact)) in prepared.into_iter().enumerate() {
        let ct = encryptor.encrypt(&ckks.encode_real(&packed, start, params.default_scale())?)?;
        let bar = cfg.progress_bar.then(|| {
            let b = ProgressBar::new(sym.layers.len() as u64);
            b.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            b
        });
        let t = Instant::now();
        let (ct_out, run) = match &dsl {
            Some(m) => {
                let trace: Option<BTreeMap<String, Vec<f64>>> = match (cfg.layer_check, exact) {
                    (true, Some(exact)) => Some(exact.trace.into_iter().collect()),
                    _ => None,
                };
                let check = trace.as_ref().map(|t| (&decryptor, t));
                m.run(boot.evaluator(), &boot, ct, bar.as_ref(), check)?
            }
            None => {
                let mut enc = Encrypted::new(boot.evaluator(), &boot, bar.clone());
                if let (true, Some(exact)) = (cfg.layer_check, exact) {
                    enc = enc.with_layer_check(&decryptor, exact.trace);
                }
                let out = program.run(&mut enc, &ct)?;
                let run = StepsRun {
                    layer_errors: std::mem::take(&mut enc.layer_errors),
                    layers: enc.layers,
                    bootstraps: enc.bootstraps,
                    rotations: enc.rotations,
                };
                (out, run)
            }
        };
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
            (run.layers, run.bootstraps, run.rotations),
        )?;
        r.layer_errors = run.layer_errors;
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

/// What one encrypted forward pass reports.
struct StepsRun {
    layers: Vec<LayerStat>,
    bootstraps: usize,
    rotations: usize,
    layer_errors: Vec<(String, f64)>,
}

/// The `model!` ResNet-20 instance for the program's slot count.
enum DslModel {
    N16(ResNet20),
    N13(ResNet20N13),
}

/// With `--layer-errors`: the decryptor and the exact twin's slots per layer name.
type Check<'a, B> = Option<(&'a Decryptor<B>, &'a BTreeMap<String, Vec<f64>>)>;

impl DslModel {
    fn new(program: &Program) -> Result<Self> {
        Ok(match program.slots() {
            s if s == ResNet20::SLOTS => DslModel::N16(ResNet20::from_program(program)?),
            s if s == ResNet20N13::SLOTS => DslModel::N13(ResNet20N13::from_program(program)?),
            s => bail!(
                "the DSL ResNet-20 is instantiated for {} slots (boot-n16) and {} (boot-n13), not {s}: use --engine program",
                ResNet20::SLOTS,
                ResNet20N13::SLOTS
            ),
        })
    }

    /// (input level, bootstrap output level).
    fn levels(&self) -> (usize, usize) {
        match self {
            DslModel::N16(_) => (
                <ResNet20 as DslResNet>::INPUT_LEVEL,
                <ResNet20 as DslResNet>::BOOTSTRAP_LEVEL,
            ),
            DslModel::N13(_) => (
                <ResNet20N13 as DslResNet>::INPUT_LEVEL,
                <ResNet20N13 as DslResNet>::BOOTSTRAP_LEVEL,
            ),
        }
    }

    fn key_request(&self) -> KeyRequest {
        match self {
            DslModel::N16(m) => m.key_request_for(),
            DslModel::N13(m) => m.key_request_for(),
        }
    }

    fn run<B: Backend>(
        &self,
        ev: &Evaluator<B>,
        boot: &Bootstrapper<B>,
        ct: Ciphertext<B>,
        bar: Option<&ProgressBar>,
        check: Check<'_, B>,
    ) -> Result<(Ciphertext<B>, StepsRun)> {
        match self {
            DslModel::N16(m) => run_dsl(m, ev, boot, ct, bar, check),
            DslModel::N13(m) => run_dsl(m, ev, boot, ct, bar, check),
        }
    }
}

/// Runs a `model!` ResNet-20, turning its observed steps into the per-layer table (and,
/// with a check, each layer's error against the exact twin, by the program's names).
fn run_dsl<M: DslResNet, B: Backend>(
    model: &M,
    ev: &Evaluator<B>,
    boot: &Bootstrapper<B>,
    ct: Ciphertext<B>,
    bar: Option<&ProgressBar>,
    check: Check<'_, B>,
) -> Result<(Ciphertext<B>, StepsRun)> {
    if let Some(b) = bar {
        b.set_length(M::STEPS as u64);
    }
    let mut run = StepsRun {
        layers: Vec::with_capacity(M::STEPS),
        bootstraps: 0,
        rotations: 0,
        layer_errors: Vec::new(),
    };
    let mut obs = |info: &StepInfo<'_>, ct: &Ciphertext<B>| -> fhe_dsl::Result<()> {
        let pname = program_name(info.value, info.op);
        let name = pname
            .clone()
            .unwrap_or_else(|| format!("{} ({})", info.value, info.op));
        if info.op.starts_with("bootstrap") {
            run.bootstraps += 1;
        }
        run.rotations += info.rotations;
        run.layers.push(LayerStat {
            name: name.clone(),
            level: info.level,
            rotations: info.rotations,
            diagonals: model.diagonals(info.op),
            seconds: info.elapsed.as_secs_f64(),
        });
        if let (Some((dec, trace)), Some(p)) = (check, pname) {
            let err = match (dec.decrypt_real(ct), trace.get(&p)) {
                (Ok(got), Some(want)) => got
                    .iter()
                    .zip(want)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs())),
                _ => f64::NAN,
            };
            run.layer_errors.push((p, err));
        }
        if let Some(b) = bar {
            b.set_message(name);
            b.inc(1);
        }
        Ok(())
    };
    let out = model.run(ev, boot, ct, &mut obs)?;
    Ok((out, run))
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
    let w = ResNetWeights::load(weights)?;
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
