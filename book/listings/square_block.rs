//! "Your first encrypted model", one-level squares: an AESPA-style residual block whose
//! activations are bare squares (the quadratic's affine parts live in the convolutions
//! around it), with global pooling and a classifier head. Compiled and run as the
//! `square_block` example of `fhe-macros` (`cargo run -p fhe-macros --example square_block`).

use fhe_dsl::backend::{reference::ReferenceBackend, Backend};
use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
use fhe_dsl::nn::PackedLinear;
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Diagonal, EncVector, Linear, SpatialSum};

// ANCHOR: model
fhe_macros::model! {
    /// conv → square → (conv + scaled shortcut) → square → pooling → head
    pub struct SquareBlock {
        slots: 128,
        input_level: 5,
    }
    layers {
        stem: Linear,      // a folded convolution: any packed map, per-slot bias
        conv: Linear,
        skip: Diagonal,    // the shortcut's per-channel scale
        pool: SpatialSum,  // per-channel sums over the 8×8 positions
        head: Linear,
    }
    fn forward(x) {
        let z = stem(x);      // 5 → 4, prepared for the square
        let y = square(z);    // 4 → 3
        let m = conv(y);      // 3 → 2 ┐ both prepared for the square at level 2,
        let s = skip(y);      // 3 → 2 ┘ through the add
        let p = add(m, s);
        let a = square(p);    // 2 → 1
        let g = pool(a);      // no level
        let logits = head(g); // 1 → 0
        logits
    }
}
// ANCHOR_END: model

// ANCHOR: weights
fn weights() -> fhe_dsl::Result<(SquareBlock, Layout)> {
    let image = Layout::multiplexed(1, 8, 8, 1)?; // 64 slots, repeated
    let features = Layout::multiplexed(2, 8, 8, 1)?; // 128 slots
    let w = |n: usize, seed: f64, scale: f64| -> Vec<f64> {
        (0..n)
            .map(|i| (i as f64 * 0.61 + seed).sin() * scale)
            .collect()
    };
    // a 3×3 convolution as a packed map, weights C_out × C_in × 3 × 3
    let conv = |lin: &Layout, lout: &Layout, w: Vec<f64>| {
        let ci = lin.channels();
        PackedLinear::conv2d(lin, lout, 128, 3, 1, 1, move |o, i, y, x| {
            w[((o * ci + i) * 3 + y) * 3 + x]
        })
    };
    // the head: logit k = Σ_c W[k][c] · mean over channel c, read at slot (c, 0, 0)
    // where the pooling left channel c's sum
    let head = PackedLinear::from_terms(
        features.period(),
        4,
        128,
        (0..3).flat_map(|k| {
            (0..2).map(move |c| (k, features.slot(c, 0, 0), (k + c) as f64 * 0.1 / 64.0))
        }),
    )?
    .without_replication();
    let model = SquareBlock {
        stem: Linear::new(
            conv(&image, &features, w(2 * 9, 0.3, 0.2))?,
            features.per_channel(&[0.1, -0.1], 128)?,
        )?,
        conv: Linear::new(
            conv(&features, &features, w(2 * 2 * 9, 0.9, 0.1))?,
            vec![0.0; 128],
        )?,
        skip: Diagonal::new(features.per_channel(&[0.5, 0.25], 128)?, vec![0.0; 128])?,
        pool: SpatialSum::new(features)?,
        head: Linear::new(head, vec![0.0; 128])?,
    };
    Ok((model, image))
}
// ANCHOR_END: weights

// ANCHOR: run
fn run<B: Backend>(backend: B) -> fhe_dsl::Result<f64> {
    let (model, image) = weights()?;
    let ckks = Ckks::new(
        Params::new_insecure_for_tests(ParamsLiteral::test_small())?,
        backend,
    );
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    // the squares need the relinearisation key: `key_request` asks for it
    let keys = kg.evaluation_keys(&sk, &model.key_request())?;
    let pixels: Vec<f64> = (0..64).map(|i| ((i % 8) as f64 / 8.0) * 0.9).collect();
    let packed = image.pack(&pixels, SquareBlock::SLOTS)?;
    let x: EncVector<B, 128, 5> =
        EncVector::encrypt(&ckks, &ckks.encryptor(&kg.public_key(&sk)?), &packed)?;
    // server, with a report per step
    let mut steps = Vec::new();
    let y: EncVector<B, 128, 0> = model.forward_observed(
        &ckks.evaluator(&keys)?,
        x,
        &mut |s: &fhe_dsl::typed::StepInfo<'_>, _: &fhe_dsl::ckks::Ciphertext<B>| {
            steps.push(format!("{} {}@{}", s.value, s.op, s.level));
            Ok(())
        },
    )?;
    println!("steps: {}", steps.join(", "));
    let got = y.decrypt(&ckks.decryptor(&sk))?;
    let want = model.forward_plain(&packed);
    Ok((0..3).map(|k| (got[k] - want[k]).abs()).fold(0.0, f64::max))
}

fn main() -> fhe_dsl::Result<()> {
    let err = run(ReferenceBackend)?;
    println!("max |encrypted − plaintext| over the logits = {err:.2e}");
    assert!(err < 1e-6);
    Ok(())
}
// ANCHOR_END: run

#[test]
fn runs() {
    main().unwrap();
}
