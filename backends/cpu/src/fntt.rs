//! Negacyclic NTT over `q < 2^50` on AVX2+FMA in f64 arithmetic.
//!
//! Same convention as [`fhe_dsl::math::NttTable`] (Cooley–Tukey forward, natural order
//! in, bit-reversed out; Gentleman–Sande inverse) with the same twiddles, and fully
//! reduced outputs, so results are bit-identical to it.
//!
//! Inside the transform every value is an exact integer-valued double of magnitude
//! `< 2·q` (signed representatives; twiddles are stored in `(-q/2, q/2]`). A product
//! with a twiddle is formed exactly as `h + l` (`l = fma(a, w, -h)`) and reduced with a
//! rounded quotient estimate (one FMA onto `1.5·2^52`); the other butterfly input is
//! re-centred to `< 0.51·q` on every other stage only, which keeps every value below
//! `2·q` (bounds at the stage functions). Input words are converted on the first stage
//! and canonical words written back on the last one, in place.
//!
//! The first stages run breadth-first; once a butterfly group fits a block of
//! [`BLOCK`] words, the remaining stages run block by block (in L1). The forward
//! transform fuses pairs of stages (radix-4 passes: four words in registers, half the
//! loads and stores).

use fhe_dsl::math::NttTable;

/// Words per cache block for the late stages.
const BLOCK: usize = 2048;

/// Twiddles of one prime and degree, as signed doubles.
pub(crate) struct F64Ntt {
    q: u64,
    n: usize,
    /// `tw[m + i]` as in [`NttTable::twiddles`].
    tw: Vec<f64>,
    /// Stage `t = 2`, per 8 words `k`: `[s(2k), s(2k), s(2k+1), s(2k+1)]`.
    tw2: Vec<f64>,
    /// Stage `t = 1`, per 8 words `k`: `[s(4k), s(4k+2), s(4k+1), s(4k+3)]`.
    tw1: Vec<f64>,
    itw: Vec<f64>,
    itw2: Vec<f64>,
    itw1: Vec<f64>,
    /// `N^-1`, signed.
    n_inv: f64,
}

fn signed(w: u64, q: u64) -> f64 {
    if w > q / 2 {
        -((q - w) as f64)
    } else {
        w as f64
    }
}

fn layouts(tw: &[u64], q: u64, n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let s = |i: usize| signed(tw[i], q);
    let full: Vec<f64> = (0..n).map(s).collect();
    let (m2, m1) = (n / 4, n / 2);
    let mut t2 = Vec::with_capacity(n / 2);
    let mut t1 = Vec::with_capacity(n / 2);
    for k in 0..n / 8 {
        t2.extend([
            s(m2 + 2 * k),
            s(m2 + 2 * k),
            s(m2 + 2 * k + 1),
            s(m2 + 2 * k + 1),
        ]);
        t1.extend([
            s(m1 + 4 * k),
            s(m1 + 4 * k + 2),
            s(m1 + 4 * k + 1),
            s(m1 + 4 * k + 3),
        ]);
    }
    (full, t2, t1)
}

impl F64Ntt {
    /// The f64 transform for `table`, if it applies (`q < 2^50`, `N >= 16`, and the CPU
    /// has AVX2 and FMA).
    pub fn new(table: &NttTable) -> Option<Self> {
        let q = table.modulus.value();
        let n = 1usize << table.log_n;
        if q >= crate::simd::F64_Q_LIMIT || n < 16 || !crate::simd::detect() {
            return None;
        }
        let (tw, tw2, tw1) = layouts(&table.twiddles, q, n);
        let (itw, itw2, itw1) = layouts(&table.inv_twiddles, q, n);
        Some(F64Ntt {
            q,
            n,
            tw,
            tw2,
            tw1,
            itw,
            itw2,
            itw1,
            n_inv: signed(table.n_inv, q),
        })
    }

    /// Forward transform in place (inputs reduced mod q).
    pub fn forward(&self, a: &mut [u64]) {
        assert_eq!(a.len(), self.n);
        debug_assert!(a.iter().all(|&x| x < self.q));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `new` checked AVX2 and FMA; the length is N.
        unsafe {
            x86::forward(self, a)
        }
    }

    /// Inverse transform in place (inputs reduced mod q); with `scale`, includes `N^-1`,
    /// else the output is `N` times the inverse (reduced).
    pub fn inverse(&self, a: &mut [u64], scale: bool) {
        assert_eq!(a.len(), self.n);
        debug_assert!(a.iter().all(|&x| x < self.q));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `new` checked AVX2 and FMA; the length is N.
        unsafe {
            x86::inverse(self, a, scale)
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{F64Ntt, BLOCK};
    use std::arch::x86_64::*;

    const MAGIC: i64 = 0x4330_0000_0000_0000;
    const TWO52: f64 = 4_503_599_627_370_496.0;

    #[derive(Clone, Copy)]
    struct C {
        q: __m256d,
        qinv: __m256d,
        zero: __m256d,
        magic_i: __m256i,
        magic_d: __m256d,
    }

    /// `round(x·qinv)` for `|x·qinv| < 2^51`: one fused multiply-add onto `1.5·2^52`
    /// (whose ulp is 1) rounds the exact product to an integer, a subtraction recovers it.
    #[inline(always)]
    unsafe fn round_q(x: __m256d, qinv: __m256d) -> __m256d {
        // SAFETY: register-only FMA operations (caller guarantees the features).
        unsafe {
            let m = _mm256_set1_pd(6_755_399_441_055_744.0);
            _mm256_sub_pd(_mm256_fmadd_pd(x, qinv, m), m)
        }
    }

    /// Helpers below: register-only AVX2/FMA operations unless they take a pointer; the
    /// callers are `avx2,fma` functions.
    #[inline(always)]
    unsafe fn ld_u(c: &C, p: *const f64) -> __m256d {
        // SAFETY: the caller passes 4 readable words holding integers < 2^52.
        unsafe {
            let x = _mm256_loadu_si256(p as *const __m256i);
            _mm256_sub_pd(
                _mm256_castsi256_pd(_mm256_or_si256(x, c.magic_i)),
                c.magic_d,
            )
        }
    }

    #[inline(always)]
    unsafe fn ld(p: *const f64) -> __m256d {
        // SAFETY: the caller passes 4 readable words.
        unsafe { _mm256_loadu_pd(p) }
    }

    #[inline(always)]
    unsafe fn st(p: *mut f64, v: __m256d) {
        // SAFETY: the caller passes 4 writable words.
        unsafe { _mm256_storeu_pd(p, v) }
    }

    /// Canonical residue of `|x| < 2^52 / 8` stored as integer words.
    #[inline(always)]
    unsafe fn st_u(c: &C, p: *mut f64, x: __m256d) {
        // SAFETY: the caller passes 4 writable words.
        unsafe {
            let t = round_q(x, c.qinv);
            // |x/q| < 8: the rounded quotient leaves |r| < 0.51q
            let r = _mm256_fnmadd_pd(t, c.q, x);
            let r = _mm256_add_pd(
                r,
                _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(r, c.zero), c.q),
            );
            let v = _mm256_xor_si256(_mm256_castpd_si256(_mm256_add_pd(r, c.magic_d)), c.magic_i);
            _mm256_storeu_si256(p as *mut __m256i, v)
        }
    }

    /// `a·w` reduced to magnitude `< 1.07·q` (`|a·w/q| < 2^50.6`).
    #[inline(always)]
    unsafe fn mulr(c: &C, a: __m256d, w: __m256d) -> __m256d {
        // SAFETY: register-only.
        unsafe {
            let h = _mm256_mul_pd(a, w);
            let l = _mm256_fmsub_pd(a, w, h);
            let t = round_q(h, c.qinv);
            _mm256_add_pd(_mm256_fnmadd_pd(t, c.q, h), l)
        }
    }

    /// `|s| < 2^52` re-centred to magnitude `< 0.51·q`.
    #[inline(always)]
    unsafe fn near(c: &C, s: __m256d) -> __m256d {
        // SAFETY: register-only.
        unsafe {
            let t = round_q(s, c.qinv);
            _mm256_fnmadd_pd(t, c.q, s)
        }
    }

    /// Forward butterfly: `(u, v) -> (u' + v·w, u' - v·w)` with `u'` re-centred when
    /// `NEAR` (else `u' = u`).
    #[inline(always)]
    unsafe fn fbf<const NEAR: bool>(
        c: &C,
        u: __m256d,
        v: __m256d,
        w: __m256d,
    ) -> (__m256d, __m256d) {
        // SAFETY: register-only.
        unsafe {
            let u = if NEAR { near(c, u) } else { u };
            let t = mulr(c, v, w);
            (_mm256_add_pd(u, t), _mm256_sub_pd(u, t))
        }
    }

    /// Inverse butterfly: `(u, v) -> (u + v, (u - v)·w)`, the sum re-centred when `NEAR`.
    #[inline(always)]
    unsafe fn ibf<const NEAR: bool>(
        c: &C,
        u: __m256d,
        v: __m256d,
        w: __m256d,
    ) -> (__m256d, __m256d) {
        // SAFETY: register-only.
        unsafe {
            let s = _mm256_add_pd(u, v);
            (
                if NEAR { near(c, s) } else { s },
                mulr(c, _mm256_sub_pd(u, v), w),
            )
        }
    }

    unsafe fn consts(q: u64) -> C {
        // SAFETY: register-only.
        unsafe {
            C {
                q: _mm256_set1_pd(q as f64),
                qinv: _mm256_set1_pd(1.0 / q as f64),
                zero: _mm256_setzero_pd(),
                magic_i: _mm256_set1_epi64x(MAGIC),
                magic_d: _mm256_set1_pd(TWO52),
            }
        }
    }

    /// Forward stage `(m, t)` with `t >= 4` over groups `i0..i1`; `FIRST`: inputs are
    /// integer words; `NEAR`: re-centre the `u` inputs.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fwd_stage_k<const FIRST: bool, const NEAR: bool>(
        c: &C,
        p: *mut f64,
        tw: &[f64],
        m: usize,
        t: usize,
        i0: usize,
        i1: usize,
    ) {
        // SAFETY: groups `i0..i1` of stage (m, t) lie inside the N-word buffer.
        unsafe {
            for i in i0..i1 {
                let w = _mm256_set1_pd(*tw.get_unchecked(m + i));
                let base = p.add(2 * i * t);
                let mut j = 0;
                while j < t {
                    let (pu, pv) = (base.add(j), base.add(j + t));
                    let (u, v) = if FIRST {
                        (ld_u(c, pu), ld_u(c, pv))
                    } else {
                        (ld(pu), ld(pv))
                    };
                    let (x, y) = fbf::<NEAR>(c, u, v, w);
                    st(pu, x);
                    st(pv, y);
                    j += 4;
                }
            }
        }
    }

    /// Forward stage `(m, t)`, `t >= 4`, groups `i0..i1`. Stage `s = log2 m` re-centres
    /// `u` only when `s` is odd: inputs start below `q`, a stage without re-centring
    /// adds at most `(0.5 + B/8)·q` to a bound `B·q`, one with it gives
    /// `(1 + B/8)·q`, so every value stays below `1.9·q`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fwd_stage(c: &C, p: *mut f64, tw: &[f64], m: usize, t: usize, i0: usize, i1: usize) {
        // SAFETY: forwarded.
        unsafe {
            if m == 1 {
                fwd_stage_k::<true, false>(c, p, tw, m, t, i0, i1)
            } else if m.trailing_zeros() % 2 == 1 {
                fwd_stage_k::<false, true>(c, p, tw, m, t, i0, i1)
            } else {
                fwd_stage_k::<false, false>(c, p, tw, m, t, i0, i1)
            }
        }
    }

    /// Forward stages `t = 2` and `t = 1` over words `w0..w1` (multiples of 8); the
    /// last one writes canonical integer words.
    #[inline(always)]
    unsafe fn fwd_tail<const N2: bool, const N1: bool>(
        c: &C,
        p: *mut f64,
        f: &F64Ntt,
        w0: usize,
        w1: usize,
    ) {
        // SAFETY: `w0..w1` lies inside the buffer; twiddle tables hold N/2 entries.
        unsafe {
            let mut k = w0;
            while k < w1 {
                let x = ld(p.add(k));
                let y = ld(p.add(k + 4));
                let u = _mm256_permute2f128_pd::<0x20>(x, y);
                let v = _mm256_permute2f128_pd::<0x31>(x, y);
                let (u, v) = fbf::<N2>(c, u, v, ld(f.tw2.as_ptr().add(k / 2)));
                let x = _mm256_permute2f128_pd::<0x20>(u, v);
                let y = _mm256_permute2f128_pd::<0x31>(u, v);
                let u = _mm256_unpacklo_pd(x, y);
                let v = _mm256_unpackhi_pd(x, y);
                let (u, v) = fbf::<N1>(c, u, v, ld(f.tw1.as_ptr().add(k / 2)));
                st_u(c, p.add(k), _mm256_unpacklo_pd(u, v));
                st_u(c, p.add(k + 4), _mm256_unpackhi_pd(u, v));
                k += 8;
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn forward(f: &F64Ntt, a: &mut [u64]) {
        let n = f.n;
        let p = a.as_mut_ptr() as *mut f64;
        let b = BLOCK.min(n);
        // SAFETY: every stage stays inside the N-word buffer (see the helpers).
        unsafe {
            let c = consts(f.q);
            let (mut m, mut t) = (1usize, n / 2);
            // breadth-first: two stages per pass while both spans exceed a block
            while 2 * t > b {
                if t > b && t >= 8 {
                    fwd_r4(&c, p, &f.tw, m, t, 0, m);
                    m *= 4;
                    t /= 4;
                } else {
                    fwd_stage(&c, p, &f.tw, m, t, 0, m);
                    m *= 2;
                    t /= 2;
                }
            }
            for blk in 0..n / b {
                let (mut mm, mut tt) = (m, t);
                while tt >= 4 {
                    let g = b / (2 * tt);
                    if tt >= 8 {
                        fwd_r4(&c, p, &f.tw, mm, tt, blk * g, (blk + 1) * g);
                        mm *= 4;
                        tt /= 4;
                    } else {
                        fwd_stage(&c, p, &f.tw, mm, tt, blk * g, (blk + 1) * g);
                        mm *= 2;
                        tt /= 2;
                    }
                }
                // stages log_n - 2 and log_n - 1: re-centre on the odd one
                let (w0, w1) = (blk * b, (blk + 1) * b);
                if n.trailing_zeros().is_multiple_of(2) {
                    fwd_tail::<false, true>(&c, p, f, w0, w1)
                } else {
                    fwd_tail::<true, false>(&c, p, f, w0, w1)
                }
            }
        }
    }

    /// Forward stages `(m, t)` and `(2m, t/2)` in one pass (`t >= 8`) over the groups
    /// `i0..i1` of the first: four words in registers per step, re-centring as the
    /// radix-2 stages would (on the odd stage of the two).
    #[inline(always)]
    unsafe fn fwd_r4(c: &C, p: *mut f64, tw: &[f64], m: usize, t: usize, i0: usize, i1: usize) {
        // SAFETY: forwarded.
        unsafe {
            if m == 1 {
                fwd_r4_k::<true, false, true>(c, p, tw, m, t, i0, i1)
            } else if m.trailing_zeros() % 2 == 1 {
                fwd_r4_k::<false, true, false>(c, p, tw, m, t, i0, i1)
            } else {
                fwd_r4_k::<false, false, true>(c, p, tw, m, t, i0, i1)
            }
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fwd_r4_k<const FIRST: bool, const N1: bool, const N2: bool>(
        c: &C,
        p: *mut f64,
        tw: &[f64],
        m: usize,
        t: usize,
        i0: usize,
        i1: usize,
    ) {
        // SAFETY: group `i` of stage (m, t) spans words `2it .. 2it + 2t` of the N-word
        // buffer; the twiddle table has N entries (`2m + 2i + 1 < 4m <= N`).
        unsafe {
            let h = t / 2;
            for i in i0..i1 {
                let w1 = _mm256_set1_pd(*tw.get_unchecked(m + i));
                let wa = _mm256_set1_pd(*tw.get_unchecked(2 * m + 2 * i));
                let wb = _mm256_set1_pd(*tw.get_unchecked(2 * m + 2 * i + 1));
                let base = p.add(2 * i * t);
                let mut j = 0;
                while j < h {
                    let (p0, p1, p2, p3) = (
                        base.add(j),
                        base.add(j + h),
                        base.add(j + t),
                        base.add(j + t + h),
                    );
                    let (x0, x1, x2, x3) = if FIRST {
                        (ld_u(c, p0), ld_u(c, p1), ld_u(c, p2), ld_u(c, p3))
                    } else {
                        (ld(p0), ld(p1), ld(p2), ld(p3))
                    };
                    let (x0, x2) = fbf::<N1>(c, x0, x2, w1);
                    let (x1, x3) = fbf::<N1>(c, x1, x3, w1);
                    let (x0, x1) = fbf::<N2>(c, x0, x1, wa);
                    let (x2, x3) = fbf::<N2>(c, x2, x3, wb);
                    st(p0, x0);
                    st(p1, x1);
                    st(p2, x2);
                    st(p3, x3);
                    j += 4;
                }
            }
        }
    }

    /// Inverse stages `t = 1` and `t = 2` over words `w0..w1` (multiples of 8), reading
    /// integer words.
    #[inline(always)]
    unsafe fn inv_head(c: &C, p: *mut f64, f: &F64Ntt, w0: usize, w1: usize) {
        // SAFETY: `w0..w1` lies inside the buffer; twiddle tables hold N/2 entries.
        unsafe {
            let mut k = w0;
            while k < w1 {
                let x = ld_u(c, p.add(k));
                let y = ld_u(c, p.add(k + 4));
                let u = _mm256_unpacklo_pd(x, y);
                let v = _mm256_unpackhi_pd(x, y);
                let (u, v) = ibf::<false>(c, u, v, ld(f.itw1.as_ptr().add(k / 2)));
                let x = _mm256_unpacklo_pd(u, v);
                let y = _mm256_unpackhi_pd(u, v);
                let u = _mm256_permute2f128_pd::<0x20>(x, y);
                let v = _mm256_permute2f128_pd::<0x31>(x, y);
                let (u, v) = ibf::<true>(c, u, v, ld(f.itw2.as_ptr().add(k / 2)));
                st(p.add(k), _mm256_permute2f128_pd::<0x20>(u, v));
                st(p.add(k + 4), _mm256_permute2f128_pd::<0x31>(u, v));
                k += 8;
            }
        }
    }

    /// Inverse stage (`h` groups of span `2t`, `t >= 4`) over groups `i0..i1`; `last`:
    /// write canonical integer words, times `scale` when given.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn inv_stage_k<const NEAR: bool>(
        c: &C,
        p: *mut f64,
        tw: &[f64],
        h: usize,
        t: usize,
        i0: usize,
        i1: usize,
        last: Option<Option<__m256d>>,
    ) {
        // SAFETY: groups `i0..i1` of the stage lie inside the N-word buffer.
        unsafe {
            for i in i0..i1 {
                let w = _mm256_set1_pd(*tw.get_unchecked(h + i));
                let base = p.add(2 * i * t);
                let mut j = 0;
                while j < t {
                    let (pu, pv) = (base.add(j), base.add(j + t));
                    let (x, y) = ibf::<NEAR>(c, ld(pu), ld(pv), w);
                    match last {
                        None => {
                            st(pu, x);
                            st(pv, y);
                        }
                        Some(None) => {
                            st_u(c, pu, x);
                            st_u(c, pv, y);
                        }
                        Some(Some(s)) => {
                            st_u(c, pu, mulr(c, x, s));
                            st_u(c, pv, mulr(c, y, s));
                        }
                    }
                    j += 4;
                }
            }
        }
    }

    /// Inverse stage over groups `i0..i1`: the sums are re-centred only on stages with
    /// `log2 t` odd (a bound `B·q` doubles without, the products stay below
    /// `(0.5 + 2B/8)·q`, so every value stays below `2·q`).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn inv_stage(
        c: &C,
        p: *mut f64,
        tw: &[f64],
        h: usize,
        t: usize,
        i0: usize,
        i1: usize,
        last: Option<Option<__m256d>>,
    ) {
        // SAFETY: forwarded.
        unsafe {
            if t.trailing_zeros() % 2 == 1 {
                inv_stage_k::<true>(c, p, tw, h, t, i0, i1, last)
            } else {
                inv_stage_k::<false>(c, p, tw, h, t, i0, i1, last)
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn inverse(f: &F64Ntt, a: &mut [u64], scale: bool) {
        let n = f.n;
        let p = a.as_mut_ptr() as *mut f64;
        let b = BLOCK.min(n);
        // SAFETY: every stage stays inside the N-word buffer (see the helpers).
        unsafe {
            let c = consts(f.q);
            let fin = Some(if scale {
                Some(_mm256_set1_pd(f.n_inv))
            } else {
                None
            });
            // stages t = 1, 2 then t = 4.. while the group span fits a block
            for blk in 0..n / b {
                inv_head(&c, p, f, blk * b, (blk + 1) * b);
                let (mut h, mut t) = (n / 8, 4usize);
                while 2 * t <= b {
                    let g = b / (2 * t);
                    let last = if h == 1 { fin } else { None };
                    inv_stage(&c, p, &f.itw, h, t, blk * g, (blk + 1) * g, last);
                    h /= 2;
                    t *= 2;
                }
            }
            let (mut h, mut t) = (n / (2 * b), b);
            while h >= 1 {
                let last = if h == 1 { fin } else { None };
                inv_stage(&c, p, &f.itw, h, t, 0, h, last);
                h /= 2;
                t *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhe_dsl::math::ntt_primes;
    use rand::{Rng, SeedableRng};

    #[test]
    fn matches_ntt_table() {
        if !crate::simd::detect() {
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for log_n in [4u32, 5, 6, 10, 11, 12, 13, 16] {
            for bits in [30u32, 36, 45, 49, 50] {
                for q in ntt_primes(bits, log_n, 2, &[]).unwrap() {
                    let table = NttTable::new(q, log_n).unwrap();
                    let f = F64Ntt::new(&table).unwrap();
                    let n = 1usize << log_n;
                    let mut rand: Vec<u64> = (0..n).map(|_| rng.gen_range(0..q)).collect();
                    rand[0] = q - 1;
                    rand[n - 1] = 0;
                    let patterns = [
                        rand,
                        vec![q - 1; n],
                        (0..n).map(|k| if k % 2 == 0 { q - 1 } else { 0 }).collect(),
                        (0..n).map(|k| if k < n / 2 { q - 1 } else { 1 }).collect(),
                    ];
                    for x in patterns {
                        let (mut a, mut b) = (x.clone(), x.clone());
                        f.forward(&mut a);
                        table.forward(&mut b);
                        assert_eq!(a, b, "forward q={q} log_n={log_n}");
                        let mut c = a.clone();
                        f.inverse(&mut c, true);
                        assert_eq!(c, x, "inverse q={q} log_n={log_n}");
                        let mut d = a.clone();
                        f.inverse(&mut d, false);
                        let nn = n as u64 % q;
                        let m = fhe_dsl::math::Modulus::new(q);
                        assert!(d.iter().zip(&x).all(|(&d, &x)| d == m.mul(x, nn)));
                        // transforms of the extreme outputs too (inverse inputs near q)
                        let mut e = vec![q - 1; n];
                        let mut e2 = e.clone();
                        f.inverse(&mut e, true);
                        table.inverse(&mut e2);
                        assert_eq!(e, e2, "inverse of q-1 q={q} log_n={log_n}");
                    }
                }
            }
        }
    }
}
