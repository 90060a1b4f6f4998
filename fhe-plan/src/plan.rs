//! The lowered plan: the flattened graph with every level known and the automatic
//! bootstraps written out as steps. The macro generates the typed forward pass from it
//! and embeds it; `fhe-dsl`'s interpreters walk the same steps.

use crate::check::presquare;
use crate::graph::{FlatLayer, Graph, Op};
use crate::place::{place_bootstraps, simulate, why_low};
use crate::source::{Diag, Origin, Source};

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanStep {
    /// The value it defines (an automatic bootstrap redefines the value it refreshes).
    pub value: String,
    /// The operation.
    pub op: Op,
    /// Operands: plan value indices (0 is the input, `i + 1` step `i`'s value).
    pub args: Vec<usize>,
    /// The layer path, or the builtin's name (`bootstrap (automatic)` for a placed one).
    pub callee: String,
    /// Level of the value it produces.
    pub level: usize,
    /// `Some(at)`: the value is prepared for a square that runs at level `at` (its
    /// producing linear layer lands it on the scale the square needs).
    pub pre_square: Option<usize>,
    /// Placed by the automatic bootstrap search.
    pub auto: bool,
}

/// A compiled model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The model's type name.
    pub name: String,
    /// Slots per ciphertext, when fixed at expansion time.
    pub slots: Option<usize>,
    /// The input's name.
    pub input: String,
    /// Level of the encrypted input.
    pub input_level: usize,
    /// Level a bootstrap returns, if the model bootstraps.
    pub bootstrap_level: Option<usize>,
    /// Every primitive layer instance, by field path.
    pub layers: Vec<FlatLayer>,
    /// The steps, automatic bootstraps included.
    pub steps: Vec<PlanStep>,
    /// The output value.
    pub output: usize,
}

impl Plan {
    /// Level of plan value `v`.
    pub fn level(&self, v: usize) -> usize {
        match v.checked_sub(1) {
            None => self.input_level,
            Some(i) => self.steps[i].level,
        }
    }

    /// Level of the output.
    pub fn output_level(&self) -> usize {
        self.level(self.output)
    }

    /// Bootstraps per forward pass, explicit and automatic.
    pub fn bootstraps(&self) -> usize {
        self.steps.iter().filter(|s| s.op == Op::Bootstrap).count()
    }

    /// The values bootstrapped automatically, in order.
    pub fn auto_bootstrapped(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|s| s.auto)
            .map(|s| s.value.as_str())
            .collect()
    }

    /// Whether the pass multiplies ciphertexts (needs the relinearisation key).
    pub fn needs_relin(&self) -> bool {
        self.steps.iter().any(|s| match s.op {
            Op::Square => true,
            Op::Layer(l) => self.layers[l].kind.needs_relin(),
            _ => false,
        })
    }

    /// Each value's level as the next step sees it (a value bootstrapped automatically
    /// at the bootstrap's output level), input first, in order.
    pub fn levels(&self) -> Vec<(&str, usize)> {
        let mut out = vec![(self.input.as_str(), self.input_level)];
        for s in &self.steps {
            if s.auto {
                if let Some(last) = out.last_mut() {
                    last.1 = s.level;
                }
            } else {
                out.push((s.value.as_str(), s.level));
            }
        }
        out
    }

    /// The level of each step's first operand: the level it runs at.
    pub fn input_level_of(&self, step: usize) -> usize {
        self.steps[step]
            .args
            .first()
            .map_or(self.input_level, |&a| self.level(a))
    }
}

/// Flattens, checks and lowers `src`: every problem at once.
pub fn compile(src: &Source) -> Result<Plan, Vec<Diag>> {
    compile_with_origins(src).map(|(p, _)| p)
}

/// [`compile`], with each plan step's origin in the source (an automatic bootstrap
/// points at the step whose value it refreshes; `None` for a bootstrapped input).
pub fn compile_with_origins(src: &Source) -> Result<(Plan, Vec<Option<Origin>>), Vec<Diag>> {
    let s = &src.settings;
    let g = Graph::flatten(src)?;
    let main = &src.modules[src.main];
    let mut errors = Vec::new();
    if s.auto_bootstrap && s.bootstrap_level.is_none() {
        errors.push(Diag::model(
            "`auto_bootstrap` needs `bootstrap_level: L` (the level a bootstrap returns)",
        ));
    }
    if s.bootstrap_level.is_none() {
        for st in g.steps.iter().filter(|st| st.op == Op::Bootstrap) {
            errors.push(Diag {
                at: Some(st.origin),
                message: "`bootstrap` needs `bootstrap_level: L` in the model's settings".into(),
            });
        }
    }
    let (pre, pre_errors) = presquare(&g);
    errors.extend(pre_errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let n = g.values.len();
    let mut boot = vec![false; n];
    if s.auto_bootstrap {
        match place_bootstraps(&g, s, &pre) {
            Some(b) => boot = b,
            None => {
                let bl = s.bootstrap_level.unwrap_or(0);
                for (i, st) in g.steps.iter().enumerate() {
                    let need = g.cost(i);
                    if need > bl {
                        errors.push(Diag {
                            at: Some(st.origin),
                            message: format!(
                                "`{}` needs {need} levels but a bootstrap returns only {bl}: no bootstrap placement fits it",
                                st.callee
                            ),
                        });
                    }
                }
                if errors.is_empty() {
                    errors.push(Diag::model("no bootstrap placement fits this model"));
                }
                return Err(errors);
            }
        }
    }
    let sim = simulate(&g, s, &boot);
    for &(i, need, left) in &sim.short {
        let st = &g.steps[i];
        let arg = st.args[0];
        let hint = match s.bootstrap_level {
            Some(bl) if bl < need => format!(
                "; a bootstrap returns only level {bl}: raise `bootstrap_level` or use a lower degree"
            ),
            Some(_) => "; insert `bootstrap`".to_string(),
            None => "; insert `bootstrap` (and declare `bootstrap_level: L`)".to_string(),
        };
        errors.push(Diag {
            at: Some(st.origin),
            message: format!(
                "`{}` needs {need} level{}, {left} left after `{}`{}{hint}",
                st.callee,
                if need == 1 { "" } else { "s" },
                g.values[arg],
                why_low(&g, &sim, arg)
            ),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // lower: graph value → plan value, automatic bootstraps as steps
    let bl = s.bootstrap_level.unwrap_or(0);
    let level = |v: usize| sim.raw[v].unwrap_or(0);
    let mut map = vec![0usize; n];
    let mut steps = Vec::with_capacity(g.steps.len());
    let mut origins = Vec::with_capacity(g.steps.len());
    let auto_step = |name: &str, arg: usize| PlanStep {
        value: name.to_string(),
        op: Op::Bootstrap,
        args: vec![arg],
        callee: "bootstrap (automatic)".into(),
        level: bl,
        pre_square: None,
        auto: true,
    };
    if boot[0] {
        steps.push(auto_step(&g.values[0], 0));
        origins.push(None);
        map[0] = 1;
    }
    for (i, st) in g.steps.iter().enumerate() {
        let v = i + 1;
        steps.push(PlanStep {
            value: st.value.clone(),
            op: st.op,
            args: st.args.iter().map(|&a| map[a]).collect(),
            callee: st.callee.clone(),
            level: level(v),
            pre_square: pre[v].map(|sq| sim.levels[sq].unwrap_or(0)),
            auto: false,
        });
        origins.push(Some(st.origin));
        map[v] = steps.len();
        if boot[v] {
            steps.push(auto_step(&st.value, steps.len()));
            origins.push(Some(st.origin));
            map[v] = steps.len();
        }
    }
    let plan = Plan {
        name: main.name.clone(),
        slots: s.slots,
        input: main.input.clone(),
        input_level: s.input_level,
        bootstrap_level: s.bootstrap_level,
        layers: g.layers,
        steps,
        output: map[g.output],
    };
    Ok((plan, origins))
}
