//! "Level budgets": the same budget checked three ways — by the types in hand-written
//! code, by `model!` at expansion time, and at run time by `DynCt` for data-dependent
//! depth. Compiled and run as the `level_budgets` example of `fhe-macros`.

use fhe_dsl::backend::{reference::ReferenceBackend, Backend};
use fhe_dsl::ckks::{Ckks, Evaluator, KeyRequest, Params, ParamsLiteral};
use fhe_dsl::typed::{Ct, DynCt, Owed};

// ANCHOR: typed
/// x³ by hand: every value's level is in its type.
fn cube_plus<B: Backend>(ev: &Evaluator<B>, x: &Ct<B, 3>) -> fhe_dsl::Result<Ct<B, 1>> {
    let x2: Ct<B, 3, Owed> = x.mul(x, ev)?; // a product owes a rescale
    let x2: Ct<B, 2> = x2.rescale(ev)?; // 3 → 2
    let x_2: Ct<B, 2> = x.mod_down::<2>(ev)?; // align x with x² (free)
    let x3: Ct<B, 1> = x2.mul(&x_2, ev)?.rescale(ev)?; // 2 → 1
                                                       // `x3.add(&x_2, ev)` would not compile: level 1 vs level 2.
    Ok(x3)
}
// ANCHOR_END: typed

// ANCHOR: model
fhe_macros::model! {
    /// Deeper than its input level: the macro places the bootstraps.
    pub struct Deep {
        slots: 8,
        input_level: 3,
        bootstrap_level: 5,
        auto_bootstrap,
    }
    layers {
        fc: Dense,
        act: Poly(degree = 3),   // ⌈log2 3⌉ + 1 = 3 levels
    }
    fn forward(x) {
        let h1 = fc(x);          // 3 → 2
        let a1 = act(h1);        // needs 3: a bootstrap goes before it
        let h2 = fc(a1);
        let a2 = act(h2);        // and another one before this
        a2
    }
}
// ANCHOR_END: model

// ANCHOR: dynamic
/// Squares until the value drops below `threshold`: a depth the types cannot know.
fn square_until<B: Backend>(
    ev: &Evaluator<B>,
    x: DynCt<B>,
    rounds: usize,
) -> fhe_dsl::Result<DynCt<B>> {
    let mut x = x;
    for _ in 0..rounds {
        x = x.mul(&x, ev)?.rescale(ev)?; // Err(LevelTooLow) once levels run out
    }
    Ok(x)
}
// ANCHOR_END: dynamic

fn main() -> fhe_dsl::Result<()> {
    // ANCHOR: consts
    println!("levels:           {:?}", Deep::LEVELS);
    println!("auto-bootstrapped: {:?}", Deep::AUTO_BOOTSTRAPPED);
    println!("bootstraps:        {}", Deep::BOOTSTRAPS);
    println!("rotation keys:     {:?}", Deep::ROTATIONS);
    // ANCHOR_END: consts
    assert_eq!(Deep::AUTO_BOOTSTRAPPED, &["h1", "h2"]);

    let params = Params::new_insecure_for_tests(ParamsLiteral::test_small())?;
    let ckks = Ckks::new(params, ReferenceBackend);
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new().relin())?)?;
    let enc = ckks.encryptor(&kg.public_key(&sk)?);
    let dec = ckks.decryptor(&sk);

    let x = Ct::<ReferenceBackend, 3>::encrypt(&ckks, &enc, &[0.5])?;
    let y = cube_plus(&ev, &x)?;
    println!("x³ at level {}: {:.6}", y.level(), y.decrypt(&dec)?[0]);

    // ANCHOR: dynamic_use
    let start = Ct::<ReferenceBackend, 5>::encrypt(&ckks, &enc, &[0.9])?.into_dyn();
    let ok = square_until(&ev, start.clone(), 3)?;
    println!("3 rounds: level {}", ok.level());
    let err = square_until(&ev, start, 6).unwrap_err();
    println!("6 rounds: {err}"); // "mul needs level ≥ 1, ciphertext is at level 0"
                                 // ANCHOR_END: dynamic_use
    Ok(())
}

#[test]
fn runs() {
    main().unwrap();
}
