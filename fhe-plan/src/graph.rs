//! Lowering: a [`Source`] flattened into one step per layer call. Blocks are inlined
//! with their instance path (`layer2.0.conv1`), arrays of blocks chained.

use crate::source::{Diag, LayerRef, Origin, Source};
use crate::LayerKind;

/// An operation: of a module's step (`Layer` indexes the module's layers) or of the
/// flattened graph and plan (`Layer` indexes the flat layers).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// Applies the flat layer with this index ([`Graph::layers`]).
    Layer(usize),
    /// Refreshes the value to the bootstrap level.
    Bootstrap,
    /// Adds two values.
    Add,
    /// Rotates left by this step.
    Rotate(i64),
    /// Every slot gets the sum of all slots.
    Sum,
    /// Squares a prepared value.
    Square,
}

/// A primitive layer instance, by its field path (`conv1`, `layer1.0.conv2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlatLayer {
    /// Field path from the model.
    pub path: String,
    /// Its kind.
    pub kind: LayerKind,
}

/// One step of the flattened graph.
#[derive(Clone, Debug)]
pub struct GraphStep {
    /// The value it defines, qualified by its block instance (`layer1.0.z1`).
    pub value: String,
    /// The operation.
    pub op: Op,
    /// Operands: graph value indices (0 is the input, `i + 1` step `i`'s value).
    pub args: Vec<usize>,
    /// The layer path or the builtin's name, for messages and reports.
    pub callee: String,
    /// The step as written.
    pub origin: Origin,
}

/// A model flattened: every layer instance, every step.
#[derive(Clone, Debug)]
pub struct Graph {
    /// Every primitive layer instance, in declaration order (depth first).
    pub layers: Vec<FlatLayer>,
    /// Value names: 0 is the input, `i + 1` is step `i`'s value.
    pub values: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<GraphStep>,
    /// The output value.
    pub output: usize,
}

impl Graph {
    /// Flattens `src`. Errors on a block that contains itself, on references out of
    /// range, and on an empty array of blocks.
    pub fn flatten(src: &Source) -> Result<Graph, Vec<Diag>> {
        let main = src
            .modules
            .get(src.main)
            .ok_or_else(|| vec![Diag::model("the main module index is out of range")])?;
        let mut g = Graph {
            layers: Vec::new(),
            values: vec![main.input.clone()],
            steps: Vec::new(),
            output: 0,
        };
        let mut errors = Vec::new();
        let mut stack = Vec::new();
        g.output = g.inline(src, src.main, "", 0, &mut stack, &mut errors);
        if errors.is_empty() {
            Ok(g)
        } else {
            Err(errors)
        }
    }

    /// Registers every primitive layer of an instance of module `m` at `prefix`, returns
    /// their flat indices by module layer index (`None` for block layers).
    fn register(&mut self, src: &Source, m: usize, prefix: &str) -> Vec<Option<usize>> {
        let module = &src.modules[m];
        let mut idx = Vec::with_capacity(module.layers.len());
        for l in &module.layers {
            match l.kind {
                LayerRef::Kind(kind) => {
                    idx.push(Some(self.layers.len()));
                    self.layers.push(FlatLayer {
                        path: format!("{prefix}{}", l.name),
                        kind,
                    });
                }
                LayerRef::Block(_) | LayerRef::Array { .. } => idx.push(None),
            }
        }
        idx
    }

    fn inline(
        &mut self,
        src: &Source,
        m: usize,
        prefix: &str,
        input: usize,
        stack: &mut Vec<usize>,
        errors: &mut Vec<Diag>,
    ) -> usize {
        if stack.contains(&m) {
            errors.push(Diag::model(format!(
                "block `{}` contains itself (through {})",
                src.modules[m].name,
                stack
                    .iter()
                    .map(|&i| format!("`{}`", src.modules[i].name))
                    .collect::<Vec<_>>()
                    .join(" → ")
            )));
            return input;
        }
        stack.push(m);
        let flat = self.register(src, m, prefix);
        let module = &src.modules[m];
        // module value index → graph value index
        let mut local = vec![input];
        for (si, st) in module.steps.iter().enumerate() {
            let origin = Origin {
                module: m,
                step: si,
            };
            let args: Option<Vec<usize>> = st.args.iter().map(|&a| local.get(a).copied()).collect();
            let Some(args) = args else {
                errors.push(Diag {
                    at: Some(origin),
                    message: format!("`{}` reads a value defined after it", st.value),
                });
                local.push(input);
                continue;
            };
            let push = |g: &mut Graph, op: Op, callee: String, args: Vec<usize>| {
                g.values.push(format!("{prefix}{}", st.value));
                g.steps.push(GraphStep {
                    value: format!("{prefix}{}", st.value),
                    op,
                    args,
                    callee,
                    origin,
                });
                g.values.len() - 1
            };
            let v = match st.op {
                Op::Layer(li) => match module.layers.get(li).map(|l| (l, l.kind)) {
                    Some((l, LayerRef::Kind(_))) => {
                        let fi = flat[li].expect("registered");
                        push(self, Op::Layer(fi), format!("{prefix}{}", l.name), args)
                    }
                    Some((l, LayerRef::Block(b))) => {
                        let p = format!("{prefix}{}.", l.name);
                        self.inline(src, b, &p, args[0], stack, errors)
                    }
                    Some((l, LayerRef::Array { module: b, count })) => {
                        if count == 0 {
                            errors.push(Diag {
                                at: Some(origin),
                                message: format!(
                                    "`{}` is an array of no blocks: give it at least one",
                                    l.name
                                ),
                            });
                        }
                        let mut x = args[0];
                        for k in 0..count {
                            let p = format!("{prefix}{}.{k}.", l.name);
                            x = self.inline(src, b, &p, x, stack, errors);
                        }
                        x
                    }
                    None => {
                        errors.push(Diag {
                            at: Some(origin),
                            message: "layer index out of range".into(),
                        });
                        input
                    }
                },
                op @ (Op::Bootstrap | Op::Add | Op::Rotate(_) | Op::Sum | Op::Square) => {
                    let name = match op {
                        Op::Bootstrap => "bootstrap",
                        Op::Add => "add",
                        Op::Rotate(_) => "rotate",
                        Op::Sum => "sum",
                        _ => "square",
                    };
                    push(self, op, name.into(), args)
                }
            };
            local.push(v);
        }
        stack.pop();
        local.get(module.output).copied().unwrap_or(input)
    }

    /// Levels step `i` consumes.
    pub fn cost(&self, i: usize) -> usize {
        match self.steps[i].op {
            Op::Layer(l) => self.layers[l].kind.levels(),
            Op::Square => 1,
            _ => 0,
        }
    }

    /// How many steps read each value (the output counts as one read).
    pub fn uses(&self) -> Vec<usize> {
        let mut uses = vec![0usize; self.values.len()];
        for st in &self.steps {
            for &a in &st.args {
                uses[a] += 1;
            }
        }
        uses[self.output] += 1;
        uses
    }
}
