//! "Your first encrypted model": a residual network on 8 packed values, run encrypted
//! and checked against its float64 reference. Compiled and run as the `first_model`
//! example of `fhe-macros` (`cargo run -p fhe-macros --example first_model`; CI runs
//! its test).

// ANCHOR: imports
use fhe_dsl::backend::{reference::ReferenceBackend, Backend};
use fhe_dsl::ckks::{Ciphertext, Ckks, Decryptor, Params, ParamsLiteral, PublicKey};
use fhe_dsl::typed::{Bootstrap, Dense, Diagonal, EncVector, Poly};
// ANCHOR_END: imports

// ANCHOR: model
fhe_macros::model! {
    /// Two dense–activation blocks with a residual add and a bootstrap.
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
        let c1 = fc1(x);         // level 5 → 4
        let a1 = act1(c1);       // 4 → 2
        let b1 = bootstrap(a1);  // → 5
        let c2 = fc2(b1);        // 5 → 4
        let a2 = act2(c2);       // 4 → 2
        let r = add(a2, b1);     // residual: b1 is lowered to level 2 for free
        let s = sum(r);          // every slot ← the total (rotations 1, 2, 4)
        let y = head(s);         // 2 → 1
        y
    }
}
// ANCHOR_END: model

// ANCHOR: double
/// INSECURE TEST DOUBLE. It "bootstraps" by decrypting and re-encrypting, so it holds
/// the secret key: it stands in, in examples and tests, for the real bootstrapper
/// (`fhe_dsl::circuits::Bootstrapper` viewed through `LeveledBootstrapper`, see the
/// chapter "Bootstrapping"), which needs much larger parameters. Never give a server this.
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
// ANCHOR_END: double

// ANCHOR: weights
fn weights() -> fhe_dsl::Result<TinyResNet> {
    let n = TinyResNet::SLOTS;
    let mat = |seed: f64| -> Vec<f64> {
        (0..n * n)
            .map(|i| ((i as f64 * 0.37 + seed).sin()) / n as f64)
            .collect()
    };
    Ok(TinyResNet {
        fc1: Dense::new(mat(0.1), vec![0.05; n])?,
        act1: Poly::new(vec![0.1, 0.5, 0.25])?, // a low-degree ReLU stand-in
        fc2: Dense::new(mat(0.7), vec![-0.02; n])?,
        act2: Poly::new(vec![0.0, 0.8, 0.3])?,
        head: Diagonal::new(vec![0.5; n], vec![0.1; n])?,
    })
}
// ANCHOR_END: weights

// ANCHOR: run
/// The same code runs on any backend: only the `backend` argument changes.
fn run<B: Backend>(backend: B) -> fhe_dsl::Result<f64> {
    // the model: weights in the clear (the server's), its key request (for the client)
    let model = weights()?;

    // client: parameters (small and insecure: an example), keys for exactly this model
    let params = Params::new_insecure_for_tests(ParamsLiteral::test_small())?;
    let ckks = Ckks::new(params, backend);
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let keys = kg.evaluation_keys(&sk, &model.key_request())?;
    let input = [0.3, -0.1, 0.8, 0.5, -0.6, 0.2, 0.0, -0.4];
    let x: EncVector<B, 8, 5> = EncVector::encrypt(&ckks, &ckks.encryptor(&pk), &input)?;

    // server: the input and every intermediate encrypted
    let ev = ckks.evaluator(&keys)?;
    let bt = DecryptReencryptTestDouble {
        ckks: ckks.clone(),
        dec: ckks.decryptor(&sk),
        pk,
    };
    let y: EncVector<B, 8, 1> = model.forward(&ev, &bt, x)?;

    // client: decrypt and compare with the float64 reference
    let got = y.decrypt(&ckks.decryptor(&sk))?;
    let want = model.forward_plain(&input);
    let err = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    Ok(err)
}

fn main() -> fhe_dsl::Result<()> {
    println!("levels: {:?}", TinyResNet::LEVELS);
    println!("rotation keys: {:?}", TinyResNet::ROTATIONS);
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
