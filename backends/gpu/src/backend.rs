//! The [`Backend`] implementation: every primitive on device buffers, the coarse
//! operations with fused kernels delegated to `keyswitch.rs` and `ntt.rs`.

use crate::{drv, kernels, positions, GpuBackend, GpuPoly};
use cudarc::driver::PushKernelArg;
use fhe_dsl::backend::{Backend, KeyDigits};
use fhe_dsl::ring::{RingContext, RnsPoly};

impl Backend for GpuBackend {
    type Poly = GpuPoly;

    fn name(&self) -> &'static str {
        "gpu"
    }

    fn synchronize(&self) -> fhe_dsl::Result<()> {
        Ok(GpuBackend::synchronize(self)?)
    }

    /// Checks the polynomial's shape against `ctx` before anything reaches the device (a
    /// kernel would otherwise read `primes.len() · N` words from a shorter buffer).
    fn upload(&self, ctx: &RingContext, p: RnsPoly) -> fhe_dsl::Result<GpuPoly> {
        p.check_shape(ctx)?;
        self.inner.fault.check()?;
        self.prof("upload", || {
            if p.data.is_empty() {
                return Ok(self.alloc(p.n, &p.primes));
            }
            let data = drv("upload", self.stream().clone_htod(&p.data))?;
            Ok(GpuPoly {
                data,
                primes: p.primes,
                n: p.n,
            })
        })
    }

    fn download(&self, _ctx: &RingContext, p: &GpuPoly) -> fhe_dsl::Result<RnsPoly> {
        self.inner.fault.check()?;
        self.prof("download", || {
            let mut data = vec![0u64; p.len()];
            if !data.is_empty() {
                let s = self.stream();
                drv(
                    "download",
                    s.memcpy_dtoh(&p.data.slice(0..p.len()), &mut data),
                )?;
                // a fault of earlier asynchronous work surfaces here too
                drv("download", s.synchronize())?;
            }
            Ok(RnsPoly {
                primes: p.primes.clone(),
                n: p.n,
                data,
            })
        })
    }

    fn zero(&self, ctx: &RingContext, primes: &[usize]) -> GpuPoly {
        self.prof("zero", || self.alloc(ctx.n(), primes))
    }

    fn primes<'a>(&self, p: &'a GpuPoly) -> &'a [usize] {
        &p.primes
    }

    fn select(&self, ctx: &RingContext, a: &GpuPoly, primes: &[usize]) -> GpuPoly {
        self.prof("select", || {
            let t = self.tables(ctx);
            let pos = positions(primes, &a.primes);
            if primes.is_empty() {
                return self.alloc(a.n, primes);
            }
            let mut out = self.alloc_for_overwrite(a.n, primes);
            let (n, log_n) = (a.n, a.n.trailing_zeros());
            for r in Self::chunks(primes.len()) {
                let p = self.params(&t, primes, r.clone(), Some(&pos), None, None);
                let mut view = out.data.slice_mut(r.start * n..r.end * n);
                let mut lb = self.stream().launch_builder(&self.inner.k.gather_limbs);
                lb.arg(&mut view).arg(&a.data).arg(&log_n).arg(&*p);
                // SAFETY: gather_limbs(u64*, const u64*, u32, LimbParams) matches; in-bounds.
                self.run("gather_limbs", || unsafe {
                    lb.launch(Self::grid(n, r.len()))
                });
            }
            out
        })
    }

    /// A prefix is kept in place (the buffer keeps its size; only the limb list shrinks).
    fn keep_limbs(&self, ctx: &RingContext, a: &mut GpuPoly, primes: &[usize]) {
        if a.primes.starts_with(primes) {
            a.primes.truncate(primes.len());
        } else {
            *a = self.select(ctx, a, primes);
        }
    }

    fn concat(&self, _ctx: &RingContext, a: &GpuPoly, b: &GpuPoly) -> GpuPoly {
        self.prof("concat", || {
            assert_eq!(a.n, b.n, "ring degrees differ");
            let primes: Vec<usize> = a.primes.iter().chain(&b.primes).copied().collect();
            if primes.is_empty() {
                return self.alloc(a.n, &primes);
            }
            // both copies below write every word
            let mut out = self.alloc_for_overwrite(a.n, &primes);
            let (la, lb) = (a.len(), b.len());
            let s = self.stream();
            if la > 0 {
                let mut dst = out.data.slice_mut(0..la);
                self.run("concat", || s.memcpy_dtod(&a.data.slice(0..la), &mut dst));
            }
            if lb > 0 {
                let mut dst = out.data.slice_mut(la..la + lb);
                self.run("concat", || s.memcpy_dtod(&b.data.slice(0..lb), &mut dst));
            }
            out
        })
    }

    fn ntt(&self, ctx: &RingContext, a: &mut GpuPoly) {
        self.prof("ntt", || {
            self.ntt_limbs(ctx, &mut a.data, 0, &a.primes, a.n);
        })
    }

    fn intt(&self, ctx: &RingContext, a: &mut GpuPoly) {
        self.prof("intt", || {
            self.intt_limbs(ctx, &mut a.data, 0, &a.primes, a.n);
        })
    }

    fn add_assign(&self, ctx: &RingContext, a: &mut GpuPoly, b: &GpuPoly) {
        self.prof("add_assign", || {
            self.binary(ctx, a, b, kernels::EW_ADD);
        })
    }

    fn sub_assign(&self, ctx: &RingContext, a: &mut GpuPoly, b: &GpuPoly) {
        self.prof("sub_assign", || {
            self.binary(ctx, a, b, kernels::EW_SUB);
        })
    }

    fn neg_assign(&self, ctx: &RingContext, a: &mut GpuPoly) {
        self.prof("neg_assign", || {
            self.unary(ctx, a, kernels::EW_NEG, &[]);
        })
    }

    fn mul_assign(&self, ctx: &RingContext, a: &mut GpuPoly, b: &GpuPoly) {
        self.prof("mul_assign", || {
            self.binary(ctx, a, b, kernels::EW_MUL);
        })
    }

    fn mul_add_assign(&self, ctx: &RingContext, acc: &mut GpuPoly, a: &GpuPoly, b: &GpuPoly) {
        self.prof("mul_add_assign", || {
            assert!(acc.n == a.n && acc.n == b.n, "ring degrees differ");
            let t = self.tables(ctx);
            let pa = positions(&acc.primes, &a.primes);
            let pb = positions(&acc.primes, &b.primes);
            let (n, log_n) = (acc.n, acc.n.trailing_zeros());
            for r in Self::chunks(acc.primes.len()) {
                let p = self.params(&t, &acc.primes, r.clone(), Some(&pa), Some(&pb), None);
                let mut view = acc.data.slice_mut(r.start * n..r.end * n);
                let mut lb = self.stream().launch_builder(&self.inner.k.ew_mul_add);
                lb.arg(&mut view)
                    .arg(&a.data)
                    .arg(&b.data)
                    .arg(&log_n)
                    .arg(&*p);
                // SAFETY: ew_mul_add(u64*, const u64*, const u64*, u32, LimbParams) matches.
                self.run("ew_mul_add", || unsafe {
                    lb.launch(Self::grid(n, r.len()))
                });
            }
        })
    }

    fn mul_scalar_assign(&self, ctx: &RingContext, a: &mut GpuPoly, s: &[u64]) {
        self.prof("mul_scalar_assign", || {
            assert_eq!(s.len(), a.primes.len(), "one scalar per limb");
            self.unary(ctx, a, kernels::EW_MUL_SCALAR, s);
        })
    }

    fn add_scalar_assign(&self, ctx: &RingContext, a: &mut GpuPoly, s: &[u64]) {
        self.prof("add_scalar_assign", || {
            assert_eq!(s.len(), a.primes.len(), "one scalar per limb");
            self.unary(ctx, a, kernels::EW_ADD_SCALAR, s);
        })
    }

    fn automorphism_ntt(&self, _ctx: &RingContext, a: &GpuPoly, galois: usize, out: &mut GpuPoly) {
        self.prof("automorphism_ntt", || {
            assert!(galois % 2 == 1, "Galois element {galois} is even");
            if a.len() == 0 {
                *out = self.alloc(a.n, &a.primes);
                return;
            }
            let mut o = self.alloc_for_overwrite(a.n, &a.primes);
            let (n, log_n) = (a.n, a.n.trailing_zeros());
            let g = galois as u64;
            let mut lb = self.stream().launch_builder(&self.inner.k.automorphism_ntt);
            lb.arg(&mut o.data).arg(&a.data).arg(&log_n).arg(&g);
            // SAFETY: automorphism_ntt(u64*, const u64*, u32, u64) matches; both buffers
            // hold limbs·N words.
            self.run("automorphism_ntt", || unsafe {
                lb.launch(Self::grid(n, a.primes.len()))
            });
            *out = o;
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
    ) -> (GpuPoly, GpuPoly) {
        self.prof("key_switch_inner", || {
            self.key_switch_inner_fused(ctx, digits, key, galois)
        })
    }

    /// Division by the tail primes in three passes over the kept limbs: a centered
    /// conversion of the tail, its NTT, and one `(x − conv) · T^-1` kernel (the default
    /// takes seven, with two copies).
    fn div_round_by_tail(&self, ctx: &RingContext, a: &mut GpuPoly, tail: usize) {
        self.prof("div_round_by_tail", || {
            self.div_round_by_tail_fused(ctx, a, tail)
        })
    }

    /// The centered conversion does the default's two constant additions.
    fn mod_raise(&self, ctx: &RingContext, a: &GpuPoly, to: &[usize]) -> GpuPoly {
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
    ) {
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
    ) -> (GpuPoly, GpuPoly) {
        self.prof("rotate_extended", || {
            self.rotate_extended_fused(ctx, c0, digits, key, galois)
        })
    }

    /// Each digit's conversion written straight into its place in the raised polynomial
    /// (no select / concat / reorder copies).
    fn decompose_mod_up(&self, ctx: &RingContext, a: &GpuPoly, alpha: usize) -> Vec<GpuPoly> {
        self.prof("decompose_mod_up", || {
            self.decompose_mod_up_fused(ctx, a, alpha)
        })
    }

    fn base_convert(&self, ctx: &RingContext, a: &GpuPoly, to: &[usize]) -> GpuPoly {
        self.prof("base_convert", || {
            if to.is_empty() {
                return self.alloc(a.n, to);
            }
            let mut out = self.alloc_for_overwrite(a.n, to);
            self.base_convert_into(ctx, a, to, &mut out.data, 0, false);
            out
        })
    }
}
