//! Code generation: the structs (model and blocks), and per instance of the model's
//! parameters the typed forward pass, the embedded plan and the calls into
//! `fhe_dsl::model`'s interpreters of that plan.

use crate::lower::{Header, Slots, Spans};
use crate::parse::{ArrayLen, LayerKind, Model, Unit};
use fhe_plan::{LayerKind as Kind, Op, Origin, Plan};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

/// The slot count as an expression.
fn slots_expr(h: &Header) -> TokenStream {
    match &h.slots {
        Slots::Lit(n) => quote!(#n),
        Slots::Param(p) => quote!(#p),
    }
}

fn field_type(l: &crate::parse::LayerDecl, s: &TokenStream) -> TokenStream {
    let sp = l.kind_ident.span();
    let b = &l.kind_ident;
    match &l.kind {
        LayerKind::Prim(Kind::Dense) => quote_spanned!(sp=> ::fhe_dsl::typed::Dense<#s>),
        LayerKind::Prim(Kind::Diagonal) => quote_spanned!(sp=> ::fhe_dsl::typed::Diagonal<#s>),
        LayerKind::Prim(Kind::Conv) => quote_spanned!(sp=> ::fhe_dsl::typed::Conv<#s>),
        LayerKind::Prim(Kind::Linear) => quote_spanned!(sp=> ::fhe_dsl::typed::Linear<#s>),
        LayerKind::Prim(Kind::SpatialSum) => {
            quote_spanned!(sp=> ::fhe_dsl::typed::SpatialSum<#s>)
        }
        LayerKind::Prim(Kind::Poly { degree }) => {
            let k = fhe_plan::levels_for_degree(*degree);
            quote_spanned!(sp=> ::fhe_dsl::typed::Poly<#k>)
        }
        LayerKind::Block => quote_spanned!(sp=> #b<#s>),
        LayerKind::Array(ArrayLen::Lit(n)) => quote_spanned!(sp=> [#b<#s>; #n]),
        LayerKind::Array(ArrayLen::Param(p)) => quote_spanned!(sp=> [#b<#s>; #p]),
    }
}

fn field_doc(l: &crate::parse::LayerDecl) -> String {
    match &l.kind {
        LayerKind::Prim(Kind::Dense) => "Dense layer (1 level).".into(),
        LayerKind::Prim(Kind::Diagonal) => "Element-wise affine layer (1 level).".into(),
        LayerKind::Prim(Kind::Conv) => "2-D convolution between packed layouts (1 level; its rotation steps depend on the layouts).".into(),
        LayerKind::Prim(Kind::Linear) => "Packed linear map with a per-slot bias (1 level; its rotation steps depend on the map).".into(),
        LayerKind::Prim(Kind::SpatialSum) => "Per-channel spatial sum (no level; its rotation steps depend on the layout).".into(),
        LayerKind::Prim(Kind::Poly { degree }) => format!(
            "Polynomial activation of degree {degree} ({} levels).",
            fhe_plan::levels_for_degree(*degree)
        ),
        LayerKind::Block => format!("A `{}` block.", l.kind_ident),
        LayerKind::Array(_) => format!("`{}` blocks, applied one after the other.", l.kind_ident),
    }
}

fn fields(u: &Unit, s: &TokenStream) -> Vec<TokenStream> {
    u.layers
        .iter()
        .map(|l| {
            let (n, ty, doc) = (&l.name, field_type(l, s), field_doc(l));
            quote! { #[doc = #doc] pub #n: #ty }
        })
        .collect()
}

/// The block structs: generic over the slot count (`SLOTS`).
pub fn blocks(m: &Model) -> TokenStream {
    let items = m.blocks.iter().map(|b| {
        let (attrs, vis, name) = (&b.attrs, &b.vis, &b.name);
        let s = quote!(SLOTS);
        let f = fields(b, &s);
        quote! {
            #(#attrs)*
            #[derive(Clone, Debug)]
            #vis struct #name<const SLOTS: usize> {
                #(#f,)*
            }
        }
    });
    quote! { #(#items)* }
}

/// The model struct.
pub fn model_struct(m: &Model, h: &Header) -> TokenStream {
    let u = &m.main;
    let (attrs, vis, name, params) = (&u.attrs, &u.vis, &u.name, &u.params);
    let f = fields(u, &slots_expr(h));
    quote! {
        #(#attrs)*
        #vis struct #name<#(const #params: usize),*> {
            #(#f,)*
        }
    }
}

/// `self.layer1[0].conv1` for the path `layer1.0.conv1`.
fn field_access(path: &str) -> TokenStream {
    let mut t = quote!(self);
    for seg in path.split('.') {
        match seg.parse::<usize>() {
            Ok(i) => t = quote!(#t[#i]),
            Err(_) => {
                let id = format_ident!("{}", seg);
                t = quote!(#t.#id);
            }
        }
    }
    t
}

fn kind_tokens(k: Kind) -> TokenStream {
    match k {
        Kind::Dense => quote!(::fhe_dsl::plan::LayerKind::Dense),
        Kind::Diagonal => quote!(::fhe_dsl::plan::LayerKind::Diagonal),
        Kind::Conv => quote!(::fhe_dsl::plan::LayerKind::Conv),
        Kind::Linear => quote!(::fhe_dsl::plan::LayerKind::Linear),
        Kind::SpatialSum => quote!(::fhe_dsl::plan::LayerKind::SpatialSum),
        Kind::Poly { degree } => quote!(::fhe_dsl::plan::LayerKind::Poly { degree: #degree }),
    }
}

fn opt(x: Option<usize>) -> TokenStream {
    match x {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

/// Code that builds `p` (embedded once per instance, behind a `OnceLock`).
fn plan_tokens(p: &Plan) -> TokenStream {
    let s = |x: &str| quote!(::std::string::String::from(#x));
    let layers = p.layers.iter().map(|l| {
        let (path, kind) = (s(&l.path), kind_tokens(l.kind));
        quote!(::fhe_dsl::plan::FlatLayer { path: #path, kind: #kind })
    });
    let steps = p.steps.iter().map(|st| {
        let op = match st.op {
            Op::Layer(l) => quote!(::fhe_dsl::plan::Op::Layer(#l)),
            Op::Bootstrap => quote!(::fhe_dsl::plan::Op::Bootstrap),
            Op::Add => quote!(::fhe_dsl::plan::Op::Add),
            Op::Rotate(k) => quote!(::fhe_dsl::plan::Op::Rotate(#k)),
            Op::Sum => quote!(::fhe_dsl::plan::Op::Sum),
            Op::Square => quote!(::fhe_dsl::plan::Op::Square),
        };
        let (value, callee, args, level, pre, auto) = (
            s(&st.value),
            s(&st.callee),
            &st.args,
            st.level,
            opt(st.pre_square),
            st.auto,
        );
        quote! {
            ::fhe_dsl::plan::PlanStep {
                value: #value, op: #op, args: ::std::vec![#(#args),*], callee: #callee,
                level: #level, pre_square: #pre, auto: #auto,
            }
        }
    });
    let (name, input, il, bl, slots, out) = (
        s(&p.name),
        s(&p.input),
        p.input_level,
        opt(p.bootstrap_level),
        opt(p.slots),
        p.output,
    );
    quote! {
        ::fhe_dsl::plan::Plan {
            name: #name, slots: #slots, input: #input, input_level: #il, bootstrap_level: #bl,
            layers: ::std::vec![#(#layers),*],
            steps: ::std::vec![#(#steps),*],
            output: #out,
        }
    }
}

/// The identifier of each plan value in the generated forward pass: the user's name for
/// the model's own values (with its span), a qualified `__fhe_` name inside blocks.
fn value_idents(p: &Plan, origins: &[Option<Origin>], spans: &Spans, input: &Ident) -> Vec<Ident> {
    let mut ids = vec![input.clone()];
    for (st, o) in p.steps.iter().zip(origins) {
        let span = o
            .and_then(|o| spans.get(o.module)?.get(o.step))
            .map_or(Span::call_site(), |s| s.value.span());
        let id = if st.value.contains('.') {
            Ident::new(&format!("__fhe_{}", st.value.replace('.', "_")), span)
        } else {
            Ident::new(&st.value, span)
        };
        ids.push(id);
    }
    ids
}

/// The typed forward pass of one instance.
fn forward_body(
    p: &Plan,
    origins: &[Option<Origin>],
    spans: &Spans,
    h: &Header,
    input: &Ident,
) -> TokenStream {
    let s = slots_expr(h);
    let ids = value_idents(p, origins, spans, input);
    let vec_ty = |l: usize, at: Option<usize>| match at {
        Some(at) => {
            quote!(::fhe_dsl::typed::EncVector<B, #s, #l, ::fhe_dsl::typed::PreSquare<#at>>)
        }
        None => quote!(::fhe_dsl::typed::EncVector<B, #s, #l>),
    };
    let mut stmts = Vec::new();
    for (i, st) in p.steps.iter().enumerate() {
        let nm = &ids[i + 1];
        let span = origins[i]
            .and_then(|o| spans.get(o.module)?.get(o.step))
            .map_or(Span::call_site(), |s| s.callee.span());
        let a = &ids[st.args[0]];
        let (rhs, rot) = match st.op {
            Op::Layer(l) => {
                let layer = &p.layers[l];
                let f = field_access(&layer.path);
                let method = match layer.kind {
                    Kind::Dense => quote!(dense),
                    Kind::Diagonal => quote!(diagonal),
                    Kind::Conv => quote!(conv),
                    Kind::Linear => quote!(linear),
                    Kind::SpatialSum => quote!(spatial_sum),
                    Kind::Poly { .. } => quote!(poly),
                };
                let rhs = match st.pre_square {
                    Some(at) => quote_spanned!(span=> #a.pre_square::<#at, _, _>(&#f, ev)),
                    None => quote_spanned!(span=> #a.#method(&#f, ev)),
                };
                let rot = match layer.kind {
                    Kind::Dense => quote!(#s - 1),
                    k if k.runtime_rotations() => quote!(#f.rotations().len()),
                    _ => quote!(0usize),
                };
                (rhs, rot)
            }
            Op::Bootstrap => (quote_spanned!(span=> #a.bootstrap(bt)), quote!(0usize)),
            Op::Square => (quote_spanned!(span=> #a.square(ev)), quote!(0usize)),
            Op::Sum => (
                quote_spanned!(span=> #a.sum(ev)),
                quote!((#s as usize).trailing_zeros() as usize),
            ),
            Op::Rotate(k) => (quote_spanned!(span=> #a.rotate(#k, ev)), quote!(1usize)),
            Op::Add => {
                let b = &ids[st.args[1]];
                let (la, lb) = (p.level(st.args[0]), p.level(st.args[1]));
                let e = if la == lb {
                    quote_spanned!(span=> #a.add(&#b, ev))
                } else if la > lb {
                    quote_spanned!(span=> #a.mod_down::<#lb>(ev).and_then(|__fhe_a| __fhe_a.add(&#b, ev)))
                } else {
                    quote_spanned!(span=> #b.mod_down::<#la>(ev).and_then(|__fhe_b| #a.add(&__fhe_b, ev)))
                };
                (e, quote!(0usize))
            }
        };
        let ty = vec_ty(st.level, st.pre_square);
        let (value, op, lvl) = (&st.value, &st.callee, st.level);
        stmts.push(quote_spanned! {span=>
            let #nm: #ty = ::fhe_dsl::typed::step_result(#rhs, #value, #op)?;
            ::fhe_dsl::typed::observe(__fhe_obs, &mut __fhe_t, #i, Self::STEPS, #value, #op, #lvl, #rot, #nm.as_ct().ciphertext())?;
        });
    }
    let out = &ids[p.output];
    quote! {
        let mut __fhe_t = ::std::time::Instant::now();
        #(#stmts)*
        ::core::result::Result::Ok(#out)
    }
}

/// One instance's `impl` (and its `fhe_dsl::model::Model` impl). `compiled` is `None`
/// when the model has errors: the items are still emitted, with bodies that do not run,
/// so the struct and its methods resolve in an IDE.
pub fn instance(
    m: &Model,
    h: &Header,
    inst: &[(Ident, usize)],
    compiled: Option<(&Plan, &[Option<Origin>])>,
    spans: &Spans,
) -> TokenStream {
    let u = &m.main;
    let name = &u.name;
    let s = slots_expr(h);
    // impl<const SLOTS: usize> Name<SLOTS, 3>
    let free: Vec<&Ident> = match &h.slots {
        Slots::Param(p) => vec![p],
        Slots::Lit(_) => vec![],
    };
    let args: Vec<TokenStream> = u
        .params
        .iter()
        .map(|p| match inst.iter().find(|(q, _)| q == p) {
            Some((_, v)) => quote!(#v),
            None => quote!(#p),
        })
        .collect();
    let self_ty = quote!(#name<#(#args),*>);
    let impl_gen = quote!(<#(const #free: usize),*>);
    let in_level = h.input_level;
    let input = &u.input;
    let fn_name = &u.fn_name;
    let obs_fn = format_ident!("{}_observed", fn_name);
    let plain_fn = format_ident!("{}_plain", fn_name);
    let name_str = name.to_string();
    let bl_opt = opt(h.bootstrap_level);
    let (bt_generic, bt_param, bt_arg) = match h.bootstrap_level {
        Some(bl) => (
            quote! { , Bt: ::fhe_dsl::typed::Bootstrap<B, #bl> + ?::core::marker::Sized },
            quote! { bt: &Bt, },
            quote! { bt, },
        ),
        None => (quote! {}, quote! {}, quote! {}),
    };
    let bl_const = h.bootstrap_level.map(|bl| {
        quote! {
            /// The level a bootstrap returns (the `Bootstrap<B, _>` the forward pass needs).
            pub const BOOTSTRAP_LEVEL: usize = #bl;
        }
    });
    let (out_level, n_boots, n_steps, auto_names, levels, rots, relin, plan_code, layer_arms, fwd) =
        match compiled {
            Some((p, origins)) => {
                let auto: Vec<String> = p
                    .auto_bootstrapped()
                    .iter()
                    .map(|v| v.to_string())
                    .collect();
                let levels: Vec<TokenStream> = p
                    .levels()
                    .into_iter()
                    .map(|(v, l)| quote!((#v, #l)))
                    .collect();
                let mut rots = std::collections::BTreeSet::new();
                for st in &p.steps {
                    match st.op {
                        Op::Rotate(k) => {
                            rots.insert(k);
                        }
                        Op::Sum => {
                            let n = p.slots.unwrap_or(1);
                            rots.extend((0..n.trailing_zeros()).map(|i| 1i64 << i));
                        }
                        Op::Layer(l) if p.layers[l].kind == Kind::Dense => {
                            rots.extend(1..p.slots.unwrap_or(1) as i64);
                        }
                        _ => {}
                    }
                }
                let rots: Vec<i64> = rots.into_iter().collect();
                let arms: Vec<TokenStream> = p
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let f = field_access(&l.path);
                        quote!(#i => ::core::option::Option::Some(&#f))
                    })
                    .collect();
                (
                    p.output_level(),
                    p.bootstraps(),
                    p.steps.len(),
                    auto,
                    levels,
                    rots,
                    p.needs_relin(),
                    plan_tokens(p),
                    arms,
                    forward_body(p, origins, spans, h, input),
                )
            }
            None => (
                0,
                0,
                0,
                vec![],
                vec![],
                vec![],
                false,
                quote!(::core::unimplemented!(
                    "this model does not compile: see the errors above"
                )),
                vec![],
                quote! {
                    let _ = (ev, #input, __fhe_obs);
                    ::core::unimplemented!("this model does not compile: see the errors above")
                },
            ),
        };
    let in_ty = quote!(::fhe_dsl::typed::EncVector<B, #s, #in_level>);
    let out_ty = quote!(::fhe_dsl::typed::EncVector<B, #s, #out_level>);
    let bt_use = h.bootstrap_level.map(|_| quote! { let _ = bt; });
    let fwd_doc = format!(
        "Runs the model on an encrypted input at level {in_level}; the output is at level {out_level}. Bootstraps: {n_boots}{}.",
        if auto_names.is_empty() {
            String::new()
        } else {
            format!(" (automatic, after {})", auto_names.join(", "))
        }
    );
    let inst_doc = if inst.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            inst.iter()
                .map(|(p, v)| format!("{p} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let plan_doc = format!(
        "The compiled plan of this model{inst_doc}: every step with its level, the automatic bootstraps written out. The interpreters in `fhe_dsl::model` walk it."
    );
    quote! {
        #[allow(dead_code)]
        impl #impl_gen #self_ty {
            /// Packed length of the input and every intermediate value.
            pub const SLOTS: usize = #s;
            /// Level of the encrypted input.
            pub const INPUT_LEVEL: usize = #in_level;
            /// Level of the encrypted output.
            pub const OUTPUT_LEVEL: usize = #out_level;
            #bl_const
            /// Bootstraps per forward pass (explicit and automatic).
            pub const BOOTSTRAPS: usize = #n_boots;
            /// Steps of the forward pass (automatic bootstraps included): how many
            /// times `forward_observed` calls its observer.
            pub const STEPS: usize = #n_steps;
            /// Values the macro bootstraps automatically (right after they are computed).
            pub const AUTO_BOOTSTRAPPED: &'static [&'static str] = &[#(#auto_names),*];
            /// Each value's level, as the next step sees it.
            pub const LEVELS: &'static [(&'static str, usize)] = &[#(#levels),*];
            /// The rotation steps known at expansion time (`rotate`, `sum`, `Dense`); the
            /// layers whose steps depend on their layouts add theirs at run time
            /// ([`Self::rotations_for`], [`Self::key_request`]).
            pub const ROTATIONS: &'static [i64] = &[#(#rots),*];
            /// Whether the forward pass multiplies ciphertexts (needs the relinearisation key).
            pub const NEEDS_RELIN: bool = #relin;

            #[doc = #plan_doc]
            pub fn plan() -> &'static ::fhe_dsl::plan::Plan {
                static PLAN: ::std::sync::OnceLock<::fhe_dsl::plan::Plan> = ::std::sync::OnceLock::new();
                PLAN.get_or_init(|| #plan_code)
            }

            /// The evaluation keys the client must generate for this model, and no others:
            /// relinearisation if the pass multiplies ciphertexts and every rotation step
            /// its layers use, each with keys only up to the highest level it is used at
            /// (`KeyRequest::rotations_up_to`: smaller keys). Bootstrapping adds its own
            /// (`BootstrappingKeys::generate` takes this request).
            pub fn key_request(&self) -> ::fhe_dsl::ckks::KeyRequest {
                ::fhe_dsl::model::key_request(self)
            }

            /// Exactly the rotation steps this model's forward pass uses, sorted.
            pub fn rotations_for(&self) -> ::std::vec::Vec<i64> {
                ::fhe_dsl::model::rotations(self)
            }

            /// Checks, before any key is generated, that this model fits `params`: its
            /// slots and input level, and — if it bootstraps — that `bootstrap` (the
            /// preset's configuration) returns exactly its bootstrap level for these
            /// slots. Each error names the setting to change.
            pub fn check_params(
                params: &::fhe_dsl::ckks::Params,
                bootstrap: ::core::option::Option<&::fhe_dsl::circuits::bootstrap::BootstrapConfig>,
            ) -> ::fhe_dsl::Result<()> {
                ::fhe_dsl::typed::check_model_params(
                    #name_str, #s, #in_level, #bl_opt, params, bootstrap,
                )
            }

            /// Runs the cleartext twin of the forward pass on `input` and checks every
            /// value against `limits`: its level's headroom, each bootstrap's input range
            /// and the declared input range. The first value beyond them is an
            /// `Error::ValueRange` naming the step; otherwise every value's largest
            /// magnitude, in order. Run it on representative inputs before encrypting:
            /// a value beyond these limits decrypts to garbage without any error.
            pub fn check_ranges(
                &self,
                #input: &[f64],
                limits: &::fhe_dsl::typed::RangeLimits,
            ) -> ::fhe_dsl::Result<::std::vec::Vec<::fhe_dsl::typed::StepRange>> {
                ::fhe_dsl::model::check_ranges(self, #input, limits)
            }

            /// The sound counterpart of [`Self::check_ranges`]: instead of one sample,
            /// every input within `bounds` (an interval per slot, `Bounds::uniform` for
            /// one interval on all; slots beyond it are 0). Interval arithmetic through
            /// the same steps gives each value a bound no input in the range can exceed,
            /// checked against the same `limits`. Bounds may be loose, never too small.
            pub fn check_input_range(
                &self,
                #input: &::fhe_dsl::typed::Bounds,
                limits: &::fhe_dsl::typed::RangeLimits,
            ) -> ::fhe_dsl::Result<::std::vec::Vec<::fhe_dsl::typed::StepRange>> {
                ::fhe_dsl::model::check_input_range(self, #input, limits)
            }

            /// [`Self::check_input_range`] over the input range `limits` declares
            /// (`RangeLimits::with_input_range(r)`: every slot in `[-r, r]`). Errors when
            /// `limits` declares none.
            pub fn check_declared_range(
                &self,
                limits: &::fhe_dsl::typed::RangeLimits,
            ) -> ::fhe_dsl::Result<::std::vec::Vec<::fhe_dsl::typed::StepRange>> {
                ::fhe_dsl::model::check_declared_range(self, limits)
            }

            #[doc = #fwd_doc]
            pub fn #fn_name<B: ::fhe_dsl::backend::Backend #bt_generic>(
                &self,
                ev: &::fhe_dsl::ckks::Evaluator<B>,
                #bt_param
                #input: #in_ty,
            ) -> ::fhe_dsl::Result<#out_ty> {
                self.#obs_fn(ev, #bt_arg #input, &mut ())
            }

            /// The forward pass, reporting every step (value, layer, level, rotations,
            /// wall time and the resulting ciphertext) to an `fhe_dsl::typed::Observer`:
            /// progress bars, per-layer timings, or decrypting intermediates.
            pub fn #obs_fn<B: ::fhe_dsl::backend::Backend #bt_generic, O: ::fhe_dsl::typed::Observer<B> + ?::core::marker::Sized>(
                &self,
                ev: &::fhe_dsl::ckks::Evaluator<B>,
                #bt_param
                #input: #in_ty,
                __fhe_obs: &mut O,
            ) -> ::fhe_dsl::Result<#out_ty> {
                #bt_use
                #fwd
            }

            /// The float64 reference of the forward pass (the plan's cleartext twin).
            pub fn #plain_fn(&self, #input: &[f64]) -> ::std::vec::Vec<f64> {
                ::fhe_dsl::model::forward_plain(self, #input)
            }
        }

        impl #impl_gen ::fhe_dsl::model::Model for #self_ty {
            fn plan(&self) -> &'static ::fhe_dsl::plan::Plan {
                Self::plan()
            }
            fn slots(&self) -> usize {
                #s
            }
            fn layer(&self, index: usize) -> ::core::option::Option<&dyn ::fhe_dsl::model::PlanLayer> {
                match index {
                    #(#layer_arms,)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    }
}
