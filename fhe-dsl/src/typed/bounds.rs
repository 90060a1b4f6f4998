//! Sound value bounds over a declared input range: interval arithmetic through a
//! model's cleartext plan.
//!
//! `check_ranges` runs the cleartext twin on the inputs it is given; a model can pass it
//! on a mild sample and still overflow on another input of the same range. [`Bounds`]
//! holds an interval `[lo_i, hi_i]` per slot, and each step of the plan maps intervals to
//! intervals that contain every value the step can produce from inputs inside them:
//!
//! - a linear layer `y = W·x + b` (dense, diagonal, convolution, packed linear, spatial
//!   sum) in midpoint-radius form: with `x = c ± r`, `y = (W·c + b) ± |W|·r`;
//! - a square: the exact image of the interval (`[0, max(lo², hi²)]` when it holds 0);
//! - a polynomial: Horner's scheme in interval arithmetic;
//! - an addition, a rotation, a slot sum: endpoint by endpoint;
//! - a bootstrap: the identity.
//!
//! Every result is widened by [`ROUNDING_MARGIN`] times the magnitudes that entered it,
//! which covers the float64 rounding of the twin itself (and of the bound), so the bound
//! holds for the twin's computed values, not only for exact arithmetic. `model!`
//! generates `check_input_range(&self, &bounds, &limits)` and `check_declared_range`,
//! which compare these bounds with the same [`RangeLimits`](super::RangeLimits) as
//! `check_ranges`, step by step.

use super::vector::{Dense, Diagonal, Poly};
use crate::error::{Error, Result};

/// Relative widening applied to every propagated interval, for float64 rounding: a
/// sum of `n` products is off by at most about `n · 2⁻⁵³` of the sum of their
/// magnitudes; `1e-10` covers sums of up to ~10⁵ terms with room to spare.
pub const ROUNDING_MARGIN: f64 = 1e-10;

/// An interval `[lo_i, hi_i]` per slot: the values a step of a model can take over a
/// declared input range. Each step maps intervals to intervals containing every value it
/// can produce from inputs inside them: a linear layer `y = W·x + b` in midpoint-radius
/// form (`x = c ± r` gives `y = (W·c + b) ± |W|·r`, through [`IntervalLayer`]), a square
/// exactly, a polynomial by Horner's scheme in interval arithmetic, an addition, a
/// rotation or a slot sum end by end; each result is widened by [`ROUNDING_MARGIN`] of the
/// magnitudes that entered it, for float64 rounding. `model!`'s generated
/// `check_input_range` and `check_declared_range` walk a model's steps with it.
///
/// ```
/// use fhe_dsl::typed::{Bounds, Dense, IntervalLayer};
/// let x = Bounds::uniform(2, -1.0, 1.0)?;
/// let d = Dense::<2>::new(vec![1.0, -2.0, 0.5, 0.5], vec![0.0, 1.0])?;
/// let y = d.apply_bounds(&x);
/// // |1·x0 − 2·x1| ≤ 3, 0.5·x0 + 0.5·x1 + 1 ∈ [0, 2]
/// assert!((y.hi()[0] - 3.0).abs() < 1e-6 && y.lo()[1].abs() < 1e-6);
/// assert!(y.square().lo()[0] == 0.0 && (y.square().hi()[0] - 9.0).abs() < 1e-6);
/// # Ok::<(), fhe_dsl::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Bounds {
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl Bounds {
    /// Per-slot intervals. Errors when the lengths differ, a value is not finite, or
    /// `lo_i > hi_i`.
    ///
    /// ```
    /// use fhe_dsl::typed::Bounds;
    /// assert!(Bounds::new(vec![0.0, -1.0], vec![1.0, 1.0]).is_ok());
    /// assert!(Bounds::new(vec![2.0], vec![1.0]).is_err());
    /// ```
    pub fn new(lo: Vec<f64>, hi: Vec<f64>) -> Result<Self> {
        if lo.len() != hi.len() {
            return Err(Error::InvalidInput(format!(
                "bounds: {} lower and {} upper ends",
                lo.len(),
                hi.len()
            )));
        }
        for (i, (&a, &b)) in lo.iter().zip(&hi).enumerate() {
            if !a.is_finite() || !b.is_finite() || a > b {
                return Err(Error::InvalidInput(format!(
                    "bounds: slot {i} has the interval [{a}, {b}]: need finite lo ≤ hi"
                )));
            }
        }
        Ok(Bounds { lo, hi })
    }

    /// The same interval `[lo, hi]` on `n` slots.
    pub fn uniform(n: usize, lo: f64, hi: f64) -> Result<Self> {
        Bounds::new(vec![lo; n], vec![hi; n])
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.lo.len()
    }

    /// Whether there are no slots.
    pub fn is_empty(&self) -> bool {
        self.lo.is_empty()
    }

    /// Lower ends.
    pub fn lo(&self) -> &[f64] {
        &self.lo
    }

    /// Upper ends.
    pub fn hi(&self) -> &[f64] {
        &self.hi
    }

    /// The largest magnitude per slot, `max(|lo_i|, |hi_i|)`.
    pub fn magnitudes(&self) -> Vec<f64> {
        self.lo
            .iter()
            .zip(&self.hi)
            .map(|(a, b)| a.abs().max(b.abs()))
            .collect()
    }

    /// The largest magnitude over all slots.
    pub fn max_abs(&self) -> f64 {
        self.magnitudes().into_iter().fold(0.0, f64::max)
    }

    /// Whether every `x_i` lies in its interval (slots beyond `x` count as 0).
    pub fn contains(&self, x: &[f64]) -> bool {
        (0..self.len()).all(|i| {
            let v = x.get(i).copied().unwrap_or(0.0);
            self.lo[i] <= v && v <= self.hi[i]
        })
    }

    /// Truncated or padded with `[0, 0]` to `n` slots (as the twin zero-pads its input).
    pub fn resized(&self, n: usize) -> Self {
        let (mut lo, mut hi) = (self.lo.clone(), self.hi.clone());
        lo.resize(n, 0.0);
        hi.resize(n, 0.0);
        Bounds { lo, hi }
    }

    /// `[lo, hi]` widened by [`ROUNDING_MARGIN`] times `mag` (the magnitudes that
    /// entered the result).
    fn widened(lo: Vec<f64>, hi: Vec<f64>, mag: &[f64]) -> Self {
        let lo = lo
            .iter()
            .zip(mag)
            .map(|(v, m)| v - ROUNDING_MARGIN * (m + v.abs()))
            .collect();
        let hi = hi
            .iter()
            .zip(mag)
            .map(|(v, m)| v + ROUNDING_MARGIN * (m + v.abs()))
            .collect();
        Bounds { lo, hi }
    }

    /// Slot-wise sum (the twin's `add`).
    pub fn add(&self, other: &Bounds) -> Self {
        let lo = self.lo.iter().zip(&other.lo).map(|(a, b)| a + b).collect();
        let hi = self.hi.iter().zip(&other.hi).map(|(a, b)| a + b).collect();
        let mag: Vec<f64> = self
            .magnitudes()
            .iter()
            .zip(other.magnitudes())
            .map(|(a, b)| a + b)
            .collect();
        Bounds::widened(lo, hi, &mag)
    }

    /// Slot-wise square: the exact image of each interval.
    pub fn square(&self) -> Self {
        let (lo, hi): (Vec<f64>, Vec<f64>) = self
            .lo
            .iter()
            .zip(&self.hi)
            .map(|(&a, &b)| {
                let (a2, b2) = (a * a, b * b);
                if a <= 0.0 && b >= 0.0 {
                    (0.0, a2.max(b2))
                } else {
                    (a2.min(b2), a2.max(b2))
                }
            })
            .unzip();
        let mag = hi.clone();
        let mut out = Bounds::widened(lo, hi, &mag);
        // a square is never negative
        out.lo.iter_mut().for_each(|v| *v = v.max(0.0));
        out
    }

    /// Every slot ← the sum of all slots (the twin's `sum`).
    pub fn sum(&self) -> Self {
        let n = self.len();
        let mag: f64 = self.magnitudes().iter().sum();
        Bounds::widened(
            vec![self.lo.iter().sum(); n],
            vec![self.hi.iter().sum(); n],
            &vec![mag; n],
        )
    }

    /// Left rotation by `step` (the twin's `rotate`): exact.
    pub fn rotate(&self, step: i64) -> Self {
        Bounds {
            lo: super::plain::rotate(&self.lo, step),
            hi: super::plain::rotate(&self.hi, step),
        }
    }

    /// The image under an affine map `y = W·x + b` given as `apply(x) = W·x + b` and
    /// `abs_apply(r) = |W|·r` (absolute weights, no bias): midpoint `apply(c)`, radius
    /// `|W|·r`. For the layers that implement [`IntervalLayer`].
    pub fn affine(
        &self,
        apply: impl Fn(&[f64]) -> Vec<f64>,
        abs_apply: impl Fn(&[f64]) -> Vec<f64>,
    ) -> Self {
        let c: Vec<f64> = self
            .lo
            .iter()
            .zip(&self.hi)
            .map(|(a, b)| 0.5 * (a + b))
            .collect();
        // the radius rounded up to cover both ends from the midpoint
        let r: Vec<f64> = self
            .lo
            .iter()
            .zip(&self.hi)
            .zip(&c)
            .map(|((a, b), m)| (b - m).max(m - a) * (1.0 + 4.0 * f64::EPSILON))
            .collect();
        let yc = apply(&c);
        let yr = abs_apply(&r);
        let total: Vec<f64> = c.iter().zip(&r).map(|(m, r)| m.abs() + r).collect();
        let mag: Vec<f64> = abs_apply(&total)
            .iter()
            .zip(&yc)
            .map(|(t, y)| t + y.abs())
            .collect();
        let lo = yc.iter().zip(&yr).map(|(y, r)| y - r).collect();
        let hi = yc.iter().zip(&yr).map(|(y, r)| y + r).collect();
        Bounds::widened(lo, hi, &mag)
    }

    /// `p(x)` slot-wise, for `p` with `coeffs` (constant first): Horner's scheme in
    /// interval arithmetic, as the twin's Horner evaluation.
    pub fn poly(&self, coeffs: &[f64]) -> Self {
        let n = self.len();
        let Some((&top, rest)) = coeffs.split_last() else {
            return Bounds::uniform(n, 0.0, 0.0).expect("zeros are finite");
        };
        let (mut lo, mut hi) = (vec![top; n], vec![top; n]);
        for &c in rest.iter().rev() {
            for i in 0..n {
                let (a, b) = (self.lo[i], self.hi[i]);
                let p = [lo[i] * a, lo[i] * b, hi[i] * a, hi[i] * b];
                let pmin = p.iter().copied().fold(f64::INFINITY, f64::min);
                let pmax = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mag = pmin.abs().max(pmax.abs()) + c.abs();
                lo[i] = pmin + c - ROUNDING_MARGIN * mag;
                hi[i] = pmax + c + ROUNDING_MARGIN * mag;
            }
        }
        Bounds { lo, hi }
    }
}

/// A layer whose output intervals can be bounded from its input intervals: every layer
/// `model!` accepts. `apply_bounds(x)` contains `apply_plain(v)` for every `v` in `x`.
pub trait IntervalLayer {
    /// Sound output bounds for inputs within `x`.
    fn apply_bounds(&self, x: &Bounds) -> Bounds;
}

impl<const N: usize> IntervalLayer for Dense<N> {
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        let (w, _) = self.parts();
        x.affine(
            |c| self.apply_plain(c),
            |r| {
                (0..N)
                    .map(|j| {
                        (0..N)
                            .map(|k| w[j * N + k].abs() * r.get(k).copied().unwrap_or(0.0))
                            .sum()
                    })
                    .collect()
            },
        )
    }
}

impl<const N: usize> IntervalLayer for Diagonal<N> {
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        let (w, _) = self.parts();
        x.affine(
            |c| self.apply_plain(c),
            |r| {
                (0..N)
                    .map(|j| w[j].abs() * r.get(j).copied().unwrap_or(0.0))
                    .collect()
            },
        )
    }
}

impl<const K: usize> IntervalLayer for Poly<K> {
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        x.poly(self.coeffs())
    }
}

impl<const N: usize> IntervalLayer for super::Linear<N> {
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        x.affine(
            |c| self.apply_plain(c),
            |r| {
                let mut v = r.to_vec();
                v.resize(N, 0.0);
                self.map().apply_abs_plain(&v)
            },
        )
    }
}

impl<const N: usize> IntervalLayer for super::SpatialSum<N> {
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        // rotate-and-add: every weight is +1, so |W|·r is the map itself
        x.affine(|c| self.apply_plain(c), |r| self.apply_plain(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn sample(b: &Bounds, rng: &mut impl Rng) -> Vec<f64> {
        (0..b.len())
            .map(|i| match rng.gen_range(0..4) {
                0 => b.lo()[i],
                1 => b.hi()[i],
                _ => rng.gen_range(b.lo()[i]..=b.hi()[i]),
            })
            .collect()
    }

    #[test]
    fn each_step_contains_its_samples() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            let lo: Vec<f64> = (0..4).map(|_| rng.gen_range(-3.0..1.0)).collect();
            let hi: Vec<f64> = lo.iter().map(|l| l + rng.gen_range(0.0..2.0)).collect();
            let b = Bounds::new(lo, hi).unwrap();
            let w: Vec<f64> = (0..16).map(|_| rng.gen_range(-2.0..2.0)).collect();
            let bias: Vec<f64> = (0..4).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let d = Dense::<4>::new(w.clone(), bias.clone()).unwrap();
            let g = Diagonal::<4>::new(w[..4].to_vec(), bias).unwrap();
            let p = Poly::<3>::new(vec![0.1, -0.5, 0.25, -0.125]).unwrap();
            for _ in 0..200 {
                let x = sample(&b, &mut rng);
                assert!(b.contains(&x));
                assert!(d.apply_bounds(&b).contains(&d.apply_plain(&x)));
                assert!(g.apply_bounds(&b).contains(&g.apply_plain(&x)));
                assert!(p.apply_bounds(&b).contains(&p.apply_plain(&x)));
                assert!(b.square().contains(&super::super::plain::mul(&x, &x)));
                assert!(b.sum().contains(&super::super::plain::sum(&x)));
                assert!(b.rotate(3).contains(&super::super::plain::rotate(&x, 3)));
                assert!(b.add(&b).contains(&super::super::plain::add(&x, &x)));
            }
        }
    }

    #[test]
    fn square_of_an_interval_holding_zero_starts_at_zero() {
        let b = Bounds::uniform(1, -2.0, 1.0).unwrap().square();
        assert_eq!(b.lo()[0], 0.0);
        assert!((b.hi()[0] - 4.0).abs() < 1e-8);
        let b = Bounds::uniform(1, -3.0, -2.0).unwrap().square();
        assert!((b.lo()[0] - 4.0).abs() < 1e-8 && (b.hi()[0] - 9.0).abs() < 1e-8);
    }
}
