//! The layers a CNN needs beyond [`Dense`](super::Dense), [`Diagonal`](super::Diagonal)
//! and [`Conv`](super::Conv): [`Linear`] (any packed linear map with a per-slot bias),
//! [`SpatialSum`] (global pooling), the one-level square activation
//! ([`EncVector::pre_square`] then [`EncVector::square`]), and the [`Observer`] hook that
//! `model!`'s `forward_observed` reports each step through.
//!
//! # The square in one level
//!
//! A quadratic activation `a·z² + b·z + c` costs one level when its affine parts are
//! folded into the neighbouring linear layers (AESPA): what is left is `z²`. Squaring a
//! value at scale `s` gives `s²/q` after the rescale, not `s`, so the result would no
//! longer add to its siblings. Instead, the linear layer producing `z` lands it on
//! `√(s · q_AT)` (scale state [`PreSquare<AT>`](super::PreSquare)), and the square at
//! level `AT` returns exactly `s`, the scale of the linear layer's input: one level,
//! scales kept, enforced by the types.
//!
//! ```
//! # use fhe_dsl::backend::reference::ReferenceBackend as B;
//! # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
//! use fhe_dsl::typed::{Diagonal, EncVector, PreSquare};
//! # fn main() -> fhe_dsl::Result<()> {
//! # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
//! # let mut kg = ckks.key_generator();
//! # let sk = kg.secret_key();
//! # let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &KeyRequest::new().relin())?)?;
//! # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
//! let x: EncVector<B, 4, 4> = EncVector::encrypt(&ckks, &enc, &[0.1, 0.2, 0.3, 0.4])?;
//! let skip = Diagonal::<4>::new(vec![0.5; 4], vec![0.0; 4])?;
//! let main = Diagonal::<4>::new(vec![1.0, 2.0, 1.0, 2.0], vec![0.1; 4])?;
//! // both branches prepared for a square at level 2, the skip one lowered to it
//! let a: EncVector<B, 4, 3, PreSquare<2>> = x.pre_square::<2, _, _>(&main, &ev)?;
//! let a = a.mod_down::<2>(&ev)?;
//! let b: EncVector<B, 4, 3, PreSquare<2>> = x.pre_square::<2, _, _>(&skip, &ev)?;
//! let s = a.add(&b.mod_down::<2>(&ev)?, &ev)?;
//! let y: EncVector<B, 4, 1> = s.square(&ev)?; // level 2 → 1, scale = x's
//! assert!((y.scale() / x.scale() - 1.0).abs() < 1e-12);
//! let got = y.decrypt(&dec)?;
//! for (i, v) in [0.1f64, 0.2, 0.3, 0.4].into_iter().enumerate() {
//!     let pre = [1.0, 2.0, 1.0, 2.0][i] * v + 0.1 + 0.5 * v;
//!     assert!((got[i] - pre * pre).abs() < 1e-6);
//! }
//! # Ok(()) }
//! ```

use super::conv::Conv;
use super::ct::{Ct, Fresh, PreSquare, ScaleState, SquareReady};
use super::level::{AtLeast, Is, KnownLevel, LevelBelow};
use super::vector::{finite, Dense, Diagonal, EncVector};
use super::{ops, Level};
use crate::backend::Backend;
use crate::ckks::{Ciphertext, Evaluator};
use crate::error::{Error, Result};
use crate::nn::{
    check_pow2_spatial, rotate_and_add_plain, spatial_sum, spatial_sum_steps, PackedLinear,
};
use crate::tensor::Layout;
use std::time::Duration;

/// A layer that maps the `N` slots linearly (plus a bias) for exactly one level:
/// [`Dense`], [`Diagonal`], [`Conv`] and [`Linear`]. Any of them can prepare a value for
/// a square ([`EncVector::pre_square`]).
pub trait LinearLayer<const N: usize> {
    /// The layer on a raw ciphertext (levels checked at run time), its output landing on
    /// `out_scale`.
    fn apply_to_scale<B: Backend>(
        &self,
        ev: &Evaluator<B>,
        ct: &Ciphertext<B>,
        out_scale: f64,
    ) -> Result<Ciphertext<B>>;
}

impl<const N: usize> LinearLayer<N> for Dense<N> {
    fn apply_to_scale<B: Backend>(
        &self,
        ev: &Evaluator<B>,
        ct: &Ciphertext<B>,
        out_scale: f64,
    ) -> Result<Ciphertext<B>> {
        let (w, b) = self.parts();
        ops::dense(ev, ct, w, b, out_scale)
    }
}

impl<const N: usize> LinearLayer<N> for Diagonal<N> {
    fn apply_to_scale<B: Backend>(
        &self,
        ev: &Evaluator<B>,
        ct: &Ciphertext<B>,
        out_scale: f64,
    ) -> Result<Ciphertext<B>> {
        let (w, b) = self.parts();
        ops::diagonal(ev, ct, w, b, out_scale)
    }
}

impl<const N: usize> LinearLayer<N> for Conv<N> {
    fn apply_to_scale<B: Backend>(
        &self,
        ev: &Evaluator<B>,
        ct: &Ciphertext<B>,
        out_scale: f64,
    ) -> Result<Ciphertext<B>> {
        self.apply_ciphertext(ev, ct, out_scale)
    }
}

/// Any packed linear map ([`PackedLinear`]: a convolution with folded batch-norm, a
/// pooling-plus-dense head, a layout change) plus a bias per slot, on `N` slots: one
/// level, rotations by baby-step/giant-step with hoisting, diagonals encoded on the fly.
///
/// A per-slot bias is what a folded layer needs: a convolution whose input carries an
/// affine offset gets a different constant at the image border (zero padding happens in
/// true space), which a per-channel bias cannot express.
///
/// ```
/// use fhe_dsl::nn::PackedLinear;
/// use fhe_dsl::typed::Linear;
/// // out[0] = x[1] + 2·x[2], on period-4 tensors in 8 slots
/// let m = PackedLinear::from_terms(4, 4, 8, [(0, 1, 1.0), (0, 2, 2.0)])?;
/// let layer = Linear::<8>::new(m, vec![0.5; 8])?;
/// let y = layer.apply_plain(&[0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
/// assert_eq!(y[0], 3.5);
/// assert!(Linear::<16>::new(PackedLinear::from_terms(4, 4, 8, [])?, vec![0.0; 16]).is_err());
/// # Ok::<(), fhe_dsl::Error>(())
/// ```
#[derive(Clone)]
pub struct Linear<const N: usize> {
    map: PackedLinear,
    bias: Vec<f64>,
}

impl<const N: usize> std::fmt::Debug for Linear<N> {
    // The map holds N complex values per diagonal: not worth printing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Linear<{N}>({} diagonals, {} rotations)",
            self.map.diagonals(),
            self.map.rotation_count()
        )
    }
}

impl<const N: usize> Linear<N> {
    /// From a packed map on `N` slots and `N` biases. Errors when the map is for another
    /// slot count, the bias has the wrong length, or a value is not finite.
    pub fn new(map: PackedLinear, bias: Vec<f64>) -> Result<Self> {
        let slots = map.transform().slots();
        if slots != N || bias.len() != N {
            return Err(Error::InvalidInput(format!(
                "Linear<{N}> needs a map on {N} slots and {N} biases, got a map on {slots} slots and {} biases",
                bias.len()
            )));
        }
        // the map's weights were checked finite when its transform was built
        finite("Linear bias", &bias)?;
        Ok(Linear { map, bias })
    }

    /// The rotation steps the layer needs keys for.
    pub fn rotations(&self) -> Vec<i64> {
        self.map.rotations()
    }

    /// Plaintext diagonals multiplied per application.
    pub fn diagonals(&self) -> usize {
        self.map.diagonals()
    }

    /// The packed map.
    pub fn map(&self) -> &PackedLinear {
        &self.map
    }

    /// The per-slot bias.
    pub fn bias(&self) -> &[f64] {
        &self.bias
    }

    /// The float64 reference: `map(x) + bias` (`x` zero-padded to `N`).
    pub fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        let mut v = x.to_vec();
        v.resize(N, 0.0);
        let mut y = self.map.apply_plain(&v);
        y.iter_mut().zip(&self.bias).for_each(|(a, b)| *a += b);
        y
    }
}

impl<const N: usize> LinearLayer<N> for Linear<N> {
    fn apply_to_scale<B: Backend>(
        &self,
        ev: &Evaluator<B>,
        ct: &Ciphertext<B>,
        out_scale: f64,
    ) -> Result<Ciphertext<B>> {
        let what = ("linear", "Linear", N);
        apply_packed(what, ev, ct, &self.map, &self.bias, out_scale)
    }
}

/// `map(ct) + bias` landing on `out_scale`, one level, for the layers built on a
/// [`PackedLinear`]; `(op, layer, N)` name it in errors.
pub(super) fn apply_packed<B: Backend>(
    (op, layer, n): (&'static str, &str, usize),
    ev: &Evaluator<B>,
    ct: &Ciphertext<B>,
    map: &PackedLinear,
    bias: &[f64],
    out_scale: f64,
) -> Result<Ciphertext<B>> {
    if ct.level() < 1 {
        return Err(Error::LevelTooLow {
            op,
            needed: 1,
            level: ct.level(),
        });
    }
    if ct.slots() != n {
        return Err(Error::InvalidInput(format!(
            "{layer}<{n}> applied to a ciphertext with {} slots",
            ct.slots()
        )));
    }
    let mut out = map.apply(ev, ct, ops::pt_scale_for(ev, ct, out_scale)?)?;
    out.set_scale(out_scale);
    ops::add_plain_values(ev, &mut out, bias)?;
    Ok(out)
}

/// Per-channel sums over `H × W` of a tensor packed with a [`Layout`] (global pooling,
/// before the `1/(H·W)` the next layer folds in): `log2 H + log2 W` rotations, no level.
/// Afterwards the slot of `(c, 0, 0)` holds channel `c`'s sum; other slots hold partial
/// sums, which the next layer ignores.
///
/// ```
/// use fhe_dsl::tensor::Layout;
/// use fhe_dsl::typed::SpatialSum;
/// let l = Layout::multiplexed(2, 2, 2, 1)?;
/// let pool = SpatialSum::<8>::new(l)?;
/// let x = l.pack(&[1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0], 8)?;
/// let y = pool.apply_plain(&x);
/// assert_eq!((y[l.slot(0, 0, 0)], y[l.slot(1, 0, 0)]), (10.0, 100.0));
/// assert_eq!(pool.rotations(), vec![1, 2]);
/// assert!(SpatialSum::<4>::new(l).is_err()); // 8 values do not fit 4 slots
/// # Ok::<(), fhe_dsl::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SpatialSum<const N: usize> {
    layout: Layout,
}

impl<const N: usize> SpatialSum<N> {
    /// Sums over the spatial positions of `layout`. Errors when the layout does not fit
    /// `N` slots or its height or width is not a power of two.
    pub fn new(layout: Layout) -> Result<Self> {
        if !N.is_power_of_two() || layout.period() > N {
            return Err(Error::InvalidInput(format!(
                "SpatialSum<{N}>: a layout of period {} does not fit {N} slots",
                layout.period()
            )));
        }
        check_pow2_spatial(&layout)?;
        Ok(SpatialSum { layout })
    }

    /// The layout summed over.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The rotation steps the layer needs keys for.
    pub fn rotations(&self) -> Vec<i64> {
        spatial_sum_steps(&self.layout)
    }

    /// The float64 reference (`x` zero-padded to `N`).
    pub fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        let mut acc = x.to_vec();
        acc.resize(N, 0.0);
        rotate_and_add_plain(acc, &self.layout)
    }
}

impl<B: Backend, const N: usize, const L: usize, S: ScaleState> EncVector<B, N, L, S> {
    /// Global pooling ([`SpatialSum`]): rotations and additions, no level, scale kept.
    pub fn spatial_sum(&self, layer: &SpatialSum<N>, ev: &Evaluator<B>) -> Result<Self> {
        let y = spatial_sum(ev, self.as_ct().ciphertext(), &layer.layout)?;
        Ok(EncVector::from_ct(Ct::from_checked(y)?))
    }
}

impl<B: Backend, const N: usize, const L: usize> EncVector<B, N, L, Fresh> {
    /// A [`Linear`] layer: one level, output scale equal to the input's.
    pub fn linear<P>(
        &self,
        layer: &Linear<N>,
        ev: &Evaluator<B>,
    ) -> Result<<P::Below as KnownLevel>::Vector<B, N, Fresh>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        let ct = self.as_ct().ciphertext();
        P::Below::wrap_vector(layer.apply_to_scale(ev, ct, ct.scale())?)
    }

    /// Any [`LinearLayer`] (one level), its output prepared for a [`square`](Self::square)
    /// at level `AT` (at most the output's level: lower it there with `mod_down`): the
    /// output's scale is `√(s · q_AT)` with `s` this value's scale, so the square returns
    /// to `s` exactly. See [`PreSquare`] for why.
    pub fn pre_square<const AT: usize, P, Lyr>(
        &self,
        layer: &Lyr,
        ev: &Evaluator<B>,
    ) -> Result<<P::Below as KnownLevel>::Vector<B, N, PreSquare<AT>>>
    where
        P: LevelBelow,
        Level<L>: Is<P>,
        P::Below: AtLeast<AT>,
        Lyr: LinearLayer<N>,
    {
        let ct = self.as_ct().ciphertext();
        let q = ev.ckks().params().rescale_divisor(AT);
        P::Below::wrap_vector(layer.apply_to_scale(ev, ct, (ct.scale() * q).sqrt())?)
    }
}

impl<B: Backend, const N: usize, const L: usize, S: ScaleState> EncVector<B, N, L, S> {
    /// `x²` (relinearised, rescaled): one level, back at the scale of the value the
    /// [`pre_square`](Self::pre_square) layer read. Only for values in state
    /// [`PreSquare<L>`](PreSquare) ([`SquareReady`]); anything else is a compile error
    /// that says how to prepare the value.
    pub fn square<P>(
        &self,
        ev: &Evaluator<B>,
    ) -> Result<<P::Below as KnownLevel>::Vector<B, N, Fresh>>
    where
        S: SquareReady<L>,
        P: LevelBelow,
        Level<L>: Is<P>,
    {
        let ct = self.as_ct().ciphertext();
        let mut sq = ev.mul_new(ct, ct)?;
        ev.relinearize_rescale_assign(&mut sq)?;
        P::Below::wrap_vector(sq)
    }
}

/// One step of a `model!` forward pass, as `forward_observed` reports it.
#[derive(Clone, Copy, Debug)]
pub struct StepInfo<'a> {
    /// 0-based position among the pass's steps (automatic bootstraps included).
    pub index: usize,
    /// Number of steps in the pass.
    pub of: usize,
    /// The value the step defines.
    pub value: &'a str,
    /// The layer or operation (`square`, `add`, `bootstrap`, …); a bootstrap placed by
    /// `auto_bootstrap` reports `bootstrap (automatic)`.
    pub op: &'a str,
    /// Level of the result.
    pub level: usize,
    /// Rotations the step performs (key switches), for layers that know it.
    pub rotations: usize,
    /// Wall time of the step.
    pub elapsed: Duration,
}

/// Watches a `model!` forward pass step by step: progress bars, per-layer timings, or
/// decrypting intermediates against a twin (with the secret key, for diagnostics). An
/// error stops the pass. `()` watches nothing; closures
/// `FnMut(&StepInfo, &Ciphertext<B>) -> Result<()>` are observers.
pub trait Observer<B: Backend> {
    /// Called after each step with its result.
    fn step(&mut self, info: &StepInfo<'_>, ct: &Ciphertext<B>) -> Result<()>;
}

/// Reports a generated forward pass's step to its observer and restarts the step clock
/// (called by `model!`'s code, one line per step).
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn observe<B: Backend, O: Observer<B> + ?Sized>(
    obs: &mut O,
    clock: &mut std::time::Instant,
    index: usize,
    of: usize,
    value: &str,
    op: &str,
    level: usize,
    rotations: usize,
    ct: &Ciphertext<B>,
) -> Result<()> {
    let info = StepInfo {
        index,
        of,
        value,
        op,
        level,
        rotations,
        elapsed: clock.elapsed(),
    };
    obs.step(&info, ct)?;
    *clock = std::time::Instant::now();
    Ok(())
}

impl<B: Backend> Observer<B> for () {
    fn step(&mut self, _: &StepInfo<'_>, _: &Ciphertext<B>) -> Result<()> {
        Ok(())
    }
}

impl<B: Backend, F: FnMut(&StepInfo<'_>, &Ciphertext<B>) -> Result<()>> Observer<B> for F {
    fn step(&mut self, info: &StepInfo<'_>, ct: &Ciphertext<B>) -> Result<()> {
        self(info, ct)
    }
}
