//! A model as written: modules (the model and its blocks) whose steps name their
//! operands by index. Names are resolved by whoever parses the syntax (the macro, with
//! spans); this crate checks everything that follows from the structure.

use crate::graph::Op;
use crate::LayerKind;

/// What a module's layer is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LayerRef {
    /// A primitive layer.
    Kind(LayerKind),
    /// One instance of the block module with this index in [`Source::modules`].
    Block(usize),
    /// `count` instances of a block module, applied one after the other.
    Array {
        /// The block module.
        module: usize,
        /// How many instances.
        count: usize,
    },
}

/// A declared layer of a module.
#[derive(Clone, Debug)]
pub struct LayerDecl {
    /// Its field name.
    pub name: String,
    /// What it is.
    pub kind: LayerRef,
}

/// One `let value = op(args…)` of a module.
#[derive(Clone, Debug)]
pub struct ModStep {
    /// The value it defines.
    pub value: String,
    /// The operation; `Op::Layer(i)` calls the module's layer `i` (a primitive layer, a
    /// block or an array of blocks).
    pub op: Op,
    /// Operands: module value indices (0 is the module's input, `i + 1` step `i`'s value).
    pub args: Vec<usize>,
}

/// A model or a block: an input, layers, steps and an output.
#[derive(Clone, Debug)]
pub struct Module {
    /// Its type name.
    pub name: String,
    /// The input's name.
    pub input: String,
    /// Its layers.
    pub layers: Vec<LayerDecl>,
    /// Its steps, in order.
    pub steps: Vec<ModStep>,
    /// The output value (a module value index).
    pub output: usize,
}

/// Settings of the top-level model.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Slots per ciphertext, when a literal (`None`: a const generic, known at run time).
    pub slots: Option<usize>,
    /// Level of the encrypted input.
    pub input_level: usize,
    /// Level a bootstrap returns, if the model bootstraps.
    pub bootstrap_level: Option<usize>,
    /// Place bootstraps automatically.
    pub auto_bootstrap: bool,
}

/// A whole model: its modules (blocks first or in any order) and which one is the model.
#[derive(Clone, Debug)]
pub struct Source {
    /// Every module.
    pub modules: Vec<Module>,
    /// Index of the top-level model in `modules`.
    pub main: usize,
    /// The model's settings.
    pub settings: Settings,
}

/// Where a diagnostic points: a step of a module as written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Origin {
    /// Module index in [`Source::modules`].
    pub module: usize,
    /// Step index in that module.
    pub step: usize,
}

/// A problem found in a model, with the step it concerns (`None`: the model as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    /// The step, as written.
    pub at: Option<Origin>,
    /// What is wrong and what to do.
    pub message: String,
}

impl Diag {
    pub(crate) fn model(message: impl Into<String>) -> Self {
        Diag {
            at: None,
            message: message.into(),
        }
    }
}
