//! Pricing: each counted backend call → work per functional unit and bytes moved → cycles
//! (a per-call roofline) and energy.
//!
//! A call's work is what the operation costs the accelerator's units when it runs as one
//! pipelined piece: its NTT words, base-conversion multiply-accumulates, element-wise
//! multiplications and additions, automorphism words, scratchpad bytes and off-chip bytes.
//! Its time is the slowest of those resources (units overlap within a call, as the
//! pipelined datapaths of SHARP and ARK do; calls run one after another). Coarse calls
//! (`key_switch`, `hoisted_rotations`, `relinearize_rescale`, …) are priced as the
//! primitives their hardware dataflow runs, fused where the trait's contract allows it
//! (`relinearize_rescale` divides once by `P·q_l`, as the CPU backend's fused kernel does).
//!
//! Because the price of a call depends only on its `(primitive, limbs)` key, a program's
//! price is a function of its [`Counts`]: the exact mode (counted while the CPU backend
//! computes) and the cost-only mode (counted without arithmetic) give the same report
//! whenever they give the same counts.

use crate::hardware::Hardware;
use fhe_dsl::ckks::Params;
use fhe_dsl::model::Counts;
use serde::Serialize;

/// The functional units, in report order.
pub const UNITS: [&str; 5] = ["ntt", "bconv", "ewe_mult", "ewe_add", "auto"];

/// Work of one call (or a sum of calls).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Work {
    /// Words through NTT/INTT units.
    pub ntt_words: f64,
    /// Base-conversion multiply-accumulates.
    pub bconv_macs: f64,
    /// Element-wise modular multiplications.
    pub mults: f64,
    /// Element-wise modular additions.
    pub adds: f64,
    /// Words through the automorphism unit.
    pub auto_words: f64,
    /// Bytes between scratchpad and units.
    pub onchip_bytes: f64,
    /// Evaluation-key bytes read from HBM.
    pub key_bytes: f64,
    /// Plaintext bytes read from HBM.
    pub plaintext_bytes: f64,
    /// Ciphertext bytes moved to or from HBM (spills, results leaving the chip).
    pub ciphertext_bytes: f64,
}

impl Work {
    fn add(&mut self, o: Work) {
        self.ntt_words += o.ntt_words;
        self.bconv_macs += o.bconv_macs;
        self.mults += o.mults;
        self.adds += o.adds;
        self.auto_words += o.auto_words;
        self.onchip_bytes += o.onchip_bytes;
        self.key_bytes += o.key_bytes;
        self.plaintext_bytes += o.plaintext_bytes;
        self.ciphertext_bytes += o.ciphertext_bytes;
    }

    fn scaled(mut self, f: f64) -> Work {
        self.ntt_words *= f;
        self.bconv_macs *= f;
        self.mults *= f;
        self.adds *= f;
        self.auto_words *= f;
        self.onchip_bytes *= f;
        self.key_bytes *= f;
        self.plaintext_bytes *= f;
        self.ciphertext_bytes *= f;
        self
    }

    /// Off-chip bytes in all.
    pub fn offchip_bytes(&self) -> f64 {
        self.key_bytes + self.plaintext_bytes + self.ciphertext_bytes
    }
}

/// What a call costs on a [`Hardware`]: busy cycles per unit, the call's cycles, energy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Charge {
    /// Cycles of the call (the slowest resource).
    pub cycles: f64,
    /// Busy cycles of each unit ([`UNITS`] order).
    pub unit_cycles: [f64; 5],
    /// Cycles the HBM interface is busy.
    pub hbm_cycles: f64,
    /// The work priced.
    pub work: Work,
    /// Energy (picojoules).
    pub energy_pj: f64,
}

impl Charge {
    /// Adds `o`.
    pub fn add(&mut self, o: &Charge) {
        self.cycles += o.cycles;
        for (a, b) in self.unit_cycles.iter_mut().zip(o.unit_cycles) {
            *a += b;
        }
        self.hbm_cycles += o.hbm_cycles;
        self.work.add(o.work);
        self.energy_pj += o.energy_pj;
    }
}

/// What the memory model decided for a program (see [`Pricer::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Residency {
    /// Bytes of the key-switching working set (digits, accumulators, operands) at the
    /// top level.
    pub working_set_bytes: f64,
    /// Ciphertexts stay on chip between operations (the working set fits the
    /// scratchpad); otherwise every operand streams through HBM.
    pub ciphertexts_on_chip: bool,
    /// Every evaluation key of the program fits beside the working set and is loaded
    /// once; otherwise each key switch streams its key.
    pub keys_on_chip: bool,
    /// Bytes of the program's evaluation keys as the chip holds them.
    pub key_set_bytes: f64,
    /// When the key set does not fit: how many top-level keys fit beside the working
    /// set, kept as a least-recently-used cache where a step's key uses are known.
    pub key_cache_keys: usize,
}

/// Prices counted calls for one parameter set on one hardware description.
#[derive(Clone, Debug)]
pub struct Pricer {
    hw: Hardware,
    n: f64,
    k: usize,
    alpha: usize,
    /// Words per residue: a residue of a prime wider than the datapath word takes
    /// `bits / word_bits` words (priced as if the program were re-based on word-size
    /// primes with the same total modulus).
    limb_scale: f64,
    /// Bytes of one limb of N residues as stored.
    limb_bytes: f64,
    /// Primes a rescale drops at each Q limb count.
    drop_at: Vec<usize>,
    residency: Residency,
}

impl Pricer {
    /// A pricer for `params` on `hw`, for a program whose evaluation keys take
    /// `key_set_bytes` as the host holds them (64-bit words, both halves).
    pub fn new(hw: &Hardware, params: &Params, key_set_bytes: f64) -> Self {
        let bits: Vec<f64> = params
            .q()
            .iter()
            .chain(params.p())
            .map(|&q| 64.0 - f64::from(q.leading_zeros()))
            .collect();
        let mean_bits = bits.iter().sum::<f64>() / bits.len() as f64;
        let w = f64::from(hw.word_bits);
        let limb_scale = (mean_bits / w).max(1.0);
        let n = params.n() as f64;
        let limb_bytes = n * limb_scale * w / 8.0;
        let mut drop_at = vec![1; params.limbs_at(params.max_level()) + 1];
        for level in 1..=params.max_level() {
            drop_at[params.limbs_at(level)] = params.primes_dropped_at(level);
        }
        let k = params.p().len();
        let top = params.limbs_at(params.max_level());
        let digits = top.div_ceil(params.alpha());
        // the raised digits, two accumulators over Q·P, a degree-2 ciphertext over Q
        let working_set_bytes = limb_bytes * ((digits + 2) * (top + k) + 3 * top) as f64;
        let spm = hw.scratchpad_bytes();
        // the chip holds keys in its word size: 64-bit host words → the stored width
        let key_scale = limb_bytes / (n * 8.0);
        let key_halves = if hw.memory.keys_from_seed { 0.5 } else { 1.0 };
        let key_set = key_set_bytes * key_scale * key_halves;
        let top_key = key_halves * 2.0 * (digits * (top + k)) as f64 * limb_bytes;
        let free = (spm - working_set_bytes).max(0.0);
        let residency = Residency {
            working_set_bytes,
            ciphertexts_on_chip: working_set_bytes <= spm,
            keys_on_chip: working_set_bytes + key_set <= spm,
            key_set_bytes: key_set,
            key_cache_keys: (free / top_key) as usize,
        };
        Pricer {
            hw: hw.clone(),
            n,
            k,
            alpha: params.alpha(),
            limb_scale,
            limb_bytes,
            drop_at,
            residency,
        }
    }

    /// The hardware priced on.
    pub fn hardware(&self) -> &Hardware {
        &self.hw
    }

    /// The memory model's decisions.
    pub fn residency(&self) -> Residency {
        self.residency
    }

    /// Words in `limbs` limbs.
    fn words(&self, limbs: usize) -> f64 {
        self.n * self.limb_scale * limbs as f64
    }

    fn bytes(&self, limbs: usize) -> f64 {
        self.limb_bytes * limbs as f64
    }

    fn ntt(&self, limbs: usize) -> Work {
        Work {
            ntt_words: self.words(limbs),
            onchip_bytes: 2.0 * self.bytes(limbs),
            ..Work::default()
        }
    }

    fn adds(&self, limbs: usize) -> Work {
        Work {
            adds: self.words(limbs),
            onchip_bytes: 3.0 * self.bytes(limbs),
            ..Work::default()
        }
    }

    fn mults(&self, limbs: usize) -> Work {
        Work {
            mults: self.words(limbs),
            onchip_bytes: 3.0 * self.bytes(limbs),
            ..Work::default()
        }
    }

    fn mult_adds(&self, limbs: usize) -> Work {
        Work {
            mults: self.words(limbs),
            adds: self.words(limbs),
            onchip_bytes: 4.0 * self.bytes(limbs),
            ..Work::default()
        }
    }

    fn auto(&self, limbs: usize) -> Work {
        Work {
            auto_words: self.words(limbs),
            onchip_bytes: 2.0 * self.bytes(limbs),
            ..Work::default()
        }
    }

    fn bconv(&self, from: usize, to: usize) -> Work {
        Work {
            bconv_macs: self.n * self.limb_scale.powi(2) * (from * to) as f64,
            onchip_bytes: self.bytes(from + to),
            ..Work::default()
        }
    }

    fn copy(&self, limbs: usize) -> Work {
        Work {
            onchip_bytes: 2.0 * self.bytes(limbs),
            ..Work::default()
        }
    }

    fn sum(parts: impl IntoIterator<Item = Work>) -> Work {
        let mut w = Work::default();
        for p in parts {
            w.add(p);
        }
        w
    }

    /// Dividing `limbs` limbs by their last `tail` primes (rescale, ModDown).
    fn div_round(&self, limbs: usize, tail: usize) -> Work {
        let tail = tail.min(limbs);
        let keep = limbs - tail;
        Self::sum([
            self.ntt(tail),
            self.adds(tail),
            self.bconv(tail, keep),
            self.adds(keep),
            self.ntt(keep),
            self.adds(keep),
            self.mults(keep),
        ])
    }

    fn drop_at(&self, limbs: usize) -> usize {
        self.drop_at
            .get(limbs)
            .copied()
            .unwrap_or(1)
            .min(limbs.saturating_sub(1))
    }

    fn digits(&self, l: usize) -> usize {
        l.div_ceil(self.alpha)
    }

    /// The decomposition of `l` Q limbs into digits raised to `Q_l ∪ P`.
    fn mod_up(&self, l: usize) -> Work {
        let mut w = self.ntt(l);
        let mut left = l;
        while left > 0 {
            let a = left.min(self.alpha);
            w.add(self.bconv(a, l + self.k - a));
            w.add(self.ntt(l + self.k - a));
            left -= a;
        }
        w
    }

    /// The evaluation key of a switch at `l` Q limbs, streamed unless resident.
    fn key(&self, l: usize) -> Work {
        let halves = if self.hw.memory.keys_from_seed {
            1.0
        } else {
            2.0
        };
        let mut w = Work::default();
        if !self.residency.keys_on_chip {
            w.key_bytes = halves * (self.digits(l) * (l + self.k)) as f64 * self.limb_bytes;
        }
        w.onchip_bytes = 2.0 * (self.digits(l) * (l + self.k)) as f64 * self.limb_bytes;
        w
    }

    /// The key-switching inner product at `l` Q limbs (digits over `Q_l ∪ P`),
    /// with the digits' automorphism when `rotate`.
    fn inner(&self, l: usize, rotate: bool) -> Work {
        let d = self.digits(l);
        let qp = l + self.k;
        let mut w = self.key(l);
        for _ in 0..d {
            w.add(self.mult_adds(qp));
            w.add(self.mult_adds(qp));
            if rotate {
                w.add(self.auto(qp));
            }
        }
        w
    }

    /// The work of one call of `op` on `limbs` limbs (the [`Counts`] convention of
    /// `fhe_dsl::model::cost`). `None` for a key this model does not price
    /// (`bootstrap`: its circuit is priced from its own counts).
    pub fn work(&self, op: &str, limbs: usize) -> Option<Work> {
        let l = limbs;
        let k = self.k;
        Some(match op {
            "ntt" | "intt" => self.ntt(l),
            "add_assign" | "sub_assign" | "neg_assign" | "add_scalar_assign" => self.adds(l),
            "mul_assign" | "mul_scalar_assign" => self.mults(l),
            "mul_add_assign" | "mul_scalar_add_assign" => self.mult_adds(l),
            "automorphism_ntt" => self.auto(l),
            // its one caller (bootstrapping's ModRaise) converts to one prime
            "base_convert" => self.bconv(l, 1),
            "mod_raise" => Self::sum([self.ntt(1), self.bconv(1, l), self.ntt(l), self.adds(l)]),
            // a ModDown by P over Q·P, or (two limbs, bootstrapping) by one prime
            "div_round_by_tail" => self.div_round(l, if l > k { k } else { l.saturating_sub(1) }),
            "rescale" => self.div_round(l, self.drop_at(l)),
            "decompose_mod_up" => self.mod_up(l),
            "key_switch_inner" => self.inner(l.saturating_sub(k).max(1), true),
            "key_switch" => Self::sum([
                self.mod_up(l),
                self.inner(l, false),
                self.div_round(l + k, k),
                self.div_round(l + k, k),
            ]),
            "relinearize_rescale" => {
                let drop = self.drop_at(l);
                Self::sum([
                    self.mod_up(l),
                    self.inner(l, false),
                    self.adds(l),
                    self.adds(l),
                    self.div_round(l + k, k + drop),
                    self.div_round(l + k, k + drop),
                ])
            }
            // the shared decomposition; each key is priced by `hoisted_rotations.keys`
            "hoisted_rotations" => self.mod_up(l),
            "hoisted_rotations.keys" => Self::sum([
                self.inner(l, true),
                self.div_round(l + k, k),
                self.div_round(l + k, k),
                self.auto(l),
                self.adds(l),
            ]),
            "rotate_extended" => Self::sum([
                self.inner(l, true),
                self.auto(l),
                self.mults(l),
                self.adds(l + k),
            ]),
            // the accumulator pair; each term by `mul_add_terms.terms`
            "mul_add_terms" => Work::default(),
            "mul_add_terms.terms" => Self::sum([self.mult_adds(l), self.mult_adds(l)]),
            "upload" => {
                // a plaintext (weights, a transform diagonal) arriving from HBM
                let streamed = if self.hw.memory.plaintexts_on_the_fly {
                    1.min(l)
                } else {
                    l
                };
                let mut w = Work {
                    plaintext_bytes: self.bytes(streamed),
                    onchip_bytes: self.bytes(l),
                    ..Work::default()
                };
                if streamed < l {
                    w.add(self.bconv(streamed, l - streamed));
                }
                w
            }
            "download" => Work {
                ciphertext_bytes: self.bytes(l),
                onchip_bytes: self.bytes(l),
                ..Work::default()
            },
            "zero" => Work {
                onchip_bytes: self.bytes(l),
                ..Work::default()
            },
            "select" | "concat" => self.copy(l),
            "keep_limbs" => Work::default(),
            _ => return None,
        })
    }

    /// The charge of `work` (one call), its key bytes scaled by `key_miss` (the
    /// fraction of key uses that miss the on-chip key cache).
    pub fn charge(&self, mut work: Work, key_miss: f64) -> Charge {
        work.key_bytes *= key_miss;
        if !self.residency.ciphertexts_on_chip {
            // operands do not stay between calls: they stream through HBM
            work.ciphertext_bytes += work.onchip_bytes / 2.0;
        }
        let u = &self.hw.units;
        let unit_cycles = [
            work.ntt_words / u.ntt_words_per_cycle,
            work.bconv_macs / u.bconv_macs_per_cycle,
            work.mults / u.ewe_mults_per_cycle,
            work.adds / u.ewe_adds_per_cycle,
            work.auto_words / u.auto_words_per_cycle,
        ];
        let hbm_cycles = work.offchip_bytes() / self.hw.hbm_bytes_per_cycle();
        let spm_cycles = work.onchip_bytes / self.hw.onchip_bytes_per_cycle();
        let cycles = unit_cycles
            .iter()
            .copied()
            .fold(hbm_cycles.max(spm_cycles), f64::max);
        let e = &self.hw.energy;
        let energy_pj = work.ntt_words * e.ntt_pj_per_word
            + work.bconv_macs * e.bconv_pj_per_mac
            + work.mults * e.ewe_pj_per_mult
            + work.adds * e.ewe_pj_per_add
            + work.auto_words * e.auto_pj_per_word
            + work.onchip_bytes * e.onchip_pj_per_byte
            + work.offchip_bytes() * e.hbm_pj_per_byte;
        Charge {
            cycles,
            unit_cycles,
            hbm_cycles,
            work,
            energy_pj,
        }
    }

    /// The charge of `calls` calls of `op` on `limbs` limbs (`None` as for
    /// [`work`](Self::work)), a fraction `key_miss` of their key uses streaming the key.
    pub fn charge_calls(
        &self,
        op: &str,
        limbs: usize,
        calls: u64,
        key_miss: f64,
    ) -> Option<Charge> {
        let one = self.charge(self.work(op, limbs)?, key_miss);
        let f = calls as f64;
        Some(Charge {
            cycles: one.cycles * f,
            unit_cycles: one.unit_cycles.map(|c| c * f),
            hbm_cycles: one.hbm_cycles * f,
            work: one.work.scaled(f),
            energy_pj: one.energy_pj * f,
        })
    }

    /// Charges every entry of `counts` (a fraction `key_miss` of key uses streaming),
    /// calling `each(op, limbs, charge)`; an entry this pricer
    /// does not know (`bootstrap`) is returned as an error naming it.
    pub fn charge_counts(
        &self,
        counts: &Counts,
        key_miss: f64,
        mut each: impl FnMut(&'static str, usize, Charge),
    ) -> Result<(), (&'static str, usize, u64)> {
        for ((op, limbs), calls) in counts.iter() {
            match self.charge_calls(op, limbs, calls, key_miss) {
                Some(c) => each(op, limbs, c),
                None => return Err((op, limbs, calls)),
            }
        }
        Ok(())
    }
}

/// Key uses in `uses` (identities, in order) that miss a least-recently-used cache of
/// `slots` keys, starting empty.
pub fn lru_misses(uses: &[usize], slots: usize) -> usize {
    let mut cache: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut misses = 0;
    for &k in uses {
        if let Some(i) = cache.iter().position(|&c| c == k) {
            cache.remove(i);
        } else {
            misses += 1;
            if cache.len() == slots {
                cache.pop_back();
            }
        }
        if slots > 0 {
            cache.push_front(k);
        }
    }
    misses
}
