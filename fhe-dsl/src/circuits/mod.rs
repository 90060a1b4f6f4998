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
    BootstrapConfig, BootstrapPreset, BootstrapTimings, Bootstrapper, BootstrappingKeys,
    EncapsulationKey, TransformStorage,
};
pub use linear::{EncodedLinearTransform, LinearTransform};
pub use polynomial::{evaluate_chebyshev, evaluate_chebyshev_unit, ChebyshevPoly};

use crate::backend::Backend;
use crate::ckks::{Ciphertext, Evaluator};

/// The integer held (already rounded) in `k` modulo each prime of `level`.
fn integer_residues<B: Backend>(eval: &Evaluator<B>, level: usize, k: f64) -> Vec<u64> {
    let params = eval.ckks().params();
    (0..params.limbs_at(level))
        .map(|i| params.ring().modulus(i).reduce_f64(k))
        .collect()
}

/// Multiplies every part of `ct` by the integer held (already rounded) in `k`, which
/// may be large or negative. The scale is left untouched: the caller accounts for the
/// factor in its scale bookkeeping.
pub(crate) fn mul_integer_raw<B: Backend>(
    eval: &Evaluator<B>,
    ct: &mut Ciphertext<B>,
    k: f64,
) -> crate::Result<()> {
    let ctx = eval.ckks().params().ring();
    let r = integer_residues(eval, ct.level, k);
    for p in &mut ct.parts {
        eval.ckks().backend().mul_scalar_assign(ctx, p, &r)?;
    }
    Ok(())
}

/// `acc += k · ct` part by part over `acc`'s level (`ct` at that level or above, same
/// degree), for the integer held (already rounded) in `k`; scales are the caller's.
pub(crate) fn mul_integer_add_raw<B: Backend>(
    eval: &Evaluator<B>,
    acc: &mut Ciphertext<B>,
    ct: &Ciphertext<B>,
    k: f64,
) -> crate::Result<()> {
    if ct.level < acc.level || ct.parts.len() != acc.parts.len() {
        return Err(crate::Error::LevelMismatch {
            op: "multiply-accumulate by an integer",
            left: acc.level,
            right: ct.level,
        });
    }
    let ctx = eval.ckks().params().ring();
    let r = integer_residues(eval, acc.level, k);
    for (a, p) in acc.parts.iter_mut().zip(&ct.parts) {
        eval.ckks().backend().mul_scalar_add_assign(ctx, a, p, &r)?;
    }
    Ok(())
}

/// Adds the integer held in `k` (already rounded) to the message polynomial of `ct`
/// (a constant in every slot of `k / scale`).
pub(crate) fn add_integer_raw<B: Backend>(
    eval: &Evaluator<B>,
    ct: &mut Ciphertext<B>,
    k: f64,
) -> crate::Result<()> {
    let ctx = eval.ckks().params().ring();
    let r = integer_residues(eval, ct.level, k);
    eval.ckks()
        .backend()
        .add_scalar_assign(ctx, &mut ct.parts[0], &r)
}

/// Drops `ct` to `level` (no-op when already there).
pub(crate) fn drop_to<B: Backend>(
    eval: &Evaluator<B>,
    ct: &Ciphertext<B>,
    level: usize,
) -> crate::Result<Ciphertext<B>> {
    if ct.level <= level {
        return Ok(ct.clone());
    }
    // copy only the limbs that stay
    let params = eval.ckks().params();
    let primes = params.q_primes_at(level);
    let be = eval.ckks().backend();
    let parts = ct
        .parts
        .iter()
        .map(|p| be.select(params.ring(), p, &primes))
        .collect::<crate::Result<_>>()?;
    Ok(Ciphertext {
        parts,
        level,
        scale: ct.scale,
        slots: ct.slots,
    })
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
