//! [`DynCt`]: the runtime-checked escape hatch for programs whose depth depends on data.

use super::bootstrap::Bootstrap;
use super::ct::{Ct, Fresh, Owed};
use super::level::KnownLevel;
use super::{ops, Level};
use crate::backend::Backend;
use crate::ckks::{Ciphertext, Evaluator};
use crate::error::{Error, Result};

/// A ciphertext whose level and scale state are checked at run time, for loops whose
/// depth the types cannot know (an iteration count read from input, a convergence test).
/// Every operation returns an error that says what was expected and what was found;
/// [`into_typed`](Self::into_typed) re-enters the typed world.
///
/// ```
/// # use fhe_dsl::backend::reference::ReferenceBackend as B;
/// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
/// use fhe_dsl::typed::{Ct, DynCt};
/// # fn main() -> fhe_dsl::Result<()> {
/// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
/// # let mut kg = ckks.key_generator();
/// # let sk = kg.secret_key();
/// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new().relin())?)?;
/// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
/// let rounds = 3; // known only at run time
/// let mut x: DynCt<B> = Ct::<B, 5>::encrypt(&ckks, &enc, &[0.9])?.into_dyn();
/// for _ in 0..rounds {
///     x = x.mul(&x, &ev)?.rescale(&ev)?; // x ← x²
/// }
/// let back: Ct<B, 2> = x.into_typed()?;
/// assert!((back.decrypt(&dec)?[0] - 0.9f64.powi(8)).abs() < 1e-5);
///
/// // too many rounds: a clear error, not a panic
/// let mut y = Ct::<B, 1>::encrypt(&ckks, &enc, &[0.9])?.into_dyn();
/// y = y.mul(&y, &ev)?.rescale(&ev)?;
/// let err = y.mul(&y, &ev).unwrap_err();
/// assert_eq!(err.to_string(), "mul needs level ≥ 1, ciphertext is at level 0");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DynCt<B: Backend> {
    ct: Ciphertext<B>,
    owes_rescale: bool,
}

impl<B: Backend> DynCt<B> {
    pub(crate) fn from_parts(ct: Ciphertext<B>, owes_rescale: bool) -> Self {
        DynCt { ct, owes_rescale }
    }

    /// Wraps a runtime ciphertext; `owes_rescale` says whether it is a product not yet
    /// rescaled (the caller vouches).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let enc = ckks.encryptor(&kg.public_key(&sk)?);
    /// let raw = enc.encrypt(&ckks.encode_real(&[1.0], 4, ckks.params().default_scale())?)?;
    /// let d = fhe_dsl::typed::DynCt::new(raw, false);
    /// assert_eq!((d.level(), d.owes_rescale()), (4, false));
    /// # Ok(()) }
    /// ```
    pub fn new(ct: Ciphertext<B>, owes_rescale: bool) -> Self {
        Self::from_parts(ct, owes_rescale)
    }

    /// The runtime level.
    ///
    /// ```
    /// # fn f(d: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>) { let _: usize = d.level(); }
    /// ```
    pub fn level(&self) -> usize {
        self.ct.level()
    }

    /// The exact scale.
    ///
    /// ```
    /// # fn f(d: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>) { assert!(d.scale() > 0.0); }
    /// ```
    pub fn scale(&self) -> f64 {
        self.ct.scale()
    }

    /// Whether the value still owes a rescale.
    ///
    /// ```
    /// # fn f(d: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>) { let _: bool = d.owes_rescale(); }
    /// ```
    pub fn owes_rescale(&self) -> bool {
        self.owes_rescale
    }

    /// The wrapped ciphertext.
    ///
    /// ```
    /// # fn f(d: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>) { assert_eq!(d.ciphertext().level(), d.level()); }
    /// ```
    pub fn ciphertext(&self) -> &Ciphertext<B> {
        &self.ct
    }

    fn same_state(&self, op: &'static str, rhs: &DynCt<B>) -> Result<()> {
        if self.owes_rescale != rhs.owes_rescale {
            let s = |o: bool| if o { "owes a rescale" } else { "does not" };
            return Err(Error::InvalidInput(format!(
                "{op}: scale states differ: left {} (scale 2^{:.2}), right {} (scale 2^{:.2}); \
                 rescale the owing operand first",
                s(self.owes_rescale),
                self.scale().log2(),
                s(rhs.owes_rescale),
                rhs.scale().log2()
            )));
        }
        Ok(())
    }

    fn fresh(&self, op: &'static str) -> Result<()> {
        if self.owes_rescale {
            return Err(Error::InvalidInput(format!(
                "{op} needs a value that owes no rescale, got one at scale 2^{:.2}: rescale it first",
                self.scale().log2()
            )));
        }
        Ok(())
    }

    /// `self + rhs`: equal levels, equal scale states, equal scales.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new())?)?;
    /// # let enc = ckks.encryptor(&kg.public_key(&sk)?);
    /// use fhe_dsl::typed::Ct;
    /// let a = Ct::<B, 3>::encrypt(&ckks, &enc, &[0.5])?.into_dyn();
    /// let b = Ct::<B, 2>::encrypt(&ckks, &enc, &[0.5])?.into_dyn();
    /// assert_eq!(a.add(&b, &ev).unwrap_err().to_string(),
    ///            "level mismatch: add needs equal levels, got 3 and 2");
    /// # Ok(()) }
    /// ```
    pub fn add(&self, rhs: &DynCt<B>, ev: &Evaluator<B>) -> Result<Self> {
        self.same_state("add", rhs)?;
        Ok(Self::from_parts(
            ev.add_new(&self.ct, &rhs.ct)?,
            self.owes_rescale,
        ))
    }

    /// `self - rhs`, same rules as [`add`](Self::add).
    ///
    /// ```
    /// # fn f(a: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let zero = a.sub(&a, ev)?;
    /// # let _ = zero; Ok(()) }
    /// ```
    pub fn sub(&self, rhs: &DynCt<B>, ev: &Evaluator<B>) -> Result<Self> {
        self.same_state("sub", rhs)?;
        Ok(Self::from_parts(
            ev.sub_new(&self.ct, &rhs.ct)?,
            self.owes_rescale,
        ))
    }

    /// `self · rhs`, relinearised: needs level ≥ 1, both operands owing no rescale.
    ///
    /// ```
    /// # fn f(a: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let sq = a.mul(&a, ev)?;
    /// assert!(sq.owes_rescale());
    /// # Ok(()) }
    /// ```
    pub fn mul(&self, rhs: &DynCt<B>, ev: &Evaluator<B>) -> Result<Self> {
        self.fresh("mul")?;
        rhs.fresh("mul")?;
        if self.level() == 0 {
            return Err(Error::LevelTooLow {
                op: "mul",
                needed: 1,
                level: 0,
            });
        }
        Ok(Self::from_parts(ev.mul_relin_new(&self.ct, &rhs.ct)?, true))
    }

    /// `self · c`; owes a rescale afterwards.
    ///
    /// ```
    /// # fn f(a: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let half = a.mul_const(0.5, ev)?.rescale(ev)?;
    /// # let _ = half; Ok(()) }
    /// ```
    pub fn mul_const(&self, c: f64, ev: &Evaluator<B>) -> Result<Self> {
        self.fresh("mul_const")?;
        if self.level() == 0 {
            return Err(Error::LevelTooLow {
                op: "mul_const",
                needed: 1,
                level: 0,
            });
        }
        let mut out = self.ct.clone();
        ev.mul_const_assign(&mut out, c)?;
        Ok(Self::from_parts(out, true))
    }

    /// Rescale: needs a value that owes one, at level ≥ 1.
    ///
    /// ```
    /// # fn f(a: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) {
    /// if !a.owes_rescale() {
    ///     assert!(a.rescale(ev).unwrap_err().to_string().contains("owes no rescale"));
    /// }
    /// # }
    /// ```
    pub fn rescale(&self, ev: &Evaluator<B>) -> Result<Self> {
        if !self.owes_rescale {
            return Err(Error::InvalidInput(format!(
                "rescale: the value owes no rescale (scale 2^{:.2}, level {})",
                self.scale().log2(),
                self.level()
            )));
        }
        Ok(Self::from_parts(ev.rescale_new(&self.ct)?, false))
    }

    /// Lowers the level to `level` (≤ the current one) without dividing.
    ///
    /// ```
    /// # fn f(a: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let low = a.mod_down(0, ev)?;
    /// assert_eq!(low.level(), 0);
    /// assert!(low.mod_down(1, ev).is_err());
    /// # Ok(()) }
    /// ```
    pub fn mod_down(&self, level: usize, ev: &Evaluator<B>) -> Result<Self> {
        if level > self.level() {
            return Err(Error::LevelTooLow {
                op: "mod_down (target above the current level)",
                needed: level,
                level: self.level(),
            });
        }
        let mut out = self.ct.clone();
        ev.drop_level_assign(&mut out, self.level() - level)?;
        Ok(Self::from_parts(out, self.owes_rescale))
    }

    /// Rotates the slots left by `step`.
    ///
    /// ```
    /// # fn f(a: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let r = a.rotate(1, ev)?;
    /// # let _ = r; Ok(()) }
    /// ```
    pub fn rotate(&self, step: i64, ev: &Evaluator<B>) -> Result<Self> {
        Ok(Self::from_parts(
            ev.rotate_new(&self.ct, step)?,
            self.owes_rescale,
        ))
    }

    /// Evaluates `Σ coeffs[i]·x^i`, consuming
    /// [`levels_for_degree`](super::levels_for_degree)`(degree)` levels.
    ///
    /// ```
    /// # fn f(a: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let y = a.poly(&[0.5, 0.25, 0.125], ev)?; // 2 levels
    /// assert_eq!(y.level() + 2, a.level());
    /// # Ok(()) }
    /// ```
    pub fn poly(&self, coeffs: &[f64], ev: &Evaluator<B>) -> Result<Self> {
        self.fresh("poly")?;
        let deg = coeffs.len().saturating_sub(1);
        let levels = super::levels_for_degree(deg).max(1);
        Ok(Self::from_parts(
            ops::poly(ev, &self.ct, coeffs, levels)?,
            false,
        ))
    }

    /// Bootstraps through `bt`.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # fn f(a: fhe_dsl::typed::DynCt<B>, bt: &impl fhe_dsl::typed::Bootstrap<B, 7>) -> fhe_dsl::Result<()> {
    /// let fresh = a.bootstrap(bt)?;
    /// assert_eq!(fresh.level(), 7);
    /// # Ok(()) }
    /// ```
    pub fn bootstrap<const OUT: usize, T>(&self, bt: &T) -> Result<Self>
    where
        T: Bootstrap<B, OUT> + ?Sized,
    {
        self.fresh("bootstrap")?;
        let out = bt.bootstrap(&self.ct)?;
        if out.level() != OUT {
            return Err(Error::LevelMismatch {
                op: "bootstrap output (declared vs produced)",
                left: OUT,
                right: out.level(),
            });
        }
        Ok(Self::from_parts(out, false))
    }

    /// Back into the typed world: checks the level is `L` and that no rescale is owed.
    ///
    /// ```
    /// # fn f(a: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>) {
    /// match a.into_typed::<3>() {
    ///     Ok(ct) => assert_eq!(ct.level(), 3),
    ///     Err(e) => println!("{e}"), // "level mismatch: into_typed needs equal levels, got 3 and …"
    /// }
    /// # }
    /// ```
    pub fn into_typed<const L: usize>(self) -> Result<Ct<B, L, Fresh>>
    where
        Level<L>: KnownLevel,
    {
        self.fresh("into_typed")?;
        self.check_level::<L>()?;
        Ct::from_checked(self.ct)
    }

    /// Back into the typed world as a value that owes a rescale.
    ///
    /// ```
    /// # fn f(a: fhe_dsl::typed::DynCt<fhe_dsl::backend::reference::ReferenceBackend>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let owed = a.mul(&a, ev)?.into_typed_owed::<4>()?;
    /// # let _ = owed; Ok(()) }
    /// ```
    pub fn into_typed_owed<const L: usize>(self) -> Result<Ct<B, L, Owed>>
    where
        Level<L>: KnownLevel,
    {
        if !self.owes_rescale {
            return Err(Error::InvalidInput(
                "into_typed_owed: the value owes no rescale; use into_typed".into(),
            ));
        }
        self.check_level::<L>()?;
        Ct::from_checked(self.ct)
    }

    fn check_level<const L: usize>(&self) -> Result<()> {
        if self.level() != L {
            return Err(Error::LevelMismatch {
                op: "into_typed",
                left: L,
                right: self.level(),
            });
        }
        Ok(())
    }
}
