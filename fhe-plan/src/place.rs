//! The level simulation and automatic bootstrap placement.

use crate::graph::{Graph, Op};
use crate::source::Settings;
use crate::EXACT_SEARCH_MAX;

/// The levels of a graph with some values bootstrapped right after they are defined.
#[derive(Clone, Debug)]
pub struct Sim {
    /// Level of each value as later steps see it (`None`: unknown after a shortfall).
    pub levels: Vec<Option<usize>>,
    /// Level of each value as its step produces it (before an automatic bootstrap).
    pub raw: Vec<Option<usize>>,
    /// `(step, levels needed, levels left)` for each step that ran out of levels.
    pub short: Vec<(usize, usize, usize)>,
}

/// Simulates levels; `boot[v]`: value `v` is bootstrapped right after it is defined.
pub fn simulate(g: &Graph, s: &Settings, boot: &[bool]) -> Sim {
    let bl = s.bootstrap_level.unwrap_or(0);
    let n = g.values.len();
    let mut levels: Vec<Option<usize>> = Vec::with_capacity(n);
    let mut raw: Vec<Option<usize>> = Vec::with_capacity(n);
    let seen = |r: Option<usize>, v: usize| if boot[v] { Some(bl) } else { r };
    raw.push(Some(s.input_level));
    levels.push(seen(Some(s.input_level), 0));
    let mut short = Vec::new();
    for (i, st) in g.steps.iter().enumerate() {
        let ins: Option<Vec<usize>> = st.args.iter().map(|&a| levels[a]).collect();
        let r = ins.and_then(|ins| match st.op {
            Op::Layer(_) | Op::Square => {
                let need = g.cost(i);
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
        });
        raw.push(r);
        levels.push(seen(r, i + 1));
    }
    Sim { levels, raw, short }
}

/// Fewest automatic bootstraps that make the graph fit; ties broken by the highest
/// output level, then by placing bootstraps as late as possible. Exact for up to
/// [`EXACT_SEARCH_MAX`] candidates; beyond, greedy: where the pass first runs short, it
/// bootstraps the ancestor that lets the pass run furthest (on a residual network, the
/// block input that serves both branches). Values prepared for a square (`pre[v]`
/// set) keep their scale for it and are never bootstrapped. `None`: nothing fits.
pub fn place_bootstraps(g: &Graph, s: &Settings, pre: &[Option<usize>]) -> Option<Vec<bool>> {
    let n = g.values.len();
    let candidates: Vec<usize> = (0..n)
        .filter(|&v| v == 0 || g.steps[v - 1].op != Op::Bootstrap)
        .filter(|&v| pre[v].is_none())
        .collect();
    if candidates.len() <= EXACT_SEARCH_MAX {
        for k in 0..=candidates.len() {
            let mut best: Option<(Vec<bool>, (usize, usize))> = None;
            for_each_subset(&candidates, k, &mut |chosen| {
                let mut b = vec![false; n];
                for &v in chosen {
                    b[v] = true;
                }
                let sim = simulate(g, s, &b);
                if sim.short.is_empty() {
                    let key = (
                        sim.levels[g.output].unwrap_or(0),
                        chosen.iter().sum::<usize>(),
                    );
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
        let mut b = vec![false; n];
        let first_short = |b: &[bool]| {
            let sim = simulate(g, s, b);
            sim.short.first().map_or(g.steps.len(), |&(i, _, _)| i)
        };
        loop {
            let sim = simulate(g, s, &b);
            let Some(&(i, _, _)) = sim.short.first() else {
                return Some(b);
            };
            let mut anc = vec![false; n];
            let mut stack: Vec<usize> = g.steps[i].args.clone();
            while let Some(v) = stack.pop() {
                if !anc[v] {
                    anc[v] = true;
                    if v > 0 {
                        stack.extend(g.steps[v - 1].args.iter().copied());
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

/// Why an operand sits where it does, for messages: an `add` of unequal levels means
/// the lower branch misses a bootstrap.
pub fn why_low(g: &Graph, sim: &Sim, v: usize) -> String {
    let Some(st) = v.checked_sub(1).map(|i| &g.steps[i]) else {
        return String::new();
    };
    if st.op == Op::Add {
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
                    st.value, g.values[hi], g.values[lo], g.values[lo]
                );
            }
        }
    }
    String::new()
}
