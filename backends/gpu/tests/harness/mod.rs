//! A small test harness for the GPU crate's integration tests (`harness = false` in
//! Cargo.toml), so that a check that cannot run here says so in the output:
//!
//! ```text
//! test ntt ... skipped (no CUDA device: CUDA driver library (libcuda) not found: ...)
//! test result: ok. 1 passed; 0 failed; 6 skipped; 2 ignored; 0 filtered out
//! ```
//!
//! libtest would report such a test as `ok` (its message is captured). Checks run one at
//! a time, in order; a panic is a failure (exit code 101, as libtest). It understands the
//! libtest arguments the scripts use: name filters (any may match; `--exact` for whole
//! names), `--skip NAME`, `--ignored`, `--include-ignored`, `--list`; others
//! (`--nocapture`, `--test-threads N`, `-q`, ...) are accepted and ignored.
//!
//! `FHE_REQUIRE_GPU=1` turns every skip into a failure: set it where a GPU must be used
//! (the device check), so that a missing driver there cannot pass.
#![allow(dead_code)]

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;

/// What a check did.
pub enum Outcome {
    /// It ran and passed.
    Pass,
    /// It could not run here; the reason is printed.
    Skip(String),
}

/// One check.
pub struct Test {
    /// Its name (what filters match).
    pub name: &'static str,
    /// `Some(why)`: runs only with `--ignored` or `--include-ignored`.
    pub ignore: Option<&'static str>,
    /// The check: panics on failure.
    pub run: fn() -> Outcome,
}

impl Test {
    /// A check that always runs.
    pub const fn new(name: &'static str, run: fn() -> Outcome) -> Self {
        Test {
            name,
            ignore: None,
            run,
        }
    }

    /// A check that runs only when asked for (`--ignored`).
    pub const fn ignored(name: &'static str, why: &'static str, run: fn() -> Outcome) -> Self {
        Test {
            name,
            ignore: Some(why),
            run,
        }
    }
}

/// Runs `tests` under the command-line arguments; the process exit code.
pub fn main(tests: &[Test]) -> ExitCode {
    let mut filters: Vec<String> = Vec::new();
    let mut skips: Vec<String> = Vec::new();
    let (mut ignored_only, mut include_ignored, mut list, mut exact) = (false, false, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ignored" => ignored_only = true,
            "--include-ignored" => include_ignored = true,
            "--list" => list = true,
            "--exact" => exact = true,
            "--skip" => skips.extend(args.next()),
            // flags with a separate value
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => {
                args.next();
            }
            s if s.starts_with('-') => {}
            s => filters.push(s.to_string()),
        }
    }
    let matches = |name: &str, pat: &str| {
        if exact {
            name == pat
        } else {
            name.contains(pat)
        }
    };
    let selected: Vec<&Test> = tests
        .iter()
        .filter(|t| filters.is_empty() || filters.iter().any(|f| matches(t.name, f)))
        .filter(|t| !skips.iter().any(|s| matches(t.name, s)))
        .collect();
    let filtered_out = tests.len() - selected.len();
    if list {
        for t in &selected {
            println!("{}: test", t.name);
        }
        return ExitCode::SUCCESS;
    }
    let require = std::env::var("FHE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    println!(
        "\nrunning {} test{}",
        selected.len(),
        if selected.len() == 1 { "" } else { "s" }
    );
    let (mut passed, mut failed, mut skipped, mut ignored) = (0, Vec::new(), 0, 0);
    for t in selected {
        let run = match t.ignore {
            Some(_) => ignored_only || include_ignored,
            None => !ignored_only,
        };
        if !run {
            match t.ignore {
                Some(why) => println!("test {} ... ignored, {why}", t.name),
                None => println!("test {} ... ignored", t.name),
            }
            ignored += 1;
            continue;
        }
        // the line is printed when the check is done, so that what it writes to stderr
        // while running does not split it
        let outcome = catch_unwind(AssertUnwindSafe(t.run));
        print!("test {} ... ", t.name);
        match outcome {
            Ok(Outcome::Pass) => {
                println!("ok");
                passed += 1;
            }
            Ok(Outcome::Skip(why)) if require => {
                println!("FAILED (skipped with FHE_REQUIRE_GPU=1: {why})");
                failed.push(t.name);
            }
            Ok(Outcome::Skip(why)) => {
                println!("skipped ({why})");
                skipped += 1;
            }
            Err(_) => {
                // the panic message is on stderr already
                println!("FAILED");
                failed.push(t.name);
            }
        }
        let _ = std::io::stdout().flush();
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for f in &failed {
            println!("    {f}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed; {skipped} skipped; {ignored} ignored; \
         {filtered_out} filtered out\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}
