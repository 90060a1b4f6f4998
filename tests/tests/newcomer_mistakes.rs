//! The mistakes a newcomer makes with a first model, each caught with an error that
//! names the step, the layer or the setting (issue 20), at the earliest point the
//! information exists:
//!
//! - values that outgrow their level's headroom decrypt to garbage: `check_ranges`
//!   refuses them in the clear, naming the step, and the limit is real (just inside it
//!   the encrypted result is right, beyond it it is wrong);
//! - bootstrap inputs outside the EvalMod range: `check_ranges` names the bootstrapped
//!   value, for explicit and automatic bootstraps;
//! - an `input_level` or a `bootstrap_level` the parameters cannot give: `check_params`,
//!   before key generation; encrypting at a missing level says so;
//! - a convolution whose stride and padding do not give the output layout's size.
//!
//! (A missing rotation key naming its step is in `dsl_conv_model.rs`.)

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::circuits::bootstrap::BootstrapPreset;
use fhe_dsl::ckks::{Ckks, KeyGenerator, Params, ParamsLiteral};
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Conv, Dense, Diagonal, EncVector, Poly, RangeLimits};
use fhe_dsl::Error;

fhe_macros::model! {
    /// One dense layer, from level 1 to level 0: level 0 has the least headroom.
    struct Head { slots: 8, input_level: 1 }
    layers { fc: Dense }
    fn forward(x) {
        let logits = fc(x);
        logits
    }
}

fhe_macros::model! {
    /// A bootstrap between two layers (boot-small returns level 3).
    struct Boot { slots: 2048, input_level: 2, bootstrap_level: 3 }
    layers { fc: Diagonal, act: Poly(degree = 2), head: Diagonal }
    fn forward(x) {
        let h = fc(x);
        let b = bootstrap(h);
        let a = act(b);
        let y = head(a);
        y
    }
}

fhe_macros::model! {
    /// The same with the bootstrap placed by the macro.
    struct AutoBoot { slots: 2048, input_level: 1, bootstrap_level: 3, auto_bootstrap }
    layers { fc: Diagonal, act: Poly(degree = 2), head: Diagonal }
    fn forward(x) {
        let h = fc(x);
        let a = act(h);
        let y = head(a);
        y
    }
}

fn params() -> Params {
    Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap()
}

fn head(scale: f64) -> Head {
    let w: Vec<f64> = (0..64)
        .map(|i| scale * (1.0 + (i as f64 * 0.37).sin()))
        .collect();
    Head {
        fc: Dense::new(w, vec![0.0; 8]).unwrap(),
    }
}

const INPUT: [f64; 8] = [0.9, 0.8, 0.95, 0.7, 0.85, 0.9, 0.75, 1.0];

/// Encrypts `INPUT`, runs `m`, returns the largest |encrypted − plain|.
fn encrypted_error(m: &Head) -> f64 {
    let ckks = Ckks::new(params(), CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 20);
    let sk = kg.secret_key();
    let ev = ckks
        .evaluator(&kg.evaluation_keys(&sk, &m.key_request()).unwrap())
        .unwrap();
    let x =
        EncVector::encrypt(&ckks, &ckks.encryptor(&kg.public_key(&sk).unwrap()), &INPUT).unwrap();
    let y: EncVector<CpuBackend, 8, 0> = m.forward(&ev, x).unwrap();
    let got = y.decrypt(&ckks.decryptor(&sk)).unwrap();
    got.iter()
        .zip(m.forward_plain(&INPUT))
        .fold(0.0f64, |e, (g, w)| e.max((g - w).abs()))
}

#[test]
fn values_beyond_the_headroom_are_refused_by_name_and_really_decrypt_to_garbage() {
    let p = params();
    let limits = RangeLimits::new(&p).with_input_range(1.0);
    let h0 = limits.headroom(0);
    assert!(
        h0 > 200.0 && h0 < 300.0,
        "test-small level 0 holds about 2^8: {h0}"
    );

    // weights that keep the logits well inside level 0: accepted, encrypted result right
    let ok = head(1.0);
    let seen = ok.check_ranges(&INPUT, &limits).unwrap();
    let logits = seen.iter().find(|r| r.value == "logits").unwrap();
    assert!(logits.max_abs > 5.0 && logits.max_abs < h0, "{logits:?}");
    let err = encrypted_error(&ok);
    assert!(err < 1e-3, "inside the headroom: max error {err:e}");

    // much larger weights: the logits pass q0/2Δ, the wrap-around point (twice the limit)
    let big = head(200.0);
    let e = big.check_ranges(&INPUT, &limits).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("value range: `logits` (fc, level 0) reaches |x| = "),
        "{msg}"
    );
    assert!(msg.contains("headroom of level 0"), "{msg}");
    match e {
        Error::ValueRange { reached, limit, .. } => assert!(reached > 2.0 * limit),
        other => panic!("{other:?}"),
    }
    // and the check is not overcautious: encrypted, these logits are garbage
    let err = encrypted_error(&big);
    assert!(err > 1.0, "beyond the headroom: max error only {err:e}");
}

#[test]
fn an_input_outside_the_declared_range_is_refused() {
    let p = params();
    let limits = RangeLimits::new(&p).with_input_range(0.5);
    let e = head(1.0).check_ranges(&INPUT, &limits).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("value range: `x` (input, level 1)"),
        "{msg}"
    );
    assert!(msg.contains("declared input range [-0.5, 0.5]"), "{msg}");
}

fn boot_model(gain: f64) -> Boot {
    Boot {
        fc: Diagonal::new(vec![gain; 2048], vec![0.0; 2048]).unwrap(),
        act: Poly::new(vec![0.0, 0.5, 0.25]).unwrap(),
        head: Diagonal::new(vec![1.0; 2048], vec![0.0; 2048]).unwrap(),
    }
}

#[test]
fn bootstrap_inputs_outside_the_evalmod_range_are_refused_by_name() {
    let preset = BootstrapPreset::test_small();
    let p = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    let limits = RangeLimits::new(&p).with_bootstrap(&preset.config);
    let x: Vec<f64> = (0..2048).map(|i| ((i as f64) * 0.01).sin() * 0.8).collect();

    boot_model(1.0).check_ranges(&x, &limits).unwrap();
    let e = boot_model(256.0).check_ranges(&x, &limits).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("value range: `h` (bootstrap, level 1)"),
        "{msg}"
    );
    assert!(msg.contains("bootstrap input range [-1, 1]"), "{msg}");

    // without a bootstrap range the limits say how to get one
    let e = boot_model(1.0)
        .check_ranges(&x, &RangeLimits::new(&p))
        .unwrap_err();
    assert!(e.to_string().contains("with_bootstrap"), "{e}");

    // an automatic bootstrap is checked the same way
    let auto = AutoBoot {
        fc: Diagonal::new(vec![256.0; 2048], vec![0.0; 2048]).unwrap(),
        act: Poly::new(vec![0.0, 0.5, 0.25]).unwrap(),
        head: Diagonal::new(vec![1.0; 2048], vec![0.0; 2048]).unwrap(),
    };
    assert_eq!(AutoBoot::AUTO_BOOTSTRAPPED, &["h"]);
    let e = auto.check_ranges(&x, &limits).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("value range: `h` (bootstrap (automatic), level 0)"),
        "{e}"
    );
}

#[test]
fn check_params_refuses_levels_the_parameters_cannot_give_before_key_generation() {
    let preset = BootstrapPreset::test_small();
    let p = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    assert_eq!(preset.config.output_level(&p).unwrap(), 3);
    Boot::check_params(&p, Some(&preset.config)).unwrap();

    // a model that expects another bootstrap level than boot-small returns
    fhe_macros::model! {
        struct WrongBoot { slots: 2048, input_level: 2, bootstrap_level: 5 }
        layers { fc: Diagonal }
        fn forward(x) {
            let b = bootstrap(x);
            let y = fc(b);
            y
        }
    }
    let e = WrongBoot::check_params(&p, Some(&preset.config)).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("WrongBoot: `bootstrap_level: 5`"), "{msg}");
    assert!(msg.contains("set `bootstrap_level: 3`"), "{msg}");
    let e = WrongBoot::check_params(&p, None).unwrap_err();
    assert!(
        e.to_string()
            .contains("pass the bootstrapping configuration"),
        "{e}"
    );

    // an input level above test-small's top level 5
    fhe_macros::model! {
        struct TooHigh { slots: 8, input_level: 7 }
        layers { fc: Dense }
        fn forward(x) {
            let y = fc(x);
            y
        }
    }
    let small = params();
    let e = TooHigh::check_params(&small, None).unwrap_err();
    assert!(
        e.to_string()
            .contains("TooHigh: `input_level: 7` is above the parameters' top level 5"),
        "{e}"
    );
    Head::check_params(&small, None).unwrap();

    // encrypting at that level anyway says what is wrong (there is no ciphertext yet)
    let ckks = Ckks::new(small, CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 1);
    let sk = kg.secret_key();
    let e = EncVector::<CpuBackend, 8, 7>::encrypt(
        &ckks,
        &ckks.encryptor(&kg.public_key(&sk).unwrap()),
        &[1.0],
    )
    .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "invalid input: cannot encrypt at level 7: these parameters offer levels 0..=5"
        ),
        "{e}"
    );
}

#[test]
fn a_stride_two_conv_with_the_wrong_padding_says_which_padding_fits() {
    let l_in = Layout::multiplexed(1, 16, 16, 1).unwrap();
    let l_out = Layout::multiplexed(4, 8, 8, 2).unwrap();
    let w = vec![0.1; 4 * 9];
    // padding 0: (16 − 3)/2 + 1 = 7, not 8
    let e = Conv::<256>::new(l_in, l_out, 3, 2, 0, w.clone(), vec![0.0; 4]).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("conv 3×3, stride 2, padding 0 maps the 16×16 input to 7×7, but the output layout is 8×8"),
        "{msg}"
    );
    assert!(msg.contains("padding 1 would give 8×8"), "{msg}");
    assert!(!msg.contains("Some("), "{msg}");
    Conv::<256>::new(l_in, l_out, 3, 2, 1, w, vec![0.0; 4]).unwrap();
}
