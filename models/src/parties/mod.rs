//! The two parties of private inference as separate processes, talking through files
//! in the wire format ([`fhe_dsl::wire`]):
//!
//! - client, `fhe keygen`: a key directory with the secret key (its own explicit export,
//!   readable by the owner only), the public key, the server's evaluation-key bundle
//!   (exactly the model's keys plus bootstrapping's) and `client.json`, which names the
//!   model and parameters for the client's later commands;
//! - client, `fhe encrypt`: image → ciphertext file (under the public key);
//! - server, `fhe infer --server-keys`: model, key bundle and ciphertext → ciphertext, on
//!   any backend, without ever reading the secret key;
//! - client, `fhe decrypt`: ciphertext → logits and class.
//!
//! Every file is checked against the memory left before it is read, and decoded by the
//! validating wire decoders: a file made for other parameters, another model, or of
//! another kind is a clear error.

pub use client::{
    decrypt, encrypt, keygen, DecryptReport, EncryptReport, KeygenConfig, KeygenReport,
};
pub use server::{server_infer, ServerConfig, ServerReport};

use crate::backends::UsageError;
use crate::resnet::planning::ServerKeys;
use anyhow::{Context, Result};
use fhe_dsl::circuits::BootstrapPreset;
use fhe_dsl::ckks::{KeyRequest, Params, SwitchingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The secret key in a key directory (client only).
pub const SECRET_KEY_FILE: &str = "secret.key";
/// The public key in a key directory.
pub const PUBLIC_KEY_FILE: &str = "public.key";
/// The evaluation-key bundle for the server.
pub const SERVER_KEYS_FILE: &str = "server.keys";
/// What the client's later commands need to know about the keys.
pub const MANIFEST_FILE: &str = "client.json";

/// The models the two-party commands serve.
const MODELS: [&str; 1] = ["resnet20"];

/// `client.json`: the model and parameters a key directory was made for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Model name (`resnet20`).
    pub model: String,
    /// Bootstrapping preset name.
    pub params: String,
    /// Input channels of the model's first convolution.
    pub input_channels: usize,
    /// Logits the model outputs.
    pub classes: usize,
    /// Fingerprint of the parameter set (hex), as every key and ciphertext header holds.
    pub params_fingerprint: String,
    /// Fingerprint of the key bundle's request (hex): the model's keys and bootstrapping's.
    pub key_request_fingerprint: String,
}

/// Runs `$f::<[$b,] S>(args)` for the preset's slot count (the model is generic in it).
macro_rules! with_slots {
    ($preset:expr, $f:ident $(::<$b:ty>)? ($($arg:expr),*)) => {
        match $preset.config.slots() {
            32768 => $f::<$($b,)? 32768>($($arg),*),
            4096 => $f::<$($b,)? 4096>($($arg),*),
            s => Err($crate::backends::UsageError(format!(
                "the ResNet runs on full-slot presets with 32768 slots (boot-n16) or 4096 (boot-n13), not {s}"
            ))
            .into()),
        }
    };
}

mod client;
mod server;

/// The keys a preset and a model's request take, planned before any is made.
struct PlannedKeys {
    /// Galois keys, the model's and bootstrapping's.
    galois: usize,
    /// Bytes key generation holds (uniform halves as seeds, 8-byte words).
    seeded: u64,
    /// Bytes the server holds once the uniform halves are expanded.
    expanded: u64,
}

impl PlannedKeys {
    fn new(params: &Params, req: &KeyRequest, preset: &BootstrapPreset) -> Result<Self> {
        let keys = ServerKeys::new(params, req, preset)?;
        // the sparse→dense key at the top level comes on top of the evaluation keys
        let sparse = SwitchingKey::byte_size_at(params, params.max_level()) as u64;
        let expanded = keys.all_bytes as u64 + 2 * sparse;
        Ok(PlannedKeys {
            galois: keys.galois_keys,
            seeded: expanded / 2,
            expanded,
        })
    }
}

fn check_model(model: &str) -> Result<()> {
    if !MODELS.contains(&model) {
        return Err(UsageError(format!(
            "unknown model `{model}`: the two-party commands serve {}",
            MODELS.join(", ")
        ))
        .into());
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
