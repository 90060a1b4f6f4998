//! CKKS canonical-embedding encoder core (floating-point part only).
//!
//! Conventions (fixed for the whole library):
//! - `N = 2^log_n` is the ring degree, `M = 2N`, `ζ = exp(iπ/N)`.
//! - A plaintext with `n` slots (`n` a power of two, `1 <= n <= N/2`) is a real
//!   polynomial in `Y = X^gap` with `gap = N / (2n)`.
//! - Slot `j` is `m(ζ^{e_j})` with `e_j = 5^j mod 2N`. Hence `X -> X^{5^k}`
//!   rotates the slots left by `k` and `X -> X^{2N-1}` conjugates them.
//!
//! The transforms are the O(n log n) "special FFT" of Cheon–Han–Kim–Kim–Song
//! (as in HEAAN / Lattigo): a bit-reversed radix-2 butterfly over the rotation
//! group `5^j`, using precomputed roots of unity `e^{2πik/M}`.
//!
//! With `u_i = c_{i·gap} + i·c_{N/2 + i·gap}` (for `i < n`), slot `j` equals
//! `Σ_i u_i · ω^{i·5^j}` with `ω = exp(2πi/(4n))`, because `Y^n = ζ^{e_j·N/2} = i`
//! (as `e_j ≡ 1 mod 4`). The special FFT evaluates exactly this sum.

use num_complex::Complex64;

/// Precomputed tables for the CKKS canonical embedding at ring degree `N = 2^log_n`.
#[derive(Clone, Debug)]
pub struct Encoder {
    log_n: u32,
    n: usize,
    /// Bit reversal of `i` on `log_n - 1` bits, for `i < N/2`.
    bit_rev: Vec<u32>,
    /// The twiddles of the special FFT stage with half-length `h`, in the order its
    /// butterflies read them, at offsets `h - 1 .. 2h - 1` (`h = 1, 2, …, N/4`): read
    /// contiguously instead of gathered from the roots of unity through the rotation
    /// group `5^j mod 2N` (the same values).
    fwd_tw: Vec<Complex64>,
    /// The same for the inverse FFT.
    inv_tw: Vec<Complex64>,
}

impl Encoder {
    /// Builds the tables for ring degree `N = 2^log_n`.
    ///
    /// # Panics
    /// Panics if `log_n` is outside `1..=17`.
    pub fn new(log_n: u32) -> Self {
        assert!(
            (1..=17).contains(&log_n),
            "Encoder::new: log_n = {log_n} outside 1..=17"
        );
        let n = 1usize << log_n;
        let m = 2 * n;
        let half = n / 2;

        let mut rot_group: Vec<usize> = Vec::with_capacity(half);
        let mut p = 1usize;
        for _ in 0..half {
            rot_group.push(p);
            p = (p * 5) % m;
        }

        let roots = Self::compute_roots(m);

        let bits = log_n - 1;
        let bit_rev = (0..half as u32)
            .map(|i| {
                if bits == 0 {
                    0
                } else {
                    i.reverse_bits() >> (32 - bits)
                }
            })
            .collect();

        let (fwd_tw, inv_tw) = Self::stage_twiddles(m, &rot_group, &roots);
        Self {
            log_n,
            n,
            bit_rev,
            fwd_tw,
            inv_tw,
        }
    }

    /// Per-stage twiddle tables: stage half-length `h` (FFT length `2h`, `lenq = 8h`)
    /// uses `roots[(rot_group[j] mod lenq)·M/lenq]` forward and
    /// `roots[(lenq − rot_group[j] mod lenq)·M/lenq]` inverse, `j < h`.
    fn stage_twiddles(
        m: usize,
        rot_group: &[usize],
        roots: &[Complex64],
    ) -> (Vec<Complex64>, Vec<Complex64>) {
        let (mut fwd, mut inv) = (Vec::new(), Vec::new());
        let mut h = 1;
        while 8 * h <= m {
            let lenq = 8 * h;
            let (mask, step) = (lenq - 1, m / lenq);
            for &g in &rot_group[..h] {
                fwd.push(roots[(g & mask) * step]);
                inv.push(roots[(lenq - (g & mask)) * step]);
            }
            h <<= 1;
        }
        (fwd, inv)
    }

    /// Roots `e^{2πik/m}` for `0 <= k <= m`, computed from the first octant
    /// using exact symmetries so that every entry is accurate to ~1 ulp.
    fn compute_roots(m: usize) -> Vec<Complex64> {
        // m = 2N >= 4 is a power of two.
        let mut roots = vec![Complex64::new(0.0, 0.0); m + 1];
        let q = m / 4; // quarter turn
        let tau = std::f64::consts::TAU;
        // First quadrant [0, q], using the octant symmetry when m >= 8.
        if q >= 2 {
            let e = q / 2; // eighth turn
            for k in 0..=e {
                let (s, c) = (tau * k as f64 / m as f64).sin_cos();
                roots[k] = Complex64::new(c, s);
                // angle (q - k): cos <-> sin swapped
                roots[q - k] = Complex64::new(s, c);
            }
            let h = std::f64::consts::FRAC_1_SQRT_2;
            roots[e] = Complex64::new(h, h);
        } else {
            // m = 4: q = 1
            roots[0] = Complex64::new(1.0, 0.0);
            roots[1] = Complex64::new(0.0, 1.0);
        }
        roots[0] = Complex64::new(1.0, 0.0);
        roots[q] = Complex64::new(0.0, 1.0);
        // Remaining quadrants: multiply by i.
        for k in q + 1..=m {
            let r = roots[k - q];
            roots[k] = Complex64::new(-r.im, r.re);
        }
        roots[m] = Complex64::new(1.0, 0.0);
        roots
    }

    /// `log2(N)`.
    pub fn log_n(&self) -> u32 {
        self.log_n
    }

    /// Ring degree `N`.
    pub fn n(&self) -> usize {
        self.n
    }

    fn check_slots(&self, slots: usize) {
        assert!(
            slots.is_power_of_two() && slots <= self.n / 2,
            "Encoder: slots = {slots} must be a power of two in 1..=N/2 = {}",
            self.n / 2
        );
    }

    /// In-place bit-reversal permutation of `vals` (length a power of two `<= N/2`).
    fn bit_reverse(&self, vals: &mut [Complex64]) {
        let len = vals.len();
        if len <= 1 {
            return;
        }
        let shift = (self.log_n - 1) - len.trailing_zeros();
        for i in 0..len {
            let j = (self.bit_rev[i] >> shift) as usize;
            if i < j {
                vals.swap(i, j);
            }
        }
    }

    /// Forward special FFT: `vals[j] <- Σ_i vals[i] · ω^{i·5^j}`, `ω = e^{2πi/(4·len)}`.
    fn fft_special(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        self.bit_reverse(vals);
        let mut len = 2;
        while len <= size {
            let lenh = len >> 1;
            let tw = &self.fwd_tw[lenh - 1..2 * lenh - 1];
            for chunk in vals.chunks_exact_mut(len) {
                let (lo, hi) = chunk.split_at_mut(lenh);
                for ((u, v), &w) in lo.iter_mut().zip(hi.iter_mut()).zip(tw) {
                    let t = *v * w;
                    let a = *u;
                    *u = a + t;
                    *v = a - t;
                }
            }
            len <<= 1;
        }
    }

    /// Inverse special FFT (including the `1/len` normalisation).
    fn fft_special_inv(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        let mut len = size;
        while len >= 2 {
            let lenh = len >> 1;
            let tw = &self.inv_tw[lenh - 1..2 * lenh - 1];
            for chunk in vals.chunks_exact_mut(len) {
                let (lo, hi) = chunk.split_at_mut(lenh);
                for ((u, v), &w) in lo.iter_mut().zip(hi.iter_mut()).zip(tw) {
                    let a = *u;
                    let b = *v;
                    *u = a + b;
                    *v = (a - b) * w;
                }
            }
            len >>= 1;
        }
        self.bit_reverse(vals);
        // size is a power of two: scaling by 1/size is exact.
        let inv = 1.0 / size as f64;
        for x in vals.iter_mut() {
            *x *= inv;
        }
    }

    /// Inverse canonical embedding: returns the N real coefficients (unscaled, unrounded) of the
    /// unique real polynomial in `Y = X^gap` whose slots equal `values`
    /// (`values.len()` = slots, a power of two `<= N/2`; `gap = N / (2·slots)`).
    ///
    /// `out` must have length `N`; it is fully overwritten (zeros off multiples of `gap`).
    ///
    /// # Panics
    /// Panics on a bad slot count or `out.len() != N`.
    pub fn values_to_coeffs(&self, values: &[Complex64], out: &mut [f64]) {
        let slots = values.len();
        self.check_slots(slots);
        assert_eq!(out.len(), self.n, "values_to_coeffs: out.len() must be N");
        let mut u = values.to_vec();
        self.fft_special_inv(&mut u);
        let gap = self.n / (2 * slots);
        let nh = self.n / 2;
        out.fill(0.0);
        for (i, z) in u.iter().enumerate() {
            out[i * gap] = z.re;
            out[nh + i * gap] = z.im;
        }
    }

    /// Forward canonical embedding at `slots` slots: reads coefficients at multiples of
    /// `gap = N / (2·slots)` only, and writes `out[j] = m(ζ^{5^j mod 2N})`.
    ///
    /// # Panics
    /// Panics on a bad slot count, `coeffs.len() != N` or `out.len() != slots`.
    pub fn coeffs_to_values(&self, coeffs: &[f64], slots: usize, out: &mut [Complex64]) {
        self.check_slots(slots);
        assert_eq!(
            coeffs.len(),
            self.n,
            "coeffs_to_values: coeffs.len() must be N"
        );
        assert_eq!(
            out.len(),
            slots,
            "coeffs_to_values: out.len() must be slots"
        );
        let gap = self.n / (2 * slots);
        let nh = self.n / 2;
        for (i, z) in out.iter_mut().enumerate() {
            *z = Complex64::new(coeffs[i * gap], coeffs[nh + i * gap]);
        }
        self.fft_special(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand_values(rng: &mut ChaCha8Rng, n: usize) -> Vec<Complex64> {
        (0..n)
            .map(|_| Complex64::new(rng.gen_range(-1.0..=1.0), rng.gen_range(-1.0..=1.0)))
            .collect()
    }

    fn max_err(a: &[Complex64], b: &[Complex64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).norm())
            .fold(0.0, f64::max)
    }

    fn slot_counts(n: usize) -> Vec<usize> {
        let mut v = vec![];
        let mut s = 1;
        while s <= n / 2 {
            v.push(s);
            s *= 2;
        }
        v
    }

    /// Direct evaluation Σ_k c_k ζ^{k·e_j}, angles computed independently of the tables.
    fn naive_eval(coeffs: &[f64], slots: usize) -> Vec<Complex64> {
        let n = coeffs.len();
        let m = 2 * n;
        let mut e = 1usize;
        let mut out = Vec::with_capacity(slots);
        for _ in 0..slots {
            let mut acc = Complex64::new(0.0, 0.0);
            for (k, &c) in coeffs.iter().enumerate() {
                let t = (k * e) % m;
                let ang = std::f64::consts::PI * t as f64 / n as f64;
                acc += Complex64::new(c * ang.cos(), c * ang.sin());
            }
            out.push(acc);
            e = (e * 5) % m;
        }
        out
    }

    fn negacyclic_mul(a: &[f64], b: &[f64]) -> Vec<f64> {
        let n = a.len();
        let mut r = vec![0.0; n];
        for (i, &ai) in a.iter().enumerate() {
            for (j, &bj) in b.iter().enumerate() {
                let k = i + j;
                if k < n {
                    r[k] += ai * bj;
                } else {
                    r[k - n] -= ai * bj;
                }
            }
        }
        r
    }

    /// Applies X -> X^g (g odd) to a coefficient vector mod X^N + 1.
    fn automorphism(c: &[f64], g: usize) -> Vec<f64> {
        let n = c.len();
        let m = 2 * n;
        let mut out = vec![0.0; n];
        for (k, &ck) in c.iter().enumerate() {
            let idx = (k * g) % m;
            if idx >= n {
                out[idx - n] -= ck;
            } else {
                out[idx] += ck;
            }
        }
        out
    }

    #[test]
    fn roots_table_accurate() {
        for log_n in 1..=10 {
            let m = 2usize << log_n;
            let roots = Encoder::compute_roots(m);
            assert_eq!(roots.len(), m + 1);
            for (k, r) in roots.iter().enumerate() {
                let ang = std::f64::consts::TAU * k as f64 / m as f64;
                let z = Complex64::new(ang.cos(), ang.sin());
                assert!((r - z).norm() < 1e-15, "log_n={log_n} k={k}");
            }
        }
    }

    #[test]
    fn forward_matches_naive() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for log_n in 5..=8 {
            let enc = Encoder::new(log_n);
            let n = enc.n();
            for slots in slot_counts(n) {
                let gap = n / (2 * slots);
                let coeffs: Vec<f64> = (0..n)
                    .map(|k| {
                        if k % gap == 0 {
                            rng.gen_range(-1.0..=1.0)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let mut got = vec![Complex64::new(0.0, 0.0); slots];
                enc.coeffs_to_values(&coeffs, slots, &mut got);
                let want = naive_eval(&coeffs, slots);
                let err = max_err(&got, &want);
                assert!(err < 1e-9, "log_n={log_n} slots={slots} err={err}");
            }
        }
    }

    #[test]
    fn forward_ignores_non_gap_coeffs() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let enc = Encoder::new(6);
        let n = enc.n();
        let slots = 4;
        let gap = n / (2 * slots);
        let coeffs: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..=1.0)).collect();
        let masked: Vec<f64> = coeffs
            .iter()
            .enumerate()
            .map(|(k, &c)| if k % gap == 0 { c } else { 0.0 })
            .collect();
        let mut a = vec![Complex64::new(0.0, 0.0); slots];
        let mut b = a.clone();
        enc.coeffs_to_values(&coeffs, slots, &mut a);
        enc.coeffs_to_values(&masked, slots, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn roundtrip_small() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for log_n in 1..=10 {
            let enc = Encoder::new(log_n);
            let n = enc.n();
            for slots in slot_counts(n) {
                let gap = n / (2 * slots);
                let vals = rand_values(&mut rng, slots);
                let mut coeffs = vec![f64::NAN; n];
                enc.values_to_coeffs(&vals, &mut coeffs);
                for (k, &c) in coeffs.iter().enumerate() {
                    assert!(c.is_finite());
                    if k % gap != 0 {
                        assert_eq!(c, 0.0, "log_n={log_n} slots={slots} k={k}");
                    }
                }
                // Cross-check against the naive forward map too.
                let naive = naive_eval(&coeffs, slots);
                assert!(max_err(&naive, &vals) < 1e-9);
                let mut back = vec![Complex64::new(0.0, 0.0); slots];
                enc.coeffs_to_values(&coeffs, slots, &mut back);
                let err = max_err(&back, &vals);
                assert!(err < 1e-13, "log_n={log_n} slots={slots} err={err}");
            }
        }
    }

    #[test]
    fn roundtrip_2_16_full() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let enc = Encoder::new(16);
        let n = enc.n();
        let slots = n / 2;
        let vals = rand_values(&mut rng, slots);
        let mut coeffs = vec![0.0; n];
        enc.values_to_coeffs(&vals, &mut coeffs);
        let mut back = vec![Complex64::new(0.0, 0.0); slots];
        enc.coeffs_to_values(&coeffs, slots, &mut back);
        let err = max_err(&back, &vals);
        assert!(err < 1e-12, "roundtrip err at 2^16 = {err:e}");
    }

    #[test]
    fn product_property() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let enc = Encoder::new(6);
        let n = enc.n();
        for slots in [n / 2, 8, 2, 1] {
            let a = rand_values(&mut rng, slots);
            let b = rand_values(&mut rng, slots);
            let mut ca = vec![0.0; n];
            let mut cb = vec![0.0; n];
            enc.values_to_coeffs(&a, &mut ca);
            enc.values_to_coeffs(&b, &mut cb);
            let cp = negacyclic_mul(&ca, &cb);
            let mut got = vec![Complex64::new(0.0, 0.0); slots];
            enc.coeffs_to_values(&cp, slots, &mut got);
            let want: Vec<Complex64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
            let err = max_err(&got, &want);
            assert!(err < 1e-12, "slots={slots} err={err}");
        }
    }

    #[test]
    fn rotation_and_conjugation() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for log_n in [4u32, 6, 7] {
            let enc = Encoder::new(log_n);
            let n = enc.n();
            let m = 2 * n;
            for slots in slot_counts(n) {
                let v = rand_values(&mut rng, slots);
                let mut c = vec![0.0; n];
                enc.values_to_coeffs(&v, &mut c);
                let mut got = vec![Complex64::new(0.0, 0.0); slots];
                let mut g = 1usize;
                for r in 0..slots + 2 {
                    let cr = automorphism(&c, g);
                    enc.coeffs_to_values(&cr, slots, &mut got);
                    let want: Vec<Complex64> = (0..slots).map(|j| v[(j + r) % slots]).collect();
                    let err = max_err(&got, &want);
                    assert!(err < 1e-12, "log_n={log_n} slots={slots} r={r} err={err}");
                    g = (g * 5) % m;
                }
                let cc = automorphism(&c, m - 1);
                enc.coeffs_to_values(&cc, slots, &mut got);
                let want: Vec<Complex64> = v.iter().map(|z| z.conj()).collect();
                assert!(max_err(&got, &want) < 1e-12);
            }
        }
    }

    #[test]
    fn real_values_stay_real() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        for log_n in [3u32, 8, 12] {
            let enc = Encoder::new(log_n);
            let n = enc.n();
            for slots in [1, 2, n / 2] {
                let v: Vec<Complex64> = (0..slots)
                    .map(|_| Complex64::new(rng.gen_range(-1.0..=1.0), 0.0))
                    .collect();
                let mut c = vec![0.0; n];
                enc.values_to_coeffs(&v, &mut c);
                let mut back = vec![Complex64::new(0.0, 0.0); slots];
                enc.coeffs_to_values(&c, slots, &mut back);
                for (x, y) in back.iter().zip(&v) {
                    assert!(x.im.abs() < 1e-12);
                    assert!((x.re - y.re).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    #[should_panic]
    fn bad_log_n_panics() {
        let _ = Encoder::new(18);
    }
}
