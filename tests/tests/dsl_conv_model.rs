//! A small CNN written in the DSL (`fhe_macros::model!` with `Conv` layers over
//! `fhe_dsl::typed`) on a real Fashion-MNIST test image: two conv–activation blocks, an
//! explicit bootstrap and a residual add.
//!
//! - On the CPU backend with the real bootstrapper (`boot-small`: N = 2^12, 2048 slots,
//!   3 levels after bootstrapping, insecure test parameters) the decrypted output
//!   matches the macro's float64 reference `forward_plain` within [`BOUND`].
//! - `forward_plain` itself matches a naive float64 convolution written here, on the
//!   unpacked tensor, so the reference is not only the packed twin of itself.
//! - The same generic function runs the model on the reference backend. Bootstrapping
//!   there uses `DecryptReencryptTestDouble` (it holds the secret key; a TEST DOUBLE
//!   in `common.rs`, nowhere in library code): the real bootstrapper on the unoptimised
//!   reference backend would take minutes, and the CPU test already covers it. This run
//!   checks the level/scale/key logic and the numbers on a second backend type, with
//!   exactly the keys `key_request` asks for.

mod common;
use common::DecryptReencryptTestDouble;
use fhe_backend_cpu::CpuBackend;
use fhe_dsl::backend::{reference::ReferenceBackend, Backend};
use fhe_dsl::circuits::bootstrap::BootstrapPreset;
use fhe_dsl::circuits::{Bootstrapper, BootstrappingKeys};
use fhe_dsl::ckks::{
    Ckks, Evaluator, KeyGenerator, KeyRequest, Params, ParamsLiteral, PublicKey, SecretKey,
};
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Bootstrap, Conv, EncVector, LeveledBootstrapper, Poly};
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// Max |encrypted − `forward_plain`| over all slots with the real bootstrapper: what
/// boot-small guarantees (≥ 20 bits, ≈ 1e-6, on values in [-1, 1]; `a1` stays within
/// [-0.15, 0.96]) carried through conv2 (Σ|w| ≤ 1), act2 (slope ≤ 1.5 on its range)
/// and the residual add, with room to spare. Measured: ≈ 1.4e-9, no more than the run
/// with the exact test double below.
const BOUND: f64 = 1e-5;
/// The same with the exact (decrypt/re-encrypt) test double: only CKKS noise at
/// Δ = 2^45 (measured ≈ 1.5e-9).
const BOUND_EXACT: f64 = 1e-7;

const SLOTS: usize = 2048;
/// The level the input is encrypted at and a bootstrap returns (boot-small's).
const LEVEL: usize = 3;

fhe_macros::model! {
    /// Two conv–activation blocks with an explicit bootstrap and a residual add.
    pub struct ConvResNet {
        slots: 2048,
        input_level: 3,
        bootstrap_level: 3,
    }
    layers {
        conv1: Conv,              // 1×28×28 → 4×14×14 (stride 2, into the gap-2 layout)
        act1: Poly(degree = 2),
        conv2: Conv,              // 4×14×14 → 4×14×14
        act2: Poly(degree = 2),
    }
    fn forward(x) {
        let c1 = conv1(x);        // level 3 → 2
        let a1 = act1(c1);        // 2 → 0
        let b1 = bootstrap(a1);   // → 3
        let c2 = conv2(b1);       // 3 → 2
        let a2 = act2(c2);        // 2 → 0
        let r = add(a2, b1);      // residual: b1 lowered to level 0 for free
        r
    }
}

/// Fashion-MNIST image `index` from the bundled idx file, as 28×28 values in [0, 1].
fn fashion_image(index: usize) -> Vec<f64> {
    let raw: &[u8] = include_bytes!("../../models/data/fashion-mnist-test-64.idx3");
    let be32 = |o: usize| u32::from_be_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
    assert_eq!(be32(0), 0x0803, "idx3 magic");
    let (count, rows, cols) = (be32(4) as usize, be32(8) as usize, be32(12) as usize);
    assert_eq!((rows, cols), (28, 28));
    assert!(index < count && raw.len() == 16 + count * 784);
    raw[16 + index * 784..16 + (index + 1) * 784]
        .iter()
        .map(|&p| f64::from(p) / 255.0)
        .collect()
}

fn layouts() -> (Layout, Layout) {
    (
        Layout::multiplexed(1, 28, 28, 1).unwrap(), // period 1024
        Layout::multiplexed(4, 14, 14, 2).unwrap(), // 4 channels in one 28×28 grid: 1024
    )
}

/// Deterministic weights scaled so that every value stays in about [-1, 1] where it is
/// bootstrapped: conv outputs are bounded by Σ|w|·max|x| + |b| ≤ 1.1.
fn model() -> ConvResNet {
    let (l_in, l_mid) = layouts();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let mut uniform = |n: usize, scale: f64| -> Vec<f64> {
        (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
    };
    let w1 = uniform(4 * 9, 1.0 / 9.0);
    let b1 = uniform(4, 0.1);
    let w2 = uniform(4 * 4 * 9, 1.0 / 36.0);
    let b2 = uniform(4, 0.1);
    ConvResNet {
        conv1: Conv::new(l_in, l_mid, 3, 2, 1, w1, b1).unwrap(),
        act1: Poly::new(vec![0.1, 0.5, 0.25]).unwrap(),
        conv2: Conv::new(l_mid, l_mid, 3, 1, 1, w2, b2).unwrap(),
        act2: Poly::new(vec![0.0, 0.8, 0.3]).unwrap(),
    }
}

/// Naive direct convolution on a `C·H·W` array (zero padding), independent of packing.
#[allow(clippy::too_many_arguments)]
fn conv_direct(
    x: &[f64],
    (ci_n, h, w): (usize, usize, usize),
    wt: &[f64],
    bias: &[f64],
    k: usize,
    stride: usize,
    pad: usize,
) -> Vec<f64> {
    let oh = (h + 2 * pad - k) / stride + 1;
    let ow = (w + 2 * pad - k) / stride + 1;
    let mut out = vec![0.0; bias.len() * oh * ow];
    for (co, b) in bias.iter().enumerate() {
        for y in 0..oh {
            for xx in 0..ow {
                let mut s = *b;
                for ci in 0..ci_n {
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (y * stride + ky) as i64 - pad as i64;
                            let ix = (xx * stride + kx) as i64 - pad as i64;
                            if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                continue;
                            }
                            s += wt[((co * ci_n + ci) * k + ky) * k + kx]
                                * x[(ci * h + iy as usize) * w + ix as usize];
                        }
                    }
                }
                out[(co * oh + y) * ow + xx] = s;
            }
        }
    }
    out
}

/// The model's pass on the unpacked `4×14×14` tensor, in plain float64.
fn naive_forward(m: &ConvResNet, image: &[f64]) -> Vec<f64> {
    let poly = |c: &[f64], v: &[f64]| -> Vec<f64> {
        v.iter()
            .map(|&x| c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci))
            .collect()
    };
    let c1 = conv_direct(
        image,
        (1, 28, 28),
        m.conv1.weights(),
        m.conv1.bias(),
        3,
        2,
        1,
    );
    let a1 = poly(m.act1.coeffs(), &c1);
    let c2 = conv_direct(&a1, (4, 14, 14), m.conv2.weights(), m.conv2.bias(), 3, 1, 1);
    let a2 = poly(m.act2.coeffs(), &c2);
    a2.iter().zip(&a1).map(|(a, b)| a + b).collect()
}

fn max_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max)
}

/// Client encrypts, server runs `forward`, client decrypts: one generic source for every
/// backend and every bootstrapper.
fn encrypted_forward<B: Backend, Bt: Bootstrap<B, LEVEL>>(
    model: &ConvResNet,
    ckks: &Ckks<B>,
    (pk, sk): (&PublicKey, &SecretKey),
    ev: &Evaluator<B>,
    bt: &Bt,
    packed: &[f64],
) -> fhe_dsl::Result<Vec<f64>> {
    let x: EncVector<B, SLOTS, LEVEL> = EncVector::encrypt(ckks, &ckks.encryptor(pk), packed)?;
    let y: EncVector<B, SLOTS, 0> = model.forward(ev, bt, x)?;
    y.decrypt(&ckks.decryptor(sk))
}

#[test]
fn model_constants_and_keys_describe_the_conv_program() {
    assert_eq!(ConvResNet::SLOTS, SLOTS);
    assert_eq!(ConvResNet::INPUT_LEVEL, LEVEL);
    assert_eq!(ConvResNet::BOOTSTRAP_LEVEL, LEVEL);
    assert_eq!(ConvResNet::OUTPUT_LEVEL, 0);
    assert_eq!(ConvResNet::BOOTSTRAPS, 1);
    assert_eq!(
        ConvResNet::LEVELS,
        &[
            ("x", 3),
            ("c1", 2),
            ("a1", 0),
            ("b1", 3),
            ("c2", 2),
            ("a2", 0),
            ("r", 0)
        ]
    );
    // only the convolutions rotate, and their steps are runtime data
    assert!(ConvResNet::ROTATIONS.is_empty());
    const { assert!(ConvResNet::NEEDS_RELIN) };
    let m = model();
    let mut want: Vec<i64> = m.conv1.rotations();
    want.extend(m.conv2.rotations());
    want.sort_unstable();
    want.dedup();
    assert!(!want.is_empty());
    assert_eq!(m.rotations_for(), want);
    // keys only up to level 3, where both convolutions run
    let req = m.key_request();
    assert!(req.relin && req.rotations.is_empty());
    let mut steps: Vec<i64> = req.rotations_up_to.iter().map(|&(k, _)| k).collect();
    steps.sort_unstable();
    steps.dedup();
    assert_eq!(steps, want);
    assert!(req.rotations_up_to.iter().all(|&(_, level)| level == LEVEL));
    assert!(ConvResNet::ROTATIONS.is_empty());
}

#[test]
fn forward_plain_matches_a_naive_convolution_on_a_fashion_image() {
    let m = model();
    let (l_in, l_mid) = layouts();
    for index in [0, 1, 7] {
        let image = fashion_image(index);
        let plain = m.forward_plain(&l_in.pack(&image, SLOTS).unwrap());
        let want = naive_forward(&m, &image);
        // both copies of the packed output hold the tensor
        for copy in plain.chunks(l_mid.period()) {
            let err = max_err(&l_mid.unpack(copy).unwrap(), &want);
            assert!(err < 1e-12, "image {index}: packed vs naive {err:e}");
        }
        // the bootstrapped value a1 stays where boot-small's sine is fitted
        let a1 = m
            .act1
            .apply_plain(&m.conv1.apply_plain(&l_in.pack(&image, SLOTS).unwrap()));
        assert!(a1.iter().all(|v| v.abs() <= 1.0), "image {index}");
    }
}

#[test]
fn conv_model_on_a_fashion_image_matches_plaintext_on_cpu_with_real_bootstrapping() {
    let t0 = Instant::now();
    let m = model();
    let (l_in, _) = layouts();
    let preset = BootstrapPreset::by_name("boot-small").unwrap();
    assert_eq!(preset.config.slots(), SLOTS);
    let params = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    let ckks = Ckks::new(params, CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 5);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    // bootstrapping's keys plus exactly the model's own
    let keys =
        BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &m.key_request()).unwrap();
    let bs = Bootstrapper::new(&ckks, preset.config.clone(), &keys).unwrap();
    let bt = LeveledBootstrapper::<CpuBackend, LEVEL>::new(&bs).unwrap();
    let setup = t0.elapsed();

    let packed = l_in.pack(&fashion_image(0), SLOTS).unwrap();
    let t1 = Instant::now();
    let got = encrypted_forward(&m, &ckks, (&pk, &sk), bs.evaluator(), &bt, &packed).unwrap();
    let run = t1.elapsed();
    let err = max_err(&got, &m.forward_plain(&packed));
    eprintln!(
        "cpu, boot-small: max |encrypted − plain| = {err:.3e} over {SLOTS} slots \
         (keys + bootstrapper {setup:.1?}, encrypted forward {run:.1?})"
    );
    assert!(err < BOUND, "max error {err:e}");
}

#[test]
fn same_source_runs_on_the_reference_backend_with_exactly_its_keys() {
    let t0 = Instant::now();
    let m = model();
    let (l_in, _) = layouts();
    // N = 2^12 (2048 slots) like boot-small, levels 0..=5
    let params = Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap();
    let ckks = Ckks::new(params, ReferenceBackend);
    let mut kg = KeyGenerator::from_seed(&ckks, 6);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let bt = DecryptReencryptTestDouble {
        ckks: ckks.clone(),
        dec: ckks.decryptor(&sk),
        pk: pk.clone(),
    };
    let packed = l_in.pack(&fashion_image(3), SLOTS).unwrap();

    // keys for the static rotations only (none: the convolutions' depend on their
    // layouts) are a runtime error that names the step, the layer and the remedy
    let without = ckks
        .evaluator(
            &kg.evaluation_keys(
                &sk,
                &KeyRequest::new()
                    .relin()
                    .rotations(ConvResNet::ROTATIONS.iter().copied()),
            )
            .unwrap(),
        )
        .unwrap();
    let e = encrypted_forward(&m, &ckks, (&pk, &sk), &without, &bt, &packed).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("step `c1` (conv1): missing rotation key"),
        "{msg}"
    );
    assert!(msg.contains("key_request()"), "{msg}");
    assert!(matches!(e.root(), fhe_dsl::Error::MissingKey(_)), "{e:?}");

    let ev = ckks
        .evaluator(&kg.evaluation_keys(&sk, &m.key_request()).unwrap())
        .unwrap();
    let got = encrypted_forward(&m, &ckks, (&pk, &sk), &ev, &bt, &packed).unwrap();
    let err = max_err(&got, &m.forward_plain(&packed));
    eprintln!(
        "reference backend, test-double bootstrap: max |encrypted − plain| = {err:.3e} ({:.1?})",
        t0.elapsed()
    );
    assert!(err < BOUND_EXACT, "max error {err:e}");
}
