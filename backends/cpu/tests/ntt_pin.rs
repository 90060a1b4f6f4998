//! Pins tfhe-ntt's transform to fhe-dsl's `NttTable` (same ψ, same bit-reversed order),
//! bit for bit, over random inputs, prime sizes 28..61 bits and N = 2^10..2^13.

use fhe_dsl::math::{ntt_primes, NttTable};
use proptest::prelude::*;
use tfhe_ntt::prime64::Plan;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn tfhe_ntt_matches_ntt_table(
        log_n in 10u32..=13,
        bits in prop::sample::select(vec![28u32, 31, 36, 45, 50, 51, 52, 55, 57, 59, 60, 61]),
        which in 0usize..3,
        seed in any::<u64>(),
    ) {
        let q = ntt_primes(bits, log_n, 3, &[]).unwrap()[which];
        let table = NttTable::new(q, log_n).unwrap();
        let plan = Plan::try_new(1 << log_n, q).unwrap();
        let mut state = seed | 1;
        let x: Vec<u64> = (0..1usize << log_n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % q
            })
            .collect();
        let (mut want, mut got) = (x.clone(), x.clone());
        table.forward(&mut want);
        plan.fwd(&mut got);
        prop_assert_eq!(&got, &want, "forward, q = {}, log_n = {}", q, log_n);
        table.inverse(&mut want);
        plan.inv(&mut got);
        plan.normalize(&mut got);
        prop_assert_eq!(&got, &want, "inverse, q = {}, log_n = {}", q, log_n);
        prop_assert_eq!(&got, &x);
    }
}
