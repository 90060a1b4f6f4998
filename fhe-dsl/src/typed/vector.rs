//! [`EncVector<B, N, L, S>`]: `N` real values packed in the slots of one ciphertext, the
//! length and the level in the type; and the plaintext-weight layers that act on it
//! ([`Dense`], [`Diagonal`], [`Poly`]; [`Conv`] lives in its own module).

use super::bootstrap::Bootstrap;
use super::conv::Conv;
use super::ct::{AddCompatible, Ct, Fresh, Owed, ScaleState};
use super::level::{AtLeast, Is, KnownLevel, LevelBelow, Spend};
use super::{ops, Level};
use crate::backend::Backend;
use crate::ckks::{Ciphertext, Ckks, Decryptor, Encryptor, Evaluator};
use crate::error::{Error, Result};

/// `N` real values (`N` a power of two, at most N_ring/2) packed in one ciphertext at
/// level `L` in scale state `S`. Slot `i` holds value `i`; rotations are cyclic over `N`.
///
/// ```
/// # use fhe_dsl::backend::reference::ReferenceBackend as B;
/// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
/// use fhe_dsl::typed::{Dense, EncVector, Poly};
/// # fn main() -> fhe_dsl::Result<()> {
/// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
/// # let mut kg = ckks.key_generator();
/// # let sk = kg.secret_key();
/// let keys = kg.evaluation_keys(&sk, &fhe_dsl::ckks::KeyRequest::new().relin()
///     .rotations(Dense::<4>::rotations()))?;
/// # let ev = ckks.evaluator(&keys)?;
/// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
/// let w = Dense::<4>::new(vec![0.5; 16], vec![0.0; 4])?;
/// let sq = Poly::<2>::new(vec![0.0, 0.0, 1.0])?; // x², 2 levels
/// let x: EncVector<B, 4, 5> = EncVector::encrypt(&ckks, &enc, &[0.1, 0.2, 0.3, 0.4])?;
/// let h: EncVector<B, 4, 4> = x.dense(&w, &ev)?;
/// let y: EncVector<B, 4, 2> = h.poly(&sq, &ev)?;
/// let want = sq.apply_plain(&w.apply_plain(&[0.1, 0.2, 0.3, 0.4]));
/// for (g, w) in y.decrypt(&dec)?.iter().zip(&want) { assert!((g - w).abs() < 1e-5); }
/// # Ok(()) }
/// ```
pub struct EncVector<B: Backend, const N: usize, const L: usize, S: ScaleState = Fresh> {
    ct: Ct<B, L, S>,
}

impl<B: Backend, const N: usize, const L: usize, S: ScaleState> Clone for EncVector<B, N, L, S> {
    fn clone(&self) -> Self {
        EncVector {
            ct: self.ct.clone(),
        }
    }
}

impl<B: Backend, const N: usize, const L: usize, S: ScaleState> std::fmt::Debug
    for EncVector<B, N, L, S>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncVector<{N}, {:?}>", self.ct)
    }
}

impl<B: Backend, const N: usize, const L: usize, S: ScaleState> AddCompatible<EncVector<B, N, L, S>>
    for EncVector<B, N, L, S>
{
    fn rhs_ciphertext(rhs: &EncVector<B, N, L, S>) -> &Ciphertext<B> {
        rhs.ct.ciphertext()
    }
    type B = B;
}

fn check_len(n: usize, ckks_slots: usize) -> Result<()> {
    if !n.is_power_of_two() || n > ckks_slots {
        return Err(Error::InvalidInput(format!(
            "a packed vector needs a power-of-two length ≤ {ckks_slots} slots, got {n}"
        )));
    }
    Ok(())
}

impl<B: Backend, const N: usize, const L: usize, S: ScaleState> EncVector<B, N, L, S> {
    pub(crate) fn from_ct(ct: Ct<B, L, S>) -> Self {
        EncVector { ct }
    }

    /// Wraps a typed ciphertext, checking that it has `N` slots.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let enc = ckks.encryptor(&kg.public_key(&sk)?);
    /// use fhe_dsl::typed::{Ct, EncVector};
    /// let ct = Ct::<B, 3>::encrypt(&ckks, &enc, &[1.0, 2.0, 3.0, 4.0])?;
    /// let v = EncVector::<B, 4, 3>::try_from_ct(ct.clone())?;
    /// assert!(EncVector::<B, 8, 3>::try_from_ct(ct).is_err());
    /// # let _ = v; Ok(()) }
    /// ```
    pub fn try_from_ct(ct: Ct<B, L, S>) -> Result<Self> {
        if ct.ciphertext().slots() != N {
            return Err(Error::InvalidInput(format!(
                "EncVector<{N}> needs a ciphertext with {N} slots, got {}",
                ct.ciphertext().slots()
            )));
        }
        Ok(Self::from_ct(ct))
    }

    /// The typed ciphertext.
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 2>) { assert_eq!(v.as_ct().level(), 2); }
    /// ```
    pub fn as_ct(&self) -> &Ct<B, L, S> {
        &self.ct
    }

    /// Unwraps into the typed ciphertext.
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 2>) { let ct = v.into_ct(); assert_eq!(ct.level(), 2); }
    /// ```
    pub fn into_ct(self) -> Ct<B, L, S> {
        self.ct
    }

    /// The level, `L`.
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 2>) { assert_eq!(v.level(), 2); }
    /// ```
    pub const fn level(&self) -> usize {
        L
    }

    /// The length, `N`.
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 2>) { assert_eq!(v.len(), 4); }
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub const fn len(&self) -> usize {
        N
    }

    /// The exact scale (runtime).
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 2>) { assert!(v.scale() > 1.0); }
    /// ```
    pub fn scale(&self) -> f64 {
        self.ct.scale()
    }

    /// Decrypts the `N` values.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// let v = fhe_dsl::typed::EncVector::<B, 2, 1>::encrypt(&ckks, &enc, &[0.5, -0.5])?;
    /// assert_eq!(v.decrypt(&dec)?.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn decrypt(&self, dec: &Decryptor<B>) -> Result<Vec<f64>> {
        let mut v = self.ct.decrypt(dec)?;
        v.truncate(N);
        Ok(v)
    }

    /// Element-wise `self + rhs` (same `N`, level and scale state).
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
    /// use fhe_dsl::typed::EncVector;
    /// let a = EncVector::<B, 2, 3>::encrypt(&ckks, &enc, &[0.5, 1.0])?;
    /// let s = a.add(&a, &ev)?.decrypt(&dec)?;
    /// assert!((s[1] - 2.0).abs() < 1e-6);
    /// # Ok(()) }
    /// ```
    pub fn add<R>(&self, rhs: &R, ev: &Evaluator<B>) -> Result<Self>
    where
        Self: AddCompatible<R, B = B>,
    {
        Ok(Self::from_ct(Ct::from_checked(ev.add_new(
            self.ct.ciphertext(),
            Self::rhs_ciphertext(rhs),
        )?)?))
    }

    /// Rotates left by `step` (cyclic over `N`); needs the rotation key.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new().rotations([-1]))?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// let a = fhe_dsl::typed::EncVector::<B, 4, 1>::encrypt(&ckks, &enc, &[1.0, 2.0, 3.0, 4.0])?;
    /// let r = a.rotate(-1, &ev)?.decrypt(&dec)?;
    /// assert!((r[0] - 4.0).abs() < 1e-5);
    /// # Ok(()) }
    /// ```
    pub fn rotate(&self, step: i64, ev: &Evaluator<B>) -> Result<Self> {
        Ok(Self::from_ct(self.ct.rotate(step, ev)?))
    }

    /// Every slot ← the sum of the `N` values (`log2 N` rotations, no level).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// use fhe_dsl::typed::EncVector;
    /// let req = fhe_dsl::ckks::KeyRequest::new().rotations(EncVector::<B, 4, 1>::sum_rotations());
    /// # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &req)?)?;
    /// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
    /// let a = EncVector::<B, 4, 1>::encrypt(&ckks, &enc, &[1.0, 2.0, 3.0, 4.0])?;
    /// assert!((a.sum(&ev)?.decrypt(&dec)?[2] - 10.0).abs() < 1e-5);
    /// # Ok(()) }
    /// ```
    pub fn sum(&self, ev: &Evaluator<B>) -> Result<Self> {
        Ok(Self::from_ct(Ct::from_checked(ops::sum_slots(
            ev,
            self.ct.ciphertext(),
        )?)?))
    }

    /// The rotation steps [`sum`](Self::sum) needs: 1, 2, 4, …, N/2.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// assert_eq!(fhe_dsl::typed::EncVector::<B, 8, 0>::sum_rotations(), vec![1, 2, 4]);
    /// ```
    pub fn sum_rotations() -> Vec<i64> {
        ops::sum_rotations(N)
    }

    /// Lowers the level to `M ≤ L` (free: drops primes, keeps the scale).
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 3>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let low = v.mod_down::<1>(ev)?;
    /// assert_eq!(low.level(), 1);
    /// # Ok(()) }
    /// ```
    pub fn mod_down<const M: usize>(&self, ev: &Evaluator<B>) -> Result<EncVector<B, N, M, S>>
    where
        Level<L>: AtLeast<M>,
    {
        Ok(EncVector::from_ct(self.ct.mod_down::<M>(ev)?))
    }
}

impl<B: Backend, const N: usize, const L: usize> EncVector<B, N, L, Fresh> {
    /// Encrypts `values` (at most `N`, zero-padded) at level `L` and the default scale.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
    /// # fn main() -> fhe_dsl::Result<()> {
    /// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
    /// # let mut kg = ckks.key_generator();
    /// # let sk = kg.secret_key();
    /// # let enc = ckks.encryptor(&kg.public_key(&sk)?);
    /// use fhe_dsl::typed::EncVector;
    /// assert!(EncVector::<B, 4, 2>::encrypt(&ckks, &enc, &[1.0, 2.0]).is_ok());
    /// assert!(EncVector::<B, 3, 2>::encrypt(&ckks, &enc, &[1.0]).is_err()); // not a power of two
    /// assert!(EncVector::<B, 2, 2>::encrypt(&ckks, &enc, &[1.0; 3]).is_err()); // too many values
    /// # Ok(()) }
    /// ```
    pub fn encrypt(ckks: &Ckks<B>, enc: &Encryptor<B>, values: &[f64]) -> Result<Self>
    where
        Level<L>: KnownLevel,
    {
        check_len(N, ckks.params().max_slots())?;
        if values.len() > N {
            return Err(Error::InvalidInput(format!(
                "{} values do not fit an EncVector<{N}>",
                values.len()
            )));
        }
        let mut v = values.to_vec();
        v.resize(N, 0.0);
        Ok(Self::from_ct(Ct::encrypt(ckks, enc, &v)?))
    }

    /// Element-wise `self · rhs` (ciphertext × ciphertext), relinearised; owes a rescale.
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 3>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let sq = v.mul(&v, ev)?.rescale(ev)?;
    /// assert_eq!(sq.level(), 2);
    /// # Ok(()) }
    /// ```
    pub fn mul<P>(&self, rhs: &Self, ev: &Evaluator<B>) -> Result<EncVector<B, N, L, Owed>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        Ok(EncVector::from_ct(self.ct.mul(&rhs.ct, ev)?))
    }

    /// `W·x + b` (a [`Dense`] layer, diagonal method): one level.
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 3>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let id = fhe_dsl::typed::Dense::<4>::identity();
    /// let same = v.dense(&id, ev)?;
    /// assert_eq!(same.level(), 2);
    /// # Ok(()) }
    /// ```
    pub fn dense<P>(
        &self,
        layer: &Dense<N>,
        ev: &Evaluator<B>,
    ) -> Result<<P::Below as KnownLevel>::Vector<B, N, Fresh>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        P::Below::wrap_vector(ops::dense(
            ev,
            self.ct.ciphertext(),
            &layer.weights,
            &layer.bias,
            self.scale(),
        )?)
    }

    /// `w ⊙ x + b` (a [`Diagonal`] layer): one level.
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 3>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let half = fhe_dsl::typed::Diagonal::<4>::new(vec![0.5; 4], vec![0.0; 4])?;
    /// assert_eq!(v.diagonal(&half, ev)?.level(), 2);
    /// # Ok(()) }
    /// ```
    pub fn diagonal<P>(
        &self,
        layer: &Diagonal<N>,
        ev: &Evaluator<B>,
    ) -> Result<<P::Below as KnownLevel>::Vector<B, N, Fresh>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        P::Below::wrap_vector(ops::diagonal(
            ev,
            self.ct.ciphertext(),
            &layer.weights,
            &layer.bias,
            self.scale(),
        )?)
    }

    /// A [`Conv`] layer (a 2-D convolution between packed tensor layouts): one level,
    /// output scale equal to the input's (so the result adds to other values at the same
    /// level, like a residual branch).
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # fn f(v: fhe_dsl::typed::EncVector<B, 16, 3>, ev: &fhe_dsl::ckks::Evaluator<B>) -> fhe_dsl::Result<()> {
    /// use fhe_dsl::{tensor::Layout, typed::Conv};
    /// let l = Layout::multiplexed(1, 4, 4, 1)?;
    /// let conv = Conv::<16>::new(l, l, 3, 1, 1, vec![1.0 / 9.0; 9], vec![0.0])?;
    /// assert_eq!(v.conv(&conv, ev)?.level(), 2);
    /// # Ok(()) }
    /// ```
    pub fn conv<P>(
        &self,
        layer: &Conv<N>,
        ev: &Evaluator<B>,
    ) -> Result<<P::Below as KnownLevel>::Vector<B, N, Fresh>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        P::Below::wrap_vector(layer.apply_ciphertext(ev, self.ct.ciphertext(), self.scale())?)
    }

    /// Applies a polynomial activation element-wise, spending exactly `K` levels; the
    /// output scale equals the input's.
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 3>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// let act = fhe_dsl::typed::Poly::<2>::new(vec![0.1, 0.5, 0.2])?;
    /// assert_eq!(v.poly(&act, ev)?.level(), 1);
    /// # Ok(()) }
    /// ```
    pub fn poly<const K: usize, P>(
        &self,
        act: &Poly<K>,
        ev: &Evaluator<B>,
    ) -> Result<<P::Rest as KnownLevel>::Vector<B, N, Fresh>>
    where
        P: Spend<K>,
        Level<L>: Is<P>,
    {
        P::Rest::wrap_vector(ops::poly(ev, self.ct.ciphertext(), &act.coeffs, K)?)
    }

    /// Bootstraps to the bootstrapper's output level `OUT`.
    ///
    /// ```
    /// # use fhe_dsl::backend::reference::ReferenceBackend as B;
    /// # fn f(v: fhe_dsl::typed::EncVector<B, 4, 0>, bt: &impl fhe_dsl::typed::Bootstrap<B, 5>) -> fhe_dsl::Result<()> {
    /// let fresh: fhe_dsl::typed::EncVector<B, 4, 5> = v.bootstrap(bt)?;
    /// # let _ = fresh; Ok(()) }
    /// ```
    pub fn bootstrap<const OUT: usize, T>(&self, bt: &T) -> Result<EncVector<B, N, OUT, Fresh>>
    where
        T: Bootstrap<B, OUT> + ?Sized,
        Level<OUT>: KnownLevel,
    {
        Ok(EncVector::from_ct(self.ct.bootstrap(bt)?))
    }
}

impl<B: Backend, const N: usize, const L: usize> EncVector<B, N, L, Owed> {
    /// Rescale: level `L → L − 1`.
    ///
    /// ```
    /// # fn f(v: fhe_dsl::typed::EncVector<fhe_dsl::backend::reference::ReferenceBackend, 4, 3, fhe_dsl::typed::Owed>, ev: &fhe_dsl::ckks::Evaluator<fhe_dsl::backend::reference::ReferenceBackend>) -> fhe_dsl::Result<()> {
    /// assert_eq!(v.rescale(ev)?.level(), 2);
    /// # Ok(()) }
    /// ```
    pub fn rescale<P>(
        &self,
        ev: &Evaluator<B>,
    ) -> Result<<P::Below as KnownLevel>::Vector<B, N, Fresh>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        P::Below::wrap_vector(ev.rescale_new(self.ct.ciphertext())?)
    }
}

pub(super) fn finite(what: &str, v: &[f64]) -> Result<()> {
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(Error::InvalidInput(format!("{what}: non-finite value {x}")));
    }
    Ok(())
}

/// A dense layer `y = W·x + b` on [`EncVector<_, N, _>`](EncVector): `W` is `N×N`
/// row-major, evaluated by the diagonal method (rotations by 1..N, one level).
///
/// ```
/// use fhe_dsl::typed::Dense;
/// let d = Dense::<2>::new(vec![1.0, 2.0, 3.0, 4.0], vec![0.5, 0.0])?;
/// assert_eq!(d.apply_plain(&[1.0, 1.0]), vec![3.5, 7.0]);
/// assert!(Dense::<2>::new(vec![1.0; 3], vec![0.0; 2]).is_err());
/// # Ok::<(), fhe_dsl::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<const N: usize> {
    weights: Vec<f64>,
    bias: Vec<f64>,
}

impl<const N: usize> Dense<N> {
    /// From row-major weights (`N·N`) and a bias (`N`).
    ///
    /// ```
    /// let d = fhe_dsl::typed::Dense::<2>::new(vec![0.0; 4], vec![1.0; 2])?;
    /// # let _ = d; Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn new(weights: Vec<f64>, bias: Vec<f64>) -> Result<Self> {
        if weights.len() != N * N || bias.len() != N {
            return Err(Error::InvalidInput(format!(
                "Dense<{N}> needs {} weights and {N} biases, got {} and {}",
                N * N,
                weights.len(),
                bias.len()
            )));
        }
        finite("Dense weights", &weights)?;
        finite("Dense bias", &bias)?;
        Ok(Dense { weights, bias })
    }

    /// The identity map.
    ///
    /// ```
    /// let id = fhe_dsl::typed::Dense::<2>::identity();
    /// assert_eq!(id.apply_plain(&[3.0, 4.0]), vec![3.0, 4.0]);
    /// ```
    pub fn identity() -> Self {
        let mut w = vec![0.0; N * N];
        for i in 0..N {
            w[i * N + i] = 1.0;
        }
        Dense {
            weights: w,
            bias: vec![0.0; N],
        }
    }

    pub(crate) fn parts(&self) -> (&[f64], &[f64]) {
        (&self.weights, &self.bias)
    }

    /// The rotation steps the layer may use: `1..N`.
    ///
    /// ```
    /// assert_eq!(fhe_dsl::typed::Dense::<4>::rotations(), vec![1, 2, 3]);
    /// ```
    pub fn rotations() -> Vec<i64> {
        (1..N as i64).collect()
    }

    /// The float64 reference: `W·x + b`.
    ///
    /// ```
    /// let d = fhe_dsl::typed::Dense::<2>::new(vec![0.0, 1.0, 1.0, 0.0], vec![0.0; 2])?;
    /// assert_eq!(d.apply_plain(&[1.0, 2.0]), vec![2.0, 1.0]);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        (0..N)
            .map(|j| {
                (0..N)
                    .map(|k| self.weights[j * N + k] * x.get(k).copied().unwrap_or(0.0))
                    .sum::<f64>()
                    + self.bias[j]
            })
            .collect()
    }
}

/// An element-wise affine layer `y = w ⊙ x + b` (folded batch-norm, scaling): one level,
/// no rotations.
///
/// ```
/// let d = fhe_dsl::typed::Diagonal::<2>::new(vec![2.0, 3.0], vec![1.0, 0.0])?;
/// assert_eq!(d.apply_plain(&[1.0, 1.0]), vec![3.0, 3.0]);
/// # Ok::<(), fhe_dsl::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Diagonal<const N: usize> {
    weights: Vec<f64>,
    bias: Vec<f64>,
}

impl<const N: usize> Diagonal<N> {
    /// From `N` weights and `N` biases.
    ///
    /// ```
    /// assert!(fhe_dsl::typed::Diagonal::<2>::new(vec![1.0], vec![0.0; 2]).is_err());
    /// ```
    pub fn new(weights: Vec<f64>, bias: Vec<f64>) -> Result<Self> {
        if weights.len() != N || bias.len() != N {
            return Err(Error::InvalidInput(format!(
                "Diagonal<{N}> needs {N} weights and {N} biases, got {} and {}",
                weights.len(),
                bias.len()
            )));
        }
        finite("Diagonal weights", &weights)?;
        finite("Diagonal bias", &bias)?;
        Ok(Diagonal { weights, bias })
    }

    pub(crate) fn parts(&self) -> (&[f64], &[f64]) {
        (&self.weights, &self.bias)
    }

    /// The float64 reference.
    ///
    /// ```
    /// let d = fhe_dsl::typed::Diagonal::<1>::new(vec![2.0], vec![0.5])?;
    /// assert_eq!(d.apply_plain(&[1.0]), vec![2.5]);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        (0..N)
            .map(|j| self.weights[j] * x.get(j).copied().unwrap_or(0.0) + self.bias[j])
            .collect()
    }
}

/// A polynomial activation `Σ c_i x^i` that spends exactly `K` levels. The degree is not
/// in the type, the levels are: construction checks that the coefficients fit
/// ([`levels_for_degree`](super::levels_for_degree)`(degree) ≤ K`).
///
/// ```
/// use fhe_dsl::typed::Poly;
/// let relu_ish = Poly::<2>::new(vec![0.125, 0.5, 0.25])?; // degree 2: 2 levels
/// assert_eq!(relu_ish.degree(), 2);
/// assert_eq!(relu_ish.apply_plain(&[1.0]), vec![0.875]);
/// let err = Poly::<2>::new(vec![0.0, 0.0, 0.0, 1.0]).unwrap_err(); // degree 3 needs 3
/// assert!(err.to_string().contains("needs 3 levels"));
/// # Ok::<(), fhe_dsl::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Poly<const K: usize> {
    coeffs: Vec<f64>,
}

impl<const K: usize> Poly<K> {
    /// From coefficients, constant term first (degree ≥ 1).
    ///
    /// ```
    /// assert!(fhe_dsl::typed::Poly::<1>::new(vec![0.0, 2.0]).is_ok());
    /// assert!(fhe_dsl::typed::Poly::<1>::new(vec![1.0]).is_err()); // degree 0
    /// ```
    pub fn new(coeffs: Vec<f64>) -> Result<Self> {
        if coeffs.len() < 2 {
            return Err(Error::InvalidInput(
                "a polynomial activation needs degree ≥ 1".into(),
            ));
        }
        finite("Poly coefficients", &coeffs)?;
        let deg = coeffs.len() - 1;
        let need = super::levels_for_degree(deg);
        if need > K {
            return Err(Error::InvalidInput(format!(
                "a degree-{deg} polynomial needs {need} levels, Poly<{K}> allots {K}"
            )));
        }
        Ok(Poly { coeffs })
    }

    /// The degree.
    ///
    /// ```
    /// assert_eq!(fhe_dsl::typed::Poly::<3>::new(vec![0.0; 5])?.degree(), 4);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn degree(&self) -> usize {
        self.coeffs.len() - 1
    }

    /// The coefficients, constant term first.
    ///
    /// ```
    /// assert_eq!(fhe_dsl::typed::Poly::<1>::new(vec![1.0, 2.0])?.coeffs(), &[1.0, 2.0]);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn coeffs(&self) -> &[f64] {
        &self.coeffs
    }

    /// The float64 reference, element-wise (Horner).
    ///
    /// ```
    /// let p = fhe_dsl::typed::Poly::<2>::new(vec![1.0, 0.0, 1.0])?;
    /// assert_eq!(p.apply_plain(&[2.0, -1.0]), vec![5.0, 2.0]);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .map(|&v| self.coeffs.iter().rev().fold(0.0, |acc, &c| acc * v + c))
            .collect()
    }
}
