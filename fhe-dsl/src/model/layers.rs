//! What the plan interpreters need from a layer, for every layer `model!` accepts.

use super::cost::{self, Counts, Cx};
use crate::ckks::Params;
use crate::typed::{Bounds, Conv, Dense, Diagonal, IntervalLayer, Linear, Poly, SpatialSum};

/// A layer as the plan interpreters see it (object-safe: no backend).
pub trait PlanLayer {
    /// The float64 reference.
    fn apply_plain(&self, x: &[f64]) -> Vec<f64>;
    /// Sound output bounds for inputs within `x`.
    fn apply_bounds(&self, x: &Bounds) -> Bounds;
    /// The distinct rotation steps one application uses.
    fn rotations(&self) -> Vec<i64>;
    /// Plaintexts (diagonals or constants) one application multiplies by.
    fn diagonals(&self) -> usize;
    /// Adds the backend calls one encrypted application at `level` makes
    /// ([`cost()`](super::cost())).
    fn cost(&self, params: &Params, level: usize, counts: &mut Counts);
}

impl<const N: usize> PlanLayer for Dense<N> {
    fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        Dense::apply_plain(self, x)
    }
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        IntervalLayer::apply_bounds(self, x)
    }
    fn rotations(&self) -> Vec<i64> {
        Dense::<N>::rotations()
    }
    fn diagonals(&self) -> usize {
        N
    }
    fn cost(&self, params: &Params, level: usize, counts: &mut Counts) {
        let (w, b) = self.parts();
        cost::dense(Cx(params), counts, level, w, b);
    }
}

impl<const N: usize> PlanLayer for Diagonal<N> {
    fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        Diagonal::apply_plain(self, x)
    }
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        IntervalLayer::apply_bounds(self, x)
    }
    fn rotations(&self) -> Vec<i64> {
        vec![]
    }
    fn diagonals(&self) -> usize {
        1
    }
    fn cost(&self, params: &Params, level: usize, counts: &mut Counts) {
        cost::diagonal(Cx(params), counts, level, self.parts().1);
    }
}

impl<const N: usize> PlanLayer for Conv<N> {
    fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        Conv::apply_plain(self, x)
    }
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        IntervalLayer::apply_bounds(self, x)
    }
    fn rotations(&self) -> Vec<i64> {
        Conv::rotations(self)
    }
    fn diagonals(&self) -> usize {
        self.packed().diagonals()
    }
    fn cost(&self, params: &Params, level: usize, counts: &mut Counts) {
        cost::packed(Cx(params), counts, level, self.packed(), self.bias_slots());
    }
}

impl<const N: usize> PlanLayer for Linear<N> {
    fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        Linear::apply_plain(self, x)
    }
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        IntervalLayer::apply_bounds(self, x)
    }
    fn rotations(&self) -> Vec<i64> {
        Linear::rotations(self)
    }
    fn diagonals(&self) -> usize {
        Linear::diagonals(self)
    }
    fn cost(&self, params: &Params, level: usize, counts: &mut Counts) {
        cost::packed(Cx(params), counts, level, self.map(), self.bias());
    }
}

impl<const N: usize> PlanLayer for SpatialSum<N> {
    fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        SpatialSum::apply_plain(self, x)
    }
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        IntervalLayer::apply_bounds(self, x)
    }
    fn rotations(&self) -> Vec<i64> {
        SpatialSum::rotations(self)
    }
    fn diagonals(&self) -> usize {
        0
    }
    fn cost(&self, params: &Params, level: usize, counts: &mut Counts) {
        let steps = crate::nn::spatial_sum_steps(self.layout());
        cost::rotate_and_add(Cx(params), counts, level, &steps);
    }
}

impl<const K: usize> PlanLayer for Poly<K> {
    fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        Poly::apply_plain(self, x)
    }
    fn apply_bounds(&self, x: &Bounds) -> Bounds {
        IntervalLayer::apply_bounds(self, x)
    }
    fn rotations(&self) -> Vec<i64> {
        vec![]
    }
    fn diagonals(&self) -> usize {
        0
    }
    fn cost(&self, params: &Params, level: usize, counts: &mut Counts) {
        cost::poly(Cx(params), counts, level, self.coeffs(), K);
    }
}
