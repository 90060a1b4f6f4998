//! [`Ct<B, L, S>`]: a ciphertext whose level `L` and scale state `S` are in its type.

use super::bootstrap::Bootstrap;
use super::dynct::DynCt;
use super::level::{AtLeast, Is, KnownLevel, LevelBelow};
use super::Level;
use crate::backend::Backend;
use crate::ckks::{Ciphertext, Ckks, Decryptor, Encryptor, Evaluator};
use crate::error::{Error, Result};
use std::marker::PhantomData;

mod sealed {
    pub trait Sealed {}
}

/// Whether a ciphertext still owes a rescale: [`Fresh`] (scale ≈ Δ) or [`Owed`]
/// (scale ≈ Δ², after a multiplication), or is prepared for a square at a given level
/// ([`PreSquare`]). Sealed: only these exist.
///
/// ```
/// use fhe_dsl::typed::{Fresh, Owed, ScaleState};
/// assert!(!Fresh::OWES_RESCALE);
/// assert!(Owed::OWES_RESCALE);
/// ```
pub trait ScaleState: sealed::Sealed + Send + Sync + 'static {
    /// `true` for [`Owed`].
    const OWES_RESCALE: bool;
    /// "Fresh" or "Owed", for messages.
    const NAME: &'static str;
}

/// Scale state of a ciphertext that owes nothing: its scale is about Δ, and it can be
/// multiplied.
///
/// ```
/// use fhe_dsl::typed::{Fresh, ScaleState};
/// assert_eq!(Fresh::NAME, "Fresh");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fresh;

/// Scale state of a product that has not been rescaled yet (scale about Δ²): it can be
/// added to other `Owed` values at its level and must be
/// [`rescale`](Ct::rescale)d before the next multiplication.
///
/// ```
/// use fhe_dsl::typed::{Owed, ScaleState};
/// assert_eq!(Owed::NAME, "Owed");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owed;

/// Scale state of a value made to be squared at level `AT`: a linear layer gave it the
/// scale `√(s · q_AT)`, where `s` is the scale of the layer's input and `q_AT` what a
/// rescale at level `AT` divides by, so that squaring and rescaling lands exactly on `s`
/// again and the square costs one level, like every layer. Such values can be added to
/// each other and lowered to level `AT`; only
/// [`EncVector::square`](super::EncVector::square) consumes them. Made by
/// [`EncVector::pre_square`](super::EncVector::pre_square).
///
/// ```
/// use fhe_dsl::typed::{PreSquare, ScaleState};
/// assert_eq!(PreSquare::<3>::NAME, "PreSquare");
/// assert!(!PreSquare::<3>::OWES_RESCALE);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreSquare<const AT: usize>;

/// `S: SquareReady<L>` holds when a value in scale state `S` at level `L` can be squared
/// in one level: only [`PreSquare<L>`](PreSquare) (prepared for a square at exactly this
/// level). The bound on [`EncVector::square`](super::EncVector::square) carries the
/// message a newcomer needs when they square a value a plain layer produced.
///
/// ```
/// use fhe_dsl::typed::{PreSquare, SquareReady};
/// fn ready<S: SquareReady<2>>() {}
/// ready::<PreSquare<2>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`square` needs a value prepared for a square at its level {L}; this one is in scale state `{Self}`",
    label = "not prepared for a one-level square at level {L}",
    note = "make the value with a linear layer's `pre_square::<{L}, _, _>(&layer, ev)` instead of `conv`/`dense`/`linear`/`diagonal` (then it lands on the scale the square needs), and `mod_down` it to the level it was prepared for",
    note = "in `model!`, write `let a = square(v);` after a linear layer: the macro does this for you; `Poly(degree = 2)` squares any value for two levels"
)]
pub trait SquareReady<const L: usize>: ScaleState {}
impl<const L: usize> SquareReady<L> for PreSquare<L> {}

impl sealed::Sealed for Fresh {}
impl sealed::Sealed for Owed {}
impl<const AT: usize> sealed::Sealed for PreSquare<AT> {}
impl<const AT: usize> ScaleState for PreSquare<AT> {
    const OWES_RESCALE: bool = false;
    const NAME: &'static str = "PreSquare";
}
impl ScaleState for Fresh {
    const OWES_RESCALE: bool = false;
    const NAME: &'static str = "Fresh";
}
impl ScaleState for Owed {
    const OWES_RESCALE: bool = true;
    const NAME: &'static str = "Owed";
}

/// A CKKS ciphertext at level `L` in scale state `S` (default [`Fresh`]).
///
/// The runtime level of the wrapped [`Ciphertext`] always equals `L` (checked when
/// wrapping); the exact scale stays a runtime `f64` ([`scale`](Self::scale)), because
/// rescaling divides by a prime that differs per level. Operations that would run out of
/// levels, add values at different levels or mix scale states do not compile:
///
/// ```compile_fail
/// # use fhe_dsl::backend::reference::ReferenceBackend as B;
/// # use fhe_dsl::typed::Ct;
/// # fn f(a: Ct<B, 3>, b: Ct<B, 2>, ev: &fhe_dsl::ckks::Evaluator<B>) {
/// let _ = a.add(&b, ev); // error: levels and scale states must match
/// # }
/// ```
///
/// A full round trip:
///
/// ```
/// # use fhe_dsl::backend::reference::ReferenceBackend;
/// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
/// use fhe_dsl::typed::{Ct, Owed};
/// # fn main() -> fhe_dsl::Result<()> {
/// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, ReferenceBackend);
/// # let mut kg = ckks.key_generator();
/// # let sk = kg.secret_key();
/// # let pk = kg.public_key(&sk)?;
/// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new().relin())?)?;
/// # let (enc, dec) = (ckks.encryptor(&pk), ckks.decryptor(&sk));
/// let x: Ct<ReferenceBackend, 5> = Ct::encrypt(&ckks, &enc, &[0.5, -0.25])?;
/// let sq: Ct<ReferenceBackend, 5, Owed> = x.mul(&x, &ev)?;
/// let y: Ct<ReferenceBackend, 4> = sq.rescale(&ev)?;
/// let out = y.decrypt(&dec)?;
/// assert!((out[0] - 0.25).abs() < 1e-6 && (out[1] - 0.0625).abs() < 1e-6);
/// # Ok(()) }
/// ```
pub struct Ct<B: Backend, const L: usize, S: ScaleState = Fresh> {
    ct: Ciphertext<B>,
    _state: PhantomData<fn() -> S>,
}

impl<B: Backend, const L: usize, S: ScaleState> Clone for Ct<B, L, S> {
    fn clone(&self) -> Self {
        Ct::wrap(self.ct.clone())
    }
}

impl<B: Backend, const L: usize, S: ScaleState> std::fmt::Debug for Ct<B, L, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ct<level {L}, {}, scale 2^{:.3}, {} slots>",
            S::NAME,
            self.ct.scale().log2(),
            self.ct.slots()
        )
    }
}

/// `Self: AddCompatible<Rhs>` when both are the same typed container at the same level
/// in the same scale state: what [`Ct::add`] and
/// [`EncVector::add`](super::EncVector::add) require.
///
/// ```
/// use fhe_dsl::backend::reference::ReferenceBackend as B;
/// use fhe_dsl::typed::{AddCompatible, Ct};
/// fn ok<T: AddCompatible<U>, U>() {}
/// ok::<Ct<B, 3>, Ct<B, 3>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "cannot add `{Rhs}` to `{Self}`: levels and scale states must match",
    label = "this operand's level or scale state differs",
    note = "lower the higher operand with `.mod_down::<M>()`, and `.rescale()` an `Owed` operand first"
)]
pub trait AddCompatible<Rhs> {
    /// The right-hand side's ciphertext.
    fn rhs_ciphertext(rhs: &Rhs) -> &Ciphertext<Self::B>;
    /// The backend.
    type B: Backend;
}

impl<B: Backend, const L: usize, S: ScaleState> AddCompatible<Ct<B, L, S>> for Ct<B, L, S> {
    fn rhs_ciphertext(rhs: &Ct<B, L, S>) -> &Ciphertext<B> {
        &rhs.ct
    }
    type B = B;
}

impl<B: Backend, const L: usize, S: ScaleState> Ct<B, L, S> {
    pub(crate) fn wrap(ct: Ciphertext<B>) -> Self {
        debug_assert_eq!(ct.level(), L);
        Ct {
            ct,
            _state: PhantomData,
        }
    }

    /// Wraps a ciphertext, checking that its runtime level is `L` and that it is
    /// relinearised. The scale state cannot be observed at run time: the caller vouches
    /// for `S`.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// use fhe_dsl::typed::Ct;
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let enc = ckks.encryptor(&kg.public_key(&sk)?);
    /// let raw = enc.encrypt(&ckks.encode_real(&[1.0], 3, ckks.params().default_scale())?)?;
    /// assert!(Ct::<B, 3>::try_from_ciphertext(raw.clone()).is_ok());
    /// let err = Ct::<B, 4>::try_from_ciphertext(raw).unwrap_err();
    /// assert_eq!(err.to_string(), "level mismatch: typed ciphertext needs equal levels, got 4 and 3");
    /// # Ok(()) }
    /// ```
    pub fn try_from_ciphertext(ct: Ciphertext<B>) -> Result<Self>
    where
        Level<L>: KnownLevel,
    {
        if ct.level() != L {
            return Err(Error::LevelMismatch {
                op: "typed ciphertext",
                left: L,
                right: ct.level(),
            });
        }
        if ct.degree() != 1 {
            return Err(Error::Degree {
                op: "typed ciphertext",
                expected: 1,
                found: ct.degree(),
            });
        }
        Ok(Self::wrap(ct))
    }

    /// The level, `L`.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # fn f(x: fhe_dsl::typed::Ct<B, 3>) { assert_eq!(x.level(), 3); }
    /// ```
    pub const fn level(&self) -> usize {
        L
    }

    /// The exact scale (runtime).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # fn f(x: fhe_dsl::typed::Ct<B, 3>) { assert!(x.scale() > 1.0); }
    /// ```
    pub fn scale(&self) -> f64 {
        self.ct.scale()
    }

    /// The wrapped ciphertext.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # fn f(x: fhe_dsl::typed::Ct<B, 3>) { assert_eq!(x.ciphertext().level(), 3); }
    /// ```
    pub fn ciphertext(&self) -> &Ciphertext<B> {
        &self.ct
    }

    /// Unwraps into the runtime ciphertext.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # fn f(x: fhe_dsl::typed::Ct<B, 3>) { let raw = x.into_ciphertext(); assert_eq!(raw.level(), 3); }
    /// ```
    pub fn into_ciphertext(self) -> Ciphertext<B> {
        self.ct
    }

    /// Leaves the typed world for the runtime-checked [`DynCt`] (for data-dependent
    /// depth); come back with [`DynCt::into_typed`].
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # fn f(x: fhe_dsl::typed::Ct<B, 3>) { let d = x.into_dyn(); assert_eq!(d.level(), 3); }
    /// ```
    pub fn into_dyn(self) -> DynCt<B> {
        DynCt::from_parts(self.ct, S::OWES_RESCALE)
    }

    /// Decrypts and decodes the real parts of the slots.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// let x = fhe_dsl::typed::Ct::<B, 2>::encrypt(&ckks, &enc, &[0.75])?;
    /// assert!((x.decrypt(&dec)?[0] - 0.75).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn decrypt(&self, dec: &Decryptor<B>) -> Result<Vec<f64>> {
        dec.decrypt_real(&self.ct)
    }

    /// `self + rhs`; both must have the same type (level and scale state). The exact
    /// scales are checked at run time ([`Error::ScaleMismatch`]).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new())?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// use fhe_dsl::typed::Ct;
    /// let a = Ct::<B, 3>::encrypt(&ckks, &enc, &[0.5])?;
    /// let b = Ct::<B, 3>::encrypt(&ckks, &enc, &[0.25])?;
    /// assert!((a.add(&b, &ev)?.decrypt(&dec)?[0] - 0.75).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn add<R>(&self, rhs: &R, ev: &Evaluator<B>) -> Result<Self>
    where
        Self: AddCompatible<R, B = B>,
    {
        Ok(Self::wrap(ev.add_new(&self.ct, Self::rhs_ciphertext(rhs))?))
    }

    /// `self - rhs`, same rules as [`add`](Self::add).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new())?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// use fhe_dsl::typed::Ct;
    /// let a = Ct::<B, 3>::encrypt(&ckks, &enc, &[0.5])?;
    /// let b = Ct::<B, 3>::encrypt(&ckks, &enc, &[0.25])?;
    /// assert!((a.sub(&b, &ev)?.decrypt(&dec)?[0] - 0.25).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn sub<R>(&self, rhs: &R, ev: &Evaluator<B>) -> Result<Self>
    where
        Self: AddCompatible<R, B = B>,
    {
        Ok(Self::wrap(ev.sub_new(&self.ct, Self::rhs_ciphertext(rhs))?))
    }

    /// `self + c` for a real constant (no level spent).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new())?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// let a = fhe_dsl::typed::Ct::<B, 1>::encrypt(&ckks, &enc, &[0.5])?;
    /// assert!((a.add_const(2.0, &ev)?.decrypt(&dec)?[0] - 2.5).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn add_const(&self, c: f64, ev: &Evaluator<B>) -> Result<Self> {
        let mut out = self.ct.clone();
        ev.add_const_assign(&mut out, c)?;
        Ok(Self::wrap(out))
    }

    /// Rotates the slots left by `step` (negative: right); needs the rotation key.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new().rotations([1]))?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// let a = fhe_dsl::typed::Ct::<B, 2>::encrypt(&ckks, &enc, &[1.0, 2.0, 3.0, 4.0])?;
    /// let r = a.rotate(1, &ev)?.decrypt(&dec)?;
    /// assert!((r[0] - 2.0).abs() < 1e-5 && (r[3] - 1.0).abs() < 1e-5);
    /// # Ok(()) }
    /// ```
    pub fn rotate(&self, step: i64, ev: &Evaluator<B>) -> Result<Self> {
        Ok(Self::wrap(ev.rotate_new(&self.ct, step)?))
    }

    /// Lowers the level to `M ≤ L` without dividing (the scale is unchanged): aligns two
    /// operands before an [`add`](Self::add).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new())?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// use fhe_dsl::typed::Ct;
    /// let hi = Ct::<B, 4>::encrypt(&ckks, &enc, &[0.5])?;
    /// let lo = Ct::<B, 2>::encrypt(&ckks, &enc, &[0.25])?;
    /// let sum: Ct<B, 2> = hi.mod_down::<2>(&ev)?.add(&lo, &ev)?;
    /// assert!((sum.decrypt(&dec)?[0] - 0.75).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn mod_down<const M: usize>(&self, ev: &Evaluator<B>) -> Result<Ct<B, M, S>>
    where
        Level<L>: AtLeast<M>,
    {
        let mut out = self.ct.clone();
        ev.drop_level_assign(&mut out, L - M)?;
        Ok(Ct::wrap(out))
    }
}

impl<B: Backend, const L: usize> Ct<B, L, Fresh> {
    /// Encodes real values (padded to a power-of-two slot count) at level `L` and the
    /// default scale Δ, and encrypts them.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let enc = ckks.encryptor(&kg.public_key(&sk)?);
    /// let x = fhe_dsl::typed::Ct::<B, 5>::encrypt(&ckks, &enc, &[1.0, 2.0])?;
    /// assert_eq!(x.ciphertext().level(), 5);
    /// // a level the parameters do not have is an error, not a panic
    /// assert!(fhe_dsl::typed::Ct::<B, 9>::encrypt(&ckks, &enc, &[1.0]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn encrypt(ckks: &Ckks<B>, enc: &Encryptor<B>, values: &[f64]) -> Result<Self>
    where
        Level<L>: KnownLevel,
    {
        let top = ckks.params().max_level();
        if L > top {
            return Err(Error::InvalidInput(format!(
                "cannot encrypt at level {L}: these parameters offer levels 0..={top} \
                 (lower the model's `input_level` to at most {top}, or choose parameters with \
                 more primes)"
            )));
        }
        let pt = ckks.encode_real(values, L, ckks.params().default_scale())?;
        Self::try_from_ciphertext(enc.encrypt(&pt)?)
    }

    /// `self · rhs`, relinearised; the result owes a rescale. Needs `L ≥ 1` (at level 0
    /// there is no prime left to rescale by).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new().relin())?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// use fhe_dsl::typed::{Ct, Owed};
    /// let a = Ct::<B, 1>::encrypt(&ckks, &enc, &[0.5])?;
    /// let p: Ct<B, 1, Owed> = a.mul(&a, &ev)?;
    /// let q: Ct<B, 0> = p.rescale(&ev)?;
    /// assert!((q.decrypt(&dec)?[0] - 0.25).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    /// ```compile_fail
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # fn f(a: fhe_dsl::typed::Ct<B, 0>, ev: &fhe_dsl::ckks::Evaluator<B>) {
    /// let _ = a.mul(&a, ev); // error: no levels left at level 0: bootstrap first
    /// # }
    /// ```
    pub fn mul<P>(&self, rhs: &Ct<B, L, Fresh>, ev: &Evaluator<B>) -> Result<Ct<B, L, Owed>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        Ok(Ct::wrap(ev.mul_relin_new(&self.ct, &rhs.ct)?))
    }

    /// `self · c` for a real constant; the result owes a rescale, after which the scale is
    /// exactly the input's (the constant is encoded at the prime the rescale divides by).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new())?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// let a = fhe_dsl::typed::Ct::<B, 2>::encrypt(&ckks, &enc, &[0.5])?;
    /// let b = a.mul_const(-3.0, &ev)?.rescale(&ev)?;
    /// assert!((b.decrypt(&dec)?[0] + 1.5).abs() < 1e-6);
    /// assert!(fhe_dsl::ckks::scales_match(a.scale(), b.scale()));
    /// # Ok(()) }
    /// ```
    pub fn mul_const<P>(&self, c: f64, ev: &Evaluator<B>) -> Result<Ct<B, L, Owed>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        let mut out = self.ct.clone();
        ev.mul_const_assign(&mut out, c)?;
        Ok(Ct::wrap(out))
    }

    /// Element-wise product with plaintext values (encoded at this level and at the
    /// prime the next rescale divides by, so the rescaled scale equals the input's).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new())?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// let a = fhe_dsl::typed::Ct::<B, 2>::encrypt(&ckks, &enc, &[0.5, 1.0])?;
    /// let b = a.mul_plain(&[2.0, -1.0], &ev)?.rescale(&ev)?.decrypt(&dec)?;
    /// assert!((b[0] - 1.0).abs() < 1e-6 && (b[1] + 1.0).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn mul_plain<P>(&self, values: &[f64], ev: &Evaluator<B>) -> Result<Ct<B, L, Owed>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        Ok(Ct::wrap(super::ops::mul_plain_values(
            ev, &self.ct, values,
        )?))
    }

    /// Bootstraps through `bt` (see [`Bootstrap`]): the result is at the bootstrapper's
    /// output level `OUT`, whatever `L` was. The runtime level of the result is checked.
    ///
    /// ```
    /// # use fhe_dsl::backend::{Backend, reference::ReferenceBackend as B};
    /// # use fhe_dsl::ckks::{Ciphertext, Ckks, KeyRequest, Params, ParamsLiteral};
    /// use fhe_dsl::typed::{Bootstrap, Ct};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// // TEST DOUBLE ONLY: decrypts and re-encrypts, so it holds the secret key. A real
    /// // server uses a bootstrapper from `fhe_dsl::circuits`.
    /// struct DecryptReencryptTestDouble<'a> {
    ///     ckks: &'a Ckks<B>,
    ///     enc: &'a fhe_dsl::ckks::Encryptor<B>,
    ///     dec: &'a fhe_dsl::ckks::Decryptor<B>,
    /// }
    /// impl Bootstrap<B, 5> for DecryptReencryptTestDouble<'_> {
    ///     fn bootstrap(&self, ct: &Ciphertext<B>) -> fhe_dsl::Result<Ciphertext<B>> {
    ///         let v = self.dec.decrypt_complex(ct)?;
    ///         let pt = self.ckks.encode(&v, 5, ct.scale())?;
    ///         self.enc.encrypt(&pt)
    ///     }
    /// }
    /// let bt = DecryptReencryptTestDouble { ckks: &ckks, enc: &enc, dec: &dec };
    /// let x = Ct::<B, 0>::encrypt(&ckks, &enc, &[0.5])?;
    /// let y: Ct<B, 5> = x.bootstrap(&bt)?;
    /// assert!((y.decrypt(&dec)?[0] - 0.5).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn bootstrap<const OUT: usize, T>(&self, bt: &T) -> Result<Ct<B, OUT, Fresh>>
    where
        T: Bootstrap<B, OUT> + ?Sized,
        Level<OUT>: KnownLevel,
    {
        let out = bt.bootstrap(&self.ct)?;
        if out.level() != OUT {
            return Err(Error::LevelMismatch {
                op: "bootstrap output (declared vs produced)",
                left: OUT,
                right: out.level(),
            });
        }
        Ct::try_from_ciphertext(out)
    }
}

impl<B: Backend, const L: usize> Ct<B, L, Owed> {
    /// Divides by the level's prime(s): level `L → L − 1`, scale Δ² → Δ. At level 0 it
    /// does not compile ("no levels left at level 0: bootstrap first").
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new().relin())?)?;
    /// # let enc = ckks.encryptor(&kg.public_key(&sk)?);
    /// use fhe_dsl::typed::Ct;
    /// let a = Ct::<B, 3>::encrypt(&ckks, &enc, &[0.5])?;
    /// let b: Ct<B, 2> = a.mul(&a, &ev)?.rescale(&ev)?;
    /// # let _ = b;
    /// # Ok(()) }
    /// ```
    pub fn rescale<P>(&self, ev: &Evaluator<B>) -> Result<<P::Below as KnownLevel>::Ct<B, Fresh>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        let out = ev.rescale_new(&self.ct)?;
        P::Below::wrap_ct(out)
    }
}

impl<B: Backend, const L: usize, S: ScaleState> Ct<B, L, S> {
    /// Wraps a ciphertext whose level the types already fix (still checked: an error,
    /// not a panic, if a backend or bootstrapper broke the invariant).
    pub(crate) fn from_checked(ct: Ciphertext<B>) -> Result<Self> {
        if ct.level() != L {
            return Err(Error::LevelMismatch {
                op: "typed ciphertext",
                left: L,
                right: ct.level(),
            });
        }
        Ok(Self::wrap(ct))
    }
}
