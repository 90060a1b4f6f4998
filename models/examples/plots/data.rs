//! Reading the committed benchmark output (`book/data/<machine-date>/run*.jsonl` and the
//! README that names each run's commit) into the series the plots draw. Every number
//! comes from those files; nothing here is typed in by hand.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// One run: its file name, the commit it measured (from the README's table) and its
/// JSON objects, one per line, in order.
pub struct Run {
    pub file: String,
    pub commit: String,
    pub lines: Vec<Value>,
}

/// Reads every `run*.jsonl` in `dir` (sorted by name) and the commits from `dir/README.md`
/// (rows `| runN.jsonl | <commit> | ... |`).
pub fn load_runs(dir: &Path) -> Result<Vec<Run>, String> {
    let readme = std::fs::read_to_string(dir.join("README.md"))
        .map_err(|e| format!("{}: {e}", dir.join("README.md").display()))?;
    let commits: BTreeMap<String, String> = readme
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            // "", file, commit, steps, ""
            (cells.len() >= 4 && cells[1].ends_with(".jsonl"))
                .then(|| (cells[1].to_string(), cells[2].to_string()))
        })
        .collect();
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("run") && n.ends_with(".jsonl"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text =
                std::fs::read_to_string(dir.join(&file)).map_err(|e| format!("{file}: {e}"))?;
            let lines = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{file}:{}: {e}", i + 1)))
                .collect::<Result<Vec<Value>, String>>()?;
            let commit = commits
                .get(&file)
                .cloned()
                .ok_or_else(|| format!("{file} is not in README.md's table"))?;
            Ok(Run {
                file,
                commit,
                lines,
            })
        })
        .collect()
}

fn op(v: &Value) -> Option<&str> {
    v.get("op")?.as_str()
}

/// The `ops` step of `device-check.sh` (the lines carrying `limbs_q`, on `bench-a`):
/// op name → median µs, for one run (empty when the run has no `ops` step).
pub fn bench_ops(run: &Run) -> BTreeMap<String, f64> {
    run.lines
        .iter()
        .filter(|v| v.get("limbs_q").is_some() && v["params"] == "bench-a")
        .filter_map(|v| Some((op(v)?.to_string(), v.get("median_us")?.as_f64()?)))
        .collect()
}

/// The `bootstrap` step (op `bootstrap`, not the radix A/B variant that carries
/// `ntt_tail_radix`): median ms and the per-phase breakdown in ms.
pub fn bootstrap(run: &Run) -> Option<(f64, BTreeMap<String, f64>)> {
    let v = run
        .lines
        .iter()
        .find(|v| op(v) == Some("bootstrap") && v.get("ntt_tail_radix").is_none())?;
    let phases = v
        .get("breakdown_ms")?
        .as_object()?
        .iter()
        .filter_map(|(k, x)| Some((k.clone(), x.as_f64()?)))
        .collect();
    Some((v.get("median_ms")?.as_f64()?, phases))
}

/// One backend primitive of a bootstrap profile: name, calls, total ms.
pub type Primitive = (String, u64, f64);

/// The `bprofile` step: primitives sorted by time, largest first, with the profile's wall
/// and device ms.
pub fn bootstrap_profile(run: &Run) -> Option<(Vec<Primitive>, f64, f64)> {
    let v = run
        .lines
        .iter()
        .find(|v| op(v) == Some("bootstrap_profile"))?;
    let mut prims: Vec<Primitive> = v
        .get("primitives")?
        .as_object()?
        .iter()
        .filter_map(|(k, p)| Some((k.clone(), p.get("calls")?.as_u64()?, p.get("ms")?.as_f64()?)))
        .collect();
    prims.sort_by(|a, b| b.2.total_cmp(&a.2));
    Some((
        prims,
        v.get("wall_ms")?.as_f64()?,
        v.get("device_ms")?.as_f64()?,
    ))
}
