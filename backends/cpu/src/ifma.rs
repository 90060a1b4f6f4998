//! AVX-512 IFMA kernels (8 lanes) for the sums of products at the heart of basis
//! conversion and key switching, for primes `q < 2^50`.
//!
//! `vpmadd52luq`/`vpmadd52huq` add the low and high 52-bit halves of a 52×52-bit product
//! to 64-bit lanes, so a sum of products accumulates *exactly* in two lanes (`lo`, `hi`:
//! value `hi·2^52 + lo`) with no per-term reduction at all. Every product here has
//! operands below 2^52 and one of them below 2^50, so each adds less than 2^52 to `lo`
//! and less than 2^50 to `hi`; every [`FOLD`] products the pair is folded (`lo`'s carry
//! moved into `hi`, `hi` reduced mod q in exact f64 arithmetic), which keeps `hi` below
//! 2^53 and `lo` below 2^64. The final value `hi·2^52 + lo` is reduced with the same
//! exact f64 steps as [`crate::simd`] (quotient estimate by one FMA, remainder by a
//! fused negated multiply-add that is exact because it is an integer below 2^50).
//! Results are the fully reduced residues [`fhe_dsl::math::Modulus`] returns, bit for
//! bit (tests compare against it).
//!
//! Dispatch is at run time (`avx512f`, `avx512dq`, `avx512ifma`); `FHE_CPU_IFMA=0`
//! or [`set_enabled`] turns these kernels off (the AVX2 kernels run instead).

use crate::switch::Switch;

/// `FHE_CPU_IFMA=0` turns these kernels off.
static SWITCH: Switch = Switch::new("FHE_CPU_IFMA", detect);

fn detect() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512ifma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the IFMA kernels are in use.
#[inline]
pub fn enabled() -> bool {
    SWITCH.enabled()
}

/// Turns the IFMA kernels on (where the CPU has them) or off, process-wide. Results are
/// identical either way; this exists for A/B timing and cross-checks.
pub fn set_enabled(on: bool) {
    SWITCH.set(on);
}

/// Products accumulated between two folds in basis conversion (each adds `< 2^50` to
/// `hi`: 4 keep the folded `hi < q` plus the carry below 2^53).
const FOLD: usize = 4;

/// The same for inner products, whose operands are both `< q < 2^50` (each product adds
/// `< 2^48` to `hi`).
const INNER_FOLD: usize = 16;

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{FOLD, INNER_FOLD};
    use std::arch::x86_64::*;

    const M52: i64 = (1 << 52) - 1;

    /// Constants of one modulus, broadcast.
    #[derive(Clone, Copy)]
    struct K {
        q: __m512d,
        qinv: __m512d,
        /// `2^52 mod q` as a double.
        r52: __m512d,
        m52: __m512i,
        round: __m512d,
    }

    impl K {
        #[inline]
        #[target_feature(enable = "avx512f")]
        fn new(q: u64) -> Self {
            K {
                q: _mm512_set1_pd(q as f64),
                qinv: _mm512_set1_pd(1.0 / q as f64),
                r52: _mm512_set1_pd(((1u128 << 52) % q as u128) as f64),
                m52: _mm512_set1_epi64(M52),
                round: _mm512_set1_pd(6_755_399_441_055_744.0),
            }
        }
    }

    /// An integer-valued double `0 <= x < 2^53` reduced to `[0, q)`: the quotient
    /// estimate is within `0.5 + 2^-48` of `x/q` (`x/q < 2^53/q`), the remainder
    /// `x - t·q` is an integer of magnitude `< 0.51·q`, computed exactly by one FMA.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce(k: &K, x: __m512d) -> __m512d {
        let t = _mm512_sub_pd(_mm512_fmadd_pd(x, k.qinv, k.round), k.round);
        let r = _mm512_fnmadd_pd(t, k.q, x);
        let neg = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(r, _mm512_setzero_pd());
        _mm512_mask_add_pd(r, neg, r, k.q)
    }

    /// `a·b mod q` for integer-valued doubles `a, b < q < 2^50` (double-double product,
    /// as in [`crate::simd`]).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn mulmod(k: &K, a: __m512d, b: __m512d) -> __m512d {
        let h = _mm512_mul_pd(a, b);
        let l = _mm512_fmsub_pd(a, b, h);
        let t = _mm512_sub_pd(_mm512_fmadd_pd(h, k.qinv, k.round), k.round);
        let r = _mm512_add_pd(_mm512_fnmadd_pd(t, k.q, h), l);
        let neg = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(r, _mm512_setzero_pd());
        _mm512_mask_add_pd(r, neg, r, k.q)
    }

    /// An exact sum of products `hi·2^52 + lo`.
    #[derive(Clone, Copy)]
    struct Acc {
        lo: __m512i,
        hi: __m512i,
    }

    impl Acc {
        /// Starts from `start < 2^52` (a carried residue, or zero).
        #[inline]
        #[target_feature(enable = "avx512f")]
        fn new(start: __m512i) -> Self {
            Acc {
                lo: start,
                hi: _mm512_setzero_si512(),
            }
        }

        /// `+= a·b` for `a < 2^52`, `b < 2^50` (adds `< 2^52` to `lo`, `< 2^50` to `hi`).
        #[inline]
        #[target_feature(enable = "avx512f,avx512ifma")]
        fn add(&mut self, a: __m512i, b: __m512i) {
            self.lo = _mm512_madd52lo_epu64(self.lo, a, b);
            self.hi = _mm512_madd52hi_epu64(self.hi, a, b);
        }

        /// Same value mod q with `lo < 2^52` and `hi < q`.
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq")]
        fn fold(&mut self, k: &K) {
            let carry = _mm512_srli_epi64::<52>(self.lo);
            self.lo = _mm512_and_si512(self.lo, k.m52);
            // hi < q + FOLD·2^50 + 2^12 < 2^53: exact as a double
            let hi = _mm512_cvtepu64_pd(_mm512_add_epi64(self.hi, carry));
            self.hi = _mm512_cvttpd_epu64(reduce(k, hi));
        }

        /// The value mod q, in `[0, q)`.
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq")]
        fn finish(mut self, k: &K) -> __m512i {
            self.fold(k);
            let h = _mm512_cvtepu64_pd(self.hi);
            let l = reduce(k, _mm512_cvtepu64_pd(self.lo));
            let s = _mm512_add_pd(mulmod(k, h, k.r52), l);
            let big = _mm512_cmp_pd_mask::<_CMP_GE_OQ>(s, k.q);
            _mm512_cvttpd_epu64(_mm512_mask_sub_pd(s, big, s, k.q))
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const u64) -> __m512i {
        // SAFETY: the caller passes a pointer to 8 readable words.
        unsafe { _mm512_loadu_epi64(p as *const i64) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store(p: *mut u64, v: __m512i) {
        // SAFETY: the caller passes a pointer to 8 writable words.
        unsafe { _mm512_storeu_epi64(p as *mut i64, v) }
    }

    /// Basis-conversion row (see [`crate::kernels::conv_row`]) on the first
    /// `out.len() - out.len() % 8` words; returns how many words it wrote. `q < 2^50`,
    /// `c[i], add < q`; `wide`: inputs may use all 64 bits (split at bit 52, the high
    /// part multiplied by `c·2^52 mod q`), else they are `< 2^52`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F/DQ/IFMA; every row of `ys` holds `>= out.len()` words.
    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(crate) unsafe fn conv_row(
        q: u64,
        ys: &[&[u64]],
        c: &[u64],
        wide: bool,
        add: u64,
        out: &mut [u64],
    ) -> usize {
        let k = K::new(q);
        let main = out.len() - out.len() % 8;
        let cs: Vec<(__m512i, __m512i)> = c
            .iter()
            .map(|&ci| {
                let hi = (((ci as u128) << 52) % q as u128) as u64;
                (_mm512_set1_epi64(ci as i64), _mm512_set1_epi64(hi as i64))
            })
            .collect();
        let addv = _mm512_set1_epi64(add as i64);
        let po = out.as_mut_ptr();
        let mut i = 0;
        while i < main {
            let mut acc = Acc::new(addv);
            let mut cnt = 0;
            let per = if wide { 2 } else { 1 };
            for (y, &(cl, ch)) in ys.iter().zip(&cs) {
                if cnt + per > FOLD {
                    acc.fold(&k);
                    cnt = 0;
                }
                // SAFETY: `i + 8 <= main <= out.len() <= y.len()`.
                let v = unsafe { load(y.as_ptr().add(i)) };
                if wide {
                    acc.add(_mm512_and_si512(v, k.m52), cl);
                    acc.add(_mm512_srli_epi64::<52>(v), ch);
                } else {
                    acc.add(v, cl);
                }
                cnt += per;
            }
            // SAFETY: `i + 8 <= main <= out.len()`.
            unsafe { store(po.add(i), acc.finish(&k)) };
            i += 8;
        }
        main
    }

    /// Words per block of [`inner`]: the accumulators of a block stay in L1.
    const BLOCK: usize = 256;

    /// Key-switching inner product without a permutation (see
    /// [`crate::kernels::inner_row`]): `out0 (+)= Σ_j d_j·kb_j`, `out1 (+)= Σ_j d_j·ka_j`
    /// on the first `len - len % 8` words, term by term over blocks (sequential streams,
    /// few or many terms alike); returns how many words it wrote. `q < 2^50`, operands
    /// reduced.
    ///
    /// # Safety
    /// The CPU must have AVX-512F/DQ/IFMA; every row holds `>= out0.len()` words and
    /// `out1.len() == out0.len()`.
    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn inner(
        q: u64,
        d: &[&[u64]],
        kb: &[&[u64]],
        ka: &[&[u64]],
        acc: bool,
        out0: &mut [u64],
        out1: &mut [u64],
    ) -> usize {
        let k = K::new(q);
        let main = out0.len() - out0.len() % 8;
        let (p0, p1) = (out0.as_mut_ptr(), out1.as_mut_ptr());
        let zero = _mm512_setzero_si512();
        let mut a0 = [Acc::new(zero); BLOCK / 8];
        let mut a1 = [Acc::new(zero); BLOCK / 8];
        let mut base = 0;
        while base < main {
            let lanes = (main - base).min(BLOCK) / 8;
            for v in 0..lanes {
                let at = base + 8 * v;
                let (s0, s1) = if acc {
                    // SAFETY: `at + 8 <= main <= out0.len() == out1.len()`.
                    unsafe { (load(p0.add(at)), load(p1.add(at))) }
                } else {
                    (zero, zero)
                };
                a0[v] = Acc::new(s0);
                a1[v] = Acc::new(s1);
            }
            let mut cnt = 0;
            for j in 0..d.len() {
                if cnt == INNER_FOLD {
                    for v in 0..lanes {
                        a0[v].fold(&k);
                        a1[v].fold(&k);
                    }
                    cnt = 0;
                }
                let (pd, pb, pa) = (d[j].as_ptr(), kb[j].as_ptr(), ka[j].as_ptr());
                for v in 0..lanes {
                    let at = base + 8 * v;
                    // SAFETY: `at + 8 <= main`, every row holds `>= out0.len()` words.
                    let (x, b, a) =
                        unsafe { (load(pd.add(at)), load(pb.add(at)), load(pa.add(at))) };
                    a0[v].add(x, b);
                    a1[v].add(x, a);
                }
                cnt += 1;
            }
            for v in 0..lanes {
                let at = base + 8 * v;
                // SAFETY: as above.
                unsafe {
                    store(p0.add(at), a0[v].finish(&k));
                    store(p1.add(at), a1[v].finish(&k));
                }
            }
            base += lanes * 8;
        }
        main
    }
}
