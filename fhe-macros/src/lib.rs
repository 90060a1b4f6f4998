//! # fhe-macros
//!
//! [`model!`] turns a forward pass written in a small, Rust-shaped language into a
//! struct of plaintext weights and a `forward` method made of plain generic calls into
//! [`fhe_dsl::typed`](../fhe_dsl/typed/index.html), generic over the backend. At
//! expansion time it computes the level of every value, rejects a pass that runs out of
//! levels with an error on the offending step, can place bootstraps for you, and
//! publishes the exact rotation steps the model needs as a constant.
//!
//! The level arithmetic here and the types in `fhe_dsl::typed` agree by construction:
//! every `let` the macro emits carries the type the macro computed
//! (`EncVector<B, SLOTS, LEVEL>`), so an accepted program that the types disagreed with
//! would not compile.

mod codegen;
mod lower;
mod parse;

use proc_macro::TokenStream;

fn expand(m: parse::Model) -> proc_macro2::TokenStream {
    let mut errors: Vec<syn::Error> = Vec::new();
    let h = lower::header(&m.main, &mut errors);
    let mut out = vec![codegen::blocks(&m), codegen::model_struct(&m, &h)];
    let insts = lower::instances(&h);
    for (k, inst) in insts.iter().enumerate() {
        // name-resolution errors are the same for every instance: keep the first's
        let mut errs = Vec::new();
        let (src, spans) = lower::lower(&m, &h, inst, &mut errs);
        let ok = errs.is_empty() && errors.is_empty();
        if k == 0 {
            errors.extend(errs);
        }
        let compiled = if ok {
            match fhe_plan::compile_with_origins(&src) {
                Ok(c) => Some(c),
                Err(diags) => {
                    let ctx = if inst.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (for {})",
                            inst.iter()
                                .map(|(p, v)| format!("{p} = {v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    for d in diags {
                        errors.push(lower::diag_error(&spans, &d, &m.main.name, &ctx));
                    }
                    None
                }
            }
        } else {
            None
        };
        out.push(codegen::instance(
            &m,
            &h,
            inst,
            compiled.as_ref().map(|(p, o)| (p, o.as_slice())),
            &spans,
        ));
    }
    let errs = errors
        .into_iter()
        .reduce(|mut a, b| {
            a.combine(b);
            a
        })
        .map(|e| e.to_compile_error());
    quote::quote! { #errs #(#out)* }
}

/// Declares an encrypted model: its settings, its layers and its forward pass.
///
/// ```
/// use fhe_dsl::backend::reference::ReferenceBackend;
/// use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
/// use fhe_dsl::typed::{Dense, EncVector, Poly};
///
/// fhe_macros::model! {
///     /// Two dense layers around a square.
///     pub struct Tiny {
///         slots: 4,
///         input_level: 5,
///     }
///     layers {
///         fc1: Dense,
///         sq: Poly(degree = 2),
///         fc2: Dense,
///     }
///     fn forward(x) {
///         let h = fc1(x);   // level 5 → 4
///         let a = sq(h);    // 4 → 2
///         let y = fc2(a);   // 2 → 1
///         y
///     }
/// }
///
/// # fn main() -> fhe_dsl::Result<()> {
/// assert_eq!(Tiny::OUTPUT_LEVEL, 1);
/// assert_eq!(Tiny::ROTATIONS, &[1, 2, 3]);
/// let model = Tiny {
///     fc1: Dense::new(vec![0.25; 16], vec![0.0; 4])?,
///     sq: Poly::new(vec![0.0, 0.5, 0.5])?,
///     fc2: Dense::identity(),
/// };
/// let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, ReferenceBackend);
/// let mut kg = ckks.key_generator();
/// let sk = kg.secret_key();
/// let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &model.key_request())?)?;
/// let enc = ckks.encryptor(&kg.public_key(&sk)?);
/// let input = [0.1, 0.2, 0.3, 0.4];
/// let x = EncVector::encrypt(&ckks, &enc, &input)?;
/// let y: EncVector<ReferenceBackend, 4, 1> = model.forward(&ev, x)?;
/// let got = y.decrypt(&ckks.decryptor(&sk))?;
/// for (g, w) in got.iter().zip(model.forward_plain(&input)) {
///     assert!((g - w).abs() < 1e-5);
/// }
/// # Ok(()) }
/// ```
///
/// # Syntax
///
/// ```text
/// model! {
///     #[doc attributes]  VIS block BLOCK {          // zero or more blocks, before the model
///         layers { … }  fn forward(x) { … }         // same as a model's, no settings
///     }
///     #[doc attributes]  VIS struct NAME<const P: usize, …> {
///         slots: N,                // packed length: a power of two, or a parameter `P`
///         input_level: L,          // level of the input
///         bootstrap_level: Lb,     // optional: level after a bootstrap
///         auto_bootstrap,          // optional: place bootstraps automatically
///         P in [v1, v2, …],        // the values a parameter is instantiated for
///     }
///     layers { name: Dense, name: Diagonal, name: Conv, name: Linear, name: SpatialSum,
///              name: Poly(degree = d), name: BLOCK, name: [BLOCK; n or P], … }
///     fn forward(input) {
///         let v = layer(u);        // Dense, Diagonal, Conv, Linear: 1 level; SpatialSum: 0;
///                                  // Poly: levels_for_degree(d); a block: its steps;
///                                  // an array of blocks: each block in turn
///         let v = square(u);       // u², 1 level: `u` straight from linear layers (or an
///                                  // `add` of them), used by nothing else
///         let v = bootstrap(u);    // → level Lb
///         let v = add(u, w);       // the higher operand is `mod_down`ed: free
///         let v = rotate(u, k);    // left rotation by the integer literal k
///         let v = sum(u);          // every slot ← the sum (rotations 1, 2, 4, …)
///         v                        // the output
///     }
/// }
/// ```
///
/// # Blocks, repetition and parameters
///
/// A `block` is a model without settings: its layers and forward pass are inlined
/// wherever the model calls it, so levels, the square rule, bootstrap placement and the
/// rotation keys are worked out per instance, through block boundaries. An array
/// `[BLOCK; n]` applies its `n` blocks one after the other; its length may be a const
/// generic parameter listed with `P in [...]`, and the macro compiles the model once
/// per listed value (`impl NAME<…, 3>`, `impl NAME<…, 5>`, …, each with its own
/// constants, plan and typed forward pass). `slots: P` takes the slot count from a
/// const generic instead of a literal (`Dense` and `sum`, whose rotations depend on it,
/// need a literal). Values inside blocks are named by path: `layer1.0.z1`; layers too:
/// `layer1.0.conv1`.
///
/// ```
/// use fhe_dsl::typed::{Diagonal, Poly};
///
/// fhe_macros::model! {
///     /// One diagonal layer and a quadratic activation: 3 levels.
///     pub block Unit {
///         layers { d: Diagonal, act: Poly(degree = 2) }
///         fn forward(x) {
///             let u = d(x);
///             let v = act(u);
///             v
///         }
///     }
///
///     /// `N` units on `SLOTS` slots.
///     pub struct Stack<const SLOTS: usize, const N: usize> {
///         slots: SLOTS,
///         N in [1, 2],
///         input_level: 6,
///     }
///     layers { units: [Unit; N] }
///     fn forward(x) {
///         let y = units(x);
///         y
///     }
/// }
///
/// assert_eq!(Stack::<8, 1>::OUTPUT_LEVEL, 3);
/// assert_eq!(Stack::<8, 2>::OUTPUT_LEVEL, 0);
/// assert_eq!(Stack::<8, 2>::LEVELS[2], ("units.0.v", 3));
/// let unit = || Unit::<8> {
///     d: Diagonal::new(vec![0.5; 8], vec![0.0; 8]).unwrap(),
///     act: Poly::new(vec![0.0, 1.0, 0.25]).unwrap(),
/// };
/// let m = Stack::<8, 2> { units: [unit(), unit()] };
/// let y = m.forward_plain(&[1.0; 8]);
/// // twice v = u + u²/4 with u = x/2, from 1: 0.5625, then 0.301025390625
/// assert!((y[0] - 0.301025390625).abs() < 1e-12);
/// ```
///
/// Every model implements [`fhe_dsl::model::Model`](../fhe_dsl/model/trait.Model.html):
/// its compiled [`Plan`](../fhe_dsl/plan/struct.Plan.html) (`NAME::plan()`) and its
/// layers by index, which the interpreters in `fhe_dsl::model` walk (cleartext twin,
/// noisy traces, range checks, key requests).
///
/// # What it generates
///
/// - `VIS struct NAME { pub layer: Dense<N> | Diagonal<N> | Conv<N> | Linear<N> |
///   SpatialSum<N> | Poly<K> | BLOCK<N> | [BLOCK<N>; n], … }`, and for each block
///   `VIS struct BLOCK<const SLOTS: usize> { … }`;
/// - constants `SLOTS`, `INPUT_LEVEL`, `OUTPUT_LEVEL`, `BOOTSTRAP_LEVEL` (if declared),
///   `BOOTSTRAPS` (explicit + automatic), `STEPS` (how many times `forward_observed`
///   calls its observer: one per step plus one per automatic bootstrap),
///   `AUTO_BOOTSTRAPPED` (the values bootstrapped automatically), `LEVELS` (each value's
///   level as the next step sees it: a value bootstrapped automatically is listed at the
///   bootstrap's output level), `ROTATIONS` (the rotation steps known at expansion time:
///   `rotate`, `sum`, `Dense`), `NEEDS_RELIN`;
/// - `key_request(&self)`: **the** evaluation keys to generate for this model —
///   relinearisation if needed, `ROTATIONS`, and the steps of its `Conv`, `Linear` and
///   `SpatialSum` layers, which depend on their
///   [`Layout`](../fhe_dsl/tensor/struct.Layout.html)s (values given with the weights,
///   unknown at expansion time), each with keys only up to the level the layer runs at;
///   `rotations_for(&self)`: all the rotation steps;
/// - `check_params(&Params, Option<&BootstrapConfig>)`: before key generation, checks
///   that the parameters offer `input_level` and `slots` and that the bootstrapping
///   configuration returns exactly `bootstrap_level`;
/// - `check_ranges(&self, input, &RangeLimits)`: the cleartext twin on a sample input,
///   every value checked against its level's headroom and each bootstrap input against
///   the bootstrap's range; an error names the step
///   ([`fhe_dsl::typed::RangeLimits`](../fhe_dsl/typed/struct.RangeLimits.html));
/// - `check_input_range(&self, &Bounds, &RangeLimits)` and
///   `check_declared_range(&self, &RangeLimits)`: the same checks for every input in a
///   declared range (an interval per slot, or the limits' `with_input_range`), by
///   interval arithmetic through the same steps: sound bounds, possibly loose;
/// - `forward<B: Backend, Bt: Bootstrap<B, Lb>>(&self, ev, bt, x)` (`bt` only when
///   `bootstrap_level` is declared), whose every `let` is typed with its level; a
///   run-time error is wrapped in `Error::AtStep`, naming the value and the layer;
/// - `forward_observed(&self, ev, [bt,] x, obs)`: the same, reporting every step (value,
///   layer — `bootstrap (automatic)` for a placed bootstrap —, level, rotations, wall
///   time, the ciphertext) to a
///   [`fhe_dsl::typed::Observer`](../fhe_dsl/typed/trait.Observer.html);
/// - `forward_plain(&self, x: &[f64]) -> Vec<f64>`, the float64 reference of the same pass.
///
/// # One-level squares
///
/// `square(u)` is the nonlinear half of a quadratic activation whose affine parts are
/// folded into the neighbouring layers (AESPA): one level, like the layers. For the
/// squared value to keep its scale, the linear layers that produce `u` land it on a
/// scale made for the square (`EncVector::pre_square`, state `PreSquare<AT>`); the macro
/// finds them — through `add`s, as in a residual block — and rejects a `square` whose
/// input comes from anything else, or is also used elsewhere, with an error on the
/// `square`.
///
/// # Convolutions
///
/// A `Conv` layer is a [`fhe_dsl::typed::Conv<N>`](../fhe_dsl/typed/struct.Conv.html):
/// a 2-D convolution from one packed tensor layout to another, any kernel, stride and
/// padding, one level. Its weights and layouts are supplied with the model; its keys come
/// from `key_request`:
///
/// ```
/// use fhe_dsl::backend::reference::ReferenceBackend;
/// use fhe_dsl::ckks::{Ckks, Params, ParamsLiteral};
/// use fhe_dsl::tensor::Layout;
/// use fhe_dsl::typed::{Conv, EncVector, Poly};
///
/// fhe_macros::model! {
///     struct ConvSq { slots: 64, input_level: 3 }
///     layers { conv: Conv, sq: Poly(degree = 2) }
///     fn forward(x) {
///         let c = conv(x);  // level 3 → 2
///         let a = sq(c);    // 2 → 0
///         a
///     }
/// }
///
/// # fn main() -> fhe_dsl::Result<()> {
/// // 1×4×4 → 4×2×2 (stride 2 into the multiplexed gap-2 layout)
/// let (lin, lout) = (Layout::multiplexed(1, 4, 4, 1)?, Layout::multiplexed(4, 2, 2, 2)?);
/// let w: Vec<f64> = (0..4 * 9).map(|i| (i as f64 * 0.7).sin() / 9.0).collect();
/// let model = ConvSq {
///     conv: Conv::new(lin, lout, 3, 2, 1, w, vec![0.0, 0.1, 0.2, 0.3])?,
///     sq: Poly::new(vec![0.0, 0.5, 0.5])?,
/// };
/// assert!(ConvSq::ROTATIONS.is_empty()); // only the conv rotates
/// assert_eq!(model.rotations_for(), model.conv.rotations());
/// let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, ReferenceBackend);
/// let mut kg = ckks.key_generator();
/// let sk = kg.secret_key();
/// let ev = ckks.evaluator(&kg.evaluation_keys(&sk, &model.key_request())?)?;
/// let input = lin.pack(&(0..16).map(|i| i as f64 / 16.0).collect::<Vec<_>>(), 64)?;
/// let x = EncVector::encrypt(&ckks, &ckks.encryptor(&kg.public_key(&sk)?), &input)?;
/// let y: EncVector<ReferenceBackend, 64, 0> = model.forward(&ev, x)?;
/// let got = y.decrypt(&ckks.decryptor(&sk))?;
/// for (g, w) in got.iter().zip(model.forward_plain(&input)) {
///     assert!((g - w).abs() < 1e-5);
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// All at once, each spanning the offending step, with the rest of the expansion still
/// emitted so the struct and its methods resolve in an IDE:
///
/// ```compile_fail
/// fhe_macros::model! {
///     struct Deep { slots: 4, input_level: 3 }
///     layers { fc: Dense, act: Poly(degree = 2) }
///     fn forward(x) {
///         let c1 = fc(x);
///         let c2 = fc(c1);
///         let a = act(c2); // error: `act` needs 2 levels, 1 left after `c2`; insert `bootstrap`
///         a
///     }
/// }
/// ```
///
/// With `auto_bootstrap`, the macro finds a placement with the fewest bootstraps (exact
/// search for up to 20 values; beyond, a greedy one: where the pass first runs short, it
/// bootstraps the ancestor that lets the pass run furthest — on a residual network, the
/// block input that serves both branches), shown in the types of `forward` and in
/// `AUTO_BOOTSTRAPPED`. Values prepared for a square are never bootstrapped.
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    let model = syn::parse_macro_input!(input as parse::Model);
    expand(model).into()
}
