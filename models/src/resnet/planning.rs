//! `fhe plan`: what a ResNet of each depth costs before any weight is trained or any key
//! made: levels per block, bootstraps, rotations, key memory, from the model's compiled
//! plan and layers folded from seeded random weights of the right shapes (rotation steps
//! depend on the shapes, not the values).

use super::dsl::ResNet;
use super::fold::{fold, Calibration};
use super::weights::{Act, BlockWeights, ResNetWeights};
use anyhow::Result;
use fhe_dsl::circuits::BootstrapPreset;
use fhe_dsl::ckks::{KeyRequest, Params, SwitchingKey};
use fhe_dsl::model::{cost, key_request, Counts, Model};
use fhe_dsl::plan::Op;
use ndarray::{Array1, Array2, Array4};
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Seeded random weights of a CIFAR ResNet-(6n+2) (widths 16/32/64, 3 input channels).
pub fn random_weights(n: usize, classes: usize, seed: u64) -> ResNetWeights {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut conv = |co: usize, ci: usize, k: usize| {
        let s = 1.0 / ((ci * k * k) as f64).sqrt();
        Array4::from_shape_fn((co, ci, k, k), |_| rng.gen_range(-s..s))
    };
    let act = |c: usize| Act {
        a: Array1::from_elem(c, 0.1),
        b: Array1::from_elem(c, 0.5),
        c: Array1::from_elem(c, 0.0),
    };
    let conv0 = conv(16, 3, 3);
    let mut blocks = Vec::new();
    let mut ci = 16;
    for (stage, co) in [16usize, 32, 64].into_iter().enumerate() {
        for j in 0..n {
            let stride = if stage > 0 && j == 0 { 2 } else { 1 };
            let down = (stride == 2).then(|| (conv(co, ci, 1), Array1::zeros(co)));
            blocks.push(BlockWeights {
                conv1: conv(co, ci, 3),
                act1: act(co),
                conv2: conv(co, co, 3),
                act2: act(co),
                down,
                stride,
            });
            ci = co;
        }
    }
    ResNetWeights {
        conv0,
        act0: act(16),
        blocks,
        fc_w: Array2::from_elem((classes, 64), 0.01),
        fc_b: Array1::zeros(classes),
    }
}

/// What the server holds for a model's key request at a preset: the request plus what
/// `BootstrappingKeys::generate` adds (bootstrapping's rotations, conjugation,
/// relinearisation), uniform halves expanded.
pub struct ServerKeys {
    /// Galois keys in all.
    pub galois_keys: usize,
    /// Bytes of every key, expanded.
    pub all_bytes: usize,
    /// Bytes of the model's own keys, expanded.
    pub model_bytes: usize,
}

impl ServerKeys {
    /// The keys for `req` (the model's) and `preset`'s bootstrapping under `params`.
    pub fn new(params: &Params, req: &KeyRequest, preset: &BootstrapPreset) -> Result<Self> {
        let top = params.max_level();
        let mut all = req.clone().relin().conjugate();
        all.rotations_up_to
            .extend(preset.config.rotation_levels(params)?);
        let bytes = |r: &KeyRequest| -> usize {
            let relin = usize::from(r.relin) * SwitchingKey::byte_size_at(params, top);
            let galois: usize = r
                .galois_levels(params)
                .values()
                .map(|&l| SwitchingKey::byte_size_at(params, l))
                .sum();
            2 * (relin + galois)
        };
        Ok(ServerKeys {
            galois_keys: all.galois_levels(params).len(),
            all_bytes: bytes(&all),
            model_bytes: bytes(req),
        })
    }
}

/// One block's levels in the plan.
#[derive(Clone, Debug, Serialize)]
pub struct BlockLevels {
    /// `layer1.0`, …
    pub block: String,
    /// Level its input is read at (after a bootstrap placed before it).
    pub input: usize,
    /// Level of its output.
    pub output: usize,
    /// Whether its output is bootstrapped right after.
    pub bootstrapped_after: bool,
}

/// What `fhe plan` reports for one model.
#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    /// `resnet20`, …
    pub model: String,
    /// Parameter preset.
    pub params: String,
    /// Slots per ciphertext.
    pub slots: usize,
    /// Steps of the forward pass (automatic bootstraps included).
    pub steps: usize,
    /// Bootstraps per inference.
    pub bootstraps: usize,
    /// Values bootstrapped, in order.
    pub bootstrapped: Vec<String>,
    /// Rotations (key switches) per inference outside bootstrapping.
    pub rotations: usize,
    /// Distinct rotation steps the model's layers use.
    pub rotation_keys: usize,
    /// Plaintext diagonals multiplied per inference.
    pub diagonals: usize,
    /// Evaluation key bytes the server holds (expanded), the model's and bootstrapping's.
    pub key_bytes: usize,
    /// The model's rotation keys alone, expanded.
    pub model_key_bytes: usize,
    /// Level of the input and of the output.
    pub input_level: usize,
    /// Level of the output.
    pub output_level: usize,
    /// Levels per block.
    pub levels: Vec<BlockLevels>,
    /// Every backend call of one encrypted inference, by primitive and limb count
    /// (`fhe_dsl::model::cost`: bootstraps counted as one `bootstrap` each).
    pub primitives: Counts,
}

/// Folds ResNet-(6N+2) (seeded random weights of the right shapes) at `preset`
/// (full-slot, `S` slots) and hands `f` the model, its parameters and its server keys.
fn visit_resnet<const S: usize, const N: usize, R>(
    preset: &BootstrapPreset,
    insecure: bool,
    f: impl FnOnce(&dyn Model, &Params, &ServerKeys) -> Result<R>,
) -> Result<R>
where
    ResNet<S, N>: Model,
{
    let params = if insecure {
        Params::new_insecure_for_tests(preset.params.clone())?
    } else {
        Params::new(preset.params.clone())?
    };
    let w = random_weights(N, 10, 1);
    let folded = fold::<S, N>(&w, &Calibration::unit(&w), 0.8)?;
    let m = &folded.model;
    let keys = ServerKeys::new(&params, &key_request(m), preset)?;
    f(m, &params, &keys)
}

/// Runs `f` on the named ResNet (`resnet20` … `resnet110`) folded from seeded random
/// weights at `preset` (`boot-n16`: 32768 slots, or the insecure `boot-n13`: 4096), with
/// its parameters and server keys: what planning and cost-only pricing start from
/// (rotation steps and level use depend on the shapes, not the values).
pub fn visit_named<R>(
    name: &str,
    preset: &BootstrapPreset,
    insecure: bool,
    f: impl FnOnce(&dyn Model, &Params, &ServerKeys) -> Result<R>,
) -> Result<R> {
    macro_rules! by_depth {
        ($s:literal) => {
            match name {
                "resnet20" => visit_resnet::<$s, 3, R>(preset, insecure, f),
                "resnet32" => visit_resnet::<$s, 5, R>(preset, insecure, f),
                "resnet44" => visit_resnet::<$s, 7, R>(preset, insecure, f),
                "resnet56" => visit_resnet::<$s, 9, R>(preset, insecure, f),
                "resnet110" => visit_resnet::<$s, 18, R>(preset, insecure, f),
                other => anyhow::bail!(
                    "unknown model `{other}`: resnet20, resnet32, resnet44, resnet56 or resnet110"
                ),
            }
        };
    }
    match preset.config.slots() {
        32768 => by_depth!(32768),
        4096 => by_depth!(4096),
        s => {
            anyhow::bail!("the ResNets plan on 32768 slots (boot-n16) or 4096 (boot-n13), not {s}")
        }
    }
}

/// Plans the named model at `preset` (see [`visit_named`]).
pub fn plan_named(name: &str, preset: &BootstrapPreset, insecure: bool) -> Result<PlanReport> {
    visit_named(name, preset, insecure, |m, params, keys| {
        plan_report(name, preset, m, params, keys)
    })
}

fn plan_report(
    name: &str,
    preset: &BootstrapPreset,
    m: &dyn Model,
    params: &Params,
    keys: &ServerKeys,
) -> Result<PlanReport> {
    let plan = m.plan();
    let (mut rotations, mut diagonals) = (0, 0);
    for st in &plan.steps {
        if let Op::Layer(l) = st.op {
            if let Some(layer) = m.layer(l) {
                rotations += layer.rotations().len();
                diagonals += layer.diagonals();
            }
        }
    }
    let req = key_request(m);
    let distinct: std::collections::BTreeSet<i64> = req
        .rotations
        .iter()
        .copied()
        .chain(req.rotations_up_to.iter().map(|&(k, _)| k))
        .collect();
    // blocks per stage: ResNet-(6n+2)
    let depth: usize = name.trim_start_matches("resnet").parse().unwrap_or(20);
    let n = (depth - 2) / 6;
    // per block: the level its first step reads, the level of its output
    let mut levels = Vec::new();
    for stage in 1..=3 {
        for j in 0..n {
            let block = format!("layer{stage}.{j}");
            let first = plan
                .steps
                .iter()
                .position(|s| s.value.starts_with(&format!("{block}.")))
                .unwrap_or(0);
            let out = plan
                .steps
                .iter()
                .rposition(|s| s.value == format!("{block}.y") && !s.auto)
                .unwrap_or(0);
            let boot_after = plan
                .steps
                .get(out + 1)
                .is_some_and(|s| s.auto && s.value == format!("{block}.y"));
            levels.push(BlockLevels {
                block,
                input: plan.input_level_of(first),
                output: plan.steps[out].level,
                bootstrapped_after: boot_after,
            });
        }
    }
    let primitives = cost(m, params)?.total;
    Ok(PlanReport {
        model: name.to_string(),
        params: preset.name.to_string(),
        slots: m.slots(),
        steps: plan.steps.len(),
        bootstraps: plan.bootstraps(),
        bootstrapped: plan
            .auto_bootstrapped()
            .into_iter()
            .map(String::from)
            .collect(),
        rotations,
        rotation_keys: distinct.len(),
        diagonals,
        key_bytes: keys.all_bytes,
        model_key_bytes: keys.model_bytes,
        input_level: plan.input_level,
        output_level: plan.output_level(),
        levels,
        primitives,
    })
}

impl PlanReport {
    /// The readable report.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} at {} ({} slots): {} steps, input level {} → output level {}",
            self.model, self.params, self.slots, self.steps, self.input_level, self.output_level
        );
        let _ = writeln!(
            s,
            "{} bootstraps (after {}), {} rotations per inference over {} rotation keys, {} plaintext diagonals",
            self.bootstraps,
            self.bootstrapped.join(", "),
            self.rotations,
            self.rotation_keys,
            self.diagonals
        );
        let _ = writeln!(
            s,
            "evaluation keys on the server: {:.2} GB ({:.2} GB of them the model's rotations)",
            self.key_bytes as f64 / 1e9,
            self.model_key_bytes as f64 / 1e9
        );
        let mut by_op: std::collections::BTreeMap<&str, u64> = Default::default();
        for ((op, _), n) in self.primitives.iter() {
            *by_op.entry(op).or_insert(0) += n;
        }
        let _ = writeln!(s, "backend calls per inference (all limb counts):");
        for (op, n) in by_op {
            let _ = writeln!(s, "  {op:<24} {n:>9}");
        }
        let _ = writeln!(s, "\n{:<10} {:>6} {:>7}", "block", "input", "output");
        for b in &self.levels {
            let _ = writeln!(
                s,
                "{:<10} {:>6} {:>7}{}",
                b.block,
                b.input,
                b.output,
                if b.bootstrapped_after {
                    "  → bootstrap"
                } else {
                    ""
                }
            );
        }
        s
    }
}
