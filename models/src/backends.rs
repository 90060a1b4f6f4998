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
    /// The CUDA backend (not built yet).
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

/// The implementation behind `--backend cpu`.
pub type CpuImpl = fhe_backend_cpu::CpuBackend;

/// A fresh CPU backend.
pub fn cpu_backend() -> CpuImpl {
    fhe_backend_cpu::CpuBackend::new()
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

/// Refuses backends that are not built yet, with a [`UsageError`].
pub fn check_available(kind: BackendKind) -> Result<()> {
    match kind {
        BackendKind::Gpu => Err(UsageError(
            "the GPU backend is not built yet (backends/gpu does not exist); \
             use --backend cpu"
                .into(),
        )
        .into()),
        BackendKind::Cpu | BackendKind::Reference => Ok(()),
    }
}
