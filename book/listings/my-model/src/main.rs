//! "Your first encrypted program": a two-layer network on 16 features, run on the CPU
//! backend on an encrypted input and checked against its float64 twin.

// ANCHOR: imports
use fhe_backend_cpu::CpuBackend;
use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
use fhe_dsl::typed::{Dense, EncVector, Poly, RangeLimits};
// ANCHOR_END: imports

// ANCHOR: model
fhe_macros::model! {
    /// 16 features → 16 hidden units → x² + x activation → 16 scores.
    pub struct Mlp {
        slots: 16,
        input_level: 4,
    }
    layers {
        hidden: Dense,
        act: Poly(degree = 2),
        out: Dense,
    }
    fn forward(x) {
        let h = hidden(x);   // level 4 → 3
        let a = act(h);      // 3 → 1
        let y = out(a);      // 1 → 0
        y
    }
}
// ANCHOR_END: model

// ANCHOR: weights
/// Weights would come from training; here a fixed pseudo-random pattern.
fn weights() -> fhe_dsl::Result<Mlp> {
    let w = |seed: f64| -> Vec<f64> {
        (0..16 * 16)
            .map(|i| ((i as f64 + seed) * 0.731).sin() * 0.25)
            .collect()
    };
    Ok(Mlp {
        hidden: Dense::new(w(1.0), vec![0.1; 16])?,
        act: Poly::new(vec![0.0, 1.0, 1.0])?, // 0 + x + x²
        out: Dense::new(w(2.0), vec![0.0; 16])?,
    })
}
// ANCHOR_END: weights

// ANCHOR: main
fn main() -> fhe_dsl::Result<()> {
    let model = weights()?;
    let input: Vec<f64> = (0..16).map(|i| (i as f64 / 8.0) - 1.0).collect();

    // Parameters: N = 2^12, levels 0..=5. Small and INSECURE: for trying things out.
    // Real deployments use `Params::new` on a 128-bit-secure set (see the chapter on
    // security parameters).
    let params = Params::new_insecure_for_tests(ParamsLiteral::test_small())?;

    // Before any key exists: does the model fit the parameters, and do its values
    // stay inside what each level can hold?
    Mlp::check_params(&params, None)?;
    let ranges = model.check_ranges(&input, &RangeLimits::new(&params).with_input_range(1.0))?;
    for r in &ranges {
        println!(
            "{:>2} at level {}: |x| ≤ {:.3} (limit {:.3e})",
            r.value, r.level, r.max_abs, r.limit
        );
    }

    // client: keys (the secret key stays here), exactly the evaluation keys the model needs
    let ckks = Ckks::new(params, CpuBackend::new());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let eval_keys = kg.evaluation_keys(&sk, &model.key_request())?;
    let x: EncVector<CpuBackend, 16, 4> = EncVector::encrypt(&ckks, &ckks.encryptor(&pk), &input)?;

    // server: evaluation keys and the ciphertext; the weights are its own, in the clear
    let ev = ckks.evaluator(&eval_keys)?;
    let y: EncVector<CpuBackend, 16, 0> = model.forward(&ev, x)?;

    // client: decrypt, compare with the float64 twin
    let got = y.decrypt(&ckks.decryptor(&sk))?;
    let want = model.forward_plain(&input);
    let err = got
        .iter()
        .zip(&want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()));
    println!("scores: {:.4?}", &got[..4]);
    println!("max |encrypted − plaintext| = {err:.2e}");
    if err > 1e-3 {
        return Err(fhe_dsl::Error::InvalidInput(format!(
            "encrypted result off by {err:e}"
        )));
    }
    Ok(())
}
// ANCHOR_END: main
