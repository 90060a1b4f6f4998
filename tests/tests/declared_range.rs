//! `check_input_range` / `check_declared_range`: value bounds propagated by interval
//! arithmetic through a `model!`'s steps must hold for every input in the declared range.
//!
//! - Randomized: a model using every kind of step (conv, square, rotate, add, packed
//!   linear, spatial sum, polynomial, dense, slot sum, diagonal), inputs sampled inside
//!   random per-slot intervals (corners included); every step's sampled magnitude
//!   (`check_ranges`) must stay within its propagated bound.
//! - A model with cancelling weights passes `check_ranges` on a mild sample but its worst
//!   case exceeds level 0's headroom: `check_declared_range` refuses it, naming the step.

use fhe_dsl::ckks::{Params, ParamsLiteral};
use fhe_dsl::nn::PackedLinear;
use fhe_dsl::tensor::Layout;
use fhe_dsl::typed::{Bounds, Conv, Dense, Diagonal, Linear, Poly, RangeLimits, SpatialSum};
use fhe_dsl::Error;
use rand::{Rng, SeedableRng};

fhe_macros::model! {
    pub struct Mixed { slots: 16, input_level: 11 }
    layers {
        c: Conv,
        lin: Linear,
        pool: SpatialSum,
        act: Poly(degree = 3),
        fc: Dense,
        d: Diagonal,
    }
    fn forward(x) {
        let a = c(x);          // 11 → 10, prepared for the square
        let s = square(a);     // 10 → 9
        let r = rotate(s, 3);
        let t = add(s, r);
        let u = lin(t);        // 9 → 8
        let p = pool(u);
        let v = act(p);        // 8 → 6
        let w = fc(v);         // 6 → 5
        let q = sum(w);
        let e = d(q);          // 5 → 4
        e
    }
}

/// test-small's ring with eleven 45-bit primes above q0: enough levels for `Mixed`.
fn params() -> Params {
    let mut lit = ParamsLiteral::test_small();
    lit.log_q = std::iter::once(55).chain([45; 11]).collect();
    lit.dnum = 6;
    Params::new_insecure_for_tests(lit).unwrap()
}

fn mixed(seed: u64) -> Mixed {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut w = |n: usize, s: f64| -> Vec<f64> { (0..n).map(|_| rng.gen_range(-s..s)).collect() };
    let l = Layout::multiplexed(1, 4, 4, 1).unwrap();
    let lw = w(9, 0.5);
    let map = PackedLinear::conv2d(&l, &l, 16, 3, 1, 1, |_, _, ky, kx| lw[ky * 3 + kx]).unwrap();
    Mixed {
        c: Conv::new(l, l, 3, 1, 1, w(9, 0.5), w(1, 0.5)).unwrap(),
        lin: Linear::new(map, w(16, 0.2)).unwrap(),
        pool: SpatialSum::new(l).unwrap(),
        act: Poly::new(w(4, 0.5)).unwrap(),
        fc: Dense::new(w(256, 0.3), w(16, 0.2)).unwrap(),
        d: Diagonal::new(w(16, 1.0), w(16, 0.2)).unwrap(),
    }
}

#[test]
fn sampled_values_never_exceed_the_propagated_bounds() {
    let params = params();
    let limits = RangeLimits::new(&params);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20);
    for seed in 0..8 {
        let model = mixed(seed);
        let lo: Vec<f64> = (0..16).map(|_| rng.gen_range(-1.5..0.5)).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + rng.gen_range(0.0..1.5)).collect();
        let bounds = Bounds::new(lo, hi).unwrap();
        let bound = model.check_input_range(&bounds, &limits).unwrap();
        assert_eq!(bound.len(), 11, "input and ten steps");
        for k in 0..200 {
            let x: Vec<f64> = (0..16)
                .map(|i| {
                    let (a, b) = (bounds.lo()[i], bounds.hi()[i]);
                    match (k + i) % 5 {
                        0 => a,
                        1 => b,
                        _ => rng.gen_range(a..=b),
                    }
                })
                .collect();
            let seen = model.check_ranges(&x, &limits).unwrap();
            for (s, b) in seen.iter().zip(&bound) {
                assert_eq!((s.value, s.op, s.level), (b.value, b.op, b.level));
                assert!(
                    s.max_abs <= b.max_abs,
                    "seed {seed}: `{}` ({}) reached {} beyond its bound {}",
                    s.value,
                    s.op,
                    s.max_abs,
                    b.max_abs
                );
            }
        }
    }
}

fhe_macros::model! {
    pub struct Cancel { slots: 8, input_level: 2 }
    layers { fc1: Dense, fc2: Dense }
    fn forward(x) {
        let h = fc1(x);
        let logits = fc2(h);
        logits
    }
}

#[test]
fn the_worst_case_is_refused_where_a_mild_sample_passes() {
    let params = Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap();
    let limits = RangeLimits::new(&params).with_input_range(1.0);
    // alternating signs: inputs of equal values cancel, inputs of alternating signs add up
    // to 8 · 40 = 320, beyond level 0's headroom (2^55 / 4Δ = 256)
    let w: Vec<f64> = (0..64)
        .map(|i| if i % 2 == 0 { 40.0 } else { -40.0 })
        .collect();
    let model = Cancel {
        fc1: Dense::new(w, vec![0.0; 8]).unwrap(),
        fc2: Dense::identity(),
    };
    let mild = [0.9; 8];
    let seen = model.check_ranges(&mild, &limits).unwrap();
    assert!(seen[1..].iter().all(|s| s.max_abs < 1e-9), "{seen:?}");

    let err = model.check_declared_range(&limits).unwrap_err();
    let msg = err.to_string();
    let Error::ValueRange {
        value,
        op,
        level,
        reached,
        limit,
        ..
    } = err
    else {
        panic!("{msg}")
    };
    assert_eq!(
        (value.as_str(), op.as_str(), level),
        ("logits", "fc2", 0),
        "{msg}"
    );
    assert!(
        (320.0..320.001).contains(&reached) && limit < 320.0,
        "{msg}"
    );
    assert!(msg.contains("declared input range"), "{msg}");
    // the worst case is real: the twin on the alternating input reaches it
    let worst: Vec<f64> = (0..8)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    assert!(model.check_ranges(&worst, &limits).is_err());
    // and a declared range that is narrow enough passes
    let narrow = RangeLimits::new(&params).with_input_range(0.5);
    assert!(model.check_declared_range(&narrow).is_ok());
    // no declared range: an error saying how to declare one
    let e = model
        .check_declared_range(&RangeLimits::new(&params))
        .unwrap_err();
    assert!(e.to_string().contains("with_input_range"), "{e}");
}
