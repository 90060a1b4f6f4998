//! Level analysis, bootstrap placement and code generation for `model!`.

use crate::parse::{as_call, as_ident, as_int, LayerKind, Model};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use std::collections::{BTreeSet, HashMap};
use syn::{Expr, Ident, Pat, Stmt};

/// The highest level `fhe_dsl::typed` has type tables for.
const MAX_LEVEL: usize = 64;
/// Exact bootstrap placement is searched up to this many candidate values.
const EXACT_SEARCH_MAX: usize = 20;

/// Levels a degree-`d` polynomial consumes; must equal `fhe_dsl::typed::levels_for_degree`.
fn levels_for_degree(d: usize) -> usize {
    if d <= 1 {
        return d;
    }
    let mut k = 0;
    while (1usize << k) < d {
        k += 1;
    }
    k + 1
}

#[derive(Clone, Debug)]
enum Op {
    Layer(usize),
    Bootstrap,
    Add,
    Rotate(i64),
    Sum,
    /// `square(v)`: one level; `v` comes from linear layers that prepared its scale.
    Square,
}

struct Step {
    /// The value this step defines.
    name: Ident,
    op: Op,
    /// Value indices of the operands.
    args: Vec<usize>,
    /// The callee, for messages and spans.
    callee: Ident,
    /// The whole call expression, for error spans.
    expr: Expr,
}

struct Program {
    /// Value 0 is the input, value i+1 is defined by step i.
    names: Vec<Ident>,
    steps: Vec<Step>,
    output: Option<usize>,
}

struct Settings {
    slots: usize,
    input_level: usize,
    bootstrap_level: Option<usize>,
    auto: bool,
}

/// Result of simulating the program with some values bootstrapped after definition.
struct Sim {
    /// Level of each value as later steps see it (None: unknown after an error).
    levels: Vec<Option<usize>>,
    /// (step index, needed, left) for each step that ran out of levels.
    short: Vec<(usize, usize, usize)>,
}

/// Layers that map slots linearly for one level and can prepare a value for `square`.
fn is_linear(kind: LayerKind) -> bool {
    matches!(
        kind,
        LayerKind::Dense | LayerKind::Diagonal | LayerKind::Conv | LayerKind::Linear
    )
}

/// Layers whose rotation steps are runtime values (they depend on layouts).
fn runtime_rotations(kind: LayerKind) -> bool {
    matches!(
        kind,
        LayerKind::Conv | LayerKind::Linear | LayerKind::SpatialSum
    )
}

fn step_cost(m: &Model, op: &Op) -> usize {
    match op {
        Op::Layer(i) => match m.layers[*i].kind {
            LayerKind::Dense | LayerKind::Diagonal | LayerKind::Conv | LayerKind::Linear => 1,
            LayerKind::SpatialSum => 0,
            LayerKind::Poly { degree } => levels_for_degree(degree),
        },
        Op::Square => 1,
        _ => 0,
    }
}

fn simulate(m: &Model, s: &Settings, p: &Program, boot: &[bool]) -> Sim {
    let bl = s.bootstrap_level.unwrap_or(0);
    let mut levels: Vec<Option<usize>> = Vec::with_capacity(p.names.len());
    let seen = |raw: Option<usize>, v: usize| if boot[v] { Some(bl) } else { raw };
    levels.push(seen(Some(s.input_level), 0));
    let mut short = Vec::new();
    for (i, st) in p.steps.iter().enumerate() {
        let ins: Vec<Option<usize>> = st.args.iter().map(|&a| levels[a]).collect();
        let raw = if ins.iter().any(Option::is_none) {
            None
        } else {
            let ins: Vec<usize> = ins.into_iter().map(|l| l.unwrap_or(0)).collect();
            match &st.op {
                Op::Layer(_) | Op::Square => {
                    let need = step_cost(m, &st.op);
                    if ins[0] < need {
                        short.push((i, need, ins[0]));
                        None
                    } else {
                        Some(ins[0] - need)
                    }
                }
                Op::Bootstrap => Some(bl),
                Op::Add => ins.iter().copied().min(),
                Op::Rotate(_) | Op::Sum => Some(ins[0]),
            }
        };
        levels.push(seen(raw, i + 1));
    }
    Sim { levels, short }
}

/// Fewest automatic bootstraps that make the program fit; ties broken by the highest
/// output level, then by placing bootstraps as late as possible. Exact for up to `EXACT_SEARCH_MAX` candidates, greedy beyond.
fn place_bootstraps(
    m: &Model,
    s: &Settings,
    p: &Program,
    pre: &[Option<usize>],
) -> Option<Vec<bool>> {
    let n = p.names.len();
    // a value prepared for a square keeps its scale for it: never bootstrapped
    let candidates: Vec<usize> = (0..n)
        .filter(|&v| v == 0 || !matches!(p.steps[v - 1].op, Op::Bootstrap))
        .filter(|&v| pre[v].is_none())
        .collect();
    let out = p.output.unwrap_or(n - 1);
    if candidates.len() <= EXACT_SEARCH_MAX {
        for k in 0..=candidates.len() {
            let mut best: Option<(Vec<bool>, (usize, usize))> = None;
            for_each_subset(&candidates, k, &mut |chosen| {
                let mut b = vec![false; n];
                for &v in chosen {
                    b[v] = true;
                }
                let sim = simulate(m, s, p, &b);
                if sim.short.is_empty() {
                    // highest output level first, then bootstraps as late as possible
                    let key = (sim.levels[out].unwrap_or(0), chosen.iter().sum::<usize>());
                    if best.as_ref().is_none_or(|(_, k)| key > *k) {
                        best = Some((b, key));
                    }
                }
            });
            if let Some((b, _)) = best {
                return Some(b);
            }
        }
        None
    } else {
        // greedy: when a step runs short, bootstrap the ancestor of it that lets the
        // program run furthest (latest first shortfall; ties: the later value). On a
        // residual network this picks the block input, which serves both branches.
        let mut b = vec![false; n];
        let first_short = |b: &[bool]| {
            let sim = simulate(m, s, p, b);
            sim.short.first().map_or(p.steps.len(), |&(i, _, _)| i)
        };
        loop {
            let sim = simulate(m, s, p, &b);
            let Some(&(i, _, _)) = sim.short.first() else {
                return Some(b);
            };
            let mut anc = vec![false; n];
            let mut stack: Vec<usize> = p.steps[i].args.clone();
            while let Some(v) = stack.pop() {
                if !anc[v] {
                    anc[v] = true;
                    if v > 0 {
                        stack.extend(p.steps[v - 1].args.iter().copied());
                    }
                }
            }
            let best = candidates
                .iter()
                .copied()
                .filter(|&v| anc[v] && !b[v])
                .max_by_key(|&v| {
                    let mut t = b.clone();
                    t[v] = true;
                    (first_short(&t), v)
                })?;
            b[best] = true;
        }
    }
}

fn for_each_subset(items: &[usize], k: usize, f: &mut dyn FnMut(&[usize])) {
    fn rec(
        items: &[usize],
        k: usize,
        start: usize,
        cur: &mut Vec<usize>,
        f: &mut dyn FnMut(&[usize]),
    ) {
        if cur.len() == k {
            f(cur);
            return;
        }
        for i in start..items.len() {
            if items.len() - i < k - cur.len() {
                break;
            }
            cur.push(items[i]);
            rec(items, k, i + 1, cur, f);
            cur.pop();
        }
    }
    rec(items, k, 0, &mut Vec::new(), f);
}

fn settings(m: &Model, errors: &mut Vec<syn::Error>) -> Settings {
    let mut s = Settings {
        slots: 0,
        input_level: 0,
        bootstrap_level: None,
        auto: false,
    };
    let (mut have_slots, mut have_input) = (false, false);
    for st in &m.settings {
        let key = st.key.to_string();
        let int = |errors: &mut Vec<syn::Error>| -> Option<usize> {
            match &st.value {
                Some(v) => match v.base10_parse::<usize>() {
                    Ok(x) => Some(x),
                    Err(e) => {
                        errors.push(e);
                        None
                    }
                },
                None => {
                    errors.push(syn::Error::new_spanned(
                        &st.key,
                        format!("`{key}` needs a value: `{key}: N`"),
                    ));
                    None
                }
            }
        };
        match key.as_str() {
            "slots" => {
                if let Some(v) = int(errors) {
                    if !v.is_power_of_two() {
                        errors.push(syn::Error::new_spanned(
                            &st.value,
                            format!("`slots` must be a power of two, got {v}"),
                        ));
                    }
                    s.slots = v;
                    have_slots = true;
                }
            }
            "input_level" | "bootstrap_level" => {
                if let Some(v) = int(errors) {
                    if v > MAX_LEVEL {
                        errors.push(syn::Error::new_spanned(
                            &st.value,
                            format!("levels above {MAX_LEVEL} are not typed; use `fhe_dsl::typed::DynCt`"),
                        ));
                    }
                    if key == "input_level" {
                        s.input_level = v;
                        have_input = true;
                    } else {
                        s.bootstrap_level = Some(v);
                    }
                }
            }
            "auto_bootstrap" => {
                if st.value.is_some() {
                    errors.push(syn::Error::new_spanned(
                        &st.value,
                        "`auto_bootstrap` is a flag: write it without a value",
                    ));
                }
                s.auto = true;
            }
            other => errors.push(syn::Error::new_spanned(
                &st.key,
                format!(
                    "unknown setting `{other}`: expected `slots`, `input_level`, `bootstrap_level` or `auto_bootstrap`"
                ),
            )),
        }
    }
    if !have_slots {
        errors.push(syn::Error::new_spanned(
            &m.name,
            "missing setting `slots: N`",
        ));
        s.slots = 1;
    }
    if !have_input {
        errors.push(syn::Error::new_spanned(
            &m.name,
            "missing setting `input_level: L`",
        ));
    }
    if s.auto && s.bootstrap_level.is_none() {
        errors.push(syn::Error::new_spanned(
            &m.name,
            "`auto_bootstrap` needs `bootstrap_level: L` (the level a bootstrap returns)",
        ));
    }
    s
}

fn program(m: &Model, s: &Settings, errors: &mut Vec<syn::Error>) -> Program {
    let layer_index: HashMap<String, usize> = m
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.to_string(), i))
        .collect();
    let mut seen_layers = BTreeSet::new();
    for l in &m.layers {
        if !seen_layers.insert(l.name.to_string()) {
            errors.push(syn::Error::new_spanned(
                &l.name,
                format!("layer `{}` is declared twice", l.name),
            ));
        }
    }
    let mut p = Program {
        names: vec![m.input.clone()],
        steps: Vec::new(),
        output: None,
    };
    let mut values: HashMap<String, usize> = HashMap::new();
    values.insert(m.input.to_string(), 0);
    let builtins = "`add`, `bootstrap`, `rotate`, `square`, `sum`";
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
                    Some(v) => p.output = Some(v),
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
        let mut arg_values = Vec::new();
        let mut ok = true;
        let value_arg = |e: &Expr, errors: &mut Vec<syn::Error>| -> Option<usize> {
            let Some(id) = as_ident(e) else {
                errors.push(syn::Error::new_spanned(e, "expected the name of a value"));
                return None;
            };
            if let Some(&v) = values.get(&id.to_string()) {
                return Some(v);
            }
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
            None
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
            let kind = match m.layers[li].kind {
                LayerKind::Dense => "a dense layer".to_string(),
                LayerKind::Diagonal => "a diagonal layer".to_string(),
                LayerKind::Conv => "a convolution".to_string(),
                LayerKind::Linear => "a linear layer".to_string(),
                LayerKind::SpatialSum => "a spatial sum".to_string(),
                LayerKind::Poly { degree } => format!("a degree-{degree} polynomial activation"),
            };
            if arity(1, &format!("`{cname}` is {kind}: it"), errors) {
                match value_arg(args[0], errors) {
                    Some(v) => arg_values.push(v),
                    None => ok = false,
                }
            } else {
                ok = false;
            }
            Op::Layer(li)
        } else {
            match cname.as_str() {
                "bootstrap" | "sum" | "square" => {
                    if arity(1, &format!("`{cname}`"), errors) {
                        match value_arg(args[0], errors) {
                            Some(v) => arg_values.push(v),
                            None => ok = false,
                        }
                    } else {
                        ok = false;
                    }
                    if cname == "bootstrap" {
                        if s.bootstrap_level.is_none() {
                            errors.push(syn::Error::new_spanned(
                                &init,
                                "`bootstrap` needs `bootstrap_level: L` in the model's settings",
                            ));
                            ok = false;
                        }
                        Op::Bootstrap
                    } else if cname == "square" {
                        Op::Square
                    } else {
                        Op::Sum
                    }
                }
                "add" => {
                    if arity(2, "`add`", errors) {
                        for a in &args {
                            match value_arg(a, errors) {
                                Some(v) => arg_values.push(v),
                                None => ok = false,
                            }
                        }
                    } else {
                        ok = false;
                    }
                    Op::Add
                }
                "rotate" => {
                    let mut k = 0;
                    if arity(2, "`rotate`", errors) {
                        match value_arg(args[0], errors) {
                            Some(v) => arg_values.push(v),
                            None => ok = false,
                        }
                        match as_int(args[1]) {
                            Some(x) if x != 0 && x.unsigned_abs() < s.slots as u64 => k = x,
                            _ => {
                                errors.push(syn::Error::new_spanned(
                                    args[1],
                                    format!(
                                        "`rotate` takes a non-zero integer literal step below the {} slots",
                                        s.slots
                                    ),
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
        if arg_values.contains(&usize::MAX) {
            // an operand failed to parse earlier: already reported
            ok = false;
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
            values.insert(name.to_string(), usize::MAX);
            continue;
        }
        values.insert(name.to_string(), p.names.len());
        p.names.push(name.clone());
        p.steps.push(Step {
            name,
            op,
            args: arg_values,
            callee: callee.clone(),
            expr: init.clone(),
        });
    }
    if p.output.is_none() && !m.body.is_empty() && errors.is_empty() {
        errors.push(syn::Error::new(
            m.body_span,
            "the forward pass must end with the name of its output value",
        ));
    }
    if m.body.is_empty() {
        errors.push(syn::Error::new(m.body_span, "the forward pass is empty"));
    }
    p
}

/// For each value prepared for a square, the value the square reads (its argument):
/// the square's input must come straight from linear layers, or sums of them, each used
/// by nothing else, because those layers set the scale the square needs.
fn presquare(m: &Model, p: &Program, errors: &mut Vec<syn::Error>) -> Vec<Option<usize>> {
    let n = p.names.len();
    let mut uses = vec![0usize; n];
    for st in &p.steps {
        for &a in &st.args {
            uses[a] += 1;
        }
    }
    if let Some(o) = p.output {
        uses[o] += 1;
    }
    let mut pre: Vec<Option<usize>> = vec![None; n];
    for st in &p.steps {
        if !matches!(st.op, Op::Square) {
            continue;
        }
        let sq_arg = st.args[0];
        let mut stack = vec![sq_arg];
        while let Some(v) = stack.pop() {
            let nm = &p.names[v];
            let producer = if v == 0 { None } else { Some(&p.steps[v - 1]) };
            let is_prep = |pst: &Step| match pst.op {
                Op::Layer(li) => is_linear(m.layers[li].kind),
                Op::Add => true,
                _ => false,
            };
            match producer.map(|pst| (pst, &pst.op)) {
                Some((pst, _)) if is_prep(pst) && uses[v] != 1 => {
                    errors.push(syn::Error::new_spanned(
                        &st.expr,
                        format!(
                            "`{nm}` is prepared for this `square` (the layer that makes it sets \
                             the scale the square needs), so nothing else may use it; it is used {} \
                             times: compute it again for its other uses",
                            uses[v]
                        ),
                    ));
                }
                Some((pst, Op::Layer(_))) if is_prep(pst) => pre[v] = Some(sq_arg),
                Some((pst, Op::Add)) => {
                    pre[v] = Some(sq_arg);
                    stack.extend(pst.args.iter().copied());
                }
                other => {
                    let from = match other {
                        None => "the input".to_string(),
                        Some((pst, _)) => format!("`{}`", pst.callee),
                    };
                    errors.push(syn::Error::new_spanned(
                        &st.expr,
                        format!(
                            "`square` needs its input straight from linear layers (`Dense`, \
                             `Diagonal`, `Conv`, `Linear`) or an `add` of them, which set the \
                             scale it needs; `{nm}` comes from {from}"
                        ),
                    ));
                }
            }
        }
    }
    pre
}

/// Explains why an operand sits where it does, for messages.
fn why_low(p: &Program, sim: &Sim, v: usize) -> String {
    if v == 0 {
        return String::new();
    }
    let st = &p.steps[v - 1];
    if let Op::Add = st.op {
        let (a, b) = (st.args[0], st.args[1]);
        if let (Some(la), Some(lb)) = (sim.levels[a], sim.levels[b]) {
            if la != lb {
                let (lo, hi, l_lo, l_hi) = if la < lb {
                    (a, b, la, lb)
                } else {
                    (b, a, lb, la)
                };
                return format!(
                    " (`{}` adds `{}` at level {l_hi} to `{}` at level {l_lo}: the `{}` branch is missing a `bootstrap`)",
                    st.name, p.names[hi], p.names[lo], p.names[lo]
                );
            }
        }
    }
    String::new()
}

pub fn expand(m: Model) -> TokenStream {
    let mut errors = Vec::new();
    let s = settings(&m, &mut errors);
    let p = program(&m, &s, &mut errors);
    let pre = if errors.is_empty() {
        presquare(&m, &p, &mut errors)
    } else {
        vec![None; p.names.len()]
    };
    let structural_ok = errors.is_empty();
    let n = p.names.len();
    let mut boot = vec![false; n];
    if structural_ok && s.auto {
        match place_bootstraps(&m, &s, &p, &pre) {
            Some(b) => boot = b,
            None => {
                let bl = s.bootstrap_level.unwrap_or(0);
                for st in &p.steps {
                    let need = step_cost(&m, &st.op);
                    if need > bl {
                        errors.push(syn::Error::new_spanned(
                            &st.expr,
                            format!(
                                "`{}` needs {need} levels but a bootstrap returns only {bl}: no bootstrap placement fits it",
                                st.callee
                            ),
                        ));
                    }
                }
                if errors.is_empty() {
                    errors.push(syn::Error::new_spanned(
                        &m.name,
                        "no bootstrap placement fits this model",
                    ));
                }
            }
        }
    }
    let sim = simulate(&m, &s, &p, &boot);
    if structural_ok || !s.auto {
        for &(i, need, left) in &sim.short {
            let st = &p.steps[i];
            let arg = st.args[0];
            let hint = match s.bootstrap_level {
                Some(bl) if bl < need => format!(
                    "; a bootstrap returns only level {bl}: raise `bootstrap_level` or use a lower degree"
                ),
                Some(_) => "; insert `bootstrap`".to_string(),
                None => "; insert `bootstrap` (and declare `bootstrap_level: L`)".to_string(),
            };
            errors.push(syn::Error::new_spanned(
                &st.expr,
                format!(
                    "`{}` needs {need} level{}, {left} left after `{}`{}{hint}",
                    st.callee,
                    if need == 1 { "" } else { "s" },
                    p.names[arg],
                    why_low(&p, &sim, arg)
                ),
            ));
        }
    }
    let ok = errors.is_empty();
    let code = generate(&m, &s, &p, &sim, &boot, &pre, ok);
    let errs = errors
        .into_iter()
        .reduce(|mut a, b| {
            a.combine(b);
            a
        })
        .map(|e| e.to_compile_error());
    quote! { #errs #code }
}

fn generate(
    m: &Model,
    s: &Settings,
    p: &Program,
    sim: &Sim,
    boot: &[bool],
    pre: &[Option<usize>],
    ok: bool,
) -> TokenStream {
    let name = &m.name;
    let vis = &m.vis;
    let attrs = &m.attrs;
    let fn_name = &m.fn_name;
    let plain_fn = format_ident!("{}_plain", m.fn_name);
    let slots = s.slots;
    let in_level = s.input_level;
    let fields = m.layers.iter().map(|l| {
        let ln = &l.name;
        let ty = match l.kind {
            LayerKind::Dense => {
                quote_spanned!(l.kind_ident.span()=> ::fhe_dsl::typed::Dense<#slots>)
            }
            LayerKind::Diagonal => {
                quote_spanned!(l.kind_ident.span()=> ::fhe_dsl::typed::Diagonal<#slots>)
            }
            LayerKind::Conv => {
                quote_spanned!(l.kind_ident.span()=> ::fhe_dsl::typed::Conv<#slots>)
            }
            LayerKind::Linear => {
                quote_spanned!(l.kind_ident.span()=> ::fhe_dsl::typed::Linear<#slots>)
            }
            LayerKind::SpatialSum => {
                quote_spanned!(l.kind_ident.span()=> ::fhe_dsl::typed::SpatialSum<#slots>)
            }
            LayerKind::Poly { degree } => {
                let k = levels_for_degree(degree);
                quote_spanned!(l.kind_ident.span()=> ::fhe_dsl::typed::Poly<#k>)
            }
        };
        let doc = match l.kind {
            LayerKind::Dense => "Dense layer (1 level).".to_string(),
            LayerKind::Diagonal => "Element-wise affine layer (1 level).".to_string(),
            LayerKind::Conv => "2-D convolution between packed layouts (1 level; its rotation \
                                steps depend on the layouts: see `key_request`)."
                .to_string(),
            LayerKind::Linear => "Packed linear map with a per-slot bias (1 level; its rotation \
                                  steps depend on the map: see `key_request`)."
                .to_string(),
            LayerKind::SpatialSum => "Per-channel spatial sum (no level; its rotation steps \
                                      depend on the layout: see `key_request`)."
                .to_string(),
            LayerKind::Poly { degree } => format!(
                "Polynomial activation of degree {degree} ({} levels).",
                levels_for_degree(degree)
            ),
        };
        quote! { #[doc = #doc] pub #ln: #ty }
    });

    // rotations, relin, bootstraps
    let mut rots = BTreeSet::new();
    let mut relin = false;
    let mut explicit_boots = 0usize;
    for st in &p.steps {
        match &st.op {
            Op::Layer(i) => match m.layers[*i].kind {
                LayerKind::Dense => rots.extend(1..slots as i64),
                LayerKind::Poly { degree } if degree >= 2 => relin = true,
                _ => {}
            },
            Op::Rotate(k) => {
                rots.insert(*k);
            }
            Op::Sum => {
                let mut k = 1;
                while k < slots {
                    rots.insert(k as i64);
                    k *= 2;
                }
            }
            Op::Bootstrap => explicit_boots += 1,
            Op::Square => relin = true,
            Op::Add => {}
        }
    }
    let rots: Vec<i64> = rots.into_iter().collect();
    // A convolution's rotations depend on its layouts, runtime values: the constant
    // cannot list them, the instance methods below ask each conv layer the pass calls.
    // Each conv layer the pass calls, with the highest level it runs at: its keys need
    // serve no level above that (smaller keys, `KeyRequest::rotations_up_to`).
    let mut convs: Vec<(&Ident, usize)> = Vec::new();
    for st in &p.steps {
        if let Op::Layer(i) = st.op {
            let l = &m.layers[i];
            if runtime_rotations(l.kind) {
                let at = sim.levels[st.args[0]].unwrap_or(MAX_LEVEL);
                match convs.iter_mut().find(|(n, _)| *n == &l.name) {
                    Some((_, lv)) => *lv = (*lv).max(at),
                    None => convs.push((&l.name, at)),
                }
            }
        }
    }
    let conv_layers: Vec<&Ident> = convs.iter().map(|(n, _)| *n).collect();
    let conv_levels: Vec<usize> = convs.iter().map(|(_, l)| *l).collect();
    let conv_list = conv_layers
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let rot_doc = if conv_layers.is_empty() {
        "Exactly the rotation steps the forward pass may use (`key_request` asks for their keys)."
            .to_string()
    } else {
        format!(
            "The rotation steps the forward pass uses outside its layout-dependent layers \
             ({conv_list}), whose steps are runtime values: [`Self::rotations_for`] has them all, \
             [`Self::key_request`] asks for all their keys."
        )
    };
    let name_str = name.to_string();
    let bl_opt = match s.bootstrap_level {
        Some(bl) => quote!(::core::option::Option::Some(#bl)),
        None => quote!(::core::option::Option::None),
    };
    let auto_names: Vec<String> = (0..p.names.len())
        .filter(|&v| boot[v])
        .map(|v| p.names[v].to_string())
        .collect();
    let n_boots = explicit_boots + auto_names.len();
    let out_v = p.output.unwrap_or(p.names.len() - 1);
    let out_level = sim.levels.get(out_v).copied().flatten().unwrap_or(0);
    let level_entries = p.names.iter().zip(&sim.levels).map(|(nm, l)| {
        let nm = nm.to_string();
        let l = l.unwrap_or(0);
        quote! { (#nm, #l) }
    });
    let bl_const = s.bootstrap_level.map(|bl| {
        quote! {
            /// The level a bootstrap returns (the `Bootstrap<B, _>` the forward pass needs).
            pub const BOOTSTRAP_LEVEL: usize = #bl;
        }
    });
    let (bt_generic, bt_param) = match s.bootstrap_level {
        Some(bl) => (
            quote! { , Bt: ::fhe_dsl::typed::Bootstrap<B, #bl> + ?::core::marker::Sized },
            quote! { bt: &Bt, },
        ),
        None => (quote! {}, quote! {}),
    };
    let bt_use = s.bootstrap_level.map(|_| quote! { let _ = bt; });
    let input = &m.input;
    // `Some(at)`: prepared for a square at level `at`
    let vec_ty = |l: usize, at: Option<usize>| match at {
        Some(at) => quote! {
            ::fhe_dsl::typed::EncVector<B, #slots, #l, ::fhe_dsl::typed::PreSquare<#at>>
        },
        None => quote! { ::fhe_dsl::typed::EncVector<B, #slots, #l> },
    };
    let in_ty = vec_ty(in_level, None);
    let out_ty = vec_ty(out_level, None);

    let in_name = input.to_string();
    let body = if ok {
        let mut stmts = Vec::new();
        let mut plain = Vec::new();
        // the cleartext twin with every value's range checked (`check_ranges`)
        let mut ranged = Vec::new();
        // the same walk on intervals (`check_input_range`): sound bounds per step
        let mut bounded = Vec::new();
        let mut index = 0usize;
        // reports the step that defined `nm` to the observer, then restarts the clock
        let observe = |index: usize, nm: &Ident, op: &str, level: usize, rot: TokenStream| {
            let value = nm.to_string();
            quote! {
                __fhe_obs.step(
                    &::fhe_dsl::typed::StepInfo {
                        index: #index,
                        of: Self::STEPS,
                        value: #value,
                        op: #op,
                        level: #level,
                        rotations: #rot,
                        elapsed: __fhe_t.elapsed(),
                    },
                    #nm.as_ct().ciphertext(),
                )?;
                let __fhe_t = ::std::time::Instant::now();
            }
        };
        let boot_stmt = |v: usize, l: usize, index: usize| {
            let nm = &p.names[v];
            let ty = vec_ty(l, None);
            let obs = observe(index, nm, "bootstrap (automatic)", l, quote!(0));
            let value = nm.to_string();
            quote_spanned! {nm.span()=>
                // automatic bootstrap placed by `model!`
                let #nm: #ty = ::fhe_dsl::typed::step_result(
                    #nm.bootstrap(bt), #value, "bootstrap (automatic)")?;
                #obs
            }
        };
        if boot[0] {
            let bl = s.bootstrap_level.unwrap_or(0);
            stmts.push(boot_stmt(0, bl, index));
            index += 1;
            let in_name = input.to_string();
            ranged.push(quote! {
                __fhe_rc.bootstrap_input(#in_name, "bootstrap (automatic)", #in_level, &#input)?;
            });
            bounded.push(quote! {
                __fhe_rc.bootstrap_input(#in_name, "bootstrap (automatic)", #in_level,
                    &#input.magnitudes())?;
            });
        }
        let square_level = |v: usize| pre[v].map(|sa| sim.levels[sa].unwrap_or(0));
        for (i, st) in p.steps.iter().enumerate() {
            let v = i + 1;
            let nm = &st.name;
            let raw_level = if boot[v] {
                // level before the automatic bootstrap
                let sim_raw = simulate(m, s, p, &{
                    let mut b = boot.to_vec();
                    b[v] = false;
                    b
                });
                sim_raw.levels[v].unwrap_or(0)
            } else {
                sim.levels[v].unwrap_or(0)
            };
            let at = square_level(v);
            let ty = vec_ty(raw_level, at);
            let span = st.callee.span();
            let a = &p.names[st.args[0]];
            let log_slots = slots.trailing_zeros() as usize;
            let (rhs, prhs, brhs, rot) = match &st.op {
                Op::Layer(li) => {
                    let layer = &m.layers[*li];
                    let ln = &layer.name;
                    let method = match layer.kind {
                        LayerKind::Dense => quote!(dense),
                        LayerKind::Diagonal => quote!(diagonal),
                        LayerKind::Conv => quote!(conv),
                        LayerKind::Linear => quote!(linear),
                        LayerKind::SpatialSum => quote!(spatial_sum),
                        LayerKind::Poly { .. } => quote!(poly),
                    };
                    let rhs = match at {
                        Some(at) => {
                            quote_spanned!(span=> #a.pre_square::<#at, _, _>(&self.#ln, ev))
                        }
                        None => quote_spanned!(span=> #a.#method(&self.#ln, ev)),
                    };
                    let rot = match layer.kind {
                        LayerKind::Dense => quote!(#slots - 1),
                        k if runtime_rotations(k) => quote!(self.#ln.rotations().len()),
                        _ => quote!(0),
                    };
                    (
                        rhs,
                        quote!(self.#ln.apply_plain(&#a)),
                        quote!(::fhe_dsl::typed::IntervalLayer::apply_bounds(&self.#ln, &#a)),
                        rot,
                    )
                }
                Op::Bootstrap => (
                    quote_spanned!(span=> #a.bootstrap(bt)),
                    quote!(#a.clone()),
                    quote!(#a.clone()),
                    quote!(0),
                ),
                Op::Square => (
                    quote_spanned!(span=> #a.square(ev)),
                    quote!(::fhe_dsl::typed::plain::mul(&#a, &#a)),
                    quote!(#a.square()),
                    quote!(0),
                ),
                Op::Sum => (
                    quote_spanned!(span=> #a.sum(ev)),
                    quote!(::fhe_dsl::typed::plain::sum(&#a)),
                    quote!(#a.sum()),
                    quote!(#log_slots),
                ),
                Op::Rotate(k) => (
                    quote_spanned!(span=> #a.rotate(#k, ev)),
                    quote!(::fhe_dsl::typed::plain::rotate(&#a, #k)),
                    quote!(#a.rotate(#k)),
                    quote!(1usize),
                ),
                Op::Add => {
                    let bv = st.args[1];
                    let b = &p.names[bv];
                    let la = sim.levels[st.args[0]].unwrap_or(0);
                    let lb = sim.levels[bv].unwrap_or(0);
                    let e = if la == lb {
                        quote_spanned!(span=> #a.add(&#b, ev))
                    } else if la > lb {
                        quote_spanned!(span=> #a.mod_down::<#lb>(ev).and_then(|__fhe_a| __fhe_a.add(&#b, ev)))
                    } else {
                        quote_spanned!(span=> #b.mod_down::<#la>(ev).and_then(|__fhe_b| #a.add(&__fhe_b, ev)))
                    };
                    (
                        e,
                        quote!(::fhe_dsl::typed::plain::add(&#a, &#b)),
                        quote!(#a.add(&#b)),
                        quote!(0),
                    )
                }
            };
            let (value, op_name) = (nm.to_string(), st.callee.to_string());
            stmts.push(quote_spanned! {st.expr_span()=>
                let #nm: #ty = ::fhe_dsl::typed::step_result(#rhs, #value, #op_name)?;
            });
            stmts.push(observe(index, nm, &op_name, raw_level, rot));
            index += 1;
            if let Op::Bootstrap = st.op {
                let a_name = a.to_string();
                let la = sim.levels[st.args[0]].unwrap_or(0);
                ranged.push(quote! {
                    __fhe_rc.bootstrap_input(#a_name, #op_name, #la, &#a)?;
                });
                bounded.push(quote! {
                    __fhe_rc.bootstrap_input(#a_name, #op_name, #la, &#a.magnitudes())?;
                });
            }
            plain.push(quote! { let #nm: ::std::vec::Vec<f64> = #prhs; });
            ranged.push(quote! {
                let #nm: ::std::vec::Vec<f64> = #prhs;
                __fhe_rc.step(#value, #op_name, #raw_level, &#nm)?;
            });
            bounded.push(quote! {
                let #nm: ::fhe_dsl::typed::Bounds = #brhs;
                __fhe_rc.step(#value, #op_name, #raw_level, &#nm.magnitudes())?;
            });
            if boot[v] {
                stmts.push(boot_stmt(v, s.bootstrap_level.unwrap_or(0), index));
                index += 1;
                ranged.push(quote! {
                    __fhe_rc.bootstrap_input(#value, "bootstrap (automatic)", #raw_level, &#nm)?;
                });
                bounded.push(quote! {
                    __fhe_rc.bootstrap_input(#value, "bootstrap (automatic)", #raw_level,
                        &#nm.magnitudes())?;
                });
            }
        }
        let out = &p.names[out_v];
        (
            quote! {
                #bt_use
                let __fhe_t = ::std::time::Instant::now();
                #(#stmts)*
                let _ = __fhe_t;
                ::core::result::Result::Ok(#out)
            },
            quote! {
                let mut #input: ::std::vec::Vec<f64> = #input.to_vec();
                #input.resize(#slots, 0.0);
                #(#plain)*
                #out
            },
            quote! {
                let mut __fhe_rc = ::fhe_dsl::typed::RangeCheck::new(limits);
                __fhe_rc.input(#in_name, #in_level, #input)?;
                let mut #input: ::std::vec::Vec<f64> = #input.to_vec();
                #input.resize(#slots, 0.0);
                #(#ranged)*
                let _ = #out;
                ::core::result::Result::Ok(__fhe_rc.finish())
            },
            quote! {
                let mut __fhe_rc = ::fhe_dsl::typed::RangeCheck::for_bounds(limits);
                __fhe_rc.input(#in_name, #in_level, &#input.magnitudes())?;
                let #input: ::fhe_dsl::typed::Bounds = #input.resized(#slots);
                #(#bounded)*
                let _ = #out;
                ::core::result::Result::Ok(__fhe_rc.finish())
            },
        )
    } else {
        (
            quote! {
                let _ = (ev, #input, __fhe_obs);
                #bt_use
                ::core::unimplemented!("this model does not compile: see the errors above")
            },
            quote! {
                let _ = #input;
                ::core::unimplemented!("this model does not compile: see the errors above")
            },
            quote! {
                let _ = (#input, limits);
                ::core::unimplemented!("this model does not compile: see the errors above")
            },
            quote! {
                let _ = (#input, limits);
                ::core::unimplemented!("this model does not compile: see the errors above")
            },
        )
    };
    let (fwd_body, plain_body, ranges_body, bounds_body) = body;
    let obs_fn = format_ident!("{}_observed", m.fn_name);
    let bt_arg = s.bootstrap_level.map(|_| quote! { bt, });
    let n_steps = p.steps.len() + auto_names.len();
    let obs_doc = format!(
        "[`Self::{fn_name}`], reporting every step (value, layer, level, rotations, wall time \
         and the resulting ciphertext) to an `fhe_dsl::typed::Observer`: \
         progress bars, per-layer timings, or decrypting intermediates for diagnostics."
    );
    let fwd_doc = format!(
        "Runs the model on an encrypted input at level {in_level}; the output is at level {out_level}. Bootstraps: {n_boots}{}.",
        if auto_names.is_empty() {
            String::new()
        } else {
            format!(" (automatic, after {})", auto_names.join(", "))
        }
    );
    let plain_doc =
        format!("The float64 reference of [`Self::{fn_name}`], on up to {slots} values.");
    quote! {
        #(#attrs)*
        #vis struct #name {
            #(#fields,)*
        }

        #[allow(dead_code)]
        impl #name {
            /// Packed length of the input and every intermediate value.
            pub const SLOTS: usize = #slots;
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
            pub const LEVELS: &'static [(&'static str, usize)] = &[#(#level_entries),*];
            #[doc = #rot_doc]
            pub const ROTATIONS: &'static [i64] = &[#(#rots),*];
            /// Whether the forward pass multiplies ciphertexts (needs the relinearisation key).
            pub const NEEDS_RELIN: bool = #relin;

            /// The evaluation keys the client must generate for this model, and no others:
            /// relinearisation if the pass multiplies ciphertexts, [`Self::ROTATIONS`], and
            /// the rotation steps of each `Conv`, `Linear` and `SpatialSum` layer (which
            /// depend on their layouts, so only the instance knows them), each with keys
            /// only up to the level the layer runs at (`KeyRequest::rotations_up_to`:
            /// smaller keys). The one way to ask a model for its keys; bootstrapping adds
            /// its own (`BootstrappingKeys::generate` takes this request).
            pub fn key_request(&self) -> ::fhe_dsl::ckks::KeyRequest {
                let r = ::fhe_dsl::ckks::KeyRequest::new()
                    .rotations(Self::ROTATIONS.iter().copied());
                let r = if Self::NEEDS_RELIN { r.relin() } else { r };
                #( let r = r.rotations_up_to(self.#conv_layers.rotations(), #conv_levels); )*
                r
            }

            /// Same as [`Self::key_request`] (its former name, kept for existing callers).
            #[doc(hidden)]
            pub fn key_request_for(&self) -> ::fhe_dsl::ckks::KeyRequest {
                self.key_request()
            }

            /// Exactly the rotation steps this model's forward pass may use, sorted:
            /// [`Self::ROTATIONS`] and those of its `Conv`, `Linear` and `SpatialSum`
            /// layers, whose steps depend on their layouts (for a model without them,
            /// `ROTATIONS`).
            pub fn rotations_for(&self) -> ::std::vec::Vec<i64> {
                let mut r: ::std::vec::Vec<i64> = Self::ROTATIONS.to_vec();
                #( r.extend(self.#conv_layers.rotations()); )*
                r.sort_unstable();
                r.dedup();
                r
            }

            /// Checks, before any key is generated, that this model fits `params`: its
            /// `slots` and `input_level`, and — if it bootstraps — that `bootstrap` (the
            /// preset's configuration) returns exactly its `bootstrap_level` for these
            /// slots. Each error names the setting to change.
            pub fn check_params(
                params: &::fhe_dsl::ckks::Params,
                bootstrap: ::core::option::Option<&::fhe_dsl::circuits::bootstrap::BootstrapConfig>,
            ) -> ::fhe_dsl::Result<()> {
                ::fhe_dsl::typed::check_model_params(
                    #name_str, #slots, #in_level, #bl_opt, params, bootstrap,
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
                #ranges_body
            }

            /// The sound counterpart of [`Self::check_ranges`]: instead of one sample,
            /// every input within `bounds` (an interval per slot, `Bounds::uniform` for
            /// one interval on all; slots beyond it are 0). Interval arithmetic through
            /// the same steps gives each value a bound no input in the range can exceed,
            /// checked against the same `limits`; the first bound beyond them is an
            /// `Error::ValueRange` naming the step. Otherwise each value's bound, in
            /// order. Bounds may be loose (a refused model may be fine on every real
            /// input), never too small.
            pub fn check_input_range(
                &self,
                #input: &::fhe_dsl::typed::Bounds,
                limits: &::fhe_dsl::typed::RangeLimits,
            ) -> ::fhe_dsl::Result<::std::vec::Vec<::fhe_dsl::typed::StepRange>> {
                #bounds_body
            }

            /// [`Self::check_input_range`] over the input range `limits` declares
            /// (`RangeLimits::with_input_range(r)`: every slot in `[-r, r]`). Errors when
            /// `limits` declares none.
            pub fn check_declared_range(
                &self,
                limits: &::fhe_dsl::typed::RangeLimits,
            ) -> ::fhe_dsl::Result<::std::vec::Vec<::fhe_dsl::typed::StepRange>> {
                let ::core::option::Option::Some(r) = limits.input_range() else {
                    return ::core::result::Result::Err(::fhe_dsl::Error::InvalidInput(
                        ::std::format!(
                            "{}::check_declared_range: the limits declare no input range: \
                             add `.with_input_range(r)`",
                            #name_str
                        ),
                    ));
                };
                let b = ::fhe_dsl::typed::Bounds::uniform(#slots, -r, r)?;
                self.check_input_range(&b, limits)
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

            #[doc = #obs_doc]
            pub fn #obs_fn<B: ::fhe_dsl::backend::Backend #bt_generic, O: ::fhe_dsl::typed::Observer<B> + ?::core::marker::Sized>(
                &self,
                ev: &::fhe_dsl::ckks::Evaluator<B>,
                #bt_param
                #input: #in_ty,
                __fhe_obs: &mut O,
            ) -> ::fhe_dsl::Result<#out_ty> {
                #fwd_body
            }

            #[doc = #plain_doc]
            pub fn #plain_fn(&self, #input: &[f64]) -> ::std::vec::Vec<f64> {
                #plain_body
            }
        }
    }
}

impl Step {
    fn expr_span(&self) -> Span {
        self.callee.span()
    }
}
