//! The client's commands: keys, encryption, decryption.

use super::{
    check_model, write_file, Manifest, PlannedKeys, MANIFEST_FILE, PUBLIC_KEY_FILE,
    SECRET_KEY_FILE, SERVER_KEYS_FILE,
};
use crate::backends::{cpu_backend, UsageError};
use crate::infer::{
    argmax, check_finite, class_name, load_image, load_model, resnet_params, ImageSource,
};
use crate::memory::{self, gb};
use crate::params::bootstrap_preset;
use crate::resnet::dsl::ResNet20;
use crate::resnet::fold::input_layout;
use anyhow::{bail, Context, Result};
use fhe_dsl::circuits::{BootstrapPreset, BootstrappingKeys};
use fhe_dsl::ckks::{Ckks, PublicKey, SecretKey};
use fhe_dsl::wire::{Kind, Zeroizing, MAGIC};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

// ---- keygen -----------------------------------------------------------------------------

/// What `fhe keygen` needs.
#[derive(Clone, Debug)]
pub struct KeygenConfig {
    /// Model name (`resnet20`).
    pub model: String,
    /// Bootstrapping preset.
    pub preset: BootstrapPreset,
    /// Accept the insecure test presets.
    pub insecure: bool,
    /// The server's weights: keygen derives the exact rotation keys from their shapes.
    pub weights: PathBuf,
    /// The server's calibration.
    pub calibration: PathBuf,
    /// The server's activation margin.
    pub margin: f64,
    /// The key directory to write.
    pub out: PathBuf,
    /// Overwrite an existing secret key.
    pub force: bool,
}

/// What `fhe keygen` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct KeygenReport {
    /// The key directory.
    pub dir: PathBuf,
    /// Parameter preset.
    pub params: String,
    /// Bytes of `secret.key`.
    pub secret_key_bytes: u64,
    /// Bytes of `public.key`.
    pub public_key_bytes: u64,
    /// Bytes of `server.keys` (uniform halves as seeds).
    pub server_keys_bytes: u64,
    /// Bytes the bundle would take with the uniform halves stored whole.
    pub server_keys_expanded_bytes: u64,
    /// Galois keys in the bundle.
    pub galois_keys: usize,
    /// Key generation, seconds.
    pub keygen_s: f64,
}

impl KeygenReport {
    /// The readable report.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let d = |f: &str| self.dir.join(f).display().to_string();
        let _ = writeln!(s, "keys for {} in {:.1} s:", self.params, self.keygen_s);
        let _ = writeln!(
            s,
            "  {:<40} {:>12} bytes  client only: keep it secret",
            d(SECRET_KEY_FILE),
            self.secret_key_bytes
        );
        let _ = writeln!(
            s,
            "  {:<40} {:>12} bytes",
            d(PUBLIC_KEY_FILE),
            self.public_key_bytes
        );
        let _ = writeln!(
            s,
            "  {:<40} {:>12} bytes  for the server: {} Galois keys, {} once expanded",
            d(SERVER_KEYS_FILE),
            self.server_keys_bytes,
            self.galois_keys,
            gb(self.server_keys_expanded_bytes)
        );
        s
    }
}

/// Generates a key directory for the model `cfg` names.
pub fn keygen(cfg: &KeygenConfig, log: impl Fn(&str)) -> Result<KeygenReport> {
    check_model(&cfg.model)?;
    with_slots!(cfg.preset, keygen_on(cfg, &log))
}

fn keygen_on<const S: usize>(cfg: &KeygenConfig, log: &dyn Fn(&str)) -> Result<KeygenReport> {
    let params = resnet_params::<S>(&cfg.preset, cfg.insecure)?;
    let (weights, folded) = load_model::<S>(&cfg.weights, &cfg.calibration, cfg.margin)?;
    let req = folded.model.key_request();
    let planned = PlannedKeys::new(&params, &req, &cfg.preset)?;
    memory::check_fits(
        "key generation (the evaluation keys, seeded)",
        planned.seeded,
    )?;
    let secret_path = cfg.out.join(SECRET_KEY_FILE);
    if secret_path.exists() && !cfg.force {
        return Err(UsageError(format!(
            "{} exists: a new key could not decrypt what was encrypted under it; pass --force to replace it",
            secret_path.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&cfg.out)
        .with_context(|| format!("creating the key directory {}", cfg.out.display()))?;
    log(&format!(
        "keygen: {} Galois keys for {} and its bootstrapping at {} (about {} in memory, {} on the server once expanded)",
        planned.galois,
        cfg.model,
        cfg.preset.name,
        gb(planned.seeded),
        gb(planned.expanded)
    ));

    let t = Instant::now();
    let ckks = Ckks::new(params.clone(), cpu_backend());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &cfg.preset.config, &req)?;
    let keygen_s = t.elapsed().as_secs_f64();

    let secret_key_bytes = write_secret(&secret_path, &sk.to_secret_bytes(&params)?)?;
    let public = pk.to_bytes(&params)?;
    write_file(&cfg.out.join(PUBLIC_KEY_FILE), &public)?;
    let server_path = cfg.out.join(SERVER_KEYS_FILE);
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&server_path)
            .with_context(|| format!("creating {}", server_path.display()))?,
    );
    // streamed: no second copy of the keys in memory
    let server_keys_bytes = keys.write_to(&params, &mut w)?;
    w.flush()
        .with_context(|| format!("writing {}", server_path.display()))?;
    let manifest = Manifest {
        model: cfg.model.clone(),
        params: cfg.preset.name.to_string(),
        input_channels: weights.in_channels(),
        classes: folded.classes,
        params_fingerprint: params.fingerprint().to_hex(),
        key_request_fingerprint: keys.request_fingerprint(&params).to_hex(),
    };
    write_file(
        &cfg.out.join(MANIFEST_FILE),
        (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes(),
    )?;
    Ok(KeygenReport {
        dir: cfg.out.clone(),
        params: cfg.preset.name.to_string(),
        secret_key_bytes,
        public_key_bytes: public.len() as u64,
        server_keys_bytes,
        server_keys_expanded_bytes: keys.wire_size(&params).expanded,
        galois_keys: keys.evk.galois.len(),
        keygen_s,
    })
}

/// Writes the secret key readable by its owner only (created so, never widened after).
fn write_secret(path: &Path, bytes: &[u8]) -> Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    // a replaced key is removed first: `mode` applies only to a file being created
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("replacing {}", path.display()))
        }
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(bytes.len() as u64)
}

// ---- the client's key directory ---------------------------------------------------------

/// A key directory as the client's commands read it.
struct KeyDir {
    dir: PathBuf,
    manifest: Manifest,
    preset: BootstrapPreset,
    insecure: bool,
}

impl KeyDir {
    /// Opens `dir` (what `fhe keygen --out` wrote): the manifest, and its preset
    /// (insecure ones only with `insecure_ok`).
    fn open(dir: &Path, insecure_ok: bool) -> Result<KeyDir> {
        if !dir.is_dir() {
            let what = match std::fs::File::open(dir) {
                Ok(f) => {
                    // the first bytes say what it is (a ciphertext, say): no need to read more
                    let mut head = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::Read::take(f, 8), &mut head)?;
                    describe_prefix(&head)
                }
                Err(_) => "not found".into(),
            };
            return Err(UsageError(format!(
                "--keys {}: not a key directory ({what}); pass the directory `fhe keygen --out` wrote",
                dir.display()
            ))
            .into());
        }
        let path = dir.join(MANIFEST_FILE);
        let manifest: Manifest =
            serde_json::from_slice(&memory::read_file(&path, "key directory manifest")?)
                .with_context(|| format!("parsing {}", path.display()))?;
        check_model(&manifest.model)?;
        let (preset, insecure) = bootstrap_preset(&manifest.params, insecure_ok)?;
        Ok(KeyDir {
            dir: dir.to_path_buf(),
            manifest,
            preset,
            insecure,
        })
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

/// What the first bytes of a file say it is.
fn describe_prefix(bytes: &[u8]) -> String {
    match (bytes.get(..4), bytes.get(6)) {
        (Some(m), Some(&tag)) if m == MAGIC => match Kind::from_tag(tag) {
            Some(k) => format!("{k} file"),
            None => "a file of an unknown kind".into(),
        },
        _ => "a file, not in the fhe wire format".into(),
    }
}

// ---- encrypt ----------------------------------------------------------------------------

/// What `fhe encrypt` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct EncryptReport {
    /// The ciphertext file.
    pub out: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Level the ciphertext starts at (the model's input level).
    pub level: usize,
    /// The image's true label, when known.
    pub label_true: Option<String>,
}

/// Encrypts `image` under the public key in `keys` for the model the directory was made
/// for, and writes the ciphertext to `out`.
pub fn encrypt(
    keys: &Path,
    image: &ImageSource,
    out: &Path,
    insecure_ok: bool,
) -> Result<EncryptReport> {
    let dir = KeyDir::open(keys, insecure_ok)?;
    with_slots!(dir.preset, encrypt_on(&dir, image, out))
}

fn encrypt_on<const S: usize>(
    dir: &KeyDir,
    image: &ImageSource,
    out: &Path,
) -> Result<EncryptReport> {
    let params = resnet_params::<S>(&dir.preset, dir.insecure)?;
    let path = dir.path(PUBLIC_KEY_FILE);
    let pk = PublicKey::from_bytes(&memory::read_file(&path, "public key")?, &params)
        .with_context(|| format!("reading the public key {}", path.display()))?;
    let (x, label) = load_image(image)?;
    let channels = dir.manifest.input_channels;
    if x.dim().0 != channels {
        bail!(
            "the image has {} channels, the model takes {channels}",
            x.dim().0
        );
    }
    let packed = input_layout(channels)?.pack(&x.iter().copied().collect::<Vec<_>>(), S)?;
    let level = ResNet20::<S>::plan().input_level;
    let ckks = Ckks::new(params.clone(), cpu_backend());
    let ct = ckks.encryptor(&pk).encrypt(&ckks.encode_real(
        &packed,
        level,
        params.default_scale(),
    )?)?;
    let bytes = ckks.ciphertext_to_bytes(&ct)?;
    write_file(out, &bytes)?;
    Ok(EncryptReport {
        out: out.to_path_buf(),
        bytes: bytes.len() as u64,
        level,
        label_true: label.map(class_name),
    })
}

// ---- decrypt ----------------------------------------------------------------------------

/// The decrypted result.
#[derive(Clone, Debug, Serialize)]
pub struct DecryptReport {
    /// Model name.
    pub model: String,
    /// Parameter preset.
    pub params: String,
    /// The logits.
    pub logits: Vec<f64>,
    /// Index of the largest logit.
    pub class: usize,
    /// Its name.
    pub label: String,
}

impl DecryptReport {
    /// The readable report.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{} ({}): class {} ({})\n{:>12} {:>12}\n",
            self.model, self.params, self.class, self.label, "class", "logit"
        );
        for (i, l) in self.logits.iter().enumerate() {
            let name: String = class_name(i).chars().take(12).collect();
            let _ = writeln!(s, "{name:>12} {l:>12.6}");
        }
        s
    }
}

/// Decrypts the server's result with the secret key in `keys`.
pub fn decrypt(keys: &Path, input: &Path, insecure_ok: bool) -> Result<DecryptReport> {
    let dir = KeyDir::open(keys, insecure_ok)?;
    with_slots!(dir.preset, decrypt_on(&dir, input))
}

fn decrypt_on<const S: usize>(dir: &KeyDir, input: &Path) -> Result<DecryptReport> {
    let params = resnet_params::<S>(&dir.preset, dir.insecure)?;
    let path = dir.path(SECRET_KEY_FILE);
    let sk = {
        let bytes = Zeroizing::new(memory::read_file(&path, "secret key")?);
        SecretKey::from_secret_bytes(&bytes, &params)
            .with_context(|| format!("reading the secret key {}", path.display()))?
    };
    let ckks = Ckks::new(params, cpu_backend());
    let ct = ckks
        .ciphertext_from_bytes(&memory::read_file(input, "ciphertext")?)
        .with_context(|| format!("reading the ciphertext {}", input.display()))?;
    // the client's own input decrypts too, to the packed image: not logits
    let want = ResNet20::<S>::plan().output_level();
    if ct.level() != want {
        bail!(
            "{} is at level {}, the model's output at level {want}: is it the server's result?",
            input.display(),
            ct.level()
        );
    }
    let classes = dir.manifest.classes;
    let mut logits = ckks.decryptor(&sk).decrypt_real(&ct)?;
    if logits.len() < classes {
        bail!(
            "{} holds {} values, the model has {classes} classes",
            input.display(),
            logits.len()
        );
    }
    logits.truncate(classes);
    check_finite(&logits, "the decrypted logits")?;
    let class = argmax(&logits);
    Ok(DecryptReport {
        model: dir.manifest.model.clone(),
        params: dir.manifest.params.clone(),
        logits,
        class,
        label: class_name(class),
    })
}
