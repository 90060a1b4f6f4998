//! The CPU backend of fhe-dsl: [`CpuBackend`].
//!
//! Polynomials live in host memory as [`RnsPoly`] (limb-major). Work is spread over the
//! rayon pool across limbs (or word chunks for memory-bound element-wise loops). For
//! primes below 2^50 the modular arithmetic and the NTTs run in exact f64 AVX2+FMA
//! kernels (`simd`, `fntt`; detected at run time, `FHE_CPU_SIMD=0` or
//! [`set_simd_enabled`] turns them off); other NTTs run on [`tfhe_ntt`]'s SIMD kernels
//! (same root ψ and bit-reversed output order as [`fhe_dsl::math::NttTable`], pinned at
//! plan creation with a scalar fallback).
//!
//! The coarse operations are fused: key switching (module `keyswitch`) computes each
//! output limb of every digit on the fly (ModUp → inner product → ModDown) without
//! materialising the raised digits (hoisted rotations form each digit limb once and run
//! every rotation's inner product on it), and basis conversions accumulate lazily. Every
//! result is bit-identical to [`fhe_dsl::backend::reference::ReferenceBackend`]
//! (checked by the conformance suite).

mod arith;
mod cache;
mod fntt;
mod ifma;
mod kernels;
mod keyswitch;
mod simd;
mod switch;

pub use ifma::{enabled as ifma_enabled, set_enabled as set_ifma_enabled};
pub use simd::{enabled as simd_enabled, set_enabled as set_simd_enabled};

/// `FHE_CPU_FUSED=0` turns the fused overrides off.
static FUSED: switch::Switch = switch::Switch::new("FHE_CPU_FUSED", || true);

/// Whether the fused overrides of [`Backend::mul_add_terms`],
/// [`Backend::mul_scalar_add_assign`], [`Backend::rotate_extended`],
/// [`Backend::keep_limbs`] and the blocked ModUp/ModDown conversions are in use (off
/// after [`set_fused_enabled`]`(false)` or with `FHE_CPU_FUSED=0` in the environment:
/// the trait's composed defaults and the per-limb conversions run instead).
pub fn fused_enabled() -> bool {
    FUSED.enabled()
}

/// Turns the fused overrides on or off, process-wide. Results are bit-identical either
/// way; this exists for same-process A/B timing.
pub fn set_fused_enabled(on: bool) {
    FUSED.set(on);
}

use cache::{auto_map, ntts};
use fhe_dsl::backend::{
    check_degree, check_digits, check_scalars, check_tail, invalid, mul_add_terms_composed,
    mul_scalar_add_composed, operand_positions, relinearize_rescale_composed,
    rotate_extended_composed, Backend, KeyDigits,
};
use fhe_dsl::ring::{concat_words, RingContext, RnsPoly};
use kernels::{
    conv_row, inner_row, par_limbs, par_words, par_words2, run_tasks, with_scratch, worth_par,
};
use keyswitch::{raised_inner, Decomp, Digits, Tail, MODUP_BLOCK};

/// The multi-threaded CPU backend. Stateless apart from process-wide table caches, so
/// construction is free and instances are interchangeable.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend {
    _private: (),
}

impl CpuBackend {
    /// A backend on the global rayon pool.
    pub fn new() -> Self {
        CpuBackend { _private: () }
    }
}

/// Largest bit size among `primes`.
fn max_bits(ctx: &RingContext, primes: &[usize]) -> u32 {
    primes
        .iter()
        .map(|&i| ctx.modulus(i).bits())
        .max()
        .unwrap_or(1)
}

const NAME: &str = "cpu";

/// Checks that `b` can be a source operand of `op` on `a` (same degree, every prime of
/// `a` present) and returns the position in `b` of each of `a`'s primes.
fn operand(op: &'static str, a: &RnsPoly, b: &RnsPoly) -> fhe_dsl::Result<Vec<usize>> {
    check_degree(NAME, op, a.n, b.n)?;
    operand_positions(NAME, op, &a.primes, &b.primes)
}

/// `a = f(a, b)` word-wise over `a`'s primes.
fn zip_with(
    ctx: &RingContext,
    op: &'static str,
    a: &mut RnsPoly,
    b: &RnsPoly,
    f: impl Fn(arith::Mod, &mut [u64], &[u64]) + Sync + Send,
) -> fhe_dsl::Result<()> {
    let pos = operand(op, a, b)?;
    let n = a.n;
    let nt = ntts(ctx);
    let RnsPoly { primes, data, .. } = a;
    par_words(data, n, |limb, off, chunk| {
        let src = &b.data[pos[limb] * n + off..][..chunk.len()];
        f(nt[primes[limb]].m, chunk, src)
    });
    Ok(())
}

impl Backend for CpuBackend {
    type Poly = RnsPoly;

    fn name(&self) -> &'static str {
        NAME
    }

    fn upload(&self, ctx: &RingContext, p: RnsPoly) -> fhe_dsl::Result<RnsPoly> {
        p.check_shape(ctx)?;
        Ok(p)
    }

    fn download(&self, _ctx: &RingContext, p: &RnsPoly) -> fhe_dsl::Result<RnsPoly> {
        Ok(p.clone())
    }

    fn zero(&self, ctx: &RingContext, primes: &[usize]) -> fhe_dsl::Result<RnsPoly> {
        Ok(RnsPoly::zero(ctx.n(), primes))
    }

    fn primes<'a>(&self, p: &'a RnsPoly) -> &'a [usize] {
        &p.primes
    }

    fn select(
        &self,
        _ctx: &RingContext,
        a: &RnsPoly,
        primes: &[usize],
    ) -> fhe_dsl::Result<RnsPoly> {
        operand_positions(NAME, "select", primes, &a.primes)?;
        Ok(a.select(primes))
    }

    fn concat(&self, _ctx: &RingContext, a: &RnsPoly, b: &RnsPoly) -> fhe_dsl::Result<RnsPoly> {
        check_degree(NAME, "concat", a.n, b.n)?;
        Ok(a.concat(b))
    }

    fn keep_limbs(
        &self,
        _ctx: &RingContext,
        a: &mut RnsPoly,
        primes: &[usize],
    ) -> fhe_dsl::Result<()> {
        if fused_enabled() && a.primes.starts_with(primes) {
            a.data.truncate(primes.len() * a.n);
            a.primes.truncate(primes.len());
        } else {
            operand_positions(NAME, "keep_limbs", primes, &a.primes)?;
            *a = a.select(primes);
        }
        Ok(())
    }

    fn ntt(&self, ctx: &RingContext, a: &mut RnsPoly) -> fhe_dsl::Result<()> {
        let nt = ntts(ctx);
        let RnsPoly { primes, data, n } = a;
        par_limbs(data, *n, |i, l| nt[primes[i]].forward(l));
        Ok(())
    }

    fn intt(&self, ctx: &RingContext, a: &mut RnsPoly) -> fhe_dsl::Result<()> {
        let nt = ntts(ctx);
        let RnsPoly { primes, data, n } = a;
        par_limbs(data, *n, |i, l| nt[primes[i]].inverse(l));
        Ok(())
    }

    fn add_assign(&self, ctx: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> fhe_dsl::Result<()> {
        zip_with(ctx, "add_assign", a, b, |m, x, y| {
            x.iter_mut().zip(y).for_each(|(x, &y)| *x = m.add(*x, y))
        })
    }

    fn sub_assign(&self, ctx: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> fhe_dsl::Result<()> {
        zip_with(ctx, "sub_assign", a, b, |m, x, y| {
            x.iter_mut().zip(y).for_each(|(x, &y)| *x = m.sub(*x, y))
        })
    }

    fn neg_assign(&self, ctx: &RingContext, a: &mut RnsPoly) -> fhe_dsl::Result<()> {
        let nt = ntts(ctx);
        let RnsPoly { primes, data, n } = a;
        par_words(data, *n, |i, _, x| {
            let m = nt[primes[i]].m;
            x.iter_mut().for_each(|x| *x = m.neg(*x));
        });
        Ok(())
    }

    fn mul_assign(&self, ctx: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> fhe_dsl::Result<()> {
        zip_with(ctx, "mul_assign", a, b, simd::mul_assign)
    }

    fn mul_add_assign(
        &self,
        ctx: &RingContext,
        acc: &mut RnsPoly,
        a: &RnsPoly,
        b: &RnsPoly,
    ) -> fhe_dsl::Result<()> {
        let pa = operand("mul_add_assign", acc, a)?;
        let pb = operand("mul_add_assign", acc, b)?;
        let n = acc.n;
        let nt = ntts(ctx);
        let RnsPoly { primes, data, .. } = acc;
        par_words(data, n, |limb, off, x| {
            let m = nt[primes[limb]].m;
            let sa = &a.data[pa[limb] * n + off..][..x.len()];
            let sb = &b.data[pb[limb] * n + off..][..x.len()];
            simd::mul_add_assign(m, x, sa, sb);
        });
        Ok(())
    }

    fn mul_add_terms(
        &self,
        ctx: &RingContext,
        acc0: &mut RnsPoly,
        acc1: &mut RnsPoly,
        terms: &[(&RnsPoly, &RnsPoly, &RnsPoly)],
    ) -> fhe_dsl::Result<()> {
        if terms.is_empty() {
            return Ok(());
        }
        if !fused_enabled() {
            return mul_add_terms_composed(self, ctx, acc0, acc1, terms);
        }
        const OP: &str = "mul_add_terms";
        if acc0.primes != acc1.primes {
            return Err(invalid(
                NAME,
                OP,
                format!(
                    "accumulators over different primes: {:?} and {:?}",
                    acc0.primes, acc1.primes
                ),
            ));
        }
        check_degree(NAME, OP, acc0.n, acc1.n)?;
        let n = acc0.n;
        let pos: Vec<[Vec<usize>; 3]> = terms
            .iter()
            .map(|&(w, a, b)| {
                Ok([
                    operand(OP, acc0, w)?,
                    operand(OP, acc0, a)?,
                    operand(OP, acc0, b)?,
                ])
            })
            .collect::<fhe_dsl::Result<_>>()?;
        let primes = &acc0.primes;
        // one lazy sum per word over all terms (the key-switching inner-product kernel
        // with the plaintexts as digits), added onto the accumulators
        par_words2(&mut acc0.data, &mut acc1.data, n, |limb, off, x, y| {
            let len = x.len();
            fn row(p: &RnsPoly, at: usize, off: usize, len: usize) -> &[u64] {
                &p.data[at * p.n + off..][..len]
            }
            let w: Vec<&[u64]> = terms
                .iter()
                .zip(&pos)
                .map(|(t, p)| row(t.0, p[0][limb], off, len))
                .collect();
            let a: Vec<&[u64]> = terms
                .iter()
                .zip(&pos)
                .map(|(t, p)| row(t.1, p[1][limb], off, len))
                .collect();
            let b: Vec<&[u64]> = terms
                .iter()
                .zip(&pos)
                .map(|(t, p)| row(t.2, p[2][limb], off, len))
                .collect();
            inner_row(ctx.modulus(primes[limb]), &w, &a, &b, None, true, x, y);
        });
        Ok(())
    }

    fn mul_scalar_assign(
        &self,
        ctx: &RingContext,
        a: &mut RnsPoly,
        s: &[u64],
    ) -> fhe_dsl::Result<()> {
        check_scalars(NAME, "mul_scalar_assign", s.len(), a.primes.len())?;
        let nt = ntts(ctx);
        let RnsPoly { primes, data, n } = a;
        let ws: Vec<(u64, u64)> = primes
            .iter()
            .zip(s)
            .map(|(&p, &w)| (w, nt[p].m.shoup(w)))
            .collect();
        par_words(data, *n, |i, _, x| {
            let m = nt[primes[i]].m;
            let (w, wsh) = ws[i];
            x.iter_mut().for_each(|x| *x = m.mul_shoup(*x, w, wsh));
        });
        Ok(())
    }

    fn mul_scalar_add_assign(
        &self,
        ctx: &RingContext,
        acc: &mut RnsPoly,
        a: &RnsPoly,
        s: &[u64],
    ) -> fhe_dsl::Result<()> {
        if !fused_enabled() {
            return mul_scalar_add_composed(self, ctx, acc, a, s);
        }
        const OP: &str = "mul_scalar_add_assign";
        let pos = operand(OP, acc, a)?;
        check_scalars(NAME, OP, s.len(), acc.primes.len())?;
        let n = acc.n;
        let nt = ntts(ctx);
        let RnsPoly { primes, data, .. } = acc;
        let ws: Vec<(u64, u64)> = primes
            .iter()
            .zip(s)
            .map(|(&p, &w)| (w, nt[p].m.shoup(w)))
            .collect();
        par_words(data, n, |limb, off, x| {
            let m = nt[primes[limb]].m;
            let (w, wsh) = ws[limb];
            let src = &a.data[pos[limb] * n + off..][..x.len()];
            x.iter_mut()
                .zip(src)
                .for_each(|(x, &y)| *x = m.add(*x, m.mul_shoup(y, w, wsh)));
        });
        Ok(())
    }

    fn add_scalar_assign(
        &self,
        ctx: &RingContext,
        a: &mut RnsPoly,
        s: &[u64],
    ) -> fhe_dsl::Result<()> {
        check_scalars(NAME, "add_scalar_assign", s.len(), a.primes.len())?;
        let nt = ntts(ctx);
        let RnsPoly { primes, data, n } = a;
        par_words(data, *n, |i, _, x| {
            let m = nt[primes[i]].m;
            let c = s[i];
            x.iter_mut().for_each(|x| *x = m.add(*x, c));
        });
        Ok(())
    }

    fn automorphism_ntt(
        &self,
        ctx: &RingContext,
        a: &RnsPoly,
        galois: usize,
        out: &mut RnsPoly,
    ) -> fhe_dsl::Result<()> {
        if galois.is_multiple_of(2) {
            return Err(invalid(
                NAME,
                "automorphism_ntt",
                format!("Galois element {galois} is even"),
            ));
        }
        let n = a.n;
        let map = auto_map(n.trailing_zeros(), galois);
        if out.primes != a.primes {
            out.primes.clone_from(&a.primes);
        }
        out.n = n;
        out.data.resize(a.data.len(), 0);
        let _ = ctx;
        par_limbs(&mut out.data, n, |i, o| {
            let src = a.limb(i);
            for (o, &j) in o.iter_mut().zip(map.iter()) {
                *o = src[j as usize];
            }
        });
        Ok(())
    }

    fn base_convert(
        &self,
        ctx: &RingContext,
        a: &RnsPoly,
        to: &[usize],
    ) -> fhe_dsl::Result<RnsPoly> {
        let n = a.n;
        let t = ctx.base_conv(&a.primes, to);
        let nt = ntts(ctx);
        let mut y = concat_words(&[&a.data]);
        par_limbs(&mut y, n, |i, l| {
            let m = nt[a.primes[i]].m;
            let (w, ws) = (t.qhat_inv[i], t.qhat_inv_shoup[i]);
            l.iter_mut().for_each(|x| *x = m.mul_shoup(*x, w, ws));
        });
        let ys: Vec<&[u64]> = y.chunks_exact(n).collect();
        let from = ys.len();
        let bits = max_bits(ctx, &a.primes);
        let mut out = RnsPoly::zero(n, to);
        par_limbs(&mut out.data, n, |j, l| {
            conv_row(
                &ys,
                &t.qhat_mod_p[j * from..(j + 1) * from],
                bits,
                ctx.modulus(to[j]),
                0,
                l,
            )
        });
        Ok(out)
    }

    fn div_round_by_tail(
        &self,
        ctx: &RingContext,
        a: &mut RnsPoly,
        tail: usize,
    ) -> fhe_dsl::Result<()> {
        let total = a.primes.len();
        check_tail(NAME, "div_round_by_tail", tail, total)?;
        let n = a.n;
        let l = total - tail;
        let nt = ntts(ctx);
        let (keep, drop) = a.primes.split_at(l);
        let tc = Tail::new(ctx, &nt, keep, drop);
        let (head, tail_data) = a.data.split_at_mut(l * n);
        par_limbs(tail_data, n, |s, limb| tc.prepare(&nt[drop[s]], s, limb));
        let ys: Vec<&[u64]> = tail_data.chunks_exact(n).collect();
        if fused_enabled() && tail > 2 && n >= MODUP_BLOCK {
            // conversion block by block for all kept limbs (the tail rows of a block stay
            // in L2), then per limb its NTT and the subtraction
            // the converted limbs live in this thread's reusable scratch (no allocation
            // per ModDown); the tasks below do not touch it
            with_scratch(l * n, |conv| {
                let mut blocks: Vec<Vec<(usize, &mut [u64])>> =
                    (0..n / MODUP_BLOCK).map(|_| Vec::new()).collect();
                for (t, limb) in conv.chunks_exact_mut(n).enumerate() {
                    for (b, chunk) in limb.chunks_exact_mut(MODUP_BLOCK).enumerate() {
                        blocks[b].push((t, chunk));
                    }
                }
                let tasks: Vec<_> = blocks.into_iter().enumerate().collect();
                run_tasks(tasks, worth_par(l * n), |(b, chunks)| {
                    let start = b * MODUP_BLOCK;
                    let yb: Vec<&[u64]> =
                        ys.iter().map(|y| &y[start..start + MODUP_BLOCK]).collect();
                    for (t, out) in chunks {
                        tc.convert(ctx.modulus(keep[t]), &yb, t, out);
                    }
                });
                let pairs: Vec<_> = head
                    .chunks_exact_mut(n)
                    .zip(conv.chunks_exact_mut(n))
                    .enumerate()
                    .collect();
                run_tasks(pairs, worth_par(l * n), |(t, (limb, c))| {
                    tc.subtract(&nt[keep[t]], t, limb, c)
                });
            });
        } else {
            par_limbs(head, n, |t, limb| {
                with_scratch(n, |scr| {
                    tc.finish(&nt[keep[t]], ctx.modulus(keep[t]), &ys, t, limb, scr)
                })
            });
        }
        a.data.truncate(l * n);
        a.primes.truncate(l);
        Ok(())
    }

    fn decompose_mod_up(
        &self,
        ctx: &RingContext,
        a: &RnsPoly,
        alpha: usize,
    ) -> fhe_dsl::Result<Vec<RnsPoly>> {
        let d = Decomp::new(ctx, &a.primes, alpha);
        let y = d.prepare(a);
        let n = d.n;
        let mut outs: Vec<RnsPoly> = (0..d.digits()).map(|_| RnsPoly::zero(n, &d.qp)).collect();
        if fused_enabled() && n >= MODUP_BLOCK {
            d.mod_up_blocked(a, &y, &mut outs);
            return Ok(outs);
        }
        let tasks: Vec<(usize, usize, &mut [u64])> = outs
            .iter_mut()
            .enumerate()
            .flat_map(|(j, o)| {
                o.data
                    .chunks_exact_mut(n)
                    .enumerate()
                    .map(move |(t, l)| (j, t, l))
            })
            .collect();
        let par = worth_par(tasks.len() * n);
        run_tasks(tasks, par, |(j, t, l)| {
            if let Some(src) = d.limb(a, &y, j, t, l) {
                l.copy_from_slice(src);
            }
        });
        Ok(outs)
    }

    fn key_switch_inner(
        &self,
        ctx: &RingContext,
        digits: &[RnsPoly],
        key: &KeyDigits<RnsPoly>,
        galois: Option<usize>,
    ) -> fhe_dsl::Result<(RnsPoly, RnsPoly)> {
        check_digits(NAME, "key_switch_inner", digits.len(), key.len())?;
        Ok(raised_inner(ctx, digits, key, galois, None))
    }

    fn rotate_extended(
        &self,
        ctx: &RingContext,
        c0: &RnsPoly,
        digits: &[RnsPoly],
        key: &KeyDigits<RnsPoly>,
        galois: usize,
    ) -> fhe_dsl::Result<(RnsPoly, RnsPoly)> {
        if !fused_enabled() {
            return rotate_extended_composed(self, ctx, c0, digits, key, galois);
        }
        check_digits(NAME, "rotate_extended", digits.len(), key.len())?;
        Ok(raised_inner(ctx, digits, key, Some(galois), Some(c0)))
    }

    fn key_switch(
        &self,
        ctx: &RingContext,
        a: &RnsPoly,
        key: &KeyDigits<RnsPoly>,
        alpha: usize,
        galois: Option<usize>,
    ) -> fhe_dsl::Result<(RnsPoly, RnsPoly)> {
        let d = Decomp::new(ctx, &a.primes, alpha);
        check_digits(NAME, "key_switch", d.digits(), key.len())?;
        let y = d.prepare(a);
        let src = Digits::OnTheFly { d: &d, a, y: &y };
        Ok(self
            .key_switch_fused(ctx, &src, &d.qp, &[(galois, key)], None, None)
            .pop()
            .expect("one key"))
    }

    fn relinearize_rescale(
        &self,
        ctx: &RingContext,
        d0: &RnsPoly,
        d1: &RnsPoly,
        d2: &RnsPoly,
        key: &KeyDigits<RnsPoly>,
        alpha: usize,
        drop: usize,
    ) -> fhe_dsl::Result<(RnsPoly, RnsPoly)> {
        if !fused_enabled() {
            return relinearize_rescale_composed(self, ctx, d0, d1, d2, key, alpha, drop);
        }
        check_tail(NAME, "relinearize_rescale", drop, d2.primes.len())?;
        let d = Decomp::new(ctx, &d2.primes, alpha);
        check_digits(NAME, "relinearize_rescale", d.digits(), key.len())?;
        let y = d.prepare(d2);
        let src = Digits::OnTheFly {
            d: &d,
            a: d2,
            y: &y,
        };
        Ok(self
            .key_switch_fused(ctx, &src, &d.qp, &[(None, key)], None, Some((d0, d1, drop)))
            .pop()
            .expect("one key"))
    }

    fn hoisted_rotations(
        &self,
        ctx: &RingContext,
        c0: &RnsPoly,
        c1: &RnsPoly,
        keys: &[(usize, &KeyDigits<RnsPoly>)],
        alpha: usize,
    ) -> fhe_dsl::Result<Vec<(RnsPoly, RnsPoly)>> {
        let d = Decomp::new(ctx, &c1.primes, alpha);
        for &(_, key) in keys {
            check_digits(NAME, "hoisted_rotations", d.digits(), key.len())?;
        }
        let ks: Vec<(Option<usize>, &KeyDigits<RnsPoly>)> =
            keys.iter().map(|&(g, k)| (Some(g), k)).collect();
        // the digits are formed once per output limb (on the fly, never materialised)
        // and shared by every rotation's inner product
        let y = d.prepare(c1);
        let src = Digits::OnTheFly {
            d: &d,
            a: c1,
            y: &y,
        };
        Ok(self.key_switch_fused(ctx, &src, &d.qp, &ks, Some(c0), None))
    }
}
