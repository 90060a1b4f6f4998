//! The [`Bootstrap`] trait: how the typed DSL calls a bootstrapper.

use crate::backend::Backend;
use crate::ckks::Ciphertext;
use crate::error::Result;

/// A bootstrapper whose output is at level `OUT`: it refreshes a ciphertext at any level
/// (its scale state must be [`Fresh`](super::Fresh)) to one at level `OUT` carrying the
/// same message.
///
/// The output level is a *const parameter* of the trait rather than only an associated
/// constant because stable Rust cannot use `T::OUTPUT_LEVEL` as a const argument
/// (`Ct<B, { T::OUTPUT_LEVEL }>` needs `generic_const_exprs`). With one impl per type the
/// compiler infers `OUT` from the bootstrapper, so `x.bootstrap(&bt)` needs no turbofish.
/// [`OUTPUT_LEVEL`](Self::OUTPUT_LEVEL) repeats it for generic code and reports.
///
/// The typed wrappers check that the returned ciphertext is really at level `OUT`.
///
/// ```
/// use fhe_dsl::backend::Backend;
/// use fhe_dsl::ckks::Ciphertext;
/// use fhe_dsl::typed::Bootstrap;
///
/// /// A stand-in that refuses to run: shows the shape of an implementation.
/// struct NotYet;
/// impl<B: Backend> Bootstrap<B, 12> for NotYet {
///     fn bootstrap(&self, ct: &Ciphertext<B>) -> fhe_dsl::Result<Ciphertext<B>> {
///         Err(fhe_dsl::Error::InvalidInput(format!("no bootstrapper yet (level {})", ct.level())))
///     }
/// }
/// assert_eq!(<NotYet as Bootstrap<fhe_dsl::backend::reference::ReferenceBackend, 12>>::OUTPUT_LEVEL, 12);
/// ```
pub trait Bootstrap<B: Backend, const OUT: usize> {
    /// The level of every ciphertext [`bootstrap`](Self::bootstrap) returns.
    const OUTPUT_LEVEL: usize = OUT;

    /// Refreshes `ct` (relinearised, not owing a rescale) to level `OUT`.
    fn bootstrap(&self, ct: &Ciphertext<B>) -> Result<Ciphertext<B>>;
}

/// A [`Bootstrapper`](crate::circuits::bootstrap::Bootstrapper) viewed at a type-level
/// output level: the runtime output level is checked once, when the view is made, so the
/// typed DSL can use the real bootstrapper wherever it expects a [`Bootstrap`].
pub struct LeveledBootstrapper<'a, B: Backend, const OUT: usize> {
    inner: &'a crate::circuits::bootstrap::Bootstrapper<B>,
}

impl<'a, B: Backend, const OUT: usize> LeveledBootstrapper<'a, B, OUT> {
    /// Wraps `bs`; an error naming both levels if its output level is not `OUT`.
    pub fn new(bs: &'a crate::circuits::bootstrap::Bootstrapper<B>) -> Result<Self> {
        if bs.output_level() != OUT {
            return Err(crate::Error::InvalidParams(format!(
                "this bootstrapper returns level {}, the typed code expects level {OUT} (a \
                 model's `bootstrap_level`): set it to {} (a model's `check_params` reports \
                 this before key generation)",
                bs.output_level(),
                bs.output_level()
            )));
        }
        Ok(LeveledBootstrapper { inner: bs })
    }
}

impl<B: Backend, const OUT: usize> Bootstrap<B, OUT> for LeveledBootstrapper<'_, B, OUT> {
    fn bootstrap(&self, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        self.inner.bootstrap(ct)
    }
}
