//! Limb-level kernels and the parallel drivers around them.

use crate::arith::lazy_terms;
use fhe_dsl::math::Modulus;
use rayon::prelude::*;
use std::cell::Cell;

/// Below this many words an operation runs on the calling thread (rayon's fork/join
/// costs more than it saves).
const PAR_MIN_WORDS: usize = 1 << 15;

/// Element-wise work is split into chunks of at most this many words.
const WORD_CHUNK: usize = 1 << 13;

/// Coefficient block of the lazy accumulators (two u128 blocks stay in L1).
const BLOCK: usize = 256;

/// Whether `words` of work is worth spreading over the pool.
#[inline]
pub(crate) fn worth_par(words: usize) -> bool {
    words >= PAR_MIN_WORDS && rayon::current_num_threads() > 1
}

/// Runs `f(items)` on the pool when `par`, else on this thread.
pub(crate) fn run_tasks<T: Send>(items: Vec<T>, par: bool, f: impl Fn(T) + Sync + Send) {
    if par && items.len() > 1 {
        items.into_par_iter().for_each(f);
    } else {
        items.into_iter().for_each(f);
    }
}

/// `f(limb_index, limb)` for every limb of limb-major `data`.
pub(crate) fn par_limbs(data: &mut [u64], n: usize, f: impl Fn(usize, &mut [u64]) + Sync + Send) {
    if worth_par(data.len()) && data.len() > n {
        data.par_chunks_exact_mut(n)
            .enumerate()
            .for_each(|(i, l)| f(i, l));
    } else {
        data.chunks_exact_mut(n)
            .enumerate()
            .for_each(|(i, l)| f(i, l));
    }
}

/// `f(limb_index, offset_in_limb, chunk)` over word chunks that never straddle limbs
/// (finer than [`par_limbs`], for memory-bound element-wise loops).
pub(crate) fn par_words(
    data: &mut [u64],
    n: usize,
    f: impl Fn(usize, usize, &mut [u64]) + Sync + Send,
) {
    let ch = n.min(WORD_CHUNK); // both powers of two: ch divides n
    let g = |(c, s): (usize, &mut [u64])| {
        let start = c * ch;
        f(start / n, start % n, s)
    };
    if worth_par(data.len()) {
        data.par_chunks_mut(ch).enumerate().for_each(g);
    } else {
        data.chunks_mut(ch).enumerate().for_each(g);
    }
}

/// [`par_words`] over two arrays of the same shape, chunk for chunk.
pub(crate) fn par_words2(
    a: &mut [u64],
    b: &mut [u64],
    n: usize,
    f: impl Fn(usize, usize, &mut [u64], &mut [u64]) + Sync + Send,
) {
    assert_eq!(a.len(), b.len());
    let ch = n.min(WORD_CHUNK);
    let g = |(c, (x, y)): (usize, (&mut [u64], &mut [u64]))| {
        let start = c * ch;
        f(start / n, start % n, x, y)
    };
    if worth_par(a.len()) {
        a.par_chunks_mut(ch)
            .zip(b.par_chunks_mut(ch))
            .enumerate()
            .for_each(g);
    } else {
        a.chunks_mut(ch)
            .zip(b.chunks_mut(ch))
            .enumerate()
            .for_each(g);
    }
}

thread_local! {
    static SCRATCH: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on a thread-local scratch buffer of `len` words (contents unspecified).
/// Re-entrant: a nested call just gets a fresh buffer.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u64]) -> R) -> R {
    let mut v = SCRATCH.with(|c| c.take());
    if v.len() < len {
        v.resize(len, 0);
    }
    let r = f(&mut v[..len]);
    SCRATCH.with(|c| c.set(v));
    r
}

/// Fast-basis-conversion row: `out[k] = (Σ_i ys[i][k] · c[i] + add) mod p`, with the
/// sum accumulated lazily in u128 (reduced only when it could overflow).
/// `y_bits` bounds the bit size of every `ys` word; `c[i] < p`, `add < p`.
pub(crate) fn conv_row(
    ys: &[&[u64]],
    c: &[u64],
    y_bits: u32,
    p: &Modulus,
    add: u64,
    out: &mut [u64],
) {
    debug_assert!(!ys.is_empty() && ys.len() == c.len());
    if crate::simd::conv_row(p.value(), ys, c, y_bits, add, out) {
        return;
    }
    if ys.len() == 1 {
        // one row (a rescale's conversion): Shoup's product by the constant, 3
        // multiplications per word instead of a u128 product and its Barrett reduction
        let m = crate::arith::Mod::new(p.value());
        let (w, ws) = (c[0], m.shoup(c[0]));
        for (o, &y) in out.iter_mut().zip(ys[0]) {
            *o = m.add(m.mul_shoup(y, w, ws), add);
        }
        return;
    }
    let lim = lazy_terms(y_bits, p.bits());
    if ys.len() <= lim {
        // register-resident accumulator, no intermediate reduction needed
        match ys.len() {
            1 => return conv_fixed::<1>(ys, c, p, add, out),
            2 => return conv_fixed::<2>(ys, c, p, add, out),
            3 => return conv_fixed::<3>(ys, c, p, add, out),
            4 => return conv_fixed::<4>(ys, c, p, add, out),
            5 => return conv_fixed::<5>(ys, c, p, add, out),
            6 => return conv_fixed::<6>(ys, c, p, add, out),
            7 => return conv_fixed::<7>(ys, c, p, add, out),
            8 => return conv_fixed::<8>(ys, c, p, add, out),
            _ => {}
        }
    }
    let mut acc = [0u128; BLOCK];
    for (b, ob) in out.chunks_mut(BLOCK).enumerate() {
        let base = b * BLOCK;
        let len = ob.len();
        let acc = &mut acc[..len];
        let mut cnt = 0;
        for (i, (y, &ci)) in ys.iter().zip(c).enumerate() {
            let yb = &y[base..base + len];
            let ci = ci as u128;
            if i == 0 {
                for (a, &v) in acc.iter_mut().zip(yb) {
                    *a = v as u128 * ci;
                }
            } else {
                for (a, &v) in acc.iter_mut().zip(yb) {
                    *a += v as u128 * ci;
                }
            }
            cnt += 1;
            if cnt == lim && i + 1 < ys.len() {
                acc.iter_mut().for_each(|a| *a = p.reduce_u128(*a) as u128);
                cnt = 0;
            }
        }
        for (o, a) in ob.iter_mut().zip(acc.iter()) {
            *o = p.add(p.reduce_u128(*a), add);
        }
    }
}

/// [`conv_row`] for exactly `F` rows that fit one u128 accumulator.
#[inline(never)]
fn conv_fixed<const F: usize>(ys: &[&[u64]], c: &[u64], p: &Modulus, add: u64, out: &mut [u64]) {
    let n = out.len();
    let ys: [&[u64]; F] = std::array::from_fn(|i| &ys[i][..n]);
    let c: [u128; F] = std::array::from_fn(|i| c[i] as u128);
    for (k, o) in out.iter_mut().enumerate() {
        let mut acc = 0u128;
        for i in 0..F {
            acc += ys[i][k] as u128 * c[i];
        }
        *o = p.add(p.reduce_u128(acc), add);
    }
}

/// [`inner_row`] for exactly `D` digits that fit one u128 accumulator each.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn inner_fixed<const D: usize>(
    p: &Modulus,
    d: &[&[u64]],
    kb: &[&[u64]],
    ka: &[&[u64]],
    map: Option<&[u32]>,
    acc: bool,
    out0: &mut [u64],
    out1: &mut [u64],
) {
    // the carried residue (`acc`) takes the slot `lazy_terms` keeps for it
    let start = |o: &u64| if acc { *o as u128 } else { 0 };
    let n = out0.len();
    let kb: [&[u64]; D] = std::array::from_fn(|j| &kb[j][..n]);
    let ka: [&[u64]; D] = std::array::from_fn(|j| &ka[j][..n]);
    match map {
        None => {
            let d: [&[u64]; D] = std::array::from_fn(|j| &d[j][..n]);
            for (k, (o0, o1)) in out0.iter_mut().zip(out1.iter_mut()).enumerate() {
                let (mut s0, mut s1) = (start(o0), start(o1));
                for j in 0..D {
                    let x = d[j][k] as u128;
                    s0 += x * kb[j][k] as u128;
                    s1 += x * ka[j][k] as u128;
                }
                *o0 = p.reduce_u128(s0);
                *o1 = p.reduce_u128(s1);
            }
        }
        Some(map) => {
            let d: [&[u64]; D] = std::array::from_fn(|j| d[j]);
            for (k, ((o0, o1), &mi)) in out0.iter_mut().zip(out1.iter_mut()).zip(map).enumerate() {
                let (mut s0, mut s1) = (start(o0), start(o1));
                for j in 0..D {
                    let x = d[j][mi as usize] as u128;
                    s0 += x * kb[j][k] as u128;
                    s1 += x * ka[j][k] as u128;
                }
                *o0 = p.reduce_u128(s0);
                *o1 = p.reduce_u128(s1);
            }
        }
    }
}

/// Key-switching inner product for one limb over prime `p`:
/// `out0[k] = Σ_j d_j[π(k)] · kb_j[k]`, `out1[k] = Σ_j d_j[π(k)] · ka_j[k]` mod p, with
/// `π = map` (identity when `None`), accumulated lazily in u128; with `acc` the sums are
/// added to the outputs' current (reduced) values instead of overwriting them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn inner_row(
    p: &Modulus,
    d: &[&[u64]],
    kb: &[&[u64]],
    ka: &[&[u64]],
    map: Option<&[u32]>,
    acc: bool,
    out0: &mut [u64],
    out1: &mut [u64],
) {
    if crate::simd::inner_row(p.value(), d, kb, ka, map, acc, out0, out1) {
        return;
    }
    let lim = lazy_terms(p.bits(), p.bits());
    if d.len() <= lim {
        match d.len() {
            1 => return inner_fixed::<1>(p, d, kb, ka, map, acc, out0, out1),
            2 => return inner_fixed::<2>(p, d, kb, ka, map, acc, out0, out1),
            3 => return inner_fixed::<3>(p, d, kb, ka, map, acc, out0, out1),
            4 => return inner_fixed::<4>(p, d, kb, ka, map, acc, out0, out1),
            5 => return inner_fixed::<5>(p, d, kb, ka, map, acc, out0, out1),
            6 => return inner_fixed::<6>(p, d, kb, ka, map, acc, out0, out1),
            _ => {}
        }
    }
    let mut acc0 = [0u128; BLOCK];
    let mut acc1 = [0u128; BLOCK];
    for (b, (o0, o1)) in out0
        .chunks_mut(BLOCK)
        .zip(out1.chunks_mut(BLOCK))
        .enumerate()
    {
        let base = b * BLOCK;
        let len = o0.len();
        let (a0, a1) = (&mut acc0[..len], &mut acc1[..len]);
        if acc {
            a0.iter_mut()
                .zip(o0.iter())
                .for_each(|(a, &o)| *a = o as u128);
            a1.iter_mut()
                .zip(o1.iter())
                .for_each(|(a, &o)| *a = o as u128);
        } else {
            a0.fill(0);
            a1.fill(0);
        }
        let mut cnt = 0;
        for (j, ((dj, bj), aj)) in d.iter().zip(kb).zip(ka).enumerate() {
            let (bj, aj) = (&bj[base..base + len], &aj[base..base + len]);
            match map {
                None => {
                    let dj = &dj[base..base + len];
                    for ((((s0, s1), &x), &y0), &y1) in
                        a0.iter_mut().zip(a1.iter_mut()).zip(dj).zip(bj).zip(aj)
                    {
                        *s0 += x as u128 * y0 as u128;
                        *s1 += x as u128 * y1 as u128;
                    }
                }
                Some(map) => {
                    let mb = &map[base..base + len];
                    for ((((s0, s1), &mi), &y0), &y1) in
                        a0.iter_mut().zip(a1.iter_mut()).zip(mb).zip(bj).zip(aj)
                    {
                        let x = dj[mi as usize] as u128;
                        *s0 += x * y0 as u128;
                        *s1 += x * y1 as u128;
                    }
                }
            }
            cnt += 1;
            if cnt == lim && j + 1 < d.len() {
                a0.iter_mut()
                    .chain(a1.iter_mut())
                    .for_each(|a| *a = p.reduce_u128(*a) as u128);
                cnt = 0;
            }
        }
        for (o, a) in o0.iter_mut().zip(a0.iter()) {
            *o = p.reduce_u128(*a);
        }
        for (o, a) in o1.iter_mut().zip(a1.iter()) {
            *o = p.reduce_u128(*a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhe_dsl::math::ntt_primes;
    use rand::{Rng, SeedableRng};

    /// Enough rows to force the mid-accumulation reductions (61-bit: 63 terms at most).
    #[test]
    fn lazy_rows_reduce_when_needed() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let qs = ntt_primes(61, 10, 2, &[]).unwrap();
        let (src, p) = (Modulus::new(qs[0]), Modulus::new(qs[1]));
        for rows in [1usize, 3, 4, 6, 8, 150] {
            let n = 600; // not a multiple of the block
            let ys: Vec<Vec<u64>> = (0..rows)
                .map(|_| (0..n).map(|_| rng.gen_range(0..src.value())).collect())
                .collect();
            let c: Vec<u64> = (0..rows).map(|_| rng.gen_range(0..p.value())).collect();
            let add = p.value() - 3;
            let refs: Vec<&[u64]> = ys.iter().map(|v| v.as_slice()).collect();
            let mut out = vec![0; n];
            conv_row(&refs, &c, src.bits(), &p, add, &mut out);
            for k in 0..n {
                let want =
                    (0..rows).fold(add, |acc, i| p.add(acc, p.mul(p.reduce(ys[i][k]), c[i])));
                assert_eq!(out[k], want, "conv at {k}");
            }
            // inputs using all 64 bits (the one-row Shoup path takes any word)
            let wide: Vec<Vec<u64>> = (0..rows.min(4))
                .map(|_| (0..n).map(|_| rng.gen()).collect())
                .collect();
            let wr: Vec<&[u64]> = wide.iter().map(|v| v.as_slice()).collect();
            conv_row(&wr, &c[..wr.len()], 64, &p, add, &mut out);
            for k in 0..n {
                let want =
                    (0..wr.len()).fold(add, |acc, i| p.add(acc, p.mul(p.reduce(wide[i][k]), c[i])));
                assert_eq!(out[k], want, "wide conv at {k}");
            }
            // inner product, with and without a permutation
            let kb: Vec<Vec<u64>> = (0..rows)
                .map(|_| (0..n).map(|_| rng.gen_range(0..p.value())).collect())
                .collect();
            let d: Vec<Vec<u64>> = ys
                .iter()
                .map(|v| v.iter().map(|&x| p.reduce(x)).collect())
                .collect();
            let dr: Vec<&[u64]> = d.iter().map(|v| v.as_slice()).collect();
            let kr: Vec<&[u64]> = kb.iter().map(|v| v.as_slice()).collect();
            let map: Vec<u32> = (0..n as u32).rev().collect();
            let start: Vec<u64> = (0..n).map(|_| rng.gen_range(0..p.value())).collect();
            for (perm, acc) in [None, Some(map.as_slice())]
                .into_iter()
                .flat_map(|m| [(m, false), (m, true)])
            {
                let (mut o0, mut o1) = (start.clone(), start.clone());
                inner_row(&p, &dr, &kr, &dr, perm, acc, &mut o0, &mut o1);
                for k in 0..n {
                    let idx = perm.map_or(k, |m| m[k] as usize);
                    let s = if acc { start[k] } else { 0 };
                    let w0 = (0..rows).fold(s, |a, j| p.add(a, p.mul(d[j][idx], kb[j][k])));
                    let w1 = (0..rows).fold(s, |a, j| p.add(a, p.mul(d[j][idx], d[j][k])));
                    assert_eq!((o0[k], o1[k]), (w0, w1), "inner at {k}");
                }
            }
        }
    }
}
