//! The hardware description: a TOML file (serde), with the published presets built in.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// An error in a hardware description.
#[derive(Debug, thiserror::Error)]
pub enum HardwareError {
    /// The file could not be read.
    #[error("cannot read hardware description {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML for a [`Hardware`] (an unknown or missing key, a wrong type).
    #[error("hardware description {origin}: {message}")]
    Parse {
        /// The file or preset.
        origin: String,
        /// The parser's message (it names the key and line).
        message: String,
    },
    /// A value outside its meaningful range.
    #[error("hardware description {origin}: {message}")]
    Invalid {
        /// The file or preset.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// Neither a preset name nor a `.toml` file.
    #[error("unknown hardware `{0}`: use sharp, ark, or a path to a .toml description")]
    Unknown(String),
}

/// A modelled FHE accelerator. Throughputs are for the whole chip (all clusters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    /// Name in reports.
    pub name: String,
    /// Clock frequency.
    pub clock_ghz: f64,
    /// Clusters the lanes are split into (reported; the throughputs already sum them).
    pub clusters: usize,
    /// Vector lanes in all.
    pub lanes: usize,
    /// Datapath word size. A residue of a wider prime takes `bits / word_bits` words
    /// (the program is priced as if re-based on primes of the word size).
    pub word_bits: u32,
    /// Functional units.
    pub units: Units,
    /// On-chip and off-chip memory.
    pub memory: Memory,
    /// Energy per operation and per byte moved.
    pub energy: Energy,
}

/// Functional-unit throughputs, per cycle, whole chip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Units {
    /// Coefficients an NTT/INTT unit pipeline consumes per cycle (a fully pipelined
    /// unit: one limb of N words takes `N / ntt_words_per_cycle` cycles).
    pub ntt_words_per_cycle: f64,
    /// Modular multiply-accumulates of fast base conversion per cycle.
    pub bconv_macs_per_cycle: f64,
    /// Element-wise modular multiplications per cycle.
    pub ewe_mults_per_cycle: f64,
    /// Element-wise modular additions per cycle.
    pub ewe_adds_per_cycle: f64,
    /// Words the automorphism unit permutes per cycle.
    pub auto_words_per_cycle: f64,
}

/// Memories and what stays on chip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Scratchpad capacity (MB = 10^6 bytes).
    pub scratchpad_mb: f64,
    /// Register files next to the units (MB): operands in flight, not a cache.
    pub register_file_mb: f64,
    /// Scratchpad bandwidth to the units (TB/s).
    pub onchip_tb_per_s: f64,
    /// Off-chip (HBM) bandwidth (TB/s).
    pub hbm_tb_per_s: f64,
    /// Evaluation keys' uniform halves are generated on chip from seeds (only the `b`
    /// halves stream from HBM).
    pub keys_from_seed: bool,
    /// Plaintexts (weights, transform diagonals) stream one limb and are extended to
    /// their other limbs on chip by base conversion (ARK's OF-Limb) instead of streaming
    /// every limb.
    pub plaintexts_on_the_fly: bool,
}

/// Energy constants (picojoules).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Energy {
    /// Per word through an NTT/INTT (its log N butterfly stages together).
    pub ntt_pj_per_word: f64,
    /// Per base-conversion multiply-accumulate.
    pub bconv_pj_per_mac: f64,
    /// Per element-wise modular multiplication.
    pub ewe_pj_per_mult: f64,
    /// Per element-wise modular addition.
    pub ewe_pj_per_add: f64,
    /// Per word permuted.
    pub auto_pj_per_word: f64,
    /// Per byte moved between scratchpad and units.
    pub onchip_pj_per_byte: f64,
    /// Per byte moved to or from HBM.
    pub hbm_pj_per_byte: f64,
}

const SHARP: &str = include_str!("../presets/sharp.toml");
const ARK: &str = include_str!("../presets/ark.toml");

impl Hardware {
    /// SHARP (ISCA 2023), from `presets/sharp.toml`.
    pub fn sharp() -> Self {
        Self::from_toml(SHARP, "preset sharp").expect("the bundled SHARP preset is valid")
    }

    /// ARK (MICRO 2022), from `presets/ark.toml`.
    pub fn ark() -> Self {
        Self::from_toml(ARK, "preset ark").expect("the bundled ARK preset is valid")
    }

    /// The preset names.
    pub const PRESETS: [&'static str; 2] = ["sharp", "ark"];

    /// A preset by name (`sharp`, `ark`, any case), or a TOML file when `spec` ends in
    /// `.toml`.
    pub fn from_spec(spec: &str) -> Result<Self, HardwareError> {
        match spec.to_ascii_lowercase().as_str() {
            "sharp" => Ok(Self::sharp()),
            "ark" => Ok(Self::ark()),
            _ if spec.ends_with(".toml") => Self::from_file(Path::new(spec)),
            _ => Err(HardwareError::Unknown(spec.to_string())),
        }
    }

    /// Reads and validates a TOML description.
    pub fn from_file(path: &Path) -> Result<Self, HardwareError> {
        let text = std::fs::read_to_string(path).map_err(|source| HardwareError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates a TOML description (`origin` names it in errors).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, HardwareError> {
        let hw: Hardware = toml::from_str(text).map_err(|e| HardwareError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        hw.validate(origin)?;
        Ok(hw)
    }

    /// The description as TOML (round-trips through [`from_toml`](Self::from_toml)).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a hardware description serialises")
    }

    /// Checks every value is in its meaningful range.
    pub fn validate(&self, origin: &str) -> Result<(), HardwareError> {
        let bad = |message: String| {
            Err(HardwareError::Invalid {
                origin: origin.to_string(),
                message,
            })
        };
        let positive = [
            ("clock_ghz", self.clock_ghz),
            ("units.ntt_words_per_cycle", self.units.ntt_words_per_cycle),
            (
                "units.bconv_macs_per_cycle",
                self.units.bconv_macs_per_cycle,
            ),
            ("units.ewe_mults_per_cycle", self.units.ewe_mults_per_cycle),
            ("units.ewe_adds_per_cycle", self.units.ewe_adds_per_cycle),
            (
                "units.auto_words_per_cycle",
                self.units.auto_words_per_cycle,
            ),
            ("memory.onchip_tb_per_s", self.memory.onchip_tb_per_s),
            ("memory.hbm_tb_per_s", self.memory.hbm_tb_per_s),
        ];
        for (key, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{key} must be a positive number, got {v}"));
            }
        }
        let non_negative = [
            ("memory.scratchpad_mb", self.memory.scratchpad_mb),
            ("memory.register_file_mb", self.memory.register_file_mb),
            ("energy.ntt_pj_per_word", self.energy.ntt_pj_per_word),
            ("energy.bconv_pj_per_mac", self.energy.bconv_pj_per_mac),
            ("energy.ewe_pj_per_mult", self.energy.ewe_pj_per_mult),
            ("energy.ewe_pj_per_add", self.energy.ewe_pj_per_add),
            ("energy.auto_pj_per_word", self.energy.auto_pj_per_word),
            ("energy.onchip_pj_per_byte", self.energy.onchip_pj_per_byte),
            ("energy.hbm_pj_per_byte", self.energy.hbm_pj_per_byte),
        ];
        for (key, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{key} must be a non-negative number, got {v}"));
            }
        }
        if self.lanes == 0 || self.clusters == 0 || !self.lanes.is_multiple_of(self.clusters) {
            return bad(format!(
                "lanes ({}) must be a positive multiple of clusters ({})",
                self.lanes, self.clusters
            ));
        }
        if !(16..=64).contains(&self.word_bits) {
            return bad(format!(
                "word_bits must be within 16..=64, got {}",
                self.word_bits
            ));
        }
        Ok(())
    }

    /// Bytes per cycle off chip.
    pub fn hbm_bytes_per_cycle(&self) -> f64 {
        self.memory.hbm_tb_per_s * 1e12 / (self.clock_ghz * 1e9)
    }

    /// Bytes per cycle between scratchpad and units.
    pub fn onchip_bytes_per_cycle(&self) -> f64 {
        self.memory.onchip_tb_per_s * 1e12 / (self.clock_ghz * 1e9)
    }

    /// Scratchpad bytes.
    pub fn scratchpad_bytes(&self) -> f64 {
        self.memory.scratchpad_mb * 1e6
    }

    /// This description with `lanes` lanes, every unit's throughput scaled with them
    /// (a design-space sweep's axis).
    pub fn with_lanes(&self, lanes: usize) -> Self {
        let f = lanes as f64 / self.lanes as f64;
        let mut h = self.clone();
        h.lanes = lanes;
        h.clusters = self.clusters.min(lanes).max(1);
        while !lanes.is_multiple_of(h.clusters) {
            h.clusters -= 1;
        }
        h.units.ntt_words_per_cycle *= f;
        h.units.bconv_macs_per_cycle *= f;
        h.units.ewe_mults_per_cycle *= f;
        h.units.ewe_adds_per_cycle *= f;
        h.units.auto_words_per_cycle *= f;
        h.memory.onchip_tb_per_s *= f;
        h
    }

    /// This description with a scratchpad of `mb` MB (a sweep's other axis).
    pub fn with_scratchpad_mb(&self, mb: f64) -> Self {
        let mut h = self.clone();
        h.memory.scratchpad_mb = mb;
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_published_tables() {
        let s = Hardware::sharp();
        assert_eq!((s.lanes, s.clusters, s.word_bits), (1024, 4, 36));
        assert_eq!(
            (s.memory.scratchpad_mb, s.memory.register_file_mb),
            (180.0, 18.0)
        );
        assert_eq!((s.clock_ghz, s.memory.hbm_tb_per_s), (1.0, 1.0));
        let a = Hardware::ark();
        assert_eq!((a.lanes, a.clusters, a.word_bits), (1024, 4, 64));
        assert_eq!(
            (a.memory.scratchpad_mb, a.memory.register_file_mb),
            (512.0, 76.0)
        );
        assert_eq!(a.hbm_bytes_per_cycle(), 1000.0);
    }

    #[test]
    fn toml_round_trips_and_errors_name_the_key() {
        let s = Hardware::sharp();
        assert_eq!(Hardware::from_toml(&s.to_toml(), "x").unwrap(), s);
        let unknown = s
            .to_toml()
            .replace("lanes = 1024", "lanes = 1024\nlanez = 3");
        let e = Hardware::from_toml(&unknown, "mine.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mine.toml") && e.contains("lanez"), "{e}");
        let zero = s
            .to_toml()
            .replace("hbm_tb_per_s = 1.0", "hbm_tb_per_s = 0.0");
        let e = Hardware::from_toml(&zero, "z").unwrap_err().to_string();
        assert!(e.contains("memory.hbm_tb_per_s"), "{e}");
        let odd = s.to_toml().replace("lanes = 1024", "lanes = 1023");
        assert!(Hardware::from_toml(&odd, "o").is_err());
        assert!(matches!(
            Hardware::from_spec("tpu"),
            Err(HardwareError::Unknown(_))
        ));
        assert!(matches!(
            Hardware::from_spec("/nonexistent/hw.toml"),
            Err(HardwareError::Io { .. })
        ));
    }

    #[test]
    fn lanes_scale_every_unit() {
        let s = Hardware::sharp().with_lanes(512);
        assert_eq!(s.units.ntt_words_per_cycle, 512.0);
        assert_eq!(s.units.bconv_macs_per_cycle, 6144.0);
        assert_eq!(s.lanes % s.clusters, 0);
    }
}
