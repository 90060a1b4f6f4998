//! The [`Backend`] implementation: every primitive on device buffers, the coarse
//! operations with fused kernels delegated to `keyswitch.rs` and `ntt.rs`. Every method
//! runs through [`GpuBackend::prof`], which also names the method in its errors.

use crate::{
    data_mut, kernels, positions, validate_host_poly, GpuBackend, GpuPoly, OrDevice, NAME,
};
use cudarc::driver::PushKernelArg;
use fhe_dsl::backend::{check_degree, check_scalars, invalid, Backend, KeyDigits};
use fhe_dsl::ring::{RingContext, RnsPoly};
use fhe_dsl::Result;

impl Backend for GpuBackend {
    type Poly = GpuPoly;

    fn name(&self) -> &'static str {
        NAME
    }

    fn synchronize(&self) -> Result<()> {
        Ok(GpuBackend::synchronize(self)?)
    }

    /// Checks the polynomial's shape against `ctx` ([`validate_host_poly`]) before
    /// anything reaches the device (a kernel would otherwise read `primes.len() · N`
    /// words from a shorter buffer).
    fn upload(&self, ctx: &RingContext, p: RnsPoly) -> Result<GpuPoly> {
        let words = validate_host_poly(ctx, &p)?;
        self.prof("upload", || {
            if words.is_empty() {
                return self.alloc(p.n, &p.primes);
            }
            let data = self.stream().clone_htod(words).or_dev("copy to device")?;
            Ok(GpuPoly {
                buf: Ok(data),
                primes: p.primes.clone(),
                n: p.n,
            })
        })
    }

    fn download(&self, _ctx: &RingContext, p: &GpuPoly) -> Result<RnsPoly> {
        self.prof("download", || {
            let mut data = vec![0u64; p.len()];
            if !data.is_empty() {
                let s = self.stream();
                s.memcpy_dtoh(&p.data()?.slice(0..p.len()), &mut data)
                    .or_dev("copy to host")?;
                // a fault of earlier asynchronous work surfaces here too
                s.synchronize().or_dev("synchronize")?;
            }
            Ok(RnsPoly {
                primes: p.primes.clone(),
                n: p.n,
                data,
            })
        })
    }

    fn zero(&self, ctx: &RingContext, primes: &[usize]) -> Result<GpuPoly> {
        self.prof("zero", || self.alloc(ctx.n(), primes))
    }

    fn primes<'a>(&self, p: &'a GpuPoly) -> &'a [usize] {
        &p.primes
    }

    fn select(&self, ctx: &RingContext, a: &GpuPoly, primes: &[usize]) -> Result<GpuPoly> {
        self.prof("select", || {
            let t = self.tables(ctx)?;
            let pos = positions("select", primes, &a.primes)?;
            if primes.is_empty() {
                return self.alloc(a.n, primes);
            }
            let src = a.data()?;
            let mut out = self.alloc_for_overwrite(a.n, primes)?;
            let dst = data_mut(&mut out.buf)?;
            let (n, log_n) = (a.n, a.n.trailing_zeros());
            for r in Self::chunks(primes.len()) {
                let p = self.params(&t, primes, r.clone(), Some(&pos), None, None)?;
                let mut view = dst.slice_mut(r.start * n..r.end * n);
                let mut lb = self.stream().launch_builder(&self.inner.k.gather_limbs);
                lb.arg(&mut view).arg(src).arg(&log_n).arg(&*p);
                // SAFETY: gather_limbs(u64*, const u64*, u32, LimbParams) matches; in-bounds.
                unsafe { lb.launch(Self::grid(n, r.len())) }.or_dev("gather_limbs")?;
            }
            Ok(out)
        })
    }

    /// A prefix is kept in place (the buffer keeps its size; only the limb list shrinks).
    fn keep_limbs(&self, ctx: &RingContext, a: &mut GpuPoly, primes: &[usize]) -> Result<()> {
        if a.primes.starts_with(primes) {
            a.primes.truncate(primes.len());
        } else {
            *a = self.select(ctx, a, primes)?;
        }
        Ok(())
    }

    fn concat(&self, _ctx: &RingContext, a: &GpuPoly, b: &GpuPoly) -> Result<GpuPoly> {
        self.prof("concat", || {
            check_degree(NAME, "concat", a.n, b.n)?;
            let primes: Vec<usize> = a.primes.iter().chain(&b.primes).copied().collect();
            if primes.is_empty() {
                return self.alloc(a.n, &primes);
            }
            let (sa, sb) = (a.data()?, b.data()?);
            // both copies below write every word
            let mut out = self.alloc_for_overwrite(a.n, &primes)?;
            let dst = data_mut(&mut out.buf)?;
            let (la, lb) = (a.len(), b.len());
            let s = self.stream();
            if la > 0 {
                let mut view = dst.slice_mut(0..la);
                s.memcpy_dtod(&sa.slice(0..la), &mut view)
                    .or_dev("concat copy")?;
            }
            if lb > 0 {
                let mut view = dst.slice_mut(la..la + lb);
                s.memcpy_dtod(&sb.slice(0..lb), &mut view)
                    .or_dev("concat copy")?;
            }
            Ok(out)
        })
    }

    fn ntt(&self, ctx: &RingContext, a: &mut GpuPoly) -> Result<()> {
        self.prof("ntt", || {
            self.ntt_limbs(ctx, data_mut(&mut a.buf)?, 0, &a.primes, a.n)
        })
    }

    fn intt(&self, ctx: &RingContext, a: &mut GpuPoly) -> Result<()> {
        self.prof("intt", || {
            self.intt_limbs(ctx, data_mut(&mut a.buf)?, 0, &a.primes, a.n)
        })
    }

    fn add_assign(&self, ctx: &RingContext, a: &mut GpuPoly, b: &GpuPoly) -> Result<()> {
        self.prof("add_assign", || {
            self.binary(ctx, a, b, kernels::EW_ADD, "add_assign")
        })
    }

    fn sub_assign(&self, ctx: &RingContext, a: &mut GpuPoly, b: &GpuPoly) -> Result<()> {
        self.prof("sub_assign", || {
            self.binary(ctx, a, b, kernels::EW_SUB, "sub_assign")
        })
    }

    fn neg_assign(&self, ctx: &RingContext, a: &mut GpuPoly) -> Result<()> {
        self.prof("neg_assign", || self.unary(ctx, a, kernels::EW_NEG, &[]))
    }

    fn mul_assign(&self, ctx: &RingContext, a: &mut GpuPoly, b: &GpuPoly) -> Result<()> {
        self.prof("mul_assign", || {
            self.binary(ctx, a, b, kernels::EW_MUL, "mul_assign")
        })
    }

    fn mul_add_assign(
        &self,
        ctx: &RingContext,
        acc: &mut GpuPoly,
        a: &GpuPoly,
        b: &GpuPoly,
    ) -> Result<()> {
        const OP: &str = "mul_add_assign";
        self.prof(OP, || {
            check_degree(NAME, OP, acc.n, a.n)?;
            check_degree(NAME, OP, acc.n, b.n)?;
            let t = self.tables(ctx)?;
            let pa = positions(OP, &acc.primes, &a.primes)?;
            let pb = positions(OP, &acc.primes, &b.primes)?;
            let (sa, sb) = (a.data()?, b.data()?);
            let (n, log_n) = (acc.n, acc.n.trailing_zeros());
            let dst = data_mut(&mut acc.buf)?;
            for r in Self::chunks(acc.primes.len()) {
                let p = self.params(&t, &acc.primes, r.clone(), Some(&pa), Some(&pb), None)?;
                let mut view = dst.slice_mut(r.start * n..r.end * n);
                let mut lb = self.stream().launch_builder(&self.inner.k.ew_mul_add);
                lb.arg(&mut view).arg(sa).arg(sb).arg(&log_n).arg(&*p);
                // SAFETY: ew_mul_add(u64*, const u64*, const u64*, u32, LimbParams) matches.
                unsafe { lb.launch(Self::grid(n, r.len())) }.or_dev("ew_mul_add")?;
            }
            Ok(())
        })
    }

    fn mul_scalar_assign(&self, ctx: &RingContext, a: &mut GpuPoly, s: &[u64]) -> Result<()> {
        self.prof("mul_scalar_assign", || {
            check_scalars(NAME, "mul_scalar_assign", s.len(), a.primes.len())?;
            self.unary(ctx, a, kernels::EW_MUL_SCALAR, &s[..a.primes.len()])
        })
    }

    fn add_scalar_assign(&self, ctx: &RingContext, a: &mut GpuPoly, s: &[u64]) -> Result<()> {
        self.prof("add_scalar_assign", || {
            check_scalars(NAME, "add_scalar_assign", s.len(), a.primes.len())?;
            self.unary(ctx, a, kernels::EW_ADD_SCALAR, &s[..a.primes.len()])
        })
    }

    fn automorphism_ntt(
        &self,
        _ctx: &RingContext,
        a: &GpuPoly,
        galois: usize,
        out: &mut GpuPoly,
    ) -> Result<()> {
        self.prof("automorphism_ntt", || {
            if galois.is_multiple_of(2) {
                return Err(invalid(
                    NAME,
                    "automorphism_ntt",
                    format!("Galois element {galois} is even"),
                ));
            }
            if a.len() == 0 {
                *out = self.alloc(a.n, &a.primes)?;
                return Ok(());
            }
            let src = a.data()?;
            let mut o = self.alloc_for_overwrite(a.n, &a.primes)?;
            let (n, log_n) = (a.n, a.n.trailing_zeros());
            let g = galois as u64;
            let mut lb = self.stream().launch_builder(&self.inner.k.automorphism_ntt);
            lb.arg(data_mut(&mut o.buf)?).arg(src).arg(&log_n).arg(&g);
            // SAFETY: automorphism_ntt(u64*, const u64*, u32, u64) matches; both buffers
            // hold limbs·N words.
            unsafe { lb.launch(Self::grid(n, a.primes.len())) }.or_dev("automorphism_ntt")?;
            *out = o;
            Ok(())
        })
    }

    /// One kernel for all digits: each digit word (read through the automorphism's index
    /// map) and key word once, both accumulators written once.
    fn key_switch_inner(
        &self,
        ctx: &RingContext,
        digits: &[GpuPoly],
        key: &KeyDigits<GpuPoly>,
        galois: Option<usize>,
    ) -> Result<(GpuPoly, GpuPoly)> {
        self.prof("key_switch_inner", || {
            self.key_switch_inner_fused(ctx, digits, key, galois)
        })
    }

    /// Division by the tail primes in three passes over the kept limbs: a centered
    /// conversion of the tail, its NTT, and one `(x − conv) · T^-1` kernel (the default
    /// takes seven, with two copies).
    fn div_round_by_tail(&self, ctx: &RingContext, a: &mut GpuPoly, tail: usize) -> Result<()> {
        self.prof("div_round_by_tail", || {
            self.div_round_by_tail_fused(ctx, a, tail)
        })
    }

    /// The centered conversion does the default's two constant additions.
    fn mod_raise(&self, ctx: &RingContext, a: &GpuPoly, to: &[usize]) -> Result<GpuPoly> {
        self.prof("mod_raise", || self.mod_raise_fused(ctx, a, to))
    }

    /// One kernel per 16 terms when the plaintexts share one prime list and the
    /// ciphertext parts another (the composed default otherwise).
    fn mul_add_terms(
        &self,
        ctx: &RingContext,
        acc0: &mut GpuPoly,
        acc1: &mut GpuPoly,
        terms: &[(&GpuPoly, &GpuPoly, &GpuPoly)],
    ) -> Result<()> {
        self.prof("mul_add_terms", || {
            self.mul_add_terms_fused(ctx, acc0, acc1, terms)
        })
    }

    /// The inner product, then `P·σ(c0)` added to its first limbs in one kernel (the
    /// default allocates, permutes, scales, pads with zero P limbs and adds).
    fn rotate_extended(
        &self,
        ctx: &RingContext,
        c0: &GpuPoly,
        digits: &[GpuPoly],
        key: &KeyDigits<GpuPoly>,
        galois: usize,
    ) -> Result<(GpuPoly, GpuPoly)> {
        self.prof("rotate_extended", || {
            self.rotate_extended_fused(ctx, c0, digits, key, galois)
        })
    }

    /// Each digit's conversion written straight into its place in the raised polynomial
    /// (no select / concat / reorder copies).
    fn decompose_mod_up(
        &self,
        ctx: &RingContext,
        a: &GpuPoly,
        alpha: usize,
    ) -> Result<Vec<GpuPoly>> {
        self.prof("decompose_mod_up", || {
            self.decompose_mod_up_fused(ctx, a, alpha)
        })
    }

    fn base_convert(&self, ctx: &RingContext, a: &GpuPoly, to: &[usize]) -> Result<GpuPoly> {
        self.prof("base_convert", || {
            if to.is_empty() {
                return self.alloc(a.n, to);
            }
            let mut out = self.alloc_for_overwrite(a.n, to)?;
            self.base_convert_into(ctx, a, to, data_mut(&mut out.buf)?, 0, false)?;
            Ok(out)
        })
    }
}
