//! The server's command: the model on the client's ciphertext under the client's
//! evaluation keys. Nothing here can read a secret key.

use super::{write_file, PlannedKeys, MODELS};
use crate::infer::{
    forward_ciphertext, load_model, peak_rss_bytes, resnet_params, server_bootstrapper,
};
use crate::memory::{self, gb};
use crate::resnet::dsl::ResNet20;
use anyhow::{Context, Result};
use fhe_dsl::backend::Backend;
use fhe_dsl::circuits::{BootstrapPreset, BootstrappingKeys};
use fhe_dsl::ckks::Ckks;
use fhe_dsl::typed::LeveledBootstrapper;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

// ---- server -----------------------------------------------------------------------------

/// What the server side of `fhe infer` needs. It has no path to a secret key.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Bootstrapping preset.
    pub preset: BootstrapPreset,
    /// Accept the insecure test presets.
    pub insecure: bool,
    /// The model's weights.
    pub weights: PathBuf,
    /// The model's calibration.
    pub calibration: PathBuf,
    /// Activation margin.
    pub margin: f64,
    /// The client's evaluation-key bundle (`server.keys`).
    pub server_keys: PathBuf,
    /// The client's ciphertext.
    pub input: PathBuf,
    /// Where the result goes.
    pub output: PathBuf,
    /// Backend name in the report.
    pub backend_name: String,
    /// Device-side plaintext cache budget in bytes.
    pub plaintext_cache: usize,
}

/// What the server did.
#[derive(Clone, Debug, Serialize)]
pub struct ServerReport {
    /// Model name.
    pub model: String,
    /// Backend.
    pub backend: String,
    /// Parameter preset.
    pub params: String,
    /// Encrypted inference, seconds.
    pub latency_s: f64,
    /// Bootstraps performed.
    pub bootstraps: usize,
    /// The result file and its size.
    pub output: PathBuf,
    /// Bytes of the result.
    pub output_bytes: u64,
    /// Evaluation-key bytes held on the backend.
    pub server_key_bytes: usize,
    /// Peak resident memory of the process, bytes.
    pub peak_rss_bytes: u64,
}

impl ServerReport {
    /// The readable report.
    pub fn table(&self) -> String {
        format!(
            "{} on {} ({}): {} ({} bytes) in {:.1} s, {} bootstraps, {} of keys on the server, peak RSS {}\n",
            self.model,
            self.backend,
            self.params,
            self.output.display(),
            self.output_bytes,
            self.latency_s,
            self.bootstraps,
            gb(self.server_key_bytes as u64),
            gb(self.peak_rss_bytes)
        )
    }
}

/// The server's side: reads the ciphertext and the key bundle, runs the model, writes
/// the result.
pub fn server_infer<B: Backend>(
    backend: B,
    cfg: &ServerConfig,
    log: impl Fn(&str),
) -> Result<ServerReport> {
    with_slots!(cfg.preset, server_on::<B>(backend, cfg, &log))
}

fn server_on<B: Backend, const S: usize>(
    backend: B,
    cfg: &ServerConfig,
    log: &dyn Fn(&str),
) -> Result<ServerReport> {
    let params = resnet_params::<S>(&cfg.preset, cfg.insecure)?;
    let (_, folded) = load_model::<S>(&cfg.weights, &cfg.calibration, cfg.margin)?;
    let model = &folded.model;
    let req = model.key_request();
    let plan = ResNet20::<S>::plan();
    let ckks = Ckks::new(params.clone(), backend);
    // the small input first: a wrong file fails before gigabytes of keys are read
    let ct = ckks
        .ciphertext_from_bytes(&memory::read_file(&cfg.input, "input ciphertext")?)
        .with_context(|| format!("reading the input ciphertext {}", cfg.input.display()))?;

    let planned = PlannedKeys::new(&params, &req, &cfg.preset)?;
    let key_path = &cfg.server_keys;
    memory::check_file(key_path, "server keys")?;
    let file_len = std::fs::metadata(key_path)?.len();
    memory::check_fits(
        "the evaluation keys (the file, then the keys expanded on the server)",
        planned.expanded + file_len,
    )?;
    let fp = BootstrappingKeys::expected_fingerprint(&params, &cfg.preset.config, &req)?;
    let keys = {
        let bytes = std::fs::read(key_path)
            .with_context(|| format!("reading server keys {}", key_path.display()))?;
        BootstrappingKeys::from_bytes_with_fingerprint(&bytes, &params, &fp).with_context(|| {
            format!(
                "reading server keys {} (for {} at {})",
                key_path.display(),
                MODELS[0],
                cfg.preset.name
            )
        })?
    };
    let boot = server_bootstrapper(&ckks, &cfg.preset, keys, cfg.plaintext_cache, log)?;
    let server_key_bytes = boot.evaluator().key_bytes();
    let bt = LeveledBootstrapper::<B, 9>::new(&boot)?;
    let t = Instant::now();
    let out = forward_ciphertext(model, &boot, &bt, ct, &mut |_, _| Ok(()))?;
    ckks.backend().synchronize()?;
    let latency_s = t.elapsed().as_secs_f64();
    let bytes = ckks.ciphertext_to_bytes(&out)?;
    write_file(&cfg.output, &bytes)?;
    Ok(ServerReport {
        model: MODELS[0].into(),
        backend: cfg.backend_name.clone(),
        params: cfg.preset.name.to_string(),
        latency_s,
        bootstraps: plan.bootstraps(),
        output: cfg.output.clone(),
        output_bytes: bytes.len() as u64,
        server_key_bytes,
        peak_rss_bytes: peak_rss_bytes(),
    })
}
