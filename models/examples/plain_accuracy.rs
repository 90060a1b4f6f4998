//! Plaintext float64 accuracy of a ResNet weights file over the Fashion-MNIST test set
//! (Debian's full 10 000 images when installed, else the bundled 64), with the fused
//! reference forward (`reference::forward`).
//!
//!     cargo run --release -p fhe-models --example plain_accuracy [-- WEIGHTS]

use std::path::PathBuf;

use fhe_models::resnet::data::FashionTestSet;
use fhe_models::resnet::reference::forward;
use fhe_models::resnet::weights::ResNetWeights;
use rayon::prelude::*;

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("weights/resnet20_fmnist.safetensors"),
        PathBuf::from,
    );
    let w = ResNetWeights::load(&path)?;
    let set = FashionTestSet::open_default()?;
    let correct: usize = (0..set.len())
        .into_par_iter()
        .map(|i| {
            let (x, label, _) = set.image(i).expect("index in range");
            usize::from(forward(&w, &x).argmax() == usize::from(label))
        })
        .sum();
    println!(
        "{}: {correct}/{} correct on {} = {:.4}",
        path.display(),
        set.len(),
        set.name(),
        correct as f64 / set.len() as f64
    );
    Ok(())
}
