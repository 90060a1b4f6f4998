//! An AESPA-style residual network written in `model!` with the layers a folded CNN
//! uses: `Linear` convolutions (per-slot bias), one-level `square`s whose scale the
//! producing layers prepare (through the residual `add`), a `Diagonal` shortcut,
//! `SpatialSum` pooling and a `Linear` head, with bootstraps placed by the macro.
//!
//! - Encrypted on the CPU backend at N = 2^11 (insecure test parameters) against the
//!   macro's float64 twin `forward_plain`, with random weights and inputs; bootstrapping
//!   is `DecryptReencryptTestDouble` (secret key; a TEST DOUBLE in `common.rs`), since the
//!   real one is covered end to end by the narrow ResNet-20 CLI test at N = 2^13.
//! - `forward_plain` against a direct float64 computation on unpacked C×H×W arrays
//!   written here, so the twin is not only checked against itself.
//! - `forward_observed` reports every step once, with the level the macro planned.

mod common;
use common::DecryptReencryptTestDouble;
use fhe_backend_cpu::CpuBackend;
use fhe_dsl::ckks::{Ciphertext, Ckks, KeyGenerator, Params, ParamsLiteral};
use fhe_dsl::nn::PackedLinear;
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Diagonal, EncVector, Linear, SpatialSum, StepInfo};
use rand::{Rng, SeedableRng};

const SLOTS: usize = 1024;
/// Channels, height, width of every activation; classes of the head.
const C: usize = 2;
const H: usize = 8;
const K: usize = 3;
/// Max |encrypted − `forward_plain`|: fresh CKKS noise at Δ = 2^45 through six levels
/// (measured 7.5e-12), with room to spare.
const BOUND: f64 = 1e-6;

fhe_macros::model! {
    /// stem → square → (conv → square → conv) + scaled skip → square → pool → head
    pub struct SquareNet {
        slots: 1024,
        input_level: 6,
        bootstrap_level: 6,
        auto_bootstrap,
    }
    layers {
        stem: Linear,
        conv1: Linear,
        conv2: Linear,
        skip: Diagonal,
        pool: SpatialSum,
        head: Linear,
    }
    fn forward(x) {
        let z0 = stem(x);      // 6 → 5, prepared for the square at 5
        let y0 = square(z0);   // 5 → 4
        let z1 = conv1(y0);
        let y1 = square(z1);
        let m = conv2(y1);     // main branch: 4 → 1
        let s = skip(y0);      // 4 → 3, lowered to 1 by the add
        let p = add(m, s);
        let y2 = square(p);    // 1 → 0
        let g = pool(y2);
        let out = head(g);     // needs a level: the macro bootstraps `g`
        out
    }
}

/// Conv weights `[co][ci][ky][kx]` and per-channel biases, as plain arrays.
struct ConvW {
    w: Vec<f64>,
    b: Vec<f64>,
}

/// Direct 3×3, stride 1, pad 1 convolution on `C × H × H` (row-major).
fn conv_direct(x: &[f64], cw: &ConvW) -> Vec<f64> {
    let mut y = vec![0.0; C * H * H];
    for co in 0..C {
        for i in 0..H {
            for j in 0..H {
                let mut acc = cw.b[co];
                for ci in 0..C {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (yy, xx) = (i + ky, j + kx);
                            if yy >= 1 && xx >= 1 && yy - 1 < H && xx - 1 < H {
                                acc += cw.w[((co * C + ci) * 3 + ky) * 3 + kx]
                                    * x[(ci * H + yy - 1) * H + xx - 1];
                            }
                        }
                    }
                }
                y[(co * H + i) * H + j] = acc;
            }
        }
    }
    y
}

struct Net {
    model: SquareNet,
    layout: Layout,
    convs: [ConvW; 3],
    skip: Vec<f64>,
    head: Vec<f64>,
}

fn net(seed: u64) -> Net {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let layout = Layout::multiplexed(C, H, H, 1).unwrap();
    let mut conv = |scale: f64| ConvW {
        w: (0..C * C * 9)
            .map(|_| rng.gen_range(-scale..scale))
            .collect(),
        b: (0..C).map(|_| rng.gen_range(-0.1..0.1)).collect(),
    };
    // Σ|w| ≤ 18·scale keeps every value within about [-1, 1]
    let convs = [conv(0.05), conv(0.05), conv(0.05)];
    let skip: Vec<f64> = (0..C).map(|_| rng.gen_range(0.5..1.0)).collect();
    let head: Vec<f64> = (0..K * C).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let linear = |cw: &ConvW| {
        let m = PackedLinear::conv2d(&layout, &layout, SLOTS, 3, 1, 1, |co, ci, ky, kx| {
            cw.w[((co * C + ci) * 3 + ky) * 3 + kx]
        })
        .unwrap();
        Linear::new(m, layout.per_channel(&cw.b, SLOTS).unwrap()).unwrap()
    };
    let hw = (H * H) as f64;
    let terms = (0..K).flat_map(|k| (0..C).map(move |c| (k, c)));
    let terms: Vec<(usize, usize, f64)> = terms
        .map(|(k, c)| (k, layout.slot(c, 0, 0), head[k * C + c] / hw))
        .collect();
    let head_map = PackedLinear::from_terms(layout.period(), 4, SLOTS, terms)
        .unwrap()
        .without_replication();
    let model = SquareNet {
        stem: linear(&convs[0]),
        conv1: linear(&convs[1]),
        conv2: linear(&convs[2]),
        skip: Diagonal::new(layout.per_channel(&skip, SLOTS).unwrap(), vec![0.0; SLOTS]).unwrap(),
        pool: SpatialSum::new(layout).unwrap(),
        head: Linear::new(head_map, vec![0.0; SLOTS]).unwrap(),
    };
    Net {
        model,
        layout,
        convs,
        skip,
        head,
    }
}

/// The network on unpacked arrays: the independent reference for `forward_plain`.
fn direct(n: &Net, x: &[f64]) -> Vec<f64> {
    let sq = |v: Vec<f64>| v.into_iter().map(|a| a * a).collect::<Vec<_>>();
    let y0 = sq(conv_direct(x, &n.convs[0]));
    let y1 = sq(conv_direct(&y0, &n.convs[1]));
    let m = conv_direct(&y1, &n.convs[2]);
    let p: Vec<f64> = (0..C * H * H)
        .map(|i| m[i] + n.skip[i / (H * H)] * y0[i])
        .collect();
    let y2 = sq(p);
    (0..K)
        .map(|k| {
            (0..C)
                .map(|c| {
                    let mean = y2[c * H * H..(c + 1) * H * H].iter().sum::<f64>() / (H * H) as f64;
                    n.head[k * C + c] * mean
                })
                .sum()
        })
        .collect()
}

#[test]
fn macro_plan_for_the_square_network() {
    assert_eq!(SquareNet::BOOTSTRAPS, 1);
    // as late as possible: after the pooling (rotations only), before the head
    assert_eq!(SquareNet::AUTO_BOOTSTRAPPED, &["g"]);
    assert_eq!(SquareNet::OUTPUT_LEVEL, 5);
    assert_eq!(SquareNet::STEPS, 11);
    let level = |v: &str| SquareNet::LEVELS.iter().find(|e| e.0 == v).unwrap().1;
    assert_eq!(
        (level("y0"), level("s"), level("p"), level("y2"), level("g")),
        (4, 3, 1, 0, 6)
    );
}

#[test]
fn square_network_encrypted_matches_twin_and_twin_matches_direct() {
    let n = net(7);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let image: Vec<f64> = (0..C * H * H).map(|_| rng.gen_range(0.0..1.0)).collect();
    let packed = n.layout.pack(&image, SLOTS).unwrap();
    let plain = n.model.forward_plain(&packed);
    let want = direct(&n, &image);
    for k in 0..K {
        assert!(
            (plain[k] - want[k]).abs() < 1e-12,
            "{} vs {}",
            plain[k],
            want[k]
        );
    }

    let params = Params::new_insecure_for_tests(ParamsLiteral {
        log_n: 11,
        log_q: vec![60, 45, 45, 45, 45, 45, 45],
        log_p: vec![61, 61],
        level_primes: None,
        dnum: 4,
        log_scale: 45,
        secret: Default::default(),
    })
    .unwrap();
    let ckks = Ckks::new(params, CpuBackend::new());
    let mut kg = KeyGenerator::from_seed(&ckks, 11);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let ev = ckks
        .evaluator(&kg.evaluation_keys(&sk, &n.model.key_request()).unwrap())
        .unwrap();
    let bt = DecryptReencryptTestDouble {
        ckks: ckks.clone(),
        dec: ckks.decryptor(&sk),
        pk: pk.clone(),
    };
    let x: EncVector<CpuBackend, SLOTS, 6> =
        EncVector::encrypt(&ckks, &ckks.encryptor(&pk), &packed).unwrap();
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut obs = |s: &StepInfo<'_>, ct: &Ciphertext<CpuBackend>| -> fhe_dsl::Result<()> {
        assert_eq!(s.index, seen.len());
        assert_eq!(s.of, SquareNet::STEPS);
        assert_eq!(ct.level(), s.level);
        seen.push((s.value.to_string(), s.level));
        Ok(())
    };
    let y: EncVector<CpuBackend, SLOTS, 5> = n
        .model
        .forward_observed(&ev, &bt, x.clone(), &mut obs)
        .unwrap();
    assert_eq!(seen.len(), SquareNet::STEPS);
    assert_eq!(seen[7], ("y2".to_string(), 0)); // squared at level 1
    assert_eq!(seen[8], ("g".to_string(), 0)); // pooled
    assert_eq!(seen[9], ("g".to_string(), 6)); // then bootstrapped
    assert_eq!(seen.last().unwrap(), &("out".to_string(), 5));
    // the square kept the input's scale
    assert!((y.scale() / x.scale() - 1.0).abs() < 1e-9);
    let got = y.decrypt(&ckks.decryptor(&sk)).unwrap();
    let err = (0..K).fold(0.0f64, |m, k| m.max((got[k] - plain[k]).abs()));
    eprintln!("square network: max |encrypted − plain| = {err:.3e}");
    assert!(err < BOUND, "max error {err:e}");
    // without the layers' rotation keys the pass is a runtime error, not garbage
    let bare = ckks
        .evaluator(
            &kg.evaluation_keys(
                &sk,
                &fhe_dsl::ckks::KeyRequest::new()
                    .relin()
                    .rotations(SquareNet::ROTATIONS.iter().copied()),
            )
            .unwrap(),
        )
        .unwrap();
    let e = n.model.forward(&bare, &bt, x).unwrap_err();
    assert!(e.to_string().contains("key"), "{e}");
}
