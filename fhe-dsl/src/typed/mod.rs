//! Level- and scale-typed ciphertexts: the part of fhe-dsl that makes a program that
//! runs out of levels, or mixes scales, fail to compile.
//!
//! - [`Ct<B, L, S>`](Ct): a ciphertext at level `L` (a const generic) in scale state `S`
//!   ([`Fresh`]: scale ≈ Δ; [`Owed`]: a product that owes a rescale, scale ≈ Δ²;
//!   [`PreSquare<AT>`](PreSquare): made by a linear layer for a one-level square at
//!   level `AT`). The exact scale stays a runtime `f64`.
//! - [`EncVector<B, N, L, S>`](EncVector): `N` packed values with their level in the
//!   type, and the layers that act on them ([`Dense`], [`Diagonal`], [`Poly`], [`Conv`],
//!   a 2-D convolution between packed tensor layouts, [`Linear`], any packed linear map
//!   with a per-slot bias, and [`SpatialSum`], global pooling).
//! - [`Observer`]: how `model!`'s `forward_observed` reports each step (timings,
//!   progress, decrypted intermediates for diagnostics).
//! - [`Bootstrap<B, OUT>`](Bootstrap): how a bootstrapper is called; the result is at
//!   level `OUT`.
//! - [`DynCt`]: the runtime-checked escape hatch for data-dependent depth.
//! - [`RangeLimits`] and [`RangeCheck`]: the value ranges a model may reach at each
//!   step, checked in the clear before encryption (`model!`'s `check_ranges`).
//!
//! | operation | types |
//! |---|---|
//! | `mul`, `mul_const`, `mul_plain` | `Ct<L, Fresh> → Ct<L, Owed>`, needs `L ≥ 1` |
//! | `rescale` | `Ct<L, Owed> → Ct<L−1, Fresh>`, needs `L ≥ 1` |
//! | `add`, `sub` | `Ct<L, S> × Ct<L, S> → Ct<L, S>` |
//! | `mod_down::<M>` | `Ct<L, S> → Ct<M, S>`, needs `M ≤ L` |
//! | `bootstrap` | `Ct<L, Fresh> → Ct<OUT, Fresh>` |
//! | `dense`, `diagonal`, `conv`, `linear` | `EncVector<N, L> → EncVector<N, L−1>` |
//! | `pre_square::<AT>(&layer)` | `EncVector<N, L> → EncVector<N, L−1, PreSquare<AT>>`, `AT ≤ L−1` |
//! | `square` | `EncVector<N, L, PreSquare<L>> → EncVector<N, L−1>` |
//! | `spatial_sum` | `EncVector<N, L, S> → EncVector<N, L, S>` |
//! | `poly(&Poly<K>)` | `EncVector<N, L> → EncVector<N, L−K>` |
//!
//! Scales: plaintext products ([`Ct::mul_const`], [`Ct::mul_plain`], the layers) encode
//! their constants at the prime the next rescale divides by, so the scale after the
//! rescale equals the input's exactly and results stay addable; [`Poly`] lands every term
//! at its input's scale; a square returns to the scale its
//! [`pre_square`](EncVector::pre_square) layer read (see [`PreSquare`] for why a square
//! needs its producer's help). A ciphertext product has scale Δ²/q after its rescale, so
//! adding it to a Δ value is a runtime [`Error::ScaleMismatch`](crate::Error::ScaleMismatch).
//!
//! Level arithmetic is done by trait tables ([`LevelBelow`], [`Spend`], [`AtLeast`])
//! generated for levels `0..=`[`MAX_LEVEL`], each with a
//! `#[diagnostic::on_unimplemented]` message, so errors appear under `cargo check` and in
//! rust-analyzer. A `const { assert!(..) }` inside a generic function would not: it is
//! evaluated only after monomorphization, which `cargo check` does not reach (measured
//! with rustc 1.95: `cargo check` passes, `cargo build` fails with E0080).
//!
//! ```
//! # use fhe_dsl::backend::reference::ReferenceBackend as B;
//! # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
//! use fhe_dsl::typed::{Ct, Owed};
//! # fn main() -> fhe_dsl::Result<()> {
//! # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
//! # let mut kg = ckks.key_generator();
//! # let sk = kg.secret_key();
//! # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new().relin())?)?;
//! # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
//! let x = Ct::<B, 2>::encrypt(&ckks, &enc, &[0.5])?;
//! let x2: Ct<B, 2, Owed> = x.mul(&x, &ev)?;              // owes a rescale
//! let x2: Ct<B, 1> = x2.rescale(&ev)?;                   // level 2 → 1
//! let wx: Ct<B, 1> = x.mul_plain(&[3.0], &ev)?.rescale(&ev)?;
//! let x1: Ct<B, 1> = x.mod_down::<1>(&ev)?;              // align x with 3x
//! let y = wx.add(&x1, &ev)?;                             // 3x + x at level 1
//! assert!((y.decrypt(&dec)?[0] - 2.0).abs() < 1e-6);
//! // x² has scale Δ²/q₂, not Δ: the exact scale is runtime data, checked at run time
//! assert!(x2.add(&x1, &ev).is_err());
//! # Ok(()) }
//! ```
//!
//! Out of levels, caught by the compiler:
//!
//! ```compile_fail
//! # use fhe_dsl::backend::reference::ReferenceBackend as B;
//! # use fhe_dsl::typed::Ct;
//! # fn f(x: Ct<B, 1>, ev: &fhe_dsl::ckks::Evaluator<B>) -> fhe_dsl::Result<()> {
//! let y: Ct<B, 0> = x.mul(&x, ev)?.rescale(ev)?;
//! let z = y.mul(&y, ev)?; // error: no levels left at level 0: bootstrap first
//! # Ok(()) }
//! ```

mod bootstrap;
mod bounds;
mod conv;
mod ct;
mod dynct;
mod layers;
mod level;
mod ops;
pub mod plain;
mod range;
mod vector;

pub use bootstrap::{Bootstrap, LeveledBootstrapper};
pub use bounds::{Bounds, IntervalLayer, ROUNDING_MARGIN};
pub use conv::Conv;
pub use ct::{AddCompatible, Ct, Fresh, Owed, PreSquare, ScaleState, SquareReady};
pub use dynct::DynCt;
pub use layers::{observe, Linear, LinearLayer, Observer, SpatialSum, StepInfo};
pub use level::{levels_for_degree, AtLeast, Is, KnownLevel, Level, LevelBelow, Spend, MAX_LEVEL};
pub use range::{
    check_model_params, step_result, RangeCheck, RangeLimits, StepRange, BOOTSTRAP_INPUT_BOUND,
};
pub use vector::{Dense, Diagonal, EncVector, Poly};
