//! Rotation keys restricted to low levels (`KeyRequest::rotations_up_to`): correct at and
//! below their level (plain, hoisted, inside linear transforms), a clear error above it,
//! smaller by the expected limb ratio, and bootstrapping with SlotToCoeff keys generated
//! only up to SlotToCoeff's level.

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::backend::Backend;
use fhe_dsl::circuits::bootstrap::BootstrapPreset;
use fhe_dsl::circuits::{precision_bits, Bootstrapper, BootstrappingKeys, LinearTransform};
use fhe_dsl::ckks::{
    galois_element, Ciphertext, Ckks, Evaluator, KeyGenerator, KeyRequest, Params, ParamsLiteral,
    PublicKey, SecretKey, SwitchingKey,
};
use fhe_dsl::Error;
use num_complex::Complex64;
use rand::{Rng, SeedableRng};

/// N = 2^12, 8 Q primes (levels 0..=7), 3 P primes, alpha = 2: a key at level 3 has
/// 2 digits over 7 limbs, the full key 4 digits over 11.
fn params() -> Params {
    Params::new_insecure_for_tests(ParamsLiteral {
        log_n: 12,
        log_q: std::iter::once(60)
            .chain(std::iter::repeat_n(50, 7))
            .collect(),
        log_p: vec![60, 60, 60],
        level_primes: None,
        dnum: 4,
        log_scale: 50,
        secret: Default::default(),
    })
    .unwrap()
}

const KEY_LEVEL: usize = 3;
const STEPS: [i64; 3] = [1, 5, -3];

struct Fixture {
    ckks: Ckks<CpuBackend>,
    sk: SecretKey,
    pk: PublicKey,
    eval: Evaluator<CpuBackend>,
    full_eval: Evaluator<CpuBackend>,
}

fn fixture() -> Fixture {
    let ckks = Ckks::new(params(), CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 11);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let low = kg
        .evaluation_keys(&sk, &KeyRequest::new().rotations_up_to(STEPS, KEY_LEVEL))
        .unwrap();
    let full = kg
        .evaluation_keys(&sk, &KeyRequest::new().rotations(STEPS))
        .unwrap();
    let eval = ckks.evaluator(&low).unwrap();
    let full_eval = ckks.evaluator(&full).unwrap();
    Fixture {
        ckks,
        sk,
        pk,
        eval,
        full_eval,
    }
}

fn random(n: usize, seed: u64) -> Vec<Complex64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
        .collect()
}

fn rotated(x: &[Complex64], k: i64) -> Vec<Complex64> {
    let n = x.len() as i64;
    (0..n).map(|j| x[(j + k).rem_euclid(n) as usize]).collect()
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
    fn same(&self, a: &Ciphertext<CpuBackend>, b: &Ciphertext<CpuBackend>) -> bool {
        let ctx = self.ckks.params().ring();
        let be = self.ckks.backend();
        a.parts().iter().zip(b.parts()).all(|(x, y)| {
            be.download(ctx, x).expect("download") == be.download(ctx, y).expect("download")
        })
    }
}

#[test]
fn restricted_rotation_at_and_below_its_level() {
    let f = fixture();
    let n = f.ckks.params().max_slots();
    let x = random(n, 1);
    assert_eq!(f.eval.rotation_key_level(5), Some(KEY_LEVEL));
    assert_eq!(
        f.full_eval.rotation_key_level(5),
        Some(f.ckks.params().max_level())
    );
    // level 2 has 3 Q limbs: its second digit is a strict part of the key's (primes 2, 3)
    for level in (0..=KEY_LEVEL).rev() {
        let ct = f.encrypt(&x, level);
        for k in STEPS {
            let r = f.eval.rotate_new(&ct, k).unwrap();
            assert_eq!(r.level(), level);
            let (min, mean) = precision_bits(&f.decrypt(&r), &rotated(&x, k));
            eprintln!("level {level}, step {k}: min {min:.1} mean {mean:.1} bits");
            assert!(min >= 30.0, "level {level}, step {k}: {min:.1} bits");
        }
    }
}

#[test]
fn restricted_hoisted_rotations_match_single_ones() {
    let f = fixture();
    let n = f.ckks.params().max_slots();
    let x = random(n, 2);
    for level in [KEY_LEVEL, 1] {
        let ct = f.encrypt(&x, level);
        let steps = [STEPS[0], 0, STEPS[1], STEPS[2]];
        let hoisted = f.eval.rotate_hoisted_new(&ct, &steps).unwrap();
        for (&k, h) in steps.iter().zip(&hoisted) {
            if k != 0 {
                assert!(
                    f.same(h, &f.eval.rotate_new(&ct, k).unwrap()),
                    "level {level}, step {k}"
                );
            }
            let (min, _) = precision_bits(&f.decrypt(h), &rotated(&x, k));
            assert!(
                min >= 30.0,
                "hoisted, level {level}, step {k}: {min:.1} bits"
            );
        }
    }
}

#[test]
fn restricted_keys_in_a_linear_transform() {
    let f = fixture();
    let n = f.ckks.params().max_slots();
    let x = random(n, 3);
    let lt = LinearTransform::new(n, STEPS.map(|d| (d, random(n, (10 + d) as u64)))).unwrap();
    assert!(lt.rotations().iter().all(|&k| f.eval.has_rotation_key(k)));
    let want = lt.apply_plain(&x);
    let ct = f.encrypt(&x, KEY_LEVEL);
    let out = lt
        .encode(&f.ckks, KEY_LEVEL)
        .unwrap()
        .apply(&f.eval, &ct)
        .unwrap();
    let (min, _) = precision_bits(&f.decrypt(&out), &want);
    assert!(min >= 30.0, "transform at the key's level: {min:.1} bits");
    // encoded above the keys' level: the double-hoisted rotations refuse
    let high = KEY_LEVEL + 2;
    let ct = f.encrypt(&x, high);
    match lt.encode(&f.ckks, high).unwrap().apply(&f.eval, &ct) {
        Err(Error::KeyLevelTooLow {
            key_level, level, ..
        }) => assert_eq!((key_level, level), (KEY_LEVEL, high)),
        other => panic!(
            "expected KeyLevelTooLow, got {:?}",
            other.map(|c| c.level())
        ),
    }
}

#[test]
fn ciphertext_above_the_key_level_is_refused() {
    let f = fixture();
    let n = f.ckks.params().max_slots();
    let ct = f.encrypt(&random(n, 4), KEY_LEVEL + 2);
    let e = f.eval.rotate_new(&ct, 5).unwrap_err();
    match &e {
        Error::KeyLevelTooLow {
            what,
            key_level,
            level,
        } => {
            assert!(what.contains("step 5"), "{what}");
            assert_eq!((*key_level, *level), (KEY_LEVEL, KEY_LEVEL + 2));
        }
        other => panic!("expected KeyLevelTooLow, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("step 5") && msg.contains("≤ 3") && msg.contains("level 5"),
        "{msg}"
    );
    eprintln!("{msg}");
    assert!(matches!(
        f.eval.rotate_hoisted_new(&ct, &[1, -3]),
        Err(Error::KeyLevelTooLow { .. })
    ));
    // a missing key is still reported as missing
    assert!(matches!(
        f.eval.rotate_new(&ct, 2),
        Err(Error::MissingKey(_))
    ));
    // the full-level keys serve it
    f.full_eval.rotate_new(&ct, 5).unwrap();
}

#[test]
fn restricted_keys_are_smaller_by_the_limb_ratio() {
    let p = params();
    let ckks = Ckks::new(p.clone(), CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 12);
    let sk = kg.secret_key();
    // the same step at several levels: one key at the highest requested
    let req = KeyRequest::new()
        .rotations_up_to([1], 1)
        .rotations_up_to([1, 2], KEY_LEVEL)
        .rotations_up_to([2], 0)
        .rotations([7]);
    let evk = kg.evaluation_keys(&sk, &req).unwrap();
    let g = |k| galois_element(k, p.log_n());
    assert_eq!(evk.galois.len(), 3);
    assert_eq!(evk.galois[&g(1)].level(&p), KEY_LEVEL);
    assert_eq!(evk.galois[&g(2)].level(&p), KEY_LEVEL);
    assert_eq!(evk.galois[&g(7)].level(&p), p.max_level());
    // a level-restricted and a full request for the same step: full
    let both = KeyRequest::new().rotations_up_to([1], 0).rotations([1]);
    assert_eq!(both.galois_levels(&p)[&g(1)], p.max_level());

    let low = &evk.galois[&g(1)];
    let full = &evk.galois[&g(7)];
    assert_eq!(low.byte_size(), SwitchingKey::byte_size_at(&p, KEY_LEVEL));
    assert_eq!(
        full.byte_size(),
        SwitchingKey::byte_size_at(&p, p.max_level())
    );
    // digits × (Q_l + P limbs): 2 × (4 + 3) against 4 × (8 + 3)
    let words = |k: &SwitchingKey| (k.byte_size() - 32) / 8 / p.n();
    assert_eq!(words(low), 2 * 7);
    assert_eq!(words(full), 4 * 11);
    assert_eq!(evk.byte_size(), 2 * low.byte_size() + full.byte_size());
    // on the device, both uniform halves are expanded
    let eval = ckks.evaluator(&evk).unwrap();
    assert_eq!(eval.key_bytes(), 2 * (evk.byte_size() - 3 * 32));
    eprintln!(
        "key at level {KEY_LEVEL}: {} bytes, full: {} bytes (ratio {:.3})",
        low.byte_size(),
        full.byte_size(),
        low.byte_size() as f64 / full.byte_size() as f64
    );
}

/// Boot-tiny (N = 2^10) on the CPU backend: SlotToCoeff keys below the top level, and
/// bootstrapping still meets the precision bar of the bootstrap tests.
#[test]
fn bootstrap_with_restricted_slot_to_coeff_keys() {
    let preset = BootstrapPreset::test_tiny();
    let p = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    let cfg = preset.config.clone();
    let ckks = Ckks::new(p.clone(), CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 2024);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &cfg, &KeyRequest::new()).unwrap();
    let levels = cfg.rotation_levels(&p).unwrap();
    let top = p.max_level();
    let stc_top = top - cfg.cts_levels - cfg.eval_mod_depth().unwrap();
    assert!(levels.iter().any(|&(_, l)| l <= stc_top), "{levels:?}");
    for &(k, l) in &levels {
        let key = &keys.evk.galois[&galois_element(k, p.log_n())];
        assert_eq!(key.level(&p), l, "step {k}");
    }
    let full_rot: usize = levels.len() * SwitchingKey::byte_size_at(&p, top);
    let restricted_rot: usize = levels
        .iter()
        .map(|&(_, l)| SwitchingKey::byte_size_at(&p, l))
        .sum();
    eprintln!(
        "boot-tiny: rotation keys {full_rot} → {restricted_rot} bytes; all keys {} bytes",
        keys.byte_size()
    );
    assert!(restricted_rot < full_rot);
    let bs = Bootstrapper::new(&ckks, cfg.clone(), &keys).unwrap();
    let n = cfg.slots();
    let v = random(n, 5);
    let pt = ckks.encode(&v, 0, p.default_scale()).unwrap();
    let ct = ckks.encryptor(&pk).encrypt(&pt).unwrap();
    let out = bs.bootstrap(&ct).unwrap();
    assert_eq!(out.level(), bs.output_level());
    let (min, mean) = precision_bits(&ckks.decryptor(&sk).decrypt_complex(&out).unwrap(), &v);
    eprintln!("boot-tiny with restricted StC keys: min {min:.1} mean {mean:.1} bits");
    assert!(mean >= 24.0 && min >= 20.0, "min {min:.1} mean {mean:.1}");
}

/// Key sizes at the boot-n16 preset, computed from the parameters (no N = 2^16 keys are
/// generated): bootstrapping keys with full-level against level-restricted rotation
/// keys, and one rotation key at level 9 against a full one.
#[test]
fn boot_n16_key_bytes_from_parameters() {
    let preset = BootstrapPreset::n16();
    let p = Params::new(preset.params.clone()).unwrap();
    let cfg = &preset.config;
    let top = p.max_level();
    let levels = cfg.rotation_levels(&p).unwrap();
    let full_key = SwitchingKey::byte_size_at(&p, top);
    // relinearisation, conjugation and sparse → dense keys are full-level either way;
    // the dense → sparse key is two limbs
    let fixed = 3 * full_key + 32 + 2 * p.n() * 8;
    let before = fixed + levels.len() * full_key;
    let after = fixed
        + levels
            .iter()
            .map(|&(_, l)| SwitchingKey::byte_size_at(&p, l))
            .sum::<usize>();
    let mb = |b: usize| b as f64 / 1e6;
    let mut by_level = std::collections::BTreeMap::new();
    for &(_, l) in &levels {
        *by_level.entry(l).or_insert(0usize) += 1;
    }
    eprintln!(
        "boot-n16: {} rotation keys, count by level {by_level:?}; bootstrapping keys \
         (seeded) {:.1} MB → {:.1} MB, expanded ≈ {:.1} MB → {:.1} MB",
        levels.len(),
        mb(before),
        mb(after),
        mb(2 * before),
        mb(2 * after)
    );
    // CoeffToSlot stages 1 and 2 run below the top level; with the symmetric 5/5/5
    // layer grouping every SlotToCoeff step is also a CoeffToSlot step, so none is
    // generated below CoeffToSlot's levels here
    assert!(after < before);
    let l9 = SwitchingKey::byte_size_at(&p, 9);
    eprintln!(
        "boot-n16 rotation key: level 9 {:.1} MB vs full {:.1} MB seeded ({:.1} vs {:.1} MB \
         expanded), ratio {:.3}",
        mb(l9),
        mb(full_key),
        mb(2 * l9),
        mb(2 * full_key),
        l9 as f64 / full_key as f64
    );
    // 2 digits × (10 + 9) limbs against 3 × (23 + 9): P has 9 primes (60 | 8 × 50)
    assert_eq!(p.p().len(), 9);
    assert_eq!((l9 - 32) / (p.n() * 8), 2 * 19);
    assert_eq!((full_key - 32) / (p.n() * 8), 3 * 32);
}
