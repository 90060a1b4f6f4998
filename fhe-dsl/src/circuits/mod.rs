//! Circuits built on the CKKS evaluator: polynomial evaluation in the Chebyshev basis,
//! homomorphic linear transforms given by diagonals (BSGS with hoisted rotations), and
//! bootstrapping.
//!
//! Everything here goes through [`Evaluator`] and the
//! [`Backend`] trait, so it runs on every backend unchanged.

pub mod bootstrap;
pub mod linear;
pub mod polynomial;

pub use bootstrap::{
    bench_bootstrap, BootstrapConfig, BootstrapPreset, BootstrapTimings, Bootstrapper,
    BootstrappingKeys, EncapsulationKey, TransformStorage,
};
pub use linear::{EncodedLinearTransform, LinearTransform};
pub use polynomial::{evaluate_chebyshev, evaluate_chebyshev_unit, ChebyshevPoly};

use crate::backend::Backend;
use crate::ckks::{Ciphertext, Evaluator};

/// Multiplies every part of `ct` by the integer held (already rounded) in `k`, which
/// may be large or negative. The scale is left untouched: the caller accounts for the
/// factor in its scale bookkeeping.
pub(crate) fn mul_integer_raw<B: Backend>(eval: &Evaluator<B>, ct: &mut Ciphertext<B>, k: f64) {
    let params = eval.ckks().params();
    let ctx = params.ring();
    let r: Vec<u64> = (0..params.limbs_at(ct.level))
        .map(|i| ctx.modulus(i).reduce_f64(k))
        .collect();
    for p in &mut ct.parts {
        eval.ckks().backend().mul_scalar_assign(ctx, p, &r);
    }
}

/// Adds the integer held in `k` (already rounded) to the message polynomial of `ct`
/// (a constant in every slot of `k / scale`).
pub(crate) fn add_integer_raw<B: Backend>(eval: &Evaluator<B>, ct: &mut Ciphertext<B>, k: f64) {
    let params = eval.ckks().params();
    let ctx = params.ring();
    let r: Vec<u64> = (0..params.limbs_at(ct.level))
        .map(|i| ctx.modulus(i).reduce_f64(k))
        .collect();
    eval.ckks()
        .backend()
        .add_scalar_assign(ctx, &mut ct.parts[0], &r);
}

/// Drops `ct` to `level` (no-op when already there).
pub(crate) fn drop_to<B: Backend>(
    eval: &Evaluator<B>,
    ct: &Ciphertext<B>,
    level: usize,
) -> crate::Result<Ciphertext<B>> {
    let mut out = ct.clone();
    if out.level > level {
        let d = out.level - level;
        eval.drop_level_assign(&mut out, d)?;
    }
    Ok(out)
}

/// Precision in bits of `got` against `want`: `(-log2 max error, -log2 mean error)`.
pub fn precision_bits(
    got: &[num_complex::Complex64],
    want: &[num_complex::Complex64],
) -> (f64, f64) {
    let n = got.len().min(want.len()).max(1);
    let errs: Vec<f64> = got.iter().zip(want).map(|(g, w)| (g - w).norm()).collect();
    let max = errs.iter().cloned().fold(0.0, f64::max);
    let mean = errs.iter().sum::<f64>() / n as f64;
    (-max.log2(), -mean.log2())
}
