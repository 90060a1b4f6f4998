//! Encrypted CNN layers (fhe_dsl::nn) against their cleartext twins at a small ring:
//! 3×3 convolutions at stride 1 and 2 (into the next gap of the multiplexed layout),
//! a 1×1 stride-2 projection, a square, a spatial sum and 2×2 average pooling. Inputs
//! and weights are random; the bound is absolute, on values of magnitude ~1.

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::ckks::{Ckks, KeyGenerator, KeyRequest, Params, ParamsLiteral};
use fhe_dsl::nn::{spatial_sum, spatial_sum_plain, spatial_sum_steps, square, PackedLinear};
use fhe_dsl::tensor::Layout;
use rand::{Rng, SeedableRng};

/// Encrypted outputs must match the float64 twin to this absolute error (Δ = 2^45).
const BOUND: f64 = 1e-7;

fn params() -> Params {
    Params::new_insecure_for_tests(ParamsLiteral {
        log_n: 12,
        log_q: vec![60, 45, 45, 45],
        log_p: vec![61, 61],
        level_primes: None,
        dnum: 2,
        log_scale: 45,
        secret: Default::default(),
    })
    .unwrap()
}

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

/// 2×2 stride-2 average pooling, encrypted, against a direct computation on the
/// unpacked tensor.
#[test]
fn average_pooling_matches_a_direct_computation() {
    let ckks = Ckks::new(params(), CpuBackend::new());
    let slots = ckks.params().max_slots();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    let (lin, lout) = (
        Layout::multiplexed(4, 16, 16, 1).unwrap(),
        Layout::multiplexed(4, 8, 8, 2).unwrap(),
    );
    let pool = PackedLinear::avg_pool2d(&lin, &lout, slots, 2, 2).unwrap();
    let x: Vec<f64> = (0..lin.len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let direct: Vec<f64> = (0..4 * 8 * 8)
        .map(|i| {
            let (c, y, xx) = (i / 64, (i / 8) % 8, i % 8);
            let at = |dy: usize, dx: usize| x[(c * 16 + 2 * y + dy) * 16 + 2 * xx + dx];
            (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4.0
        })
        .collect();
    let packed = lin.pack(&x, slots).unwrap();
    let twin = lout.unpack(&pool.apply_plain(&packed)).unwrap();
    assert!(max_err(&twin, &direct) < 1e-12);
    let mut kg = KeyGenerator::from_seed(&ckks, 18);
    let sk = kg.secret_key();
    let evk = kg
        .evaluation_keys(&sk, &KeyRequest::new().rotations(pool.rotations()))
        .unwrap();
    let eval = ckks.evaluator(&evk).unwrap();
    let top = ckks.params().max_level();
    let pt = ckks
        .encode_real(&packed, top, ckks.params().default_scale())
        .unwrap();
    let ct = ckks
        .encryptor(&kg.public_key(&sk).unwrap())
        .encrypt(&pt)
        .unwrap();
    let y = pool
        .apply(&eval, &ct, ckks.params().rescale_divisor(top))
        .unwrap();
    let got = lout
        .unpack(&ckks.decryptor(&sk).decrypt_real(&y).unwrap())
        .unwrap();
    let err = max_err(&got, &direct);
    assert!(err < BOUND, "average pooling: max error {err:e}");
}

#[test]
fn convolutions_square_and_pooling_match_cleartext() {
    let ckks = Ckks::new(params(), CpuBackend::new());
    let slots = ckks.params().max_slots(); // 2048
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    // (name, input layout, output layout, kernel, stride, pad)
    let l8 = Layout::multiplexed(4, 16, 16, 1).unwrap(); // 1024 slots
    let l8g = Layout::multiplexed(8, 8, 8, 2).unwrap(); // stride-2 output, gap 2
    let cases = [
        ("conv3x3 s1", l8, l8, 3, 1, 1),
        ("conv3x3 s2", l8, l8g, 3, 2, 1),
        ("proj1x1 s2", l8, l8g, 1, 2, 0),
        ("conv3x3 s1 gap2", l8g, l8g, 3, 1, 1),
    ];
    let maps: Vec<PackedLinear> = cases
        .iter()
        .map(|&(_, lin, lout, k, s, p)| {
            let w: Vec<f64> = (0..lout.channels() * lin.channels() * k * k)
                .map(|_| rng.gen_range(-0.3..0.3))
                .collect();
            let ci = lin.channels();
            PackedLinear::conv2d(&lin, &lout, slots, k, s, p, move |a, b, c, d| {
                w[((a * ci + b) * k + c) * k + d]
            })
            .unwrap()
        })
        .collect();
    let mut steps: Vec<i64> = maps.iter().flat_map(|m| m.rotations()).collect();
    steps.extend(spatial_sum_steps(&l8g));
    let mut kg = KeyGenerator::from_seed(&ckks, 8);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let evk = kg
        .evaluation_keys(&sk, &KeyRequest::new().relin().rotations(steps))
        .unwrap();
    let eval = ckks.evaluator(&evk).unwrap();
    let dec = ckks.decryptor(&sk);
    let top = ckks.params().max_level();
    for ((name, lin, _, _, _, _), m) in cases.iter().zip(&maps) {
        let x: Vec<f64> = (0..lin.len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let packed = lin.pack(&x, slots).unwrap();
        let ct = ckks
            .encryptor(&pk)
            .encrypt(
                &ckks
                    .encode_real(&packed, top, ckks.params().default_scale())
                    .unwrap(),
            )
            .unwrap();
        let q = ckks.params().rescale_divisor(top);
        let y = m.apply(&eval, &ct, q).unwrap();
        assert_eq!(y.level(), top - 1);
        let want = m.apply_plain(&packed);
        let err = max_err(&dec.decrypt_real(&y).unwrap(), &want);
        assert!(err < BOUND, "{name}: max error {err:e}");
        // square of the conv output, then the per-channel spatial sum
        if *name == "conv3x3 s1 gap2" {
            let sq = square(&eval, &y).unwrap();
            let want_sq: Vec<f64> = want.iter().map(|v| v * v).collect();
            let err = max_err(&dec.decrypt_real(&sq).unwrap(), &want_sq);
            assert!(err < BOUND, "square: max error {err:e}");
            let pooled = spatial_sum(&eval, &sq, lin).unwrap();
            let want_pool = spatial_sum_plain(&want_sq, lin).unwrap();
            let got = dec.decrypt_real(&pooled).unwrap();
            for c in 0..lin.channels() {
                let s = lin.slot(c, 0, 0);
                assert!(
                    (got[s] - want_pool[s]).abs() < 64.0 * BOUND,
                    "pool channel {c}: {} vs {}",
                    got[s],
                    want_pool[s]
                );
            }
        }
    }
}
