//! "Your first encrypted model", convolutions: a residual conv block on a packed 16×16
//! image, run encrypted and checked against its float64 reference. Compiled and run as
//! the `conv_model` example of `fhe-macros` (`cargo run -p fhe-macros --example conv_model`).

// ANCHOR: imports
use fhe_dsl::backend::{reference::ReferenceBackend, Backend};
use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Conv, EncVector, Poly};
// ANCHOR_END: imports

// ANCHOR: model
fhe_macros::model! {
    /// conv → activation → conv, with a residual connection around the second conv.
    pub struct ConvBlock {
        slots: 256,
        input_level: 5,
    }
    layers {
        conv1: Conv,
        act: Poly(degree = 2),
        conv2: Conv,
    }
    fn forward(x) {
        let c1 = conv1(x);     // level 5 → 4
        let a1 = act(c1);      // 4 → 2
        let c2 = conv2(a1);    // 2 → 1
        let r = add(c2, c1);   // residual: c1 lowered to level 1
        r
    }
}
// ANCHOR_END: model

// ANCHOR: weights
fn weights() -> fhe_dsl::Result<(ConvBlock, Layout, Layout)> {
    // 1×16×16 in, 4×8×8 out: the stride-2 conv writes its four channels into the gaps
    // of one 16×16 grid (the multiplexed layout), so both tensors take 256 slots.
    let image = Layout::multiplexed(1, 16, 16, 1)?;
    let features = Layout::multiplexed(4, 8, 8, 2)?;
    let w = |n: usize, seed: f64, scale: f64| -> Vec<f64> {
        (0..n)
            .map(|i| (i as f64 * 0.61 + seed).sin() * scale)
            .collect()
    };
    let model = ConvBlock {
        // C_out × C_in × 3 × 3 weights and one bias per output channel
        conv1: Conv::new(image, features, 3, 2, 1, w(4 * 9, 0.3, 0.1), vec![0.0; 4])?,
        act: Poly::new(vec![0.1, 0.5, 0.25])?,
        conv2: Conv::new(
            features,
            features,
            3,
            1,
            1,
            w(4 * 4 * 9, 0.9, 0.03),
            vec![0.05; 4],
        )?,
    };
    Ok((model, image, features))
}
// ANCHOR_END: weights

// ANCHOR: run
fn run<B: Backend>(backend: B) -> fhe_dsl::Result<f64> {
    let (model, image, features) = weights()?;
    // client: keys for exactly this model: the convolutions' rotation steps depend on
    // their layouts, so ask the model instance
    let ckks = Ckks::new(
        Params::new_insecure_for_tests(ParamsLiteral::test_small())?,
        backend,
    );
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let keys = kg.evaluation_keys(&sk, &model.key_request())?;
    // a 16×16 test pattern (a ring), packed with the first conv's input layout
    let pixels: Vec<f64> = (0..256)
        .map(|i| {
            let (y, x) = ((i / 16) as f64 - 7.5, (i % 16) as f64 - 7.5);
            if (20.0..40.0).contains(&(x * x + y * y)) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let packed = image.pack(&pixels, ConvBlock::SLOTS)?;
    let x: EncVector<B, 256, 5> =
        EncVector::encrypt(&ckks, &ckks.encryptor(&kg.public_key(&sk)?), &packed)?;

    // server
    let y: EncVector<B, 256, 1> = model.forward(&ckks.evaluator(&keys)?, x)?;

    // client: decrypt, unpack the 4×8×8 feature map, compare with the float64 reference
    let got = features.unpack(&y.decrypt(&ckks.decryptor(&sk))?)?;
    let want = features.unpack(&model.forward_plain(&packed))?;
    Ok(got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max))
}

fn main() -> fhe_dsl::Result<()> {
    let (model, _, _) = weights()?;
    println!("levels: {:?}", ConvBlock::LEVELS);
    println!("rotation keys: {:?}", model.rotations_for());
    let err = run(ReferenceBackend)?;
    println!("max |encrypted − plaintext| = {err:.2e}");
    assert!(err < 1e-6);
    Ok(())
}
// ANCHOR_END: run

#[test]
fn runs() {
    main().unwrap();
}
