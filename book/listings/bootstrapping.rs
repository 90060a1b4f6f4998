//! "Bootstrapping in your own model": the real bootstrapper wired into a `model!`,
//! on the CPU backend with the small insecure `boot-small` preset. Compiled and run as
//! the `bootstrapping` example of `fhe-macros` (its test runs in CI).

// ANCHOR: imports
use fhe_backend_cpu::CpuBackend;
use fhe_dsl::circuits::bootstrap::BootstrapPreset;
use fhe_dsl::circuits::{Bootstrapper, BootstrappingKeys};
use fhe_dsl::ckks::{Ckks, Params};
use fhe_dsl::typed::{Diagonal, EncVector, LeveledBootstrapper, Poly, RangeLimits};
// ANCHOR_END: imports

// ANCHOR: model
fhe_macros::model! {
    /// Two scale–activation blocks with a bootstrap between them, on all 2048 slots of
    /// an N = 2^12 ciphertext.
    pub struct Refresh {
        slots: 2048,
        input_level: 3,
        bootstrap_level: 3,   // what boot-small returns: checked by `check_params`
    }
    layers {
        bn1: Diagonal,
        act1: Poly(degree = 2),
        bn2: Diagonal,
        act2: Poly(degree = 2),
    }
    fn forward(x) {
        let h1 = bn1(x);          // level 3 → 2
        let a1 = act1(h1);        // 2 → 0
        let b = bootstrap(a1);    // → 3
        let h2 = bn2(b);          // 3 → 2
        let a2 = act2(h2);        // 2 → 0
        a2
    }
}
// ANCHOR_END: model

fn weights() -> fhe_dsl::Result<Refresh> {
    let n = Refresh::SLOTS;
    Ok(Refresh {
        bn1: Diagonal::new(vec![0.8; n], vec![0.05; n])?,
        act1: Poly::new(vec![0.0, 0.5, 0.4])?,
        bn2: Diagonal::new(vec![1.2; n], vec![-0.1; n])?,
        act2: Poly::new(vec![0.1, 0.6, 0.3])?,
    })
}

// ANCHOR: run
fn main() -> fhe_dsl::Result<()> {
    let model = weights()?;
    let input: Vec<f64> = (0..Refresh::SLOTS)
        .map(|i| (i as f64 * 0.01).sin())
        .collect();

    // 1. the preset: CKKS parameters and a bootstrapping configuration that fit together
    let preset = BootstrapPreset::test_small(); // "boot-small": N = 2^12, INSECURE
    let params = Params::new_insecure_for_tests(preset.params.clone())?;

    // 2. before any key: the model's levels fit, every bootstrap input is in range
    Refresh::check_params(&params, Some(&preset.config))?;
    let limits = RangeLimits::new(&params)
        .with_bootstrap(&preset.config)
        .with_input_range(1.0);
    model.check_ranges(&input, &limits)?;

    // 3. client: bootstrapping keys plus exactly the model's own keys, in one set
    let ckks = Ckks::new(params, CpuBackend::new());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let keys =
        BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &model.key_request())?;
    let x: EncVector<CpuBackend, 2048, 3> =
        EncVector::encrypt(&ckks, &ckks.encryptor(&pk), &input)?;

    // 4. server: the bootstrapper, viewed at the model's bootstrap level, and its evaluator
    let bs = Bootstrapper::new(&ckks, preset.config.clone(), &keys)?;
    let bt = LeveledBootstrapper::<CpuBackend, { Refresh::BOOTSTRAP_LEVEL }>::new(&bs)?;
    let ev = bs.evaluator(); // holds the bootstrapping keys and the model's
    let y: EncVector<CpuBackend, 2048, 0> = model.forward(ev, &bt, x)?;

    // 5. client: decrypt and compare with the float64 twin
    let got = y.decrypt(&ckks.decryptor(&sk))?;
    let want = model.forward_plain(&input);
    let err = got
        .iter()
        .zip(&want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    println!("levels: {:?}", Refresh::LEVELS);
    println!("max |encrypted − plaintext| = {err:.2e}");
    if err > 1e-2 {
        return Err(fhe_dsl::Error::InvalidInput(format!(
            "error {err:e} after bootstrapping"
        )));
    }
    Ok(())
}
// ANCHOR_END: run

#[test]
fn runs() {
    main().unwrap();
}
