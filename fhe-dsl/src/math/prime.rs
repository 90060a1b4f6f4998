//! Primality testing and NTT-friendly prime generation.

use super::Modulus;

/// Deterministic Miller–Rabin for all u64 (the first 12 primes are a proven witness set).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    for p in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let mut d = n - 1;
    let mut s = 0;
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    let mulmod = |a: u64, b: u64| (a as u128 * b as u128 % n as u128) as u64;
    let powmod = |mut a: u64, mut e: u64| {
        let mut r = 1u64;
        while e > 0 {
            if e & 1 == 1 {
                r = mulmod(r, a);
            }
            a = mulmod(a, a);
            e >>= 1;
        }
        r
    };
    'witness: for a in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        let mut x = powmod(a, d);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mulmod(x, x);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// Generates `count` distinct primes `q ≡ 1 (mod 2N)` of exactly `bits` bits, closest to
/// 2^bits from below first (so the scale stays close to a power of two), skipping any in `exclude`.
/// Returns `None` when the range runs out.
pub fn ntt_primes(bits: u32, log_n: u32, count: usize, exclude: &[u64]) -> Option<Vec<u64>> {
    let m = 2u64 << log_n;
    if !(2..=62).contains(&bits) || (bits as u64) <= (log_n as u64 + 1) {
        return None;
    }
    let upper = 1u64 << bits;
    let lower = 1u64 << (bits - 1);
    // largest candidate ≡ 1 mod m below 2^bits
    let mut c = upper - (upper % m) + 1;
    if c >= upper {
        c -= m;
    }
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if c < lower {
            return None;
        }
        if is_prime(c) && !exclude.contains(&c) && !out.contains(&c) {
            out.push(c);
        }
        c = c.checked_sub(m)?;
    }
    Some(out)
}

/// Finds the primitive 2N-th root of unity ψ the library fixes for prime `q`:
/// start from -1 and take N-1... precisely log2(2N)-1 successive square roots with
/// Tonelli–Shanks, using the smallest quadratic non-residue. Deterministic, and the
/// same root the CPU backend's NTT (tfhe-ntt) picks, which the tests pin.
pub fn negacyclic_root(q: u64, log_n: u32) -> Option<u64> {
    let m = Modulus::new(q);
    if !(q - 1).is_multiple_of(2u64 << log_n) {
        return None;
    }
    let mut s = 0;
    let mut odd = q - 1;
    while odd.is_multiple_of(2) {
        odd /= 2;
        s += 1;
    }
    let z = (2..q).find(|&z| m.pow(z, (q - 1) / 2) == q - 1)?;
    let mut root = q - 1;
    for _ in 0..log_n {
        root = tonelli_shanks(&m, odd, s, z, root)?;
    }
    Some(root)
}

fn tonelli_shanks(m: &Modulus, odd: u64, s: u32, z: u64, n: u64) -> Option<u64> {
    let mut big_m = s;
    let mut c = m.pow(z, odd);
    let mut t = m.pow(n, odd);
    let mut r = m.pow(n, odd.div_ceil(2));
    loop {
        if t == 0 {
            return Some(0);
        }
        if t == 1 {
            return Some(r);
        }
        let mut i = 0;
        let mut tp = t;
        while i < big_m {
            tp = m.mul(tp, tp);
            i += 1;
            if tp == 1 {
                break;
            }
        }
        if i == big_m {
            return None;
        }
        let b = m.pow(c, 1u64 << (big_m - i - 1));
        big_m = i;
        c = m.mul(b, b);
        t = m.mul(t, c);
        r = m.mul(r, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miller_rabin_against_trial_division() {
        let trial = |n: u64| {
            n >= 2
                && (2..)
                    .take_while(|d| d * d <= n)
                    .all(|d| !n.is_multiple_of(d))
        };
        for n in 0..5000u64 {
            assert_eq!(is_prime(n), trial(n), "{n}");
        }
        for n in (1u64 << 40)..(1u64 << 40) + 2000 {
            assert_eq!(is_prime(n), trial(n), "{n}");
        }
        assert!(is_prime((1 << 61) - 1));
        assert!(!is_prime((1u64 << 61) + 1));
    }

    #[test]
    fn generated_primes_are_ntt_friendly() {
        for (bits, log_n) in [(28, 10), (30, 16), (50, 16), (60, 16), (61, 17)] {
            let ps = ntt_primes(bits, log_n, 5, &[]).unwrap();
            for &p in &ps {
                assert!(is_prime(p));
                assert_eq!(p % (2 << log_n), 1);
                assert_eq!(64 - p.leading_zeros(), bits);
            }
            let mut sorted = ps.clone();
            sorted.dedup();
            assert_eq!(sorted.len(), 5);
        }
    }

    #[test]
    fn root_is_primitive() {
        for log_n in [4u32, 10, 16] {
            for &q in &ntt_primes(50, log_n, 3, &[]).unwrap() {
                let m = Modulus::new(q);
                let psi = negacyclic_root(q, log_n).unwrap();
                assert_eq!(m.pow(psi, 1 << log_n), q - 1, "psi^N = -1");
            }
        }
    }
}
