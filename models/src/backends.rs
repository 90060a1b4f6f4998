//! Which backend a command runs on.
//!
//! The [`Backend`](fhe_dsl::backend::Backend) trait has an associated polynomial type, so
//! it is not object-safe: commands are generic functions, and [`BackendKind`] picks the
//! monomorphisation at the top of each command.

use anyhow::Result;
use std::fmt;

/// The backend a user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// The optimised CPU backend (`backends/cpu`).
    Cpu,
    /// The single-threaded reference backend inside fhe-dsl (slow; the specification).
    Reference,
    /// The CUDA backend (`backends/gpu`; needs an NVIDIA driver and NVRTC at run time).
    Gpu,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Reference => "reference",
            BackendKind::Gpu => "gpu",
        })
    }
}

/// A `--backend` argument of the commands that can also run on the ASIC simulator:
/// `cpu`, `reference`, `gpu`, or `asic-sim[:HW]` with `HW` a preset (`sharp`, the
/// default, or `ark`) or a `.toml` hardware description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendSpec {
    /// A computing backend.
    Plain(BackendKind),
    /// The CPU backend's results, every call priced on this hardware.
    AsicSim(String),
}

impl std::str::FromStr for BackendSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "asic-sim" {
            return Ok(BackendSpec::AsicSim("sharp".into()));
        }
        if let Some(hw) = s.strip_prefix("asic-sim:") {
            return Ok(BackendSpec::AsicSim(hw.to_string()));
        }
        <BackendKind as clap::ValueEnum>::from_str(s, true).map(BackendSpec::Plain).map_err(|_| {
            format!("unknown backend `{s}`: cpu, reference, gpu, or asic-sim[:sharp|:ark|:FILE.toml]")
        })
    }
}

impl fmt::Display for BackendSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendSpec::Plain(k) => k.fmt(f),
            BackendSpec::AsicSim(hw) => write!(f, "asic-sim:{hw}"),
        }
    }
}

/// The hardware of an `asic-sim` backend spec, or a [`UsageError`] naming what is wrong
/// with it.
pub fn sim_hardware(spec: &str) -> Result<fhe_backend_asic_sim::Hardware> {
    fhe_backend_asic_sim::Hardware::from_spec(spec).map_err(|e| UsageError(e.to_string()).into())
}

/// The implementation behind `--backend cpu`.
pub type CpuImpl = fhe_backend_cpu::CpuBackend;

/// A fresh CPU backend.
pub fn cpu_backend() -> CpuImpl {
    fhe_backend_cpu::CpuBackend::new()
}

/// The implementation behind `--backend gpu`.
pub type GpuImpl = fhe_backend_gpu::GpuBackend;

/// The GPU backend on device 0, or a [`UsageError`] saying why there is none.
pub fn gpu_backend() -> Result<GpuImpl> {
    fhe_backend_gpu::GpuBackend::new().map_err(|e| {
        UsageError(format!(
            "the GPU backend is unavailable here: {e}; use --backend cpu"
        ))
        .into()
    })
}

/// An error the user can fix by changing the command line (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Checks that the requested backend can run here (the GPU needs a driver and a device),
/// with a [`UsageError`] otherwise.
pub fn check_available(kind: BackendKind) -> Result<()> {
    match kind {
        BackendKind::Gpu => gpu_backend().map(drop),
        BackendKind::Cpu | BackendKind::Reference => Ok(()),
    }
}
