//! The client and the server of private inference as separate processes of the `fhe`
//! binary (keygen, encrypt, server-side infer, decrypt) on the narrow ResNet-20 fixture at
//! the insecure N = 2^13 preset, against the float64 network; and the bad inputs of the
//! two-party files and of the weights, each a clear error with a non-zero exit.

use fhe_models::resnet::data::FashionTestSet;
use fhe_models::resnet::fold::Calibration;
use fhe_models::resnet::reference::forward;
use fhe_models::resnet::weights::ResNetWeights;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/resnet20_narrow.safetensors"
);
const IMAGE: usize = 2;

fn fhe_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fhe"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the fhe binary")
}

fn fhe(args: &[&str]) -> Output {
    fhe_env(args, &[])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `fhe args` and returns stdout, failing the test with stderr when it fails.
fn ok(args: &[&str]) -> String {
    let out = fhe(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Runs `fhe args` (with `env`) expecting exit code `code` and an error naming `needle`.
fn fails_env(args: &[&str], env: &[(&str, &str)], code: i32, needle: &str) -> String {
    let out = fhe_env(args, env);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {e}");
    assert!(!e.contains("panicked"), "{args:?}: {e}");
    // the error itself, not the progress lines before it
    let at = e
        .find("error:")
        .unwrap_or_else(|| panic!("{args:?}: no error in {e}"));
    let err = &e[at..];
    assert!(err.contains(needle), "{args:?}: expected `{needle}` in {e}");
    err.to_string()
}

fn strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

fn fails(args: &[&str], code: i32, needle: &str) -> String {
    fails_env(args, &[], code, needle)
}

/// A scratch directory removed when the test ends, passed or not.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("fhe-parties-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    fn path(&self, f: &str) -> String {
        self.0.join(f).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The narrow fixture's calibration, measured on bundled images (as cli.rs does).
fn write_calibration(to: &str) {
    let w = ResNetWeights::load(Path::new(FIXTURE)).unwrap();
    let set = FashionTestSet::bundled();
    let images: Vec<_> = (8..40).map(|i| set.image(i).unwrap().0).collect();
    let calib = Calibration::measure(&w, &images, "bundled 8..40");
    std::fs::write(to, serde_json::to_string(&calib).unwrap()).unwrap();
}

const N13: [&str; 3] = ["--params", "boot-n13", "--insecure-test-params"];

#[test]
fn four_processes_agree_with_plaintext_and_refuse_bad_files() {
    let s = Scratch::new("flow");
    let (calib, keys, server) = (s.path("calib.json"), s.path("keys"), s.path("server"));
    let (x, y) = (s.path("x.ct"), s.path("y.ct"));
    write_calibration(&calib);
    let model = ["--weights", FIXTURE, "--calibration", &calib];

    // client: keys
    let mut args = vec!["keygen", "--out", &keys, "--format", "json"];
    args.extend(N13.iter().chain(&model));
    let report: serde_json::Value = serde_json::from_str(ok(&args).trim()).unwrap();
    let size = |f: &str| std::fs::metadata(Path::new(&keys).join(f)).unwrap().len();
    assert_eq!(report["secret_key_bytes"], size("secret.key"));
    assert_eq!(report["server_keys_bytes"], size("server.keys"));
    // ternary coefficients at 2 bits each behind the 48-byte header and the degree
    assert_eq!(size("secret.key"), 48 + 8 + 8192 / 4);
    assert!(report["server_keys_expanded_bytes"].as_u64().unwrap() > size("server.keys"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(Path::new(&keys).join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "secret.key is readable by others: {mode:o}"
        );
    }
    // a second keygen would orphan what the first key encrypted
    let mut again = vec!["keygen", "--out", &keys];
    again.extend(N13.iter().chain(&model));
    fails(&again, 2, "--force");

    // client: encrypt
    ok(&[
        "encrypt", "--keys", &keys, "--image", "2", "--out", &x, N13[2],
    ]);

    // server: only the bundle, in a directory of its own (the secret key is not there)
    std::fs::create_dir(&server).unwrap();
    let bundle = format!("{server}/server.keys");
    std::fs::rename(Path::new(&keys).join("server.keys"), &bundle).unwrap();
    let server_args = |keys: &str, input: &str| -> Vec<String> {
        let mut a: Vec<String> = [
            "infer",
            "--server-keys",
            keys,
            "--input",
            input,
            "--output",
            &y,
            "--format",
            "json",
        ]
        .map(String::from)
        .to_vec();
        a.extend(N13.iter().chain(&model).map(|s| s.to_string()));
        a
    };
    let v: serde_json::Value =
        serde_json::from_str(ok(&strs(&server_args(&bundle, &x))).trim()).unwrap();
    assert_eq!(v["bootstraps"], 2, "{v}");
    assert_eq!(
        v["output_bytes"],
        std::fs::metadata(&y).unwrap().len(),
        "{v}"
    );

    // client: decrypt, against the float64 network
    let out = ok(&[
        "decrypt", "--keys", &keys, "--input", &y, "--format", "json", N13[2],
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let got: Vec<f64> = serde_json::from_value(v["logits"].clone()).unwrap();
    let w = ResNetWeights::load(Path::new(FIXTURE)).unwrap();
    let image = FashionTestSet::bundled().image(IMAGE).unwrap().0;
    let f = forward(&w, &image);
    assert_eq!(got.len(), f.logits.len());
    let spread = f.logits.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (e, r) in got.iter().zip(&f.logits) {
        assert!(
            (e - r).abs() < 1e-3 * spread,
            "decrypted {e} vs plaintext {r}"
        );
    }
    assert_eq!(v["class"], f.argmax(), "{v}");
    let table = ok(&["decrypt", "--keys", &keys, "--input", &y, N13[2]]);
    assert!(table.contains(v["label"].as_str().unwrap()), "{table}");

    // ---- bad files: each a clear error and a non-zero exit ----
    let bytes = std::fs::read(&x).unwrap();
    let bad = s.path("bad.ct");
    let server_fails = |keys: &str, input: &str, needle: &str| {
        fails(&strs(&server_args(keys, input)), 1, needle);
    };
    // truncated
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    server_fails(&bundle, &bad, "truncated");
    // a residue set to all ones, which no prime of its width exceeds
    let mut t = bytes.clone();
    let mid = bytes.len() / 2;
    t[mid..mid + 16].fill(0xff);
    std::fs::write(&bad, &t).unwrap();
    server_fails(&bundle, &bad, "is not below its prime");
    // the parameter fingerprint in the header changed
    let mut t = bytes.clone();
    t[8] ^= 1;
    std::fs::write(&bad, &t).unwrap();
    server_fails(&bundle, &bad, "made for other parameters");
    // a ciphertext where keys are expected, to the server and to the client
    server_fails(&x, &x, "expected bootstrapping keys, found a ciphertext");
    fails(
        &["decrypt", "--keys", &x, "--input", &y, N13[2]],
        2,
        "not a key directory (a ciphertext file)",
    );
    // the client's own input is not a result
    fails(
        &["decrypt", "--keys", &keys, "--input", &x, N13[2]],
        1,
        "is it the server's result?",
    );
    // keys for other parameters (boot-tiny), to the server and to the client
    let (tiny_bundle, tiny_secret) = tiny_keys();
    let other = s.path("tiny.keys");
    std::fs::write(&other, tiny_bundle).unwrap();
    server_fails(&other, &x, "made for other parameters");
    std::fs::write(Path::new(&keys).join("secret.key"), tiny_secret).unwrap();
    fails(
        &["decrypt", "--keys", &keys, "--input", &y, N13[2]],
        1,
        "a secret key was made for other parameters",
    );
    // a key file larger than the memory left, refused before it is read (sparse: no
    // disk is used)
    let huge = s.path("huge.keys");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 42)
        .unwrap();
    server_fails(&huge, &x, "of memory available");
}

/// A bootstrapping bundle and a secret key at another preset (boot-tiny), as wire bytes.
fn tiny_keys() -> (Vec<u8>, Vec<u8>) {
    use fhe_dsl::circuits::{BootstrapPreset, BootstrappingKeys};
    use fhe_dsl::ckks::{Ckks, KeyRequest, Params};
    let preset = BootstrapPreset::by_name("boot-tiny").unwrap();
    let params = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    let ckks = Ckks::new(params.clone(), fhe_backend_cpu::CpuBackend::new());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &KeyRequest::new())
        .unwrap();
    (
        keys.to_bytes(&params).unwrap(),
        sk.to_secret_bytes(&params).unwrap().to_vec(),
    )
}

/// The narrow fixture with tensor `name` replaced by `data` of `shape` (F64).
fn fixture_with(name: &str, shape: Vec<usize>, data: &[f64]) -> Vec<u8> {
    let bytes = std::fs::read(FIXTURE).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != name)
        .collect();
    views.push((
        name.to_string(),
        TensorView::new(Dtype::F64, shape, &raw).unwrap(),
    ));
    safetensors::serialize(views, None).unwrap()
}

fn tensor(name: &str) -> (Vec<usize>, Vec<f64>) {
    let w = ResNetWeights::load(Path::new(FIXTURE)).unwrap();
    match name {
        "conv1.weight" => (w.conv0.shape().to_vec(), w.conv0.iter().copied().collect()),
        "fc.weight" => (w.fc_w.shape().to_vec(), w.fc_w.iter().copied().collect()),
        _ => unreachable!(),
    }
}

/// A first convolution for one input channel where the images have three (the float64
/// network used to panic on it), and a weights file larger than memory: errors before
/// anything runs, for `infer` and `keygen` alike.
#[test]
fn weights_of_the_wrong_shape_or_size_are_refused() {
    let s = Scratch::new("weights");
    let (shape, data) = tensor("conv1.weight");
    let (co, ci) = (shape[0], shape[1]);
    assert_eq!(ci, 3);
    // keep channel 0 of each output
    let one: Vec<f64> = (0..co)
        .flat_map(|o| data[o * ci * 9..o * ci * 9 + 9].to_vec())
        .collect();
    let bad = s.path("one-channel.safetensors");
    std::fs::write(&bad, fixture_with("conv1.weight", vec![co, 1, 3, 3], &one)).unwrap();
    let huge = s.path("huge.safetensors");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 42)
        .unwrap();
    let keys = s.path("keys");
    for (w, needle) in [
        (&bad, "takes 1 input channels, the images have 3"),
        (&huge, "of memory available"),
    ] {
        let mut args = vec!["infer", "--simulate", "--weights", w];
        args.extend(N13);
        fails(&args, 1, needle);
        let mut args = vec!["keygen", "--out", &keys, "--weights", w];
        args.extend(N13);
        fails(&args, 1, needle);
    }
    assert!(
        !Path::new(&keys).exists(),
        "keygen wrote keys for bad weights"
    );
}

/// Finite weights that overflow: the run fails loudly, naming the layer, instead of
/// comparing non-finite logits (`f64::max` used to report NaN as an error of 0; the
/// comparison itself is unit-tested in `infer`).
#[test]
fn garbage_weights_fail_loudly() {
    let s = Scratch::new("garbage");
    let calib = s.path("calib.json");
    write_calibration(&calib);
    let (shape, data) = tensor("fc.weight");
    // finite, but the classifier's products overflow float64: ±inf, and inf − inf = NaN
    let garbage: Vec<f64> = data
        .iter()
        .enumerate()
        .map(|(i, _)| if i % 2 == 0 { 1e308 } else { -1e308 })
        .collect();
    let w = s.path("garbage.safetensors");
    std::fs::write(&w, fixture_with("fc.weight", shape, &garbage)).unwrap();
    let mut args = vec![
        "infer",
        "--simulate",
        "--image",
        "2",
        "--weights",
        &w,
        "--calibration",
        &calib,
    ];
    args.extend(N13);
    let out = fhe(&args);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    let line = e.lines().find(|l| l.starts_with("error:")).unwrap_or("");
    assert!(
        line.contains("`fc`") && line.contains("non-finite"),
        "the error does not name the layer and the overflow: {e}"
    );
    assert!(text(&out.stdout).is_empty(), "a report was printed");
}

/// Key generation planned above the memory left is refused before anything is generated,
/// with the figures; the one-process `infer` likewise.
#[test]
fn key_memory_above_the_available_is_refused() {
    let s = Scratch::new("memory");
    let calib = s.path("calib.json");
    write_calibration(&calib);
    let keys = s.path("keys");
    // room for the weights (56 kB) and calibration, not for the keys
    let limit = [("FHE_MEMORY_LIMIT", "10000000")];
    let model = ["--weights", FIXTURE, "--calibration", &calib];
    let mut args = vec!["keygen", "--out", &keys];
    args.extend(N13.iter().chain(&model));
    let e = fails_env(&args, &limit, 1, "key generation");
    assert!(
        e.contains("0.01 GB of memory available (FHE_MEMORY_LIMIT)"),
        "{e}"
    );
    assert!(
        !Path::new(&keys).exists(),
        "keys written despite the refusal"
    );
    let mut args = vec!["infer", "--image", "2"];
    args.extend(N13.iter().chain(&model));
    fails_env(
        &args,
        &limit,
        1,
        "the evaluation keys (expanded on the server) would take",
    );
    // an unparsable limit is an error, not ignored
    fails_env(
        &args,
        &[("FHE_MEMORY_LIMIT", "lots")],
        1,
        "not a byte count",
    );
}
