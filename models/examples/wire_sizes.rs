//! Serialised sizes in the `fhe_dsl::wire` format at a bootstrapping preset: a
//! ciphertext, the public key, the secret key and ResNet-20's evaluation-key bundle
//! (its own rotation keys plus bootstrapping's), seeded (uniform halves as 32-byte
//! seeds, as written) and expanded (uniform halves stored whole), next to the 64-bit
//! words the library holds in memory.
//!
//! `cargo run --release -p fhe-models --example wire_sizes -- [preset] [--decode]`
//!
//! `boot-n16` (N = 2^16, 128-bit secure, the only full-slot preset ResNet-20's CIFAR
//! shapes fit): ~20 s of key generation and ~10 GB of memory. `--decode` also decodes
//! the bundle from bytes (another copy of it in memory) and times it.

use anyhow::{bail, Result};
use fhe_backend_cpu::CpuBackend;
use fhe_dsl::circuits::{BootstrapPreset, BootstrappingKeys};
use fhe_dsl::ckks::{Ckks, Params, PublicKey};
use fhe_dsl::model::{key_request, Model};
use fhe_dsl::wire;
use fhe_models::resnet::dsl::ResNet;
use fhe_models::resnet::fold::{fold, Calibration};
use fhe_models::resnet::planning::random_weights;
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let decode = args.iter().any(|a| a == "--decode");
    let name = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or("boot-n16", String::as_str);
    let preset = BootstrapPreset::by_name(name)?;
    match preset.config.slots() {
        32768 => run::<32768>(&preset, decode),
        s => bail!("ResNet-20's CIFAR shapes need 32768 slots (boot-n16), not {s}"),
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn run<const S: usize>(preset: &BootstrapPreset, decode: bool) -> Result<()>
where
    ResNet<S, 3>: Model,
{
    let params = Params::new(preset.params.clone())?;
    // ResNet-20's key request: rotation steps depend on the layer shapes, not on the
    // weights, so seeded random weights of the right shapes give the real request
    let w = random_weights(3, 10, 1);
    let folded = fold::<S, 3>(&w, &Calibration::unit(&w), 0.8)?;
    let req = key_request(&folded.model);
    let plan = folded.model.plan();
    let (input, output) = (plan.input_level, plan.output_level());

    let ckks = Ckks::new(params.clone(), CpuBackend::new());
    let t = Instant::now();
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &req)?;
    let keygen_s = t.elapsed().as_secs_f64();

    // ciphertext at the network's input level, through the wire and back
    let pt = ckks.encode_real(&vec![0.25; S], input, params.default_scale())?;
    let ct = ckks.encryptor(&pk).encrypt(&pt)?;
    let ct_bytes = ckks.ciphertext_to_bytes(&ct)?;
    let back = ckks.ciphertext_from_bytes(&ct_bytes)?;
    let dec = ckks.decryptor(&sk);
    let (a, b) = (dec.decrypt_real(&ct)?, dec.decrypt_real(&back)?);
    if a.iter().zip(&b).any(|(x, y)| x.to_bits() != y.to_bits()) {
        bail!("a round-tripped ciphertext decrypts differently");
    }
    let words = |limbs: usize, polys: usize| (limbs * polys * params.n() * 8) as u64;

    let pk_bytes = pk.to_bytes(&params)?;
    PublicKey::from_bytes(&pk_bytes, &params)?;
    let pk_size = PublicKey::wire_size(&params);
    let sk_bytes = sk.to_secret_bytes(&params)?;

    let size = keys.wire_size(&params);
    let t = Instant::now();
    let written = keys.write_to(&params, std::io::sink())?;
    let encode_s = t.elapsed().as_secs_f64();
    assert_eq!(written, size.seeded);
    let galois = keys.evk.galois.len();
    let in_memory = keys.byte_size() as u64;

    println!(
        "{} ({}), ResNet-20 key request: {} Galois keys with bootstrapping's, relinearisation; \
         keys generated in {keygen_s:.1} s",
        preset.name,
        params.summary(),
        galois
    );
    println!();
    println!("| object | seeded (as written) | expanded (uniform halves whole) | in memory, 64-bit words |");
    println!("|---|---|---|---|");
    let limbs_in = params.limbs_at(input);
    println!(
        "| ciphertext, level {input} (ResNet-20 input, {limbs_in} limbs) | {} | — | {} |",
        mb(ct_bytes.len() as u64),
        mb(words(limbs_in, 2))
    );
    let limbs_out = params.limbs_at(output);
    println!(
        "| ciphertext, level {output} (ResNet-20 output) | {} | — | {} |",
        mb(wire::ciphertext_len(&params, output, 2) as u64),
        mb(words(limbs_out, 2))
    );
    let top = params.max_level();
    if top != input {
        println!(
            "| ciphertext, level {top} (top) | {} | — | {} |",
            mb(wire::ciphertext_len(&params, top, 2) as u64),
            mb(words(params.limbs_at(top), 2))
        );
    }
    println!(
        "| public key | {} | {} | {} |",
        mb(pk_bytes.len() as u64),
        mb(pk_size.expanded),
        mb(words(params.limbs_at(top), 1))
    );
    println!(
        "| secret key (explicit export only) | {} | — | {} |",
        mb(sk_bytes.len() as u64),
        mb(params.n() as u64 * 8)
    );
    println!(
        "| ResNet-20 evaluation-key bundle | {} | {} | {} seeded, {} expanded |",
        mb(size.seeded),
        mb(size.expanded),
        mb(in_memory),
        mb(2 * in_memory)
    );
    println!();
    println!(
        "bundle encoded in {encode_s:.1} s ({:.2} GB/s)",
        size.seeded as f64 / 1e9 / encode_s
    );
    if decode {
        let bytes = keys.to_bytes(&params)?;
        drop(keys);
        let t = Instant::now();
        let back = BootstrappingKeys::from_bytes(&bytes, &params, &preset.config, &req)?;
        let decode_s = t.elapsed().as_secs_f64();
        println!(
            "bundle decoded and validated in {decode_s:.1} s ({:.2} GB/s), {} Galois keys",
            bytes.len() as f64 / 1e9 / decode_s,
            back.evk.galois.len()
        );
    }
    Ok(())
}
