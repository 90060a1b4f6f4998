//! Parameter presets as the command line names them.

use crate::backends::UsageError;
use anyhow::{Context, Result};
use fhe_dsl::ckks::{Params, ParamsLiteral};

/// Validates the preset `name` with the 128-bit security check, or — only when
/// `insecure` is set (tests) — without it.
pub fn preset(name: &str, insecure: bool) -> Result<Params> {
    let lit = ParamsLiteral::preset(name).map_err(|e| UsageError(e.to_string()))?;
    if insecure {
        Params::new_insecure_for_tests(lit)
            .with_context(|| format!("building preset `{name}` (insecure test mode)"))
    } else {
        Params::new(lit).with_context(|| format!("building preset `{name}`"))
    }
}

/// A bootstrapping preset by name, and whether it is an insecure test preset: those are
/// refused (a [`UsageError`]) unless `insecure_ok`.
pub fn bootstrap_preset(
    name: &str,
    insecure_ok: bool,
) -> Result<(fhe_dsl::circuits::BootstrapPreset, bool)> {
    let preset =
        fhe_dsl::circuits::BootstrapPreset::by_name(name).map_err(|e| UsageError(e.to_string()))?;
    let insecure = name != "boot-n16";
    if insecure && !insecure_ok {
        return Err(UsageError(format!(
            "preset `{name}` is an insecure test preset; use boot-n16"
        ))
        .into());
    }
    Ok((preset, insecure))
}
