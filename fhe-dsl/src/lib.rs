//! # fhe-dsl
//!
//! Typed CKKS tensor programs. This crate holds the scheme (RNS-CKKS with hybrid key
//! switching), the [`Backend`](backend::Backend) trait every device implements, and — as
//! they land — circuits, typed ciphertexts, tensors and encrypted layers.
//!
//! Layers (dependencies point down only): `ckks` → `ring` → `math`, with `backend`
//! beside `ring` as the only door to bulk polynomial data.
//!
//! ```
//! use fhe_dsl::backend::reference::ReferenceBackend;
//! use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
//!
//! # fn main() -> Result<(), fhe_dsl::Error> {
//! // A small, insecure parameter set: fine for a doc test, refused by Params::new.
//! let params = Params::new_insecure_for_tests(ParamsLiteral::test_small())?;
//! let ckks = Ckks::new(params, ReferenceBackend);
//! let mut kg = ckks.key_generator();
//! let sk = kg.secret_key();
//! let pk = kg.public_key(&sk)?;
//! let evk = kg.evaluation_keys(&sk, &KeyRequest::new().relin().rotations([1]))?;
//! let eval = ckks.evaluator(&evk)?;
//!
//! let x: Vec<f64> = (0..8).map(|i| i as f64 / 8.0).collect();
//! let pt = ckks.encode_real(&x, ckks.params().max_level(), ckks.params().default_scale())?;
//! let ct = ckks.encryptor(&pk).encrypt(&pt)?;
//! let sq = eval.rescale_new(&eval.mul_relin_new(&ct, &ct)?)?;
//! let rot = eval.rotate_new(&sq, 1)?;
//! let out = ckks.decryptor(&sk).decrypt_real(&rot)?;
//! assert!((out[0] - x[1] * x[1]).abs() < 1e-6);
//! # Ok(()) }
//! ```

pub mod backend;
pub mod circuits;
pub mod ckks;
#[doc(hidden)]
pub mod conformance;
mod error;
pub mod math;
pub mod model;
pub mod nn;
pub mod ring;
pub mod tensor;
pub mod typed;
pub mod wire;

pub use error::{DeviceErrorKind, Error, Result};
/// The plan IR `model!` compiles models into (the `fhe-plan` crate).
pub use fhe_plan as plan;
