//! The fused key-switching engine: the digit decomposition of ModUp ([`Decomp`]), where
//! a key switch reads its raised digits from ([`Digits`]), the inner product with one
//! key ([`KsKey`], [`raised_inner`] for digits already raised), the division by tail
//! primes of ModDown and rescaling ([`Tail`]), and [`CpuBackend::key_switch_fused`],
//! which runs them per output limb without materialising the raised digits. The
//! [`Backend`](fhe_dsl::backend::Backend) methods in the crate root call into it.

use crate::cache::{auto_map, ntts, Ntt};
use crate::kernels::{conv_row, inner_row, par_limbs, run_tasks, with_scratch, worth_par};
use crate::{max_bits, simd, CpuBackend};
use fhe_dsl::backend::{p_mod_q, tail_constants, KeyDigits};
use fhe_dsl::math::Modulus;
use fhe_dsl::ring::limb_positions as positions;
use fhe_dsl::ring::{concat_words, zeroed_words, BaseConvTable, RingContext, RnsPoly};
use std::ops::Range;
use std::sync::Arc;

/// The data of a key-switching decomposition of an NTT-form `a` over `Q_l`:
/// digits of `alpha` primes, raised to `Q_l ∪ P`.
pub(crate) struct Decomp<'c> {
    ctx: &'c RingContext,
    pub(crate) n: usize,
    ntt: Arc<[Arc<Ntt>]>,
    /// Output limb order: `Q_l` then `P`.
    pub(crate) qp: Vec<usize>,
    /// Position ranges (within `Q_l`) of each digit.
    ranges: Vec<Range<usize>>,
    /// Per digit: conversion from its primes to all the others (in `qp` order).
    tables: Vec<Arc<BaseConvTable>>,
    /// Per digit: bit bound of its primes.
    bits: Vec<u32>,
}

impl<'c> Decomp<'c> {
    pub(crate) fn new(ctx: &'c RingContext, q: &[usize], alpha: usize) -> Self {
        assert!(alpha >= 1 && !q.is_empty(), "empty decomposition");
        let qp: Vec<usize> = q.iter().copied().chain(ctx.p_indices()).collect();
        let ranges: Vec<Range<usize>> = (0..q.len())
            .step_by(alpha)
            .map(|s| s..(s + alpha).min(q.len()))
            .collect();
        let tables = ranges
            .iter()
            .map(|r| {
                let others: Vec<usize> =
                    qp[..r.start].iter().chain(&qp[r.end..]).copied().collect();
                ctx.base_conv(&q[r.clone()], &others)
            })
            .collect();
        let bits = ranges
            .iter()
            .map(|r| max_bits(ctx, &q[r.clone()]))
            .collect();
        Decomp {
            ctx,
            n: ctx.n(),
            ntt: ntts(ctx),
            qp,
            ranges,
            tables,
            bits,
        }
    }

    pub(crate) fn digits(&self) -> usize {
        self.ranges.len()
    }

    /// `y_i = [INTT(a)_i · qhat_inv_i]_{q_i}` for every Q limb (qhat of its own digit).
    pub(crate) fn prepare(&self, a: &RnsPoly) -> Vec<u64> {
        let n = self.n;
        let alpha = self.ranges[0].len();
        let mut y = concat_words(&[&a.data]);
        par_limbs(&mut y, n, |i, limb| {
            let ntt = &self.ntt[a.primes[i]];
            let m = ntt.m;
            let w = m.mul(ntt.raw_scale, self.tables[i / alpha].qhat_inv[i % alpha]);
            let ws = m.shoup(w);
            ntt.inverse_raw(limb);
            limb.iter_mut().for_each(|x| *x = m.mul_shoup(*x, w, ws));
        });
        y
    }

    /// Digit `j` at output position `t` (NTT form): borrowed from `a` when the prime is
    /// the digit's own, else converted from `y` into `out` (and `None` returned).
    pub(crate) fn limb<'s>(
        &self,
        a: &'s RnsPoly,
        y: &[u64],
        j: usize,
        t: usize,
        out: &mut [u64],
    ) -> Option<&'s [u64]> {
        let r = &self.ranges[j];
        if r.contains(&t) {
            return Some(a.limb(t));
        }
        self.convert(y, j, t, 0, out);
        self.ntt[self.qp[t]].forward(out);
        None
    }

    /// Words `start..start + out.len()` of digit `j` converted to output limb `t` (not
    /// one of the digit's own), coefficient form.
    fn convert(&self, y: &[u64], j: usize, t: usize, start: usize, out: &mut [u64]) {
        let (n, r) = (self.n, &self.ranges[j]);
        let row = if t < r.start { t } else { t - r.len() };
        let from = r.len();
        let ys: Vec<&[u64]> = r
            .clone()
            .map(|i| &y[i * n + start..i * n + start + out.len()])
            .collect();
        conv_row(
            &ys,
            &self.tables[j].qhat_mod_p[row * from..(row + 1) * from],
            self.bits[j],
            self.ctx.modulus(self.qp[t]),
            0,
            out,
        );
    }
}

/// Words per block of [`Decomp::mod_up_blocked`]: one digit's rows of a block
/// (`alpha · 8 KiB`) stay in L2 while every output limb's block is converted from them.
pub(crate) const MODUP_BLOCK: usize = 1024;

impl Decomp<'_> {
    /// Every digit raised to `Q_l ∪ P` (the materialised form of [`limb`](Self::limb)),
    /// converted block of words by block of words for all output limbs at once: the
    /// per-limb order re-reads the digit's whole rows (MBs) from L3 for each output
    /// limb, which made the conversion memory-bound. Then one NTT per converted limb.
    pub(crate) fn mod_up_blocked(&self, a: &RnsPoly, y: &[u64], outs: &mut [RnsPoly]) {
        let n = self.n;
        let nb = n / MODUP_BLOCK;
        let par = worth_par(outs.len() * self.qp.len() * n);
        // tasks: (digit, block) with that block of every output limb
        type Block<'a> = (usize, usize, Vec<(usize, &'a mut [u64])>);
        let mut tasks: Vec<Block> = Vec::new();
        for (j, o) in outs.iter_mut().enumerate() {
            let mut per_block: Vec<Vec<(usize, &mut [u64])>> =
                (0..nb).map(|_| Vec::new()).collect();
            for (t, limb) in o.data.chunks_exact_mut(n).enumerate() {
                for (b, chunk) in limb.chunks_exact_mut(MODUP_BLOCK).enumerate() {
                    per_block[b].push((t, chunk));
                }
            }
            tasks.extend(per_block.into_iter().enumerate().map(|(b, v)| (j, b, v)));
        }
        run_tasks(tasks, par, |(j, b, chunks)| {
            let r = &self.ranges[j];
            let start = b * MODUP_BLOCK;
            for (t, out) in chunks {
                if !r.contains(&t) {
                    self.convert(y, j, t, start, out);
                }
            }
        });
        // copies of the digit's own limbs, NTTs of the converted ones
        let mut limbs: Vec<(usize, usize, &mut [u64])> = Vec::new();
        for (j, o) in outs.iter_mut().enumerate() {
            for (t, l) in o.data.chunks_exact_mut(n).enumerate() {
                limbs.push((j, t, l));
            }
        }
        run_tasks(limbs, par, |(j, t, l)| {
            if self.ranges[j].contains(&t) {
                l.copy_from_slice(a.limb(t));
            } else {
                self.ntt[self.qp[t]].forward(l);
            }
        });
    }
}

/// Where a key switch reads its raised digits from.
pub(crate) enum Digits<'a, 'c> {
    /// Computed per output limb from the decomposition of `a`.
    OnTheFly {
        d: &'a Decomp<'c>,
        a: &'a RnsPoly,
        y: &'a [u64],
    },
    /// Already raised (hoisting), each over `Q_l ∪ P`.
    Raised(&'a [RnsPoly]),
}

impl Digits<'_, '_> {
    /// Scratch words [`inner`](Self::inner) needs for limbs of `n` words.
    fn scratch_len(&self, n: usize) -> usize {
        match self {
            Digits::OnTheFly { d, .. } => d.digits() * n,
            Digits::Raised(_) => 0,
        }
    }

    fn count(&self) -> usize {
        match self {
            Digits::OnTheFly { d, .. } => d.digits(),
            Digits::Raised(r) => r.len(),
        }
    }

    /// The digits' limbs at output position `t` (prime `pt`), NTT form; `scratch` holds
    /// [`scratch_len`](Self::scratch_len) words.
    fn rows<'s>(&'s self, t: usize, pt: usize, n: usize, scratch: &'s mut [u64]) -> Vec<&'s [u64]> {
        match self {
            Digits::OnTheFly { d, a, y } => {
                let nd = d.digits();
                let borrowed: Vec<Option<&[u64]>> = scratch
                    .chunks_exact_mut(n)
                    .take(nd)
                    .enumerate()
                    .map(|(j, s)| d.limb(a, y, j, t, s))
                    .collect();
                borrowed
                    .into_iter()
                    .zip(scratch.chunks_exact(n))
                    .map(|(b, s)| b.unwrap_or(s))
                    .collect()
            }
            Digits::Raised(r) => r
                .iter()
                .map(|p| {
                    let i = p.position(pt).expect("digit lacks a Q_l ∪ P prime");
                    p.limb(i)
                })
                .collect(),
        }
    }
}

/// One key of a (multi-key) key switch: the key, the positions of the output primes in
/// its digits, and the automorphism index map (`None`: identity).
struct KsKey<'a> {
    key: &'a KeyDigits<RnsPoly>,
    kpos: Vec<(Vec<usize>, Vec<usize>)>,
    map: Option<Arc<[u32]>>,
}

impl<'a> KsKey<'a> {
    fn new(
        ctx: &RingContext,
        qp: &[usize],
        nd: usize,
        key: &'a KeyDigits<RnsPoly>,
        galois: Option<usize>,
    ) -> Self {
        assert!(nd <= key.len(), "{nd} digits, key has {}", key.len());
        let kpos = key[..nd]
            .iter()
            .map(|(b, a)| (positions(qp, &b.primes), positions(qp, &a.primes)))
            .collect();
        KsKey {
            key,
            kpos,
            map: galois.map(|g| auto_map(ctx.log_n(), g)),
        }
    }

    /// Inner product of the digit `rows` at output position `t` (prime `pt`) with this
    /// key, written to `out0`/`out1`.
    fn inner(
        &self,
        ctx: &RingContext,
        rows: &[&[u64]],
        t: usize,
        pt: usize,
        out0: &mut [u64],
        out1: &mut [u64],
    ) {
        let nd = rows.len();
        let kb: Vec<&[u64]> = (0..nd)
            .map(|j| self.key[j].0.limb(self.kpos[j].0[t]))
            .collect();
        let ka: Vec<&[u64]> = (0..nd)
            .map(|j| self.key[j].1.limb(self.kpos[j].1[t]))
            .collect();
        inner_row(
            ctx.modulus(pt),
            rows,
            &kb,
            &ka,
            self.map.as_deref(),
            false,
            out0,
            out1,
        );
    }
}

/// The key-switching inner product of already raised `digits` (over `Q_l ∪ P`) with
/// `key`, automorphism `galois` applied to the digits. With `lift = Some(c0)` the Q
/// limbs of the first part also get `P·σ(c0)` (a rotation kept over `Q_l ∪ P`, see
/// [`Backend::rotate_extended`](fhe_dsl::backend::Backend::rotate_extended)), added
/// while each limb is still in cache.
pub(crate) fn raised_inner(
    ctx: &RingContext,
    digits: &[RnsPoly],
    key: &KeyDigits<RnsPoly>,
    galois: Option<usize>,
    lift: Option<&RnsPoly>,
) -> (RnsPoly, RnsPoly) {
    let n = ctx.n();
    let primes = digits[0].primes.clone();
    let ks = KsKey::new(ctx, &primes, digits.len(), key, galois);
    let src = Digits::Raised(digits);
    let nt = ntts(ctx);
    // per Q limb of the output: (position in c0, P mod q, its Shoup companion)
    let lift = lift.map(|c0| {
        let nq = primes.len() - ctx.num_p();
        let pos = positions(&primes[..nq], &c0.primes);
        let consts: Vec<(usize, u64, u64)> = primes[..nq]
            .iter()
            .zip(pos)
            .zip(p_mod_q(ctx, &primes[..nq]))
            .map(|((&i, at), pm)| (at, pm, nt[i].m.shoup(pm)))
            .collect();
        let map = galois.map(|g| auto_map(ctx.log_n(), g));
        (c0, consts, map)
    });
    let mut acc0 = RnsPoly::zero(n, &primes);
    let mut acc1 = RnsPoly::zero(n, &primes);
    let tasks: Vec<_> = acc0
        .data
        .chunks_exact_mut(n)
        .zip(acc1.data.chunks_exact_mut(n))
        .enumerate()
        .collect();
    run_tasks(tasks, worth_par(primes.len() * n), |(t, (o0, o1))| {
        let rows = src.rows(t, primes[t], n, &mut []);
        ks.inner(ctx, &rows, t, primes[t], o0, o1);
        if let Some((c0, consts, map)) = &lift {
            if let Some(&(at, w, ws)) = consts.get(t) {
                let (m, c) = (nt[primes[t]].m, c0.limb(at));
                match map {
                    Some(map) => o0.iter_mut().zip(map.iter()).for_each(|(o, &j)| {
                        *o = m.add(*o, m.mul_shoup(c[j as usize], w, ws));
                    }),
                    None => o0.iter_mut().zip(c).for_each(|(o, &x)| {
                        *o = m.add(*o, m.mul_shoup(x, w, ws));
                    }),
                }
            }
        }
    });
    (acc0, acc1)
}

/// Constants of a division by the tail primes T (`keep` stays), precomputed per limb.
pub(crate) struct Tail {
    /// Per tail limb: `(N^-1·qhat_inv, shoup, half·qhat_inv)` (y = raw·w + h).
    pre: Vec<(u64, u64, u64)>,
    /// Per kept limb: `(-half mod q, T^-1, shoup(T^-1))`.
    post: Vec<(u64, u64, u64)>,
    table: Arc<BaseConvTable>,
    bits: u32,
}

impl Tail {
    pub(crate) fn new(ctx: &RingContext, nt: &[Arc<Ntt>], keep: &[usize], drop: &[usize]) -> Self {
        let c = tail_constants(ctx, keep, drop);
        let table = ctx.base_conv(drop, keep);
        let pre = drop
            .iter()
            .enumerate()
            .map(|(s, &i)| {
                let m = nt[i].m;
                let w = m.mul(nt[i].raw_scale, table.qhat_inv[s]);
                (w, m.shoup(w), m.mul(c.half_tail[s], table.qhat_inv[s]))
            })
            .collect();
        let post = keep
            .iter()
            .enumerate()
            .map(|(t, &i)| {
                let m = nt[i].m;
                (c.neg_half_keep[t], c.inv_keep[t], m.shoup(c.inv_keep[t]))
            })
            .collect();
        Tail {
            pre,
            post,
            table,
            bits: max_bits(ctx, drop),
        }
    }

    /// Tail limb `s` (NTT form, prime index `pi`) → conversion input `y_s`, in place.
    pub(crate) fn prepare(&self, ntt: &Ntt, s: usize, limb: &mut [u64]) {
        let (w, ws, h) = self.pre[s];
        let m = ntt.m;
        ntt.inverse_raw(limb);
        limb.iter_mut()
            .for_each(|x| *x = m.add(m.mul_shoup(*x, w, ws), h));
    }

    /// Kept limb `t` (NTT form): `(x - NTT([y]_T converted)) · T^-1`, in place.
    /// `scratch` is `n` words.
    pub(crate) fn finish(
        &self,
        ntt: &Ntt,
        p: &Modulus,
        ys: &[&[u64]],
        t: usize,
        limb: &mut [u64],
        scratch: &mut [u64],
    ) {
        self.convert(p, ys, t, scratch);
        self.subtract(ntt, t, limb, scratch);
    }

    /// The conversion of [`finish`](Self::finish) for kept limb `t`, on any range of
    /// words (`ys` and `out` cut to it).
    pub(crate) fn convert(&self, p: &Modulus, ys: &[&[u64]], t: usize, out: &mut [u64]) {
        let from = ys.len();
        let (neg_half, _, _) = self.post[t];
        conv_row(
            ys,
            &self.table.qhat_mod_p[t * from..(t + 1) * from],
            self.bits,
            p,
            neg_half,
            out,
        );
    }

    /// The rest of [`finish`](Self::finish): NTT of the converted `conv` (whole limb),
    /// then `limb = (limb - conv) · T^-1`.
    pub(crate) fn subtract(&self, ntt: &Ntt, t: usize, limb: &mut [u64], conv: &mut [u64]) {
        let (_, inv, inv_s) = self.post[t];
        ntt.forward(conv);
        simd::sub_mul_const(ntt.m, limb, conv, inv, inv_s);
    }
}

impl CpuBackend {
    /// Fused key switch (ModUp digits → inner product → ModDown) of the digits against
    /// each of `keys` (optionally permuted by its Galois element); `c0`, when given, is
    /// permuted the same way and added to the first output (hoisted rotations). Every
    /// digit limb is formed once per output position and shared by all keys.
    /// `then = (d0, d1, drop)` (one key only) is
    /// [`Backend::relinearize_rescale`](fhe_dsl::backend::Backend::relinearize_rescale): the
    /// outputs get `d0`, `d1` added and are rescaled by their last `drop` Q primes, with
    /// one NTT per kept limb for both divisions (see [`finish_rescaled`]).
    pub(crate) fn key_switch_fused(
        &self,
        ctx: &RingContext,
        digits: &Digits<'_, '_>,
        qp: &[usize],
        keys: &[(Option<usize>, &KeyDigits<RnsPoly>)],
        c0: Option<&RnsPoly>,
        then: Option<(&RnsPoly, &RnsPoly, usize)>,
    ) -> Vec<(RnsPoly, RnsPoly)> {
        let n = ctx.n();
        let nd = digits.count();
        let k = ctx.num_p();
        let l = qp.len() - k;
        let drop_q = then.map_or(0, |x| x.2);
        assert!(l > drop_q, "key switch needs Q limbs");
        assert!(
            then.is_none() || keys.len() == 1,
            "rescale with one key only"
        );
        // limbs of the outputs
        let lo = l - drop_q;
        let nt = ntts(ctx);
        let ks: Vec<KsKey> = keys
            .iter()
            .map(|&(g, key)| KsKey::new(ctx, qp, nd, key, g))
            .collect();
        let nk = ks.len();
        let (keep, drop) = qp.split_at(l);
        let tail = Tail::new(ctx, &nt, keep, drop);
        let par = worth_par(qp.len() * n);
        let sl = digits.scratch_len(n);

        // Phase A: the P limbs of both outputs of every key, taken to coefficient form
        // for ModDown (layout: [key][limb] blocks of n words); with a rescale, also the
        // inner products of the dropped Q limbs (layout: [limb] blocks), in the same
        // parallel pass.
        let mut y0 = zeroed_words(nk * k * n);
        let mut y1 = zeroed_words(nk * k * n);
        let mut r0 = zeroed_words(drop_q * n);
        let mut r1 = zeroed_words(drop_q * n);
        {
            // per tail limb (P limb s, or dropped Q limb): its position in `qp`, whether
            // it is a P limb, and its n-word block of every key, for both outputs
            type Task<'a> = (usize, bool, Vec<(&'a mut [u64], &'a mut [u64])>);
            let mut tasks: Vec<Task> = (0..k).map(|s| (l + s, true, Vec::new())).collect();
            for (i, (o0, o1)) in y0
                .chunks_exact_mut(n)
                .zip(y1.chunks_exact_mut(n))
                .enumerate()
            {
                tasks[i % k].2.push((o0, o1));
            }
            for (s, (o0, o1)) in r0
                .chunks_exact_mut(n)
                .zip(r1.chunks_exact_mut(n))
                .enumerate()
            {
                tasks.push((lo + s, false, vec![(o0, o1)]));
            }
            run_tasks(tasks, par, |(t, is_p, outs)| {
                let pt = qp[t];
                with_scratch(sl, |scr| {
                    let rows = digits.rows(t, pt, n, scr);
                    for (key, (o0, o1)) in ks.iter().zip(outs) {
                        key.inner(ctx, &rows, t, pt, o0, o1);
                        if is_p {
                            tail.prepare(&nt[pt], t - l, o0);
                            tail.prepare(&nt[pt], t - l, o1);
                        }
                    }
                });
            });
        }
        // per key: the P limbs of both outputs (ModDown inputs)
        type Rows<'r> = Vec<&'r [u64]>;
        let ys: Vec<(Rows, Rows)> = y0
            .chunks_exact(k * n)
            .zip(y1.chunks_exact(k * n))
            .map(|(a, b)| (a.chunks_exact(n).collect(), b.chunks_exact(n).collect()))
            .collect();

        // Phase A2 (with a rescale): the dropped Q limbs ModDown'd and added to d0/d1 as
        // in the unfused sequence, then taken to coefficient form for the rescale; the
        // two outputs in parallel.
        let rescale = then.map(|(d0, d1, _)| {
            let rtail = Tail::new(ctx, &nt, &qp[..lo], &qp[lo..l]);
            let (p0, p1) = (positions(keep, &d0.primes), positions(keep, &d1.primes));
            let (ys0, ys1) = &ys[0];
            let mut tasks: Vec<_> = Vec::new();
            for (r, y, d, pos) in [(&mut r0, ys0, d0, &p0), (&mut r1, ys1, d1, &p1)] {
                for (s, o) in r.chunks_exact_mut(n).enumerate() {
                    tasks.push((s, o, y, d, pos));
                }
            }
            run_tasks(tasks, par, |(s, o, y, d, pos)| {
                let (t, pt) = (lo + s, qp[lo + s]);
                let m = nt[pt].m;
                with_scratch(n, |conv| {
                    tail.finish(&nt[pt], ctx.modulus(pt), y, t, o, conv)
                });
                o.iter_mut()
                    .zip(d.limb(pos[t]))
                    .for_each(|(x, &v)| *x = m.add(*x, v));
                rtail.prepare(&nt[pt], s, o);
            });
            (rtail, p0, p1)
        });
        // per output part: d, its limb positions, the rescale's coefficient-form rows
        let rescale = rescale.map(|(rtail, p0, p1)| {
            let (d0, d1, _) = then.expect("rescale");
            let (rows0, rows1): (Rows, Rows) =
                (r0.chunks_exact(n).collect(), r1.chunks_exact(n).collect());
            (rtail, [(d0, p0, rows0), (d1, p1, rows1)])
        });

        // Phase B: each kept Q limb of both outputs of every key, ModDown (and the
        // rescale) applied on the spot.
        let c0_pos = c0.map(|c| positions(keep, &c.primes));
        let out_primes = &qp[..lo];
        let mut outs: Vec<(RnsPoly, RnsPoly)> = (0..nk)
            .map(|_| (RnsPoly::zero(n, out_primes), RnsPoly::zero(n, out_primes)))
            .collect();
        let mut per_limb: Vec<Vec<(&mut [u64], &mut [u64])>> =
            (0..lo).map(|_| Vec::new()).collect();
        for (o0, o1) in outs.iter_mut() {
            for (t, (a, b)) in o0
                .data
                .chunks_exact_mut(n)
                .zip(o1.data.chunks_exact_mut(n))
                .enumerate()
            {
                per_limb[t].push((a, b));
            }
        }
        let tasks: Vec<_> = per_limb.into_iter().enumerate().collect();
        run_tasks(tasks, par, |(t, limb_outs)| {
            let pt = qp[t];
            with_scratch(sl + 2 * n, |scr| {
                let (scr, conv) = scr.split_at_mut(sl);
                let rows = digits.rows(t, pt, n, scr);
                for ((key, (ys0, ys1)), (o0, o1)) in ks.iter().zip(&ys).zip(limb_outs) {
                    key.inner(ctx, &rows, t, pt, o0, o1);
                    if let Some((rtail, parts)) = &rescale {
                        let p = ctx.modulus(pt);
                        for (o, y, (d, pos, r)) in [(o0, ys0, &parts[0]), (o1, ys1, &parts[1])] {
                            let (ptail, rt) = ((&tail, y.as_slice()), (rtail, r.as_slice()));
                            finish_rescaled(&nt[pt], p, ptail, rt, t, d.limb(pos[t]), o, conv);
                        }
                        continue;
                    }
                    let conv = &mut conv[..n];
                    tail.finish(&nt[pt], ctx.modulus(pt), ys0, t, o0, conv);
                    tail.finish(&nt[pt], ctx.modulus(pt), ys1, t, o1, conv);
                    if let (Some(c0), Some(pos)) = (c0, &c0_pos) {
                        let src = c0.limb(pos[t]);
                        let m = nt[pt].m;
                        match key.map.as_deref() {
                            Some(map) => {
                                for (x, &mi) in o0.iter_mut().zip(map) {
                                    *x = m.add(*x, src[mi as usize]);
                                }
                            }
                            None => {
                                for (x, &c) in o0.iter_mut().zip(src) {
                                    *x = m.add(*x, c);
                                }
                            }
                        }
                    }
                }
            });
        });
        outs
    }
}

/// Kept limb `t` (NTT form `x`, prime of `ntt`) through ModDown by P, `+ d`, and the
/// rescale by the dropped Q primes, with one NTT: by linearity,
/// `((x − NTT(a))·P⁻¹ + d − NTT(b))·T⁻¹ = (x·P⁻¹ + d − NTT(a·P⁻¹ + b))·T⁻¹` for the
/// conversions `a` (of the P limbs) and `b` (of the rescale's limbs), so the words equal
/// the unfused sequence's. `scratch` holds `2n` words.
#[allow(clippy::too_many_arguments)]
fn finish_rescaled(
    ntt: &Ntt,
    p: &Modulus,
    (ptail, ys): (&Tail, &[&[u64]]),
    (rtail, rs): (&Tail, &[&[u64]]),
    t: usize,
    d: &[u64],
    x: &mut [u64],
    scratch: &mut [u64],
) {
    let m = ntt.m;
    let (a, b) = scratch.split_at_mut(x.len());
    ptail.convert(p, ys, t, a);
    rtail.convert(p, rs, t, b);
    let (_, pinv, pinv_s) = ptail.post[t];
    a.iter_mut()
        .zip(b.iter())
        .for_each(|(a, &b)| *a = m.add(m.mul_shoup(*a, pinv, pinv_s), b));
    x.iter_mut()
        .zip(d)
        .for_each(|(x, &v)| *x = m.add(m.mul_shoup(*x, pinv, pinv_s), v));
    rtail.subtract(ntt, t, x, a);
}
