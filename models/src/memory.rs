//! Memory checks made before anything large is read or generated: a weights or key file
//! bigger than the memory left, or a key set planned above it, is refused with the
//! figures instead of ending in an allocation abort or the OOM killer.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Environment variable capping the memory the tool plans on (bytes): the smaller of
/// it and `MemAvailable` is what the checks compare against. For shared machines, and
/// for tests of the refusals.
pub const LIMIT_ENV: &str = "FHE_MEMORY_LIMIT";

/// Memory available for new allocations: `MemAvailable` from `/proc/meminfo`, capped by
/// [`LIMIT_ENV`] when set, with a description of where the figure comes from. `None`
/// where neither is known (then nothing is refused).
pub fn available() -> Result<Option<(u64, String)>> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_available(&s));
    let limit = match std::env::var(LIMIT_ENV) {
        Ok(v) => Some(
            v.trim()
                .parse::<u64>()
                .with_context(|| format!("{LIMIT_ENV}={v:?} is not a byte count"))?,
        ),
        Err(_) => None,
    };
    Ok(match (meminfo, limit) {
        (Some(m), Some(l)) if l < m => Some((l, LIMIT_ENV.to_string())),
        (Some(m), _) => Some((m, "MemAvailable".into())),
        (None, Some(l)) => Some((l, LIMIT_ENV.to_string())),
        (None, None) => None,
    })
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Gigabytes, for messages.
pub fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

/// Refuses when `bytes` (what `what` will hold) exceed the memory available.
pub fn check_fits(what: &str, bytes: u64) -> Result<()> {
    if let Some((avail, source)) = available()? {
        if bytes > avail {
            bail!(
                "{what} would take {}, more than the {} of memory available ({source})",
                gb(bytes),
                gb(avail)
            );
        }
    }
    Ok(())
}

/// Reads a whole file after checking that its size fits in the memory available.
pub fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    check_file(path, what)?;
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// Checks, from its size alone, that the file at `path` fits in the memory available.
pub fn check_file(path: &Path, what: &str) -> Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("reading {what} {}", path.display()))?;
    if !meta.is_file() {
        bail!("{what} {} is not a file", path.display());
    }
    check_fits(&format!("{what} {}", path.display()), meta.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mem_available() {
        let s = "MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(mem_available(s), Some(20_000_000 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
    }
}
