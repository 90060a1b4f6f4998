//! "Value ranges": `check_ranges` finds, in the clear and by name, the value that would
//! decrypt to garbage, and the bootstrap input that would leave the EvalMod range.
//! Compiled and run as the `value_ranges` example of `fhe-macros` (its test runs in CI).

use fhe_dsl::circuits::bootstrap::BootstrapPreset;
use fhe_dsl::ckks::{Params, ParamsLiteral};
use fhe_dsl::typed::{Bounds, Dense, Diagonal, Poly, RangeLimits};

// ANCHOR: model
fhe_macros::model! {
    pub struct Scores { slots: 8, input_level: 2 }
    layers { fc1: Dense, fc2: Dense }
    fn forward(x) {
        let h = fc1(x);        // level 2 → 1
        let logits = fc2(h);   // 1 → 0: the least headroom
        logits
    }
}
// ANCHOR_END: model

fn scores(gain: f64) -> fhe_dsl::Result<Scores> {
    let w: Vec<f64> = (0..64)
        .map(|i| gain * (1.0 + (i as f64).sin()) / 4.0)
        .collect();
    Ok(Scores {
        fc1: Dense::new(w.clone(), vec![0.0; 8])?,
        fc2: Dense::new(w, vec![0.0; 8])?,
    })
}

// ANCHOR: boot_model
fhe_macros::model! {
    pub struct Refresh { slots: 2048, input_level: 1, bootstrap_level: 3, auto_bootstrap }
    layers { scale: Diagonal, act: Poly(degree = 2) }
    fn forward(x) {
        let h = scale(x);   // level 1 → 0: the macro bootstraps `h`
        let a = act(h);
        a
    }
}
// ANCHOR_END: boot_model

fn main() -> fhe_dsl::Result<()> {
    // ANCHOR: check
    let params = Params::new_insecure_for_tests(ParamsLiteral::test_small())?;
    let limits = RangeLimits::new(&params).with_input_range(1.0);
    let input = [0.9, 0.5, -0.3, 1.0, 0.7, -0.8, 0.2, 0.6];

    for r in scores(1.0)?.check_ranges(&input, &limits)? {
        println!(
            "{:>6} ({}, level {}): |x| ≤ {:.3}, limit {:.3e}",
            r.value, r.op, r.level, r.max_abs, r.limit
        );
    }
    // twenty times larger weights: four hundred times larger logits
    let err = scores(20.0)?.check_ranges(&input, &limits).unwrap_err();
    println!("{err}");
    // ANCHOR_END: check
    assert!(matches!(err, fhe_dsl::Error::ValueRange { .. }));

    // ANCHOR: check_boot
    let preset = BootstrapPreset::test_small();
    let params = Params::new_insecure_for_tests(preset.params.clone())?;
    let limits = RangeLimits::new(&params).with_bootstrap(&preset.config);
    let x: Vec<f64> = (0..2048).map(|i| (i as f64 * 0.01).cos()).collect();
    let model = Refresh {
        scale: Diagonal::new(vec![256.0; 2048], vec![0.0; 2048])?, // should have been 1/256
        act: Poly::new(vec![0.0, 0.5, 0.25])?,
    };
    let err = model.check_ranges(&x, &limits).unwrap_err();
    println!("{err}");
    // ANCHOR_END: check_boot
    assert!(matches!(err, fhe_dsl::Error::ValueRange { .. }));

    // ANCHOR: declared
    let params = Params::new_insecure_for_tests(ParamsLiteral::test_small())?;
    let limits = RangeLimits::new(&params).with_input_range(1.0);
    let model = scores(10.0)?;
    // the sample passes: its logits stay below level 0's headroom
    assert!(model.check_ranges(&input, &limits).is_ok());
    // every input in [-1, 1]^8 does not: refused, naming the step
    let err = model.check_declared_range(&limits).unwrap_err();
    println!("{err}");

    // one interval per slot (pixels in [0, 1], say): a bound per step
    let pixels = Bounds::uniform(8, 0.0, 1.0)?;
    for r in scores(1.0)?.check_input_range(&pixels, &limits)? {
        println!(
            "{:>6} ({}, level {}): |x| ≤ {:.3}, limit {:.3e}",
            r.value, r.op, r.level, r.max_abs, r.limit
        );
    }
    // ANCHOR_END: declared
    assert!(matches!(err, fhe_dsl::Error::ValueRange { .. }));
    // and the model that bootstraps: the same walk, each bootstrap input bounded
    let boot_limits = RangeLimits::new(&Params::new_insecure_for_tests(preset.params.clone())?)
        .with_bootstrap(&preset.config)
        .with_input_range(1.0);
    let gentle = Refresh {
        scale: Diagonal::new(vec![0.5; 2048], vec![0.0; 2048])?,
        act: Poly::new(vec![0.0, 0.5, 0.25])?,
    };
    gentle.check_declared_range(&boot_limits)?;
    assert!(model.check_declared_range(&limits).is_err());
    Ok(())
}

#[test]
fn runs() {
    main().unwrap();
}
