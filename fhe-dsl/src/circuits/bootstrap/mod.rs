//! CKKS bootstrapping: ModRaise, CoeffToSlot, EvalMod, SlotToCoeff, with sparse-secret
//! encapsulation.
//!
//! Pipeline for `n` slots (`n ≤ N/2`), input at any level with scale Δ:
//!
//! 1. drop to level 0 and multiply by the integer `k = ⌊q0 / (R·Δ)⌋` so that the message
//!    occupies `1/R` of `q0` (`R = 2^log_message_ratio`);
//! 2. **encapsulation** (Bossuat et al. 2022): key-switch at level 0 from the dense main
//!    secret `s` to an ephemeral sparse secret `s'` (Hamming weight `h`) with a key that
//!    lives only modulo `q0·p` (one special prime), so the sparse secret is only ever
//!    exposed at a small modulus;
//! 3. **ModRaise** to the top level: the raw message becomes `t = Δm + e + q0·I` with
//!    `|I| ≤ K` small because `s'` is sparse; switch back from `s'` to `s` with a
//!    regular (dense-secret, full-modulus) switching key;
//! 4. for sparse slots, a trace (`log2(N/2n)` rotations) keeps the coefficients of `Y = X^{N/2n}`;
//! 5. **CoeffToSlot**: the inverse special FFT as `cts_levels` BSGS transforms (the
//!    butterfly layers merged per level); the bit reversal cancels against SlotToCoeff;
//! 6. conjugation splits real and imaginary parts (full slots: two ciphertexts; sparse
//!    slots: both packed into `2n` slots of one ciphertext);
//! 7. **EvalMod**: `sin(2π x)/(2π)` as a Chebyshev interpolant on `[−K−½, K+½]`,
//!    evaluated with target scales so the result carries `m` at the default scale;
//! 8. **SlotToCoeff**: the special FFT as `stc_levels` BSGS transforms.
//!
//! The rotation keys all this needs are derived by [`BootstrapConfig::rotations`], and
//! [`BootstrappingKeys::generate`] produces every key. A debug path
//! ([`Bootstrapper::with_range_check`]) decrypts the raised ciphertext and refuses inputs
//! whose `I` or message leaves the range the EvalMod polynomial was fitted for.
//!
//! The code is laid out after Lattigo's split of bootstrapping into its own `dft` and
//! `mod1` packages: `config` (the configuration and the presets), `mod1` (fitting the
//! EvalMod polynomials), `dft` (the special-FFT factors of CoeffToSlot/SlotToCoeff and
//! how they are stored), `keys` (the encapsulation and bootstrapping keys) and
//! `bootstrapper` (the pipeline above). Everything public is re-exported here.

mod bootstrapper;
mod config;
mod dft;
mod keys;
mod mod1;

pub use bootstrapper::{BootstrapTimings, Bootstrapper};
pub use config::{BootstrapConfig, BootstrapPreset};
pub use dft::TransformStorage;
pub use keys::{BootstrappingKeys, EncapsulationKey};
