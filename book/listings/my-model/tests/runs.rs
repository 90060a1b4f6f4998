//! The book's first program runs and agrees with its plaintext twin (CI runs this).

#[test]
fn my_model_runs_and_matches_plaintext() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_my-model"))
        .output()
        .expect("run my-model");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("max |encrypted − plaintext| = "))
        .expect("error line");
    let err: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(err < 1e-3, "{line}");
}
