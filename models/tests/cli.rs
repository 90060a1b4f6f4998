//! The `fhe` tool end to end at small, insecure parameters (N = 2^12): the demo's
//! arithmetic, the `bench ops` JSON shape, and the error paths.

use fhe_dsl::backend::reference::ReferenceBackend;
use fhe_models::{bench, demo, params};
use std::process::{Command, Output};

fn fhe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fhe"))
        .args(args)
        .output()
        .expect("run the fhe binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn demo_is_precise_and_uses_three_levels() {
    let p = params::preset("test-small", true).unwrap();
    let top = p.max_level();
    let r = demo::run(p, ReferenceBackend, &demo::DemoConfig::default(), |_| {}).unwrap();
    assert_eq!(r.slots, 2048);
    assert_eq!(r.rotation_steps.len(), 11);
    assert_eq!(
        (r.level_in, r.level_poly, r.level_out),
        (top, top - 3, top - 3)
    );
    assert!(r.poly_precision.max_bits() > 25.0, "{r}");
    assert!(r.sum_precision.max_bits() > 18.0, "{r}");
    assert!((r.decrypted_sum - r.reference_sum).abs() < 1e-4, "{r}");
    assert_eq!(r.timings.len(), 6);
}

#[test]
fn demo_binary_prints_report() {
    let out = fhe(&[
        "demo",
        "--params",
        "test-small",
        "--insecure-test-params",
        "--slots",
        "256",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    for needle in ["precision", "keygen", "decrypt", "slots        256"] {
        assert!(s.contains(needle), "missing `{needle}` in\n{s}");
    }
}

#[test]
fn bench_ops_json_lines_have_the_compare_ops_shape() {
    let out = fhe(&[
        "bench",
        "ops",
        "--params",
        "test-small",
        "--insecure-test-params",
        "--backend",
        "cpu",
        "--format",
        "json",
        "--runs",
        "1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), bench::OPS.len(), "{stdout}");
    for (line, op) in lines.iter().zip(bench::OPS) {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        let obj = v.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "backend",
                "limbs_q",
                "log_n",
                "median_us",
                "min_us",
                "op",
                "params",
                "runs"
            ]
        );
        assert_eq!(obj["op"], op);
        assert_eq!(obj["params"], "test-small");
        assert_eq!(obj["log_n"], 12);
        assert_eq!(obj["limbs_q"], 6);
        assert_eq!(obj["runs"], 1);
        let (med, min) = (
            obj["median_us"].as_f64().unwrap(),
            obj["min_us"].as_f64().unwrap(),
        );
        assert!(min > 0.0 && min <= med, "{line}");
    }
}

#[test]
fn bench_ops_table_subset() {
    let out = fhe(&[
        "bench",
        "ops",
        "--params",
        "test-small",
        "--insecure-test-params",
        "--only",
        "add,rescale",
        "--runs",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("median ms") && s.contains("add") && s.contains("rescale"));
    assert!(!s.contains("hmult_relin"), "{s}");
}

#[test]
fn gpu_backend_without_a_device_is_a_clear_usage_error() {
    if fhe_backend_gpu::GpuBackend::new().is_ok() {
        eprintln!("skipped: a GPU is present, so --backend gpu is not an error here");
        return;
    }
    let out = fhe(&["bench", "ops", "--params", "bench-a", "--backend", "gpu"]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(e.contains("GPU backend is unavailable here"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn bad_input_gives_errors_not_panics() {
    let out = fhe(&["demo", "--params", "bench-z"]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(e.contains("unknown preset `bench-z`"), "{e}");

    // a negative index is a mistyped index, not a PNG called "-1"
    let out = fhe(&["infer", "--simulate", "--image=-1"]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(e.contains("`-1` is not a test-set index"), "{e}");

    // the small set is refused without the hidden test flag
    let out = fhe(&["demo", "--params", "test-small"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("insecure parameters"));

    for args in [
        &[
            "bench",
            "ops",
            "--params",
            "test-small",
            "--insecure-test-params",
            "--only",
            "fft",
        ][..],
        &[
            "bench",
            "ops",
            "--params",
            "test-small",
            "--insecure-test-params",
            "--runs",
            "0",
        ][..],
        &[
            "demo",
            "--params",
            "test-small",
            "--insecure-test-params",
            "--slots",
            "3",
        ][..],
    ] {
        let out = fhe(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let e = text(&out.stderr);
        assert!(e.starts_with("error:") || e.contains("\nerror:"), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}

#[test]
fn bench_bootstrap_json_shape() {
    let out = fhe(&[
        "bench",
        "bootstrap",
        "--params",
        "boot-tiny",
        "--insecure-test-params",
        "--runs",
        "1",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON object");
    for k in [
        "op",
        "backend",
        "params",
        "log_n",
        "slots",
        "median_ms",
        "min_ms",
        "runs",
        "precision_bits_mean",
        "precision_bits_min",
        "levels_after",
        "keygen_ms",
        "breakdown_ms",
        "key_bytes",
    ] {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    for k in ["coeff_to_slot", "eval_mod", "slot_to_coeff"] {
        assert!(v["breakdown_ms"].get(k).is_some(), "missing breakdown {k}");
    }
    assert_eq!(v["op"], "bootstrap");
    assert!(v["precision_bits_mean"].as_f64().unwrap() > 15.0, "{v}");
    // insecure presets need the hidden flag
    let out = fhe(&["bench", "bootstrap", "--params", "boot-tiny"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The whole pipeline at N = 2^13 on the narrow fixture (widths 2/4/8): keys, encryption,
/// the DSL ResNet-20's 60 steps with their bootstraps, decryption; the decrypted logits against the float64
/// plaintext network.
#[test]
fn infer_encrypted_narrow_resnet_agrees_with_plaintext() {
    use fhe_models::resnet::data::FashionTestSet;
    use fhe_models::resnet::fold::Calibration;
    use fhe_models::resnet::weights::ResNetWeights;
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/resnet20_narrow.safetensors"
    );
    let w = ResNetWeights::load(std::path::Path::new(fixture)).unwrap();
    let set = FashionTestSet::bundled();
    let images: Vec<_> = (8..40).map(|i| set.image(i).unwrap().0).collect();
    let calib = Calibration::measure(&w, &images, "bundled 8..40");
    let calib_path =
        std::env::temp_dir().join(format!("fhe-narrow-calib-{}.json", std::process::id()));
    std::fs::write(&calib_path, serde_json::to_string(&calib).unwrap()).unwrap();
    let calib_arg = calib_path.to_str().unwrap();
    // the narrow fixture at N = 2^13 on image 1, JSON out, plus `extra`
    let infer = |extra: &[&str]| {
        let mut args = vec![
            "infer",
            "--params",
            "boot-n13",
            "--insecure-test-params",
            "--weights",
            fixture,
            "--calibration",
            calib_arg,
            "--image",
            "1",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        fhe(&args)
    };
    let out = infer(&["--layer-errors"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let enc: Vec<f64> = serde_json::from_value(v["logits_encrypted"].clone()).unwrap();
    let plain: Vec<f64> = serde_json::from_value(v["logits_plain"].clone()).unwrap();
    assert_eq!(enc.len(), 10);
    // the plaintext logits from the library's float64 reference, independently
    let want = fhe_models::resnet::reference::forward(&w, &set.image(1).unwrap().0).logits;
    for (p, r) in plain.iter().zip(&want) {
        assert!((p - r).abs() < 1e-12, "{p} vs {r}");
    }
    let spread = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (e, r) in enc.iter().zip(&want) {
        assert!(
            (e - r).abs() < 1e-3 * spread,
            "encrypted {e} vs plaintext {r}"
        );
    }
    assert_eq!(v["label_encrypted"], v["label_plain"]);
    // the ResNet-20 written in `model!` ran it, with the bootstraps the macro placed
    assert_eq!(v["bootstraps"], 2, "{v}");
    // every step decrypted against the exact twin: all 60, by DSL value, each small
    let layers: Vec<(String, f64)> = serde_json::from_value(v["layer_errors"].clone()).unwrap();
    assert_eq!(layers.len(), 60);
    assert_eq!(layers.last().unwrap().0, "logits");
    // the automatic bootstrap redefines the block output it refreshes
    let names: Vec<&str> = layers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names.iter().filter(|n| **n == "layer2.1.y").count(),
        2,
        "{names:?}"
    );
    assert!(names.contains(&"layer2.0.p"), "{names:?}");
    for (name, e) in &layers {
        assert!(e.is_finite() && *e < 1e-4, "{name}: {e}");
    }
    // deterministic keys and encryption (`--insecure-seed`): keeping encoded weights
    // across uses changes no bit of the result, and the second image finds every
    // encoding of the first in the cache
    let seeded = |extra: &[&str]| {
        let mut args = vec!["--insecure-seed", "7", "--count", "2"];
        args.extend_from_slice(extra);
        let out = infer(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let lines: Vec<serde_json::Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let logits: Vec<Vec<f64>> = lines
            .iter()
            .map(|v| serde_json::from_value(v["logits_encrypted"].clone()).unwrap())
            .collect();
        (logits, text(&out.stderr), lines)
    };
    let (streamed, _, _) = seeded(&["--plaintext-cache-gb", "0"]);
    let (cached, log, _) = seeded(&["--plaintext-cache-gb", "2"]);
    assert_eq!(streamed.len(), 2);
    assert_eq!(streamed, cached, "the plaintext cache changed the logits");
    // the ASIC simulator computes with the CPU backend: the same bits, and every call
    // of each forward pass charged; its cost-only count of the model (plan + traced
    // bootstraps) equals what the run made
    let (simulated, _, lines) = seeded(&["--backend", "asic-sim:ark"]);
    assert_eq!(simulated, streamed, "asic-sim changed the logits");
    for v in &lines {
        let sim = &v["asic_sim"];
        assert_eq!(v["backend"], "asic-sim:ark", "{v}");
        assert_eq!(sim["counts_agree"], true, "{sim}");
        assert_eq!(sim["exact"]["hardware"], "ARK");
        let (exact, cost_only) = (
            sim["exact"]["seconds"].as_f64().unwrap(),
            sim["cost_only_seconds"].as_f64().unwrap(),
        );
        assert!(
            exact > 0.0 && (exact - cost_only).abs() <= 1e-12 * exact,
            "{sim}"
        );
        let steps = sim["exact"]["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 60, "one charged step per plan step");
        let rotations = sim["exact"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["op"] == "rotate_extended" || c["op"] == "hoisted_rotations")
            .count();
        assert!(rotations > 0, "{sim}");
    }
    let stats = log
        .lines()
        .find(|l| l.contains("plaintext cache"))
        .unwrap_or_else(|| panic!("no cache report in {log}"));
    let count = |what: &str| -> u64 {
        let words: Vec<&str> = stats.split_whitespace().collect();
        let at = words.iter().position(|w| w.starts_with(what)).unwrap();
        words[at - 1].parse().unwrap()
    };
    assert!(count("hits") >= count("encodings"), "{stats}");
    let _ = std::fs::remove_file(&calib_path);
    // the secure default refuses the test preset without the opt-in
    let out = fhe(&["infer", "--params", "boot-n13", "--simulate"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// The bundled weights and calibration (what `cargo run --release` uses) load, compile
/// and run through the cleartext twin on two bundled test images, agreeing with the
/// float64 network.
#[test]
fn bundled_network_simulates_on_test_images() {
    let out = fhe(&[
        "infer",
        "--simulate",
        "--image",
        "3",
        "--count",
        "2",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for v in &lines {
        assert_eq!(v["params"], "boot-n16");
        assert!(v["max_abs_err"].as_f64().unwrap() < 1e-9, "{v}");
        assert_eq!(v["label_encrypted"], v["label_plain"]);
        assert_eq!(v["bootstraps"], 2);
        for k in [
            "model",
            "backend",
            "logits_encrypted",
            "logits_plain",
            "latency_s",
            "rotations",
            "peak_rss_bytes",
        ] {
            assert!(v.get(k).is_some(), "missing {k} in {v}");
        }
    }
    assert!(text(&out.stderr).contains("2 images: encrypted and plaintext argmax agree on 2"));
}

#[test]
fn infer_bad_input_gives_errors() {
    for (args, needle) in [
        (
            &[
                "infer",
                "--simulate",
                "--weights",
                "/nonexistent.safetensors",
            ][..],
            "loading weights",
        ),
        (&["infer", "--simulate", "--count", "0"][..], "--count"),
        (
            &["infer", "--simulate", "--image", "/nonexistent.png"][..],
            "nonexistent.png",
        ),
        (&["infer", "--simulate", "--image", "70000"][..], "70000"),
        // more images than the set holds, and a count whose end overflows: an error
        // before anything is allocated, not an empty report or an allocation abort
        (
            &["infer", "--simulate", "--image", "60", "--count", "1000000"][..],
            "past the end of the test set",
        ),
        (
            &[
                "infer",
                "--simulate",
                "--image",
                "5",
                "--count",
                "18446744073709551615",
            ][..],
            "past the end of the test set",
        ),
    ] {
        let out = fhe(args);
        let e = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}

/// `fhe plan`: one JSON object per model with the fields scripts read, the ResNet-20
/// plan (two bootstraps, 1076 rotations) and its primitive counts.
#[test]
fn plan_json_reports_each_model() {
    let out = fhe(&["plan", "--model", "resnet20", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    for k in [
        "model",
        "bootstraps",
        "rotations",
        "key_bytes",
        "levels",
        "primitives",
    ] {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    assert_eq!(v["model"], "resnet20");
    assert_eq!(v["bootstraps"], 2);
    assert_eq!(v["levels"].as_array().unwrap().len(), 9);
    let prims = v["primitives"].as_array().unwrap();
    let calls = |op: &str| -> u64 {
        prims
            .iter()
            .filter(|p| p["op"] == op)
            .map(|p| p["calls"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(calls("bootstrap"), 2);
    // every rotation is one key switch: hoisted or extended
    assert!(calls("rotate_extended") + calls("hoisted_rotations.keys") >= 1000);
    let out = fhe(&["plan", "--model", "resnet21"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
