//! The two-party commands: `fhe keygen`, `fhe encrypt`, `fhe infer --server-keys`, `fhe decrypt`.

use crate::{plaintext_cache_bytes, preset_named, progress, Format, InferArgs};
use anyhow::Result;
use clap::Args;
use fhe_dsl::backend::reference::ReferenceBackend;
use fhe_models::backends::{check_available, cpu_backend, gpu_backend, BackendKind};
use fhe_models::{infer, parties};

#[derive(Args, Debug)]
pub(crate) struct KeygenArgs {
    /// The model the keys serve.
    #[arg(long, default_value = "resnet20")]
    pub(crate) model: String,
    /// Bootstrapping preset (boot-n16: N = 2^16, 128-bit secure).
    #[arg(long, default_value = "boot-n16")]
    pub(crate) params: String,
    /// The server's weights (only their shapes matter: they fix the rotation keys).
    #[arg(long, default_value = infer::DEFAULT_WEIGHTS)]
    pub(crate) weights: std::path::PathBuf,
    /// The server's activation calibration.
    #[arg(long, default_value = infer::DEFAULT_CALIBRATION)]
    pub(crate) calibration: std::path::PathBuf,
    /// The key directory to write (secret.key, public.key, server.keys, client.json).
    #[arg(long)]
    pub(crate) out: std::path::PathBuf,
    /// Replace an existing secret key.
    #[arg(long)]
    pub(crate) force: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Allow the insecure test presets (tests only).
    #[arg(long, hide = true)]
    pub(crate) insecure_test_params: bool,
}

#[derive(Args, Debug)]
pub(crate) struct EncryptArgs {
    /// The key directory (`fhe keygen --out`); only its public key is used.
    #[arg(long)]
    pub(crate) keys: std::path::PathBuf,
    /// Fashion-MNIST test-set index or a PNG path, as `fhe infer --image` takes.
    #[arg(long, default_value = "0")]
    pub(crate) image: infer::ImageSource,
    /// The ciphertext file to write.
    #[arg(long)]
    pub(crate) out: std::path::PathBuf,
    /// Allow the insecure test presets (tests only).
    #[arg(long, hide = true)]
    pub(crate) insecure_test_params: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DecryptArgs {
    /// The key directory (`fhe keygen --out`) holding the secret key.
    #[arg(long)]
    pub(crate) keys: std::path::PathBuf,
    /// The server's result (`fhe infer --server-keys … --output`).
    #[arg(long)]
    pub(crate) input: std::path::PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Allow the insecure test presets (tests only).
    #[arg(long, hide = true)]
    pub(crate) insecure_test_params: bool,
}

pub(crate) fn run_infer_server(
    a: &InferArgs,
    kind: BackendKind,
    server_keys: &std::path::Path,
    input: &std::path::Path,
    output: &std::path::Path,
) -> Result<()> {
    check_available(kind)?;
    let (preset, insecure) = preset_named(&a.params, a.insecure_test_params)?;
    let cfg = parties::ServerConfig {
        preset,
        insecure,
        weights: a.weights.clone(),
        calibration: a.calibration.clone(),
        margin: a.margin,
        server_keys: server_keys.to_path_buf(),
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        backend_name: kind.to_string(),
        plaintext_cache: plaintext_cache_bytes(a, kind)?,
    };
    progress(&format!(
        "infer (server): ResNet-20 on {} ({}), {} → {}",
        kind,
        a.params,
        input.display(),
        output.display()
    ));
    let report = match kind {
        BackendKind::Cpu => parties::server_infer(cpu_backend(), &cfg, progress)?,
        BackendKind::Reference => parties::server_infer(ReferenceBackend, &cfg, progress)?,
        BackendKind::Gpu => parties::server_infer(gpu_backend()?, &cfg, progress)?,
    };
    match a.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Table => print!("{}", report.table()),
    }
    Ok(())
}

pub(crate) fn run_keygen(a: &KeygenArgs) -> Result<()> {
    let (preset, insecure) = preset_named(&a.params, a.insecure_test_params)?;
    let cfg = parties::KeygenConfig {
        model: a.model.clone(),
        preset,
        insecure,
        weights: a.weights.clone(),
        calibration: a.calibration.clone(),
        margin: InferArgs::default().margin,
        out: a.out.clone(),
        force: a.force,
    };
    let report = parties::keygen(&cfg, progress)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string(&report)?),
        Format::Table => print!("{}", report.table()),
    }
    Ok(())
}

pub(crate) fn run_encrypt(a: &EncryptArgs) -> Result<()> {
    let r = parties::encrypt(&a.keys, &a.image, &a.out, a.insecure_test_params)?;
    progress(&format!(
        "wrote {} ({} bytes, level {}{})",
        r.out.display(),
        r.bytes,
        r.level,
        r.label_true
            .map_or(String::new(), |l| format!(", true label: {l}"))
    ));
    Ok(())
}

pub(crate) fn run_decrypt(a: &DecryptArgs) -> Result<()> {
    let r = parties::decrypt(&a.keys, &a.input, a.insecure_test_params)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string(&r)?),
        Format::Table => print!("{}", r.table()),
    }
    Ok(())
}
