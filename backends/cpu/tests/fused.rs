//! The fused coarse operations against the reference backend's composed defaults, on
//! shapes the conformance suite does not reach: galois permutations inside the inner
//! product, several hoisted keys, ModDown by several primes, levels below the top.

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::backend::reference::ReferenceBackend;
use fhe_dsl::backend::Backend;
use fhe_dsl::conformance::{random_poly, suite_params};
use fhe_dsl::ring::RnsPoly;

fn key(
    ctx: &fhe_dsl::ring::RingContext,
    qp: &[usize],
    digits: usize,
    seed: u8,
) -> Vec<(RnsPoly, RnsPoly)> {
    (0..digits)
        .map(|j| {
            let s = seed.wrapping_add(2 * j as u8);
            (
                random_poly(ctx, qp, s),
                random_poly(ctx, qp, s.wrapping_add(1)),
            )
        })
        .collect()
}

#[test]
fn key_switch_and_inner_product_match_reference() {
    let (r, c) = (ReferenceBackend, CpuBackend::new());
    for log_n in [10u32, 12] {
        let params = suite_params(log_n);
        let ctx = params.ring();
        let alpha = params.alpha();
        let nq = ctx.num_q();
        let qp_full: Vec<usize> = (0..ctx.moduli().len()).collect();
        let k = key(ctx, &qp_full, nq.div_ceil(alpha), 40);
        for l in [nq, nq - 1, 2, 1] {
            let q: Vec<usize> = (0..l).collect();
            let a = random_poly(ctx, &q, 20 + l as u8);
            for g in [None, Some(5usize), Some(2 * ctx.n() - 1)] {
                let want = r.key_switch(ctx, &a, &k, alpha, g).unwrap();
                let got = c.key_switch(ctx, &a, &k, alpha, g).unwrap();
                assert_eq!(got, want, "key_switch l={l} g={g:?} log_n={log_n}");
                let digits = r.decompose_mod_up(ctx, &a, alpha).unwrap();
                assert_eq!(
                    c.decompose_mod_up(ctx, &a, alpha).unwrap(),
                    digits,
                    "decompose l={l}"
                );
                assert_eq!(
                    c.key_switch_inner(ctx, &digits, &k, g).unwrap(),
                    r.key_switch_inner(ctx, &digits, &k, g).unwrap(),
                    "inner l={l} g={g:?}"
                );
            }
        }
    }
}

#[test]
fn hoisted_rotations_match_reference() {
    let (r, c) = (ReferenceBackend, CpuBackend::new());
    let params = suite_params(12);
    let ctx = params.ring();
    let alpha = params.alpha();
    let qp_full: Vec<usize> = (0..ctx.moduli().len()).collect();
    let d = ctx.num_q().div_ceil(alpha);
    let keys: Vec<(usize, Vec<(RnsPoly, RnsPoly)>)> = [5usize, 25, 2 * ctx.n() - 1]
        .iter()
        .enumerate()
        .map(|(i, &g)| (g, key(ctx, &qp_full, d, 60 + 10 * i as u8)))
        .collect();
    let kref: Vec<(usize, &[(RnsPoly, RnsPoly)])> =
        keys.iter().map(|(g, k)| (*g, k.as_slice())).collect();
    for l in [ctx.num_q(), 3] {
        let q: Vec<usize> = (0..l).collect();
        let (c0, c1) = (random_poly(ctx, &q, 1), random_poly(ctx, &q, 2));
        for take in [1, 3] {
            assert_eq!(
                c.hoisted_rotations(ctx, &c0, &c1, &kref[..take], alpha)
                    .unwrap(),
                r.hoisted_rotations(ctx, &c0, &c1, &kref[..take], alpha)
                    .unwrap(),
                "hoisted l={l} keys={take}"
            );
        }
    }
}

#[test]
fn div_round_by_tail_and_base_convert_match_reference() {
    let (r, c) = (ReferenceBackend, CpuBackend::new());
    let params = suite_params(12);
    let ctx = params.ring();
    let all: Vec<usize> = (0..ctx.moduli().len()).collect();
    for tail in 1..all.len() {
        let a = random_poly(ctx, &all, 90 + tail as u8);
        let (mut want, mut got) = (a.clone(), a.clone());
        r.div_round_by_tail(ctx, &mut want, tail).unwrap();
        c.div_round_by_tail(ctx, &mut got, tail).unwrap();
        assert_eq!(got, want, "div_round_by_tail {tail}");
    }
    // unordered source and target lists, P primes among the sources
    let from = [7usize, 0, 5, 2];
    let to = [6usize, 1, 3, 4];
    let a = random_poly(ctx, &from, 3);
    assert_eq!(
        c.base_convert(ctx, &a, &to).unwrap(),
        r.base_convert(ctx, &a, &to).unwrap()
    );
    // operands listed in another order than the destination
    let mut x = random_poly(ctx, &[3, 1], 4);
    let y = random_poly(ctx, &[1, 2, 3], 5);
    let mut xr = x.clone();
    r.mul_add_assign(ctx, &mut xr, &y, &y).unwrap();
    c.mul_add_assign(ctx, &mut x, &y, &y).unwrap();
    assert_eq!(x, xr);
}
