//! One stage-3 ResNet-20 convolution (64→64 channels, 8×8, multiplexed gap 4) on a
//! ciphertext at N = 2^16: the most expensive layer of `fhe infer`, alone, for
//! profiling. `cargo run --release -p fhe-models --example packed_conv [level]`

use fhe_dsl::circuits::BootstrapPreset;
use fhe_dsl::ckks::{Ckks, KeyRequest, Params};
use fhe_dsl::nn::PackedLinear;
use fhe_dsl::tensor::Layout;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    fhe_models::tune_allocator(); // as `fhe` does
    let level: usize = std::env::args().nth(1).map_or(Ok(6), |s| s.parse())?;
    let params = Params::new(BootstrapPreset::n16().params)?;
    let slots = params.max_slots();
    let layout = Layout::multiplexed(64, 8, 8, 4)?;
    let t = Instant::now();
    let m = PackedLinear::conv2d(&layout, &layout, slots, 3, 1, 1, |co, ci, ky, kx| {
        (((co * 7 + ci * 3 + ky * 5 + kx) % 17) as f64 - 8.0) / 64.0
    })?;
    println!(
        "transform: {} diagonals, {} rotations, built in {:.2} s",
        m.diagonals(),
        m.rotation_count(),
        t.elapsed().as_secs_f64()
    );
    let ckks = Ckks::new(params.clone(), fhe_backend_cpu::CpuBackend::new());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let t = Instant::now();
    let req = KeyRequest::new().rotations_up_to(m.rotations(), level);
    let evk = kg.evaluation_keys(&sk, &req)?;
    let eval = ckks.evaluator_from(evk)?;
    println!("keys: {:.2} s", t.elapsed().as_secs_f64());
    let x: Vec<f64> = (0..slots)
        .map(|i| ((i * 31) % 97) as f64 / 97.0 - 0.5)
        .collect();
    let ct =
        ckks.encryptor_sk(&sk)
            .encrypt(&ckks.encode_real(&x, level, params.default_scale())?)?;
    for _ in 0..2 {
        let t = Instant::now();
        let out = m.apply(&eval, &ct, params.rescale_divisor(level))?;
        println!(
            "apply at level {level}: {:.2} s (out level {})",
            t.elapsed().as_secs_f64(),
            out.level()
        );
    }
    Ok(())
}
