//! # fhe-plan
//!
//! The one description of an encrypted model that everything else reads: its step graph
//! (layers, squares, adds, rotations, bootstraps), the level simulation over it, the
//! bootstrap placement and the primitive counts. `fhe-macros` builds a [`Source`] from
//! the `model!` syntax and compiles it at expansion time, so a model that runs out of
//! levels is a compile error with a span; the macro embeds the compiled [`Plan`] in the
//! code it emits, and `fhe-dsl` interprets that same plan at run time (cleartext twin,
//! noisy twin, range checks, key planning, cost counts).
//!
//! Layering: [`source`] (modules as written, blocks and arrays of blocks) →
//! [`graph`] (flattened: one step per layer call) → [`check`] (the square rule) →
//! [`place`] (level simulation, automatic bootstraps) → [`plan`] (the lowered plan the
//! generated code and the interpreters walk).

pub mod check;
pub mod graph;
pub mod place;
pub mod plan;
pub mod source;

pub use graph::{FlatLayer, Graph, GraphStep, Op};
pub use plan::{compile, compile_with_origins, Plan, PlanStep};
pub use source::{Diag, LayerDecl, LayerRef, ModStep, Module, Origin, Settings, Source};

/// The highest level the typed API (`fhe_dsl::typed`) has type tables for.
pub const MAX_LEVEL: usize = 64;

/// Exact bootstrap placement is searched up to this many candidate values; beyond, a
/// greedy search.
pub const EXACT_SEARCH_MAX: usize = 20;

/// Levels a degree-`d` polynomial consumes (Paterson–Stockmeyer / power basis depth:
/// `⌈log2 d⌉ + 1` for `d ≥ 2`, one scalar multiply for `d = 1`).
///
/// ```
/// assert_eq!(fhe_plan::levels_for_degree(1), 1);
/// assert_eq!(fhe_plan::levels_for_degree(2), 2);
/// assert_eq!(fhe_plan::levels_for_degree(7), 4);
/// ```
pub const fn levels_for_degree(d: usize) -> usize {
    if d <= 1 {
        return d;
    }
    let mut k = 0;
    while (1usize << k) < d {
        k += 1;
    }
    k + 1
}

/// The kinds of layer a model can hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum LayerKind {
    /// A dense `N × N` matrix on the slots: 1 level, rotations `1..N`.
    Dense,
    /// An element-wise affine map: 1 level, no rotation.
    Diagonal,
    /// A 2-D convolution between packed layouts: 1 level, rotations from its layouts.
    Conv,
    /// Any packed linear map with a per-slot bias: 1 level, rotations from the map.
    Linear,
    /// Per-channel sums over a layout's positions: no level, rotations from the layout.
    SpatialSum,
    /// A polynomial activation of this degree: [`levels_for_degree`] levels.
    Poly {
        /// Its degree (≥ 1).
        degree: usize,
    },
}

impl LayerKind {
    /// Levels one application consumes.
    pub const fn levels(self) -> usize {
        match self {
            LayerKind::Dense | LayerKind::Diagonal | LayerKind::Conv | LayerKind::Linear => 1,
            LayerKind::SpatialSum => 0,
            LayerKind::Poly { degree } => levels_for_degree(degree),
        }
    }

    /// Maps slots linearly for one level, so it can prepare a value for `square`.
    pub const fn is_linear(self) -> bool {
        matches!(
            self,
            LayerKind::Dense | LayerKind::Diagonal | LayerKind::Conv | LayerKind::Linear
        )
    }

    /// Its rotation steps are run-time values (they depend on layouts or the map).
    pub const fn runtime_rotations(self) -> bool {
        matches!(
            self,
            LayerKind::Conv | LayerKind::Linear | LayerKind::SpatialSum
        )
    }

    /// Multiplies ciphertexts (needs the relinearisation key).
    pub const fn needs_relin(self) -> bool {
        matches!(self, LayerKind::Poly { degree } if degree >= 2)
    }

    /// "a convolution", "a degree-3 polynomial activation", … for messages.
    pub fn describe(self) -> String {
        match self {
            LayerKind::Dense => "a dense layer".into(),
            LayerKind::Diagonal => "a diagonal layer".into(),
            LayerKind::Conv => "a convolution".into(),
            LayerKind::Linear => "a linear layer".into(),
            LayerKind::SpatialSum => "a spatial sum".into(),
            LayerKind::Poly { degree } => format!("a degree-{degree} polynomial activation"),
        }
    }
}
