//! The cost-only interpreter (`fhe_dsl::model::cost`) against the backend calls an
//! encrypted forward pass really makes, counted by `CountingBackend` at the `Backend`
//! trait boundary: equal per plan step, per primitive and per limb count, on two small
//! `model!` models at N = 2^12 (test-small parameters, insecure):
//!
//! - `CostNet` (CPU backend, 256 slots): two convolutions, a one-level square, a residual
//!   `add` with a level drop, a spatial sum, a `Linear` head with output
//!   replication, a `rotate` and a `sum`;
//! - `CostMlp` (reference backend, 16 slots): `Dense`, a degree-3 `Poly` with a zero
//!   coefficient, `Diagonal`.
//!
//! Encryption happens before the counter is reset; the counts cover the forward pass
//! only (plaintext encodings inside it included: `upload` + `ntt` each).

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::backend::{reference::ReferenceBackend, Backend};
use fhe_dsl::ckks::{Ciphertext, Ckks, Params, ParamsLiteral};
use fhe_dsl::model::{cost, CountingBackend, Counts};
use fhe_dsl::nn::PackedLinear;
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Conv, Dense, Diagonal, EncVector, Linear, Poly, SpatialSum, StepInfo};

fhe_macros::model! {
    struct CostNet { slots: 256, input_level: 5 }
    layers { conv1: Conv, conv2: Conv, pool: SpatialSum, head: Linear }
    fn forward(x) {
        let c1 = conv1(x);    // 5 → 4, prepared for the square
        let s = square(c1);   // 4 → 3
        let c2 = conv2(s);    // 3 → 2
        let r = add(c2, s);   // s dropped to 2
        let p = pool(r);
        let h = head(p);      // 2 → 1
        let t = rotate(h, 3);
        let u = sum(t);
        u
    }
}

fhe_macros::model! {
    struct CostMlp { slots: 16, input_level: 5 }
    layers { fc: Dense, act: Poly(degree = 3), diag: Diagonal }
    fn forward(x) {
        let a = fc(x);        // 5 → 4
        let b = act(a);       // 4 → 1
        let d = diag(b);      // 1 → 0
        d
    }
}

fn params() -> Params {
    Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap()
}

fn wave(n: usize, k: f64) -> Vec<f64> {
    (0..n).map(|i| ((i as f64 + 1.0) * k).sin() * 0.3).collect()
}

/// The per-step counts observed, and the total, of `run` on a fresh counter.
fn observe<B: Backend>(
    be: &CountingBackend<B>,
    run: impl FnOnce(
        &mut dyn FnMut(&StepInfo<'_>, &Ciphertext<CountingBackend<B>>) -> fhe_dsl::Result<()>,
    ),
) -> (Vec<Counts>, Counts) {
    be.reset();
    let mut steps = Vec::new();
    let mut total = Counts::new();
    let mut obs = |s: &StepInfo<'_>, _: &Ciphertext<CountingBackend<B>>| {
        assert_eq!(s.index, steps.len());
        let c = be.take();
        total.merge(&c);
        steps.push(c);
        Ok(())
    };
    run(&mut obs);
    assert!(be.counts().is_empty(), "calls after the last step");
    (steps, total)
}

fn assert_matches(name: &str, got: &(Vec<Counts>, Counts), want: &fhe_dsl::model::Cost) {
    assert_eq!(got.0.len(), want.steps.len(), "{name}: steps");
    for (g, w) in got.0.iter().zip(&want.steps) {
        assert_eq!(
            g, &w.counts,
            "{name}: step {} ({} = {}) at level {}:\nobserved\n{g}predicted\n{}",
            w.step, w.value, w.callee, w.level, w.counts
        );
    }
    assert_eq!(got.1, want.total, "{name}: total");
    eprintln!(
        "{name}: {} backend calls predicted exactly\n{}",
        want.total.total(),
        want.total
    );
}

#[test]
fn cost_interpreter_counts_every_backend_call_of_a_conv_net() {
    let l1 = Layout::multiplexed(1, 8, 8, 1).unwrap();
    // 16 channels of 4×4 in the gap-2 multiplexed layout (period 256)
    let l4 = Layout::multiplexed(16, 4, 4, 2).unwrap();
    let terms = (0..4).flat_map(|co| (0..16).map(move |ci| (co, l4.slot(ci, 0, 0), 0.05)));
    let model = CostNet {
        conv1: Conv::new(l1, l4, 3, 2, 1, wave(16 * 9, 0.7), wave(16, 0.9)).unwrap(),
        conv2: Conv::new(l4, l4, 3, 1, 1, wave(16 * 16 * 9, 0.3), vec![0.0; 16]).unwrap(),
        pool: SpatialSum::new(l4).unwrap(),
        head: Linear::new(
            PackedLinear::from_terms(256, 4, 256, terms).unwrap(),
            vec![0.05; 256],
        )
        .unwrap(),
    };
    let be = CountingBackend::new(CpuBackend::new());
    let ckks = Ckks::new(params(), be.clone());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let ev = ckks
        .evaluator(&kg.evaluation_keys(&sk, &model.key_request()).unwrap())
        .unwrap();
    let input = l1.pack(&wave(64, 0.1), 256).unwrap();
    let x: EncVector<_, 256, 5> =
        EncVector::encrypt(&ckks, &ckks.encryptor(&kg.public_key(&sk).unwrap()), &input).unwrap();
    let mut y = None;
    let got = observe(&be, |obs| {
        y = Some(model.forward_observed(&ev, x, &mut &mut *obs).unwrap());
    });
    let want = cost(&model, ckks.params()).unwrap();
    assert_matches("CostNet", &got, &want);
    // the pass did what its twin does
    let y: EncVector<_, 256, 1> = y.unwrap();
    let dec = y.decrypt(&ckks.decryptor(&sk)).unwrap();
    let plain = model.forward_plain(&input);
    let err = dec
        .iter()
        .zip(&plain)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(err < 1e-3, "CostNet: max error {err}");
    // double hoisting ran: baby products accumulated over Q·P (Q_l has l + 1 limbs
    // here, P two)
    let c1 = &want.steps[0].counts;
    assert!(
        c1.get("mul_add_terms", 5 + 1 + 2) > 0,
        "conv1 over Q·P:\n{c1}"
    );
    assert!(c1.get("rotate_extended", 5 + 1) > 0, "{c1}");
    // and conv2 (many diagonals per baby step, at level 3) brings its babies down: every
    // diagonal encoded over Q_3 only, each baby rotation divided by P right away
    let c2 = &want.steps[2].counts;
    assert!(c2.get("rotate_extended", 3 + 1) > 0, "{c2}");
    assert_eq!(c2.get("upload", 3 + 1 + 2), 0, "conv2 brought down:\n{c2}");
}

#[test]
fn cost_interpreter_counts_every_backend_call_of_an_mlp() {
    let n = 16;
    let mut w = vec![0.0; n * n];
    for r in 0..n {
        w[r * n + r] = 0.5;
        w[r * n + (r + 3) % n] = 0.25;
    }
    let model = CostMlp {
        fc: Dense::new(w, vec![0.1; n]).unwrap(),
        act: Poly::new(vec![0.1, 0.5, 0.0, 0.2]).unwrap(),
        diag: Diagonal::new(wave(n, 0.4), vec![0.0; n]).unwrap(),
    };
    let be = CountingBackend::new(ReferenceBackend);
    let ckks = Ckks::new(params(), be.clone());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let ev = ckks
        .evaluator(&kg.evaluation_keys(&sk, &model.key_request()).unwrap())
        .unwrap();
    let input = wave(n, 0.2);
    let x: EncVector<_, 16, 5> =
        EncVector::encrypt(&ckks, &ckks.encryptor(&kg.public_key(&sk).unwrap()), &input).unwrap();
    let mut y = None;
    let got = observe(&be, |obs| {
        y = Some(model.forward_observed(&ev, x, &mut &mut *obs).unwrap());
    });
    let want = cost(&model, ckks.params()).unwrap();
    assert_matches("CostMlp", &got, &want);
    let y: EncVector<_, 16, 0> = y.unwrap();
    let dec = y.decrypt(&ckks.decryptor(&sk)).unwrap();
    for (a, b) in dec.iter().zip(model.forward_plain(&input)) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
}
