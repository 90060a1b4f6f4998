//! Lowering the syntax into a [`fhe_plan::Source`]: settings, name resolution, layer
//! kinds and block references, with every error spanned. What follows from the
//! structure (the square rule, levels, bootstraps) is `fhe_plan`'s business.

use crate::parse::{
    as_call, as_ident, as_int, ArrayLen, LayerKind, Model, Setting, SettingValue, Unit,
};
use fhe_plan::{LayerDecl, LayerRef, ModStep, Module, Op, Settings, Source, MAX_LEVEL};
use std::collections::{BTreeSet, HashMap};
use syn::{Expr, Ident, Pat, Stmt};

/// The slot count: a literal or the const generic parameter that carries it.
#[derive(Clone)]
pub enum Slots {
    Lit(usize),
    Param(Ident),
}

/// The model's header, checked.
pub struct Header {
    pub slots: Slots,
    pub input_level: usize,
    pub bootstrap_level: Option<usize>,
    pub auto: bool,
    /// Each non-slot const generic parameter and the values it is instantiated for.
    pub instances: Vec<(Ident, Vec<usize>)>,
}

/// Span of each step as written: the callee (for type errors) and the whole call.
#[derive(Clone)]
pub struct StepSpan {
    pub value: Ident,
    pub callee: Ident,
    pub expr: Expr,
}

/// Spans per module (blocks in declaration order, then the model) and step.
pub type Spans = Vec<Vec<StepSpan>>;

pub fn header(m: &Unit, errors: &mut Vec<syn::Error>) -> Header {
    let mut h = Header {
        slots: Slots::Lit(1),
        input_level: 0,
        bootstrap_level: None,
        auto: false,
        instances: Vec::new(),
    };
    let (mut have_slots, mut have_input) = (false, false);
    for st in &m.settings {
        let (key, value) = match st {
            Setting::Instances { param, values } => {
                if !m.params.contains(param) {
                    errors.push(syn::Error::new_spanned(
                        param,
                        format!(
                            "`{param}` is not a parameter of `{}`: declare `const {param}: usize`",
                            m.name
                        ),
                    ));
                }
                let mut vs = Vec::new();
                for v in values {
                    match v.base10_parse::<usize>() {
                        Ok(x) => vs.push(x),
                        Err(e) => errors.push(e),
                    }
                }
                if vs.is_empty() {
                    errors.push(syn::Error::new_spanned(
                        param,
                        format!("`{param} in [...]` lists no value"),
                    ));
                }
                h.instances.push((param.clone(), vs));
                continue;
            }
            Setting::Value { key, value } => (key, value),
        };
        let k = key.to_string();
        let int = |errors: &mut Vec<syn::Error>| -> Option<usize> {
            match value {
                Some(SettingValue::Int(v)) => match v.base10_parse::<usize>() {
                    Ok(x) => Some(x),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                },
                Some(SettingValue::Param(p)) => {
                    errors.push(syn::Error::new_spanned(
                        p,
                        format!("`{k}` takes an integer literal"),
                    ));
                    None
                }
                None => {
                    errors.push(syn::Error::new_spanned(
                        key,
                        format!("`{k}` needs a value: `{k}: N`"),
                    ));
                    None
                }
            }
        };
        match k.as_str() {
            "slots" => {
                have_slots = true;
                match value {
                    Some(SettingValue::Param(p)) => {
                        if !m.params.contains(p) {
                            errors.push(syn::Error::new_spanned(
                                p,
                                format!("`{p}` is not a parameter of `{}`: declare `struct {}<const {p}: usize>`", m.name, m.name),
                            ));
                        }
                        h.slots = Slots::Param(p.clone());
                    }
                    _ => {
                        if let Some(v) = int(errors) {
                            if !v.is_power_of_two() {
                                if let Some(SettingValue::Int(lit)) = value {
                                    errors.push(syn::Error::new_spanned(
                                        lit,
                                        format!("`slots` must be a power of two, got {v}"),
                                    ));
                                }
                            }
                            h.slots = Slots::Lit(v.max(1));
                        }
                    }
                }
            }
            "input_level" | "bootstrap_level" => {
                if let Some(v) = int(errors) {
                    if v > MAX_LEVEL {
                        if let Some(SettingValue::Int(lit)) = value {
                            errors.push(syn::Error::new_spanned(
                                lit,
                                format!("levels above {MAX_LEVEL} are not typed; use `fhe_dsl::typed::DynCt`"),
                            ));
                        }
                    }
                    if k == "input_level" {
                        h.input_level = v;
                        have_input = true;
                    } else {
                        h.bootstrap_level = Some(v);
                    }
                }
            }
            "auto_bootstrap" => {
                if value.is_some() {
                    errors.push(syn::Error::new_spanned(
                        key,
                        "`auto_bootstrap` is a flag: write it without a value",
                    ));
                }
                h.auto = true;
            }
            other => errors.push(syn::Error::new_spanned(
                key,
                format!(
                    "unknown setting `{other}`: expected `slots`, `input_level`, `bootstrap_level`, `auto_bootstrap` or `PARAM in [values]`"
                ),
            )),
        }
    }
    if !have_slots {
        errors.push(syn::Error::new_spanned(
            &m.name,
            "missing setting `slots: N` (a power of two, or a const generic parameter)",
        ));
    }
    if !have_input {
        errors.push(syn::Error::new_spanned(
            &m.name,
            "missing setting `input_level: L`",
        ));
    }
    for p in &m.params {
        let is_slots = matches!(&h.slots, Slots::Param(s) if s == p);
        let listed = h.instances.iter().any(|(q, _)| q == p);
        if !is_slots && !listed {
            errors.push(syn::Error::new_spanned(
                p,
                format!("parameter `{p}` needs the values to instantiate: `{p} in [3, 5, …]`"),
            ));
        }
    }
    h
}

/// Every combination of the instance parameters' values (one empty instance if none).
pub fn instances(h: &Header) -> Vec<Vec<(Ident, usize)>> {
    let mut out: Vec<Vec<(Ident, usize)>> = vec![vec![]];
    for (p, vs) in &h.instances {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                vs.iter().map(move |&v| {
                    let mut x = prefix.clone();
                    x.push((p.clone(), v));
                    x
                })
            })
            .collect();
    }
    out
}

/// Lowers the whole model for one instance of its parameters. Name-resolution errors go
/// to `errors` (they are the same for every instance: collect them from one).
pub fn lower(
    m: &Model,
    h: &Header,
    inst: &[(Ident, usize)],
    errors: &mut Vec<syn::Error>,
) -> (Source, Spans) {
    let block_index: HashMap<String, usize> = m
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.to_string(), i))
        .collect();
    let mut seen = BTreeSet::new();
    for b in &m.blocks {
        if !seen.insert(b.name.to_string()) {
            errors.push(syn::Error::new_spanned(
                &b.name,
                format!("block `{}` is declared twice", b.name),
            ));
        }
    }
    let mut modules = Vec::new();
    let mut spans = Vec::new();
    for u in m.blocks.iter().chain(std::iter::once(&m.main)) {
        let (module, sp) = unit(u, h, inst, &block_index, errors);
        modules.push(module);
        spans.push(sp);
    }
    let src = Source {
        main: modules.len() - 1,
        modules,
        settings: Settings {
            slots: match h.slots {
                Slots::Lit(n) => Some(n),
                Slots::Param(_) => None,
            },
            input_level: h.input_level,
            bootstrap_level: h.bootstrap_level,
            auto_bootstrap: h.auto,
        },
    };
    (src, spans)
}

fn unit(
    m: &Unit,
    h: &Header,
    inst: &[(Ident, usize)],
    blocks: &HashMap<String, usize>,
    errors: &mut Vec<syn::Error>,
) -> (Module, Vec<StepSpan>) {
    let mut layers = Vec::new();
    let mut layer_index: HashMap<String, usize> = HashMap::new();
    for l in &m.layers {
        if layer_index.contains_key(&l.name.to_string()) {
            errors.push(syn::Error::new_spanned(
                &l.name,
                format!("layer `{}` is declared twice", l.name),
            ));
        }
        let block = |errors: &mut Vec<syn::Error>| match blocks.get(&l.kind_ident.to_string()) {
            Some(&b) => Some(b),
            None => {
                let declared: Vec<String> = blocks.keys().map(|b| format!("`{b}`")).collect();
                errors.push(syn::Error::new_spanned(
                    &l.kind_ident,
                    format!(
                        "unknown layer kind `{}`: expected `Dense`, `Diagonal`, `Conv`, `Linear`, `SpatialSum`, `Poly(degree = d)`{}",
                        l.kind_ident,
                        if declared.is_empty() {
                            " or a block declared before the model".to_string()
                        } else {
                            format!(" or a declared block ({})", declared.join(", "))
                        }
                    ),
                ));
                None
            }
        };
        let kind = match &l.kind {
            LayerKind::Prim(k) => LayerRef::Kind(*k),
            LayerKind::Block => match block(errors) {
                Some(b) => LayerRef::Block(b),
                None => LayerRef::Kind(fhe_plan::LayerKind::Diagonal),
            },
            LayerKind::Array(len) => {
                let count = match len {
                    ArrayLen::Lit(n) => *n,
                    ArrayLen::Param(p) => match inst.iter().find(|(q, _)| q == p) {
                        Some((_, v)) => *v,
                        None => {
                            if !matches!(&h.slots, Slots::Param(s) if s == p)
                                && !h.instances.iter().any(|(q, _)| q == p)
                            {
                                errors.push(syn::Error::new_spanned(
                                    p,
                                    format!("`{p}` is not a parameter with listed values: declare `const {p}: usize` and `{p} in [...]`"),
                                ));
                            }
                            1
                        }
                    },
                };
                match block(errors) {
                    Some(b) => LayerRef::Array { module: b, count },
                    None => LayerRef::Kind(fhe_plan::LayerKind::Diagonal),
                }
            }
        };
        layer_index.insert(l.name.to_string(), layers.len());
        layers.push(LayerDecl {
            name: l.name.to_string(),
            kind,
        });
    }
    let mut steps: Vec<ModStep> = Vec::new();
    let mut spans: Vec<StepSpan> = Vec::new();
    let mut output = None;
    let mut values: HashMap<String, Option<usize>> = HashMap::new();
    values.insert(m.input.to_string(), Some(0));
    let builtins = "`add`, `bootstrap`, `rotate`, `square`, `sum`";
    let slots = match h.slots {
        Slots::Lit(n) => Some(n),
        Slots::Param(_) => None,
    };
    let n_stmts = m.body.len();
    for (si, stmt) in m.body.iter().enumerate() {
        let last = si + 1 == n_stmts;
        let (name, init) = match stmt {
            Stmt::Local(local) => {
                let name = match &local.pat {
                    Pat::Ident(pi) => pi.ident.clone(),
                    other => {
                        errors.push(syn::Error::new_spanned(
                            other,
                            "bind each step to a plain name: `let v = op(args);`",
                        ));
                        continue;
                    }
                };
                match &local.init {
                    Some(init) => (name, (*init.expr).clone()),
                    None => {
                        errors.push(syn::Error::new_spanned(
                            local,
                            "each `let` needs a step: `let v = op(args);`",
                        ));
                        continue;
                    }
                }
            }
            Stmt::Expr(e, semi) if last => {
                let e = match e {
                    Expr::Return(r) if r.expr.is_some() => {
                        r.expr.as_deref().cloned().unwrap_or_else(|| e.clone())
                    }
                    _ if semi.is_some() => {
                        errors.push(syn::Error::new_spanned(
                            e,
                            "a forward pass ends with its output value, without `;`",
                        ));
                        continue;
                    }
                    _ => e.clone(),
                };
                match as_ident(&e).and_then(|id| values.get(&id.to_string()).copied()) {
                    Some(Some(v)) => output = Some(v),
                    Some(None) => {}
                    None => errors.push(syn::Error::new_spanned(
                        &e,
                        "the forward pass must end with the name of a value defined above",
                    )),
                }
                continue;
            }
            other => {
                errors.push(syn::Error::new_spanned(
                    other,
                    "expected `let v = op(args);` or, last, the output value",
                ));
                continue;
            }
        };
        let Some((callee, args)) = as_call(&init) else {
            errors.push(syn::Error::new_spanned(
                &init,
                format!("expected a call: a layer or one of {builtins}"),
            ));
            continue;
        };
        let mut ok = true;
        let mut arg_values = Vec::new();
        let mut value_arg = |e: &Expr, errors: &mut Vec<syn::Error>| {
            let Some(id) = as_ident(e) else {
                errors.push(syn::Error::new_spanned(e, "expected the name of a value"));
                ok = false;
                return;
            };
            match values.get(&id.to_string()) {
                Some(Some(v)) => arg_values.push(*v),
                // failed earlier: already reported
                Some(None) => ok = false,
                None => {
                    ok = false;
                    if layer_index.contains_key(&id.to_string()) {
                        errors.push(syn::Error::new_spanned(
                            id,
                            format!("`{id}` is a layer, not a value: call it, `{id}(v)`"),
                        ));
                    } else {
                        errors.push(syn::Error::new_spanned(
                            id,
                            format!("no value named `{id}` is defined before this step"),
                        ));
                    }
                }
            }
        };
        let cname = callee.to_string();
        let arity = |n: usize, what: &str, errors: &mut Vec<syn::Error>| -> bool {
            if args.len() != n {
                errors.push(syn::Error::new_spanned(
                    &init,
                    format!(
                        "{what} takes {n} argument{}, found {}",
                        if n == 1 { "" } else { "s" },
                        args.len()
                    ),
                ));
                false
            } else {
                true
            }
        };
        let op = if let Some(&li) = layer_index.get(&cname) {
            let what = match layers[li].kind {
                LayerRef::Kind(k) => k.describe(),
                LayerRef::Block(_) => "a block".to_string(),
                LayerRef::Array { .. } => "an array of blocks".to_string(),
            };
            if arity(1, &format!("`{cname}` is {what}: it"), errors) {
                value_arg(args[0], errors);
            } else {
                ok = false;
            }
            Op::Layer(li)
        } else {
            match cname.as_str() {
                "bootstrap" | "sum" | "square" => {
                    if arity(1, &format!("`{cname}`"), errors) {
                        value_arg(args[0], errors);
                    } else {
                        ok = false;
                    }
                    match cname.as_str() {
                        "bootstrap" => Op::Bootstrap,
                        "square" => Op::Square,
                        _ => {
                            if slots.is_none() {
                                errors.push(syn::Error::new_spanned(&init, "`sum` rotates by every power of two below the slot count: it needs a literal `slots`"));
                                ok = false;
                            }
                            Op::Sum
                        }
                    }
                }
                "add" => {
                    if arity(2, "`add`", errors) {
                        for a in &args {
                            value_arg(a, errors);
                        }
                    } else {
                        ok = false;
                    }
                    Op::Add
                }
                "rotate" => {
                    let mut k = 0;
                    if arity(2, "`rotate`", errors) {
                        value_arg(args[0], errors);
                        match as_int(args[1]) {
                            Some(x)
                                if x != 0 && slots.is_none_or(|s| x.unsigned_abs() < s as u64) =>
                            {
                                k = x
                            }
                            _ => {
                                errors.push(syn::Error::new_spanned(
                                    args[1],
                                    match slots {
                                        Some(s) => format!("`rotate` takes a non-zero integer literal step below the {s} slots"),
                                        None => "`rotate` takes a non-zero integer literal step".to_string(),
                                    },
                                ));
                                ok = false;
                            }
                        }
                    } else {
                        ok = false;
                    }
                    Op::Rotate(k)
                }
                _ => {
                    let declared: Vec<String> =
                        m.layers.iter().map(|l| format!("`{}`", l.name)).collect();
                    errors.push(syn::Error::new_spanned(
                        callee,
                        format!(
                            "unknown layer or operation `{cname}`: declared layers are {}; operations are {builtins}",
                            if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
                        ),
                    ));
                    ok = false;
                    Op::Sum
                }
            }
        };
        if let Some(LayerRef::Kind(fhe_plan::LayerKind::Dense)) = match op {
            Op::Layer(li) => Some(layers[li].kind),
            _ => None,
        } {
            if slots.is_none() {
                errors.push(syn::Error::new_spanned(callee, "a `Dense` layer rotates by every step below the slot count: it needs a literal `slots`"));
                ok = false;
            }
        }
        if values.contains_key(&name.to_string()) || layer_index.contains_key(&name.to_string()) {
            errors.push(syn::Error::new_spanned(
                &name,
                format!("`{name}` is already defined: give every step's value a new name"),
            ));
            continue;
        }
        if !ok {
            // keep the name known so later steps do not cascade into "no value named"
            values.insert(name.to_string(), None);
            continue;
        }
        values.insert(name.to_string(), Some(steps.len() + 1));
        steps.push(ModStep {
            value: name.to_string(),
            op,
            args: arg_values,
        });
        spans.push(StepSpan {
            value: name,
            callee: callee.clone(),
            expr: init.clone(),
        });
    }
    if output.is_none() && !m.body.is_empty() && errors.is_empty() {
        errors.push(syn::Error::new(
            m.body_span,
            "the forward pass must end with the name of its output value",
        ));
    }
    if m.body.is_empty() {
        errors.push(syn::Error::new(m.body_span, "the forward pass is empty"));
    }
    (
        Module {
            name: m.name.to_string(),
            input: m.input.to_string(),
            layers,
            steps,
            output: output.unwrap_or(0),
        },
        spans,
    )
}

/// A plan diagnostic as a spanned error: on the step as written (inside a block, the
/// block's step; the message names the instance), or on the model's name.
pub fn diag_error(spans: &Spans, d: &fhe_plan::Diag, model: &Ident, ctx: &str) -> syn::Error {
    let msg = format!("{}{ctx}", d.message);
    match d.at.and_then(|o| spans.get(o.module)?.get(o.step)) {
        Some(s) => syn::Error::new_spanned(&s.expr, msg),
        None => syn::Error::new_spanned(model, msg),
    }
}
