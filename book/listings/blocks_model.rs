//! "Writing a model in the DSL", blocks: a residual block written once and stacked `N`
//! times, with the slot count and the depth as const generics. The macro plans every
//! depth on its own: levels, bootstraps, rotation keys. Compiled and run as the
//! `blocks_model` example of `fhe-macros` (`cargo run -p fhe-macros --example blocks_model`).

use fhe_dsl::backend::{reference::ReferenceBackend, Backend};
use fhe_dsl::ckks::{Ciphertext, Ckks, Decryptor, Params, ParamsLiteral, PublicKey};
use fhe_dsl::nn::PackedLinear;
use fhe_dsl::typed::{Bootstrap, Diagonal, EncVector, Linear};

// ANCHOR: model
fhe_macros::model! {
    /// `y = (mix(x) + skip(x))²`: two levels.
    pub block Residual {
        layers { mix: Linear, skip: Diagonal }
        fn forward(x) {
            let m = mix(x);
            let s = skip(x);
            let p = add(m, s);
            let y = square(p);
            y
        }
    }

    /// `N` residual blocks and a head, on `SLOTS` packed values.
    pub struct Tower<const SLOTS: usize, const N: usize> {
        slots: SLOTS,
        N in [1, 2, 3],
        input_level: 5,
        bootstrap_level: 5,
        auto_bootstrap,
    }
    layers {
        blocks: [Residual; N],
        head: Diagonal,
    }
    fn forward(x) {
        let h = blocks(x);
        let y = head(h);
        y
    }
}
// ANCHOR_END: model

// ANCHOR: plans
fn print_plans() {
    println!(
        "N = 1: output level {}, {} bootstraps",
        Tower::<8, 1>::OUTPUT_LEVEL,
        Tower::<8, 1>::BOOTSTRAPS
    );
    println!(
        "N = 2: output level {}, {} bootstraps",
        Tower::<8, 2>::OUTPUT_LEVEL,
        Tower::<8, 2>::BOOTSTRAPS
    );
    println!(
        "N = 3: output level {}, {} bootstraps, placed after {:?}",
        Tower::<8, 3>::OUTPUT_LEVEL,
        Tower::<8, 3>::BOOTSTRAPS,
        Tower::<8, 3>::AUTO_BOOTSTRAPPED
    );
    println!(
        "N = 3 layers: {:?}",
        Tower::<8, 3>::plan()
            .layers
            .iter()
            .map(|l| l.path.as_str())
            .collect::<Vec<_>>()
    );
}
// ANCHOR_END: plans

/// INSECURE TEST DOUBLE, as in `first_model.rs`: "bootstraps" by decrypting and
/// re-encrypting, so it holds the secret key. Examples and tests only.
struct DecryptReencryptTestDouble<B: Backend> {
    ckks: Ckks<B>,
    dec: Decryptor<B>,
    pk: PublicKey,
}

impl<B: Backend> Bootstrap<B, 5> for DecryptReencryptTestDouble<B> {
    fn bootstrap(&self, ct: &Ciphertext<B>) -> fhe_dsl::Result<Ciphertext<B>> {
        let values = self.dec.decrypt_complex(ct)?;
        let pt = self.ckks.encode(&values, 5, ct.scale())?;
        self.ckks.encryptor(&self.pk).encrypt(&pt)
    }
}

// ANCHOR: weights
/// One block's layers for `S` slots; `seed` makes the blocks differ. `mix` is a packed
/// linear map: each slot takes a weighted sum of itself and its two neighbours.
fn residual<const S: usize>(seed: f64) -> fhe_dsl::Result<Residual<S>> {
    let w = |k: usize, j: usize| ((k * 3 + j) as f64 * 0.37 + seed).sin() * 0.3;
    let terms = (0..S).flat_map(|k| (0..3).map(move |j| (k, (k + S + j - 1) % S, w(k, j))));
    Ok(Residual {
        mix: Linear::new(PackedLinear::from_terms(S, S, S, terms)?, vec![0.05; S])?,
        skip: Diagonal::new(vec![0.7; S], vec![0.0; S])?,
    })
}

fn tower() -> fhe_dsl::Result<Tower<8, 3>> {
    Ok(Tower {
        blocks: [residual(0.1)?, residual(0.6)?, residual(1.1)?],
        head: Diagonal::new(vec![2.0; 8], vec![0.0; 8])?,
    })
}
// ANCHOR_END: weights

// ANCHOR: run
fn run<B: Backend>(backend: B) -> fhe_dsl::Result<f64> {
    let model = tower()?;
    let ckks = Ckks::new(
        Params::new_insecure_for_tests(ParamsLiteral::test_small())?,
        backend,
    );
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let keys = kg.evaluation_keys(&sk, &model.key_request())?;
    let input = [0.3, -0.1, 0.8, 0.5, -0.6, 0.2, 0.0, -0.4];
    let x: EncVector<B, 8, 5> = EncVector::encrypt(&ckks, &ckks.encryptor(&pk), &input)?;
    let bt = DecryptReencryptTestDouble {
        ckks: ckks.clone(),
        dec: ckks.decryptor(&sk),
        pk,
    };
    let y = model.forward(&ckks.evaluator(&keys)?, &bt, x)?;
    let got = y.decrypt(&ckks.decryptor(&sk))?;
    let want = model.forward_plain(&input);
    Ok(got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max))
}

fn main() -> fhe_dsl::Result<()> {
    print_plans();
    let err = run(ReferenceBackend)?;
    println!("max |encrypted − plaintext| = {err:.2e}");
    assert!(err < 1e-4);
    Ok(())
}
// ANCHOR_END: run

#[test]
fn runs() {
    main().unwrap();
}
