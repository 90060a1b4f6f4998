//! What the plan interpreters need from a layer, for every layer `model!` accepts.

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
}
