//! Host side of key switching on the GPU: the fused inner product (`kernels/keyswitch.cu`),
//! the hybrid decomposition with each digit's conversion written in place, and basis
//! conversion into part of a buffer.

use crate::kernels::{KsPtrs, MAX_DIGITS};
use crate::{data_mut, positions, shoup, GpuBackend, GpuPoly, OrDevice, NAME};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, PushKernelArg, SyncOnDrop};
use fhe_dsl::backend::{check_degree, check_digits, check_tail, invalid, Backend, KeyDigits};
use fhe_dsl::ring::RingContext;
use fhe_dsl::Result;
use std::sync::Arc;

impl GpuBackend {
    /// Device addresses of up to [`MAX_DIGITS`] triples for a [`KsPtrs`] argument, with
    /// the guards that must outlive the launch reading them.
    fn device_ptrs<'a>(
        s: &'a Arc<CudaStream>,
        triples: impl Iterator<Item = (&'a GpuPoly, &'a GpuPoly, &'a GpuPoly)>,
    ) -> Result<(KsPtrs, Vec<SyncOnDrop<'a>>)> {
        let mut ptr = KsPtrs::default();
        let mut guards = Vec::new();
        for (j, (d, b, a)) in triples.enumerate() {
            for (slot, buf) in [(&mut ptr.d[j], d), (&mut ptr.b[j], b), (&mut ptr.a[j], a)] {
                let (addr, guard) = buf.data()?.device_ptr(s);
                *slot = addr;
                guards.push(guard);
            }
        }
        Ok((ptr, guards))
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
    ) -> Result<()> {
        if to.is_empty() {
            return Ok(());
        }
        let src = a.data()?;
        let table = self.conv_table(ctx, &a.primes, to)?;
        let (n, log_n) = (a.n, a.n.trailing_zeros());
        let (nf, nt) = (a.primes.len() as u32, to.len() as u32);
        let centered = centered as u32;
        let mut view = out.slice_mut(first * n..(first + to.len()) * n);
        let mut lb = self.stream().launch_builder(&self.inner.k.base_convert);
        lb.arg(&mut view)
            .arg(src)
            .arg(&*table)
            .arg(&nf)
            .arg(&nt)
            .arg(&log_n)
            .arg(&centered);
        // SAFETY: base_convert(u64*, const u64*, const u64*, u32, u32, u32, u32) matches;
        // the table has the layout of basis.cu for (nf, nt), and the view holds nt limbs.
        unsafe { lb.launch(Self::grid(n, to.len())) }.or_dev("base_convert")?;
        Ok(())
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
    ) -> Result<Vec<GpuPoly>> {
        let n = a.n;
        let q = a.primes.clone();
        let order: Vec<usize> = q.iter().copied().chain(ctx.p_indices()).collect();
        let s = self.stream();
        let src = a.data()?;
        (0..q.len())
            .step_by(alpha.max(1))
            .map(|start| {
                let end = (start + alpha).min(q.len());
                let digit = &q[start..end];
                let mut coeff = self.select(ctx, a, digit)?;
                self.intt(ctx, &mut coeff)?;
                let mut out = self.alloc_for_overwrite(n, &order)?;
                let data = data_mut(&mut out.buf)?;
                let (below, above) = (&order[..start], &order[end..]);
                self.base_convert_into(ctx, &coeff, below, data, 0, false)?;
                self.base_convert_into(ctx, &coeff, above, data, end, false)?;
                if !below.is_empty() {
                    self.ntt_limbs(ctx, data, 0, below, n)?;
                }
                if !above.is_empty() {
                    self.ntt_limbs(ctx, data, end, above, n)?;
                }
                let mut own = data.slice_mut(start * n..end * n);
                s.memcpy_dtod(&src.slice(start * n..end * n), &mut own)
                    .or_dev("decompose copy")?;
                Ok(out)
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
    ) -> Result<(GpuPoly, GpuPoly)> {
        const OP: &str = "key_switch_inner";
        check_digits(NAME, OP, digits.len(), key.len())?;
        let primes = digits[0].primes.clone();
        let n = digits[0].n;
        if let Some(d) = digits.iter().find(|d| d.primes != primes || d.n != n) {
            return Err(invalid(
                NAME,
                OP,
                format!(
                    "digits over different primes or degrees: {primes:?} (N = {n}) and {:?} (N = {})",
                    d.primes, d.n
                ),
            ));
        }
        let key_primes = &key[0].0.primes;
        if let Some((b, a)) = key.iter().take(digits.len()).find(|(b, a)| {
            &b.primes != key_primes || &a.primes != key_primes || b.n != n || a.n != n
        }) {
            return Err(invalid(
                NAME,
                OP,
                format!(
                    "key digits over different primes or degrees: {key_primes:?}, {:?} and {:?} for digits of N = {n}",
                    b.primes, a.primes
                ),
            ));
        }
        let g = match galois {
            Some(g) if g.is_multiple_of(2) => {
                return Err(invalid(NAME, OP, format!("Galois element {g} is even")))
            }
            Some(g) => g as u64,
            None => 0,
        };
        let t = self.tables(ctx)?;
        let pos = positions(OP, &primes, key_primes)?;
        let log_n = n.trailing_zeros();
        let s = self.stream();
        let mut acc = (
            self.alloc_for_overwrite(n, &primes)?,
            self.alloc_for_overwrite(n, &primes)?,
        );
        // groups of at most MAX_DIGITS digits; later groups are added to the first's sums
        for (gi, group) in digits.chunks(MAX_DIGITS).enumerate() {
            let keys = &key[gi * MAX_DIGITS..];
            let mut out = if gi == 0 {
                None
            } else {
                Some((
                    self.alloc_for_overwrite(n, &primes)?,
                    self.alloc_for_overwrite(n, &primes)?,
                ))
            };
            let (ptr, guards) =
                Self::device_ptrs(s, group.iter().zip(keys).map(|(d, (b, a))| (d, b, a)))?;
            let (o0, o1) = match &mut out {
                Some((x, y)) => (x, y),
                None => (&mut acc.0, &mut acc.1),
            };
            let (d0, d1) = (data_mut(&mut o0.buf)?, data_mut(&mut o1.buf)?);
            let digits_in = group.len() as u32;
            for r in Self::chunks(primes.len()) {
                let p = self.params(&t, &primes, r.clone(), Some(&pos), None, None)?;
                let mut v0 = d0.slice_mut(r.start * n..r.end * n);
                let mut v1 = d1.slice_mut(r.start * n..r.end * n);
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
                unsafe { lb.launch(Self::grid(n, r.len())) }.or_dev("ks_inner")?;
            }
            drop(guards);
            if let Some((x, y)) = out {
                self.add_assign(ctx, &mut acc.0, &x)?;
                self.add_assign(ctx, &mut acc.1, &y)?;
            }
        }
        Ok(acc)
    }

    /// [`Backend::div_round_by_tail`]: `(x_keep − [x + (T−1)/2]_T + (T−1)/2) · T^-1`, the
    /// conversion centered in one kernel, the subtraction and scaling in another.
    pub(crate) fn div_round_by_tail_fused(
        &self,
        ctx: &RingContext,
        a: &mut GpuPoly,
        tail: usize,
    ) -> Result<()> {
        const OP: &str = "div_round_by_tail";
        let primes = a.primes.clone();
        check_tail(NAME, OP, tail, primes.len())?;
        let (keep, drop) = primes.split_at(primes.len() - tail);
        let n = a.n;
        let mut t = self.select(ctx, a, drop)?;
        self.intt(ctx, &mut t)?;
        let mut conv = self.alloc_for_overwrite(n, keep)?;
        self.base_convert_into(ctx, &t, keep, data_mut(&mut conv.buf)?, 0, true)?;
        self.ntt(ctx, &mut conv)?;
        let inv = fhe_dsl::backend::tail_constants(ctx, keep, drop).inv_keep;
        let tables = self.tables(ctx)?;
        let inv_s: Vec<u64> = keep
            .iter()
            .zip(&inv)
            .map(|(&i, &v)| shoup(tables.q[i], v))
            .collect();
        let pos = positions(OP, keep, &primes)?;
        let log_n = n.trailing_zeros();
        let src = a.data()?;
        let dst = data_mut(&mut conv.buf)?;
        for r in Self::chunks(keep.len()) {
            let p = self.params(
                &tables,
                keep,
                r.clone(),
                Some(&pos),
                None,
                Some((&inv, &inv_s)),
            )?;
            let mut view = dst.slice_mut(r.start * n..r.end * n);
            let mut lb = self.stream().launch_builder(&self.inner.k.ew_sub_from_mul);
            lb.arg(&mut view).arg(src).arg(&log_n).arg(&*p);
            // SAFETY: ew_sub_from_mul(u64*, const u64*, u32, LimbParams) matches; pos_b
            // indexes limbs of `a` (checked by `positions`).
            unsafe { lb.launch(Self::grid(n, r.len())) }.or_dev("ew_sub_from_mul")?;
        }
        *a = conv;
        Ok(())
    }

    /// [`Backend::mod_raise`]: the centered lift of a one-prime polynomial to `to`.
    pub(crate) fn mod_raise_fused(
        &self,
        ctx: &RingContext,
        a: &GpuPoly,
        to: &[usize],
    ) -> Result<GpuPoly> {
        if a.primes.len() != 1 {
            return Err(invalid(
                NAME,
                "mod_raise",
                format!(
                    "takes a one-prime polynomial, got {} primes",
                    a.primes.len()
                ),
            ));
        }
        let mut coeff = self.select(ctx, a, &a.primes)?;
        self.intt(ctx, &mut coeff)?;
        let mut out = self.alloc_for_overwrite(a.n, to)?;
        if to.is_empty() {
            return Ok(out);
        }
        self.base_convert_into(ctx, &coeff, to, data_mut(&mut out.buf)?, 0, true)?;
        self.ntt(ctx, &mut out)?;
        Ok(out)
    }

    /// [`Backend::mul_add_terms`] in one kernel per 16 terms.
    pub(crate) fn mul_add_terms_fused(
        &self,
        ctx: &RingContext,
        acc0: &mut GpuPoly,
        acc1: &mut GpuPoly,
        terms: &[(&GpuPoly, &GpuPoly, &GpuPoly)],
    ) -> Result<()> {
        const OP: &str = "mul_add_terms";
        let Some(&(w0, x0, _)) = terms.first() else {
            return Ok(());
        };
        let same_lists = terms.iter().all(|(w, x, y)| {
            w.primes == w0.primes && x.primes == x0.primes && y.primes == x0.primes
        });
        if !same_lists || acc1.primes != acc0.primes {
            return fhe_dsl::backend::mul_add_terms_composed(self, ctx, acc0, acc1, terms);
        }
        let n = acc0.n;
        check_degree(NAME, OP, acc1.n, n)?;
        for (w, x, y) in terms {
            for m in [w.n, x.n, y.n] {
                check_degree(NAME, OP, m, n)?;
            }
        }
        let primes = acc0.primes.clone();
        let t = self.tables(ctx)?;
        let pw = positions(OP, &primes, &w0.primes)?;
        let px = positions(OP, &primes, &x0.primes)?;
        let log_n = n.trailing_zeros();
        let s = self.stream();
        let (d0, d1) = (data_mut(&mut acc0.buf)?, data_mut(&mut acc1.buf)?);
        for group in terms.chunks(MAX_DIGITS) {
            let (ptr, guards) = Self::device_ptrs(s, group.iter().copied())?;
            let count = group.len() as u32;
            for r in Self::chunks(primes.len()) {
                let p = self.params(&t, &primes, r.clone(), Some(&pw), Some(&px), None)?;
                let mut v0 = d0.slice_mut(r.start * n..r.end * n);
                let mut v1 = d1.slice_mut(r.start * n..r.end * n);
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
                unsafe { lb.launch(Self::grid(n, r.len())) }.or_dev("mul_add_terms")?;
            }
            drop(guards);
        }
        Ok(())
    }

    /// [`Backend::rotate_extended`]: `(u0 + P·σ(c0), u1)` over `Q_l ∪ P`.
    pub(crate) fn rotate_extended_fused(
        &self,
        ctx: &RingContext,
        c0: &GpuPoly,
        digits: &[GpuPoly],
        key: &KeyDigits<GpuPoly>,
        galois: usize,
    ) -> Result<(GpuPoly, GpuPoly)> {
        const OP: &str = "rotate_extended";
        let (mut u0, u1) = self.key_switch_inner_fused(ctx, digits, key, Some(galois))?;
        let q = &c0.primes;
        if !(u0.primes.starts_with(q) && c0.n == u0.n) {
            return Err(invalid(
                NAME,
                OP,
                format!("c0 over {q:?}, the digits over {:?}", u0.primes),
            ));
        }
        let t = self.tables(ctx)?;
        let pmq = fhe_dsl::backend::p_mod_q(ctx, q);
        let pmq_s: Vec<u64> = q
            .iter()
            .zip(&pmq)
            .map(|(&i, &v)| shoup(t.q[i], v))
            .collect();
        let (n, log_n) = (c0.n, c0.n.trailing_zeros());
        let g = galois as u64;
        let src = c0.data()?;
        let dst = data_mut(&mut u0.buf)?;
        for r in Self::chunks(q.len()) {
            let p = self.params(&t, q, r.clone(), None, None, Some((&pmq, &pmq_s)))?;
            let mut view = dst.slice_mut(r.start * n..r.end * n);
            let src = src.slice(r.start * n..r.end * n);
            let mut lb = self
                .stream()
                .launch_builder(&self.inner.k.automorphism_mul_scalar_add);
            lb.arg(&mut view).arg(&src).arg(&log_n).arg(&g).arg(&*p);
            // SAFETY: automorphism_mul_scalar_add(u64*, const u64*, u32, u64, LimbParams)
            // matches; both views hold r.len() limbs of N words (u0 starts with c0's primes).
            unsafe { lb.launch(Self::grid(n, r.len())) }.or_dev("automorphism_mul_scalar_add")?;
        }
        Ok((u0, u1))
    }
}
