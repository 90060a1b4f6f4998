//! What the fuzz targets share: small insecure parameters (N = 2^10), keys to make valid
//! objects from, one decoder call per target, and valid samples for the seed corpus.

use fhe_dsl::backend::reference::ReferenceBackend;
use fhe_dsl::circuits::{BootstrapPreset, BootstrappingKeys};
use fhe_dsl::ckks::{
    Ckks, EvaluationKeys, KeyGenerator, KeyRequest, Params, ParamsLiteral, PublicKey, SecretKey,
};
use fhe_dsl::wire::Fingerprint;
use std::sync::OnceLock;

/// The parameter set every decoder is called with (insecure: a test set).
pub fn ckks() -> &'static Ckks<ReferenceBackend> {
    static C: OnceLock<Ckks<ReferenceBackend>> = OnceLock::new();
    C.get_or_init(|| {
        let lit = ParamsLiteral {
            log_n: 10,
            log_q: vec![55, 45, 45, 45],
            log_p: vec![56, 56],
            level_primes: None,
            dnum: 2,
            log_scale: 40,
            secret: Default::default(),
        };
        Ckks::new(
            Params::new_insecure_for_tests(lit).unwrap(),
            ReferenceBackend,
        )
    })
}

/// The key request evaluation-key bundles are decoded against.
pub fn request() -> KeyRequest {
    KeyRequest::new().relin().rotations([1, -3]).conjugate()
}

/// The bootstrapping preset (N = 2^10) bundles are decoded against, with the request
/// fingerprint of its keys (computed once: it derives bootstrapping's rotations).
pub fn boot() -> &'static (BootstrapPreset, Params, Fingerprint) {
    static B: OnceLock<(BootstrapPreset, Params, Fingerprint)> = OnceLock::new();
    B.get_or_init(|| {
        let preset = BootstrapPreset::test_tiny();
        let params = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
        let fp =
            BootstrappingKeys::expected_fingerprint(&params, &preset.config, &KeyRequest::new())
                .unwrap();
        (preset, params, fp)
    })
}

pub fn decode_params(data: &[u8]) {
    let _ = Params::from_bytes_insecure_for_tests(data);
    let _ = Params::from_bytes(data);
    let _ = fhe_dsl::wire::peek_header(data);
}

pub fn decode_public_key(data: &[u8]) {
    let _ = PublicKey::from_bytes(data, ckks().params());
}

pub fn decode_evaluation_keys(data: &[u8]) {
    let _ = EvaluationKeys::from_bytes(data, ckks().params(), &request());
}

pub fn decode_bootstrapping_keys(data: &[u8]) {
    let (_, params, fp) = boot();
    let _ = BootstrappingKeys::from_bytes_with_fingerprint(data, params, fp);
}

pub fn decode_ciphertext(data: &[u8]) {
    let _ = ckks().ciphertext_from_bytes(data);
}

pub fn decode_plaintext(data: &[u8]) {
    let _ = ckks().plaintext_from_bytes(data);
}

pub fn decode_secret_key(data: &[u8]) {
    let _ = SecretKey::from_secret_bytes(data, ckks().params());
}

/// One valid object per target (`(target, bytes)`), for the seed corpus; none for
/// `bootstrapping_keys` (a valid bundle at N = 2^10 is 14 MB: too large to mutate).
pub fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let c = ckks();
    let p = c.params();
    let mut kg = KeyGenerator::from_seed(c, 1);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let evk = kg.evaluation_keys(&sk, &request()).unwrap();
    let pt = c.encode_real(&[0.5, -0.25], 1, p.default_scale()).unwrap();
    let ct = c.encryptor(&pk).encrypt(&pt).unwrap();
    vec![
        ("params", p.to_bytes()),
        ("public_key", pk.to_bytes(p).unwrap()),
        ("evaluation_keys", evk.to_bytes(p).unwrap()),
        ("ciphertext", c.ciphertext_to_bytes(&ct).unwrap()),
        ("plaintext", c.plaintext_to_bytes(&pt).unwrap()),
        ("secret_key", sk.to_secret_bytes(p).unwrap().to_vec()),
    ]
}
