//! The typed DSL calling the real bootstrapper: `Ct<B, 0>` → `Ct<B, OUT>` through
//! `LeveledBootstrapper`, whose type-level output level is checked against the runtime one.

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::circuits::bootstrap::BootstrapPreset;
use fhe_dsl::circuits::{Bootstrapper, BootstrappingKeys};
use fhe_dsl::ckks::{Ckks, KeyGenerator, KeyRequest, Params};
use fhe_dsl::typed::{Ct, Fresh, LeveledBootstrapper};

/// boot-tiny (N = 2^10, insecure test preset) leaves this many levels.
const OUT: usize = 2;

#[test]
fn typed_ciphertext_bootstraps_with_the_real_bootstrapper() {
    let preset = BootstrapPreset::by_name("boot-tiny").unwrap();
    let params = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    let ckks = Ckks::new(params.clone(), CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 7);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &KeyRequest::new())
        .unwrap();
    let bs = Bootstrapper::new(&ckks, preset.config.clone(), &keys).unwrap();
    assert_eq!(bs.output_level(), OUT, "update OUT if the preset changes");

    // a view at the wrong level is refused with both levels named
    let wrong = LeveledBootstrapper::<CpuBackend, 3>::new(&bs)
        .err()
        .expect("level 3 refused");
    assert!(
        wrong.to_string().contains('2') && wrong.to_string().contains('3'),
        "{wrong}"
    );

    let bt = LeveledBootstrapper::<CpuBackend, OUT>::new(&bs).unwrap();
    let x: Vec<f64> = (0..preset.config.slots())
        .map(|i| ((i * 13 % 29) as f64 / 14.5) - 1.0)
        .collect();
    let pt = ckks.encode_real(&x, 0, params.default_scale()).unwrap();
    let ct0 = ckks.encryptor(&pk).encrypt(&pt).unwrap();
    let typed: Ct<CpuBackend, 0, Fresh> = Ct::try_from_ciphertext(ct0).unwrap();
    let fresh: Ct<CpuBackend, OUT, Fresh> = typed.bootstrap(&bt).unwrap();
    let got = fresh.decrypt(&ckks.decryptor(&sk)).unwrap();
    let err = got
        .iter()
        .zip(&x)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    assert!(
        err < 1e-5,
        "bootstrapped through the typed API with error {err:e}"
    );
}
