//! Host side of key switching on the GPU: the fused inner product (`kernels/keyswitch.cu`),
//! the hybrid decomposition with each digit's conversion written in place, and basis
//! conversion into part of a buffer.

use crate::kernels::{KsPtrs, MAX_DIGITS};
use crate::{positions, shoup, GpuBackend, GpuPoly};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, PushKernelArg, SyncOnDrop};
use fhe_dsl::backend::{Backend, KeyDigits};
use fhe_dsl::ring::RingContext;
use std::sync::Arc;

impl GpuBackend {
    /// Device addresses of up to [`MAX_DIGITS`] triples for a [`KsPtrs`] argument, with
    /// the guards that must outlive the launch reading them.
    fn device_ptrs<'a>(
        s: &'a Arc<CudaStream>,
        triples: impl Iterator<Item = (&'a GpuPoly, &'a GpuPoly, &'a GpuPoly)>,
    ) -> (KsPtrs, Vec<SyncOnDrop<'a>>) {
        let mut ptr = KsPtrs::default();
        let mut guards = Vec::new();
        for (j, (d, b, a)) in triples.enumerate() {
            for (slot, buf) in [(&mut ptr.d[j], d), (&mut ptr.b[j], b), (&mut ptr.a[j], a)] {
                let (addr, guard) = buf.data.device_ptr(s);
                *slot = addr;
                guards.push(guard);
            }
        }
        (ptr, guards)
    }

    /// Fast basis conversion of coefficient-form `a` to the primes `to`, written into limbs
    /// `first..first + to.len()` of `out`.
    pub(crate) fn base_convert_into(
        &self,
        ctx: &RingContext,
        a: &GpuPoly,
        to: &[usize],
        out: &mut CudaSlice<u64>,
        first: usize,
        centered: bool,
    ) {
        if to.is_empty() {
            return;
        }
        let table = self.conv_table(ctx, &a.primes, to);
        let (n, log_n) = (a.n, a.n.trailing_zeros());
        let (nf, nt) = (a.primes.len() as u32, to.len() as u32);
        let centered = centered as u32;
        let mut view = out.slice_mut(first * n..(first + to.len()) * n);
        let mut lb = self.stream().launch_builder(&self.inner.k.base_convert);
        lb.arg(&mut view)
            .arg(&a.data)
            .arg(&*table)
            .arg(&nf)
            .arg(&nt)
            .arg(&log_n)
            .arg(&centered);
        // SAFETY: base_convert(u64*, const u64*, const u64*, u32, u32, u32, u32) matches;
        // the table has the layout of basis.cu for (nf, nt), and the view holds nt limbs.
        self.run("base_convert", || unsafe {
            lb.launch(Self::grid(n, to.len()))
        });
    }

    /// [`Backend::decompose_mod_up`] without intermediate copies: for each digit (primes
    /// `q[s..e]`), its limbs in coefficient form are converted straight into limbs `0..s`
    /// and `e..` of the output (order `Q_l ∪ P`), which are transformed in place, and the
    /// digit's own NTT-form limbs are copied into `s..e`.
    pub(crate) fn decompose_mod_up_fused(
        &self,
        ctx: &RingContext,
        a: &GpuPoly,
        alpha: usize,
    ) -> Vec<GpuPoly> {
        let n = a.n;
        let q = a.primes.clone();
        let order: Vec<usize> = q.iter().copied().chain(ctx.p_indices()).collect();
        let s = self.stream();
        (0..q.len())
            .step_by(alpha.max(1))
            .map(|start| {
                let end = (start + alpha).min(q.len());
                let digit = &q[start..end];
                let mut coeff = self.select(ctx, a, digit);
                self.intt(ctx, &mut coeff);
                let mut out = self.alloc_for_overwrite(n, &order);
                let (below, above) = (&order[..start], &order[end..]);
                self.base_convert_into(ctx, &coeff, below, &mut out.data, 0, false);
                self.base_convert_into(ctx, &coeff, above, &mut out.data, end, false);
                if !below.is_empty() {
                    self.ntt_limbs(ctx, &mut out.data, 0, below, n);
                }
                if !above.is_empty() {
                    self.ntt_limbs(ctx, &mut out.data, end, above, n);
                }
                let mut own = out.data.slice_mut(start * n..end * n);
                self.run("decompose copy", || {
                    s.memcpy_dtod(&a.data.slice(start * n..end * n), &mut own)
                });
                out
            })
            .collect()
    }

    /// The key-switching inner product in one kernel per (up to) [`MAX_DIGITS`] digits.
    pub(crate) fn key_switch_inner_fused(
        &self,
        ctx: &RingContext,
        digits: &[GpuPoly],
        key: &KeyDigits<GpuPoly>,
        galois: Option<usize>,
    ) -> (GpuPoly, GpuPoly) {
        assert!(
            !digits.is_empty() && digits.len() <= key.len(),
            "{} digits, key has {}",
            digits.len(),
            key.len()
        );
        let primes = digits[0].primes.clone();
        let n = digits[0].n;
        assert!(
            digits.iter().all(|d| d.primes == primes && d.n == n),
            "digits over different primes"
        );
        let g = galois.map_or(0u64, |g| {
            assert!(g % 2 == 1, "Galois element {g} is even");
            g as u64
        });
        let t = self.tables(ctx);
        let pos = positions(&primes, &key[0].0.primes);
        let log_n = n.trailing_zeros();
        let s = self.stream();
        let mut acc = (
            self.alloc_for_overwrite(n, &primes),
            self.alloc_for_overwrite(n, &primes),
        );
        // groups of at most MAX_DIGITS digits; later groups are added to the first's sums
        for (gi, group) in digits.chunks(MAX_DIGITS).enumerate() {
            let keys = &key[gi * MAX_DIGITS..];
            let mut out = if gi == 0 {
                None
            } else {
                Some((
                    self.alloc_for_overwrite(n, &primes),
                    self.alloc_for_overwrite(n, &primes),
                ))
            };
            assert!(keys
                .iter()
                .take(group.len())
                .all(|(b, a)| b.primes == key[0].0.primes && a.primes == key[0].0.primes));
            let (ptr, guards) =
                Self::device_ptrs(s, group.iter().zip(keys).map(|(d, (b, a))| (d, b, a)));
            let (o0, o1) = match &mut out {
                Some((x, y)) => (x, y),
                None => (&mut acc.0, &mut acc.1),
            };
            let digits_in = group.len() as u32;
            for r in Self::chunks(primes.len()) {
                let p = self.params(&t, &primes, r.clone(), Some(&pos), None, None);
                let mut v0 = o0.data.slice_mut(r.start * n..r.end * n);
                let mut v1 = o1.data.slice_mut(r.start * n..r.end * n);
                let limb0 = r.start as u32;
                let mut lb = s.launch_builder(&self.inner.k.ks_inner);
                lb.arg(&mut v0)
                    .arg(&mut v1)
                    .arg(&ptr)
                    .arg(&digits_in)
                    .arg(&limb0)
                    .arg(&log_n)
                    .arg(&g)
                    .arg(&*p);
                // SAFETY: ks_inner(u64*, u64*, KsPtrs, u32, u32, u32, u64, LimbParams)
                // matches; every digit holds primes.len()·N words, every key half holds
                // its primes (pos_b indexes them, checked by `positions`), the automorphism
                // index stays below N, and the guards keep the buffers alive past the launch.
                self.run("ks_inner", || unsafe { lb.launch(Self::grid(n, r.len())) });
            }
            drop(guards);
            if let Some((x, y)) = out {
                self.add_assign(ctx, &mut acc.0, &x);
                self.add_assign(ctx, &mut acc.1, &y);
            }
        }
        acc
    }

    /// [`Backend::div_round_by_tail`]: `(x_keep − [x + (T−1)/2]_T + (T−1)/2) · T^-1`, the
    /// conversion centered in one kernel, the subtraction and scaling in another.
    pub(crate) fn div_round_by_tail_fused(&self, ctx: &RingContext, a: &mut GpuPoly, tail: usize) {
        let primes = a.primes.clone();
        assert!(
            tail >= 1 && tail < primes.len(),
            "tail {tail} of {} limbs",
            primes.len()
        );
        let (keep, drop) = primes.split_at(primes.len() - tail);
        let n = a.n;
        let mut t = self.select(ctx, a, drop);
        self.intt(ctx, &mut t);
        let mut conv = self.alloc_for_overwrite(n, keep);
        self.base_convert_into(ctx, &t, keep, &mut conv.data, 0, true);
        self.ntt(ctx, &mut conv);
        let inv = fhe_dsl::backend::tail_constants(ctx, keep, drop).inv_keep;
        let tables = self.tables(ctx);
        let inv_s: Vec<u64> = keep
            .iter()
            .zip(&inv)
            .map(|(&i, &v)| shoup(tables.q[i], v))
            .collect();
        let pos = positions(keep, &primes);
        let log_n = n.trailing_zeros();
        for r in Self::chunks(keep.len()) {
            let p = self.params(
                &tables,
                keep,
                r.clone(),
                Some(&pos),
                None,
                Some((&inv, &inv_s)),
            );
            let mut view = conv.data.slice_mut(r.start * n..r.end * n);
            let mut lb = self.stream().launch_builder(&self.inner.k.ew_sub_from_mul);
            lb.arg(&mut view).arg(&a.data).arg(&log_n).arg(&*p);
            // SAFETY: ew_sub_from_mul(u64*, const u64*, u32, LimbParams) matches; pos_b
            // indexes limbs of `a` (checked by `positions`).
            self.run("ew_sub_from_mul", || unsafe {
                lb.launch(Self::grid(n, r.len()))
            });
        }
        *a = conv;
    }

    /// [`Backend::mod_raise`]: the centered lift of a one-prime polynomial to `to`.
    pub(crate) fn mod_raise_fused(&self, ctx: &RingContext, a: &GpuPoly, to: &[usize]) -> GpuPoly {
        assert_eq!(a.primes.len(), 1, "mod_raise takes a one-prime polynomial");
        let mut coeff = a.clone();
        self.intt(ctx, &mut coeff);
        let mut out = self.alloc_for_overwrite(a.n, to);
        if to.is_empty() {
            return out;
        }
        self.base_convert_into(ctx, &coeff, to, &mut out.data, 0, true);
        self.ntt(ctx, &mut out);
        out
    }

    /// [`Backend::mul_add_terms`] in one kernel per 16 terms.
    pub(crate) fn mul_add_terms_fused(
        &self,
        ctx: &RingContext,
        acc0: &mut GpuPoly,
        acc1: &mut GpuPoly,
        terms: &[(&GpuPoly, &GpuPoly, &GpuPoly)],
    ) {
        let Some(&(w0, x0, _)) = terms.first() else {
            return;
        };
        let same_lists = terms.iter().all(|(w, x, y)| {
            w.primes == w0.primes && x.primes == x0.primes && y.primes == x0.primes
        });
        if !same_lists || acc1.primes != acc0.primes {
            fhe_dsl::backend::mul_add_terms_composed(self, ctx, acc0, acc1, terms);
            return;
        }
        let primes = acc0.primes.clone();
        let n = acc0.n;
        let t = self.tables(ctx);
        let pw = positions(&primes, &w0.primes);
        let px = positions(&primes, &x0.primes);
        let log_n = n.trailing_zeros();
        let s = self.stream();
        for group in terms.chunks(MAX_DIGITS) {
            let (ptr, guards) = Self::device_ptrs(s, group.iter().copied());
            let count = group.len() as u32;
            for r in Self::chunks(primes.len()) {
                let p = self.params(&t, &primes, r.clone(), Some(&pw), Some(&px), None);
                let mut v0 = acc0.data.slice_mut(r.start * n..r.end * n);
                let mut v1 = acc1.data.slice_mut(r.start * n..r.end * n);
                let mut lb = s.launch_builder(&self.inner.k.mul_add_terms);
                lb.arg(&mut v0)
                    .arg(&mut v1)
                    .arg(&ptr)
                    .arg(&count)
                    .arg(&log_n)
                    .arg(&*p);
                // SAFETY: mul_add_terms(u64*, u64*, KsPtrs, u32, u32, LimbParams) matches;
                // pos_b / pos_c index limbs every plaintext / ciphertext part holds (one
                // prime list each, checked above and by `positions`); the guards keep the
                // buffers alive past the launch.
                self.run("mul_add_terms", || unsafe {
                    lb.launch(Self::grid(n, r.len()))
                });
            }
            drop(guards);
        }
    }

    /// [`Backend::rotate_extended`]: `(u0 + P·σ(c0), u1)` over `Q_l ∪ P`.
    pub(crate) fn rotate_extended_fused(
        &self,
        ctx: &RingContext,
        c0: &GpuPoly,
        digits: &[GpuPoly],
        key: &KeyDigits<GpuPoly>,
        galois: usize,
    ) -> (GpuPoly, GpuPoly) {
        assert!(galois % 2 == 1, "Galois element {galois} is even");
        let (mut u0, u1) = self.key_switch_inner_fused(ctx, digits, key, Some(galois));
        let q = &c0.primes;
        assert!(
            u0.primes.starts_with(q) && c0.n == u0.n,
            "c0 over {q:?}, the digits over {:?}",
            u0.primes
        );
        let t = self.tables(ctx);
        let pmq = fhe_dsl::backend::p_mod_q(ctx, q);
        let pmq_s: Vec<u64> = q
            .iter()
            .zip(&pmq)
            .map(|(&i, &v)| shoup(t.q[i], v))
            .collect();
        let (n, log_n) = (c0.n, c0.n.trailing_zeros());
        let g = galois as u64;
        for r in Self::chunks(q.len()) {
            let p = self.params(&t, q, r.clone(), None, None, Some((&pmq, &pmq_s)));
            let mut view = u0.data.slice_mut(r.start * n..r.end * n);
            let src = c0.data.slice(r.start * n..r.end * n);
            let mut lb = self
                .stream()
                .launch_builder(&self.inner.k.automorphism_mul_scalar_add);
            lb.arg(&mut view).arg(&src).arg(&log_n).arg(&g).arg(&*p);
            // SAFETY: automorphism_mul_scalar_add(u64*, const u64*, u32, u64, LimbParams)
            // matches; both views hold r.len() limbs of N words (u0 starts with c0's primes).
            self.run("automorphism_mul_scalar_add", || unsafe {
                lb.launch(Self::grid(n, r.len()))
            });
        }
        (u0, u1)
    }
}
