//! `fhe-backend-asic-sim`: run any fhe-dsl program on a modelled FHE accelerator.
//!
//! The simulator answers "how fast would my encrypted model be on such a chip?" and lets an
//! architect sweep designs. It has two modes that price the same way:
//!
//! - **Exact**: [`exact_backend`] wraps a computing backend (the CPU backend) in a
//!   [`CountingBackend`] named `asic-sim`. Every result is the wrapped backend's, bit for
//!   bit (the conformance suite runs on it), so ciphertexts decrypt as usual; every call
//!   is counted by primitive and limb count, and a [`Ledger`] charges those counts, step
//!   by step, to a [`Hardware`] model.
//! - **Cost-only**: no arithmetic. A model's calls come from `fhe_dsl::model::cost` (its
//!   plan and layer shapes), and a bootstrapping circuit's from running the real
//!   bootstrapper on the [`ShapeBackend`], which tracks only each polynomial's primes
//!   ([`trace_bootstrap`]). A full N = 2^16 ResNet-20 with its bootstraps is priced in
//!   seconds.
//!
//! Both modes hand [`Counts`] to the same [`Pricer`], whose price of a call depends only on
//! its primitive and limb count (and, for key switches, on whether its key is cached):
//! equal counts and key-use patterns give equal reports, and the tests check that the
//! two modes count alike.
//!
//! # The model
//!
//! - **Compute** ([`price`]): each call is decomposed into the work of the accelerator's
//!   units — NTT words, base-conversion multiply-accumulates, element-wise
//!   multiplications and additions, automorphism words — and its time is the slowest of
//!   the units, the scratchpad port and the HBM interface for that call (the units of
//!   SHARP and ARK are pipelined and overlap within an operation; operations run in
//!   sequence). Residues of primes wider than the word take `bits / word_bits` words.
//! - **Memory** ([`Residency`]): ciphertexts stay on chip when the key-switching working
//!   set fits the scratchpad (else every operand streams); evaluation keys stay on chip
//!   only when the program's whole key set fits beside it (else each key switch streams
//!   its key, only the `b` halves when the chip generates the uniform halves from seeds);
//!   plaintexts (weights, transform diagonals) always stream from HBM, one limb each when
//!   the chip extends them on the fly (ARK's OF-Limb). Where a step's key uses are known
//!   in order (a bootstrapping circuit, traced in either mode), the scratchpad left
//!   beside the working set is a least-recently-used key cache, starting empty at each
//!   step, and only misses stream; a model layer's key uses come from its plan counts,
//!   which carry no key identity, so each of its switches streams its key (a one-
//!   ciphertext layer's rotations each use a different key).
//! - **Energy**: per-operation and per-byte constants of the description. The presets'
//!   values are order-of-magnitude estimates (HBM2e ≈ 3.9 pJ/bit, 7 nm modular
//!   multipliers and SRAM access in the sub-picojoule range), not published figures.
//!
//! The presets' published figures and how far this model is from them are in the book's
//! performance chapter (`fhe sim validate`).

pub mod hardware;
pub mod price;
pub mod report;
pub mod shape;
pub mod sweep;

pub use hardware::{Hardware, HardwareError};
pub use price::{Charge, Pricer, Residency, Work};
pub use report::{Ledger, Report, SimError};
pub use shape::ShapeBackend;

use fhe_dsl::backend::Backend;
use fhe_dsl::circuits::{BootstrapPreset, Bootstrapper, BootstrappingKeys, TransformStorage};
use fhe_dsl::ckks::{Ckks, KeyRequest, Params};
use fhe_dsl::model::{cost, CountingBackend, Counts, Model};

/// The name the simulator's backend reports.
pub const NAME: &str = "asic-sim";

/// The exact-mode backend: `inner`'s arithmetic, every call counted. Clones share the
/// counter; [`CountingBackend::take`] hands a step's counts to [`Ledger::charge_step`].
pub fn exact_backend<B: Backend>(inner: B) -> CountingBackend<B> {
    CountingBackend::new(inner).named(NAME)
}

/// A traced circuit: its calls, and the switching keys they used in order (identities
/// equal for two uses of one key: [`CountingBackend::take_key_uses`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Calls by primitive and limb count.
    pub counts: Counts,
    /// Key uses, in order.
    pub key_uses: Vec<usize>,
}

impl Trace {
    /// Whether two traces make the same calls and reuse keys in the same pattern (key
    /// identities differ between runs; which uses share a key does not).
    pub fn same_as(&self, other: &Trace) -> bool {
        self.counts == other.counts && key_pattern(&self.key_uses) == key_pattern(&other.key_uses)
    }
}

/// Each use numbered by its key's first appearance.
fn key_pattern(uses: &[usize]) -> Vec<usize> {
    let mut seen = std::collections::HashMap::new();
    uses.iter()
        .map(|k| {
            let n = seen.len();
            *seen.entry(*k).or_insert(n)
        })
        .collect()
}

/// The calls of one bootstrapping (`preset`'s bootstrapper, its CoeffToSlot/SlotToCoeff
/// diagonals encoded per bootstrap as a server streams them) of a ciphertext at
/// `input_level`, run on `backend`: the [`ShapeBackend`] gives them without arithmetic
/// (cost-only), a computing backend gives them while bootstrapping for real (exact), and
/// the two agree. Key generation and encryption are not counted.
pub fn trace_bootstrap<B: Backend + Clone>(
    backend: B,
    params: &Params,
    preset: &BootstrapPreset,
    input_level: usize,
) -> fhe_dsl::Result<Trace> {
    let counting = CountingBackend::new(backend);
    let ckks = Ckks::new(params.clone(), counting.clone());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let keys =
        BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &KeyRequest::new())?;
    let bs = Bootstrapper::from_keys(
        &ckks,
        preset.config.clone(),
        keys,
        TransformStorage::Streamed,
    )?;
    let zeros = vec![0.0; preset.config.slots()];
    let pt = ckks.encode_real(&zeros, input_level, params.default_scale())?;
    let ct = ckks.encryptor(&pk).encrypt(&pt)?;
    counting.reset();
    bs.bootstrap(&ct)?;
    Ok(Trace {
        counts: counting.take(),
        key_uses: counting.take_key_uses(),
    })
}

/// One step of a [`Program`].
#[derive(Clone, Debug)]
pub struct Step {
    /// Its name (a layer's value, `bootstrap`).
    pub name: String,
    /// Its calls.
    pub counts: Counts,
    /// The keys its switches used, in order, where known (exact runs, traced circuits).
    pub key_uses: Option<Vec<usize>>,
}

/// A program's counted calls, step by step, ready to be priced on any [`Hardware`]
/// (a design-space sweep prices one program many times).
#[derive(Clone, Debug)]
pub struct Program {
    params: Params,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Bootstrapping circuits by the Q limbs of their input (for `bootstrap` entries).
    pub bootstrap: std::collections::BTreeMap<usize, Trace>,
    /// The program's evaluation keys, expanded, as the host holds them.
    pub key_set_bytes: f64,
}

impl Program {
    /// Cost-only: a model's encrypted forward pass from its plan
    /// (`fhe_dsl::model::cost`), each bootstrap step's circuit traced on the
    /// [`ShapeBackend`] from `preset`, with `key_set_bytes` of keys. One step per plan
    /// step, named by its value.
    pub fn from_model<M: Model + ?Sized>(
        model: &M,
        params: &Params,
        preset: &BootstrapPreset,
        key_set_bytes: f64,
    ) -> Result<Self, SimError> {
        let c = cost(model, params)?;
        let mut bootstrap = std::collections::BTreeMap::new();
        for st in &c.steps {
            let limbs = params.limbs_at(st.level);
            if st.counts.of("bootstrap") > 0 && !bootstrap.contains_key(&limbs) {
                let counts = trace_bootstrap(ShapeBackend, params, preset, st.level)?;
                bootstrap.insert(limbs, counts);
            }
        }
        Ok(Program {
            params: params.clone(),
            steps: c
                .steps
                .into_iter()
                .map(|st| Step {
                    name: st.value.to_string(),
                    counts: st.counts,
                    key_uses: None,
                })
                .collect(),
            bootstrap,
            key_set_bytes,
        })
    }

    /// Cost-only: one bootstrapping at `preset`'s top level, with bootstrapping's keys.
    pub fn bootstrap(params: &Params, preset: &BootstrapPreset) -> Result<Self, SimError> {
        let t = trace_bootstrap(ShapeBackend, params, preset, params.max_level())?;
        Ok(Self::from_steps(
            params,
            vec![Step {
                name: "bootstrap".into(),
                counts: t.counts,
                key_uses: Some(t.key_uses),
            }],
            bootstrap_key_bytes(params, preset)?,
        ))
    }

    /// A program from counted steps (the exact mode's, say).
    pub fn from_steps(params: &Params, steps: Vec<Step>, key_set_bytes: f64) -> Self {
        Program {
            params: params.clone(),
            steps,
            bootstrap: Default::default(),
            key_set_bytes,
        }
    }

    /// The report of this program on `hw`.
    pub fn price(&self, hw: &Hardware) -> Result<Report, SimError> {
        let mut ledger = Ledger::new(Pricer::new(hw, &self.params, self.key_set_bytes));
        for (&limbs, circuit) in &self.bootstrap {
            ledger = ledger.with_bootstrap_circuit(limbs, circuit.clone());
        }
        for st in &self.steps {
            ledger.charge_step(&st.name, &st.counts, st.key_uses.as_deref())?;
        }
        Ok(ledger.report())
    }
}

/// Bytes of bootstrapping's evaluation keys, expanded (relinearisation, conjugation and
/// every rotation at its level).
pub fn bootstrap_key_bytes(params: &Params, preset: &BootstrapPreset) -> Result<f64, SimError> {
    use fhe_dsl::ckks::SwitchingKey;
    let top = params.max_level();
    let rot: usize = preset
        .config
        .rotation_levels(params)?
        .iter()
        .map(|&(_, level)| SwitchingKey::byte_size_at(params, level))
        .sum();
    // relinearisation and conjugation at the top, the sparse-secret pair at level 0
    let fixed =
        2 * SwitchingKey::byte_size_at(params, top) + 2 * SwitchingKey::byte_size_at(params, 0);
    // `byte_size_at` is the seeded size: one half
    Ok(2.0 * (rot + fixed) as f64)
}
