//! Shared helpers for the integration tests: float64 references and precision in bits.
#![allow(dead_code)]

use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::{
    Ciphertext, Ckks, Decryptor, EvaluationKeys, KeyGenerator, KeyRequest, Params, ParamsLiteral,
    PublicKey, SecretKey,
};
use fhe_dsl::typed::Bootstrap;
use num_complex::Complex64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// -log2 of the max and of the mean absolute error.
pub fn precision(got: &[Complex64], want: &[Complex64]) -> (f64, f64) {
    assert_eq!(got.len(), want.len());
    let errs: Vec<f64> = got.iter().zip(want).map(|(g, w)| (g - w).norm()).collect();
    let max = errs.iter().cloned().fold(0.0, f64::max);
    let mean = errs.iter().sum::<f64>() / errs.len() as f64;
    (-max.log2(), -mean.log2())
}

pub fn random_complex(n: usize, seed: u64) -> Vec<Complex64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
        .collect()
}

pub fn small_params() -> Params {
    Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap()
}

/// A deeper small set: N = 2^12, 10 levels of 40 bits (insecure, tests only).
pub fn deep_params() -> Params {
    let lit = ParamsLiteral {
        log_n: 12,
        log_q: std::iter::once(55)
            .chain(std::iter::repeat_n(40, 10))
            .collect(),
        log_p: vec![50, 50, 50],
        level_primes: None,
        dnum: 5,
        log_scale: 40,
        secret: Default::default(),
    };
    Params::new_insecure_for_tests(lit).unwrap()
}

pub struct Setup<B: Backend> {
    pub ckks: Ckks<B>,
    pub sk: SecretKey,
    pub pk: PublicKey,
    pub evk: EvaluationKeys,
}

impl<B: Backend> Setup<B> {
    pub fn new(params: Params, backend: B, req: &KeyRequest) -> Self {
        let ckks = Ckks::new(params, backend);
        let mut kg = KeyGenerator::from_seed(&ckks, 42);
        let sk = kg.secret_key();
        let pk = kg.public_key(&sk).unwrap();
        let evk = kg.evaluation_keys(&sk, req).unwrap();
        Setup { ckks, sk, pk, evk }
    }

    pub fn encrypt(&self, v: &[Complex64], level: usize) -> Ciphertext<B> {
        let pt = self
            .ckks
            .encode(v, level, self.ckks.params().default_scale())
            .unwrap();
        self.ckks.encryptor(&self.pk).encrypt(&pt).unwrap()
    }

    pub fn decryptor(&self) -> Decryptor<B> {
        self.ckks.decryptor(&self.sk)
    }

    pub fn decrypt(&self, ct: &Ciphertext<B>) -> Vec<Complex64> {
        self.decryptor().decrypt_complex(ct).unwrap()
    }
}

/// INSECURE TEST DOUBLE: "bootstraps" by decrypting and re-encrypting at level `OUT`
/// (it holds the secret key). For tests of level and scale logic where the real
/// bootstrapper would be too slow (the reference backend) or is not the subject.
pub struct DecryptReencryptTestDouble<B: Backend> {
    pub ckks: Ckks<B>,
    /// The decryptor under the secret key (the key itself is not `Clone`).
    pub dec: Decryptor<B>,
    pub pk: PublicKey,
}

impl<B: Backend, const OUT: usize> Bootstrap<B, OUT> for DecryptReencryptTestDouble<B> {
    fn bootstrap(&self, ct: &Ciphertext<B>) -> fhe_dsl::Result<Ciphertext<B>> {
        let v = self.dec.decrypt_complex(ct)?;
        let pt = self.ckks.encode(&v, OUT, ct.scale())?;
        self.ckks.encryptor(&self.pk).encrypt(&pt)
    }
}
