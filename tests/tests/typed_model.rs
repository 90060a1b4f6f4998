//! A small model written in the DSL (`fhe_macros::model!` over `fhe_dsl::typed`) runs
//! encrypted and matches its float64 reference, on every backend, from one generic
//! source: two dense–activation blocks, a residual add, a bootstrap, a slot sum.
//!
//! Bootstrapping goes through `typed::Bootstrap`; these tests use
//! `DecryptReencryptTestDouble` (in `common.rs`) — a TEST DOUBLE that holds the secret
//! key, nowhere in library code; `dsl_conv_model.rs` runs the real bootstrapper.

mod common;
use common::DecryptReencryptTestDouble;
use fhe_backend_cpu::CpuBackend;
use fhe_dsl::backend::{reference::ReferenceBackend, Backend};
use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral, PublicKey, SecretKey};
use fhe_dsl::typed::{Ct, Dense, Diagonal, DynCt, EncVector, Poly};

/// Max |encrypted − plaintext| the tests accept: Δ = 2^45 leaves ~2^-30 of noise per
/// operation; two blocks of dense + degree-2 activation, a sum of 8 slots and a head stay
/// far below 2^-20 ≈ 1e-6 in practice; 1e-4 leaves room for backend differences.
const TOLERANCE: f64 = 1e-4;

fhe_macros::model! {
    /// Two dense–activation blocks with a residual add and an explicit bootstrap.
    pub struct TinyResNet {
        slots: 8,
        input_level: 5,
        bootstrap_level: 5,
    }
    layers {
        fc1: Dense,
        act1: Poly(degree = 2),
        fc2: Dense,
        act2: Poly(degree = 2),
        head: Diagonal,
    }
    fn forward(x) {
        let c1 = fc1(x);
        let a1 = act1(c1);
        let b1 = bootstrap(a1);
        let c2 = fc2(b1);
        let a2 = act2(c2);
        let r = add(a2, b1);
        let s = sum(r);
        let y = head(s);
        y
    }
}

fhe_macros::model! {
    /// The same kind of network, deeper than the budget: the macro places bootstraps.
    pub struct AutoNet {
        slots: 8,
        input_level: 3,
        bootstrap_level: 5,
        auto_bootstrap,
    }
    layers {
        fc: Dense,
        act: Poly(degree = 3),
        bn: Diagonal,
    }
    fn forward(x) {
        let h1 = fc(x);
        let a1 = act(h1);
        let h2 = fc(a1);
        let a2 = act(h2);
        let r = add(a2, h2);
        let y = bn(r);
        let z = rotate(y, -1);
        z
    }
}

fn params() -> Params {
    Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap()
}

fn matrix(n: usize, seed: f64) -> Vec<f64> {
    (0..n * n)
        .map(|i| (i as f64 * 0.37 + seed).sin() / n as f64)
        .collect()
}

fn max_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max)
}

struct Client<B: Backend> {
    ckks: Ckks<B>,
    sk: SecretKey,
    pk: PublicKey,
}

fn client<B: Backend>(backend: B) -> Client<B> {
    let ckks = Ckks::new(params(), backend);
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    Client { ckks, sk, pk }
}

/// One generic source for every backend.
fn tiny_resnet<B: Backend>(backend: B) -> f64 {
    let c = client(backend);
    let bt = DecryptReencryptTestDouble {
        ckks: c.ckks.clone(),
        dec: c.ckks.decryptor(&c.sk),
        pk: c.pk.clone(),
    };
    let model = TinyResNet {
        fc1: Dense::new(matrix(8, 0.1), vec![0.05; 8]).unwrap(),
        act1: Poly::new(vec![0.1, 0.5, 0.25]).unwrap(),
        fc2: Dense::new(matrix(8, 0.7), vec![-0.02; 8]).unwrap(),
        act2: Poly::new(vec![0.0, 0.8, 0.3]).unwrap(),
        head: Diagonal::new(vec![0.5; 8], vec![0.1; 8]).unwrap(),
    };
    let keys = c
        .ckks
        .key_generator()
        .evaluation_keys(&c.sk, &model.key_request())
        .unwrap();
    let ev = c.ckks.evaluator(&keys).unwrap();
    let input = [0.3, -0.1, 0.8, 0.5, -0.6, 0.2, 0.0, -0.4];
    let x = EncVector::encrypt(&c.ckks, &c.ckks.encryptor(&c.pk), &input).unwrap();
    let y: EncVector<B, 8, 1> = model.forward(&ev, &bt, x).unwrap();
    let got = y.decrypt(&c.ckks.decryptor(&c.sk)).unwrap();
    max_err(&got, &model.forward_plain(&input))
}

#[test]
fn tiny_resnet_matches_plaintext_on_reference_backend() {
    let err = tiny_resnet(ReferenceBackend);
    assert!(err < TOLERANCE, "max error {err:e}");
}

#[test]
fn tiny_resnet_matches_plaintext_on_cpu_backend() {
    let err = tiny_resnet(CpuBackend::new());
    assert!(err < TOLERANCE, "max error {err:e}");
}

#[test]
fn model_constants_describe_the_program() {
    assert_eq!(TinyResNet::OUTPUT_LEVEL, 1);
    assert_eq!(TinyResNet::BOOTSTRAPS, 1);
    assert_eq!(TinyResNet::ROTATIONS, &[1, 2, 3, 4, 5, 6, 7]);
    const { assert!(TinyResNet::NEEDS_RELIN) };
    assert_eq!(
        TinyResNet::LEVELS,
        &[
            ("x", 5),
            ("c1", 4),
            ("a1", 2),
            ("b1", 5),
            ("c2", 4),
            ("a2", 2),
            ("r", 2),
            ("s", 2),
            ("y", 1)
        ]
    );
    // input 3 → h1 2 → a1 needs 3: bootstrap h1 (→5), a1 2, h2 1; a2 needs 3:
    // bootstrap h2 (→5), a2 2, r 2, y 1: two bootstraps, the minimum
    assert_eq!(AutoNet::AUTO_BOOTSTRAPPED, &["h1", "h2"]);
    assert_eq!(AutoNet::BOOTSTRAPS, 2);
    assert_eq!(AutoNet::OUTPUT_LEVEL, 1);
    assert_eq!(AutoNet::ROTATIONS, &[-1, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn auto_bootstrapped_model_matches_plaintext() {
    let c = client(CpuBackend::new());
    let bt = DecryptReencryptTestDouble {
        ckks: c.ckks.clone(),
        dec: c.ckks.decryptor(&c.sk),
        pk: c.pk.clone(),
    };
    let model = AutoNet {
        fc: Dense::new(matrix(8, 0.3), vec![0.01; 8]).unwrap(),
        act: Poly::new(vec![0.05, 0.6, 0.1, -0.2]).unwrap(),
        bn: Diagonal::new(
            (0..8).map(|i| 0.5 + i as f64 * 0.05).collect(),
            vec![0.0; 8],
        )
        .unwrap(),
    };
    let keys = c
        .ckks
        .key_generator()
        .evaluation_keys(&c.sk, &model.key_request())
        .unwrap();
    let ev = c.ckks.evaluator(&keys).unwrap();
    let input = [0.5, -0.3, 0.2, 0.9, -0.7, 0.1, 0.4, -0.2];
    let x: EncVector<CpuBackend, 8, 3> =
        EncVector::encrypt(&c.ckks, &c.ckks.encryptor(&c.pk), &input).unwrap();
    let y: EncVector<CpuBackend, 8, 1> = model.forward(&ev, &bt, x).unwrap();
    let got = y.decrypt(&c.ckks.decryptor(&c.sk)).unwrap();
    let err = max_err(&got, &model.forward_plain(&input));
    assert!(err < TOLERANCE, "max error {err:e}");
}

#[test]
fn dyn_ct_reports_runtime_level_errors_and_reenters_types() {
    let c = client(ReferenceBackend);
    let keys = c
        .ckks
        .key_generator()
        .evaluation_keys(&c.sk, &fhe_dsl::ckks::KeyRequest::new().relin())
        .unwrap();
    let ev = c.ckks.evaluator(&keys).unwrap();
    let enc = c.ckks.encryptor(&c.pk);
    // data-dependent depth: square until below a threshold the server cannot see
    let mut x: DynCt<ReferenceBackend> = Ct::<ReferenceBackend, 5>::encrypt(&c.ckks, &enc, &[0.9])
        .unwrap()
        .into_dyn();
    let mut rounds = 0;
    while x.level() > 2 {
        x = x.mul(&x, &ev).unwrap().rescale(&ev).unwrap();
        rounds += 1;
    }
    assert_eq!(rounds, 3);
    assert_eq!(
        x.clone().into_typed::<3>().unwrap_err().to_string(),
        "level mismatch: into_typed needs equal levels, got 3 and 2"
    );
    let back: Ct<ReferenceBackend, 2> = x.clone().into_typed().unwrap();
    let v = back.decrypt(&c.ckks.decryptor(&c.sk)).unwrap();
    assert!((v[0] - 0.9f64.powi(8)).abs() < 1e-6);
    let owed = x.mul(&x, &ev).unwrap();
    assert!(owed
        .add(&x, &ev)
        .unwrap_err()
        .to_string()
        .contains("scale states differ"));
    assert!(owed
        .mul(&owed, &ev)
        .unwrap_err()
        .to_string()
        .contains("owes no rescale"));
    let low = x.mod_down(0, &ev).unwrap();
    assert_eq!(
        low.mul(&low, &ev).unwrap_err().to_string(),
        "mul needs level ≥ 1, ciphertext is at level 0"
    );
    assert!(low.poly(&[0.0, 1.0], &ev).is_err());
}

#[test]
fn typed_wrapping_checks_the_runtime_level() {
    let c = client(ReferenceBackend);
    let enc = c.ckks.encryptor(&c.pk);
    let pt = c
        .ckks
        .encode_real(&[1.0], 3, c.ckks.params().default_scale())
        .unwrap();
    let raw = enc.encrypt(&pt).unwrap();
    assert!(Ct::<ReferenceBackend, 3>::try_from_ciphertext(raw.clone()).is_ok());
    assert!(Ct::<ReferenceBackend, 2>::try_from_ciphertext(raw).is_err());
    // a level the parameters do not have is an error, not a panic
    assert!(Ct::<ReferenceBackend, 40>::encrypt(&c.ckks, &enc, &[1.0]).is_err());
}
