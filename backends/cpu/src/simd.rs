//! Vectorised modular multiplication for primes `q < 2^50` (AVX2 + FMA, 4 lanes).
//!
//! The f64 "double-double" trick: for `a, b < q < 2^50` both operands are exact doubles,
//! `h = fl(a·b)` and `l = fma(a, b, -h)` satisfy `a·b = h + l` exactly, the quotient
//! quotient `t = round(h · fl(1/q))` (one FMA onto `1.5·2^52`) is within `0.5 + 2^-51`
//! of `a·b / q` (relative error `< 2^-52` on a value `< 2^50`), and
//! `r = fma(-t, q, h) + l = a·b - t·q` is computed exactly (every intermediate is an
//! integer of magnitude `< 2^52`). `|r| < 0.51·q` is then brought into `[0, q)` by adding
//! `q` where negative, so results are the fully reduced residues
//! [`fhe_dsl::math::Modulus`] returns, bit for bit.
//!
//! Dispatch is at run time (`avx2` and `fma` detected once); every entry point has a
//! portable scalar fallback, and larger primes always take it.

use crate::arith::Mod;
use crate::switch::Switch;

/// Largest modulus (exclusive) the f64 kernels accept.
pub(crate) const F64_Q_LIMIT: u64 = 1 << 50;

/// The vector kernels' switch (`FHE_CPU_SIMD=0` turns them off).
static SWITCH: Switch = Switch::new("FHE_CPU_SIMD", detect);

pub(crate) fn detect() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the vector kernels are in use (off when the CPU lacks AVX2/FMA, after
/// [`set_enabled`]`(false)`, or when the environment sets `FHE_CPU_SIMD=0`).
#[inline]
pub fn enabled() -> bool {
    SWITCH.enabled()
}

/// Turns the vector kernels on (where the CPU supports them) or off, process-wide.
/// Results are identical either way; this exists for A/B timing and cross-checks.
pub fn set_enabled(on: bool) {
    SWITCH.set(on);
}

/// Whether `m` takes the vector path.
#[inline]
fn fast(m: Mod) -> bool {
    m.q < F64_Q_LIMIT && enabled()
}

/// `x[i] = x[i]·y[i] mod q` (operands reduced).
pub(crate) fn mul_assign(m: Mod, x: &mut [u64], y: &[u64]) {
    assert_eq!(x.len(), y.len());
    #[cfg(target_arch = "x86_64")]
    if fast(m) {
        // SAFETY: `fast` checked that the CPU has AVX2 and FMA.
        unsafe { x86::mul_assign(m, x, y) };
        return;
    }
    x.iter_mut().zip(y).for_each(|(x, &y)| *x = m.mul(*x, y));
}

/// `acc[i] = acc[i] + a[i]·b[i] mod q` (operands reduced).
pub(crate) fn mul_add_assign(m: Mod, acc: &mut [u64], a: &[u64], b: &[u64]) {
    assert!(acc.len() == a.len() && acc.len() == b.len());
    #[cfg(target_arch = "x86_64")]
    if fast(m) {
        // SAFETY: `fast` checked that the CPU has AVX2 and FMA.
        unsafe { x86::mul_add_assign(m, acc, a, b) };
        return;
    }
    for ((x, &u), &v) in acc.iter_mut().zip(a).zip(b) {
        *x = m.mul_add(u, v, *x);
    }
}

/// Basis-conversion row `out[k] = (Σ_i ys[i][k]·c[i] + add) mod q` on the vector path;
/// returns `false` (doing nothing) when it does not apply (`q >= 2^50` or kernels off).
/// `y_bits` bounds the inputs (any width up to 64). Requires `c[i] < q`, `add < q`.
pub(crate) fn conv_row(
    q: u64,
    ys: &[&[u64]],
    c: &[u64],
    y_bits: u32,
    add: u64,
    out: &mut [u64],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if q < F64_Q_LIMIT && enabled() {
        assert!(ys.len() == c.len() && ys.iter().all(|y| y.len() >= out.len()));
        let mut done = 0;
        if crate::ifma::enabled() {
            // SAFETY: `ifma::enabled` checked AVX-512F/DQ/IFMA; lengths checked above.
            done = unsafe { crate::ifma::x86::conv_row(q, ys, c, y_bits > 52, add, out) };
        }
        if done < out.len() {
            let rest: Vec<&[u64]> = ys.iter().map(|y| &y[done..]).collect();
            // SAFETY: `enabled` checked that the CPU has AVX2 and FMA; lengths checked above.
            unsafe { x86::conv_row(q, &rest, c, y_bits > 50, add, &mut out[done..]) };
        }
        return true;
    }
    let _ = (q, ys, c, y_bits, add, out);
    false
}

/// Key-switching inner product (see [`crate::kernels::inner_row`]) on the vector path;
/// returns `false` (doing nothing) when it does not apply (`q >= 2^50` or kernels off).
#[allow(clippy::too_many_arguments)]
pub(crate) fn inner_row(
    q: u64,
    d: &[&[u64]],
    kb: &[&[u64]],
    ka: &[&[u64]],
    map: Option<&[u32]>,
    acc: bool,
    out0: &mut [u64],
    out1: &mut [u64],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if q < F64_Q_LIMIT && enabled() {
        let n = out0.len();
        assert!(out1.len() == n && d.len() == kb.len() && d.len() == ka.len());
        assert!(kb.iter().chain(ka).all(|r| r.len() >= n));
        let mut blocked = false;
        match map {
            None => assert!(d.iter().all(|r| r.len() >= n)),
            Some(mp) => {
                let lim = d.iter().map(|r| r.len()).min().unwrap_or(0);
                assert!(mp.len() >= n && mp[..n].iter().all(|&i| (i as usize) < lim));
                // automorphism maps in bit-reversed order permute aligned blocks of 4
                // onto aligned blocks of 4: then one load and a lane shuffle replace the
                // (microcoded, slow) gather
                blocked = lim % 4 == 0
                    && mp[..n - n % 4]
                        .chunks_exact(4)
                        .all(|c| c.iter().all(|&x| x & !3 == c[0] & !3));
            }
        }
        if map.is_none() && crate::ifma::enabled() {
            // SAFETY: `ifma::enabled` checked AVX-512F/DQ/IFMA; lengths asserted above.
            let done = unsafe { crate::ifma::x86::inner(q, d, kb, ka, acc, out0, out1) };
            if done < n {
                fn tail<'a>(r: &[&'a [u64]], from: usize) -> Vec<&'a [u64]> {
                    r.iter().map(|x| &x[from..]).collect()
                }
                let (d, kb, ka) = (tail(d, done), tail(kb, done), tail(ka, done));
                // SAFETY: `enabled` checked AVX2 and FMA; the tails keep the bounds.
                unsafe {
                    x86::inner_row(
                        Mod::new(q),
                        &d,
                        &kb,
                        &ka,
                        None,
                        false,
                        acc,
                        &mut out0[done..],
                        &mut out1[done..],
                    )
                };
            }
            return true;
        }
        if map.is_none() && d.len() > STREAMED_TERMS {
            // SAFETY: `enabled` checked that the CPU has AVX2 and FMA; every row has
            // `>= n` words (asserted above).
            unsafe { x86::sum_products(Mod::new(q), d, kb, ka, acc, out0, out1) };
            return true;
        }
        // SAFETY: `enabled` checked that the CPU has AVX2 and FMA; bounds checked above
        // (`blocked`: every 4-block of `map` lies in one aligned 4-block below `lim`).
        unsafe { x86::inner_row(Mod::new(q), d, kb, ka, map, blocked, acc, out0, out1) };
        return true;
    }
    let _ = (q, d, kb, ka, map, out0, out1);
    false
}

/// Above this many terms an un-permuted inner product runs term by term over blocks of
/// words ([`x86::sum_products`]) rather than all terms per word: 3 streams per term
/// overwhelm the hardware prefetchers (measured at 16 terms: slower than separate
/// multiply-adds).
const STREAMED_TERMS: usize = 4;

/// `x[k] = (x[k] - s[k])·w mod q` (operands reduced; `ws = m.shoup(w)`).
pub(crate) fn sub_mul_const(m: Mod, x: &mut [u64], s: &[u64], w: u64, ws: u64) {
    assert_eq!(x.len(), s.len());
    #[cfg(target_arch = "x86_64")]
    if fast(m) {
        // SAFETY: `fast` checked that the CPU has AVX2 and FMA.
        unsafe { x86::sub_mul_const(m, x, s, w) };
        return;
    }
    for (x, &c) in x.iter_mut().zip(s) {
        *x = m.mul_shoup(m.sub(*x, c), w, ws);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::arith::Mod;
    use std::arch::x86_64::*;

    /// Bits of the double `2^52`: OR-ing an integer `< 2^52` into its mantissa gives
    /// `2^52 + x` exactly.
    const MAGIC: i64 = 0x4330_0000_0000_0000;

    /// Constants of one modulus, broadcast.
    #[derive(Clone, Copy)]
    struct Consts {
        q: __m256d,
        qinv: __m256d,
        magic_i: __m256i,
        magic_d: __m256d,
        zero: __m256d,
    }

    impl Consts {
        #[inline(always)]
        unsafe fn new(q: u64) -> Self {
            // SAFETY: plain AVX register set-ups, no memory access.
            unsafe {
                Consts {
                    q: _mm256_set1_pd(q as f64),
                    qinv: _mm256_set1_pd(1.0 / q as f64),
                    magic_i: _mm256_set1_epi64x(MAGIC),
                    magic_d: _mm256_set1_pd(4_503_599_627_370_496.0),
                    zero: _mm256_setzero_pd(),
                }
            }
        }
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

    /// Lanes `< 2^52` as exact doubles.
    #[inline(always)]
    unsafe fn to_f64(c: &Consts, x: __m256i) -> __m256d {
        // SAFETY: register-only AVX2 operations (caller guarantees the features).
        unsafe {
            _mm256_sub_pd(
                _mm256_castsi256_pd(_mm256_or_si256(x, c.magic_i)),
                c.magic_d,
            )
        }
    }

    /// Integral doubles in `[0, 2^52)` back to integers.
    #[inline(always)]
    unsafe fn to_u64(c: &Consts, x: __m256d) -> __m256i {
        // SAFETY: register-only AVX2 operations (caller guarantees the features).
        unsafe { _mm256_xor_si256(_mm256_castpd_si256(_mm256_add_pd(x, c.magic_d)), c.magic_i) }
    }

    /// `a·b mod q` for exact doubles `a, b < q < 2^50`, as a double in `[0, q)`.
    #[inline(always)]
    unsafe fn mulmod(c: &Consts, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: register-only AVX2/FMA operations (caller guarantees the features).
        unsafe {
            let h = _mm256_mul_pd(a, b);
            let l = _mm256_fmsub_pd(a, b, h);
            let t = round_q(h, c.qinv);
            let r = _mm256_add_pd(_mm256_fnmadd_pd(t, c.q, h), l);
            // |r| < 0.51q: add q where negative
            _mm256_add_pd(
                r,
                _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(r, c.zero), c.q),
            )
        }
    }

    #[inline(always)]
    unsafe fn load(p: *const u64) -> __m256i {
        // SAFETY: the caller passes a pointer to 4 readable words.
        unsafe { _mm256_loadu_si256(p as *const __m256i) }
    }

    #[inline(always)]
    unsafe fn store(p: *mut u64, v: __m256i) {
        // SAFETY: the caller passes a pointer to 4 writable words.
        unsafe { _mm256_storeu_si256(p as *mut __m256i, v) }
    }

    /// See [`super::mul_assign`]; `q < 2^50`, equal lengths.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn mul_assign(m: Mod, x: &mut [u64], y: &[u64]) {
        let n = x.len();
        let main = n - n % 4;
        // SAFETY: `i + 4 <= main <= n` for every vector access; both slices have `n` words.
        unsafe {
            let c = Consts::new(m.q);
            let (px, py) = (x.as_mut_ptr(), y.as_ptr());
            let mut i = 0;
            while i < main {
                let a = to_f64(&c, load(px.add(i)));
                let b = to_f64(&c, load(py.add(i)));
                store(px.add(i), to_u64(&c, mulmod(&c, a, b)));
                i += 4;
            }
        }
        for k in main..n {
            x[k] = m.mul(x[k], y[k]);
        }
    }

    /// See [`super::mul_add_assign`]; `q < 2^50`, equal lengths.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn mul_add_assign(m: Mod, acc: &mut [u64], a: &[u64], b: &[u64]) {
        let n = acc.len();
        let main = n - n % 4;
        // SAFETY: `i + 4 <= main <= n` for every vector access; all slices have `n` words.
        unsafe {
            let c = Consts::new(m.q);
            let (px, pa, pb) = (acc.as_mut_ptr(), a.as_ptr(), b.as_ptr());
            let mut i = 0;
            while i < main {
                let u = to_f64(&c, load(pa.add(i)));
                let v = to_f64(&c, load(pb.add(i)));
                let s = _mm256_add_pd(mulmod(&c, u, v), to_f64(&c, load(px.add(i))));
                let s = _mm256_sub_pd(s, _mm256_and_pd(_mm256_cmp_pd::<_CMP_GE_OQ>(s, c.q), c.q));
                store(px.add(i), to_u64(&c, s));
                i += 4;
            }
        }
        for k in main..n {
            acc[k] = m.mul_add(a[k], b[k], acc[k]);
        }
    }

    /// `a·b - t·q` with `t = round(a·b/q)` (estimate): magnitude `< 0.875·q`, an exact
    /// integer-valued double. For `a < 2^50`, `b < q < 2^50` (`a` may exceed `q`).
    #[inline(always)]
    unsafe fn mulmod_lazy(c: &Consts, a: __m256d, b: __m256d) -> __m256d {
        // SAFETY: register-only AVX2/FMA operations (caller guarantees the features).
        unsafe {
            let h = _mm256_mul_pd(a, b);
            let l = _mm256_fmsub_pd(a, b, h);
            let t = round_q(h, c.qinv);
            _mm256_add_pd(_mm256_fnmadd_pd(t, c.q, h), l)
        }
    }

    /// An exact integer-valued `|s| < 2^53` to a representative of magnitude `< 0.51·q`.
    #[inline(always)]
    unsafe fn reduce_near(c: &Consts, s: __m256d) -> __m256d {
        // SAFETY: register-only AVX2/FMA operations (caller guarantees the features).
        unsafe {
            let t = round_q(s, c.qinv);
            _mm256_fnmadd_pd(t, c.q, s)
        }
    }

    /// An exact integer-valued `|s| < 2^53` to `[0, q)`.
    #[inline(always)]
    unsafe fn reduce_full(c: &Consts, s: __m256d) -> __m256d {
        // SAFETY: register-only AVX2/FMA operations (caller guarantees the features).
        unsafe {
            // |s/q| < 8 so the rounded quotient leaves |r| < 0.51q: add q where negative
            let t = round_q(s, c.qinv);
            let r = _mm256_fnmadd_pd(t, c.q, s);
            _mm256_add_pd(
                r,
                _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(r, c.zero), c.q),
            )
        }
    }

    /// `U` vectors of a conversion row starting at word `i` (independent accumulators,
    /// interleaved for instruction-level parallelism), as canonical words.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn conv_block<const U: usize>(
        k: &Consts,
        ys: &[&[u64]],
        cs: &[(__m256d, __m256d)],
        wide: bool,
        addv: __m256d,
        lo_mask: __m256i,
        i: usize,
    ) -> [__m256i; U] {
        // SAFETY: the caller guarantees `i + 4·U` words are readable in every row.
        unsafe {
            let per_row = if wide { 2 } else { 1 };
            let mut s = [addv; U];
            let mut cnt = 0;
            for (y, &(cl, ch)) in ys.iter().zip(cs) {
                if cnt + per_row > 7 {
                    for s in &mut s {
                        *s = reduce_near(k, *s);
                    }
                    cnt = 0;
                }
                for (u, s) in s.iter_mut().enumerate() {
                    let v = load(y.as_ptr().add(i + 4 * u));
                    if wide {
                        let lo = to_f64(k, _mm256_and_si256(v, lo_mask));
                        let hi = to_f64(k, _mm256_srli_epi64::<32>(v));
                        *s = _mm256_add_pd(*s, mulmod_lazy(k, lo, cl));
                        *s = _mm256_add_pd(*s, mulmod_lazy(k, hi, ch));
                    } else {
                        *s = _mm256_add_pd(*s, mulmod_lazy(k, to_f64(k, v), cl));
                    }
                }
                cnt += per_row;
            }
            let mut out = [_mm256_setzero_si256(); U];
            for (o, s) in out.iter_mut().zip(s) {
                *o = to_u64(k, reduce_full(k, s));
            }
            out
        }
    }

    /// See [`super::conv_row`]; `q < 2^50`, `c[i], add < q`; `wide`: inputs are full
    /// 64-bit words (split into 32-bit halves), else `< 2^50`.
    ///
    /// Lazy accumulation: each term is `< 0.875·q` in magnitude, the running sum starts
    /// at `add < q` and is brought back under `0.51·q` before it could reach `8·q`
    /// (`< 2^53`), so every addition is exact.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn conv_row(
        q: u64,
        ys: &[&[u64]],
        c: &[u64],
        wide: bool,
        add: u64,
        out: &mut [u64],
    ) {
        let n = out.len();
        let main = n - n % 4;
        // SAFETY: `i + 4 <= main <= n` for every vector access; every row has `>= n` words.
        unsafe {
            let k = Consts::new(q);
            // per row: (c, c·2^32 mod q)
            let cs: Vec<(__m256d, __m256d)> = c
                .iter()
                .map(|&ci| {
                    let hi = ((ci as u128) << 32) % q as u128;
                    (_mm256_set1_pd(ci as f64), _mm256_set1_pd(hi as f64))
                })
                .collect();
            let lo_mask = _mm256_set1_epi64x(0xffff_ffff);
            let addv = _mm256_set1_pd(add as f64);
            let po = out.as_mut_ptr();
            let main8 = n - n % 8;
            let mut i = 0;
            while i < main8 {
                let s = conv_block::<2>(&k, ys, &cs, wide, addv, lo_mask, i);
                store(po.add(i), s[0]);
                store(po.add(i + 4), s[1]);
                i += 8;
            }
            while i < main {
                let s = conv_block::<1>(&k, ys, &cs, wide, addv, lo_mask, i);
                store(po.add(i), s[0]);
                i += 4;
            }
        }
        let m = Mod::new(q);
        for k in main..n {
            out[k] = ys.iter().zip(c).fold(add, |a, (y, &ci)| {
                // y may exceed q (a wider source prime): reduce it first
                m.add(a, m.mul(y[k] % q, ci))
            });
        }
    }

    /// See [`super::inner_row`]; `q < 2^50`, all operands reduced, `map` entries `< n`
    /// of every `d` row (checked by the caller).
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn inner_row(
        m: Mod,
        d: &[&[u64]],
        kb: &[&[u64]],
        ka: &[&[u64]],
        map: Option<&[u32]>,
        blocked: bool,
        acc: bool,
        out0: &mut [u64],
        out1: &mut [u64],
    ) {
        let n = out0.len();
        let main = n - n % 4;
        // SAFETY: `i + 4 <= main <= n` for every contiguous vector access (all rows have
        // `>= n` words); gathered indices come from `map` and are in bounds; with
        // `blocked`, `map[i] & !3` starts an in-bounds aligned block of 4.
        unsafe {
            let k = Consts::new(m.q);
            let (p0, p1) = (out0.as_mut_ptr(), out1.as_mut_ptr());
            let three = _mm_set1_epi32(3);
            let one = _mm256_set1_epi64x(1 << 32);
            let mut i = 0;
            while i < main {
                // a carried output (< q) counts as one term of the lazy bound
                let (mut s0, mut s1, mut cnt) = if acc {
                    (to_f64(&k, load(p0.add(i))), to_f64(&k, load(p1.add(i))), 1)
                } else {
                    (k.zero, k.zero, 0)
                };
                // per output block: the gather indices, or the aligned source block and
                // the 32-bit lane shuffle picking its words
                let (idx, base, perm) = match map {
                    Some(mp) => {
                        let idx = _mm_loadu_si128(mp.as_ptr().add(i) as *const __m128i);
                        let w = _mm256_cvtepu32_epi64(_mm_and_si128(idx, three));
                        let w2 = _mm256_add_epi64(w, w);
                        let perm =
                            _mm256_add_epi64(_mm256_or_si256(w2, _mm256_slli_epi64::<32>(w2)), one);
                        (idx, (*mp.get_unchecked(i) & !3) as usize, perm)
                    }
                    None => (_mm_setzero_si128(), 0, _mm256_setzero_si256()),
                };
                for j in 0..d.len() {
                    if cnt == 8 {
                        s0 = reduce_near(&k, s0);
                        s1 = reduce_near(&k, s1);
                        cnt = 0;
                    }
                    let x = match map {
                        None => load(d[j].as_ptr().add(i)),
                        Some(_) if blocked => {
                            _mm256_permutevar8x32_epi32(load(d[j].as_ptr().add(base)), perm)
                        }
                        Some(_) => _mm256_i32gather_epi64::<8>(d[j].as_ptr() as *const i64, idx),
                    };
                    let x = to_f64(&k, x);
                    let b = to_f64(&k, load(kb[j].as_ptr().add(i)));
                    let a = to_f64(&k, load(ka[j].as_ptr().add(i)));
                    s0 = _mm256_add_pd(s0, mulmod_lazy(&k, x, b));
                    s1 = _mm256_add_pd(s1, mulmod_lazy(&k, x, a));
                    cnt += 1;
                }
                store(p0.add(i), to_u64(&k, reduce_full(&k, s0)));
                store(p1.add(i), to_u64(&k, reduce_full(&k, s1)));
                i += 4;
            }
        }
        scalar_tail(m, d, kb, ka, map, acc, main, out0, out1);
    }

    /// Words `from..` of an inner product, one at a time (the vector kernels' tails).
    #[allow(clippy::too_many_arguments)]
    fn scalar_tail(
        m: Mod,
        d: &[&[u64]],
        kb: &[&[u64]],
        ka: &[&[u64]],
        map: Option<&[u32]>,
        acc: bool,
        from: usize,
        out0: &mut [u64],
        out1: &mut [u64],
    ) {
        for t in from..out0.len() {
            let idx = map.map_or(t, |mp| mp[t] as usize);
            let (mut s0, mut s1) = if acc { (out0[t], out1[t]) } else { (0, 0) };
            for j in 0..d.len() {
                s0 = m.mul_add(d[j][idx], kb[j][t], s0);
                s1 = m.mul_add(d[j][idx], ka[j][t], s1);
            }
            out0[t] = s0;
            out1[t] = s1;
        }
    }

    /// Words per block of [`sum_products`]: its two f64 accumulators stay in L1.
    const SUM_BLOCK: usize = 512;

    /// [`inner_row`] without a map, term by term over blocks of [`SUM_BLOCK`] words
    /// (sequential streams), accumulating lazily in f64 with the same bounds: a
    /// reduction to `< 0.51·q` before an accumulator could hold 8 unreduced terms.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn sum_products(
        m: Mod,
        d: &[&[u64]],
        kb: &[&[u64]],
        ka: &[&[u64]],
        acc: bool,
        out0: &mut [u64],
        out1: &mut [u64],
    ) {
        let n = out0.len();
        let main = n - n % 4;
        // SAFETY: every vector access is at `base + i + 4 <= main <= n` in rows of
        // `>= n` words (checked by the caller); the accumulators are local arrays.
        unsafe {
            let k = Consts::new(m.q);
            let mut s0 = [k.zero; SUM_BLOCK / 4];
            let mut s1 = [k.zero; SUM_BLOCK / 4];
            let (p0, p1) = (out0.as_mut_ptr(), out1.as_mut_ptr());
            let mut base = 0;
            while base < main {
                let len = (main - base).min(SUM_BLOCK);
                let lanes = len / 4;
                let mut cnt = 0;
                for v in 0..lanes {
                    let at = base + 4 * v;
                    if acc {
                        s0[v] = to_f64(&k, load(p0.add(at)));
                        s1[v] = to_f64(&k, load(p1.add(at)));
                    } else {
                        s0[v] = k.zero;
                        s1[v] = k.zero;
                    }
                }
                if acc {
                    cnt = 1;
                }
                for j in 0..d.len() {
                    if cnt == 8 {
                        for v in 0..lanes {
                            s0[v] = reduce_near(&k, s0[v]);
                            s1[v] = reduce_near(&k, s1[v]);
                        }
                        cnt = 0;
                    }
                    let (pd, pb, pa) = (d[j].as_ptr(), kb[j].as_ptr(), ka[j].as_ptr());
                    for v in 0..lanes {
                        let at = base + 4 * v;
                        let x = to_f64(&k, load(pd.add(at)));
                        let b = to_f64(&k, load(pb.add(at)));
                        let a = to_f64(&k, load(pa.add(at)));
                        s0[v] = _mm256_add_pd(s0[v], mulmod_lazy(&k, x, b));
                        s1[v] = _mm256_add_pd(s1[v], mulmod_lazy(&k, x, a));
                    }
                    cnt += 1;
                }
                for v in 0..lanes {
                    let at = base + 4 * v;
                    store(p0.add(at), to_u64(&k, reduce_full(&k, s0[v])));
                    store(p1.add(at), to_u64(&k, reduce_full(&k, s1[v])));
                }
                base += len;
            }
        }
        scalar_tail(m, d, kb, ka, None, acc, main, out0, out1);
    }

    /// See [`super::sub_mul_const`]; `q < 2^50`, operands and `w` reduced.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn sub_mul_const(m: Mod, x: &mut [u64], s: &[u64], w: u64) {
        let n = x.len();
        let main = n - n % 4;
        // SAFETY: `i + 4 <= main <= n` for every vector access; both slices have `n` words.
        unsafe {
            let k = Consts::new(m.q);
            let wv = _mm256_set1_pd(w as f64);
            let (px, ps) = (x.as_mut_ptr(), s.as_ptr());
            let mut i = 0;
            while i < main {
                let d = _mm256_sub_pd(to_f64(&k, load(px.add(i))), to_f64(&k, load(ps.add(i))));
                let d = _mm256_add_pd(
                    d,
                    _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(d, k.zero), k.q),
                );
                store(px.add(i), to_u64(&k, mulmod(&k, d, wv)));
                i += 4;
            }
        }
        for k in main..n {
            x[k] = m.mul(m.sub(x[k], s[k]), w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhe_dsl::math::{ntt_primes, Modulus};
    use proptest::prelude::*;

    /// Primes of 28..=50 bits (the f64 range) plus two the scalar path keeps.
    fn primes() -> Vec<u64> {
        let mut v = Vec::new();
        for bits in [28u32, 31, 36, 40, 45, 49, 50, 55, 60] {
            v.extend(ntt_primes(bits, 4, 2, &[]).unwrap());
        }
        v.push(268_369_921);
        v.push(F64_Q_LIMIT - 27); // not NTT-friendly, but any odd modulus works here
        v
    }

    /// Inputs: the edges (0, 1, 2, q-1, q-2, q/2, powers of two below q) and randoms.
    fn inputs(q: u64, rng: &mut impl rand::Rng, extra: usize) -> Vec<u64> {
        let mut v = vec![0, 1, 2, q - 1, q - 2, q / 2, q / 2 + 1];
        let mut p = 1u64;
        while p < q {
            v.push(p);
            v.push(q - p);
            p <<= 1;
        }
        v.extend((0..extra).map(|_| rng.gen_range(0..q)));
        v
    }

    #[test]
    fn edges_and_randoms_match_modulus() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for q in primes() {
            let (m, r) = (Mod::new(q), Modulus::new(q));
            let xs = inputs(q, &mut rng, 200);
            // all pairs, laid out so every vector lane and the scalar tail see them
            let a: Vec<u64> = xs.iter().flat_map(|&x| xs.iter().map(move |_| x)).collect();
            let b: Vec<u64> = xs.iter().flat_map(|_| xs.iter().copied()).collect();
            let c: Vec<u64> = (0..a.len()).map(|k| xs[(k * 7 + 3) % xs.len()]).collect();
            let mut x = a[..a.len() - 1].to_vec(); // odd length: exercises the tail
            mul_assign(m, &mut x, &b[..a.len() - 1]);
            for k in 0..x.len() {
                assert_eq!(x[k], r.mul(a[k], b[k]), "q={q} {}·{}", a[k], b[k]);
            }
            let mut acc = c.clone();
            mul_add_assign(m, &mut acc, &a, &b);
            for k in 0..acc.len() {
                assert_eq!(acc[k], r.add(r.mul(a[k], b[k]), c[k]), "q={q}");
            }
        }
    }

    /// Conversion rows (inputs up to 50 bits, wider than `q`) and `(x - s)·w`.
    #[test]
    fn conv_and_sub_mul_match_modulus() {
        // both the AVX2 and (where the CPU has it) the AVX-512 IFMA kernels; a switch
        // flipped under a concurrent test only changes which exact kernel it runs
        for ifma in [false, true] {
            crate::ifma::set_enabled(ifma);
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
            for q in primes() {
                let (m, r) = (Mod::new(q), Modulus::new(q));
                let edges = inputs(q, &mut rng, 0);
                let n = 4 * edges.len() + 3;
                for y_bits in [r.bits(), 50, 51, 57, 60, 64] {
                    for rows in [1usize, 2, 3, 4, 6, 7, 9, 24] {
                        let mut ys: Vec<Vec<u64>> = (0..rows)
                            .map(|_| (0..n).map(|_| rng.gen::<u64>() >> (64 - y_bits)).collect())
                            .collect();
                        for (k, &e) in edges.iter().enumerate() {
                            ys[0][k] = e;
                            ys[rows - 1][n - 1 - k] = (u64::MAX >> (64 - y_bits)) - (e & 7);
                        }
                        let c: Vec<u64> = (0..rows)
                            .map(|i| edges[(i * 5 + 3) % edges.len()])
                            .collect();
                        let add = edges[rows % edges.len()];
                        let refs: Vec<&[u64]> = ys.iter().map(|v| v.as_slice()).collect();
                        let mut out = vec![0; n];
                        let done = conv_row(q, &refs, &c, y_bits, add, &mut out);
                        assert_eq!(done, detect() && q < F64_Q_LIMIT);
                        if !done {
                            continue;
                        }
                        for k in 0..n {
                            let want = (0..rows)
                                .fold(add, |a, i| r.add(a, r.mul(r.reduce(ys[i][k]), c[i])));
                            assert_eq!(out[k], want, "q={q} rows={rows} k={k}");
                        }
                    }
                }
                let x: Vec<u64> = (0..n).map(|k| edges[k % edges.len()]).collect();
                let sv: Vec<u64> = (0..n).map(|k| edges[(k * 3 + 1) % edges.len()]).collect();
                for w in [0, 1, q - 1, q / 3] {
                    let mut got = x.clone();
                    sub_mul_const(m, &mut got, &sv, w, m.shoup(w));
                    for k in 0..n {
                        assert_eq!(got[k], r.mul(r.sub(x[k], sv[k]), w), "q={q} w={w}");
                    }
                }
            }
        }
        crate::ifma::set_enabled(true);
    }

    /// Inner products of up to 20 digits, with and without a permutation.
    #[test]
    fn inner_row_matches_modulus() {
        // both the AVX2 and (where the CPU has it) the AVX-512 IFMA kernels; a switch
        // flipped under a concurrent test only changes which exact kernel it runs
        for ifma in [false, true] {
            crate::ifma::set_enabled(ifma);
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
            for q in primes() {
                let r = Modulus::new(q);
                let edges = inputs(q, &mut rng, 0);
                // one block and a tail, and several blocks of the term-by-term kernel
                for n in [4 * edges.len() + 1, 1031] {
                    for digits in [1usize, 2, 4, 8, 9, 17, 20] {
                        let mut row = |j: usize| -> Vec<u64> {
                            (0..n)
                                .map(|k| {
                                    if (k + j).is_multiple_of(3) {
                                        edges[(k * 7 + j) % edges.len()]
                                    } else {
                                        rng.gen_range(0..q)
                                    }
                                })
                                .collect()
                        };
                        let d: Vec<Vec<u64>> = (0..digits).map(&mut row).collect();
                        let kb: Vec<Vec<u64>> = (0..digits).map(|j| row(j + 1)).collect();
                        let ka: Vec<Vec<u64>> = (0..digits).map(|j| row(j + 2)).collect();
                        let dr: Vec<&[u64]> = d.iter().map(|x| x.as_slice()).collect();
                        let br: Vec<&[u64]> = kb.iter().map(|x| x.as_slice()).collect();
                        let ar: Vec<&[u64]> = ka.iter().map(|x| x.as_slice()).collect();
                        let map: Vec<u32> = (0..n as u32).map(|k| (k * 5 + 3) % n as u32).collect();
                        // with `acc` the sums land on top of reduced starting values (edges too)
                        let start0 = row(digits + 3);
                        let start1 = row(digits + 4);
                        for (perm, acc) in [None, Some(map.as_slice())]
                            .into_iter()
                            .flat_map(|p| [(p, false), (p, true)])
                        {
                            let (mut o0, mut o1) = (start0.clone(), start1.clone());
                            let done = inner_row(q, &dr, &br, &ar, perm, acc, &mut o0, &mut o1);
                            assert_eq!(done, detect() && q < F64_Q_LIMIT);
                            if !done {
                                continue;
                            }
                            for k in 0..n {
                                let x = perm.map_or(k, |m| m[k] as usize);
                                let (i0, i1) = if acc { (start0[k], start1[k]) } else { (0, 0) };
                                let w0 =
                                    (0..digits).fold(i0, |a, j| r.add(a, r.mul(d[j][x], kb[j][k])));
                                let w1 =
                                    (0..digits).fold(i1, |a, j| r.add(a, r.mul(d[j][x], ka[j][k])));
                                assert_eq!((o0[k], o1[k]), (w0, w1), "q={q} digits={digits} k={k}");
                            }
                        }
                    }
                }
            }
        }
        crate::ifma::set_enabled(true);
    }

    /// Automorphism maps (aligned 4-blocks: the shuffle path) against the reference.
    #[test]
    fn inner_row_automorphism_maps() {
        use fhe_dsl::math::automorphism_ntt_map;
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let log_n = 10;
        let n = 1usize << log_n;
        for q in primes() {
            let r = Modulus::new(q);
            for g in [5usize, 25, 125, 2 * n - 1, 3] {
                let map = automorphism_ntt_map(log_n, g);
                assert!(map
                    .chunks_exact(4)
                    .all(|c| c.iter().all(|&x| x & !3 == c[0] & !3)));
                let digits = 1 + g % 5;
                let mk = |rng: &mut rand_chacha::ChaCha8Rng| -> Vec<Vec<u64>> {
                    (0..digits)
                        .map(|_| (0..n).map(|_| rng.gen_range(0..q)).collect())
                        .collect()
                };
                let (d, kb, ka) = (mk(&mut rng), mk(&mut rng), mk(&mut rng));
                let dr: Vec<&[u64]> = d.iter().map(|x| x.as_slice()).collect();
                let br: Vec<&[u64]> = kb.iter().map(|x| x.as_slice()).collect();
                let ar: Vec<&[u64]> = ka.iter().map(|x| x.as_slice()).collect();
                let (mut o0, mut o1) = (vec![0; n], vec![0; n]);
                if !inner_row(q, &dr, &br, &ar, Some(&map), false, &mut o0, &mut o1) {
                    continue;
                }
                for k in 0..n {
                    let x = map[k] as usize;
                    let w0 = (0..digits).fold(0, |a, j| r.add(a, r.mul(d[j][x], kb[j][k])));
                    let w1 = (0..digits).fold(0, |a, j| r.add(a, r.mul(d[j][x], ka[j][k])));
                    assert_eq!((o0[k], o1[k]), (w0, w1), "q={q} g={g} k={k}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_vectors_match_modulus(seed in any::<u64>(), i in 0usize..38, len in 0usize..70) {
            use rand::{Rng, SeedableRng};
            let ps = primes();
            let q = ps[i % ps.len()];
            let (m, r) = (Mod::new(q), Modulus::new(q));
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let a: Vec<u64> = (0..len).map(|_| rng.gen_range(0..q)).collect();
            let b: Vec<u64> = (0..len).map(|_| rng.gen_range(0..q)).collect();
            let c: Vec<u64> = (0..len).map(|_| rng.gen_range(0..q)).collect();
            let mut x = a.clone();
            mul_assign(m, &mut x, &b);
            let mut acc = c.clone();
            mul_add_assign(m, &mut acc, &a, &b);
            for k in 0..len {
                prop_assert_eq!(x[k], r.mul(a[k], b[k]));
                prop_assert_eq!(acc[k], r.add(r.mul(a[k], b[k]), c[k]));
            }
        }
    }
}
