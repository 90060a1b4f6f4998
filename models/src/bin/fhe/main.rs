//! `fhe`: the fhe-dsl command-line tool.
//!
//! - `fhe` / `fhe infer`: encrypted ResNet-20 inference on a Fashion-MNIST image with the
//!   bundled weights, compared with the plaintext network.
//! - `fhe demo`: encrypt a vector, evaluate a degree-7 polynomial and a slot sum on the
//!   server side, decrypt, and report precision and timings.
//! - `fhe bench ops`: per-operation timings (table, or JSON lines with `--format json`).
//! - `fhe keygen` / `fhe encrypt` / `fhe infer --server-keys` / `fhe decrypt`: the
//!   client and the server of private inference as separate processes
//!   ([`fhe_models::parties`]).
//! - `fhe sim price|sweep|validate`: the ASIC simulator in cost-only mode.

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use fhe_dsl::backend::reference::ReferenceBackend;
use fhe_models::backends::{
    check_available, cpu_backend, gpu_backend, sim_hardware, BackendKind, BackendSpec, UsageError,
};
use fhe_models::{bench, demo, infer, params, sim, tune_allocator};
use std::io::Write;
use std::process::ExitCode;

mod parties_cli;
mod sim_cli;

use parties_cli::{DecryptArgs, EncryptArgs, KeygenArgs};
use sim_cli::SimCommand;

#[derive(Parser, Debug)]
#[command(
    name = "fhe",
    version,
    about = "fhe-dsl: RNS-CKKS private inference toolkit",
    long_about = "fhe-dsl: RNS-CKKS private inference toolkit.\n\n\
                  Without a subcommand, runs encrypted ResNet-20 inference (`fhe infer`) on a bundled test image."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encrypted ResNet-20 inference: encrypt an image, run the network on the
    /// ciphertext, decrypt the logits and compare with the plaintext network.
    Infer(InferArgs),
    /// Measure activation bounds for a weights file on Fashion-MNIST training images
    /// (writes the calibration JSON `infer` needs).
    #[command(hide = true)]
    Calibrate(CalibrateArgs),
    /// Encrypt a full-slot vector, evaluate a degree-7 sigmoid approximation and sum all
    /// slots under encryption, decrypt, and report precision and timings.
    Demo(DemoArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Plan a model without running it: levels per block, bootstraps, rotations, key
    /// memory (ResNet-20/32/44/56/110, from the one DSL definition).
    Plan(PlanArgs),
    /// Client: make a key directory for a model: the secret key (client only), the public
    /// key, and the server's bundle of exactly the evaluation keys the model and its
    /// bootstrapping need; sizes printed.
    Keygen(KeygenArgs),
    /// Client: encrypt an image for the model a key directory was made for (the server
    /// runs it with `fhe infer --server-keys`).
    Encrypt(EncryptArgs),
    /// Client: decrypt the server's result to logits and a class.
    Decrypt(DecryptArgs),
    /// The ASIC simulator without arithmetic: price a model or a bootstrapping on a
    /// modelled accelerator, sweep designs, compare with published figures.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Args, Debug)]
struct PlanArgs {
    /// resnet20, resnet32, resnet44, resnet56 or resnet110; repeat for several, or
    /// `all`.
    #[arg(long, default_value = "resnet20")]
    model: Vec<String>,
    /// Bootstrapping preset (boot-n16: N = 2^16, 128-bit secure).
    #[arg(long, default_value = "boot-n16")]
    params: String,
    /// Output format: readable tables, or one JSON object per model.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Allow the insecure test presets (tests only).
    #[arg(long, hide = true)]
    insecure_test_params: bool,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Per-operation timings at the top level of a preset.
    Ops(BenchOpsArgs),
    /// Full-slot bootstrapping: latency, precision, levels left, keys.
    Bootstrap(BenchBootstrapArgs),
}

#[derive(Args, Debug)]
struct BenchBootstrapArgs {
    /// Bootstrapping preset: boot-n16 (N=2^16, 128-bit secure, the default); the insecure
    /// test presets boot-small, boot-tiny and boot-n13 need --insecure-test-params.
    #[arg(long, default_value = "boot-n16")]
    params: String,
    /// Backend to run on: cpu, reference, gpu, or asic-sim[:sharp|:ark|:FILE.toml].
    #[arg(long, default_value = "cpu")]
    backend: BackendSpec,
    /// Output format: a readable table, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Timed bootstrappings after one untimed warm-up (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Allow the insecure test presets (tests only).
    #[arg(long, hide = true)]
    insecure_test_params: bool,
}

#[derive(Args, Debug, Clone)]
struct InferArgs {
    /// Fashion-MNIST test-set index (the first 64 are bundled; the rest need Debian's
    /// dataset-fashion-mnist), or a PNG path (28×28 grey, or 32×32 RGB CIFAR-shaped).
    #[arg(long, default_value = "0")]
    image: infer::ImageSource,
    /// Classify this many consecutive test-set images from --image under one key set
    /// (one report each, then a summary).
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Backend to run on: cpu, reference, gpu, or asic-sim[:sharp|:ark|:FILE.toml] (the
    /// CPU backend's results, every call priced on the modelled accelerator).
    #[arg(long, default_value = "cpu")]
    backend: BackendSpec,
    /// Bootstrapping preset (boot-n16: N = 2^16, 128-bit secure).
    #[arg(long, default_value = "boot-n16")]
    params: String,
    /// Weights (safetensors).
    #[arg(long, default_value = infer::DEFAULT_WEIGHTS)]
    weights: std::path::PathBuf,
    /// Activation calibration (JSON, from `fhe calibrate`).
    #[arg(long, default_value = infer::DEFAULT_CALIBRATION)]
    calibration: std::path::PathBuf,
    /// Stored activations stay within [0, margin²] on the calibration images.
    #[arg(long, default_value_t = 0.8)]
    margin: f64,
    /// Run only the cleartext twin (same packing, levels and folds; no encryption).
    #[arg(long)]
    simulate: bool,
    /// With --simulate: inject CKKS-like noise (boot-n16's measured bootstrap and
    /// arithmetic error) and report each layer's error.
    #[arg(long, requires = "simulate")]
    noise: bool,
    /// Encrypted run: decrypt every layer's output and report its error against the
    /// exact cleartext twin (diagnostics: the secret key is used beside the server).
    #[arg(long, conflicts_with = "simulate")]
    layer_errors: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Keep encoded weights (plaintext diagonals) on the backend across uses, up to this
    /// many GB: each is then encoded once per level instead of in every inference.
    /// Default: half the free device memory with --backend gpu, off on the CPU.
    #[arg(long)]
    plaintext_cache_gb: Option<f64>,
    /// Deterministic keys and encryption randomness from this seed (INSECURE: for
    /// checking that two backends compute bit-identical results).
    #[arg(long, hide = true)]
    insecure_seed: Option<u64>,
    /// Allow the insecure test presets (tests only).
    #[arg(long, hide = true)]
    insecure_test_params: bool,
    /// Server side of two-party inference: the client's evaluation-key bundle
    /// (`server.keys` from `fhe keygen`); reads --input, writes --output, never a secret
    /// key.
    #[arg(long, requires_all = ["input", "output"],
          conflicts_with_all = ["simulate", "layer_errors", "count", "image", "insecure_seed"])]
    server_keys: Option<std::path::PathBuf>,
    /// With --server-keys: the client's ciphertext (`fhe encrypt`).
    #[arg(long, requires = "server_keys")]
    input: Option<std::path::PathBuf>,
    /// With --server-keys: the result ciphertext to write (for `fhe decrypt`).
    #[arg(long, requires = "server_keys")]
    output: Option<std::path::PathBuf>,
}

impl Default for InferArgs {
    fn default() -> Self {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            a: InferArgs,
        }
        Wrap::parse_from(["fhe"]).a
    }
}

#[derive(Args, Debug, Clone)]
struct CalibrateArgs {
    /// Weights (safetensors).
    #[arg(long, default_value = infer::DEFAULT_WEIGHTS)]
    weights: std::path::PathBuf,
    /// Output JSON.
    #[arg(long, default_value = infer::DEFAULT_CALIBRATION)]
    out: std::path::PathBuf,
    /// Training images to measure on.
    #[arg(long, default_value_t = 10000)]
    images: usize,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Parameter preset (128-bit secure): bench-a (N=2^16, 24 Q limbs, dnum 4) or
    /// bench-b (N=2^16, 12 Q limbs, dnum 3).
    #[arg(long, default_value = "bench-b")]
    params: String,
    /// Backend to run on.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    backend: BackendKind,
    /// Validate the preset without the security check (tests only; e.g. test-small).
    #[arg(long, hide = true)]
    insecure_test_params: bool,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            params: "bench-b".into(),
            backend: BackendKind::Cpu,
            insecure_test_params: false,
        }
    }
}

#[derive(Args, Debug, Clone)]
struct DemoArgs {
    #[command(flatten)]
    common: Common,
    /// Seed of the pseudo-random input vector.
    #[arg(long, default_value_t = demo::DemoConfig::default().seed)]
    seed: u64,
    /// Number of slots (power of two, at most N/2; default N/2).
    #[arg(long)]
    slots: Option<usize>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        DemoArgs {
            common: Common::default(),
            seed: demo::DemoConfig::default().seed,
            slots: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Args, Debug)]
struct BenchOpsArgs {
    #[command(flatten)]
    common: Common,
    /// Output format: an aligned table, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Timed runs per operation after one warm-up run (default: 10, 5 for
    /// hoisted_rotate_8).
    #[arg(long)]
    runs: Option<usize>,
    /// Only these operations (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn progress(line: &str) {
    eprintln!("[fhe] {line}");
}

fn load_params(c: &Common) -> Result<fhe_dsl::ckks::Params> {
    check_available(c.backend)?;
    if c.insecure_test_params {
        progress("WARNING: insecure test parameters (no security check)");
    }
    params::preset(&c.params, c.insecure_test_params)
}

fn run_demo(a: &DemoArgs) -> Result<()> {
    let params = load_params(&a.common)?;
    let cfg = demo::DemoConfig {
        seed: a.seed,
        slots: a.slots,
    };
    progress(&format!(
        "demo: {} on {}",
        params.summary(),
        a.common.backend
    ));
    let report = match a.common.backend {
        BackendKind::Cpu => demo::run(params, cpu_backend(), &cfg, progress)?,
        BackendKind::Reference => demo::run(params, ReferenceBackend, &cfg, progress)?,
        BackendKind::Gpu => demo::run(params, gpu_backend()?, &cfg, progress)?,
    };
    print!("{report}");
    Ok(())
}

fn run_bench_ops(a: &BenchOpsArgs) -> Result<()> {
    let params = load_params(&a.common)?;
    let cfg = bench::BenchConfig {
        params_name: a.common.params.clone(),
        runs: a.runs,
        only: a.only.clone(),
    };
    let json = a.format == Format::Json;
    let emit = |r: &bench::Record| {
        if json {
            let line = serde_json::to_string(r).expect("a record serialises");
            let mut out = std::io::stdout().lock();
            // a closed pipe is not worth a panic
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    let records = match a.common.backend {
        BackendKind::Cpu => bench::run(params, cpu_backend(), &cfg, emit, progress)?,
        BackendKind::Reference => bench::run(params, ReferenceBackend, &cfg, emit, progress)?,
        BackendKind::Gpu => bench::run(params, gpu_backend()?, &cfg, emit, progress)?,
    };
    if !json {
        print!("{}", bench::table(&records));
    }
    Ok(())
}

/// A bootstrapping preset by name, and whether it is an insecure test preset (refused
/// without the opt-in).
fn preset_named(
    name: &str,
    insecure_ok: bool,
) -> Result<(fhe_dsl::circuits::BootstrapPreset, bool)> {
    params::bootstrap_preset(name, insecure_ok)
}

fn run_bench_bootstrap(a: &BenchBootstrapArgs) -> Result<()> {
    use fhe_models::bench::bench_bootstrap;
    if a.runs == 0 {
        return Err(UsageError("--runs must be at least 1".into()).into());
    }
    let (preset, insecure) = preset_named(&a.params, a.insecure_test_params)?;
    let kind = match &a.backend {
        BackendSpec::Plain(k) => *k,
        BackendSpec::AsicSim(hw) => {
            let hw = sim_hardware(hw)?;
            eprintln!(
                "bench bootstrap: {} on asic-sim ({}): one bootstrapping computed on the CPU and charged to the model",
                a.params, hw.name
            );
            let json = sim::bench_bootstrap(&preset, insecure, &hw)?;
            if a.format == Format::Json {
                println!("{json}");
            } else {
                print!("{}", sim::bootstrap_table(&json));
            }
            return Ok(());
        }
    };
    check_available(kind)?;
    eprintln!(
        "bench bootstrap: {} on {}, {} runs after a warm-up (key generation first)",
        a.params, kind, a.runs
    );
    let json = match kind {
        BackendKind::Cpu => bench_bootstrap(&preset, cpu_backend(), a.runs, insecure)?,
        BackendKind::Reference => bench_bootstrap(&preset, ReferenceBackend, a.runs, insecure)?,
        BackendKind::Gpu => bench_bootstrap(&preset, gpu_backend()?, a.runs, insecure)?,
    };
    if a.format == Format::Json {
        println!("{json}");
    } else {
        print!("{}", bench::bootstrap_table(&json));
    }
    Ok(())
}

/// `--plaintext-cache-gb` in bytes, or its default for the backend.
fn plaintext_cache_bytes(a: &InferArgs, kind: BackendKind) -> Result<usize> {
    if let Some(gb) = a.plaintext_cache_gb {
        if !(gb.is_finite() && gb >= 0.0) {
            return Err(UsageError(format!(
                "--plaintext-cache-gb must be a non-negative number, got {gb}"
            ))
            .into());
        }
    }
    Ok(match (a.plaintext_cache_gb, kind) {
        (Some(gb), _) => (gb * 1e9) as usize,
        (None, BackendKind::Gpu) => gpu_backend()?.mem_info().map_or(0, |(free, _)| free / 2),
        (None, _) => 0,
    })
}

fn run_infer(a: &InferArgs) -> Result<()> {
    let (kind, hardware) = match &a.backend {
        BackendSpec::Plain(k) => (*k, None),
        BackendSpec::AsicSim(hw) => (BackendKind::Cpu, Some(sim_hardware(hw)?)),
    };
    if let (Some(keys), Some(input), Some(output)) = (&a.server_keys, &a.input, &a.output) {
        if hardware.is_some() {
            return Err(UsageError(
                "--backend asic-sim prices the one-process inference; the server side \
                 (--server-keys) runs on cpu, reference or gpu"
                    .into(),
            )
            .into());
        }
        return parties_cli::run_infer_server(a, kind, keys, input, output);
    }
    check_available(kind)?;
    let (preset, insecure) = preset_named(&a.params, a.insecure_test_params)?;
    if hardware.is_some() && (a.layer_errors || a.plaintext_cache_gb.is_some()) {
        return Err(UsageError(
            "--backend asic-sim charges every call of the forward pass: it runs without \
             --layer-errors (decryptions between steps) and without a plaintext cache"
                .into(),
        )
        .into());
    }
    let plaintext_cache = plaintext_cache_bytes(a, kind)?;
    if a.insecure_seed.is_some() {
        progress("WARNING: --insecure-seed: deterministic keys and encryption (tests only)");
    }
    let sim_backend = sim::sim_backend();
    let probe = hardware
        .clone()
        .map(|hw| std::sync::Arc::new(sim::SimProbe::new(&sim_backend, hw, preset.clone())));
    let cfg = infer::InferConfig {
        weights: a.weights.clone(),
        calibration: a.calibration.clone(),
        image: a.image.clone(),
        count: a.count,
        preset,
        insecure,
        margin: a.margin,
        simulate: a.simulate,
        noise: a.noise.then(infer::boot_n16_noise),
        layer_check: a.layer_errors,
        progress_bar: a.format == Format::Table
            && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        model: "resnet20-aespa-fmnist".into(),
        backend_name: a.backend.to_string(),
        seed: a.insecure_seed,
        plaintext_cache,
        probe: probe
            .clone()
            .map(|p| p as std::sync::Arc<dyn infer::StepProbe>),
    };
    progress(&format!(
        "infer: ResNet-20 on {} ({}), image {:?}",
        a.backend, a.params, a.image
    ));
    let reports = match (&probe, kind) {
        (Some(_), _) => infer::run(sim_backend, &cfg, progress)?,
        (None, BackendKind::Cpu) => infer::run(cpu_backend(), &cfg, progress)?,
        (None, BackendKind::Reference) => infer::run(ReferenceBackend, &cfg, progress)?,
        (None, BackendKind::Gpu) => infer::run(gpu_backend()?, &cfg, progress)?,
    };
    let sim_runs = match &probe {
        Some(p) => p.runs()?,
        None => Vec::new(),
    };
    for (i, report) in reports.iter().enumerate() {
        let run = sim_runs.get(i);
        if a.format == Format::Json {
            let mut v = serde_json::to_value(report)?;
            if let Some(o) = v.as_object_mut() {
                o.remove("layers");
                if let Some(r) = run {
                    o.insert("asic_sim".into(), serde_json::to_value(r)?);
                }
            }
            println!("{v}");
        } else {
            print!("{}", report.table());
            if let Some(r) = run {
                println!(
                    "\nasic-sim (the forward pass above, every call charged; cost-only from the plan: {:.3} ms, counts {}):",
                    r.cost_only_seconds * 1e3,
                    if r.counts_agree { "agree" } else { "DIFFER" }
                );
                print!("{}", r.exact.table(true));
            }
        }
    }
    if reports.len() > 1 {
        let agree = reports
            .iter()
            .filter(|r| r.label_encrypted == r.label_plain)
            .count();
        let max_err = reports.iter().fold(0.0f64, |m, r| m.max(r.max_abs_err));
        let mean_s = reports.iter().map(|r| r.latency_s).sum::<f64>() / reports.len() as f64;
        progress(&format!(
            "{} images: encrypted and plaintext argmax agree on {agree}, max |error| {max_err:.3e}, mean latency {mean_s:.1} s",
            reports.len()
        ));
    }
    Ok(())
}

fn run_calibrate(a: &CalibrateArgs) -> Result<()> {
    let calib = infer::calibrate_on_training_set(&a.weights, a.images)?;
    std::fs::write(&a.out, serde_json::to_string_pretty(&calib)? + "\n")?;
    progress(&format!("wrote {} ({})", a.out.display(), calib.source));
    Ok(())
}

fn run_plan(a: &PlanArgs) -> Result<()> {
    use fhe_models::resnet::{dsl::DEPTHS, planning::plan_named};
    let (preset, insecure) = preset_named(&a.params, a.insecure_test_params)?;
    let names: Vec<String> = if a.model.iter().any(|m| m == "all") {
        DEPTHS.iter().map(|(n, _)| n.to_string()).collect()
    } else {
        a.model.clone()
    };
    for name in &names {
        if !DEPTHS.iter().any(|(n, _)| n == name) {
            return Err(UsageError(format!(
                "unknown model `{name}`: resnet20, resnet32, resnet44, resnet56, resnet110 or all"
            ))
            .into());
        }
    }
    let mut out = std::io::stdout().lock();
    for name in &names {
        let t = std::time::Instant::now();
        let r = plan_named(name, &preset, insecure)?;
        match a.format {
            Format::Json => writeln!(out, "{}", serde_json::to_string(&r)?)?,
            Format::Table => writeln!(out, "{}", r.table())?,
        }
        progress(&format!(
            "{name}: planned in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let result = match &cli.command {
        None => run_infer(&InferArgs::default()),
        Some(Command::Infer(a)) => run_infer(a),
        Some(Command::Calibrate(a)) => run_calibrate(a),
        Some(Command::Demo(a)) => run_demo(a),
        Some(Command::Bench(BenchCommand::Ops(a))) => run_bench_ops(a),
        Some(Command::Bench(BenchCommand::Bootstrap(a))) => run_bench_bootstrap(a),
        Some(Command::Plan(a)) => run_plan(a),
        Some(Command::Sim(c)) => sim_cli::run_sim(c),
        Some(Command::Keygen(a)) => parties_cli::run_keygen(a),
        Some(Command::Encrypt(a)) => parties_cli::run_encrypt(a),
        Some(Command::Decrypt(a)) => parties_cli::run_decrypt(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
