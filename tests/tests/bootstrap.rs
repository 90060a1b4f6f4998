//! CKKS bootstrapping on the CPU backend: precision against float64 at the small
//! (insecure, fast) preset, a chain of ten bootstraps, the range check, and the
//! production N = 2^16 preset (release mode, `--ignored`).

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::circuits::bootstrap::BootstrapPreset;
use fhe_dsl::circuits::{precision_bits, Bootstrapper, BootstrappingKeys};
use fhe_dsl::ckks::{Ciphertext, Ckks, KeyGenerator, KeyRequest, Params, PublicKey, SecretKey};
use fhe_dsl::Error;
use num_complex::Complex64;
use rand::{Rng, SeedableRng};

struct Fixture {
    ckks: Ckks<CpuBackend>,
    sk: SecretKey,
    pk: PublicKey,
    bs: Bootstrapper<CpuBackend>,
}

fn fixture(preset: BootstrapPreset, secure: bool, log_slots: Option<u32>) -> Fixture {
    let params = if secure {
        Params::new(preset.params.clone()).unwrap()
    } else {
        Params::new_insecure_for_tests(preset.params.clone()).unwrap()
    };
    let mut cfg = preset.config.clone();
    if let Some(l) = log_slots {
        cfg.log_slots = l;
    }
    let ckks = Ckks::new(params, CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 2024);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &cfg, &KeyRequest::new()).unwrap();
    let bs = Bootstrapper::new(&ckks, cfg, &keys).unwrap();
    Fixture { ckks, sk, pk, bs }
}

fn uniform(n: usize, seed: u64) -> Vec<Complex64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| Complex64::new(rng.gen_range(-1.0..=1.0), rng.gen_range(-1.0..=1.0)))
        .collect()
}

impl Fixture {
    fn encrypt(&self, v: &[Complex64], level: usize) -> Ciphertext<CpuBackend> {
        let pt = self
            .ckks
            .encode(v, level, self.ckks.params().default_scale())
            .unwrap();
        self.ckks.encryptor(&self.pk).encrypt(&pt).unwrap()
    }
    fn decrypt(&self, ct: &Ciphertext<CpuBackend>) -> Vec<Complex64> {
        self.ckks.decryptor(&self.sk).decrypt_complex(ct).unwrap()
    }
}

#[test]
fn small_preset_full_and_sparse_slots() {
    for log_slots in [None, Some(5)] {
        let f = fixture(BootstrapPreset::test_small(), false, log_slots);
        let n = f.bs.config().slots();
        let v = uniform(n, 1);
        let ct = f.encrypt(&v, 0);
        let out = f.bs.bootstrap(&ct).unwrap();
        assert_eq!(out.level(), f.bs.output_level());
        assert_eq!(out.level(), 3);
        assert_eq!(out.scale(), f.ckks.params().default_scale());
        let (min, mean) = precision_bits(&f.decrypt(&out), &v);
        eprintln!("boot-small, {n} slots: min {min:.1} bits, mean {mean:.1} bits");
        assert!(
            mean >= 24.0 && min >= 20.0,
            "{n} slots: min {min:.1} mean {mean:.1}"
        );
    }
}

fn unit_phases(n: usize, seed: u64) -> Vec<Complex64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| Complex64::from_polar(1.0, rng.gen_range(0.0..std::f64::consts::TAU)))
        .collect()
}

/// bootstrap → use every remaining level (one ciphertext product, then plaintext
/// products, all by unit-magnitude values so the message stays in range) → bootstrap
/// again, ten times; precision stays above the bar after every bootstrap.
#[test]
fn chain_of_ten_bootstraps() {
    let f = fixture(BootstrapPreset::test_small(), false, None);
    let eval = f.bs.evaluator();
    let params = f.ckks.params().clone();
    let n = f.bs.config().slots();
    let mut want = uniform(n, 2);
    let mut ct = f.encrypt(&want, 0);
    for round in 0..10u64 {
        ct = f.bs.bootstrap(&ct).unwrap();
        let (min, mean) = precision_bits(&f.decrypt(&ct), &want);
        eprintln!(
            "round {round}: after bootstrap min {min:.1} mean {mean:.1} bits, level {}",
            ct.level()
        );
        assert!(
            mean >= 24.0 && min >= 20.0,
            "round {round}: min {min:.1} mean {mean:.1}"
        );
        // a ciphertext product with a fresh encryption of unit phases
        let w = unit_phases(n, 100 + round);
        let y = f.encrypt(&w, ct.level());
        ct = eval
            .rescale_new(&eval.mul_relin_new(&ct, &y).unwrap())
            .unwrap();
        want = want.iter().zip(&w).map(|(a, b)| a * b).collect();
        // plaintext products down to level 0
        while ct.level() > 0 {
            let u = unit_phases(n, 1000 * round + ct.level() as u64);
            let pt = f
                .ckks
                .encode(&u, ct.level(), params.rescale_divisor(ct.level()))
                .unwrap();
            ct = eval
                .rescale_new(&eval.mul_plain_new(&ct, &pt).unwrap())
                .unwrap();
            want = want.iter().zip(&u).map(|(a, b)| a * b).collect();
        }
        let (min, _) = precision_bits(&f.decrypt(&ct), &want);
        assert!(min >= 18.0, "round {round}: before bootstrap {min:.1} bits");
    }
}

#[test]
fn range_check_names_the_range() {
    let preset = BootstrapPreset::test_small();
    let params = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    let ckks = Ckks::new(params, CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 5);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &KeyRequest::new())
        .unwrap();
    let bs = Bootstrapper::new(&ckks, preset.config.clone(), &keys)
        .unwrap()
        .with_range_check(&sk)
        .unwrap();
    let n = preset.config.slots();
    // in range: fine
    let ok = ckks
        .encryptor(&pk)
        .encrypt(
            &ckks
                .encode(&uniform(n, 3), 0, ckks.params().default_scale())
                .unwrap(),
        )
        .unwrap();
    bs.bootstrap(&ok).unwrap();
    // a message 300× too large: the range check refuses instead of returning garbage
    let big: Vec<Complex64> = uniform(n, 4).iter().map(|z| z * 3000.0).collect();
    let bad = ckks
        .encryptor(&pk)
        .encrypt(&ckks.encode(&big, 0, ckks.params().default_scale()).unwrap())
        .unwrap();
    match bs.bootstrap(&bad) {
        Err(Error::InvalidInput(m)) => {
            assert!(m.contains("range"), "{m}");
            eprintln!("{m}");
        }
        other => panic!("expected a range error, got {:?}", other.map(|c| c.level())),
    }
}

#[test]
#[ignore = "N = 2^16 production preset: minutes and ~10 GB; run with `cargo test --release -p fhe-tests --test bootstrap -- --ignored`"]
fn n16_preset_precision() {
    let f = fixture(BootstrapPreset::n16(), true, None);
    assert!(f.ckks.params().is_secure());
    let n = f.bs.config().slots();
    assert_eq!(n, 1 << 15);
    let v = uniform(n, 7);
    let ct = f.encrypt(&v, 0);
    let (out, t) = f.bs.bootstrap_timed(&ct).unwrap();
    let (min, mean) = precision_bits(&f.decrypt(&out), &v);
    eprintln!(
        "boot-n16: {:.0} ms (CtS {:.0}, EvalMod {:.0}, StC {:.0}), min {min:.1} mean {mean:.1} bits, level {}",
        t.total, t.coeff_to_slot, t.eval_mod, t.slot_to_coeff, out.level()
    );
    assert!(out.level() >= 9);
    assert!(mean >= 24.0 && min >= 20.0, "min {min:.1} mean {mean:.1}");
}

/// Two real vectors through one complex bootstrap, full and sparse slots: each comes back
/// at the usual precision, and neither leaks into the other.
#[test]
fn two_real_vectors_in_one_bootstrap() {
    for log_slots in [None, Some(5)] {
        let f = fixture(BootstrapPreset::test_small(), false, log_slots);
        let n = f.bs.config().slots();
        let re = |seed| -> Vec<Complex64> {
            uniform(n, seed)
                .into_iter()
                .map(|z| Complex64::new(z.re, 0.0))
                .collect()
        };
        let (va, vb) = (re(7), re(8));
        let (a, b) = (f.encrypt(&va, 0), f.encrypt(&vb, 1));
        let (oa, ob) = f.bs.bootstrap_two_real(&a, &b).unwrap();
        assert_eq!(oa.level(), f.bs.output_level());
        assert_eq!(ob.level(), f.bs.output_level());
        for (out, want) in [(&oa, &va), (&ob, &vb)] {
            let (min, mean) = precision_bits(&f.decrypt(out), want);
            eprintln!("two-real, {n} slots: min {min:.1} bits, mean {mean:.1} bits");
            assert!(mean >= 24.0 && min >= 20.0, "min {min:.1} mean {mean:.1}");
        }
    }
    // mismatched inputs are refused
    let f = fixture(BootstrapPreset::test_small(), false, None);
    let n = f.bs.config().slots();
    let a = f.encrypt(&uniform(n, 1), 0);
    let pt = f.ckks.encode(&uniform(n, 2), 0, 2.0f64.powi(30)).unwrap();
    let b = f.ckks.encryptor(&f.pk).encrypt(&pt).unwrap();
    assert!(matches!(
        f.bs.bootstrap_two_real(&a, &b),
        Err(Error::ScaleMismatch { .. })
    ));
}

/// Bootstrapping with its CoeffToSlot/SlotToCoeff diagonals encoded per bootstrap gives
/// the same ciphertext as with them precomputed.
#[test]
fn streamed_transforms_match_precomputed() {
    use fhe_dsl::circuits::TransformStorage;
    let preset = BootstrapPreset::test_small();
    let params = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    let ckks = Ckks::new(params, CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 2024);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let cfg = preset.config.clone();
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &cfg, &KeyRequest::new()).unwrap();
    let stored = Bootstrapper::new(&ckks, cfg.clone(), &keys).unwrap();
    let streamed = Bootstrapper::from_keys(&ckks, cfg, keys, TransformStorage::Streamed).unwrap();
    let v = uniform(stored.config().slots(), 3);
    let pt = ckks.encode(&v, 0, ckks.params().default_scale()).unwrap();
    let ct = ckks.encryptor(&pk).encrypt(&pt).unwrap();
    let (x, y) = (
        stored.bootstrap(&ct).unwrap(),
        streamed.bootstrap(&ct).unwrap(),
    );
    let dec = ckks.decryptor(&sk);
    let (dx, dy) = (
        dec.decrypt_complex(&x).unwrap(),
        dec.decrypt_complex(&y).unwrap(),
    );
    // same plaintexts, same accumulation order: the same ciphertext
    assert!(
        x.parts() == y.parts(),
        "streamed and precomputed bootstraps differ"
    );
    let (min_y, _) = precision_bits(&dy, &v);
    assert_eq!(dx, dy);
    assert!(min_y >= 20.0, "{min_y:.1}");
}
