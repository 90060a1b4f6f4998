//! The square rule: `square(v)` keeps its scale only if the linear layers that produce
//! `v` (directly or through `add`s) landed it on a scale made for the square, so `v`
//! must come straight from them and be used by nothing else.

use crate::graph::{Graph, Op};
use crate::source::Diag;

/// For each value prepared for a square, the value the square reads; errors on squares
/// whose input does not come from linear layers, or is shared.
pub fn presquare(g: &Graph) -> (Vec<Option<usize>>, Vec<Diag>) {
    let uses = g.uses();
    let mut pre: Vec<Option<usize>> = vec![None; g.values.len()];
    let mut errors = Vec::new();
    for st in &g.steps {
        if st.op != Op::Square {
            continue;
        }
        let sq_arg = st.args[0];
        let mut stack = vec![sq_arg];
        while let Some(v) = stack.pop() {
            let nm = &g.values[v];
            let producer = v.checked_sub(1).map(|i| &g.steps[i]);
            let prep = producer.is_some_and(|p| match p.op {
                Op::Layer(l) => g.layers[l].kind.is_linear(),
                Op::Add => true,
                _ => false,
            });
            match producer {
                Some(_) if prep && uses[v] != 1 => errors.push(Diag {
                    at: Some(st.origin),
                    message: format!(
                        "`{nm}` is prepared for this `square` (the layer that makes it sets \
                         the scale the square needs), so nothing else may use it; it is used {} \
                         times: compute it again for its other uses",
                        uses[v]
                    ),
                }),
                Some(p) if prep => {
                    pre[v] = Some(sq_arg);
                    if p.op == Op::Add {
                        stack.extend(p.args.iter().copied());
                    }
                }
                other => {
                    let from = match other {
                        None => "the input".to_string(),
                        Some(p) => format!("`{}`", p.callee),
                    };
                    errors.push(Diag {
                        at: Some(st.origin),
                        message: format!(
                            "`square` needs its input straight from linear layers (`Dense`, \
                             `Diagonal`, `Conv`, `Linear`) or an `add` of them, which set the \
                             scale it needs; `{nm}` comes from {from}"
                        ),
                    });
                }
            }
        }
    }
    (pre, errors)
}
