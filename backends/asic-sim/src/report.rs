//! The simulator's ledger and its report: latency, breakdown per primitive and per step
//! (layer), unit utilisation, off-chip bytes, energy.

use crate::price::{lru_misses, Charge, Pricer, Residency, UNITS};
use crate::Trace;
use fhe_dsl::model::Counts;
use serde::Serialize;
use std::collections::BTreeMap;

/// A program this simulator cannot price.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A counted primitive without a price (a `bootstrap` step when no circuit was
    /// given, or a primitive added to the trait later).
    #[error("step `{step}`: no price for {calls} × `{op}` on {limbs} limbs{hint}")]
    Unpriced {
        /// The step.
        step: String,
        /// The primitive.
        op: &'static str,
        /// Its limbs.
        limbs: usize,
        /// Calls.
        calls: u64,
        /// What to do.
        hint: &'static str,
    },
    /// An error of the evaluator while tracing a circuit.
    #[error(transparent)]
    Fhe(#[from] fhe_dsl::Error),
    /// A hardware description error.
    #[error(transparent)]
    Hardware(#[from] crate::HardwareError),
}

/// Accumulates charged steps.
#[derive(Clone, Debug)]
pub struct Ledger {
    pricer: Pricer,
    /// One bootstrapping circuit by the Q limbs of its input (the cost-only mode's
    /// `bootstrap` entries).
    bootstrap: BTreeMap<usize, Trace>,
    steps: Vec<(String, Charge)>,
    primitives: BTreeMap<&'static str, (u64, Charge)>,
    counts: Counts,
}

impl Ledger {
    /// An empty ledger pricing with `pricer`.
    pub fn new(pricer: Pricer) -> Self {
        Ledger {
            pricer,
            bootstrap: BTreeMap::new(),
            steps: Vec::new(),
            primitives: BTreeMap::new(),
            counts: Counts::new(),
        }
    }

    /// Prices a `bootstrap` entry on `limbs` limbs as the circuit `counts`
    /// ([`crate::trace_bootstrap`]).
    pub fn with_bootstrap_circuit(mut self, limbs: usize, circuit: Trace) -> Self {
        self.bootstrap.insert(limbs, circuit);
        self
    }

    /// The pricer.
    pub fn pricer(&self) -> &Pricer {
        &self.pricer
    }

    /// Charges one step named `name` (a layer, an operation) with its counted calls and,
    /// where known, the keys its switches used in order (`key_uses`: then the on-chip key
    /// cache is simulated over them, starting empty; unknown, every use streams its key
    /// unless the whole key set is on chip). `bootstrap` entries expand into the
    /// registered circuit's counts and key uses.
    pub fn charge_step(
        &mut self,
        name: &str,
        counts: &Counts,
        key_uses: Option<&[usize]>,
    ) -> Result<(), SimError> {
        let mut uses: Option<Vec<usize>> = key_uses.map(<[usize]>::to_vec);
        let mut expanded = Counts::new();
        for ((op, limbs), calls) in counts.iter() {
            if op == "bootstrap" {
                let circuit = self.bootstrap.get(&limbs).ok_or(SimError::Unpriced {
                    step: name.to_string(),
                    op,
                    limbs,
                    calls,
                    hint: " (no bootstrapping circuit traced for this input level)",
                })?;
                for _ in 0..calls {
                    expanded.merge(&circuit.counts);
                    uses.get_or_insert_with(Vec::new)
                        .extend_from_slice(&circuit.key_uses);
                }
            } else {
                expanded.add(op, limbs, calls);
            }
        }
        let key_miss = match &uses {
            Some(u) if !u.is_empty() => {
                lru_misses(u, self.pricer.residency().key_cache_keys) as f64 / u.len() as f64
            }
            _ => 1.0,
        };
        let mut step = Charge::default();
        let primitives = &mut self.primitives;
        self.pricer
            .charge_counts(&expanded, key_miss, |op, _, c| {
                step.add(&c);
                let e = primitives.entry(base_op(op)).or_default();
                e.1.add(&c);
            })
            .map_err(|(op, limbs, calls)| SimError::Unpriced {
                step: name.to_string(),
                op,
                limbs,
                calls,
                hint: "",
            })?;
        for ((op, _), calls) in expanded.iter() {
            if !op.contains('.') {
                self.primitives.entry(op).or_default().0 += calls;
            }
        }
        self.counts.merge(&expanded);
        self.steps.push((name.to_string(), step));
        Ok(())
    }

    /// The report so far.
    pub fn report(&self) -> Report {
        let hw = self.pricer.hardware();
        let hz = hw.clock_ghz * 1e9;
        let mut total = Charge::default();
        for (_, c) in &self.steps {
            total.add(c);
        }
        let cycles = total.cycles.max(f64::MIN_POSITIVE);
        let mut utilisation: BTreeMap<&'static str, f64> = UNITS
            .iter()
            .zip(total.unit_cycles)
            .map(|(&u, c)| (u, c / cycles))
            .collect();
        utilisation.insert("hbm", total.hbm_cycles / cycles);
        let mut primitives: Vec<PrimitiveReport> = self
            .primitives
            .iter()
            .map(|(&op, (calls, c))| PrimitiveReport {
                op,
                calls: *calls,
                seconds: c.cycles / hz,
                share: c.cycles / cycles,
                offchip_bytes: c.work.offchip_bytes(),
            })
            .collect();
        primitives.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        Report {
            hardware: hw.name.clone(),
            seconds: total.cycles / hz,
            cycles: total.cycles,
            energy_joules: total.energy_pj * 1e-12,
            offchip: Offchip {
                keys: total.work.key_bytes,
                plaintexts: total.work.plaintext_bytes,
                ciphertexts: total.work.ciphertext_bytes,
            },
            residency: self.pricer.residency(),
            utilisation,
            primitives,
            steps: self
                .steps
                .iter()
                .map(|(name, c)| StepReport {
                    name: name.clone(),
                    seconds: c.cycles / hz,
                    offchip_bytes: c.work.offchip_bytes(),
                    energy_joules: c.energy_pj * 1e-12,
                })
                .collect(),
            counts: self.counts.clone(),
        }
    }
}

/// `hoisted_rotations.keys` → `hoisted_rotations` (its per-key part is its cost too).
fn base_op(op: &'static str) -> &'static str {
    op.split('.').next().unwrap_or(op)
}

/// Off-chip traffic by kind (bytes).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Offchip {
    /// Evaluation keys streamed.
    pub keys: f64,
    /// Plaintexts (weights, transform diagonals) streamed.
    pub plaintexts: f64,
    /// Ciphertexts spilled or leaving the chip.
    pub ciphertexts: f64,
}

/// One primitive's share.
#[derive(Clone, Debug, Serialize)]
pub struct PrimitiveReport {
    /// The backend method.
    pub op: &'static str,
    /// Calls.
    pub calls: u64,
    /// Time charged to it.
    pub seconds: f64,
    /// Fraction of the total.
    pub share: f64,
    /// Its off-chip bytes.
    pub offchip_bytes: f64,
}

/// One step's (layer's) share.
#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    /// The step's name.
    pub name: String,
    /// Time.
    pub seconds: f64,
    /// Off-chip bytes.
    pub offchip_bytes: f64,
    /// Energy.
    pub energy_joules: f64,
}

/// What a program costs on the modelled chip.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Hardware name.
    pub hardware: String,
    /// Latency.
    pub seconds: f64,
    /// Cycles.
    pub cycles: f64,
    /// Energy.
    pub energy_joules: f64,
    /// Off-chip bytes by kind.
    pub offchip: Offchip,
    /// The memory model's decisions.
    pub residency: Residency,
    /// Busy fraction of each unit and of the HBM interface.
    pub utilisation: BTreeMap<&'static str, f64>,
    /// Per primitive, slowest first.
    pub primitives: Vec<PrimitiveReport>,
    /// Per step, in order.
    pub steps: Vec<StepReport>,
    /// Every counted call (bootstraps expanded).
    pub counts: Counts,
}

impl Report {
    /// A readable report (`top` primitives and every step when `steps`).
    pub fn table(&self, steps: bool) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let gb = |b: f64| b / 1e9;
        let _ = writeln!(
            s,
            "{}: {:.3} ms ({:.3e} cycles), {:.3} J; off chip {:.2} GB (keys {:.2}, plaintexts {:.2}, ciphertexts {:.2})",
            self.hardware,
            self.seconds * 1e3,
            self.cycles,
            self.energy_joules,
            gb(self.offchip.keys + self.offchip.plaintexts + self.offchip.ciphertexts),
            gb(self.offchip.keys),
            gb(self.offchip.plaintexts),
            gb(self.offchip.ciphertexts),
        );
        let r = &self.residency;
        let _ = writeln!(
            s,
            "memory: working set {:.1} MB, ciphertexts {}, keys ({:.2} GB as stored) {}",
            r.working_set_bytes / 1e6,
            if r.ciphertexts_on_chip {
                "on chip"
            } else {
                "streamed"
            },
            r.key_set_bytes / 1e9,
            if r.keys_on_chip {
                "on chip"
            } else {
                "streamed per use"
            },
        );
        let util: Vec<String> = self
            .utilisation
            .iter()
            .map(|(u, f)| format!("{u} {:.0}%", f * 100.0))
            .collect();
        let _ = writeln!(s, "utilisation: {}", util.join(", "));
        let _ = writeln!(
            s,
            "\n{:<24} {:>9} {:>11} {:>7} {:>12}",
            "primitive", "calls", "ms", "share", "off-chip MB"
        );
        for p in &self.primitives {
            let _ = writeln!(
                s,
                "{:<24} {:>9} {:>11.4} {:>6.1}% {:>12.1}",
                p.op,
                p.calls,
                p.seconds * 1e3,
                p.share * 100.0,
                p.offchip_bytes / 1e6
            );
        }
        if steps {
            let _ = writeln!(s, "\n{:<36} {:>11} {:>12}", "step", "ms", "off-chip MB");
            for st in &self.steps {
                let _ = writeln!(
                    s,
                    "{:<36} {:>11.4} {:>12.1}",
                    st.name,
                    st.seconds * 1e3,
                    st.offchip_bytes / 1e6
                );
            }
        }
        s
    }
}
