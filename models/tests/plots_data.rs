//! The book's plot generator (`cargo run --release -p fhe-models --example plots`) reads
//! the committed GPU benchmark output: its parser must find, in every run that has the
//! step, the operations the plots draw (a cheap check; rendering is not run here).

#[path = "../examples/plots/data.rs"]
#[allow(dead_code)]
mod data;

use std::path::Path;

#[test]
fn the_committed_benchmark_output_has_what_the_plots_draw() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/data/h200-2026-12-04");
    let runs = data::load_runs(&dir).unwrap();
    let files: Vec<&str> = runs.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(
        files,
        [
            "run1.jsonl",
            "run2.jsonl",
            "run3.jsonl",
            "run4.jsonl",
            "run5.jsonl"
        ]
    );
    assert!(
        runs.iter().all(|r| r.commit.len() >= 7),
        "commits from README.md"
    );
    // run2 measured only the `exact` step; the others have ops and a bootstrap
    for r in runs.iter().filter(|r| r.file != "run2.jsonl") {
        let ops = data::bench_ops(r);
        for op in [
            "ntt",
            "add",
            "mul_plain",
            "hmult_relin",
            "rescale",
            "rotate",
        ] {
            assert!(ops.get(op).is_some_and(|v| *v > 0.0), "{}: {op}", r.file);
        }
        let (median, phases) = data::bootstrap(r).unwrap();
        assert!(median > 0.0);
        for ph in ["coeff_to_slot", "eval_mod", "slot_to_coeff", "mod_raise"] {
            assert!(phases.contains_key(ph), "{}: {ph}", r.file);
        }
    }
    assert!(data::bench_ops(&runs[1]).is_empty());
    let (prims, wall, device) = data::bootstrap_profile(&runs[4]).unwrap();
    assert!(wall > device && device > 0.0);
    assert!(prims.windows(2).all(|w| w[0].2 >= w[1].2), "sorted by time");
    let sum: f64 = prims.iter().map(|p| p.2).sum();
    assert!(
        (sum - device).abs() < 0.01 * device,
        "primitives add up to the device time"
    );
}
