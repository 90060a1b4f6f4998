//! RNS basis operations of the CPU backend checked against `num-bigint` arithmetic on the
//! CRT-reconstructed integers: ModUp (fast basis conversion), ModDown and rescale
//! (division by the tail primes with rounding), and whole key switches.

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::{Params, ParamsLiteral};
use fhe_dsl::conformance::random_poly;
use fhe_dsl::ring::{RingContext, RnsPoly};
use num_bigint::BigInt;
use num_traits::{Signed, Zero};
use proptest::prelude::*;

fn params() -> Params {
    let mut lit = ParamsLiteral::test_small();
    lit.log_n = 10;
    Params::new_insecure_for_tests(lit).unwrap()
}

fn modulo(x: &BigInt, m: &BigInt) -> BigInt {
    ((x % m) + m) % m
}

fn coeff_form(b: &CpuBackend, ctx: &RingContext, p: &RnsPoly) -> RnsPoly {
    let mut d = b.upload(ctx, p.clone()).expect("upload");
    b.intt(ctx, &mut d).unwrap();
    b.download(ctx, &d).expect("download")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn mod_up_is_exact_up_to_multiples_of_the_digit(seed in 1u8..200, level in 0usize..6) {
        let params = params();
        let ctx = params.ring();
        let b = CpuBackend::new();
        let q: Vec<usize> = (0..=level).collect();
        let d = random_poly(ctx, &q, seed);
        let dc = coeff_form(&b, ctx, &d);
        let digits = b.decompose_mod_up(ctx, &b.upload(ctx, d.clone()).expect("upload"), params.alpha()).unwrap();
        prop_assert_eq!(digits.len(), (level + 1).div_ceil(params.alpha()));
        for (j, dig) in digits.iter().enumerate() {
            let dig = coeff_form(&b, ctx, &b.download(ctx, dig).expect("download"));
            let own: Vec<usize> = q.chunks(params.alpha()).nth(j).unwrap().to_vec();
            let dj = BigInt::from(ctx.product(&own));
            let own_poly = RnsPoly { primes: own.clone(), n: dc.n, data: own.iter().flat_map(|&i| dc.limb(dc.position(i).unwrap()).to_vec()).collect() };
            for k in [0usize, 1, 17, ctx.n() - 1] {
                let v = ctx.crt_coeff(&dig, k);
                let want = modulo(&ctx.crt_coeff(&own_poly, k), &dj);
                // fast basis conversion: v = [d]_{D_j} + u·D_j with 0 ≤ u < #primes of the digit
                let diff = &v - &want;
                prop_assert!(modulo(&diff, &dj).is_zero());
                let u = &diff / &dj;
                prop_assert!(!u.is_negative() && u < BigInt::from(own.len()), "u = {}", u);
            }
        }
    }

    #[test]
    fn division_by_tail_rounds(seed in 1u8..200, tail in 1usize..3) {
        let params = params();
        let ctx = params.ring();
        let b = CpuBackend::new();
        let primes: Vec<usize> = (0..8).collect();
        let x = random_poly(ctx, &primes, seed); // read as NTT form
        let xc = coeff_form(&b, ctx, &x);
        let mut y = b.upload(ctx, x.clone()).expect("upload");
        b.div_round_by_tail(ctx, &mut y, tail).unwrap();
        let yc = coeff_form(&b, ctx, &b.download(ctx, &y).expect("download"));
        let t = BigInt::from(ctx.product(&primes[8 - tail..]));
        let keep = BigInt::from(ctx.product(&primes[..8 - tail]));
        for k in [0usize, 5, 100, ctx.n() - 1] {
            let xv = modulo(&ctx.crt_coeff(&xc, k), &(&keep * &t));
            let want = (&xv + (&t - 1) / 2) / &t; // floor((x + (T-1)/2) / T)
            let got = ctx.crt_coeff(&yc, k);
            let u = modulo(&(&want - &got), &keep);
            // exact for one prime; within the fast-conversion error for more
            prop_assert!(u < BigInt::from(tail), "tail {}: off by {}", tail, u);
            if tail == 1 {
                prop_assert!(u.is_zero());
            }
        }
    }
}
