//! The ASIC simulator behind `fhe infer --backend asic-sim[:HW]`, `fhe bench bootstrap
//! --backend asic-sim[:HW]` and `fhe sim`: exact runs charged step by step, cost-only
//! pricing of the ResNets and of bootstrapping, design-space sweeps, and the comparison
//! with the accelerators' published figures.

use crate::infer::StepProbe;
use crate::resnet::planning::visit_named;
use anyhow::{Context, Result};
use fhe_backend_asic_sim::{exact_backend, Hardware, Program, Report, Step};
use fhe_dsl::circuits::BootstrapPreset;
use fhe_dsl::ckks::Params;
use fhe_dsl::model::{CountingBackend, Model};
use serde::Serialize;
use std::sync::Mutex;

/// The exact-mode backend `--backend asic-sim` runs on: the CPU backend, counted.
pub type SimBackend = CountingBackend<fhe_backend_cpu::CpuBackend>;

/// A fresh exact-mode backend.
pub fn sim_backend() -> SimBackend {
    exact_backend(fhe_backend_cpu::CpuBackend::new())
}

/// Charges each step of each encrypted forward pass `fhe infer` runs on a
/// [`SimBackend`], and prices the same model cost-only beside it.
pub struct SimProbe {
    backend: SimBackend,
    hw: Hardware,
    preset: BootstrapPreset,
    state: Mutex<ProbeState>,
}

#[derive(Default)]
struct ProbeState {
    setup: Option<(Params, f64, Program)>,
    images: Vec<Vec<Step>>,
    error: Option<String>,
}

/// One image's simulated run.
#[derive(Clone, Debug, Serialize)]
pub struct SimRun {
    /// The exact run's calls, priced.
    pub exact: Report,
    /// The same model priced cost-only (its plan, no arithmetic).
    pub cost_only_seconds: f64,
    /// Whether the cost-only mode counted exactly the calls the exact run made.
    pub counts_agree: bool,
}

impl SimProbe {
    /// A probe on `backend` (a clone of the backend the run uses: they share the counter).
    pub fn new(backend: &SimBackend, hw: Hardware, preset: BootstrapPreset) -> Self {
        SimProbe {
            backend: backend.clone(),
            hw,
            preset,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProbeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The priced runs, one per image, in order.
    pub fn runs(&self) -> Result<Vec<SimRun>> {
        let st = self.lock();
        if let Some(e) = &st.error {
            anyhow::bail!("asic-sim: {e}");
        }
        let Some((params, key_bytes, cost_only)) = &st.setup else {
            return Ok(Vec::new());
        };
        let priced = cost_only.price(&self.hw)?;
        st.images
            .iter()
            .map(|steps| {
                let exact =
                    Program::from_steps(params, steps.clone(), *key_bytes).price(&self.hw)?;
                Ok(SimRun {
                    counts_agree: exact.counts == priced.counts,
                    cost_only_seconds: priced.seconds,
                    exact,
                })
            })
            .collect()
    }
}

impl std::fmt::Debug for SimProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimProbe")
            .field("hardware", &self.hw.name)
            .field("preset", &self.preset.name)
            .finish_non_exhaustive()
    }
}

impl StepProbe for SimProbe {
    fn prepare(&self, model: &dyn Model, params: &Params, key_bytes: usize) -> Result<()> {
        let program = Program::from_model(model, params, &self.preset, key_bytes as f64)
            .context("asic-sim: pricing the model cost-only")?;
        self.lock().setup = Some((params.clone(), key_bytes as f64, program));
        Ok(())
    }

    fn start(&self) {
        self.backend.reset();
        self.lock().images.push(Vec::new());
    }

    fn step(&self, value: &str, op: &str) {
        let counts = self.backend.take();
        let uses = self.backend.take_key_uses();
        // the cost-only mode knows key identities for bootstrapping circuits (traced)
        // only: a layer's key uses are priced the same way in both modes
        let key_uses = op.starts_with("bootstrap").then_some(uses);
        let mut st = self.lock();
        match st.images.last_mut() {
            Some(img) => img.push(Step {
                name: value.to_string(),
                counts,
                key_uses,
            }),
            None => st.error = Some("a step before any forward pass".into()),
        }
    }
}

/// A ResNet (`resnet20` … `resnet110`) priced cost-only on any hardware: its plan with
/// seeded random weights of the right shapes, bootstraps traced on the shape backend.
pub fn resnet_program(name: &str, preset: &BootstrapPreset, insecure: bool) -> Result<Program> {
    visit_named(name, preset, insecure, |m, params, keys| {
        Ok(Program::from_model(
            m,
            params,
            preset,
            keys.all_bytes as f64,
        )?)
    })
}

/// One bootstrapping at `preset`'s top level, cost-only.
pub fn bootstrap_program(preset: &BootstrapPreset, insecure: bool) -> Result<Program> {
    let params = if insecure {
        Params::new_insecure_for_tests(preset.params.clone())?
    } else {
        Params::new(preset.params.clone())?
    };
    Ok(Program::bootstrap(&params, preset)?)
}

/// A figure an accelerator paper published, and what this model says for the closest
/// program we have.
#[derive(Clone, Debug, Serialize)]
pub struct Validation {
    /// Hardware preset.
    pub hardware: String,
    /// What was measured.
    pub workload: String,
    /// The paper's figure (ms).
    pub published_ms: f64,
    /// This simulator's (ms).
    pub simulated_ms: f64,
    /// `simulated / published − 1`.
    pub relative_error: f64,
    /// What differs between the two programs.
    pub note: &'static str,
}

/// The published figures and this model's estimates for our boot-n16 bootstrapping and
/// ResNet-20 on SHARP and ARK.
pub fn validate(preset: &BootstrapPreset) -> Result<Vec<Validation>> {
    let boot = bootstrap_program(preset, false)?;
    let resnet = resnet_program("resnet20", preset, false)?;
    let mut out = Vec::new();
    let mut row =
        |hw: &Hardware, workload: &str, published_ms: f64, program: &Program, note| -> Result<()> {
            let simulated_ms = program.price(hw)?.seconds * 1e3;
            out.push(Validation {
                hardware: hw.name.clone(),
                workload: workload.to_string(),
                published_ms,
                simulated_ms,
                relative_error: simulated_ms / published_ms - 1.0,
                note,
            });
            Ok(())
        };
    let (sharp, ark) = (Hardware::sharp(), Hardware::ark());
    row(
        &sharp,
        "bootstrapping",
        3.12,
        &boot,
        "SHARP's own parameters (36-bit primes) vs our boot-n16 re-based on 36-bit words",
    )?;
    row(&ark, "bootstrapping", 3.52, &boot, "ARK's Min-KS bootstrapping (few distinct keys, reused on chip) vs our BSGS (every key streamed)")?;
    row(&sharp, "ResNet-20 (AESPA + HyPHEN, the seed's)", 30.0, &resnet, "ours: AESPA, one ciphertext per tensor, Fashion-MNIST 1×28×28 input; theirs: CIFAR-10 3×32×32 with HyPHEN packing")?;
    row(
        &sharp,
        "ResNet-20 (MPCNN-style)",
        99.0,
        &resnet,
        "theirs: high-degree ReLU approximation, many more bootstraps; ours: AESPA (2 bootstraps)",
    )?;
    row(
        &ark,
        "ResNet-20 (MPCNN-style)",
        125.0,
        &resnet,
        "theirs: high-degree ReLU approximation, many more bootstraps; ours: AESPA (2 bootstraps)",
    )?;
    Ok(out)
}

/// `fhe bench bootstrap --backend asic-sim`: one bootstrapping at `preset`'s top level
/// computed on the CPU backend with every call counted, charged to `hw`, next to the
/// cost-only trace of the same circuit. One JSON object (`median_ms` is the simulated
/// latency, as `bench bootstrap`'s other backends report theirs).
pub fn bench_bootstrap(
    preset: &BootstrapPreset,
    insecure: bool,
    hw: &Hardware,
) -> Result<serde_json::Value> {
    use fhe_backend_asic_sim::{bootstrap_key_bytes, trace_bootstrap, ShapeBackend};
    let params = if insecure {
        Params::new_insecure_for_tests(preset.params.clone())?
    } else {
        Params::new(preset.params.clone())?
    };
    let top = params.max_level();
    let exact = trace_bootstrap(fhe_backend_cpu::CpuBackend::new(), &params, preset, top)?;
    let shape = trace_bootstrap(ShapeBackend, &params, preset, top)?;
    let keys = bootstrap_key_bytes(&params, preset)?;
    let price = |t: &fhe_backend_asic_sim::Trace| {
        let step = Step {
            name: "bootstrap".into(),
            counts: t.counts.clone(),
            key_uses: Some(t.key_uses.clone()),
        };
        Program::from_steps(&params, vec![step], keys).price(hw)
    };
    let r = price(&exact)?;
    let cost_only = price(&shape)?;
    Ok(serde_json::json!({
        "op": "bootstrap",
        "backend": fhe_backend_asic_sim::NAME,
        "hardware": hw.name,
        "params": preset.name,
        "log_n": params.log_n(),
        "slots": preset.config.slots(),
        "median_ms": r.seconds * 1e3,
        "runs": 1,
        "simulated": true,
        "cost_only_ms": cost_only.seconds * 1e3,
        "counts_agree": exact.same_as(&shape),
        "energy_joules": r.energy_joules,
        "offchip": r.offchip,
        "residency": r.residency,
        "utilisation": r.utilisation,
        "primitives": r.primitives,
    }))
}

/// A readable table of [`bench_bootstrap`]'s object.
pub fn bootstrap_table(v: &serde_json::Value) -> String {
    use std::fmt::Write as _;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "bootstrapping at {} on {} (simulated): {:.3} ms, {:.3} J; cost-only trace {:.3} ms, counts {}",
        v["params"].as_str().unwrap_or("?"),
        v["hardware"].as_str().unwrap_or("?"),
        f("median_ms"),
        f("energy_joules"),
        f("cost_only_ms"),
        if v["counts_agree"] == true { "agree" } else { "DIFFER" }
    );
    let o = &v["offchip"];
    let _ = writeln!(
        s,
        "off chip: keys {:.1} MB, plaintexts {:.1} MB, ciphertexts {:.1} MB",
        o["keys"].as_f64().unwrap_or(0.0) / 1e6,
        o["plaintexts"].as_f64().unwrap_or(0.0) / 1e6,
        o["ciphertexts"].as_f64().unwrap_or(0.0) / 1e6
    );
    if let Some(u) = v["utilisation"].as_object() {
        let parts: Vec<String> = u
            .iter()
            .map(|(k, x)| format!("{k} {:.0}%", x.as_f64().unwrap_or(0.0) * 100.0))
            .collect();
        let _ = writeln!(s, "utilisation: {}", parts.join(", "));
    }
    let _ = writeln!(
        s,
        "{:<24} {:>8} {:>10} {:>7}",
        "primitive", "calls", "ms", "share"
    );
    for p in v["primitives"].as_array().into_iter().flatten() {
        let _ = writeln!(
            s,
            "{:<24} {:>8} {:>10.4} {:>6.1}%",
            p["op"].as_str().unwrap_or("?"),
            p["calls"],
            p["seconds"].as_f64().unwrap_or(0.0) * 1e3,
            p["share"].as_f64().unwrap_or(0.0) * 100.0
        );
    }
    s
}

/// A readable table of [`validate`]'s rows.
pub fn validation_table(rows: &[Validation]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<6} {:<40} {:>10} {:>10} {:>8}  difference",
        "chip", "workload", "paper ms", "ours ms", "error"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<6} {:<40} {:>10.2} {:>10.2} {:>7.0}%  {}",
            r.hardware,
            r.workload,
            r.published_ms,
            r.simulated_ms,
            r.relative_error * 100.0,
            r.note
        );
    }
    s
}
